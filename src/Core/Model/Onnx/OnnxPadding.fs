namespace Tern.Core

open Tern.Runtime

/// Padding of 2-D windows: a conv's or pool's own (pads or auto_pad), a Pad node waiting to fold into the next conv
/// or pool (Tern has no Pad layer: it pads inside those), and their sum.
[<RequireQualifiedAccess>]
module internal OnnxPadding =

    let private refuse = OnnxGraph.refuse

    let sum (a: Padding) (b: Padding) : Padding = {
        Top = a.Top + b.Top
        Bottom = a.Bottom + b.Bottom
        Left = a.Left + b.Left
        Right = a.Right + b.Right
    }

    let private text (p: Padding) =
        $"top {p.Top}, bottom {p.Bottom}, left {p.Left}, right {p.Right}"

    /// Tern's windows overlap the input on every side: padding must be smaller than the window.
    let check (n: OnnxNode) (kh: int) (kw: int) (p: Padding) : unit =
        if p.Top >= kh || p.Bottom >= kh || p.Left >= kw || p.Right >= kw then
            refuse n $"padding ({text p}) must be smaller than the {kh}x{kw} window"

    // auto_pad SAME_*: the output is ceil(input / stride); the odd pixel goes after (UPPER) or before (LOWER).
    let private same (upper: bool) (inH: int) (inW: int) (kh: int) (kw: int) (sh: int) (sw: int) : Padding =
        let axis input k s =
            let out = (input + s - 1) / s
            let total = max 0 ((out - 1) * s + k - input)
            let small = total / 2
            if upper then small, total - small else total - small, small

        let t, b = axis inH kh sh
        let l, r = axis inW kw sw

        {
            Top = t
            Bottom = b
            Left = l
            Right = r
        }

    /// A conv's or pool's own padding, from pads or auto_pad, on an input of inH x inW.
    let ofNode (n: OnnxNode) (inH: int) (inW: int) (kh: int) (kw: int) (sh: int) (sw: int) : Padding =
        let autoPad = OnnxGraph.attrString n "auto_pad" "NOTSET"
        let pads = OnnxGraph.attrInts n "pads"

        match autoPad, pads with
        | "NOTSET", None -> Padding.none
        | "NOTSET", Some p when p.Length = 4 ->
            if p |> Array.exists (fun v -> v < 0L) then
                refuse n "negative pads are not supported"

            OnnxLayout.padding p
        | "NOTSET", Some p -> refuse n $"pads has {p.Length} values; Tern takes 2-D windows (4 pads)"
        | _, Some p when p |> Array.exists (fun v -> v <> 0L) -> refuse n "auto_pad and pads are both given"
        | "VALID", _ -> Padding.none
        | "SAME_UPPER", _ -> same true inH inW kh kw sh sw
        | "SAME_LOWER", _ -> same false inH inW kh kw sh sw
        | other, _ -> refuse n $"auto_pad '{other}' is not supported"

    /// Notes that the Pad nodes folded into the layer just emitted for n.
    let noteFolded (chain: OnnxChain) (padNodes: OnnxNode list) (n: OnnxNode) : unit =
        for p in padNodes do
            chain.Note
                $"pad {OnnxGraph.label p} folded into {chain.LayerName(chain.LayerCount - 1)} ({OnnxGraph.label n})"

    // The constant value a Pad of opset 11 or later takes as its third input (default 0).
    let private padValue (chain: OnnxChain) (n: OnnxNode) : float32 =
        match chain.ConstInput n 2 "the constant value" with
        | Some c ->
            match OnnxConstants.floats c with
            | [| v |] -> v
            | [||] -> 0.0f
            | v -> refuse n $"the constant value has {v.Length} values"
        | None -> 0.0f

    // A Pad's pads, mode and value: inputs since opset 11, attributes before.
    let private padArguments (chain: OnnxChain) (n: OnnxNode) : int64[] * string * float32 =
        if chain.Opset >= 11L then
            OnnxGraph.onlyAttributes n [ "mode" ]

            if n.Inputs.Length > 3 && n.Inputs[3] <> "" then
                refuse n "the axes input is not supported"

            let pads = OnnxConstants.ints n "pads" (chain.Required n 1 "pads")
            let value = padValue chain n
            pads, OnnxGraph.attrString n "mode" "constant", value
        else
            OnnxGraph.onlyAttributes n [ "mode"; "pads"; "value" ]

            let pads =
                match OnnxGraph.attrInts n "pads" with
                | Some p -> p
                | None -> refuse n "pads are required"

            pads, OnnxGraph.attrString n "mode" "constant", OnnxGraph.attrFloat n "value" 0.0f

    // The height and width padding of a Pad node, which must pad with zeros and nothing else.
    let private ofPadNode (chain: OnnxChain) (n: OnnxNode) : Padding =
        let pads, mode, value = padArguments chain n

        if mode <> "constant" then
            refuse n $"mode '{mode}': Tern pads with zeros (mode constant) only"

        if value <> 0.0f then
            refuse n $"constant value {value}: Tern pads with zeros only"

        if pads.Length <> 8 then
            refuse n $"{pads.Length} pads for a 4-D input"

        if pads |> Array.exists (fun v -> v < 0L) then
            refuse n "negative pads (cropping) are not supported"

        if pads[0] <> 0L || pads[1] <> 0L || pads[4] <> 0L || pads[5] <> 0L then
            refuse n "pads the batch or channel axis; Tern pads height and width only"

        {
            Top = int pads[2]
            Left = int pads[3]
            Bottom = int pads[6]
            Right = int pads[7]
        }

    /// A Pad node: dropped when all zero, else left pending for the conv or pool it folds into.
    let pad (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        let s = OnnxValue.map n t
        let p = ofPadNode chain n

        if Padding.isNone p then
            chain.Note $"pad {OnnxGraph.label n} dropped (all zero)"
            chain.PassThrough n
        else
            if chain.Readers.Count n.Outputs[0] <> 1 then
                refuse n $"its output is read by {chain.Readers.Text n.Outputs[0]}; a Pad folds into one conv or pool"

            // A Pad after a Pad: both fold into the same conv or pool.
            let before, pendingSoFar, earlier =
                match chain.PendingPad with
                | Some q -> q.Before, q.Padding, q.Nodes
                | None -> s, Padding.none, []

            chain.Pend {
                Padding = sum pendingSoFar p
                Nodes = n :: earlier
                Before = before
            }

            let padded = Shape3(s.H + p.Top + p.Bottom, s.W + p.Left + p.Right, s.C)
            chain.Advance n (OnnxValue.Map padded) t.NonNegative
