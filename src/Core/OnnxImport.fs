namespace Tern.Core

open System
open System.Collections.Generic
open System.IO
open System.Security.Cryptography
open Tern.Runtime

/// Where an imported model came from; the model file keeps it in Model.Meta (keys in OnnxImport.metaKeys).
type OnnxSource = {
    /// File name without directories.
    File: string
    /// SHA-256 of the .onnx bytes, lower-case hex.
    Sha256: string
    Opset: int64
    /// Producer name and version, e.g. "pytorch 1.13.0".
    Producer: string
    InputName: string
    InputShape: OnnxDim list
}

/// An imported float model, its source, and what the import dropped or folded (one line each).
type OnnxImported = {
    Model: Model
    Source: OnnxSource
    Notes: string list
}

/// Maps a float ONNX graph (as torch.onnx.export writes it) to Tern's chain of layers: NCHW to HWC, Pad folded into
/// the next conv or pool, BatchNormalization kept, Gemm/MatMul(+Add) to Dense with the columns of an NCHW flatten
/// permuted, identity-shortcut Adds to ResidualAdd, a final Softmax dropped. Anything else is refused naming the node.
[<RequireQualifiedAccess>]
module OnnxImport =

    /// Opsets of the default domain accepted (fixtures exported with 10, 11, 13 and 17).
    let opsets: int64 * int64 = 7L, 21L

    /// Model.Meta keys of the source.
    let metaKeys: string list = [
        "source.file"
        "source.sha256"
        "source.opset"
        "source.producer"
        "source.input_name"
        "source.input_shape"
    ]

    // The value a data tensor holds, in ONNX terms.
    type private Value =
        // [N, C, H, W]; Tern holds it as H x W x C.
        | Map of Shape3
        // [N, F]; Some perm: ONNX feature i is Tern's feature perm[i] (a flattened NCHW map); None: same order.
        | Flat of int * int[] option

    // A data tensor seen on the chain: its value, whether it is provably >= 0, how many Tern layers came before it
    // (a ResidualAdd's span is counted from there) and whether a later Add may take it as its shortcut.
    type private Tracked = {
        Value: Value
        NonNegative: bool
        Layer: int
        Shortcut: bool
    }

    /// The ops the data path may use (constant-only nodes: OnnxConstants.ops).
    let dataOps: Set<string> =
        set [
            "Conv"
            "BatchNormalization"
            "Relu"
            "Clip"
            "MaxPool"
            "AveragePool"
            "GlobalAveragePool"
            "Gemm"
            "MatMul"
            "Add"
            "Flatten"
            "Reshape"
            "Pad"
            "Identity"
            "Dropout"
            "Softmax"
        ]

    let private refuse = OnnxGraph.refuse
    let private label = OnnxGraph.label

    let private unsupported (op: string) : string =
        match op with
        | "Concat" -> "unsupported operator: Tern's layers form a chain and cannot join tensors"
        | "Sigmoid"
        | "Tanh"
        | "LeakyRelu"
        | "HardSwish"
        | "HardSigmoid"
        | "Elu"
        | "Selu"
        | "PRelu" -> $"unsupported operator: Tern has no {op} activation (ReLU and ReLU6 only)"
        | _ ->
            let known = String.Join(", ", dataOps)
            $"unsupported operator (Tern imports {known}, and constant shape arithmetic)"

    let private dimText (d: OnnxDim) =
        match d with
        | OnnxDim.Fixed v -> string v
        | OnnxDim.Symbolic s -> s
        | OnnxDim.Unknown -> "?"

    /// The input shape as text, e.g. "1x3x16x16", a dynamic dimension by its name (what "source.input_shape" holds).
    let shapeText (dims: OnnxDim list) : string =
        String.Join("x", dims |> List.map dimText)

    let private run (g: OnnxGraph) : Layer list * Shape3 * string list =
        let global' msg = raise (OnnxRefused msg)
        let lo, hi = opsets

        if g.Opset < lo || g.Opset > hi then
            global' $"opset {g.Opset} is not supported ({lo} to {hi})"

        // Who reads each tensor; Shape nodes read only its dimensions, so they do not count.
        let consumers = Dictionary<string, OnnxNode list>()

        for n in g.Nodes |> List.filter (fun n -> n.OpType <> "Shape") do
            for i in n.Inputs |> Array.filter ((<>) "") |> Array.distinct do
                consumers[i] <- n :: (consumers.GetValueOrDefault(i, []))

        let consumerCount name =
            consumers.GetValueOrDefault(name, []).Length

        let readers name =
            consumers.GetValueOrDefault(name, [])
            |> List.rev
            |> List.map (fun n -> $"{label n} ({n.OpType})")

        let readBy name =
            match readers name with
            | [] -> "no node"
            | r -> String.Join(", ", r)

        // ---- the graph's input and output ----
        if g.InputElemType <> 1 then
            global' $"input '{g.InputName}' has element type {g.InputElemType}; Tern imports float (1) models"

        let isDynamic d =
            match d with
            | OnnxDim.Fixed v -> v <= 0L
            | _ -> true

        let inputValue =
            let dynamicShape () =
                global'
                    $"input '{g.InputName}' (read by {readBy g.InputName}) has a dynamic spatial shape [{shapeText g.InputDims}]; Tern needs fixed C, H and W (export without dynamic_axes on them)"

            match g.InputDims with
            | batch :: rest ->
                match batch with
                | OnnxDim.Fixed v when v > 1L ->
                    global'
                        $"input '{g.InputName}' has a fixed batch of {v}; export with batch 1 or a dynamic batch axis"
                | _ -> ()

                if rest |> List.exists isDynamic then
                    dynamicShape ()

                let fixedDims =
                    rest
                    |> List.map (fun d ->
                        match d with
                        | OnnxDim.Fixed v -> int v
                        | _ -> 0)

                match fixedDims with
                | [ c; h; w ] -> Map(Shape3(h, w, c))
                | [ f ] -> Flat(f, None)
                | _ ->
                    global'
                        $"input '{g.InputName}' has shape [{shapeText g.InputDims}]; Tern imports [N, C, H, W] or [N, F]"
            | [] -> global' $"input '{g.InputName}' has no dimensions"

        let output =
            match g.Outputs with
            | [ name, _ ] -> name
            | [] -> global' "the graph has no output"
            | many ->
                let named =
                    many
                    |> List.map (fun (o, p) ->
                        match p with
                        | Some n -> $"'{o}' from node {label n} ({n.OpType})"
                        | None -> $"'{o}'")

                let named = String.Join(", ", named)
                global' $"the graph has {many.Length} outputs ({named}); Tern models have one"

        // ---- which nodes are on the data path; unsupported operators first, wherever they are ----
        let isData = HashSet<string>([ g.InputName ])

        for n in g.Nodes do
            if n.Domain <> "" && n.Domain <> "ai.onnx" then
                refuse n $"operator domain '{n.Domain}' is not supported"

            let dataIn = n.Inputs |> Array.exists isData.Contains

            if n.OpType = "Shape" then
                ()
            elif dataIn then
                if not (dataOps.Contains n.OpType) then
                    refuse n (unsupported n.OpType)

                for o in n.Outputs do
                    if o <> "" then
                        isData.Add o |> ignore
            elif not (OnnxConstants.ops.Contains n.OpType) then
                refuse n (unsupported n.OpType)

        // ---- the walk along the chain ----
        let consts = Dictionary<string, OnnxConst>(g.Initializers)
        let tracked = Dictionary<string, Tracked>()
        let layers = ResizeArray<Layer>()
        let notes = ResizeArray<string>()

        tracked[g.InputName] <- {
            Value = inputValue
            NonNegative = false
            Layer = 0
            Shortcut = true
        }

        let mutable current = g.InputName
        // The tensor the last layer wrote (an activation may merge into it, a constant Add into a Dense's bias).
        let mutable lastLayerOutput = ""
        // A Pad waiting for the conv or pool it folds into: its padding, node, and the unpadded shape.
        let mutable pendingPad: (Padding * OnnxNode * Shape3) option = None
        let mutable lastAdd = -1
        let mutable softmax: OnnxNode option = None
        let usedShortcuts = HashSet<string>()

        let layerName i = $"{Model.kindName layers[i]}_{i}"

        let emit (layer: Layer) = layers.Add layer

        let advance (n: OnnxNode) (value: Value) (nonNegative: bool) =
            let out = n.Outputs[0]

            tracked[out] <- {
                Value = value
                NonNegative = nonNegative
                Layer = layers.Count
                Shortcut = pendingPad.IsNone
            }

            current <- out

        let constInput (n: OnnxNode) (i: int) (what: string) : OnnxConst option =
            if i < n.Inputs.Length && n.Inputs[i] <> "" then
                match consts.TryGetValue n.Inputs[i] with
                | true, c -> Some c
                | _ -> refuse n $"{what} ('{n.Inputs[i]}') must be a constant (an initializer or a Constant node)"
            else
                None

        let required (n: OnnxNode) (i: int) (what: string) : OnnxConst =
            match constInput n i what with
            | Some c -> c
            | None -> refuse n $"{what} is required"

        let floatsOf (n: OnnxNode) (what: string) (length: int) (c: OnnxConst) : float32[] =
            let v = OnnxConstants.floats c

            if v.Length <> length then
                refuse n $"{what} has {v.Length} values, expected {length}"

            v

        let mapOf (n: OnnxNode) (t: Tracked) : Shape3 =
            match t.Value with
            | Map s -> s
            | Flat _ -> refuse n "needs a 4-D [N, C, H, W] input, receives a 2-D one"

        let onnxDims (v: Value) : int64[] =
            match v with
            | Map s -> [| 1L; int64 s.C; int64 s.H; int64 s.W |]
            | Flat(f, _) -> [| 1L; int64 f |]

        // Every extra output (a Dropout mask, MaxPool indices, BN training statistics) must be unused.
        let extraOutputsUnused (n: OnnxNode) =
            for o in n.Outputs |> Array.skip 1 do
                if o <> "" && (consumerCount o > 0 || o = output) then
                    refuse n $"its output '{o}' is used (read by {readBy o}); Tern keeps only the first output"

        let twoInts (n: OnnxNode) (name: string) (dflt: int) : int * int =
            match OnnxGraph.attrInts n name with
            | None -> dflt, dflt
            | Some [| a; b |] -> int a, int b
            | Some v -> refuse n $"{name} has {v.Length} values; Tern takes 2-D windows"

        let noDilation (n: OnnxNode) =
            match OnnxGraph.attrInts n "dilations" with
            | Some d when d |> Array.exists (fun v -> v <> 1L) ->
                refuse n $"dilations [{OnnxGraph.dimsText d}] are not supported (1 only)"
            | _ -> ()

        // Padding from pads or auto_pad, on an input of inH x inW.
        let ownPadding (n: OnnxNode) (inH: int) (inW: int) (kh: int) (kw: int) (sh: int) (sw: int) : Padding =
            let autoPad = OnnxGraph.attrString n "auto_pad" "NOTSET"
            let pads = OnnxGraph.attrInts n "pads"

            let same (upper: bool) =
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

            match autoPad, pads with
            | "NOTSET", None -> Padding.none
            | "NOTSET", Some p when p.Length = 4 ->
                if p |> Array.exists (fun v -> v < 0L) then
                    refuse n "negative pads are not supported"

                OnnxLayout.padding p
            | "NOTSET", Some p -> refuse n $"pads has {p.Length} values; Tern takes 2-D windows (4 pads)"
            | _, Some p when p |> Array.exists (fun v -> v <> 0L) -> refuse n "auto_pad and pads are both given"
            | "VALID", _ -> Padding.none
            | "SAME_UPPER", _ -> same true
            | "SAME_LOWER", _ -> same false
            | other, _ -> refuse n $"auto_pad '{other}' is not supported"

        let add (a: Padding) (b: Padding) : Padding = {
            Top = a.Top + b.Top
            Bottom = a.Bottom + b.Bottom
            Left = a.Left + b.Left
            Right = a.Right + b.Right
        }

        let padText (p: Padding) =
            $"top {p.Top}, bottom {p.Bottom}, left {p.Left}, right {p.Right}"

        let checkPad (n: OnnxNode) (kh: int) (kw: int) (p: Padding) =
            if p.Top >= kh || p.Bottom >= kh || p.Left >= kw || p.Right >= kw then
                refuse n $"padding ({padText p}) must be smaller than the {kh}x{kw} window"

        // Takes the Pad waiting for this node: its padding and the shape before it.
        let takePad (n: OnnxNode) (s: Shape3) : Padding * Shape3 * OnnxNode option =
            match pendingPad with
            | Some(p, padNode, before) ->
                pendingPad <- None
                p, before, Some padNode
            | None -> Padding.none, s, None

        let folded (padNode: OnnxNode option) (n: OnnxNode) =
            match padNode with
            | Some p -> notes.Add $"pad {label p} folded into {layerName (layers.Count - 1)} ({label n})"
            | None -> ()

        let outShape (n: OnnxNode) (input: Shape3) (layer: Layer) : Shape3 =
            match Model.outputShape input layer with
            | Ok s -> s
            | Error e -> refuse n e

        let conv (n: OnnxNode) (t: Tracked) =
            OnnxGraph.onlyAttributes n [ "auto_pad"; "dilations"; "group"; "kernel_shape"; "pads"; "strides" ]
            let padded = mapOf n t
            let pad, s, padNode = takePad n padded
            let w = required n 1 "the weight"

            let oc, icg, kh, kw =
                match w.Dims with
                | [| a; b; c; d |] -> int a, int b, int c, int d
                | d -> refuse n $"weight of rank {d.Length}; Tern takes 2-D convolutions ([O, I, kH, kW])"

            match OnnxGraph.attrInts n "kernel_shape" with
            | Some k when k <> [| int64 kh; int64 kw |] ->
                refuse n $"kernel_shape [{OnnxGraph.dimsText k}] disagrees with the weight's {kh}x{kw}"
            | _ -> ()

            noDilation n
            let sh, sw = twoInts n "strides" 1

            if sh < 1 || sw < 1 then
                refuse n "strides must be at least 1"

            let group = OnnxGraph.attrInt n "group" 1L

            let depthwise =
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

            let total = add pad (ownPadding n padded.H padded.W kh kw sh sw)
            checkPad n kh kw total
            let weights = OnnxConstants.floats w

            let bias =
                match constInput n 2 "the bias" with
                | Some b -> floatsOf n "the bias" oc b
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

            let layer =
                if depthwise then
                    DepthwiseConv2d {
                        spec with
                            Weight = OnnxLayout.depthwiseWeights weights
                    }
                else
                    let rows = OnnxLayout.convWeights oc s.C kh kw weights
                    // A 1x1 conv that reads every pixel once is Tern's Pointwise; strided ones stay Conv2d.
                    if kh = 1 && kw = 1 && sh = 1 && sw = 1 && Padding.isNone total then
                        Pointwise { spec with Weight = rows }
                    else
                        Conv2d { spec with Weight = rows }

            let out = outShape n s layer
            emit layer
            folded padNode n
            advance n (Map out) false

        let pool (n: OnnxNode) (t: Tracked) (isMax: bool) =
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

            extraOutputsUnused n
            let padded = mapOf n t
            let pad, s, padNode = takePad n padded

            let kh, kw =
                match OnnxGraph.attrInts n "kernel_shape" with
                | Some [| a; b |] -> int a, int b
                | Some k -> refuse n $"kernel_shape has {k.Length} values; Tern takes 2-D windows"
                | None -> refuse n "kernel_shape is required"

            noDilation n
            let sh, sw = twoInts n "strides" 1

            if kh < 1 || kw < 1 || sh < 1 || sw < 1 then
                refuse n "kernel and strides must be at least 1"

            let own = ownPadding n padded.H padded.W kh kw sh sw

            if not (Padding.isNone own) then
                if isMax then
                    if not t.NonNegative then
                        refuse
                            n
                            "its pads hold -inf in ONNX; Tern pads with zero, which gives the same maximum only on a non-negative input (right after Relu or Clip(0, ...)), and this input may be negative"

                    notes.Add $"maxpool {label n}: its -inf padding taken as zero (the input is non-negative)"
                elif OnnxGraph.attrInt n "count_include_pad" 0L = 0L then
                    refuse
                        n
                        "pads with count_include_pad=0: Tern's average counts the padding (export with count_include_pad=True)"

            let total = add pad own
            checkPad n kh kw total

            // ceil_mode=1 adds a last, partial window unless the windows tile the padded input exactly.
            if OnnxGraph.attrInt n "ceil_mode" 0L <> 0L then
                let fits input k stride = (input - k) % stride = 0

                if
                    not (fits (s.H + total.Top + total.Bottom) kh sh)
                    || not (fits (s.W + total.Left + total.Right) kw sw)
                then
                    refuse
                        n
                        "ceil_mode=1 adds a partial window here; Tern pools with floor (export with ceil_mode=False)"

            let spec = {
                KernelH = kh
                KernelW = kw
                StrideH = sh
                StrideW = sw
                Pad = total
            }

            let layer = if isMax then MaxPool spec else AvgPool spec
            let out = outShape n s layer
            emit layer
            folded padNode n
            advance n (Map out) t.NonNegative

        let batchNorm (n: OnnxNode) (t: Tracked) =
            OnnxGraph.onlyAttributes n [ "epsilon"; "momentum"; "spatial"; "training_mode" ]

            if OnnxGraph.attrInt n "spatial" 1L <> 1L then
                refuse n "spatial=0 is not supported"

            if OnnxGraph.attrInt n "training_mode" 0L <> 0L then
                refuse n "training_mode=1: export the model in eval mode"

            if n.Outputs |> Array.skip 1 |> Array.exists ((<>) "") then
                refuse n "it has training outputs (running statistics): export the model in eval mode"

            let channels, perm =
                match t.Value with
                | Map s -> s.C, None
                | Flat(f, p) -> f, p

            let param i what =
                let v = floatsOf n what channels (required n i what)

                match perm with
                | Some p -> OnnxLayout.permuteVector p v
                | None -> v

            emit (
                BatchNorm {
                    Gamma = param 1 "scale"
                    Beta = param 2 "bias"
                    Mean = param 3 "mean"
                    Var = param 4 "variance"
                    Eps = OnnxGraph.attrFloat n "epsilon" 1e-5f
                }
            )

            advance n t.Value false

        let passThrough (n: OnnxNode) =
            tracked[n.Outputs[0]] <- tracked[current]

            if lastLayerOutput = current then
                lastLayerOutput <- n.Outputs[0]

            current <- n.Outputs[0]

        // ReLU or ReLU6; merged with an activation right before it that nothing else reads.
        let activation (n: OnnxNode) (t: Tracked) (act: Layer) =
            let last = layers.Count - 1

            let previous =
                if last >= 0 && lastLayerOutput = current && consumerCount current = 1 then
                    match layers[last] with
                    | ReLU
                    | ReLU6 -> Some layers[last]
                    | _ -> None
                else
                    None

            match previous with
            | Some prev ->
                let merged = if prev = ReLU6 || act = ReLU6 then ReLU6 else ReLU
                layers[last] <- merged
                notes.Add $"{label n} ({n.OpType}) merged with the activation before it into {layerName last}"
                advance n t.Value true
                lastLayerOutput <- current
            | None ->
                emit act
                advance n t.Value true

        let clip (n: OnnxNode) (t: Tracked) =
            let bound i name dflt =
                if g.Opset >= 11L then
                    OnnxGraph.onlyAttributes n []

                    match constInput n i $"the {name} bound" with
                    | Some c ->
                        match OnnxConstants.floats c with
                        | [| v |] -> v
                        | v -> refuse n $"the {name} bound has {v.Length} values"
                    | None -> dflt
                else
                    OnnxGraph.onlyAttributes n [ "min"; "max" ]
                    OnnxGraph.attrFloatOpt n name |> Option.defaultValue dflt

            let lo = bound 1 "min" Single.NegativeInfinity
            let hi = bound 2 "max" Single.PositiveInfinity
            // Opset 10 writes ReLU6 as Relu then Clip(max 6): on a non-negative input a negative minimum is 0.
            let lo' = if t.NonNegative && lo <= 0.0f then 0.0f else lo

            if lo' = 0.0f && hi = 6.0f then
                activation n t ReLU6
            elif lo' = 0.0f && Single.IsPositiveInfinity hi then
                activation n t ReLU
            elif Single.IsNegativeInfinity lo' && Single.IsPositiveInfinity hi then
                notes.Add $"clip {label n} without bounds dropped"
                passThrough n
            else
                refuse n $"Clip({lo}, {hi}): Tern has ReLU (min 0, no max) and ReLU6 (min 0, max 6)"

        let dropout (n: OnnxNode) =
            OnnxGraph.onlyAttributes n [ "ratio"; "seed"; "is_test" ]
            extraOutputsUnused n

            match constInput n 2 "training_mode" with
            | Some c when OnnxConstants.floats c |> Array.exists ((<>) 0.0f) ->
                refuse n "training_mode is true: export the model in eval mode"
            | _ -> ()

            notes.Add $"dropout {label n} dropped (the identity at inference)"
            passThrough n

        let flattenTo (n: OnnxNode) (t: Tracked) =
            match t.Value with
            | Map s ->
                emit Flatten
                let perm = OnnxLayout.flattenPermutation s

                let order = if OnnxLayout.isIdentity perm then None else Some perm

                advance n (Flat(s.Size, order)) t.NonNegative
            | Flat _ -> passThrough n

        let flatten (n: OnnxNode) (t: Tracked) =
            OnnxGraph.onlyAttributes n [ "axis" ]
            let rank = (onnxDims t.Value).Length
            let axis = OnnxGraph.attrInt n "axis" 1L
            let axis = if axis < 0L then axis + int64 rank else axis

            if axis <> 1L then
                refuse n $"axis {axis}: Tern flattens to [N, -1] (axis 1) only"

            flattenTo n t

        let reshape (n: OnnxNode) (t: Tracked) =
            OnnxGraph.onlyAttributes n [ "allowzero" ]
            let dims = onnxDims t.Value
            let shape = OnnxConstants.ints n "the shape" (required n 1 "the shape")

            let target =
                OnnxConstants.reshapeDims n dims shape (OnnxGraph.attrInt n "allowzero" 0L <> 0L)

            if target = [| 1L; OnnxGraph.count dims |] then
                flattenTo n t
            else
                refuse
                    n
                    $"reshape of [{OnnxGraph.dimsText dims}] to [{OnnxGraph.dimsText shape}]: Tern supports a flatten to [N, -1] only"

        let flatOf (n: OnnxNode) (t: Tracked) : int * int[] option =
            match t.Value with
            | Flat(f, p) -> f, p
            | Map s when s.H = 1 && s.W = 1 -> s.C, None
            | Map _ -> refuse n "needs a 2-D [N, F] input: flatten the map first"

        // Bias values broadcast to `outputs` (one value, or `outputs` values along the last axis).
        let broadcastBias (n: OnnxNode) (what: string) (outputs: int) (c: OnnxConst) : float32[] =
            let v = OnnxConstants.floats c

            if v.Length = 1 then
                Array.create outputs v[0]
            elif
                v.Length = outputs
                && c.Dims.Length >= 1
                && c.Dims[c.Dims.Length - 1] = int64 outputs
            then
                Array.copy v
            else
                refuse n $"{what} of shape [{OnnxGraph.dimsText c.Dims}] does not broadcast to {outputs} outputs"

        let dense (n: OnnxNode) (t: Tracked) (weights: float32[]) (inputs: int) (outputs: int) (bias: float32[]) =
            let _, perm = flatOf n t

            let rows =
                match perm with
                | Some p ->
                    notes.Add $"{label n} ({n.OpType}): columns permuted from NCHW to HWC flatten order"
                    OnnxLayout.permuteColumns outputs p weights
                | None -> weights

            emit (
                Dense {
                    Inputs = inputs
                    Outputs = outputs
                    Weight = rows
                    Bias = bias
                }
            )

            advance n (Flat(outputs, None)) false

        let gemm (n: OnnxNode) (t: Tracked) =
            OnnxGraph.onlyAttributes n [ "alpha"; "beta"; "transA"; "transB" ]

            if OnnxGraph.attrInt n "transA" 0L <> 0L then
                refuse n "transA=1 is not supported"

            let k, _ = flatOf n t
            let b = required n 1 "B"
            let transB = OnnxGraph.attrInt n "transB" 0L <> 0L
            let alpha = OnnxGraph.attrFloat n "alpha" 1.0f
            let beta = OnnxGraph.attrFloat n "beta" 1.0f

            let rows, cols =
                match b.Dims with
                | [| r; c |] -> int r, int c
                | d -> refuse n $"B has rank {d.Length}, expected 2"

            let inputs, outputs = if transB then cols, rows else rows, cols

            if inputs <> k then
                refuse n $"B takes {inputs} inputs, the input has {k}"

            let bv = OnnxConstants.floats b

            let w =
                Array.init (outputs * inputs) (fun j ->
                    let o, i = j / inputs, j % inputs
                    alpha * (if transB then bv[o * inputs + i] else bv[i * outputs + o]))

            let bias =
                match constInput n 2 "C" with
                | Some c -> broadcastBias n "C" outputs c |> Array.map (fun v -> beta * v)
                | None -> Array.zeroCreate outputs

            dense n t w inputs outputs bias

        let matMul (n: OnnxNode) (t: Tracked) =
            OnnxGraph.onlyAttributes n []
            let k, _ = flatOf n t
            let b = required n 1 "the second operand"

            let inputs, outputs =
                match b.Dims with
                | [| r; c |] -> int r, int c
                | d -> refuse n $"the second operand has rank {d.Length}, expected 2"

            if inputs <> k then
                refuse n $"the second operand takes {inputs} inputs, the input has {k}"

            let bv = OnnxConstants.floats b

            let w =
                Array.init (outputs * inputs) (fun j -> bv[(j % inputs) * outputs + j / inputs])

            dense n t w inputs outputs (Array.zeroCreate outputs)

        let biasAdd (n: OnnxNode) (t: Tracked) (constant: int) =
            let last = layers.Count - 1

            match (if last >= 0 then Some layers[last] else None) with
            | Some(Dense d) when lastLayerOutput = current && consumerCount current = 1 ->
                let c = required n constant "the added constant"
                let extra = broadcastBias n "the added constant" d.Outputs c

                layers[last] <-
                    Dense {
                        d with
                            Bias = Array.map2 (+) d.Bias extra
                    }

                notes.Add $"add {label n} folded into {layerName last}'s bias"
                advance n t.Value false
                lastLayerOutput <- current
            | _ -> refuse n "adds a constant: supported only as the bias right after a MatMul or Gemm"

        let residual (n: OnnxNode) (t: Tracked) (a: string) (b: string) =
            let other =
                if a = current then
                    b
                elif b = current then
                    a
                else
                    refuse n $"adds '{a}' and '{b}', and neither is the output of the node before it"

            if other = current then
                refuse n "adds a tensor to itself"

            let skip = tracked[other]

            if not skip.Shortcut then
                refuse n $"its shortcut '{other}' is a padded tensor, not a tensor of the chain"

            if usedShortcuts.Contains other then
                refuse n $"'{other}' is the shortcut of an earlier Add too: Tern's residual blocks do not overlap"

            if skip.Value <> t.Value then
                refuse n "adds tensors of different shapes (Tern adds equal shapes, no broadcasting)"

            let span = layers.Count - skip.Layer

            if span < 1 then
                refuse n $"adds '{other}' to itself"

            if skip.Layer <= lastAdd then
                refuse
                    n
                    $"its shortcut '{other}' starts inside the residual block that ends at {layerName lastAdd}: Tern's blocks do not overlap"

            emit (ResidualAdd span)
            lastAdd <- layers.Count - 1
            usedShortcuts.Add other |> ignore
            advance n t.Value (t.NonNegative && skip.NonNegative)
            lastLayerOutput <- current

        let pad (n: OnnxNode) (t: Tracked) =
            let s = mapOf n t

            let pads, mode, value =
                if g.Opset >= 11L then
                    OnnxGraph.onlyAttributes n [ "mode" ]

                    if n.Inputs.Length > 3 && n.Inputs[3] <> "" then
                        refuse n "the axes input is not supported"

                    let pads = OnnxConstants.ints n "pads" (required n 1 "pads")

                    let value =
                        match constInput n 2 "the constant value" with
                        | Some c ->
                            match OnnxConstants.floats c with
                            | [| v |] -> v
                            | [||] -> 0.0f
                            | v -> refuse n $"the constant value has {v.Length} values"
                        | None -> 0.0f

                    pads, OnnxGraph.attrString n "mode" "constant", value
                else
                    OnnxGraph.onlyAttributes n [ "mode"; "pads"; "value" ]

                    let pads =
                        match OnnxGraph.attrInts n "pads" with
                        | Some p -> p
                        | None -> refuse n "pads are required"

                    pads, OnnxGraph.attrString n "mode" "constant", OnnxGraph.attrFloat n "value" 0.0f

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

            let p = {
                Top = int pads[2]
                Left = int pads[3]
                Bottom = int pads[6]
                Right = int pads[7]
            }

            if Padding.isNone p then
                notes.Add $"pad {label n} dropped (all zero)"
                passThrough n
            else
                if consumerCount n.Outputs[0] <> 1 then
                    refuse n $"its output is read by {readBy n.Outputs[0]}; a Pad folds into one conv or pool"

                let before, pendingSoFar =
                    match pendingPad with
                    | Some(q, _, b) -> b, q
                    | None -> s, Padding.none

                pendingPad <- Some(add pendingSoFar p, n, before)

                let padded = Shape3(s.H + p.Top + p.Bottom, s.W + p.Left + p.Right, s.C)

                advance n (Map padded) t.NonNegative

        let softmaxNode (n: OnnxNode) =
            OnnxGraph.onlyAttributes n [ "axis" ]

            if n.Outputs[0] <> output then
                refuse n "a Softmax is supported only as the last node (it is dropped: Tern outputs the logits)"

            notes.Add $"softmax {label n} dropped (the model outputs the logits before it)"
            softmax <- Some n
            passThrough n

        for n in g.Nodes do
            for i in n.Inputs do
                if i <> "" && not (consts.ContainsKey i) && not (tracked.ContainsKey i) then
                    refuse
                        n
                        $"input '{i}' is not produced by an earlier node (the graph is incomplete or not in topological order)"

            let dataInputs = n.Inputs |> Array.filter tracked.ContainsKey

            if n.OpType = "Shape" then
                OnnxGraph.onlyAttributes n [ "start"; "end" ]

                match dataInputs with
                | [| x |] -> consts[n.Outputs[0]] <- OnnxConstants.shapeOf n (onnxDims tracked[x].Value)
                | _ -> refuse n "expects one input"
            elif dataInputs.Length = 0 then
                let inputs =
                    n.Inputs |> Array.map (fun i -> if i = "" then None else Some consts[i])

                let values = OnnxConstants.eval g.Opset n inputs

                Array.iteri
                    (fun k (o: string) ->
                        if o <> "" then
                            consts[o] <- values[k])
                    n.Outputs[.. values.Length - 1]
            else
                match softmax with
                | Some s -> refuse n $"follows the final Softmax {label s}"
                | None -> ()

                let t = tracked[current]

                match pendingPad with
                | Some(_, padNode, _) when
                    not (List.contains n.OpType [ "Conv"; "MaxPool"; "AveragePool"; "Identity"; "Dropout" ])
                    ->
                    refuse
                        padNode
                        $"a Pad folds only into a following Conv, MaxPool or AveragePool, not into {label n} ({n.OpType})"
                | _ -> ()

                let notChain (x: string) =
                    refuse
                        n
                        $"reads '{x}', which is not the output of the node before it ('{current}'): Tern models are a chain of layers with identity shortcuts (a second branch such as a projection shortcut is not supported)"

                match n.OpType, dataInputs with
                | "Add", [| a; b |] -> residual n t a b
                | _, [| x |] when x <> current -> notChain x
                | _, [| _ |] ->
                    let before = layers.Count

                    match n.OpType with
                    | "Conv" -> conv n t
                    | "MaxPool" -> pool n t true
                    | "AveragePool" -> pool n t false
                    | "GlobalAveragePool" ->
                        OnnxGraph.onlyAttributes n []
                        let s = mapOf n t
                        emit GlobalAvgPool
                        advance n (Map(Shape3(1, 1, s.C))) t.NonNegative
                    | "BatchNormalization" -> batchNorm n t
                    | "Relu" ->
                        OnnxGraph.onlyAttributes n []
                        activation n t ReLU
                    | "Clip" -> clip n t
                    | "Identity" -> passThrough n
                    | "Dropout" -> dropout n
                    | "Flatten" -> flatten n t
                    | "Reshape" -> reshape n t
                    | "Gemm" -> gemm n t
                    | "MatMul" -> matMul n t
                    | "Add" -> biasAdd n t (if n.Inputs[0] = current then 1 else 0)
                    | "Pad" -> pad n t
                    | "Softmax" -> softmaxNode n
                    | other -> refuse n (unsupported other)

                    if layers.Count > before then
                        lastLayerOutput <- current
                | _, many -> refuse n $"reads {many.Length} data tensors"

        match pendingPad with
        | Some(_, padNode, _) -> refuse padNode "a Pad at the end of the graph folds into nothing"
        | None -> ()

        if current <> output then
            global'
                $"the graph output '{output}' is not the end of the chain ('{current}'): Tern models are one chain from input to output"

        if layers.Count = 0 then
            global' "the graph has no layers"

        let final = tracked[current].Value

        let outputs =
            match final with
            | Map s when s.H * s.W > 1 ->
                global'
                    $"the output is a {s.C} x {s.H} x {s.W} map, whose element order differs between NCHW and Tern's HWC: end the model with a global pool or a Gemm"
            | Map s -> s.C
            | Flat(_, Some _) ->
                global'
                    "the output is a flattened NCHW map, whose element order differs in Tern's HWC layout: end the model with a global pool or a Gemm"
            | Flat(f, None) -> f

        ignore outputs

        let input =
            match inputValue with
            | Map s -> s
            | Flat(f, _) -> Shape3(1, 1, f)

        Seq.toList layers, input, Seq.toList notes

    /// Imports the bytes of an .onnx file named `fileName` (only its name is recorded); `classes` names the outputs
    /// (default class0, class1, ...). Error names the node, its op type and why for anything Tern cannot represent.
    let import (fileName: string) (bytes: byte[]) (classes: string list option) : Result<OnnxImported, string> =
        OnnxGraph.parse bytes
        |> Result.bind (fun g ->
            try
                let layers, input, notes = run g

                let model = {
                    Name = Path.GetFileNameWithoutExtension fileName
                    Input = input
                    Layers = layers
                    Classes = []
                    Meta = Map.empty
                }

                let outputs =
                    match Model.validate model with
                    | Ok() -> (List.last (Model.shapes model)).Size
                    | Error e -> raise (OnnxRefused $"the imported layers do not chain: {e}")

                let classes =
                    match classes with
                    | None -> List.init outputs (fun i -> $"class{i}")
                    | Some c when c.Length = outputs -> c
                    | Some c -> raise (OnnxRefused $"{c.Length} class names given for the model's {outputs} outputs")

                let source = {
                    File = Path.GetFileName fileName
                    Sha256 = Convert.ToHexString(SHA256.HashData bytes).ToLowerInvariant()
                    Opset = g.Opset
                    Producer = $"{g.ProducerName} {g.ProducerVersion}".Trim()
                    InputName = g.InputName
                    InputShape = g.InputDims
                }

                let meta =
                    List.zip metaKeys [
                        source.File
                        source.Sha256
                        string source.Opset
                        source.Producer
                        source.InputName
                        shapeText source.InputShape
                    ]
                    |> Map.ofList

                Ok {
                    Model = {
                        model with
                            Classes = classes
                            Meta = meta
                    }
                    Source = source
                    Notes = notes
                }
            with OnnxRefused msg ->
                Error msg)
