module Tern.Tests.PipelineTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Core

/// Generators and helpers of this file only.
module private PipeGen =
    let shape = Shape3(16, 16, 1)
    let classes = [ "a"; "b"; "c" ]

    /// A small learnable set: 16x16x1 inputs whose class is the quadrant holding a bright blob, plus noise; 4
    /// subjects x 5 samples per class.
    let data (seed: int) : Dataset =
        let rng = Random(seed)
        let subjects, perClass = 4, 5

        let sample (cls: int) =
            let x = Array.init shape.Size (fun _ -> 0.2f * float32 (rng.NextDouble()))
            let r0, c0 = (if cls = 1 then 8 else 0), (if cls = 2 then 8 else 0)

            for r in r0 .. r0 + 7 do
                for c in c0 .. c0 + 7 do
                    x[r * 16 + c] <- x[r * 16 + c] + 0.8f

            x

        let labels =
            Array.init (subjects * perClass * classes.Length) (fun i -> i % classes.Length)

        {
            Shape = shape
            Classes = classes
            Samples = labels |> Array.map sample
            Labels = labels
            Subjects = Array.init labels.Length (fun i -> i / (perClass * classes.Length))
            SubjectNames = []
            Source = ""
            Augment = NoAugmentation
        }

    /// The defaults cut down to a few epochs of small batches.
    let settings (seed: int) : PipelineSettings =
        let d = PipelineSettings.defaults

        {
            d with
                Seed = seed
                Train = {
                    d.Train with
                        Epochs = 2
                        BatchSize = 16
                }
                FineTune = {
                    d.FineTune with
                        Epochs = 1
                        BatchSize = 16
                }
                Qat =
                    Some {
                        Target = TernaryTarget
                        Config = {
                            PipelineSettings.qatConfig TernaryTarget with
                                Epochs = 2
                                BatchSize = 16
                        }
                    }
                PruneCalibration = 8
                Calibration = 16
                Threads = 2
        }

    let run (s: PipelineSettings) (start: PipelineStart) (d: Dataset) : PipelineResult =
        match Pipeline.run s start d Pipeline.quiet with
        | Ok r -> r
        | Error e -> failwith $"%A{e}"

    let intModel (r: PipelineResult) : IntModel =
        match r.Model with
        | IntegerModel m -> m
        | FloatModel _ -> failwith "expected an integer model"

    /// A seed, a QAT target (or none) and whether to prune.
    type Case = {
        Seed: int
        Qat: QatTarget option
        Prune: bool
    }

    /// Seeds of the data, the split, the initial weights and the trainings.
    let seed: Arbitrary<int> = Arb.fromGen (Gen.choose (1, 10_000))

    let settingsOf (c: Case) : PipelineSettings =
        let s = settings c.Seed

        {
            s with
                Qat =
                    c.Qat
                    |> Option.map (fun t -> {
                        Target = t
                        Config = {
                            PipelineSettings.qatConfig t with
                                Epochs = 2
                                BatchSize = 16
                        }
                    })
                Prune =
                    if c.Prune then
                        Some {
                            Criterion = PruneCriteria.L1
                            Ratio = 0.5
                        }
                    else
                        None
        }

    /// The chain spelled out with Core's own functions (split, Train.fit, surgery, QAT, Lower.lowerWith), as the
    /// train verb chained them before the pipeline: the bytes of the model it makes.
    let byHand (s: PipelineSettings) (arch: string) (d: Dataset) : byte[] =
        let all = Array.init d.Samples.Length id
        let trainIdx, validIdx = Splits.groupHoldout s.Valid s.Seed all d.Subjects
        let train, valid = Dataset.pick trainIdx d, Dataset.pick validIdx d
        let holdout = Some(Holdout.ofSamples d validIdx)

        let stamp (m: Model) = {
            m with
                Meta = Holdout.toMeta holdout m.Meta
        }

        let initial =
            match Architectures.forData arch d.Shape d.Classes s.Seed with
            | Ok m -> m
            | Error e -> failwith e

        let run (c: TrainConfig) = {
            c with
                Seed = s.Seed
                Threads = s.Threads
                Augment = d.Augment
        }

        // count training inputs evenly spaced, as calibration tensors.
        let evenly (count: int) =
            let xs = fst train
            let m = max 1 (min count xs.Length)
            List.init m (fun k -> Tensor.ofArray d.Shape xs[int (int64 k * int64 xs.Length / int64 m)])

        let fitted = (Train.fit (run s.Train) initial train (Some valid) ignore).Model

        let floatModel =
            match s.Prune with
            | None -> fitted
            | Some step ->
                let calibration = evenly s.PruneCalibration

                let plan =
                    PruneCriteria.scoresOf step.Criterion fitted (Surgery.prunable fitted) calibration
                    |> Map.map (fun _ scores -> PruneCriteria.toPrune step.Ratio scores)

                match Surgery.removeMany plan fitted with
                | Error e -> failwith e
                | Ok pruned ->
                    let pruned = Surgery.reestimateBatchNorm calibration pruned
                    (Train.fit (run s.FineTune) pruned train None ignore).Model

        match s.Qat with
        | None -> ModelFile.serializeFloat (stamp floatModel)
        | Some step ->
            let cfg = {
                step.Config with
                    Seed = s.Seed
                    Threads = s.Threads
                    Augment = d.Augment
            }

            let trainer =
                match step.Target with
                | TernaryTarget -> Qat.trainTernary
                | Int8Target -> Qat.trainInt8

            let q = trainer cfg floatModel train (Some valid) ignore

            let calibration = evenly s.Calibration

            match Lower.lowerWith q.Lowering q.Ranges calibration (stamp q.Latent) with
            | Ok im -> ModelFile.serializeInt im
            | Error e -> failwith e

let private ``the pipeline makes the model the chain of its stages makes`` (seed: int) =
    let d = PipeGen.data seed

    // Pruning then ternary QAT, int8 QAT, and the float model: every stage and both targets for each seed.
    for qat, prune in [ Some TernaryTarget, true; Some Int8Target, false; None, false ] do
        let c: PipeGen.Case = {
            Seed = seed
            Qat = qat
            Prune = prune
        }

        let s = PipeGen.settingsOf c
        let arch = if c.Prune then "plain" else "default"
        let r = PipeGen.run s (Architecture arch) d
        Expect.equal (Pipeline.serialize r) (PipeGen.byHand s arch d) $"%A{c}: the model's bytes"

let private ``the integer model is the lowering of the QAT result, scored on the validation subjects``
    (seed: int)
    (target: QatTarget)
    =
    let s =
        PipeGen.settingsOf {
            Seed = seed
            Qat = Some target
            Prune = false
        }

    let d = PipeGen.data seed
    let r = PipeGen.run s (Architecture "default") d
    let im = PipeGen.intModel r
    let q = r.Qat.Value
    let trainX = fst (Dataset.pick r.TrainSamples d)
    let validX, validY = Dataset.pick r.ValidSamples d

    let lowered =
        match
            Lower.lowerWith q.Lowering q.Ranges (Pipeline.calibrationInputs d.Shape s.Calibration trainX) {
                q.Latent with
                    Meta = Holdout.toMeta r.Holdout q.Latent.Meta
            }
        with
        | Ok m -> m
        | Error e -> failwith e

    Expect.equal (ModelFile.serializeInt im) (ModelFile.serializeInt lowered) "the model is Lower of the QAT result"

    // The integer outputs on the validation inputs: the pipeline's model against the independent integer reference
    // of the lowering.
    for x in validX do
        let input = Lower.quantizeInput lowered (Tensor.ofArray d.Shape x)
        let runner = Runner(im, KernelMode.Scalar)
        Expect.equal (runner.Run input) (IntReference.run lowered input) "integer outputs"

    Expect.equal
        r.ValidMetrics
        (Metrics.compute d.Classes validY (Pipeline.predictInteger lowered 1 validX))
        "validation metrics of the integer model"

    Expect.equal r.Sparsity (Some(Lower.weightSparsity im)) "sparsity"

let private ``the split is by whole subjects and the holdout records the validation subjects`` (seed: int) =
    let s =
        PipeGen.settingsOf {
            Seed = seed
            Qat = None
            Prune = false
        }

    let d = PipeGen.data seed

    let r =
        PipeGen.run
            {
                s with
                    Train = { s.Train with Epochs = 1 }
            }
            (Architecture "default")
            d

    let subjectsOf (idx: int[]) =
        idx |> Array.map (fun i -> d.Subjects[i]) |> Set.ofArray

    Expect.equal
        (Array.append r.TrainSamples r.ValidSamples |> Array.sort)
        (Array.init d.Samples.Length id)
        "every sample once"

    Expect.isEmpty (Set.intersect (subjectsOf r.TrainSamples) (subjectsOf r.ValidSamples)) "no subject in both"
    Expect.equal r.Holdout (Some(Holdout.ofSamples d r.ValidSamples)) "the holdout"

    let recorded =
        match r.Model with
        | FloatModel m -> Holdout.ofMeta (m.Meta :> Collections.Generic.IReadOnlyDictionary<_, _>)
        | IntegerModel m -> Holdout.ofMeta m.Metadata

    Expect.equal recorded (Ok r.Holdout) "recorded in the model"

let private ``the same seed gives the same bytes, whatever the thread count`` (seed: int) =
    let d = PipeGen.data seed
    let s = PipeGen.settings seed
    let a = PipeGen.run { s with Threads = 1 } (Architecture "default") d
    let b = PipeGen.run { s with Threads = 2 } (Architecture "default") d
    Expect.equal (Pipeline.serialize a) (Pipeline.serialize b) "same seed, same bytes"

let private ``a pretrained model keeps its weights at 0 epochs and narrows its holdout`` () =
    let d = PipeGen.data 5
    let s = { PipeGen.settings 5 with Qat = None }
    let first = PipeGen.run s (Architecture "default") d

    let trained =
        match first.Model with
        | FloatModel m -> m
        | IntegerModel _ -> failwith "expected a float model"

    let again =
        PipeGen.run
            {
                s with
                    Train = { s.Train with Epochs = 0 }
            }
            (Pretrained trained)
            d

    Expect.equal again.Fit.Model trained "0 epochs keep the weights"
    Expect.isEmpty again.Fit.History "no epoch"
    Expect.equal again.Holdout first.Holdout "the same split keeps the same holdout"

    let blank = {
        trained with
            Meta = Holdout.toMeta None trained.Meta
    }

    let unknown =
        PipeGen.run
            {
                s with
                    Train = { s.Train with Epochs = 0 }
            }
            (Pretrained blank)
            d

    Expect.isNone unknown.Holdout "a model without a holdout record vouches for no subject"

let private ``the pipeline refuses what it cannot run, naming why`` () =
    let d = PipeGen.data 2
    let s = PipeGen.settings 2

    let one = {
        d with
            Subjects = Array.zeroCreate d.Samples.Length
    }

    Expect.equal
        (Pipeline.run s (Architecture "default") one Pipeline.quiet |> Result.map ignore)
        (Error NoValidationSubjects)
        "one subject"

    match Pipeline.run s (Architecture "raw1d") d Pipeline.quiet with
    | Error(UnknownArchitecture e) -> Expect.stringContains e "raw1d" "the message names it"
    | other -> failtest $"expected UnknownArchitecture, got %A{other |> Result.map ignore}"

    let broken = {
        (Architectures.defaultFor d.Shape d.Classes 1) with
            Meta = Map [ Holdout.dataKey, "x" ]
    }

    match Pipeline.run s (Pretrained broken) d Pipeline.quiet with
    | Error(BadHoldoutRecord _) -> ()
    | other -> failtest $"expected BadHoldoutRecord, got %A{other |> Result.map ignore}"

let private ``the watch sees every stage and the pruning`` () =
    let d = PipeGen.data 3

    let s = {
        PipeGen.settings 3 with
            Prune =
                Some {
                    Criterion = PruneCriteria.L1
                    Ratio = 0.5
                }
    }

    let seen = Collections.Generic.List<string>()

    let watch = {
        new PipelineWatch with
            member _.Stage(stage, epochs, work) =
                seen.Add $"%A{stage} {epochs}"
                work (fun log -> seen.Add $"epoch {log.Epoch}")

            member _.Pruned r =
                seen.Add $"pruned %b{r.ParamsAfter < r.ParamsBefore}"
    }

    match Pipeline.run s (Architecture "plain") d watch with
    | Error e -> failtest $"%A{e}"
    | Ok r ->
        let qatEpochs = r.Qat.Value.History.Length

        Expect.equal
            (List.ofSeq seen)
            ([
                "FitStage 2"
                "epoch 1"
                "epoch 2"
                "FineTuneStage 1"
                "epoch 1"
                "pruned true"
             ]
             @ [ "QatStage TernaryTarget 2" ]
             @ List.init qatEpochs (fun i -> $"epoch {i + 1}"))
            "stages in order"

/// The train verb's options for PipeGen.settings with the given seed (QAT ternary), its --out and --data.
let private verbArgs (dir: string) (out: string) (seed: int) (extra: string list) : string list =
    [
        "train"
        "--data"
        dir
        "--arch"
        "default"
        "--out"
        out
        "--epochs"
        "2"
        "--batch"
        "16"
        "--seed"
        string seed
    ]
    @ extra

let private ``the train verb writes the pipeline's model byte for byte`` () =
    let d = PipeGen.data 7
    let folder = Scratch.folder "pipeline"
    let dir = Path.Combine(folder, "data")
    Dataset.save dir d
    let s = PipeGen.settings 7

    for extra, settings, arch in
        [
            [ "--qat"; "ternary"; "--qat-epochs"; "2" ],
            {
                s with
                    Qat =
                        Some {
                            Target = TernaryTarget
                            Config = {
                                PipelineSettings.qatConfig TernaryTarget with
                                    Epochs = 2
                            }
                        }
                    Calibration = PipelineSettings.defaults.Calibration
                    PruneCalibration = PipelineSettings.defaults.PruneCalibration
                    Threads = 0
            },
            "default"
            [ "--arch"; "plain"; "--prune"; "l1:0.5" ],
            {
                s with
                    Qat = None
                    Prune =
                        Some {
                            Criterion = PruneCriteria.L1
                            Ratio = 0.5
                        }
                    FineTune = PipelineSettings.defaults.FineTune
                    PruneCalibration = PipelineSettings.defaults.PruneCalibration
                    Threads = 0
            },
            "plain"
        ] do
        let out = Path.Combine(folder, "m.tern")
        let code, _, err = CliTests.tern (verbArgs dir out 7 extra)
        Expect.equal code 0 err
        let loaded = Dataset.load dir |> Result.defaultWith failwith
        let r = PipeGen.run settings (Architecture arch) loaded
        Expect.equal (File.ReadAllBytes out) (Pipeline.serialize r) $"train %A{extra}: the same bytes"

let private ``calibration inputs are evenly spaced training samples`` () =
    let samples = Array.init 10 (fun i -> Array.create 4 (float32 i))
    let shape = Shape3(2, 2, 1)

    let picked =
        Pipeline.calibrationInputs shape 4 samples |> List.map (fun t -> t.Data[0])

    Expect.equal picked [ 0.0f; 2.0f; 5.0f; 7.0f ] "4 of 10 samples, evenly spaced"
    Expect.equal (Pipeline.calibrationInputs shape 50 samples |> List.length) 10 "no more than the samples"

let private ``the pruning plan removes each prunable layer's lowest-scoring filters`` () =
    let m = Architectures.plainFor (Shape3(16, 16, 1)) [ "a"; "b" ] 4
    let calibration = Lower.randomCalibration 4 6 m.Input

    for criterion in
        [
            PruneCriteria.L1
            PruneCriteria.LowFrequency
            PruneCriteria.HighFrequency
            PruneCriteria.Overall
        ] do
        let plan = Pipeline.prunePlan { Criterion = criterion; Ratio = 0.6 } calibration m

        Expect.equal
            (plan |> Map.keys |> List.ofSeq)
            (Surgery.prunable m)
            $"{criterion}: every prunable layer has a plan"

        for KeyValue(i, drop) in plan do
            let scores = PruneCriteria.scores criterion m i calibration

            let kept =
                [ 0 .. scores.Length - 1 ] |> List.filter (fun c -> not (drop.Contains c))

            for d in drop do
                for k in kept do
                    Expect.isLessThanOrEqual
                        (scores[d])
                        (scores[k])
                        $"{criterion} layer {i}: dropped filter {d} scores no higher than kept {k}"

[<Tests>]
let tests =
    testList "PipelineTests" [
        testPropertyWithConfig
            (Properties.tests 3)
            "the pipeline makes the model the chain of its stages makes"
            (Prop.forAll PipeGen.seed ``the pipeline makes the model the chain of its stages makes``)
        testPropertyWithConfig
            (Properties.tests 2)
            "the integer model is the lowering of the QAT result, scored on the validation subjects"
            (Prop.forAll PipeGen.seed (fun seed ->
                for target in [ TernaryTarget; Int8Target ] do
                    ``the integer model is the lowering of the QAT result, scored on the validation subjects``
                        seed
                        target))
        testPropertyWithConfig
            (Properties.tests 4)
            "the split is by whole subjects and the holdout records the validation subjects"
            (Prop.forAll PipeGen.seed ``the split is by whole subjects and the holdout records the validation subjects``)
        testPropertyWithConfig
            (Properties.tests 2)
            "the same seed gives the same bytes, whatever the thread count"
            (Prop.forAll PipeGen.seed ``the same seed gives the same bytes, whatever the thread count``)
        testCase
            "a pretrained model keeps its weights at 0 epochs and narrows its holdout"
            ``a pretrained model keeps its weights at 0 epochs and narrows its holdout``
        testCase
            "the pipeline refuses what it cannot run, naming why"
            ``the pipeline refuses what it cannot run, naming why``
        testCase "the watch sees every stage and the pruning" ``the watch sees every stage and the pruning``
        testCase
            "the train verb writes the pipeline's model byte for byte"
            ``the train verb writes the pipeline's model byte for byte``
        testCase
            "calibration inputs are evenly spaced training samples"
            ``calibration inputs are evenly spaced training samples``
        testCase
            "the pruning plan removes each prunable layer's lowest-scoring filters"
            ``the pruning plan removes each prunable layer's lowest-scoring filters``
    ]
