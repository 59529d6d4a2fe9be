namespace Tern.Core

open Tern.Runtime

/// Conv to Conv2d, Pointwise or DepthwiseConv2d; MaxPool, AveragePool and GlobalAveragePool to Tern's pools. A
/// pending Pad folds into the padding of the conv or pool that follows it.
[<RequireQualifiedAccess>]
module internal OnnxConvPool =

    let private refuse = OnnxGraph.refuse

    let private strides (n: OnnxNode) : int * int =
        match OnnxGraph.attrInts n "strides" with
        | None -> 1, 1
        | Some [| a; b |] -> int a, int b
        | Some v -> refuse n $"strides has {v.Length} values; Tern takes 2-D windows"

    let private noDilation (n: OnnxNode) =
        match OnnxGraph.attrInts n "dilations" with
        | Some d when d |> Array.exists (fun v -> v <> 1L) ->
            refuse n $"dilations [{OnnxGraph.dimsText d}] are not supported (1 only)"
        | _ -> ()

    let private outShape (n: OnnxNode) (input: Shape3) (layer: Layer) : Shape3 =
        match Model.outputShape input layer with
        | Ok s -> s
        | Error e -> refuse n e

    // The weight's [O, I/group, kH, kW], which kernel_shape must repeat if given.
    let private weightDims (n: OnnxNode) (w: OnnxConst) : int * int * int * int =
        let oc, icg, kh, kw =
            match w.Dims with
            | [| a; b; c; d |] -> int a, int b, int c, int d
            | d -> refuse n $"weight of rank {d.Length}; Tern takes 2-D convolutions ([O, I, kH, kW])"

        match OnnxGraph.attrInts n "kernel_shape" with
        | Some k when k <> [| int64 kh; int64 kw |] ->
            refuse n $"kernel_shape [{OnnxGraph.dimsText k}] disagrees with the weight's {kh}x{kw}"
        | _ -> ()

        oc, icg, kh, kw

    // Tern has group 1 and depthwise convolutions; true for depthwise.
    let private isDepthwise (n: OnnxNode) (s: Shape3) (oc: int) (icg: int) : bool =
        let group = OnnxGraph.attrInt n "group" 1L

        if group = 1L then
            if icg <> s.C then
                refuse n $"weight takes {icg} input channels, the input has {s.C}"

            false
        elif group = int64 s.C && icg = 1 && oc = s.C then
            true
        else
            refuse
                n
                $"group {group} with {oc} output channels: Tern has group 1 and depthwise (group = input channels = output channels)"

    // The layer for a convolution whose spec holds everything but the weights (OIHW in `weights`).
    let private convLayer (depthwise: bool) (spec: ConvSpec) (weights: float32[]) : Layer =
        if depthwise then
            DepthwiseConv2d {
                spec with
                    Weight = OnnxLayout.depthwiseWeights weights
            }
        else
            let rows =
                OnnxLayout.convWeights spec.OutChannels spec.InChannels spec.KernelH spec.KernelW weights

            let spec = { spec with Weight = rows }
            // A 1x1 conv that reads every pixel once is Tern's Pointwise; strided ones stay Conv2d.
            let onePixel =
                spec.KernelH = 1 && spec.KernelW = 1 && spec.StrideH = 1 && spec.StrideW = 1

            if onePixel && Padding.isNone spec.Pad then
                Pointwise spec
            else
                Conv2d spec

    /// A Conv node.
    let conv (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        OnnxGraph.onlyAttributes n [ "auto_pad"; "dilations"; "group"; "kernel_shape"; "pads"; "strides" ]
        let padded = OnnxValue.map n t
        let pad, s, padNodes = chain.TakePad padded
        let w = chain.Required n 1 "the weight"
        let oc, icg, kh, kw = weightDims n w
        noDilation n
        let sh, sw = strides n

        if sh < 1 || sw < 1 then
            refuse n "strides must be at least 1"

        let depthwise = isDepthwise n s oc icg
        let total = OnnxPadding.sum pad (OnnxPadding.ofNode n padded.H padded.W kh kw sh sw)
        OnnxPadding.check n kh kw total
        let weights = OnnxConstants.floats w

        let bias =
            match chain.ConstInput n 2 "the bias" with
            | Some b -> OnnxConstants.floatsOfLength n "the bias" oc b
            | None -> Array.zeroCreate oc

        let spec = {
            InChannels = s.C
            OutChannels = oc
            KernelH = kh
            KernelW = kw
            StrideH = sh
            StrideW = sw
            Pad = total
            Weight = [||]
            Bias = bias
        }

        let layer = convLayer depthwise spec weights
        let out = outShape n s layer
        chain.Emit layer
        OnnxPadding.noteFolded chain padNodes n
        chain.Advance n (OnnxValue.Map out) false

    let private poolAttributes (n: OnnxNode) (isMax: bool) =
        if isMax then
            OnnxGraph.onlyAttributes n [
                "auto_pad"
                "ceil_mode"
                "dilations"
                "kernel_shape"
                "pads"
                "storage_order"
                "strides"
            ]
        else
            OnnxGraph.onlyAttributes n [
                "auto_pad"
                "ceil_mode"
                "count_include_pad"
                "dilations"
                "kernel_shape"
                "pads"
                "strides"
            ]

    let private poolKernel (n: OnnxNode) : int * int =
        match OnnxGraph.attrInts n "kernel_shape" with
        | Some [| a; b |] -> int a, int b
        | Some k -> refuse n $"kernel_shape has {k.Length} values; Tern takes 2-D windows"
        | None -> refuse n "kernel_shape is required"

    // Tern pads a pool with zeros and averages over the whole window, padding included; ONNX pads a MaxPool with
    // -inf and may leave the padding out of an average.
    let private checkOwnPadding (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) (isMax: bool) (own: Padding) =
        if not (Padding.isNone own) then
            if isMax then
                if not t.NonNegative then
                    refuse
                        n
                        "its pads hold -inf in ONNX; Tern pads with zero, which gives the same maximum only on a non-negative input (right after Relu or Clip(0, ...)), and this input may be negative"

                chain.Note $"maxpool {OnnxGraph.label n}: its -inf padding taken as zero (the input is non-negative)"
            elif OnnxGraph.attrInt n "count_include_pad" 0L = 0L then
                refuse
                    n
                    "pads with count_include_pad=0: Tern's average counts the padding (export with count_include_pad=True)"

    // ceil_mode=1 adds a last, partial window unless the windows tile the padded input exactly.
    let private checkCeilMode (n: OnnxNode) (s: Shape3) (spec: PoolSpec) =
        if OnnxGraph.attrInt n "ceil_mode" 0L <> 0L then
            let fits input k stride = (input - k) % stride = 0
            let p = spec.Pad

            if
                not (fits (s.H + p.Top + p.Bottom) spec.KernelH spec.StrideH)
                || not (fits (s.W + p.Left + p.Right) spec.KernelW spec.StrideW)
            then
                refuse n "ceil_mode=1 adds a partial window here; Tern pools with floor (export with ceil_mode=False)"

    /// A MaxPool (isMax) or AveragePool node.
    let pool (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) (isMax: bool) : unit =
        poolAttributes n isMax
        chain.ExtraOutputsUnused n
        let padded = OnnxValue.map n t
        let pad, s, padNodes = chain.TakePad padded
        let kh, kw = poolKernel n
        noDilation n
        let sh, sw = strides n

        if kh < 1 || kw < 1 || sh < 1 || sw < 1 then
            refuse n "kernel and strides must be at least 1"

        let own = OnnxPadding.ofNode n padded.H padded.W kh kw sh sw
        checkOwnPadding chain n t isMax own
        let total = OnnxPadding.sum pad own
        OnnxPadding.check n kh kw total

        let spec = {
            KernelH = kh
            KernelW = kw
            StrideH = sh
            StrideW = sw
            Pad = total
        }

        checkCeilMode n s spec
        let layer = if isMax then MaxPool spec else AvgPool spec
        let out = outShape n s layer
        chain.Emit layer
        OnnxPadding.noteFolded chain padNodes n
        chain.Advance n (OnnxValue.Map out) t.NonNegative

    /// A GlobalAveragePool node: the mean of each channel.
    let globalAveragePool (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        OnnxGraph.onlyAttributes n []
        let s = OnnxValue.map n t
        chain.Emit GlobalAvgPool
        chain.Advance n (OnnxValue.Map(Shape3(1, 1, s.C))) t.NonNegative
