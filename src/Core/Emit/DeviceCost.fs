namespace Tern.Core

open System
open Tern.Runtime
open Tern.Runtime.Engine

type LayerCost = {
    Index: int
    Kind: string
    Macs: int64
    Instructions: int64
    FlashBytes: int64
    ArenaBytes: int64
}

type CostEstimate = {
    Instructions: int64
    FlashBytes: int64
    RamBytes: int64
    Layers: LayerCost list
}

type LayerFeatures = {
    Index: int
    Kind: string
    Ternary: bool
    Work: int64
    Outputs: int64
    Rows: int64
    NonZero: int64
    OutChannels: int64
    Pairs: bool
    Border: bool
    SingleChannelPool: bool
}

/// What the cost model needs of one integer layer; read from an IntModel or derived from a float model.
type internal LayerShape = {
    Kind: IntLayerKind
    Ternary: bool
    Input: Shape3
    Output: Shape3
    KernelH: int
    KernelW: int
    StrideH: int
    StrideW: int
    Pad: Padding
    /// Non-zero weights (ternary layers; 0 otherwise).
    NonZero: int64
    /// Bytes alive while the layer runs (MemoryPlan.LiveBytes).
    Live: int64
}

[<RequireQualifiedAccess>]
module DeviceCost =

    let fixedFlashBytes = 4550L
    let fixedRamBytes = 16424L
    // int8 kernels share one scratch buffer (TERN_SCRATCH_BYTES).
    let private int8ScratchBytes = 4096L

    let driverFlashBytes (layers: int) (anyInt8: bool) : int64 =
        100L + int64 layers * (if anyInt8 then 40L else 30L)

    let private isConvLike (k: IntLayerKind) =
        k = IntLayerKind.Conv
        || k = IntLayerKind.Depthwise
        || k = IntLayerKind.Pointwise
        || k = IntLayerKind.Dense

    let private fanIn (l: LayerShape) : int64 =
        match l.Kind with
        | IntLayerKind.Conv -> int64 (l.KernelH * l.KernelW * l.Input.C)
        | IntLayerKind.Depthwise -> int64 (l.KernelH * l.KernelW)
        | IntLayerKind.Pointwise -> int64 l.Input.C
        | IntLayerKind.Dense -> int64 l.Input.Size
        | _ -> 0L

    let internal macs (l: LayerShape) : int64 =
        match l.Kind with
        | k when isConvLike k -> int64 l.Output.Size * fanIn l
        | IntLayerKind.MaxPool
        | IntLayerKind.AvgPool -> int64 l.Output.Size * int64 (l.KernelH * l.KernelW)
        | IntLayerKind.GlobalAvgPool -> int64 l.Input.Size
        | IntLayerKind.Add -> int64 l.Output.Size
        | _ -> 0L

    /// Whether some window reads padding: the baked code then has a border path (and the firmware a patch).
    let internal hasBorder (l: LayerShape) : bool =
        let edge size k s before after outSize =
            before > 0 || (outSize - 1) * s - before + k > size

        l.Kind <> IntLayerKind.Dense
        && isConvLike l.Kind
        && (edge l.Input.H l.KernelH l.StrideH l.Pad.Top l.Pad.Bottom l.Output.H
            || edge l.Input.W l.KernelW l.StrideW l.Pad.Left l.Pad.Right l.Output.W)

    let internal patchBytes (l: LayerShape) : int64 =
        if l.Ternary && hasBorder l then
            int64 (l.KernelH * l.KernelW * l.Input.C)
        else
            0L

    /// Whether an average pool takes the DSP body's single-channel path (hil/kernels/avgpool_s8.c).
    let internal singleChannelPool (l: LayerShape) : bool =
        l.Kind = IntLayerKind.AvgPool
        && l.Input.C = 1
        && l.Pad = Padding.none
        && l.KernelH * l.KernelW <= 256

    // Instructions = a * work + b * outputs + c * output rows + d, where work is MACs (ternary: non-zero MACs).
    // Fitted on 11 architectures x {int8, ternary} (docs/device-cost.md), weighted by 1 / measured; the ternary
    // conv-like rows refitted on 15 (build/FitDeviceCost.fsx) after the in-lane requantization, the int8 ones after
    // the int8 DSP bodies' rewrite (issue 16).
    let private instructionCoefficients (l: LayerShape) : float * float * float * float =
        match l.Kind, l.Ternary with
        | IntLayerKind.Conv, false -> 1.6723, 6.7722, 1944.1397, 4469.2476
        | IntLayerKind.Conv, true -> 1.6719, -1.7447, 659.22, -62.99
        | IntLayerKind.Depthwise, false -> 0.769, 33.0815, -418.0936, 4483.231
        | IntLayerKind.Depthwise, true -> 3.6913, 0.5451, 27.173, 219.13
        | IntLayerKind.Pointwise, false -> 2.1019, 7.1086, -1572.9845, 10911.8708
        | IntLayerKind.Pointwise, true -> 1.1457, 1.2580, 272.64, -603.13
        | IntLayerKind.Dense, false -> 2.6, 0.0, 0.0, 797.0
        | IntLayerKind.Dense, true -> 2.6024, 0.0, 0.0, -18.70
        // One channel, no padding (an input pooled): the DSP body's single-channel path. Through two board runs, 64 x 64
        // x 1 pooled 4 x 4 (28,682) and 2 x 2 (61,220: two outputs a word since issue 16).
        | IntLayerKind.AvgPool, _ when singleChannelPool l -> 4.3545, 42.367, 0.0, 0.0
        | IntLayerKind.AvgPool, _ -> 1.0267, 15.63, 0.1221, 144.08
        | IntLayerKind.MaxPool, _ -> 4.2256, 1.0564, 0.0, -4584.0
        | IntLayerKind.GlobalAvgPool, _ -> 1.125, 15.344, 0.0, 194.0
        | IntLayerKind.Add, _ -> 0.0, 24.0051, 0.0, 95.23
        | _ -> 0.0, 0.0, 0.0, 7.0

    /// The layer kind as LayerCost and LayerFeatures name it: "conv", "avgpool", ...
    let private kindName (l: LayerShape) : string = l.Kind.ToString().ToLowerInvariant()

    /// Non-zero MACs of a ternary layer: its non-zero weights times the output positions per channel.
    let private work (l: LayerShape) : int64 =
        if l.Ternary && isConvLike l.Kind then
            l.NonZero * int64 (l.Output.H * l.Output.W)
        else
            macs l

    let internal instructions (l: LayerShape) : int64 =
        let a, b, c, d = instructionCoefficients l
        let v = a * float (work l) + b * float l.Output.Size + c * float l.Output.H + d
        int64 (Math.Round(max 0.0 v))

    // Baked ternary code = non-zero weights * (a + b [two pixels per register] + c [border path]) + d * output
    // channels + e: the emitter writes the weights' code once per path it needs. Every conv and depthwise layer of
    // the fit has a border path and every pointwise one pairs, so the fit gives their sum, split evenly here.
    let private bakedCoefficients (k: IntLayerKind) : float * float * float * float * float =
        match k with
        | IntLayerKind.Conv -> 2.570, 9.058, 2.570, 22.885, 449.294
        | IntLayerKind.Depthwise -> 5.183, 0.0, 5.183, 8.326, 166.251
        | IntLayerKind.Pointwise -> 3.602, 3.602, 0.0, 12.901, 330.008
        | _ -> 6.737, 0.0, 0.0, 0.0, -33.263

    /// Whether the baked code has the two-pixels-per-register path: not depthwise, at least two interior columns.
    let internal hasPairs (l: LayerShape) : bool =
        let interior =
            Seq.init l.Output.W id
            |> Seq.filter (fun ox ->
                let x = ox * l.StrideW - l.Pad.Left
                x >= 0 && x + l.KernelW <= l.Input.W)
            |> Seq.length

        (l.Kind = IntLayerKind.Conv || l.Kind = IntLayerKind.Pointwise) && interior >= 2

    let internal flash (l: LayerShape) : int64 =
        match l.Kind with
        | k when isConvLike k && l.Ternary ->
            let a, b, c, d, e = bakedCoefficients k
            let pairs = if hasPairs l then b else 0.0
            let border = if hasBorder l then c else 0.0
            int64 (Math.Round(float l.NonZero * (a + pairs + border) + d * float l.Output.C + e))
        | k when isConvLike k ->
            // weights, then bias, multiplier (4 bytes each) and shift per channel; 48 bytes of parameters
            int64 l.Output.C * (fanIn l + 9L) + 48L
        | IntLayerKind.MaxPool
        | IntLayerKind.AvgPool
        | IntLayerKind.GlobalAvgPool -> 44L
        | IntLayerKind.Add -> 36L
        | _ -> 0L

    /// The library kernels a model links (hil/kernels), each counted once, with its measured .text bytes.
    let private kernelFlash (layers: LayerShape list) : int64 =
        layers
        |> List.choose (fun l ->
            match l.Kind with
            | IntLayerKind.Conv
            | IntLayerKind.Pointwise
            | IntLayerKind.Dense when not l.Ternary -> Some("conv_s8", 6148L)
            | IntLayerKind.Depthwise when not l.Ternary -> Some("depthwise_s8", 5116L)
            | IntLayerKind.Add -> Some("add_s8", 630L)
            | IntLayerKind.MaxPool -> Some("maxpool_s8", 1206L)
            | IntLayerKind.AvgPool
            | IntLayerKind.GlobalAvgPool -> Some("avgpool_s8", 4124L)
            | _ -> None)
        |> List.distinct
        |> List.sumBy snd

    let internal ofShapes (input: Shape3) (layers: LayerShape list) : CostEstimate =
        let costs =
            layers
            |> List.mapi (fun i l -> {
                Index = i
                Kind = kindName l
                Macs = macs l
                Instructions = instructions l
                FlashBytes = flash l
                ArenaBytes = l.Live
            })

        let anyInt8 = layers |> List.exists (fun l -> isConvLike l.Kind && not l.Ternary)

        let arena = layers |> List.fold (fun m l -> max m l.Live) (int64 input.Size)

        let patch = layers |> List.fold (fun m l -> max m (patchBytes l)) 0L

        {
            Instructions = costs |> List.sumBy (fun c -> c.Instructions)
            FlashBytes =
                fixedFlashBytes
                + driverFlashBytes layers.Length anyInt8
                + kernelFlash layers
                + (costs |> List.sumBy (fun c -> c.FlashBytes))
            RamBytes = fixedRamBytes + arena + patch + (if anyInt8 then int8ScratchBytes else 0L)
            Layers = costs
        }

    /// Non-zero codes among ternary weight codes.
    let private countNonZero (codes: sbyte[]) : int64 =
        codes |> Array.sumBy (fun t -> if t <> 0y then 1L else 0L)

    /// A lowered layer's padding as the float model's Padding.
    let private paddingOf (top: int) (bottom: int) (left: int) (right: int) : Padding = {
        Top = top
        Bottom = bottom
        Left = left
        Right = right
    }

    /// A weightless layer's shape (1 x 1 kernel, no stride, no padding), the base the weighted kinds extend.
    let private weightless (kind: IntLayerKind) (input: Shape3) (output: Shape3) (live: int64) : LayerShape = {
        Kind = kind
        Ternary = false
        Input = input
        Output = output
        KernelH = 1
        KernelW = 1
        StrideH = 1
        StrideW = 1
        Pad = Padding.none
        NonZero = 0L
        Live = live
    }

    let internal shapesOfInt (model: IntModel) : LayerShape list =
        let live = MemoryPlan.LiveBytes model

        model.Layers
        |> Array.mapi (fun i l ->
            let basic = weightless l.Kind l.Input l.Output (int64 live[i])

            match l with
            | :? IntConvLayer as c ->
                let ternary = c.WeightKind = WeightKind.Ternary

                {
                    basic with
                        Ternary = ternary
                        KernelH = c.KernelH
                        KernelW = c.KernelW
                        StrideH = c.StrideH
                        StrideW = c.StrideW
                        Pad = paddingOf c.PadTop c.PadBottom c.PadLeft c.PadRight
                        NonZero =
                            if ternary then
                                countNonZero (c.TernaryWeights.Unpack())
                            else
                                0L
                }
            | :? IntPoolLayer as p -> {
                basic with
                    KernelH = p.KernelH
                    KernelW = p.KernelW
                    StrideH = p.StrideH
                    StrideW = p.StrideW
                    Pad = paddingOf p.PadTop p.PadBottom p.PadLeft p.PadRight
              }
            | _ -> basic)
        |> Array.toList

    let internal patchBytesOf (model: IntModel) : int64 =
        shapesOfInt model |> List.fold (fun m l -> max m (patchBytes l)) 0L

    let estimateInt (model: IntModel) : CostEstimate =
        ofShapes model.Input (shapesOfInt model)

    let features (model: IntModel) : LayerFeatures list =
        shapesOfInt model
        |> List.mapi (fun i l -> {
            Index = i
            Kind = kindName l
            Ternary = l.Ternary
            Work = work l
            Outputs = int64 l.Output.Size
            Rows = int64 l.Output.H
            NonZero = l.NonZero
            OutChannels = int64 l.Output.C
            Pairs = l.Ternary && hasPairs l
            Border = l.Ternary && hasBorder l
            SingleChannelPool = singleChannelPool l
        })

    let private nonZero (weights: WeightChoice) (rows: int) (w: float32[]) : int64 =
        match weights with
        | Int8Weights -> 0L
        | TernaryWeights(threshold, alpha) -> countNonZero (Quantize.ternarize threshold alpha rows w).Codes

    /// The integer layers a float model lowers to: BN folded (Fold.batchNorm), activations fused into the layer
    /// before them, in the lowering's order.
    let internal shapesOfFloat (lowering: LowerOptions) (model: Model) : LayerShape list =
        let folded = Fold.batchNorm model
        let ordinals = Qat.weightOrdinals folded
        let info = Model.describe folded |> List.toArray
        let layers = List.toArray folded.Layers
        let skip = Array.zeroCreate<int64> layers.Length

        for f, l in Model.residualBlocks folded do
            for i in f + 1 .. l - 1 do
                skip[i] <- int64 info[f].InputShape.Size

        [
            for i in 0 .. layers.Length - 1 do
                let d = info[i]

                let basic =
                    weightless
                        IntLayerKind.Flatten
                        d.InputShape
                        d.OutputShape
                        (int64 (d.InputShape.Size + d.OutputShape.Size) + skip[i])

                let weights = lowering.WeightsAt(defaultArg (ordinals.TryFind i) 0)
                let ternary = weights <> Int8Weights

                let conv kind (c: ConvSpec) = {
                    basic with
                        Kind = kind
                        Ternary = ternary
                        KernelH = c.KernelH
                        KernelW = c.KernelW
                        StrideH = c.StrideH
                        StrideW = c.StrideW
                        Pad = c.Pad
                        NonZero = nonZero weights c.OutChannels c.Weight
                }

                let pool kind (p: PoolSpec) = {
                    basic with
                        Kind = kind
                        KernelH = p.KernelH
                        KernelW = p.KernelW
                        StrideH = p.StrideH
                        StrideW = p.StrideW
                        Pad = p.Pad
                }

                match layers[i] with
                | Conv2d c -> yield conv IntLayerKind.Conv c
                | DepthwiseConv2d c -> yield conv IntLayerKind.Depthwise c
                | Pointwise c -> yield conv IntLayerKind.Pointwise c
                | Dense dn ->
                    yield {
                        basic with
                            Kind = IntLayerKind.Dense
                            Ternary = ternary
                            NonZero = nonZero weights dn.Outputs dn.Weight
                    }
                | MaxPool p -> yield pool IntLayerKind.MaxPool p
                | AvgPool p -> yield pool IntLayerKind.AvgPool p
                | GlobalAvgPool ->
                    yield {
                        basic with
                            Kind = IntLayerKind.GlobalAvgPool
                    }
                | Flatten -> yield { basic with Live = 0L }
                | ResidualAdd _ -> yield { basic with Kind = IntLayerKind.Add }
                | ReLU
                | ReLU6 -> ()
                | BatchNorm _ -> invalidArg "model" $"layer {i}: a BatchNorm that cannot be folded cannot be lowered"
        ]

    let estimateWith (lowering: LowerOptions) (model: Model) : CostEstimate =
        ofShapes model.Input (shapesOfFloat lowering model)

    let estimate (weights: WeightChoice) (model: Model) : CostEstimate =
        estimateWith
            {
                Weights = weights
                Int8Layers = Set.empty
            }
            model

type DeviceBudget = {
    Flash: int64 option
    Ram: int64 option
    Instructions: int64 option
}

[<RequireQualifiedAccess>]
module DeviceBudget =

    let defaults = {
        Flash = Some(24L * 1024L)
        Ram = Some(32L * 1024L)
        Instructions = Some 300_000L
    }

    let private keys = [ "flash"; "ram"; "instructions" ]

    // Bytes count in powers of 1024, instructions in powers of 1000.
    let private unitOf (key: string) =
        if key = "instructions" then 1000L else 1024L

    let private parseValue (key: string) (text: string) : Result<int64, string> =
        let t = text.Trim()
        let u = unitOf key

        let digits, factor =
            if t.EndsWith("K", StringComparison.OrdinalIgnoreCase) then
                t.Substring(0, t.Length - 1), u
            elif t.EndsWith("M", StringComparison.OrdinalIgnoreCase) then
                t.Substring(0, t.Length - 1), u * u
            else
                t, 1L

        match Int64.TryParse(digits, Globalization.NumberStyles.None, Globalization.CultureInfo.InvariantCulture) with
        | true, v when v > 0L && v <= Int64.MaxValue / factor -> Ok(v * factor)
        | _ ->
            Error $"budget part '{key}={text}': the value must be a positive whole number, optionally ending in K or M"

    let parse (text: string) : Result<DeviceBudget, string> =
        if String.IsNullOrWhiteSpace text then
            Error "empty budget (expected e.g. flash=32K,ram=16K,instructions=400K)"
        else
            text.Split(',')
            |> Array.fold
                (fun acc part ->
                    acc
                    |> Result.bind (fun (b: DeviceBudget) ->
                        match part.Split('=') with
                        | [| k; v |] ->
                            let key = k.Trim().ToLowerInvariant()

                            let set value =
                                match key with
                                | "flash" when b.Flash.IsNone -> Ok { b with Flash = Some value }
                                | "ram" when b.Ram.IsNone -> Ok { b with Ram = Some value }
                                | "instructions" when b.Instructions.IsNone -> Ok { b with Instructions = Some value }
                                | _ -> Error $"budget part '{part}': '{key}' is given twice"

                            if List.contains key keys then
                                parseValue key v |> Result.bind set
                            else
                                Error
                                    $"budget part '{part}': unknown limit '{k.Trim()}' (known: flash, ram, instructions)"
                        | _ -> Error $"budget part '{part}': expected name=value"))
                (Ok {
                    Flash = None
                    Ram = None
                    Instructions = None
                })

    let private formatValue (key: string) (v: int64) : string =
        let u = unitOf key

        if v % (u * u) = 0L then $"{v / (u * u)}M"
        elif v % u = 0L then $"{v / u}K"
        else string v

    let format (budget: DeviceBudget) : string =
        [
            "flash", budget.Flash
            "ram", budget.Ram
            "instructions", budget.Instructions
        ]
        |> List.choose (fun (k, v) -> v |> Option.map (fun v -> $"{k}={formatValue k v}"))
        |> String.concat ","

    let check (budget: DeviceBudget) (cost: CostEstimate) : string list =
        let over name unit (limit: int64 option) (value: int64) =
            match limit with
            | Some l when value > l -> Some $"{name} {value:N0}{unit} > {l:N0}{unit}"
            | _ -> None

        [
            over "flash" " B" budget.Flash cost.FlashBytes
            over "ram" " B" budget.Ram cost.RamBytes
            over "instructions" "" budget.Instructions cost.Instructions
        ]
        |> List.choose id
