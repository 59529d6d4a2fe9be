module Tern.Tests.LowerTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

let private lowerOk options calib model =
    match Lower.lower options calib model with
    | Ok im -> im
    | Error e -> failwithf "lowering failed: %s" e

/// A small float model and the weights to lower it to, int8 or ternary.
let private modelAndWeights =
    Arb.fromGen (Gen.zip Generators.smallModel (Gen.elements [ LowerOptions.Int8; LowerOptions.Ternary ]))

let private defaultLowered options =
    let m = Architectures.defaultModel 1
    m, lowerOk options (Generators.inputs 2 16 m.Input) m

/// For one conv-like integer layer and one input, the bound of the contract: the dequantized output is
/// within s_out/2 (requantize rounding) + s_in*s_w/2 (bias rounding) + |acc|*s_in*s_w*2^-31 (dyadic
/// error) of the exact real result computed with the same integer inputs and weights, clamped.
let private withinScaleBound (layer: IntConvLayer) (input: sbyte[]) (output: sbyte[]) (bias: float32[]) =
    let weights =
        match layer.WeightKind with
        | WeightKind.Int8 -> layer.Int8Weights
        | _ -> layer.TernaryWeights.Unpack()

    let fanIn = layer.FanIn
    let sIn = float layer.InputScale
    let sOut = float layer.OutputScale
    let inS = layer.Input
    let outS = layer.Output
    let mutable ok = true
    let mutable worst = 0.0

    for oh in 0 .. outS.H - 1 do
        for ow in 0 .. outS.W - 1 do
            for c in 0 .. outS.C - 1 do
                let mutable sum = 0L
                let mutable j = 0

                let add h w ic =
                    if h >= 0 && h < inS.H && w >= 0 && w < inS.W then
                        let q = int input[(h * inS.W + w) * inS.C + ic] - layer.InputZero
                        sum <- sum + int64 q * int64 weights[c * fanIn + j]

                    j <- j + 1

                match layer.Kind with
                | IntLayerKind.Dense ->
                    for i in 0 .. fanIn - 1 do
                        sum <- sum + int64 (int input[i] - layer.InputZero) * int64 weights[c * fanIn + i]
                | IntLayerKind.Depthwise ->
                    for kh in 0 .. layer.KernelH - 1 do
                        for kw in 0 .. layer.KernelW - 1 do
                            add (oh * layer.StrideH - layer.PadTop + kh) (ow * layer.StrideW - layer.PadLeft + kw) c
                | _ ->
                    for kh in 0 .. layer.KernelH - 1 do
                        for kw in 0 .. layer.KernelW - 1 do
                            for ic in 0 .. inS.C - 1 do
                                add
                                    (oh * layer.StrideH - layer.PadTop + kh)
                                    (ow * layer.StrideW - layer.PadLeft + kw)
                                    ic

                let sW = float layer.WeightScale[c]
                let exact = sIn * sW * float sum + float bias[c]
                let lo = sOut * float (layer.ActMin - layer.OutputZero)
                let hi = sOut * float (layer.ActMax - layer.OutputZero)
                let expected = min hi (max lo exact)

                let got =
                    sOut * float (int output[(oh * outS.W + ow) * outS.C + c] - layer.OutputZero)

                let acc = abs (float sum) + abs (float layer.Bias[c])
                let bound = sOut / 2.0 + sIn * sW / 2.0 + acc * sIn * sW * Math.Pow(2.0, -31.0)
                let err = abs (got - expected)
                worst <- max worst (err / bound)

                if err > bound * (1.0 + 1e-6) + 1e-9 then
                    ok <- false

    ok, worst

/// Folded float biases of the conv-like layers, in order (the lowering quantizes these).
let private foldedBiases (model: Model) =
    (Fold.batchNorm model).Layers
    |> List.choose (function
        | Conv2d c
        | DepthwiseConv2d c
        | Pointwise c -> Some c.Bias
        | Dense d -> Some d.Bias
        | _ -> None)

/// Whether a float model has the geometry beyond symmetric convolution padding.
let private hasNewGeometry (model: Model) : bool =
    model.Layers
    |> List.exists (function
        | MaxPool p
        | AvgPool p -> not (Padding.isNone p.Pad)
        | Conv2d c
        | DepthwiseConv2d c -> not (Padding.isSymmetric c.Pad)
        | _ -> false)

/// The float pool of a lowered pool layer: its geometry as a PoolSpec.
let private poolSpecOf (p: IntPoolLayer) : PoolSpec = {
    KernelH = p.KernelH
    KernelW = p.KernelW
    StrideH = p.StrideH
    StrideW = p.StrideW
    Pad = {
        Top = p.PadTop
        Bottom = p.PadBottom
        Left = p.PadLeft
        Right = p.PadRight
    }
}

/// Helpers of the given-range tests.
module private RangeGen =
    /// Min-max of the input and every output of the BN-folded model with the weights the lowering stores (its
    /// observer runs on those) over the inputs, by range index, widened to hold 0 as the observer starts from (0, 0).
    let observed (options: LowerOptions) (model: Model) (xs: Tensor list) : Map<int, float * float> =
        let folded = Qat.quantizedModel options (Fold.batchNorm model)
        let n = folded.Layers.Length + 1
        let lo = Array.zeroCreate<float> n
        let hi = Array.zeroCreate<float> n

        let see i (t: Tensor) =
            let a, b = Quantize.minMax t.Data
            lo[i] <- min lo[i] a
            hi[i] <- max hi[i] b

        for x in xs do
            see 0 x
            Forward.activations folded x |> List.iteri (fun i t -> see (i + 1) t)

        Map [ for i in 0 .. n - 1 -> i, (lo[i], hi[i]) ]

    let case: Arbitrary<Model * LowerOptions * bool> =
        Gen.zip3
            Generators.smallModel
            (Gen.elements [ LowerOptions.Int8; LowerOptions.Ternary ])
            (Gen.elements [ true; false ])
        |> Arb.fromGen

/// Where a layer's input grid differs from the output grid (Lower.outputGrid) of the layer that feeds it: each
/// quantizing layer reads the codes of layer i-1 and an add also those of layer i-Span-1, so the grids lowering
/// gave their inputs are an independent record of every output grid before them.
let private gridBreaks (im: IntModel) : string list = [
    let grid (scale: float32) (zero: int) = float scale, zero

    for i in 0 .. im.Layers.Length - 1 do
        let reads =
            match im.Layers[i] with
            | :? IntConvLayer as c -> [ i - 1, grid c.InputScale c.InputZero ]
            | :? IntPoolLayer as p -> [ i - 1, grid p.InputScale p.InputZero ]
            | :? IntAddLayer as a -> [
                i - 1, grid a.InputScale a.InputZero
                i - a.Span - 1, grid a.SkipScale a.SkipZero
              ]
            | _ -> []

        for from, expected in reads do
            let got = Lower.outputGrid im from

            if got <> expected then
                yield $"{im.Layers[i].Name} reads {expected} from layer {from}, whose output grid is {got}"
]

[<Tests>]
let tests =
    testList "LowerTests" [
        testCase "default architecture has 2500 to 3500 parameters and lowers to a valid model"
        <| fun () ->
            let m = Architectures.defaultModel 1
            let p = Model.totalParams m
            Expect.isGreaterThanOrEqual p 2500 "parameters"
            Expect.isLessThanOrEqual p 3500 "parameters"

            for options in [ LowerOptions.Int8; LowerOptions.Ternary ] do
                let _, im = defaultLowered options
                im.Validate()
                // conv, depthwise, pointwise, avgpool, flatten, dense: BN and ReLU are fused away.
                let kinds = im.Layers |> Array.map (fun l -> l.Kind)

                let expected = [|
                    IntLayerKind.Conv
                    IntLayerKind.Depthwise
                    IntLayerKind.Pointwise
                    IntLayerKind.AvgPool
                    IntLayerKind.Flatten
                    IntLayerKind.Dense
                |]

                Expect.equal kinds expected "layer kinds"

        testCase "ternary weight bytes are at most params over 4 plus per-channel constants"
        <| fun () ->
            let _, im = defaultLowered LowerOptions.Ternary
            let paramCount = im.Layers |> Array.sumBy (fun l -> l.ParameterCount)
            let weightBytes = im.Layers |> Array.sumBy (fun l -> l.WeightBytes)

            let perChannel =
                im.Layers
                |> Array.sumBy (function
                    | :? IntConvLayer as c -> c.OutChannels * (4 + 4 + 1)
                    | :? IntPoolLayer as p when p.Kind <> IntLayerKind.MaxPool -> 5
                    | _ -> 0)

            Expect.isLessThanOrEqual weightBytes (paramCount / 4 + perChannel + im.Layers.Length * 3) "weight bytes"

        testCase "ReLU is fused as a clamp at the output zero point"
        <| fun () ->
            let _, im = defaultLowered LowerOptions.Int8

            for l in im.Layers do
                match l with
                | :? IntConvLayer as c when c.Kind <> IntLayerKind.Dense ->
                    Expect.equal c.ActMin (max -128 c.OutputZero) c.Name
                    Expect.equal c.ActMax 127 "ActMax of a layer with a fused ReLU"
                | :? IntConvLayer as c -> Expect.equal (c.ActMin, c.ActMax) (-128, 127) "a dense layer is not clamped"
                | _ -> ()

        testPropertyWithConfig
            (Properties.tests 60)
            "activation ranges are observed on the stored weights: a model and its stored-weight twin lower alike"
        <| fun () ->
            // A QAT model's latent weights can lie far from the ternary values the integer model stores; the ranges
            // must be those of the stored weights (radar: ranges three times too wide cost 7 points otherwise).
            Prop.forAll modelAndWeights (fun (model, options) ->
                let calib = Generators.inputs 7 8 model.Input
                let twin = Qat.quantizedModel options (Fold.batchNorm model)
                let a = lowerOk options calib model
                let b = lowerOk options calib twin

                [ -1 .. a.Layers.Length - 1 ]
                |> List.forall (fun k ->
                    let (sa: float), za = Lower.outputGrid a k
                    let sb, zb = Lower.outputGrid b k
                    za = zb && abs (sa - sb) <= 1e-9 * abs sb))

        testPropertyWithConfig
            (Properties.tests 60)
            "every lowered conv-like layer stays within the bound derived from its scales"
        <| fun () ->
            Prop.forAll modelAndWeights (fun (model, options) ->
                let im = lowerOk options (Generators.inputs 7 8 model.Input) model
                let x = Generators.inputs 8 1 model.Input |> List.head |> Lower.quantizeInput im
                let outputs = IntReference.runLayers im x |> List.toArray
                let biases = foldedBiases model |> List.toArray
                let mutable convIndex = 0
                let mutable input = x
                let mutable ok = true

                for i in 0 .. im.Layers.Length - 1 do
                    match im.Layers[i] with
                    | :? IntConvLayer as c ->
                        let fine, _ = withinScaleBound c input outputs[i] biases[convIndex]
                        ok <- ok && fine
                        convIndex <- convIndex + 1
                    | _ -> ()

                    input <- outputs[i]

                ok)

        testPropertyWithConfig
            (Properties.tests 40)
            "a lowered model runs bit-exactly on the F# reference, the C# scalar kernels and the optimised ones"
        <| fun () ->
            Prop.forAll modelAndWeights (fun (model, options) ->
                let im = lowerOk options (Generators.inputs 3 4 model.Input) model

                let runners =
                    Tern.Runtime.Engine.Runner(im, Tern.Runtime.Engine.KernelMode.Scalar)
                    :: [
                        for l in KernelTests.KernelGen.levels ->
                            Tern.Runtime.Engine.Runner(im, Tern.Runtime.Engine.KernelMode.Optimized, l)
                    ]

                Generators.inputs 4 2 model.Input
                |> List.forall (fun x ->
                    let q = Lower.quantizeInput im x
                    let expected = IntReference.runLayers im q |> List.toArray
                    runners |> List.forall (fun r -> r.RunLayers q = expected))
                |> Prop.classify (hasNewGeometry model) "asymmetric or pool padding")

        testPropertyWithConfig
            (Properties.tests 300)
            "integer layers give the float layers' output shapes for any padding"
        <| fun () ->
            let arb =
                gen {
                    let! h = Gen.choose (1, 9)
                    let! w = Gen.choose (1, 9)
                    let! kh = Gen.choose (1, 4)
                    let! kw = Gen.choose (1, 4)
                    let! sh = Gen.choose (1, 3)
                    let! sw = Gen.choose (1, 3)
                    let! top, bottom = KernelTests.KernelGen.padding h kh
                    let! left, right = KernelTests.KernelGen.padding w kw

                    let! kind =
                        Gen.elements [ IntLayerKind.Conv; IntLayerKind.Depthwise; IntLayerKind.MaxPool ]

                    let pad = {
                        Top = top
                        Bottom = bottom
                        Left = left
                        Right = right
                    }

                    return Shape3(h, w, 2), (kh, kw, sh, sw), pad, kind
                }
                |> Arb.fromGen

            Prop.forAll arb (fun (inS, (kh, kw, sh, sw), pad, kind) ->
                let conv: ConvSpec = {
                    InChannels = 2
                    OutChannels = 2
                    KernelH = kh
                    KernelW = kw
                    StrideH = sh
                    StrideW = sw
                    Pad = pad
                    Weight = Array.zeroCreate (2 * kh * kw * 2)
                    Bias = Array.zeroCreate 2
                }

                let pool: PoolSpec = {
                    KernelH = kh
                    KernelW = kw
                    StrideH = sh
                    StrideW = sw
                    Pad = pad
                }

                let floatLayer, intShape =
                    match kind with
                    | IntLayerKind.MaxPool ->
                        MaxPool pool,
                        IntPoolLayer.OutputShapeOf(inS, kh, kw, sh, sw, pad.Top, pad.Bottom, pad.Left, pad.Right)
                    | _ ->
                        Conv2d conv,
                        IntConvLayer.OutputShapeOf(
                            kind,
                            inS,
                            kh,
                            kw,
                            sh,
                            sw,
                            pad.Top,
                            pad.Bottom,
                            pad.Left,
                            pad.Right,
                            2
                        )

                (Model.outputShape inS floatLayer = Ok intShape)
                |> Prop.classify (not (Padding.isSymmetric pad)) "asymmetric")

        testPropertyWithConfig
            (Properties.tests 60)
            "every lowered pool computes the float pool of its dequantized input"
        <| fun () ->
            Prop.forAll modelAndWeights (fun (model, options) ->
                let im = lowerOk options (Generators.inputs 5 4 model.Input) model
                let x = Generators.inputs 6 1 model.Input |> List.head |> Lower.quantizeInput im
                let outputs = IntReference.runLayers im x |> List.toArray
                let mutable ok = true
                let mutable padded = false

                for i in 0 .. im.Layers.Length - 1 do
                    match im.Layers[i] with
                    | :? IntPoolLayer as p when p.Kind <> IntLayerKind.GlobalAvgPool ->
                        padded <- padded || p.IsPadded
                        let input = if i = 0 then x else outputs[i - 1]
                        let sIn, sOut = float p.InputScale, float p.OutputScale

                        let real =
                            Tensor.ofArray
                                p.Input
                                (input |> Array.map (fun q -> float32 (sIn * float (int q - p.InputZero))))

                        let layer =
                            if p.Kind = IntLayerKind.MaxPool then
                                MaxPool(poolSpecOf p)
                            else
                                AvgPool(poolSpecOf p)

                        let expected = (Forward.layer layer real).Data

                        let lo, hi =
                            sOut * float (p.ActMin - p.OutputZero), sOut * float (p.ActMax - p.OutputZero)

                        outputs[i]
                        |> Array.iteri (fun j q ->
                            let got = sOut * float (int q - p.OutputZero)
                            let want = min hi (max lo (float expected[j]))
                            // max: exact (a padded position is the code of 0); average: one rounding, 2^-31 dyadic error
                            let bound =
                                (if p.Kind = IntLayerKind.MaxPool then
                                     0.0
                                 else
                                     sOut * (0.5 + 1e-6))
                                + 1e-6 * (1.0 + abs want)

                            if abs (got - want) > bound then
                                ok <- false)
                    | _ -> ()

                ok |> Prop.classify padded "padded pool")

        testCase "int8 lowering of the default model tracks the float model"
        <| fun () ->
            let m, im = defaultLowered LowerOptions.Int8
            let folded = Fold.batchNorm m
            let outP = Lower.outputParams im
            let xs = Generators.inputs 11 20 m.Input

            let errors =
                xs
                |> List.map (fun x ->
                    let f = Forward.run folded x
                    let q = Lower.dequantize outP (IntReference.run im (Lower.quantizeInput im x))
                    Array.map2 (fun a b -> abs (a - b)) f.Data q |> Array.max)

            let range =
                xs
                |> List.collect (fun x -> (Forward.run folded x).Data |> Array.toList)
                |> fun v -> List.max v - List.min v

            // Accumulated rounding through four layers stays a few output steps.
            Expect.isLessThan
                (List.max errors)
                (0.1f * range + 4.0f * float32 (fst outP))
                "largest error against the float model"

        testCase "lowering is deterministic"
        <| fun () ->
            let _, a = defaultLowered LowerOptions.Ternary
            let _, b = defaultLowered LowerOptions.Ternary
            Expect.equal (ModelFile.serializeInt a) (ModelFile.serializeInt b) "serialized models"

        testCase "a batchnorm that follows a ReLU cannot be lowered and the error names the layer"
        <| fun () ->
            let m = Architectures.defaultModel 1

            let bad = {
                m with
                    Layers = m.Layers[0..1] @ [ ReLU; BatchNorm(Architectures.batchNorm 8) ] @ m.Layers[3..]
            }

            match Lower.lower LowerOptions.Int8 (Generators.inputs 1 2 m.Input) bad with
            | Ok _ -> failtest "expected an error"
            | Error e ->
                Expect.stringContains e "layer 3" "the error names the layer"
                Expect.stringContains e "batchnorm" "the error names the batchnorm"

        testCase "calibration must be non-empty and of the input shape"
        <| fun () ->
            let m = Architectures.defaultModel 1

            match Lower.lower LowerOptions.Int8 [] m with
            | Ok _ -> failtest "expected an error"
            | Error e -> Expect.stringContains e "calibration" "the error names the calibration"

            match Lower.lower LowerOptions.Int8 (Generators.inputs 1 1 (Shape3(8, 8, 1))) m with
            | Ok _ -> failtest "expected an error"
            | Error e -> Expect.stringContains e "8x8x1" "the error names the shape given"

        testCase "input quantization rounds half away from zero"
        <| fun () ->
            let shape = Shape3(1, 1, 4)
            let layer = IntFlattenLayer("flatten_0", shape)
            let im = IntModel("t", shape, 0.5f, 0, [| layer :> IntLayer |], [||])
            // 0.25 / 0.5 = 0.5 -> 1 ; -0.25 -> -1 ; 1.25 / 0.5 = 2.5 -> 3 ; 1000 clamps to 127
            let q =
                Lower.quantizeInput im (Tensor.ofArray shape [| 0.25f; -0.25f; 1.25f; 1000.0f |])

            Expect.equal q [| 1y; -1y; 3y; 127y |] "quantized input"

        testPropertyWithConfig
            (Properties.tests 60)
            "every layer's input grid is the output grid of the layer that feeds it; the logits' is the last layer's"
        <| fun () ->
            Prop.forAll modelAndWeights (fun (model, options) ->
                let im = lowerOk options (Generators.inputs 9 4 model.Input) model
                let last = im.Layers.Length - 1

                let breaks = gridBreaks im

                (breaks = []
                 && Lower.outputGrid im -1 = (float im.InputScale, im.InputZero)
                 && Lower.outputParams im = Lower.outputGrid im last)
                |> Prop.label (String.concat "; " breaks)
                |> Prop.classify (im.Layers |> Array.exists (fun l -> l :? IntFlattenLayer)) "flatten")

        testCase "residual adds read their skip on the output grid of the block's input"
        <| fun () ->
            for seed in 1..3 do
                let m = Architectures.blocksFor (Shape3(16, 16, 1)) [ "a"; "b"; "c" ] seed

                for options in [ LowerOptions.Int8; LowerOptions.Ternary ] do
                    let im = lowerOk options (Generators.inputs seed 4 m.Input) m
                    Expect.isTrue (im.Layers |> Array.exists (fun l -> l :? IntAddLayer)) "the model has adds"
                    Expect.equal (gridBreaks im) [] $"seed {seed}, {options}"

        testCase "outputGrid refuses a layer past the last"
        <| fun () ->
            let _, im = defaultLowered LowerOptions.Ternary

            Expect.throwsT<ArgumentException>
                (fun () -> Lower.outputGrid im im.Layers.Length |> ignore)
                "one past the last layer"

        testCase "bias bits and accumulator bounds are reported"
        <| fun () ->
            let _, im = defaultLowered LowerOptions.Ternary
            let bits = Lower.biasBits im
            Expect.isGreaterThanOrEqual bits 1 "bias bits"
            Expect.isLessThanOrEqual bits 32 "bias bits"

            for l in im.Layers do
                match l with
                | :? IntConvLayer as c ->
                    Expect.isLessThan
                        (Lower.accumulatorBound c)
                        (int64 Int32.MaxValue)
                        "the accumulator bound fits in int32"
                | _ -> ()

        testCase
            "a nearly empty input range widens int8 weight scales until the bias fits; ternary refuses and says why"
        <| fun () ->
            // Inputs of about 1e-9 give an input scale near 1e-11; a bias of 1.0 is then ~4e13 accumulator units at
            // the weights' own int8 scale.
            let m: Model = {
                Name = "dead input"
                Input = Shape3(1, 1, 2)
                Layers = [
                    Dense {
                        Inputs = 2
                        Outputs = 3
                        Weight = [| 0.3f; -0.2f; 0.1f; 0.25f; -0.3f; 0.05f |]
                        Bias = [| 1.0f; -0.5f; 0.0f |]
                    }
                ]
                Classes = [ "a"; "b"; "c" ]
                Meta = Map.empty
            }

            let calib = [
                for v in [ 1e-9f; 2e-9f; 3e-9f ] do
                    Tensor.ofArray m.Input [| v; -v |]
            ]

            let im = lowerOk LowerOptions.Int8 calib m
            let d = im.Layers[0] :?> IntConvLayer

            let expected = [| 1.0; -0.5; 0.0 |]

            for c in 0..2 do
                Expect.isLessThanOrEqual (abs (int64 d.Bias[c])) (1L <<< 30) $"channel {c}: the bias fits half of int32"

                Expect.floatClose
                    { absolute = 1e-12; relative = 1e-5 }
                    (float d.Bias[c] * float d.InputScale * float d.WeightScale[c])
                    expected[c]
                    $"channel {c}: the bias is kept"

            // The channel whose bias is 0 keeps its own scale: max abs of its weights (-0.3, 0.05) over 127.
            Expect.floatClose { absolute = 1e-9; relative = 0.0 } (float d.WeightScale[2]) (0.3 / 127.0) "scale kept"

            for x in calib do
                let q = Lower.quantizeInput im x

                Expect.equal
                    (Engine.Runner(im, Engine.KernelMode.Optimized).Run q)
                    (IntReference.run im q)
                    "runner vs reference"

            match Lower.lower LowerOptions.Ternary calib m with
            | Ok _ -> failtest "ternary weights cannot widen their scale; expected a refusal"
            | Error e -> Expect.stringContains e "nearly empty" "the refusal says why"

        testCase "the float model's peak activation bytes equal the lowered model's arena"
        <| fun () ->
            let m, im = defaultLowered LowerOptions.Ternary
            let arena = Tern.Runtime.Engine.MemoryPlan.Create(im).ArenaBytes
            Expect.equal (Model.peakActivationBytes 1 m) arena "peak activation bytes against the arena"

        testPropertyWithConfig
            (Properties.tests 40)
            "ranges given from min-max over a calibration set lower exactly as that calibration set"
        <| fun () ->
            Prop.forAll RangeGen.case (fun (model, options, onlyNeeded) ->
                let calib = Generators.inputs 21 6 model.Input
                let all = RangeGen.observed options model calib
                let needed = ActivationGrid.ownRanges model
                // Either only the ranges the lowering uses, or every tensor's.
                let given =
                    if onlyNeeded then
                        all |> Map.filter (fun k _ -> needed.Contains k)
                    else
                        all

                let expected = lowerOk options calib model |> ModelFile.serializeInt
                let withCalib = Lower.lowerWith options given calib model
                let without = Lower.lowerWith options given [] model

                match withCalib, without with
                | Ok a, Ok b ->
                    (ModelFile.serializeInt a = expected && ModelFile.serializeInt b = expected)
                    |> Prop.classify onlyNeeded "only the needed ranges"
                    |> Prop.collect $"{needed.Count} ranges"
                | Error e, _
                | _, Error e -> failwith e)

        testCase "a given range replaces the observed one and a missing range needs calibration"
        <| fun () ->
            let m = Architectures.defaultModel 1
            let calib = Generators.inputs 2 16 m.Input
            let needed = ActivationGrid.ownRanges m
            // The default model: input, conv+ReLU, depthwise+ReLU, pointwise+ReLU, dense (folded: 0, 2, 4, 6, 9).
            Expect.isTrue (needed |> Set.toList = [ 0; 2; 4; 6; 9 ]) $"%A{needed}"
            Expect.equal (ActivationGrid.ofModel m |> Map.find 7) 6 "the average pool keeps the pointwise grid"
            let im = lowerOk LowerOptions.Int8 calib m

            let wide =
                match Lower.lowerWith LowerOptions.Int8 (Map [ 2, (0.0, 100.0) ]) calib m with
                | Ok x -> x
                | Error e -> failwith e

            let first (x: IntModel) = x.Layers[0] :?> IntConvLayer

            Expect.floatClose
                { absolute = 1e-6; relative = 0.0 }
                (float (first wide).OutputScale)
                (100.0 / 255.0)
                "the given range sets the first layer's output scale"

            Expect.notEqual
                ((first wide).OutputScale)
                ((first im).OutputScale)
                "the given range changes the first layer's output scale"

            Expect.equal wide.InputScale im.InputScale "ranges not given are observed"

            match Lower.lowerWith LowerOptions.Int8 (Map [ 0, (0.0, 1.0); 2, (0.0, 3.0) ]) [] m with
            | Ok _ -> failtest "expected an error"
            | Error e -> Expect.stringContains e "calibration" "the error names the calibration"
    ]
