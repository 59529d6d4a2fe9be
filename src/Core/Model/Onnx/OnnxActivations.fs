namespace Tern.Core

open System

/// Relu and Clip to Tern's ReLU and ReLU6; two activations in a row merge into one layer.
[<RequireQualifiedAccess>]
module internal OnnxActivations =

    /// ReLU or ReLU6; merged with an activation right before it that nothing else reads.
    let activation (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) (act: Layer) : unit =
        match chain.FoldableLast with
        | Some(last, (ReLU | ReLU6 as prev)) ->
            let merged = if prev = ReLU6 || act = ReLU6 then ReLU6 else ReLU
            chain.ReplaceLast merged

            chain.Note
                $"{OnnxGraph.label n} ({n.OpType}) merged with the activation before it into {chain.LayerName last}"

            chain.Advance n t.Value true
        | _ ->
            chain.Emit act
            chain.Advance n t.Value true

    /// A Relu node.
    let relu (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        OnnxGraph.onlyAttributes n []
        activation chain n t ReLU

    // A Clip bound: an input since opset 11, an attribute before; absent means unbounded on that side.
    let private bound (chain: OnnxChain) (n: OnnxNode) (i: int) (name: string) (dflt: float32) : float32 =
        if chain.Opset >= 11L then
            OnnxGraph.onlyAttributes n []

            match chain.ConstInput n i $"the {name} bound" with
            | Some c ->
                match OnnxConstants.floats c with
                | [| v |] -> v
                | v -> OnnxGraph.refuse n $"the {name} bound has {v.Length} values"
            | None -> dflt
        else
            OnnxGraph.onlyAttributes n [ "min"; "max" ]
            OnnxGraph.attrFloatOpt n name |> Option.defaultValue dflt

    /// A Clip node: ReLU, ReLU6, or dropped when unbounded.
    let clip (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        let lo = bound chain n 1 "min" Single.NegativeInfinity
        let hi = bound chain n 2 "max" Single.PositiveInfinity
        // Opset 10 writes ReLU6 as Relu then Clip(max 6): on a non-negative input a negative minimum is 0.
        let lo' = if t.NonNegative && lo <= 0.0f then 0.0f else lo

        if lo' = 0.0f && hi = 6.0f then
            activation chain n t ReLU6
        elif lo' = 0.0f && Single.IsPositiveInfinity hi then
            activation chain n t ReLU
        elif Single.IsNegativeInfinity lo' && Single.IsPositiveInfinity hi then
            chain.Note $"clip {OnnxGraph.label n} without bounds dropped"
            chain.PassThrough n
        else
            OnnxGraph.refuse n $"Clip({lo}, {hi}): Tern has ReLU (min 0, no max) and ReLU6 (min 0, max 6)"
