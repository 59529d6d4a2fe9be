namespace Tern.Core

open Tern.Runtime

/// The walk along an ONNX graph's nodes in their (topological) order: constant arithmetic is evaluated, each node of
/// the data path maps onto the chain of Tern layers (OnnxConvPool, OnnxBatchNorm, OnnxActivations, OnnxDense,
/// OnnxResidual, OnnxPadding, OnnxDropped), and anything that is not one chain is refused naming the node.
[<RequireQualifiedAccess>]
module internal OnnxWalk =

    let private refuse = OnnxGraph.refuse

    // Every input must be a constant or a data tensor that an earlier node wrote.
    let private inputsKnown (chain: OnnxChain) (n: OnnxNode) =
        for i in n.Inputs do
            if i <> "" && not (chain.IsConst i) && not (chain.IsData i) then
                refuse
                    n
                    $"input '{i}' is not produced by an earlier node (the graph is incomplete or not in topological order)"

    // A Shape of a data tensor is a constant: Tern's shapes are fixed.
    let private shape (chain: OnnxChain) (n: OnnxNode) (dataInputs: string[]) =
        OnnxGraph.onlyAttributes n [ "start"; "end" ]

        match dataInputs with
        | [| x |] -> chain.SetConst n.Outputs[0] (OnnxConstants.shapeOf n (OnnxValue.dims (chain.Tracked x).Value))
        | _ -> refuse n "expects one input"

    // A node of constants only is evaluated now (the exporter's shape arithmetic, Constant nodes).
    let private constant (chain: OnnxChain) (n: OnnxNode) =
        let inputs =
            n.Inputs |> Array.map (fun i -> if i = "" then None else Some(chain.Const i))

        let values = OnnxConstants.eval chain.Opset n inputs

        Array.iteri
            (fun k (o: string) ->
                if o <> "" then
                    chain.SetConst o values[k])
            n.Outputs[.. values.Length - 1]

    // Nothing may follow the dropped Softmax, and a pending Pad must fold into this node.
    let private checkPlace (chain: OnnxChain) (n: OnnxNode) =
        match chain.Softmax with
        | Some s -> refuse n $"follows the final Softmax {OnnxGraph.label s}"
        | None -> ()

        // Nodes that pass a Pad on: Identity, Dropout, and another Pad (which adds its padding).
        let passesPadOn = [ "Identity"; "Dropout"; "Pad" ]

        match chain.PendingPad with
        | Some p when not (List.contains n.OpType ([ "Conv"; "MaxPool"; "AveragePool" ] @ passesPadOn)) ->
            refuse
                (List.head p.Nodes)
                $"a Pad folds only into a following Conv, MaxPool or AveragePool, not into {OnnxGraph.label n} ({n.OpType})"
        | _ -> ()

    // A node that reads the current tensor (and constants).
    let private chained (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) =
        match n.OpType with
        | "Conv" -> OnnxConvPool.conv chain n t
        | "MaxPool" -> OnnxConvPool.pool chain n t true
        | "AveragePool" -> OnnxConvPool.pool chain n t false
        | "GlobalAveragePool" -> OnnxConvPool.globalAveragePool chain n t
        | "BatchNormalization" -> OnnxBatchNorm.batchNorm chain n t
        | "Relu" -> OnnxActivations.relu chain n t
        | "Clip" -> OnnxActivations.clip chain n t
        | "Identity" -> OnnxDropped.identity chain n
        | "Dropout" -> OnnxDropped.dropout chain n
        | "Flatten" -> OnnxDense.flatten chain n t
        | "Reshape" -> OnnxDense.reshape chain n t
        | "Gemm" -> OnnxDense.gemm chain n t
        | "MatMul" -> OnnxDense.matMul chain n t
        | "Add" -> OnnxDense.biasAdd chain n t (if n.Inputs[0] = chain.Current then 1 else 0)
        | "Pad" -> OnnxPadding.pad chain n t
        | "Softmax" -> OnnxDropped.softmax chain n
        | other -> refuse n (OnnxGraphChecks.unsupported other)

    // A node of the data path: it must continue the chain (or close a residual block).
    let private data (chain: OnnxChain) (n: OnnxNode) (dataInputs: string[]) =
        checkPlace chain n
        let t = chain.Tracked chain.Current

        match n.OpType, dataInputs with
        | "Add", [| a; b |] -> OnnxResidual.add chain n t a b
        | _, [| x |] when x <> chain.Current ->
            refuse
                n
                $"reads '{x}', which is not the output of the node before it ('{chain.Current}'): Tern models are a chain of layers with identity shortcuts (a second branch such as a projection shortcut is not supported)"
        | _, [| _ |] -> chained chain n t
        | _, many -> refuse n $"reads {many.Length} data tensors"

    let private step (chain: OnnxChain) (n: OnnxNode) =
        inputsKnown chain n
        let dataInputs = n.Inputs |> Array.filter chain.IsData

        if n.OpType = "Shape" then shape chain n dataInputs
        elif dataInputs.Length = 0 then constant chain n
        else data chain n dataInputs

    /// Tern's layers for the graph, its input shape, and notes on what was dropped or folded; raises OnnxRefused.
    let run (g: OnnxGraph) : Layer list * Shape3 * string list =
        OnnxGraphChecks.opset g
        let readers = OnnxReaders g
        let input = OnnxGraphChecks.input g readers
        let output = OnnxGraphChecks.output g
        OnnxGraphChecks.dataPath g
        let chain = OnnxChain(g, readers, output, input)

        for n in g.Nodes do
            step chain n

        match chain.PendingPad with
        | Some p -> refuse (List.head p.Nodes) "a Pad at the end of the graph folds into nothing"
        | None -> ()

        OnnxGraphChecks.chainEnd output chain.Current chain.LayerCount (chain.Tracked chain.Current).Value

        let inputShape =
            match input with
            | OnnxValue.Map s -> s
            | OnnxValue.Flat(f, _) -> Shape3(1, 1, f)

        chain.Layers, inputShape, chain.Notes
