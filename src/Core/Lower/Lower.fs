namespace Tern.Core

open System
open Tern.Runtime

[<RequireQualifiedAccess>]
module Lower =
    let randomCalibration (seed: int) (count: int) (shape: Shape3) : Tensor list =
        let rng = Random(seed)
        List.init count (fun _ -> Tensor.random rng 0.0f 1.0f shape)

    let quantizeInput (model: IntModel) (input: Tensor) : sbyte[] =
        if input.Shape <> model.Input then
            invalidArg "input" $"input shape {input.Shape} differs from the model's {model.Input}"

        let p = {
            Scale = float model.InputScale
            ZeroPoint = model.InputZero
            QMin = -128
            QMax = 127
            Bits = 8
        }

        input.Data |> Array.map (fun x -> sbyte (Quantize.quantize p (float x)))

    let quantizeSamples (model: IntModel) (samples: float32[][]) : sbyte[][] =
        samples
        |> Array.map (fun x -> quantizeInput model (Tensor.ofArray model.Input x))

    let rec outputGrid (model: IntModel) (layer: int) : float * int =
        if layer >= model.Layers.Length then
            invalidArg "layer" $"layer {layer}: the model has {model.Layers.Length} layers"

        if layer < 0 then
            float model.InputScale, model.InputZero
        else
            match model.Layers[layer] with
            | :? IntConvLayer as c -> float c.OutputScale, c.OutputZero
            | :? IntPoolLayer as p -> float p.OutputScale, p.OutputZero
            | :? IntAddLayer as a -> float a.OutputScale, a.OutputZero
            | _ -> outputGrid model (layer - 1)

    let outputParams (model: IntModel) : float * int =
        outputGrid model (model.Layers.Length - 1)

    let dequantize (scale: float, zero: int) (codes: sbyte[]) : float32[] =
        codes |> Array.map (fun q -> float32 (scale * float (int q - zero)))

    let accumulatorBound (layer: IntConvLayer) : int64 =
        let maxW =
            match layer.WeightKind with
            | WeightKind.Int8 -> layer.Int8Weights |> Array.fold (fun m w -> max m (abs (int w))) 0
            | _ -> 1

        let maxBias = layer.Bias |> Array.fold (fun m b -> max m (abs (int64 b))) 0L
        maxBias + int64 layer.FanIn * 255L * int64 maxW

    let weightSparsity (model: IntModel) : float =
        let conv =
            model.Layers
            |> Array.choose (function
                | :? IntConvLayer as c -> Some c
                | _ -> None)

        let weights = conv |> Array.sumBy (fun c -> int64 c.OutChannels * int64 c.FanIn)

        let zeros =
            conv
            |> Array.sumBy (fun c ->
                let values =
                    match c.WeightKind with
                    | WeightKind.Ternary -> c.TernaryWeights.Unpack()
                    | _ -> c.Int8Weights

                values |> Array.filter ((=) 0y) |> Array.length |> int64)

        if weights = 0L then 0.0 else float zeros / float weights

    let biasBits (model: IntModel) : int =
        model.Layers
        |> Array.choose (function
            | :? IntConvLayer as c -> Some c.Bias
            | _ -> None)
        |> Array.concat
        |> Array.fold (fun m b -> max m (abs (int64 b))) 0L
        |> fun m ->
            let mutable bits = 1

            while (1L <<< (bits - 1)) <= m do
                bits <- bits + 1

            bits

    type private Range = { mutable Lo: float; mutable Hi: float }

    /// A conv-like float layer, normalised.
    type private ConvLike = { Kind: IntLayerKind; Spec: ConvSpec }

    let private asConv (layer: Layer) (input: Shape3) : ConvLike option =
        match layer with
        | Conv2d c -> Some { Kind = IntLayerKind.Conv; Spec = c }
        | Pointwise c ->
            Some {
                Kind = IntLayerKind.Pointwise
                Spec = c
            }
        | DepthwiseConv2d c ->
            Some {
                Kind = IntLayerKind.Depthwise
                Spec = c
            }
        | Dense d ->
            Some {
                Kind = IntLayerKind.Dense
                Spec = {
                    InChannels = input.Size
                    OutChannels = d.Outputs
                    KernelH = 1
                    KernelW = 1
                    StrideH = 1
                    StrideW = 1
                    Pad = Padding.none
                    Weight = d.Weight
                    Bias = d.Bias
                }
            }
        | _ -> None

    let private clampCode (p: QParams) (activation: Layer option) =
        let lo = p.QMin
        let hi = p.QMax

        match activation with
        | Some ReLU -> max lo p.ZeroPoint, hi
        | Some ReLU6 -> max lo p.ZeroPoint, min hi (Quantize.quantize p 6.0)
        | _ -> lo, hi

    /// The largest bias an int8 layer is given, in accumulator units: half of int32.
    let private biasLimit = float (1 <<< 30)

    let private toInt32 (name: string) (x: float) : int =
        let r = Quantize.roundHalfAway x

        if r > float Int32.MaxValue || r < float Int32.MinValue then
            failwith
                $"layer '{name}': bias {x} (in units of input scale x weight scale) does not fit int32; the calibrated input range of this layer is nearly empty, or its ternary weights nearly zero"

        int r

    let lowerWith
        (options: LowerOptions)
        (given: Map<int, float * float>)
        (calibration: Tensor list)
        (model: Model)
        : Result<IntModel, string> =
        try
            match Model.validate model with
            | Error e -> Error e
            | Ok() when
                calibration.IsEmpty
                && not (ActivationGrid.ownRanges model |> Set.forall given.ContainsKey)
                ->
                Error "calibration needs at least one input (or a given range for every quantized tensor)"
            | Ok() ->
                let folded = Fold.batchNorm model
                // Names and messages use the float model's layer numbers, which `tern inspect` shows.
                let original = Fold.keptIndices model
                let layers = List.toArray folded.Layers
                let shapes = Model.shapes folded |> List.toArray

                // Observed range of the input and of every layer output.
                let ranges = Array.init (layers.Length + 1) (fun _ -> { Lo = 0.0; Hi = 0.0 })

                let observe i (t: Tensor) =
                    let lo, hi = Quantize.minMax t.Data
                    ranges[i].Lo <- min ranges[i].Lo lo
                    ranges[i].Hi <- max ranges[i].Hi hi

                // Observed on the weights the integer model stores (ternary alpha * t, int8 s * q), not the float
                // ones: a QAT model's latent weights can be far from their ternary values, and ranges observed on
                // them were up to three times too wide (radar, seed 2, fold 2: integer 0.9075 against 0.9775 when
                // observed on the stored weights, the QAT forward pass's own 0.9775).
                let stored = Qat.quantizedModel options folded

                for x in calibration do
                    if x.Shape <> folded.Input then
                        failwith $"calibration input of shape {x.Shape} differs from the model input {folded.Input}"

                    observe 0 x
                    Forward.activations stored x |> List.iteri (fun i t -> observe (i + 1) t)

                for KeyValue(i, (lo, hi)) in given do
                    if i < 0 || i > layers.Length then
                        failwith $"range index {i} is outside 0..{layers.Length}"

                    ranges[i].Lo <- lo
                    ranges[i].Hi <- hi

                let paramsAt i =
                    ActivationGrid.ofRange ranges[i].Lo ranges[i].Hi

                let inputParams = paramsAt 0
                let result = ResizeArray<IntLayer>()
                // Quantization of the tensor flowing into layer i.
                let mutable current = inputParams
                // By folded layer index: the quantization of its input and the integer layer it became (a residual
                // add reads both for its block's first layer).
                let paramsIn = Array.create layers.Length inputParams
                let intIndex = Array.create layers.Length -1
                // Position of the next conv or dense layer among them (LowerOptions.Int8Layers counts so).
                let mutable ordinal = 0
                let mutable i = 0

                while i < layers.Length do
                    let layer = layers[i]
                    paramsIn[i] <- current
                    intIndex[i] <- result.Count
                    let input = shapes[i]
                    let name = $"{Model.kindName layer}_{original[i]}"

                    let activation = ActivationGrid.fusedActivation layers i

                    let consumed = if activation.IsSome then 2 else 1
                    let outIndex = i + consumed // range index of the fused output

                    match asConv layer input, layer with
                    | Some conv, _ ->
                        let spec = conv.Spec
                        let rows = spec.OutChannels
                        let outP = paramsAt outIndex
                        let lo, hi = clampCode outP activation

                        let weights = options.WeightsAt ordinal
                        ordinal <- ordinal + 1

                        let sIn = current.Scale

                        let int8W, ternW, wScale =
                            match weights with
                            | Int8Weights ->
                                let fanIn = spec.Weight.Length / rows

                                // A nearly empty input range makes sIn tiny, and the bias, counted in units of
                                // sIn * sw, would not fit int32. As TFLite's converter does, widen that channel's
                                // weight scale until the bias fits in half of int32 (the other half is the
                                // products'): the weights lose resolution, the bias none.
                                let ps =
                                    Quantize.perChannel 8 Symmetric rows spec.Weight
                                    |> Array.mapi (fun c p ->
                                        let least = abs (float spec.Bias[c]) / (sIn * biasLimit)
                                        if p.Scale < least then { p with Scale = least } else p)

                                let q =
                                    spec.Weight
                                    |> Array.mapi (fun j w -> sbyte (Quantize.quantize ps[j / fanIn] (float w)))

                                Some q, None, ps |> Array.map (fun p -> p.Scale)
                            | TernaryWeights(threshold, alphaMode) ->
                                let t = Quantize.ternarize threshold alphaMode rows spec.Weight
                                let fanIn = spec.Weight.Length / rows
                                // An all-zero channel has alpha 0; any positive scale represents it.
                                let scales = t.Alpha |> Array.map (fun a -> if a > 0.0 then a else 1.0)
                                None, Some(PackedTernary.Pack(rows, fanIn, ReadOnlySpan(t.Codes))), scales

                        let bias =
                            spec.Bias |> Array.mapi (fun c b -> toInt32 name (float b / (sIn * wScale[c])))

                        let ms =
                            wScale
                            |> Array.map (fun sw ->
                                try
                                    Quantize.dyadic (sIn * sw / outP.Scale)
                                with :? ArgumentException as e ->
                                    failwith $"layer '{name}': {e.Message}")

                        let l =
                            IntConvLayer(
                                name,
                                conv.Kind,
                                input,
                                shapes[i + 1],
                                spec.KernelH,
                                spec.KernelW,
                                spec.StrideH,
                                spec.StrideW,
                                spec.Pad.Top,
                                spec.Pad.Bottom,
                                spec.Pad.Left,
                                spec.Pad.Right,
                                (if int8W.IsSome then WeightKind.Int8 else WeightKind.Ternary),
                                Option.toObj int8W,
                                Option.toObj ternW,
                                bias,
                                Array.map fst ms,
                                Array.map snd ms,
                                current.ZeroPoint,
                                outP.ZeroPoint,
                                lo,
                                hi,
                                float32 sIn,
                                float32 outP.Scale,
                                Array.map float32 wScale
                            )

                        if accumulatorBound l > int64 Int32.MaxValue then
                            failwith
                                $"layer '{name}': the int32 accumulator could overflow (bound {accumulatorBound l})"

                        result.Add l
                        current <- outP
                    | None, MaxPool p ->
                        let lo, hi = clampCode current activation

                        result.Add(
                            IntPoolLayer(
                                name,
                                IntLayerKind.MaxPool,
                                input,
                                shapes[i + 1],
                                p.KernelH,
                                p.KernelW,
                                p.StrideH,
                                p.StrideW,
                                p.Pad.Top,
                                p.Pad.Bottom,
                                p.Pad.Left,
                                p.Pad.Right,
                                0,
                                Requantize.MinShift,
                                current.ZeroPoint,
                                current.ZeroPoint,
                                lo,
                                hi,
                                float32 current.Scale,
                                float32 current.Scale
                            )
                        )
                    | None, (AvgPool _ | GlobalAvgPool) ->
                        let kh, kw, sh, sw, pad, kind =
                            match layer with
                            | AvgPool p -> p.KernelH, p.KernelW, p.StrideH, p.StrideW, p.Pad, IntLayerKind.AvgPool
                            | _ -> input.H, input.W, 1, 1, Padding.none, IntLayerKind.GlobalAvgPool
                        // The mean stays inside the input range, so the output keeps the input's scale and zero point;
                        // padded positions count in the window (1 / (kh * kw)) and hold the input zero point.
                        let m, s = Quantize.dyadic (1.0 / float (kh * kw))
                        let lo, hi = clampCode current activation

                        result.Add(
                            IntPoolLayer(
                                name,
                                kind,
                                input,
                                shapes[i + 1],
                                kh,
                                kw,
                                sh,
                                sw,
                                pad.Top,
                                pad.Bottom,
                                pad.Left,
                                pad.Right,
                                m,
                                s,
                                current.ZeroPoint,
                                current.ZeroPoint,
                                lo,
                                hi,
                                float32 current.Scale,
                                float32 current.Scale
                            )
                        )
                    | None, Flatten ->
                        if activation.IsSome then
                            failwith
                                $"layer {original[i + 1]}: an activation after flatten cannot be fused; put it before"

                        result.Add(IntFlattenLayer(name, input))
                    | None, ResidualAdd span ->
                        let first = i - span

                        if intIndex[first] < 0 then
                            failwith
                                $"layer {original[i]} (add): its block starts at an activation fused into the layer before it"

                        let skipP = paramsIn[first]
                        let outP = paramsAt outIndex
                        let lo, hi = clampCode outP activation
                        let ma = current.Scale / outP.Scale
                        let mb = skipP.Scale / outP.Scale
                        // One shift for both terms: the larger multiplier fixes it (M in [2^30, 2^31)).
                        let mBig, shift =
                            try
                                Quantize.dyadic (max ma mb)
                            with :? ArgumentException as e ->
                                failwith $"layer '{name}': {e.Message}"

                        let mSmall = int (Quantize.roundHalfAway (Math.ScaleB(min ma mb, shift)))
                        let mA, mB = if ma >= mb then mBig, mSmall else mSmall, mBig

                        result.Add(
                            IntAddLayer(
                                name,
                                input,
                                result.Count - intIndex[first],
                                mA,
                                mB,
                                shift,
                                current.ZeroPoint,
                                skipP.ZeroPoint,
                                outP.ZeroPoint,
                                lo,
                                hi,
                                float32 current.Scale,
                                float32 skipP.Scale,
                                float32 outP.Scale
                            )
                        )

                        current <- outP
                    | None, BatchNorm _ ->
                        failwith
                            $"layer {original[i]} (batchnorm): only a BatchNorm right after a conv, depthwise, pointwise or dense layer can be lowered"
                    | None, (ReLU | ReLU6) ->
                        failwith
                            $"layer {original[i]} ({Model.kindName layer}): an activation must follow a conv, depthwise, pointwise, dense or pooling layer"
                    | None, other -> failwith $"layer {original[i]}: cannot lower {Model.kindName other}"

                    i <- i + consumed

                let im =
                    IntModel(
                        folded.Name,
                        folded.Input,
                        float32 inputParams.Scale,
                        inputParams.ZeroPoint,
                        result.ToArray(),
                        List.toArray folded.Classes,
                        Metadata = readOnlyDict (Map.toSeq folded.Meta)
                    )

                im.Validate()
                Ok im
        with
        | :? InvalidOperationException as e -> Error e.Message
        | :? ArgumentException as e -> Error e.Message
        | :? System.IO.InvalidDataException as e -> Error e.Message
        | e when e.GetType() = typeof<Exception> -> Error e.Message

    let lower (options: LowerOptions) (calibration: Tensor list) (model: Model) : Result<IntModel, string> =
        lowerWith options Map.empty calibration model
