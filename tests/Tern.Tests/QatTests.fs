module Tern.Tests.QatTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core
open Tern.Studies

/// Generators and helpers of this file only.
module private QatGen =
    /// A small learnable task: 8x8x1 inputs, the class is the quadrant holding a bright blob, plus noise.
    let data (seed: int) (count: int) : float32[][] * int[] =
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

    let shape = Shape3(8, 8, 1)
    let classes = [ "a"; "b"; "c" ]

    /// The default architecture on 8x8 inputs, trained a little in float so BN has statistics to fold.
    let trained (seed: int) : Model * (float32[][] * int[]) =
        let train = data seed 60

        let cfg = {
            Train.defaultConfig with
                Epochs = 2
                BatchSize = 16
                Patience = None
                Seed = seed
                Threads = 2
        }

        (Train.fit cfg (Architectures.defaultFor shape classes seed) train None ignore).Model, train

    // Activation fake quantization on (the default is off; the tests cover both).
    let qatConfig = {
        Qat.defaultConfig with
            Epochs = 4
            BatchSize = 16
            Threads = 2
            ActivationQuant = true
            // TWN's own threshold (the lowering's LowerOptions.Ternary), not the QAT default 0.5.
            Threshold = ThresholdRatio 0.7
    }

    let convWeights (model: Model) : float32[] list =
        model.Layers
        |> List.choose (function
            | Conv2d c
            | DepthwiseConv2d c
            | Pointwise c -> Some c.Weight
            | Dense d -> Some d.Weight
            | _ -> None)

    let rowsOf (model: Model) : int list =
        model.Layers
        |> List.choose (function
            | Conv2d c
            | DepthwiseConv2d c
            | Pointwise c -> Some c.OutChannels
            | Dense d -> Some d.Outputs
            | _ -> None)

    /// Rows of weights with a pruned fraction, for mask properties.
    let maskCase: Arbitrary<int * float32[] * float> =
        gen {
            let! rows = Gen.choose (1, 4)
            let! perRow = Gen.choose (1, 12)
            let! ints = Gen.arrayOfLength (rows * perRow) (Gen.choose (-50, 50))
            let! f = Gen.choose (0, 100)
            return rows, ints |> Array.map (fun v -> float32 v / 10.0f), float f / 100.0
        }
        |> Arb.fromGen

    let trainedOnce = lazy (trained 3)

    /// The integer model of latent weights, calibrated on the first 16 training inputs.
    let lowered (options: LowerOptions) (train: float32[][] * int[]) (latent: Model) : IntModel =
        let calibration =
            (fst train)[..15] |> Array.map (Tensor.ofArray shape) |> List.ofArray

        match Lower.lower options calibration latent with
        | Ok m -> m
        | Error e -> failwith e

    /// The conv-like layers of an integer model, in order.
    let intConvs (im: IntModel) : IntConvLayer[] =
        im.Layers
        |> Array.choose (function
            | :? IntConvLayer as c -> Some c
            | _ -> None)

    let qatOnce =
        lazy
            (let model, train = trainedOnce.Force()
             model, train, Qat.trainTernary qatConfig model train (Some(data 99 30)) ignore)

/// Helpers of the activation-quantization tests.
module private ActGen =
    let lowered (r: QatResult) (calibration: Tensor list) : IntModel =
        match Lower.lowerWith r.Lowering r.Ranges calibration r.Latent with
        | Ok m -> m
        | Error e -> failwith e

    let agreement (a: int[]) (b: int[]) : float =
        float (Array.map2 (fun x y -> if x = y then 1 else 0) a b |> Array.sum)
        / float a.Length

    let calibration (train: float32[][] * int[]) : Tensor list =
        Pipeline.calibrationInputs QatGen.shape 64 (fst train)

    let int8Once =
        lazy
            (let model, train = QatGen.trainedOnce.Force()

             Qat.trainInt8
                 {
                     Qat.defaultInt8Config with
                         Epochs = 3
                         BatchSize = 16
                         Threads = 2
                 }
                 model
                 train
                 (Some(QatGen.data 99 30))
                 ignore)

/// QAT with the first conv/dense layer at int8: it trains and lowers to int8, is never pruned, and the rest stays
/// ternary.
let private ``an int8 layer trains, prunes and lowers as int8; the others as ternary`` () =
    let model, train = QatGen.trainedOnce.Force()

    let cfg = {
        QatGen.qatConfig with
            ActivationQuant = false
            Int8Layers = Set.singleton 0
    }

    let r = Qat.trainTernary cfg model train (Some(QatGen.data 99 30)) ignore
    Expect.equal r.Lowering.Int8Layers (Set.singleton 0) "the lowering keeps the first layer int8"
    let latent = QatGen.convWeights r.Latent
    let used = QatGen.convWeights r.Ternary
    let rows = QatGen.rowsOf r.Latent
    let firstIndex = r.Latent.Layers |> List.findIndex (fun l -> l.IsConv2d)
    Expect.isFalse (r.Masks.ContainsKey firstIndex) "the int8 layer has no pruning mask"
    Expect.equal r.Masks.Count (latent.Length - 1) "every other weight layer has one"
    Expect.equal used[0] (Qat.int8Weights rows[0] latent[0]) "the forward pass used the int8 values"

    for k in 1 .. latent.Length - 1 do
        Expect.equal used[k] (Qat.ternaryWeights cfg.Threshold cfg.AlphaMode rows[k] latent[k]) $"layer {k} ternary"

    let kinds =
        QatGen.lowered r.Lowering train r.Latent
        |> QatGen.intConvs
        |> Array.map _.WeightKind
        |> List.ofArray

    Expect.equal kinds (WeightKind.Int8 :: List.replicate (latent.Length - 1) WeightKind.Ternary) "weight kinds"

[<Tests>]
let tests =
    testList "QatTests" [
        testCase
            "an int8 layer trains, prunes and lowers as int8; the others as ternary"
            ``an int8 layer trains, prunes and lowers as int8; the others as ternary``
        testCase "QAT result lowers to the TWN codes of its latent weights"
        <| fun () ->
            let _, train, r = QatGen.qatOnce.Force()
            let convs = QatGen.lowered LowerOptions.Ternary train r.Latent |> QatGen.intConvs

            let latent = QatGen.convWeights r.Latent
            let ternary = QatGen.convWeights r.Ternary
            let rows = QatGen.rowsOf r.Latent
            Expect.equal convs.Length latent.Length "one integer layer per latent weight layer"
            Expect.isFalse (r.Latent.Layers |> List.exists _.IsBatchNorm) "BN is folded"

            for (c, w), (rowCount, tw) in List.zip (List.zip (List.ofArray convs) latent) (List.zip rows ternary) do
                let t = Quantize.ternarize (ThresholdRatio 0.7) AlphaPerChannel rowCount w
                Expect.equal c.WeightKind WeightKind.Ternary $"{c.Name}: weight kind"
                Expect.equal (c.TernaryWeights.Unpack()) t.Codes c.Name
                // The float QAT forward used alpha * t; the lowering's per-channel weight scale is the same alpha.
                Expect.equal tw (Quantize.ternaryValues t |> Array.map float32) c.Name

                for ch in 0 .. rowCount - 1 do
                    if t.Alpha[ch] > 0.0 then
                        Expect.floatClose
                            {
                                absolute = 1e-6 * t.Alpha[ch]
                                relative = 0.0
                            }
                            (float c.WeightScale[ch])
                            t.Alpha[ch]
                            $"{c.Name}: channel {ch}'s weight scale is alpha"

        testCase "QAT respects the masks and reaches the target sparsity"
        <| fun () ->
            let _, _, r = QatGen.qatOnce.Force()
            let latent = QatGen.convWeights r.Latent
            Expect.equal r.Masks.Count latent.Length "one mask per weight layer"

            let indices =
                r.Latent.Layers
                |> List.indexed
                |> List.filter (fun (_, l) ->
                    match l with
                    | Conv2d _
                    | DepthwiseConv2d _
                    | Pointwise _
                    | Dense _ -> true
                    | _ -> false)
                |> List.map fst

            for i, w in List.zip indices latent do
                let keep = r.Masks[i]
                let pruned = keep |> Array.filter not |> Array.length
                Expect.isGreaterThanOrEqual (float pruned / float w.Length) 0.45 $"layer {i}"

                for j in 0 .. w.Length - 1 do
                    if not keep[j] then
                        Expect.equal w[j] 0.0f $"layer {i} weight {j} is pruned"

            Expect.isGreaterThanOrEqual r.Sparsity.Pruned 0.45 "the pruned fraction"
            Expect.isGreaterThanOrEqual r.Sparsity.Ternary r.Sparsity.Pruned "ternary sparsity includes the pruned"
            Expect.equal r.History.Length QatGen.qatConfig.Epochs "one history entry per epoch"
            Expect.isGreaterThanOrEqual (List.last r.History).Pruned 0.45 "the last epoch's pruned fraction"
            // The ramp only grows.
            let pruned = r.History |> List.map _.Pruned
            Expect.isTrue (pruned |> List.pairwise |> List.forall (fun (a, b) -> a <= b)) $"%A{pruned}"

        testCase "QAT is deterministic by seed and independent of the thread count"
        <| fun () ->
            let model, train = QatGen.trainedOnce.Force()

            let a =
                Qat.trainTernary { QatGen.qatConfig with Epochs = 2 } model train None ignore

            let b =
                Qat.trainTernary
                    {
                        QatGen.qatConfig with
                            Epochs = 2
                            Threads = 1
                    }
                    model
                    train
                    None
                    ignore

            Expect.isTrue
                (QatGen.convWeights a.Latent = QatGen.convWeights b.Latent)
                "the same weights on 2 threads and on 1"

            Expect.equal a.BestEpoch 2 "the best epoch"

        testCase "QAT without pruning keeps every weight"
        <| fun () ->
            let model, train = QatGen.trainedOnce.Force()

            let r =
                Qat.trainTernary
                    {
                        QatGen.qatConfig with
                            Epochs = 1
                            Sparsity = 0.0
                    }
                    model
                    train
                    None
                    ignore

            Expect.equal r.Sparsity.Pruned 0.0 "nothing pruned"
            Expect.isTrue r.Masks.IsEmpty "no mask"

        testPropertyWithConfig
            (Properties.tests 200)
            "magnitude mask prunes ceil(f n) weights of smallest row-relative magnitude"
        <| fun () ->
            Prop.forAll QatGen.maskCase (fun (rows, w, f) ->
                let keep = Qat.magnitudeMask rows f None w
                let pruned = keep |> Array.filter not |> Array.length
                let expected = int (Math.Ceiling(Math.Round(f * float w.Length, 9)))
                let perRow = w.Length / rows

                let rel i =
                    let m =
                        Array.sub w (i / perRow * perRow) perRow
                        |> Array.averageBy (fun v -> abs (float v))

                    if m > 0.0 then abs (float w[i]) / m else 0.0

                // Every pruned weight is no larger (row-relative) than every kept one.
                let maxPruned =
                    [
                        for i in 0 .. w.Length - 1 do
                            if not keep[i] then
                                rel i
                    ]
                    |> List.fold max -1.0

                let minKept =
                    [
                        for i in 0 .. w.Length - 1 do
                            if keep[i] then
                                rel i
                    ]
                    |> List.fold min infinity

                (pruned = expected && maxPruned <= minKept)
                |> Prop.classify (w |> Array.exists (fun v -> v = 0.0f)) "has zero weights"
                |> Prop.classify (pruned = 0) "nothing pruned"
                |> Prop.classify (pruned = w.Length) "all pruned")

        testPropertyWithConfig
            (Properties.tests 100)
            "pruned as QAT prunes: its ternary layers lose ceil(f n) weights each, int8 and other layers untouched"
        <| fun () ->
            let case =
                Gen.zip3 Generators.smallModel (Gen.choose (0, 90)) (Gen.elements [ Set.empty; Set.singleton 0 ])
                |> Arb.fromGen

            Prop.forAll case (fun (model, pct, int8Layers) ->
                let f = float pct / 100.0

                let lowering = {
                    LowerOptions.Ternary with
                        Int8Layers = int8Layers
                }

                let pruned = Qat.prunedAsQat lowering f model
                let ordinals = Qat.weightOrdinals model

                List.zip model.Layers pruned.Layers
                |> List.indexed
                |> List.forall (fun (i, (before, after)) ->
                    match Qat.weightsOf before, Qat.weightsOf after with
                    | Some w, Some p when not (int8Layers.Contains ordinals[i]) ->
                        let zeros = p |> Array.filter (fun v -> v = 0.0f) |> Array.length
                        let expected = int (Math.Ceiling(Math.Round(f * float w.Length, 9)))

                        zeros >= expected
                        // Kept weights keep their values: only the pruned ones became zero.
                        && Array.forall2 (fun a b -> b = 0.0f || a = b) w p
                    | _ -> before = after))

        testPropertyWithConfig (Properties.tests 200) "magnitude masks are monotone: pruned weights stay pruned"
        <| fun () ->
            Prop.forAll QatGen.maskCase (fun (rows, w, f) ->
                let first = Qat.magnitudeMask rows (f / 2.0) None w
                // The weights change between updates; a pruned one must stay pruned regardless.
                let moved = w |> Array.mapi (fun i v -> if i % 2 = 0 then -3.0f * v + 1.0f else v)
                let second = Qat.magnitudeMask rows f (Some first) moved
                let pruned = second |> Array.filter not |> Array.length

                Array.forall2 (fun a b -> a || not b) first second
                && pruned >= (first |> Array.filter not |> Array.length))

        testProperty "cubic schedule rises from 0 to the target and stays there"
        <| fun () ->
            let arb = Gen.zip (Gen.choose (1, 30)) (Gen.choose (0, 95)) |> Arb.fromGen

            Prop.forAll arb (fun (ramp, pct) ->
                let f = float pct / 100.0
                let s = [ 0 .. ramp + 3 ] |> List.map (Qat.cubicSparsity f ramp)

                s[0] = 0.0
                && abs (s[ramp] - f) < 1e-12
                && s |> List.pairwise |> List.forall (fun (a, b) -> a <= b + 1e-15)
                && s |> List.forall (fun v -> v <= f + 1e-12))

        testCase "ternary sparsity counts the zero TWN codes"
        <| fun () ->
            let model, _ = QatGen.trainedOnce.Force()
            let folded = Fold.batchNorm model
            let rows = QatGen.rowsOf folded
            let ws = QatGen.convWeights folded

            let zeros =
                List.zip rows ws
                |> List.sumBy (fun (r, w) ->
                    (Quantize.ternarize (ThresholdRatio 0.7) AlphaPerChannel r w).Codes
                    |> Array.filter ((=) 0y)
                    |> Array.length)

            let total = ws |> List.sumBy Array.length

            Expect.floatClose
                { absolute = 1e-12; relative = 0.0 }
                (Qat.ternarySparsity (ThresholdRatio 0.7) AlphaPerChannel folded)
                (float zeros / float total)
                "the fraction of zero codes"

        testCase "QAT learns a range for every tensor the lowering quantizes, enough to lower without calibration"
        <| fun () ->
            let _, train, r = QatGen.qatOnce.Force()
            Expect.isTrue (r.Ranges |> Map.keys |> Set.ofSeq = ActivationGrid.ownRanges r.Latent) $"%A{r.Ranges}"

            for KeyValue(i, (lo, hi)) in r.Ranges do
                Expect.isTrue (lo <= 0.0 && 0.0 <= hi && lo < hi) $"range {i}: [{lo}, {hi}]"

            let a = ActGen.lowered r []
            let b = ActGen.lowered r (ActGen.calibration train)

            Expect.isTrue
                (ModelFile.serializeInt a = ModelFile.serializeInt b)
                "lowered with and without calibration: the same model"

            Expect.equal r.Lowering LowerOptions.Ternary "the lowering QAT trained for"

        testCase "the QAT forward pass predicts what the lowered integer model predicts"
        <| fun () ->
            let model, train, r = QatGen.qatOnce.Force()
            let xs, _ = QatGen.data 7 300
            let integer = Pipeline.predictInteger (ActGen.lowered r []) 2 xs
            let qat = Qat.outputs r xs |> Array.map Tensor.argmax
            let agreement = ActGen.agreement integer qat

            // The same without activation quantization: float ternary forward versus min-max calibrated lowering.
            let off =
                Qat.trainTernary
                    {
                        QatGen.qatConfig with
                            ActivationQuant = false
                    }
                    model
                    train
                    (Some(QatGen.data 99 30))
                    ignore

            Expect.isTrue off.Ranges.IsEmpty "no ranges without activation quantization"

            let offInteger =
                Pipeline.predictInteger (ActGen.lowered off (ActGen.calibration train)) 2 xs

            let offFloat = Qat.outputs off xs |> Array.map Tensor.argmax
            let offAgreement = ActGen.agreement offInteger offFloat

            printfn $"argmax agreement on 300 inputs: fake quant {agreement:F4}, min-max without {offAgreement:F4}"

            Expect.isGreaterThanOrEqual agreement 0.97 "argmax agreement with fake quantization"

        testCase "without pruning or activation quantization, QAT is training of the folded model through TWN weights"
        <| fun () ->
            let model, train = QatGen.trainedOnce.Force()

            let cfg = {
                QatGen.qatConfig with
                    Sparsity = 0.0
                    ActivationQuant = false
            }

            let r = Qat.trainTernary cfg model train None ignore
            // The same fine-tuning spelt out with Train: BN folded, Adam at the QAT rate, the forward pass on
            // alpha * t of each weight row (straight-through), no masks, no activation hook.
            let folded = Fold.batchNorm model
            let rows = Qat.weightRows folded

            let plain =
                Train.fit
                    {
                        Train.defaultConfig with
                            Epochs = cfg.Epochs
                            BatchSize = cfg.BatchSize
                            Optimizer = Adam(cfg.LearningRate, 0.9, 0.999, 1e-8)
                            Schedule = cfg.Schedule
                            WeightDecay = cfg.WeightDecay
                            Patience = None
                            Seed = cfg.Seed
                            Threads = cfg.Threads
                            WeightTransform =
                                Some(fun i w ->
                                    match rows.TryFind i with
                                    | Some n -> Qat.ternaryWeights cfg.Threshold cfg.AlphaMode n w
                                    | None -> w)
                    }
                    folded
                    train
                    None
                    ignore

            Expect.isTrue (QatGen.convWeights r.Latent = QatGen.convWeights plain.Model) "the same latent weights"
            Expect.isTrue (r.Latent = plain.Model) "the same model"

            let other =
                Qat.trainTernary { cfg with Seed = cfg.Seed + 1 } model train None ignore

            Expect.isFalse (QatGen.convWeights other.Latent = QatGen.convWeights r.Latent) "another seed, other weights"

            // Fine-tuning helps the ternary model it starts from.
            let before =
                Train.loss (Qat.ternaryModel cfg.Threshold cfg.AlphaMode folded) None (fst train) (snd train)

            let after = Train.loss r.Ternary None (fst train) (snd train)
            printfn $"ternary training loss before QAT {before:F4}, after {after:F4}"
            Expect.isLessThan after before "QAT lowers the ternary model's training loss"

        testCase "QAT prunes every layer on the cubic schedule, epoch by epoch"
        <| fun () ->
            let _, _, r = QatGen.qatOnce.Force()
            let cfg = QatGen.qatConfig
            // Worked out by hand from the schedule's definition: the ramp is ceil(4 * 0.5) = 2 epochs, the target
            // after epoch e is 0.45 * (1 - (1 - e / 2)^3) then 0.45: 0.39375 after epoch 1, 0.45 from epoch 2 on.
            Expect.equal (cfg.Epochs, cfg.RampFraction, cfg.Sparsity) (4, 0.5, 0.45) "the settings worked out below"
            let targets = [ 0.39375; 0.45; 0.45; 0.45 ]
            let sizes = QatGen.convWeights r.Latent |> List.map Array.length
            let total = List.sum sizes

            // Each layer prunes ceil(target * n) of its n weights.
            let expected (target: float) =
                float (
                    sizes
                    |> List.sumBy (fun n -> int (Math.Ceiling(Math.Round(target * float n, 9))))
                )
                / float total

            for e, (entry, target) in List.indexed (List.zip r.History targets) do
                Expect.floatClose
                    { absolute = 1e-12; relative = 0.0 }
                    entry.Pruned
                    (expected target)
                    $"epoch {e + 1}: pruned fraction for target {target}"

            Expect.isGreaterThanOrEqual r.BestEpoch 2 "the kept epoch has the full target"

            for KeyValue(i, keep) in r.Masks do
                let pruned = keep |> Array.filter not |> Array.length
                let n = keep.Length

                Expect.equal
                    pruned
                    (int (Math.Ceiling(Math.Round(0.45 * float n, 9))))
                    $"layer {i}: ceil(0.45 n) pruned"

        testCase "QAT's quantized weights are alpha times codes in {-1, 0, 1}: one alpha a row, zero where pruned"
        <| fun () ->
            let _, _, r = QatGen.qatOnce.Force()

            let layers =
                List.zip3 (QatGen.rowsOf r.Latent) (QatGen.convWeights r.Latent) (QatGen.convWeights r.Ternary)

            let maskList =
                r.Masks
                |> Seq.sortBy (fun kv -> kv.Key)
                |> Seq.map (fun kv -> kv.Value)
                |> List.ofSeq

            for k, ((rows, latent, ternary), keep) in List.indexed (List.zip layers maskList) do
                let perRow = latent.Length / rows

                for row in 0 .. rows - 1 do
                    let js = [ row * perRow .. row * perRow + perRow - 1 ]

                    let magnitudes =
                        js |> List.map (fun j -> abs ternary[j]) |> List.filter (fun a -> a > 0.0f)

                    Expect.isLessThanOrEqual (List.distinct magnitudes).Length 1 $"layer {k} row {row}: one alpha"

                    for j in js do
                        if not keep[j] then
                            Expect.equal ternary[j] 0.0f $"layer {k} weight {j}: pruned, code 0"

                        if ternary[j] <> 0.0f then
                            Expect.equal (sign ternary[j]) (sign latent[j]) $"layer {k} weight {j}: the latent's sign"

                    // A zero code is never larger than a kept one (TWN zeros what lies under the threshold).
                    let zeroed =
                        js
                        |> List.filter (fun j -> ternary[j] = 0.0f)
                        |> List.map (fun j -> abs latent[j])

                    let kept =
                        js
                        |> List.filter (fun j -> ternary[j] <> 0.0f)
                        |> List.map (fun j -> abs latent[j])

                    if not zeroed.IsEmpty && not kept.IsEmpty then
                        Expect.isLessThanOrEqual (List.max zeroed) (List.min kept) $"layer {k} row {row}: threshold"

        testCase "int8 QAT stores the weights the lowering's Int8Weights stores and agrees with the integer model"
        <| fun () ->
            let _, train = QatGen.trainedOnce.Force()
            let r = ActGen.int8Once.Force()
            Expect.equal r.Lowering LowerOptions.Int8 "the lowering QAT trained for"
            Expect.isTrue r.Masks.IsEmpty "no pruning by default"
            let im = ActGen.lowered r []

            let convs =
                im.Layers
                |> Array.choose (function
                    | :? IntConvLayer as c -> Some c
                    | _ -> None)

            for c, (w, rows) in
                Array.zip
                    convs
                    (List.zip (QatGen.convWeights r.Ternary) (QatGen.rowsOf r.Ternary)
                     |> Array.ofList) do
                Expect.equal c.WeightKind WeightKind.Int8 $"{c.Name}: weight kind"
                let fanIn = w.Length / rows

                let stored =
                    c.Int8Weights
                    |> Array.mapi (fun j q -> float32 (float c.WeightScale[j / fanIn]) * float32 q)

                for j in 0 .. w.Length - 1 do
                    Expect.floatClose
                        {
                            absolute = float (1e-6f * max 1.0f (abs w[j]))
                            relative = 0.0
                        }
                        (float stored[j])
                        (float w[j])
                        $"{c.Name} weight {j}"

            let xs, _ = QatGen.data 7 300
            let integer = Pipeline.predictInteger im 2 xs
            let qat = Qat.outputs r xs |> Array.map Tensor.argmax
            Expect.isGreaterThanOrEqual (ActGen.agreement integer qat) 0.97 "argmax agreement with the integer model"
    ]
