module Tern.Tests.TrainTests

open System
open System.Diagnostics
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core
open Tern.Tests.GradCheck

/// Generators and helpers of this file only.
module private TrainGen =
    let randomArray (rng: Random) (n: int) (scale: float32) : float32[] =
        Array.init n (fun _ -> scale * (2.0f * float32 (rng.NextDouble()) - 1.0f))

    let conv (rng: Random) inC outC k stride (pad: Padding) perOut : ConvSpec = {
        InChannels = inC
        OutChannels = outC
        KernelH = k
        KernelW = k
        StrideH = stride
        StrideW = stride
        Pad = pad
        Weight = randomArray rng (outC * perOut) 0.8f
        Bias = randomArray rng outC 0.3f
    }

    let dense (rng: Random) inputs outputs : Layer =
        Dense {
            Inputs = inputs
            Outputs = outputs
            Weight = randomArray rng (inputs * outputs) 0.6f
            Bias = randomArray rng outputs 0.2f
        }

    /// A model of the given layers on the input shape, closed by Flatten and a dense layer to 3 classes.
    let headed (rng: Random) (input: Shape3) (layers: Layer list) : Model =
        let probe = {
            Name = "probe"
            Input = input
            Layers = layers
            Classes = []
            Meta = Map.empty
        }

        let last = Model.shapes probe |> List.last

        {
            probe with
                Layers = layers @ [ Flatten; dense rng last.Size 3 ]
                Classes = [ "a"; "b"; "c" ]
        }

    /// Geometry of a random convolution-like layer for gradient checks.
    type ConvCase = {
        Kind: int
        H: int
        W: int
        C: int
        OutC: int
        K: int
        Stride: int
        Pad: Padding
        Batch: int
        Seed: int
    }

    let convCase: Arbitrary<ConvCase> =
        gen {
            let! kind = Gen.choose (0, 2)
            let! k = if kind = 2 then Gen.constant 1 else Gen.choose (1, 3)
            let! h = Gen.choose (k, 6)
            let! w = Gen.choose (k, 6)
            let! c = Gen.choose (1, 3)
            let! outC = Gen.choose (1, 4)
            let! stride = Gen.choose (1, 2)
            // half the padded layers differ on every side (h, w >= k: every window fits)
            let side = Gen.choose (0, k - 1)

            let! pad =
                if kind = 2 then
                    Gen.constant Padding.none
                else
                    Gen.oneof [
                        side |> Gen.map (fun p -> Padding.symmetric p p)
                        Gen.map4
                            (fun t b l r -> {
                                Top = t
                                Bottom = b
                                Left = l
                                Right = r
                            })
                            side
                            side
                            side
                            side
                    ]

            let! batch = Gen.choose (1, 3)
            let! seed = Gen.choose (0, 100000)

            return {
                Kind = kind
                H = h
                W = w
                C = c
                OutC = outC
                K = k
                Stride = stride
                Pad = pad
                Batch = batch
                Seed = seed
            }
        }
        |> Arb.fromGen

    let modelOf (cc: ConvCase) : Model =
        let rng = Random(cc.Seed)
        let input = Shape3(cc.H, cc.W, cc.C)

        let layer =
            match cc.Kind with
            | 0 -> Conv2d(conv rng cc.C cc.OutC cc.K cc.Stride cc.Pad (cc.K * cc.K * cc.C))
            | 1 -> DepthwiseConv2d(conv rng cc.C cc.C cc.K cc.Stride cc.Pad (cc.K * cc.K))
            | _ -> Pointwise(conv rng cc.C cc.OutC 1 cc.Stride Padding.none cc.C)

        headed rng input [ layer ]

    let batchOf (rng: Random) (shape: Shape3) (n: int) (lo: float32) (hi: float32) : float32[][] * int[] =
        Array.init n (fun _ -> Array.init shape.Size (fun _ -> lo + (hi - lo) * float32 (rng.NextDouble()))),
        Array.init n (fun _ -> rng.Next 3)

    /// Every parameter and running statistic of a model, as bytes.
    let bytesOf (m: Model) : byte[] =
        Generators.parameterArrays m
        |> List.toArray
        |> Array.collect (Array.collect (fun (v: float32) -> BitConverter.GetBytes v))

    /// Two classes of 8x8x1 random patterns (a fixed prototype per class plus noise).
    let patterns (seed: int) (n: int) : float32[][] * int[] =
        let rng = Random(seed)

        let protos =
            Array.init 2 (fun _ -> Array.init 64 (fun _ -> float32 (rng.NextDouble())))

        let labels = Array.init n (fun i -> i % 2)

        let samples =
            labels
            |> Array.map (fun l -> protos[l] |> Array.map (fun v -> v + 0.3f * float32 (rng.NextDouble() - 0.5)))

        samples, labels

    let small (seed: int) : Model =
        let rng = Random(seed)
        let input = Shape3(8, 8, 1)

        {
            Name = "small"
            Input = input
            Classes = [ "a"; "b" ]
            Layers = [
                Conv2d(Architectures.conv rng 1 4 3 1 1)
                BatchNorm(Architectures.batchNorm 4)
                ReLU
                MaxPool {
                    KernelH = 2
                    KernelW = 2
                    StrideH = 2
                    StrideW = 2
                    Pad = Padding.none
                }
                Flatten
                Dense(Architectures.dense rng 64 2)
            ]
            Meta = Map.empty
        }

    let quiet: EpochLog -> unit = ignore

open TrainGen

let private assertNoFailures (failures: string list) =
    if not failures.IsEmpty then
        failtest (String.Join("\n", failures |> List.truncate 10))

let private pathsAgree (models: Gen<Model>) =
    Prop.forAll (Arb.fromGen (Gen.zip models (Gen.choose (0, 10000)))) (fun (model, seed) ->
        let rng = Random(seed)
        let n = 1 + seed % 4
        let inputs = Array.init n (fun _ -> randomArray rng model.Input.Size 1.0f)
        let k = (Model.shapes model |> List.last).Size
        let labels = Array.init n (fun _ -> rng.Next k)

        let near (a: float32[]) (b: float32[]) =
            let scale = 1.0f + (Array.append a b |> Array.fold (fun m v -> max m (abs v)) 0.0f)
            Array.forall2 (fun (x: float32) y -> abs (x - y) <= 1e-4f * scale) a b

        for training in [ true; false ] do
            let a = Train.outputs Naive training model inputs
            let b = Train.outputs Optimised training model inputs

            for i in 0 .. n - 1 do
                Expect.isTrue (near a[i] b[i]) $"outputs of sample {i} (training {training})"

                if not training then
                    let f = (Forward.run model (Tensor.ofArray model.Input inputs[i])).Data
                    Expect.isTrue (near a[i] f) $"naive inference vs Forward of sample {i}"

        let g1 = Train.gradients Naive model None inputs labels
        let g2 = Train.gradients Optimised model None inputs labels

        Expect.floatClose
            {
                absolute = 1e-4 * (1.0 + abs g1.Loss)
                relative = 0.0
            }
            g2.Loss
            g1.Loss
            "loss of both paths"

        // Gradients are compared against the model's largest gradient: a bias feeding a training-mode
        // BatchNorm has a true gradient of zero, so both paths give only rounding noise there, amplified by
        // 1/sigma; relative to its own size that noise is arbitrary. Training-mode BatchNorm on few values
        // amplifies float32 summation-order differences to a few 1e-4 of the largest gradient (pinned
        // cases below); a wrong gradient is off by far more than 2e-3 of it.
        let largest =
            let all =
                Array.concat [ yield! g1.Params |> List.map (fun (_, _, g) -> g); yield! g1.Inputs ]

            1.0f + Array.fold (fun m v -> max m (abs v)) 0.0f all

        let close (a: float32[]) (b: float32[]) =
            Array.forall2 (fun (x: float32) y -> abs (x - y) <= 2e-3f * largest) a b

        for (li, name, a), (_, _, b) in List.zip g1.Params g2.Params do
            Expect.isTrue (close a b) $"gradient of layer {li} {name}"

        for i in 0 .. n - 1 do
            Expect.isTrue (close g1.Inputs[i] g2.Inputs[i]) $"input gradient of sample {i}"

        true
        |> Prop.classify (model.Layers |> List.exists (fun l -> l.IsBatchNorm)) "with batchnorm"
        |> Prop.classify (model.Layers |> List.exists (fun l -> l.IsMaxPool)) "with maxpool"
        |> Prop.classify
            (model.Layers
             |> List.exists (function
                 | MaxPool p
                 | AvgPool p -> not (Padding.isNone p.Pad)
                 | Conv2d c
                 | DepthwiseConv2d c -> not (Padding.isSymmetric c.Pad)
                 | _ -> false))
            "asymmetric or pool padding"
        |> Prop.classify (n = 1) "batch of one")

/// Helpers of the activation-quantization tests.
module private ActQuantGen =
    /// lo <= 0 <= hi (as the trained bounds always are) and a value, sometimes outside the range.
    let gridCase: Arbitrary<float * float * float32> =
        gen {
            let! lo = Gen.choose (-4000, 0)
            let! hi = Gen.choose (0, 4000)
            let! x = Gen.choose (-6000, 6000)
            return float lo / 1000.0, float hi / 1000.0, float32 x / 1000.0f
        }
        |> Arb.fromGen

    /// The 8x8 three-class blob task of QatTests (same generator).
    let blobs (seed: int) (count: int) : float32[][] * int[] =
        let rng = Random(seed)

        let sample (cls: int) =
            let x = Array.init 64 (fun _ -> 0.2f * float32 (rng.NextDouble()))
            let r0, c0 = (if cls = 1 then 4 else 0), (if cls = 2 then 4 else 0)

            for r in r0 .. r0 + 3 do
                for c in c0 .. c0 + 3 do
                    x[r * 8 + c] <- x[r * 8 + c] + 0.8f

            x

        let labels = Array.init count (fun i -> i % 3)
        labels |> Array.map sample, labels

    /// Fake quantization of the input and the output of every layer of `small` but the last (the logits).
    let smallQuant (frozen: Set<int>) : ActivationQuant = {
        Ranges = Map [ 0, (0.0, 1.2); 3, (0.0, 2.0); 6, (-1.5, 1.5) ]
        Follow = Map [ 4, 3 ]
        Frozen = frozen
        RateScale = 1.0
    }

open ActQuantGen

[<Tests>]
let tests =
    testList "TrainTests" [
        testPropertyWithConfig
            (Properties.tests 25)
            "Conv2d, DepthwiseConv2d and Pointwise gradients match central differences on both paths"
        <| fun () ->
            Prop.forAll convCase (fun cc ->
                let model = modelOf cc
                let rng = Random(cc.Seed + 1)
                let inputs, labels = batchOf rng model.Input cc.Batch -1.0f 1.0f
                gradCheck model None inputs labels |> assertNoFailures

                true
                |> Prop.classify (cc.Kind = 0) "conv2d"
                |> Prop.classify (cc.Kind = 1) "depthwise"
                |> Prop.classify (cc.Kind = 2) "pointwise"
                |> Prop.classify (not (Padding.isNone cc.Pad)) "padded"
                |> Prop.classify (not (Padding.isSymmetric cc.Pad)) "asymmetric padding"
                |> Prop.classify (cc.Stride > 1) "strided")

        testCase "BatchNorm in training mode has batch-statistics gradients that match central differences"
        <| fun () ->
            let rng = Random(3)
            let input = Shape3(3, 2, 3)

            let bn (c: int) =
                BatchNorm {
                    Gamma = [| 1.2f; 0.7f; -0.9f |][.. c - 1]
                    Beta = [| 0.1f; -0.3f; 0.5f |][.. c - 1]
                    Mean = Array.zeroCreate c
                    Var = Array.create c 1.0f
                    Eps = 1e-5f
                }

            // BN directly on the input (its input gradient checked) and after a conv (whose weights see BN's dX).
            let inputs, labels = batchOf rng input 3 -1.0f 2.0f
            gradCheck (headed rng input [ bn 3 ]) None inputs labels |> assertNoFailures

            gradCheck
                (headed rng input [ Conv2d(conv rng 3 2 3 1 (Padding.symmetric 1 1) 27); bn 2 ])
                None
                inputs
                labels
            |> assertNoFailures

        testCase "ReLU and ReLU6 gradients match central differences away from the kinks"
        <| fun () ->
            let rng = Random(5)
            let input = Shape3(2, 3, 2)

            // Values at least 0.1 from 0 and 6, so a perturbation of 3e-3 never crosses a kink.
            let away (lo: float) (hi: float) =
                Array.init input.Size (fun _ ->
                    Seq.initInfinite (fun _ -> lo + (hi - lo) * rng.NextDouble())
                    |> Seq.find (fun v -> abs v >= 0.1 && abs (v - 6.0) >= 0.1)
                    |> float32)

            for layer, lo, hi in [ ReLU, -1.0, 1.0; ReLU6, -2.0, 8.0 ] do
                let model = headed rng input [ layer ]
                let inputs = Array.init 3 (fun _ -> away lo hi)
                gradCheck model None inputs [| 0; 1; 2 |] |> assertNoFailures

        testCase "MaxPool, AvgPool and GlobalAvgPool gradients match central differences"
        <| fun () ->
            let rng = Random(9)
            let input = Shape3(4, 5, 2)

            let padded k s (t, b, l, r) = {
                KernelH = k
                KernelW = k
                StrideH = s
                StrideW = s
                Pad = {
                    Top = t
                    Bottom = b
                    Left = l
                    Right = r
                }
            }

            let pool k s = padded k s (0, 0, 0, 0)

            // Distinct values 0.05 apart and at least 0.025 from 0 (a padded position's value): no window maximum
            // changes under a 3e-3 perturbation.
            let distinct () =
                let perm = Array.init input.Size id |> Array.sortBy (fun _ -> rng.Next())
                perm |> Array.map (fun i -> float32 i * 0.05f - 0.975f)

            for layers in
                [
                    [ MaxPool(pool 2 2) ]
                    [ MaxPool(pool 2 1) ]
                    [ AvgPool(pool 2 2) ]
                    [ AvgPool(pool 3 1) ]
                    [ GlobalAvgPool ]
                    // zero-padded: a padded maximum passes no gradient, a padded average keeps the whole window's divisor
                    [ MaxPool(padded 2 2 (0, 1, 1, 0)) ]
                    [ MaxPool(padded 3 2 (1, 2, 2, 1)) ]
                    [ AvgPool(padded 3 1 (1, 0, 0, 2)) ]
                    [ AvgPool(padded 2 2 (1, 1, 0, 1)) ]
                ] do
                let model = headed rng input layers
                let inputs = Array.init 2 (fun _ -> distinct ())
                gradCheck model None inputs [| 1; 2 |] |> assertNoFailures

        testCase "Dense alone and the class-weighted loss have gradients that match central differences"
        <| fun () ->
            let rng = Random(11)
            let input = Shape3(1, 1, 7)

            let model = {
                Name = "dense"
                Input = input
                Layers = [ dense rng 7 3 ]
                Classes = [ "a"; "b"; "c" ]
                Meta = Map.empty
            }

            let inputs, labels = batchOf rng input 4 -1.0f 1.0f
            gradCheck model None inputs labels |> assertNoFailures
            gradCheck model (Some [| 0.5f; 2.0f; 1.0f |]) inputs labels |> assertNoFailures

            // The weighted loss is the weighted mean of the per-sample losses.
            let per =
                Array.init 4 (fun i -> Train.loss model None [| inputs[i] |] [| labels[i] |])

            let w = [| 0.5; 2.0; 1.0 |]

            let expected =
                Array.fold2 (fun acc l y -> acc + w[y] * l) 0.0 per labels
                / (labels |> Array.sumBy (fun y -> w[y]))

            Expect.floatClose
                { absolute = 1e-9; relative = 0.0 }
                (Train.loss model (Some [| 0.5f; 2.0f; 1.0f |]) inputs labels)
                expected
                "the weighted loss is the weighted mean of the per-sample losses"

        testPropertyWithConfig
            (Properties.tests 100)
            "Naive and optimised paths agree on random models; inference agrees with Forward"
        <| fun () -> pathsAgree Generators.smallModel

        // A case that once failed: a bias feeding a training-mode BatchNorm (true gradient zero, only noise).
        testPropertyWithConfig
            (Properties.replay 3849258778553947914UL 2413471489033129769UL 26)
            "Naive and optimised paths agree on the pinned BatchNorm-after-bias case"
        <| fun () -> pathsAgree (Generators.smallModelWith false)

        // A case that once failed: a one-channel training-mode BatchNorm at the output amplifies the two paths'
        // different float32 summation orders to 4e-4 of the largest gradient.
        testPropertyWithConfig
            (Properties.replay 1792078594166069226UL 10929733019785678887UL 12)
            "Naive and optimised paths agree on the pinned one-channel BatchNorm case"
        <| fun () -> pathsAgree (Generators.smallModelWith false)

        testCase "Same seed gives identical weights, whatever the thread count"
        <| fun () ->
            let train = patterns 1 40

            let cfg = {
                Train.defaultConfig with
                    Epochs = 2
                    BatchSize = 8
                    Patience = None
                    Seed = 7
            }

            let run threads =
                (Train.fit { cfg with Threads = threads } (small 2) train None quiet).Model
                |> bytesOf

            let a = run 1
            Expect.equal (run 1) a "one thread again"
            Expect.equal (run 2) a "two threads"
            Expect.equal (run 3) a "three threads"
            // A different seed shuffles differently.
            let other =
                (Train.fit { cfg with Seed = 8; Threads = 2 } (small 2) train None quiet).Model
                |> bytesOf

            Expect.notEqual other a "a different seed gives other weights"

        testCase "A tiny learnable problem is learnt with SGD and with Adam"
        <| fun () ->
            let train = patterns 4 200

            for opt, name in
                [
                    Sgd(0.05, 0.9, false), "sgd"
                    Sgd(0.05, 0.9, true), "nesterov"
                    Adam(0.01, 0.9, 0.999, 1e-8), "adam"
                ] do
                let cfg = {
                    Train.defaultConfig with
                        Epochs = 4
                        BatchSize = 16
                        Optimizer = opt
                        Schedule = Constant
                        Patience = None
                }

                let result = Train.fit cfg (small 5) train None quiet
                let m = Train.evaluate result.Model (fst train) (snd train)
                Expect.isGreaterThan m.Accuracy 0.95 $"{name}: train accuracy"
                Expect.isGreaterThan m.MacroF1 0.95 $"{name}: macro F1"
                Expect.equal result.History.Length 4 "epochs run"
                Expect.isGreaterThan ((List.last result.History).TrainAccuracy) 0.9 $"{name}: last epoch's accuracy"

        testCase "Early stopping restores the best epoch"
        <| fun () ->
            let xs, ys = patterns 6 60
            // Validation labels are the opposite of the training labels: every epoch that learns makes it worse.
            let valid = xs, ys |> Array.map (fun y -> 1 - y)

            let cfg = {
                Train.defaultConfig with
                    Epochs = 10
                    BatchSize = 10
                    Optimizer = Sgd(0.05, 0.9, false)
                    Schedule = Constant
                    Patience = Some 2
                    Seed = 3
            }

            let logs = ResizeArray()
            let result = Train.fit cfg (small 7) (xs, ys) (Some valid) logs.Add
            Expect.isTrue result.StoppedEarly "stopped early"
            Expect.equal result.BestEpoch 1 "best epoch"
            Expect.equal result.History.Length 3 "epochs run"
            Expect.equal logs.Count 3 "epochs logged"
            Expect.equal (logs |> Seq.map (fun l -> l.Epoch) |> Array.ofSeq) [| 1; 2; 3 |] "logged epoch numbers"
            // The returned weights are those after epoch 1: the same as training one epoch.
            let one =
                Train.fit { cfg with Epochs = 1; Patience = None } (small 7) (xs, ys) None quiet

            Expect.equal (bytesOf result.Model) (bytesOf one.Model) "the returned weights are epoch 1's"
            let acc = (Train.evaluate result.Model (fst valid) (snd valid)).Accuracy

            Expect.floatClose
                { absolute = 1e-9; relative = 0.0 }
                acc
                result.History.Head.ValidAccuracy.Value
                "validation accuracy of the returned model is epoch 1's"

        testCase "The weight average is the warmed-up average of the steps, running statistics included"
        <| fun () ->
            // One step per epoch (the batch is the whole set) and a constant rate, so the runs of 1 and 2 epochs
            // without the average are the weights after step 1 and step 2 of the averaged run.
            let train = patterns 12 24

            let cfg = {
                Train.defaultConfig with
                    Epochs = 2
                    BatchSize = 24
                    Optimizer = Adam(0.05, 0.9, 0.999, 1e-8)
                    Schedule = Constant
                    Patience = None
                    Seed = 4
            }

            let run epochs ema =
                (Train.fit { cfg with Epochs = epochs; Ema = ema } (small 13) train None quiet).Model
                |> Generators.parameterArrays

            let w0 = Generators.parameterArrays (small 13)
            let w1 = run 1 0.0
            let w2 = run 2 0.0
            // Decay min(0.9, (1 + t) / (10 + t)): 0.1 at step 0, 2/11 at step 1.
            let d0, d1 = 0.1f, 2.0f / 11.0f

            let expected =
                List.map3 (Array.map3 (fun a b c -> d1 * (d0 * a + (1.0f - d0) * b) + (1.0f - d1) * c)) w0 w1 w2

            let got = run 2 0.9

            List.iteri2
                (fun i (e: float32[]) (g: float32[]) ->
                    for j in 0 .. e.Length - 1 do
                        Expect.floatClose
                            { absolute = 1e-5; relative = 1e-4 }
                            (float g[j])
                            (float e[j])
                            $"array {i}, element {j}")
                expected
                got

            Expect.notEqual (Array.concat got) (Array.concat w2) "the average is not the last step's weights"

        testCase "The weight average leaves training alone and is what validation and early stopping see"
        <| fun () ->
            let xs, ys = patterns 14 60
            let valid = patterns 15 20

            let cfg = {
                Train.defaultConfig with
                    Epochs = 4
                    BatchSize = 10
                    Optimizer = Adam(0.01, 0.9, 0.999, 1e-8)
                    Schedule = Constant
                    Patience = Some 10
                    Seed = 5
            }

            for bad in [ 1.0; -0.1 ] do
                Expect.throwsT<ArgumentException>
                    (fun () -> Train.fit { cfg with Ema = bad } (small 16) (xs, ys) None quiet |> ignore)
                    $"Ema {bad} is refused"

            let plain = Train.fit cfg (small 16) (xs, ys) (Some valid) quiet

            let averaged =
                Train.fit { cfg with Ema = 0.8 } (small 16) (xs, ys) (Some valid) quiet

            let trainLoss (r: TrainResult) =
                r.History |> List.map (fun l -> l.TrainLoss)

            let validLoss (r: TrainResult) =
                r.History |> List.map (fun l -> l.ValidLoss)

            Expect.equal (trainLoss averaged) (trainLoss plain) "the live weights train as without the average"
            Expect.notEqual (validLoss averaged) (validLoss plain) "validation runs on the average"
            // The kept model is the best epoch's average: its validation accuracy is that epoch's.
            let acc = (Train.evaluate averaged.Model (fst valid) (snd valid)).Accuracy

            Expect.floatClose
                { absolute = 1e-9; relative = 0.0 }
                acc
                (averaged.History[averaged.BestEpoch - 1]).ValidAccuracy.Value
                "validation accuracy of the returned model is its best epoch's"

        testCase "The weight average keeps pruned weights at zero"
        <| fun () ->
            let train = patterns 17 40
            let model = small 18

            let keep =
                match model.Layers[0] with
                | Conv2d c -> c.Weight |> Array.mapi (fun i _ -> i % 3 <> 0)
                | _ -> failwith "conv first"

            let cfg = {
                Train.defaultConfig with
                    Epochs = 2
                    BatchSize = 8
                    Patience = None
                    Masks = Map [ 0, keep ]
                    Ema = 0.9
            }

            match (Train.fit cfg model train None quiet).Model.Layers[0] with
            | Conv2d c ->
                for i in 0 .. keep.Length - 1 do
                    if not keep[i] then
                        Expect.equal c.Weight[i] 0.0f $"masked weight {i}"
            | _ -> failtest "layers moved"

        testCase "Masked weights stay zero through SGD and Adam with weight decay"
        <| fun () ->
            let train = patterns 8 40
            let model = small 9

            let conv =
                match model.Layers[0] with
                | Conv2d c -> c
                | _ -> failwith "conv first"

            let keep = conv.Weight |> Array.mapi (fun i _ -> i % 3 <> 0)
            let keepDense = Array.init (64 * 2) (fun i -> i % 2 = 0)

            for opt in [ Sgd(0.05, 0.9, true); Adam(0.01, 0.9, 0.999, 1e-8) ] do
                let cfg = {
                    Train.defaultConfig with
                        Epochs = 2
                        BatchSize = 8
                        Optimizer = opt
                        WeightDecay = 1e-2
                        Patience = None
                        Masks = Map [ 0, keep; 5, keepDense ]
                }

                let result = Train.fit cfg model train None quiet

                match result.Model.Layers[0], result.Model.Layers[5] with
                | Conv2d c, Dense d ->
                    for i in 0 .. keep.Length - 1 do
                        if keep[i] then
                            Expect.notEqual c.Weight[i] conv.Weight[i] $"kept weight {i} was trained"
                        else
                            Expect.equal c.Weight[i] 0.0f $"masked weight {i}"

                    for i in 0 .. keepDense.Length - 1 do
                        if not keepDense[i] then
                            Expect.equal d.Weight[i] 0.0f $"masked dense weight {i}"
                | _ -> failtest "layers moved"

        testCase "Schedules give the expected learning rates"
        <| fun () ->
            let rates s epochs =
                List.init epochs (Schedule.rate s 0.1 epochs)

            let check (expected: float list) (actual: float list) =
                List.iter2
                    (fun (e: float) (a: float) ->
                        Expect.floatClose { absolute = 1e-12; relative = 0.0 } a e "scheduled learning rate")
                    expected
                    actual

            check [ 0.1; 0.1; 0.1 ] (rates Constant 3)
            check [ 0.1; 0.1; 0.05; 0.05; 0.025; 0.025 ] (rates (StepDecay(2, 0.5)) 6)

            let c i n =
                0.05 * (1.0 + cos (Math.PI * float i / float n))

            check [ 0.1; c 1 4; 0.05; c 3 4 ] (rates (Cosine 0) 4)
            check [ 0.05; 0.1; 0.1; c 1 4; 0.05; c 3 4 ] (rates (Cosine 2) 6)
            // fit reports the scheduled rate of each epoch.
            let cfg = {
                Train.defaultConfig with
                    Epochs = 3
                    BatchSize = 20
                    Optimizer = Sgd(0.1, 0.0, false)
                    Schedule = StepDecay(1, 0.1)
                    Patience = None
            }

            let result = Train.fit cfg (small 1) (patterns 1 20) None quiet
            check [ 0.1; 0.01; 0.001 ] (result.History |> List.map (fun l -> l.LearningRate))

        testCase "Class weights are inverse frequencies with mean one over the samples"
        <| fun () ->
            let labels = [| 0; 0; 1; 2; 2; 2 |]
            let w = Train.classWeights 4 labels
            Expect.floatClose { absolute = 1e-6; relative = 0.0 } (float w[0]) (float 1.0f) "weight of class 0"
            Expect.floatClose { absolute = 1e-6; relative = 0.0 } (float w[1]) (float 2.0f) "weight of class 1"
            Expect.floatClose { absolute = 1e-6; relative = 0.0 } (float w[2]) (float (2.0f / 3.0f)) "weight of class 2"
            Expect.equal w[3] 0.0f "weight of an absent class"

            Expect.floatClose
                { absolute = 1e-6; relative = 0.0 }
                (float (labels |> Array.averageBy (fun l -> w[l])))
                (float 1.0f)
                "mean weight over the samples"

        testCase "BatchNorm running statistics move by momentum 0.1 with the unbiased batch variance"
        <| fun () ->
            let model = {
                Name = "bn"
                Input = Shape3(1, 2, 1)
                Layers = [ BatchNorm(Architectures.batchNorm 1) ]
                Classes = [ "a"; "b" ]
                Meta = Map.empty
            }

            let s =
                Train.session
                    {
                        Train.defaultConfig with
                            BatchSize = 2
                    }
                    model
                    None

            Train.step s [| [| 1.0f; 3.0f |]; [| 5.0f; 7.0f |] |] [| 0; 1 |] 0.0 |> ignore

            match (Train.sessionModel s).Layers with
            | [ BatchNorm b ] ->
                // Batch mean 4, unbiased variance 20/3.
                Expect.floatClose { absolute = 1e-6; relative = 0.0 } (float b.Mean[0]) (float 0.4f) "running mean"

                Expect.floatClose
                    { absolute = 1e-5; relative = 0.0 }
                    (float b.Var[0])
                    (float (0.9f + 0.1f * 20.0f / 3.0f))
                    "running variance"
            | _ -> failtest "one BatchNorm"

        testCase "Evaluate gives accuracy, macro F1 and the confusion matrix"
        <| fun () ->
            let model = {
                Name = "id"
                Input = Shape3(1, 1, 2)
                Layers = [
                    Dense {
                        Inputs = 2
                        Outputs = 2
                        Weight = [| 1.0f; 0.0f; 0.0f; 1.0f |]
                        Bias = [| 0.0f; 0.0f |]
                    }
                ]
                Classes = [ "a"; "b" ]
                Meta = Map.empty
            }

            let m =
                Train.evaluate model [| [| 1.0f; 0.0f |]; [| 0.0f; 1.0f |]; [| 1.0f; 0.0f |] |] [| 0; 1; 1 |]

            Expect.floatClose { absolute = 1e-12; relative = 0.0 } m.Accuracy (2.0 / 3.0) "accuracy"
            Expect.floatClose { absolute = 1e-12; relative = 0.0 } m.MacroF1 (2.0 / 3.0) "macro F1"
            Expect.equal m.Confusion [| [| 1; 0 |]; [| 1; 1 |] |] "confusion matrix"
            Expect.equal m.Classes [ "a"; "b" ] "classes"

        testCase "The weight transform is applied in the forward pass with a straight-through gradient"
        <| fun () ->
            let train = patterns 2 20
            let seen = Collections.Concurrent.ConcurrentBag<int>()
            // Zeroing the dense weights in the forward pass makes the outputs depend on the bias only,
            // yet the raw dense weights still receive (straight-through) gradients.
            let transform i (w: float32[]) =
                seen.Add i
                if i = 5 then Array.zeroCreate w.Length else w

            let cfg = {
                Train.defaultConfig with
                    Epochs = 1
                    BatchSize = 10
                    Patience = None
                    WeightTransform = Some transform
            }

            let model = small 3
            let result = Train.fit cfg model train None quiet
            Expect.equal (seen |> Seq.distinct |> Seq.sort |> Array.ofSeq) [| 0; 5 |] "layers the transform saw"

            match model.Layers[5], result.Model.Layers[5] with
            | Dense before, Dense after -> Expect.notEqual after.Weight before.Weight "the dense weights still trained"
            | _ -> failtest "dense at 5"

        // Not part of the suite: the numbers for the report (default model, batch 32, one thread each path's way).
        ptestCase "Throughput of naive and optimised training on the default model"
        <| fun () ->
            let model = Architectures.defaultModel 1
            let rng = Random(1)

            let protos =
                Array.init 5 (fun _ -> Array.init model.Input.Size (fun _ -> float32 (rng.NextDouble())))

            let labels = Array.init 320 (fun i -> i % 5)

            let xs =
                labels
                |> Array.map (fun l -> protos[l] |> Array.map (fun v -> v + 0.5f * float32 (rng.NextDouble() - 0.5)))

            let batch = Array.sub xs 0 32
            let bl = Array.sub labels 0 32

            for path, threads in [ Naive, 1; Optimised, 1; Optimised, 0 ] do
                let cfg = {
                    Train.defaultConfig with
                        Path = path
                        Threads = threads
                        Optimizer = Sgd(1e-4, 0.9, false)
                }

                let s = Train.session cfg model None
                // Long enough for tiered compilation to reach optimised code before timing.
                let warm = Stopwatch.StartNew()

                while warm.Elapsed.TotalSeconds < 1.5 do
                    Train.step s batch bl 1e-4 |> ignore

                let sw = Stopwatch.StartNew()
                let mutable reps = 0

                while sw.Elapsed.TotalSeconds < 2.0 do
                    Train.step s batch bl 1e-4 |> ignore
                    reps <- reps + 1

                printfn $"{path} (threads {threads}): {float (reps * 32) / sw.Elapsed.TotalSeconds:F0} samples/s"

            let cfg = {
                Train.defaultConfig with
                    Epochs = 3
                    Patience = None
            }

            let sw = Stopwatch.StartNew()

            let result =
                Train.fit cfg model (xs, labels) None (fun l ->
                    printfn $"epoch {l.Epoch}: loss {l.TrainLoss:F4} acc {l.TrainAccuracy:F3} {l.Seconds:F2}s")

            let m = Train.evaluate result.Model xs labels
            let acc, f1 = m.Accuracy, m.MacroF1

            printfn
                $"default model, 320 samples, 3 epochs in {sw.Elapsed.TotalSeconds:F1}s: accuracy {acc:F3} macro F1 {f1:F3}"

        testPropertyWithConfig
            (Properties.tests 300)
            "Fake quantization lands on Lower's int8 grid and marks clamped values"
        <| fun () ->
            Prop.forAll gridCase (fun (lo, hi, x) ->
                let p = ActivationGrid.ofRange lo hi
                let v, region = Train.fakeQuant p x
                let raw = Quantize.roundHalfAway (float x / p.Scale) + float p.ZeroPoint
                let code = Quantize.quantize p (float x)

                let expectedRegion =
                    if raw < float p.QMin then -1
                    elif raw > float p.QMax then 1
                    else 0

                (v = float32 (Quantize.dequantize p code) && region = expectedRegion)
                |> Prop.classify (region < 0) "clamped below"
                |> Prop.classify (region > 0) "clamped above"
                |> Prop.classify (region = 0) "inside")

        testCase "Range gradients are the clamped parts of the output gradient; STE inside, zero outside"
        <| fun () ->
            // Dense diagonal 4 -> 4: logit j = d_j * (fake-quantized input j), itself fake-quantized; the cases clamp
            // inputs below and above (inside the logits' range) and logits below and above.
            let d = [| 0.3f; 1.0f; 0.3f; 1.0f |]

            let model = {
                Name = "id"
                Input = Shape3(1, 1, 4)
                Layers = [
                    Dense {
                        Inputs = 4
                        Outputs = 4
                        Weight = Array.init 16 (fun j -> if j / 4 = j % 4 then d[j % 4] else 0.0f)
                        Bias = Array.zeroCreate 4
                    }
                ]
                Classes = [ "a"; "b"; "c"; "d" ]
                Meta = Map.empty
            }

            let inRange, outRange = (-1.0, 2.0), (-0.4, 0.9)

            let inputs = [|
                [| -1.7f; 0.3f; 2.6f; 1.5f |]
                [| 0.9f; -0.7f; 1.4f; -0.2f |]
                [| 2.2f; 0.05f; -0.45f; 0.7f |]
            |]

            let labels = [| 0; 2; 3 |]

            for path in [ Naive; Optimised ] do
                let cfg = {
                    Train.defaultConfig with
                        Path = path
                        BatchSize = 3
                        ActivationQuant =
                            Some {
                                Ranges = Map [ 0, inRange; 1, outRange ]
                                Follow = Map.empty
                                Frozen = Set.empty
                                RateScale = 1.0
                            }
                }

                let g, ranges = Train.gradientsWith cfg model inputs labels
                let pin = ActivationGrid.ofRange (fst inRange) (snd inRange)
                let pout = ActivationGrid.ofRange (fst outRange) (snd outRange)
                let mutable dlo0, dhi0, dlo1, dhi1 = 0.0, 0.0, 0.0, 0.0
                let dw = Array.zeroCreate<float> 16

                for n in 0..2 do
                    let xq = inputs[n] |> Array.map (Train.fakeQuant pin)
                    let z = Array.init 4 (fun j -> Train.fakeQuant pout (d[j] * fst xq[j]))
                    let m = z |> Array.map fst |> Array.max
                    let e = z |> Array.map (fun (v, _) -> exp (float v - float m))
                    let sum = Array.sum e
                    // d loss / d logit of the batch mean, then the output quantizer's straight-through mask.
                    let dz =
                        Array.init 4 (fun j -> (e[j] / sum - (if j = labels[n] then 1.0 else 0.0)) / 3.0)

                    let dx = Array.zeroCreate<float> 4

                    for j in 0..3 do
                        match snd z[j] with
                        | -1 -> dlo1 <- dlo1 + dz[j]
                        | 1 -> dhi1 <- dhi1 + dz[j]
                        | _ ->
                            dx[j] <- float d[j] * dz[j]

                            for i in 0..3 do
                                dw[j * 4 + i] <- dw[j * 4 + i] + dz[j] * float (fst xq[i])

                    for i in 0..3 do
                        match snd xq[i] with
                        | -1 -> dlo0 <- dlo0 + dx[i]
                        | 1 -> dhi0 <- dhi0 + dx[i]
                        | _ -> ()

                        let expected = if snd xq[i] = 0 then dx[i] else 0.0

                        Expect.floatClose
                            { absolute = 1e-6; relative = 0.0 }
                            (float (g.Inputs[n][i]))
                            expected
                            $"{path} input {n},{i}"

                let near (a: float) (b: float) (what: string) =
                    Expect.floatClose { absolute = 1e-6; relative = 0.0 } a b $"{path} {what}"

                near (fst ranges[0]) dlo0 "input range's lower bound"
                near (snd ranges[0]) dhi0 "input range's upper bound"
                near (fst ranges[1]) dlo1 "output range's lower bound"
                near (snd ranges[1]) dhi1 "output range's upper bound"
                // The case exercises both bounds of both ranges.
                Expect.isTrue ([ dlo0; dhi0; dlo1; dhi1 ] |> List.forall (fun v -> v <> 0.0)) $"{path}: %A{ranges}"
                let _, _, w = g.Params |> List.find (fun (_, name, _) -> name = "weight")

                for j in 0..15 do
                    near (float (w[j])) dw[j] $"weight {j}"

        testCase "Activation quantization trains bit-identically for any thread count and learns its ranges"
        <| fun () ->
            let train = patterns 4 24

            let run threads path =
                let cfg = {
                    Train.defaultConfig with
                        Epochs = 2
                        BatchSize = 8
                        Patience = None
                        Threads = threads
                        Path = path
                        ActivationQuant = Some(smallQuant (Set.singleton 0))
                }

                let s = Train.session cfg (small 5) None
                let xs, ys = train

                for start in 0..8..16 do
                    Train.step s xs[start .. start + 7] ys[start .. start + 7] 1e-2 |> ignore

                Train.sessionModel s, Train.activationRanges s

            let m1, r1 = run 1 Optimised
            let m2, r2 = run 2 Optimised
            Expect.isTrue (bytesOf m2 = bytesOf m1) "two threads train as one"
            Expect.isTrue (r2 = r1) "two threads learn the same ranges"
            Expect.isTrue (r1[0] = (0.0, float 1.2f)) "the frozen input range stays"
            Expect.isTrue (r1[6] <> (-1.5, 1.5)) "the logits range moves"
            Expect.isFalse (r1.ContainsKey 4) "a following tensor has no range of its own"
            // The naive path computes the same quantized forward pass (up to rounding of the float kernels).
            let mn, rn = run 1 Naive

            Expect.floatClose
                { absolute = 1e-3; relative = 0.0 }
                (fst rn[6])
                (fst r1[6])
                "naive logits range's lower bound"

            Expect.floatClose
                { absolute = 1e-3; relative = 0.0 }
                (snd rn[6])
                (snd r1[6])
                "naive logits range's upper bound"

            let outs path =
                Train.outputsWith
                    {
                        Train.defaultConfig with
                            Path = path
                            BatchSize = 8
                            ActivationQuant = Some(smallQuant Set.empty)
                    }
                    mn
                    (fst train)

            let a, b = outs Naive, outs Optimised

            for i in 0 .. a.Length - 1 do
                for j in 0 .. a[i].Length - 1 do
                    Expect.floatClose
                        { absolute = 0.05; relative = 0.0 }
                        (float (b[i][j]))
                        (float (a[i][j]))
                        $"sample {i} logit {j}"

        testCase "With the hook off or empty, training is bit-identical on both paths"
        <| fun () ->
            let train = blobs 3 60
            let shape = Shape3(8, 8, 1)

            let fit path aq =
                let cfg = {
                    Train.defaultConfig with
                        Epochs = 2
                        BatchSize = 16
                        Patience = None
                        Seed = 3
                        Threads = 2
                        Path = path
                        ActivationQuant = aq
                }

                (Train.fit cfg (Architectures.defaultFor shape [ "a"; "b"; "c" ] 3) train None quiet).Model

            let empty = {
                Ranges = Map.empty
                Follow = Map.empty
                Frozen = Set.empty
                RateScale = 1.0
            }

            for path in [ Naive; Optimised ] do
                Expect.isTrue
                    (bytesOf (fit path (Some empty)) = bytesOf (fit path None))
                    $"{path}: an empty hook is the path without it"

        testCase "Three epochs of full-batch Adam on a small conv model give the weights PyTorch gives, on both paths"
        <| fun () ->
            // The independent truth: tests/fixtures/train/adam_reference.py runs the same model, data and settings
            // in Debian's PyTorch 1.13 (cross-entropy, Adam with L2 decay on the weights only, CosineAnnealingLR,
            // BatchNorm2d with momentum 0.1) and printed these weights. BatchNorm after the ReLU: right after the conv it
            // would leave the conv bias a gradient of rounding noise, which Adam turns into full steps either way.
            let x =
                Array.init 6 (fun s -> Array.init 16 (fun p -> float32 ((s * 5 + p * 3) % 11) / 10.0f - 0.5f))

            let labels = Array.init 6 (fun s -> s % 3)

            let model = {
                Name = "torch"
                Input = Shape3(4, 4, 1)
                Classes = [ "a"; "b"; "c" ]
                Meta = Map.empty
                Layers = [
                    Conv2d {
                        Architectures.conv (Random 0) 1 2 3 1 1 with
                            Weight = Array.init 18 (fun i -> float32 ((i * 7) % 13 - 6) / 10.0f)
                            Bias = [| 0.1f; -0.1f |]
                    }
                    ReLU
                    BatchNorm {
                        Architectures.batchNorm 2 with
                            Gamma = [| 1.0f; 0.8f |]
                            Beta = [| 0.0f; 0.1f |]
                    }
                    MaxPool {
                        KernelH = 2
                        KernelW = 2
                        StrideH = 2
                        StrideW = 2
                        Pad = Padding.none
                    }
                    Flatten
                    Dense {
                        Inputs = 8
                        Outputs = 3
                        Weight = Array.init 24 (fun i -> float32 ((i * 5) % 17 - 8) / 20.0f)
                        Bias = [| 0.0f; 0.05f; -0.05f |]
                    }
                ]
            }

            let torch = [
                "conv weight",
                [|
                    -0.6750577f
                    0.1901995f
                    -0.5912572f
                    0.2871862f
                    -0.4362321f
                    0.2034887f
                    -0.3660592f
                    0.3114815f
                    -0.2989487f
                    0.4105545f
                    -0.01000114f
                    0.67437f
                    -0.09948137f
                    -0.508454f
                    0.1991062f
                    -0.4171414f
                    0.2745262f
                    -0.4820713f
                |]
                "conv bias", [| 0.1479693f; -0.1974592f |]
                "gamma", [| 0.9332859f; 0.7842569f |]
                "beta", [| -0.08590039f; 0.1489965f |]
                "running mean", [| 0.04652293f; 0.01562872f |]
                "running var", [| 0.7348173f; 0.7324598f |]
                "dense weight",
                [|
                    -0.308625f
                    -0.2405441f
                    0.1951402f
                    0.4480651f
                    -0.1635142f
                    -0.09825052f
                    0.3326265f
                    -0.2820275f
                    -0.1988627f
                    0.05025679f
                    0.4926445f
                    -0.2964436f
                    0.1495474f
                    0.399709f
                    -0.2679197f
                    -0.1418202f
                    0.1170285f
                    -0.3004803f
                    -0.2445479f
                    0.01414844f
                    0.2582795f
                    -0.3429283f
                    -0.06097123f
                    0.2031011f
                |]
                "dense bias", [| 0.09048773f; -0.04916778f; -0.1310196f |]
            ]

            for path in [ Naive; Optimised ] do
                let cfg = {
                    Train.defaultConfig with
                        Epochs = 3
                        BatchSize = 6
                        Optimizer = Adam(0.05, 0.9, 0.999, 1e-8)
                        Schedule = Cosine 0
                        WeightDecay = 1e-3
                        Patience = None
                        Threads = 1
                        Path = path
                }

                let trained = (Train.fit cfg model (x, labels) None quiet).Model

                let ours =
                    match trained.Layers with
                    | [ Conv2d c; ReLU; BatchNorm b; MaxPool _; Flatten; Dense d ] -> [
                        c.Weight
                        c.Bias
                        b.Gamma
                        b.Beta
                        b.Mean
                        b.Var
                        d.Weight
                        d.Bias
                      ]
                    | _ -> failtest "the trained model keeps its layers"

                for (name, expected), actual in List.zip torch ours do
                    for i in 0 .. expected.Length - 1 do
                        Expect.floatClose
                            { absolute = 2e-5; relative = 0.0 }
                            (float actual[i])
                            (float expected[i])
                            $"{path}: {name}[{i}]"

        testCase "Activation quantization rejects ranges outside the model and followers without a source"
        <| fun () ->
            let bad aq =
                Expect.throwsT<ArgumentException>
                    (fun () ->
                        Train.session
                            {
                                Train.defaultConfig with
                                    ActivationQuant = Some aq
                            }
                            (small 1)
                            None
                        |> ignore)
                    $"Train.session refuses %A{aq}"

            let ok = smallQuant Set.empty

            bad {
                ok with
                    Ranges = ok.Ranges.Add(7, (0.0, 1.0))
            }

            bad { ok with Follow = Map [ 4, 5 ] }

            bad {
                ok with
                    Ranges = ok.Ranges.Add(1, (2.0, 1.0))
            }
    ]
