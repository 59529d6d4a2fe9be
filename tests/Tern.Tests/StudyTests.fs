module Tern.Tests.StudyTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Core
open Tern.Studies

/// Generators and helpers of this file only.
module private StudyGen =
    /// 4 subjects x 3 recordings per class of the radar simulator: 60 spectrograms of 64x64.
    let data = lazy (RadarSim.synth RadarSim.defaultConfig 4 3 7)

    let config = {
        Study.defaultConfig with
            Split = KFold 2
            Seed = 5
            Train = {
                Train.defaultConfig with
                    Epochs = 2
                    BatchSize = 16
            }
            Qat = {
                Qat.defaultConfig with
                    Epochs = 2
                    BatchSize = 16
            }
            Calibration = 16
            Threads = 2
            Architecture = "default"
    }

    let once = lazy (Study.ternary config (data.Force()) ignore)

    /// The study's first fold of a data set.
    let firstFold (cfg: StudyConfig) (d: Dataset) : SplitFold =
        match Study.splits cfg d with
        | Ok(f :: _) -> f
        | other -> failwith $"%A{other}"

    /// A data set as the one form of a study.
    let form (d: Dataset) : FormData = {
        Form = ImportFolder.formOf d
        Dir = ""
        Data = d
    }

    let noTime (r: StudyResult) = {
        r with
            Seconds = 0.0
            Folds = r.Folds |> List.map (fun f -> { f with Seconds = 0.0 })
    }

/// Within 1e-12.
let private close = { absolute = 1e-12; relative = 0.0 }

[<Tests>]
let tests =
    testList "StudyTests" [
        testCase "study on a tiny radar set returns well-formed results"
        <| fun () ->
            let d = StudyGen.data.Force()
            let r = StudyGen.once.Force()
            Expect.equal r.Folds.Length 2 "two folds"
            Expect.equal (r.Folds |> List.map _.Fold) [ 0; 1 ] "the folds' numbers"
            Expect.equal (r.Folds |> List.sumBy _.TestSamples) d.Samples.Length "every sample tested once"

            for f in r.Folds do
                Expect.equal (f.TrainSamples + f.TestSamples) d.Samples.Length $"fold {f.Fold}: train and test samples"

                for v in
                    [
                        f.Fp32Accuracy
                        f.Fp32MacroF1
                        f.TernaryAccuracy
                        f.TernaryMacroF1
                        f.Sparsity
                    ] do
                    Expect.isTrue (v >= 0.0 && v <= 1.0) $"fold {f.Fold}: {v} not in [0, 1]"

                Expect.isGreaterThanOrEqual f.Pruned 0.45 $"fold {f.Fold}: pruned"
                Expect.isGreaterThanOrEqual f.Sparsity f.Pruned $"fold {f.Fold}: sparsity includes the pruned"
                Expect.equal f.QatEpochs 2 $"fold {f.Fold}: QAT epochs"
                Expect.isGreaterThan f.Seconds 0.0 $"fold {f.Fold}: seconds"

            let mean g = r.Folds |> List.averageBy g
            Expect.floatClose close r.MeanFp32Accuracy (mean _.Fp32Accuracy) "mean fp32 accuracy"
            Expect.floatClose close r.MeanTernaryAccuracy (mean _.TernaryAccuracy) "mean ternary accuracy"
            Expect.floatClose close r.MeanFp32MacroF1 (mean _.Fp32MacroF1) "mean fp32 macro F1"
            Expect.floatClose close r.MeanTernaryMacroF1 (mean _.TernaryMacroF1) "mean ternary macro F1"
            Expect.floatClose close r.MeanSparsity (mean _.Sparsity) "mean sparsity"

            // The pooled metrics are the folds' predictions together: their correct counts add up.
            let pooled = r.TernaryMetrics
            Expect.equal pooled.Samples d.Samples.Length "pooled samples"

            let correct =
                r.Folds
                |> List.sumBy (fun f ->
                    Array.fold2 (fun n t p -> if t = p then n + 1 else n) 0 f.Truth f.TernaryPredicted)

            Expect.equal pooled.Correct correct "pooled correct predictions"

            Expect.floatClose
                close
                pooled.Accuracy
                (r.Folds
                 |> List.sumBy (fun f -> f.TernaryAccuracy * float f.TestSamples)
                 |> fun x -> x / float d.Samples.Length)
                "pooled accuracy"

        testCase "study is deterministic by seed"
        <| fun () ->
            let again =
                Study.ternary { StudyGen.config with Threads = 1 } (StudyGen.data.Force()) ignore

            Expect.equal
                (StudyGen.noTime again)
                (StudyGen.noTime (StudyGen.once.Force()))
                "the same study on 1 thread and on 2"

        testCase "integer accuracy is the C# runner's, input by input"
        <| fun () ->
            let d = StudyGen.data.Force()
            let cfg = StudyGen.config

            let fold = StudyGen.firstFold cfg d

            let events = ResizeArray<StudyProgress>()
            let r, latent, im = Study.runFold cfg [ StudyGen.form d ] fold events.Add
            // The fold equals the study's fold 0.
            Expect.equal
                { r with Seconds = 0.0 }
                {
                    (StudyGen.once.Force()).Folds.Head with
                        Seconds = 0.0
                }
                "the fold is the study's fold 0"
            // The integer model is the ternary lowering of the QAT latent weights.
            Expect.isFalse (latent.Layers |> List.exists _.IsBatchNorm) "BN is folded"
            // A scalar runner, one input at a time, gives the same accuracy.
            let runner = Runner(im, KernelMode.Scalar)

            let correct =
                fold.Test
                |> Array.filter (fun i ->
                    let q = Lower.quantizeInput im (Tensor.ofArray d.Shape d.Samples[i])
                    Runner.Argmax(ReadOnlySpan(runner.Run q)) = d.Labels[i])
                |> Array.length

            Expect.equal r.TernaryAccuracy (float correct / float fold.Test.Length) "the scalar runner's accuracy"
            Expect.equal r.Sparsity (Study.ternarySparsity im) "the integer model's sparsity"
            let qatSteps = events |> Seq.filter _.IsQatStep |> Seq.length
            Expect.equal qatSteps 2 "one QAT step event per epoch"
            Expect.isTrue (events |> Seq.last |> _.IsFoldDone) "the last event is the fold's end"

        testCase "QAT trains on every training subject of the fold, the FP32 holdout's too"
        <| fun () ->
            let d = StudyGen.data.Force()
            let cfg = StudyGen.config

            let fold = StudyGen.firstFold cfg d

            let _, latent, _ = Study.runFold cfg [ StudyGen.form d ] fold ignore
            // The fold's own steps, from its pipeline settings: FP32 on the fit subjects, early-stopped on the rest.
            let settings = Study.pipeline cfg (cfg.Seed * 1000 + fold.Index)
            let fitIdx, validIdx = Pipeline.split settings fold.Train d
            Expect.isNonEmpty validIdx "the FP32 holdout holds a subject"

            let initial =
                Architectures.forData cfg.Architecture d.Shape d.Classes settings.Seed
                |> Result.defaultWith failwith

            let fp32 =
                Pipeline.fit settings d initial (Dataset.pick fitIdx d) (Some(Dataset.pick validIdx d)) ignore

            let qatOn (indices: int[]) =
                (Pipeline.qat
                    settings
                    d
                    {
                        Target = TernaryTarget
                        Config = cfg.Qat
                    }
                    fp32.Model
                    (Dataset.pick indices d)
                    None
                    ignore)
                    .Latent

            Expect.equal latent (qatOn fold.Train) "QAT on every training subject"
            Expect.notEqual latent (qatOn fitIdx) "not on FP32's fit subjects alone"

        testCase "leave one subject out gives one fold per subject"
        <| fun () ->
            let d = StudyGen.data.Force()

            match
                Study.splits
                    {
                        StudyGen.config with
                            Split = LeaveOneSubjectOut
                    }
                    d
            with
            | Ok folds -> Expect.equal folds.Length 4 "one fold per subject"
            | Error e -> failtest e


        testCase "--arch auto chooses per fold on the training subjects and records the choice"
        <| fun () ->
            let forms = ArchSearchTests.forms 6 []

            let cfg = {
                StudyGen.config with
                    Architecture = Study.Auto
                    Search = {
                        ArchSearch.defaults with
                            Candidates = [
                                DataForm.Spectrogram, "sep-4-8-k3-gap"
                                DataForm.Raw, "plain-4-8-k3-flat"
                                DataForm.Raw, "sep-64-64-k5-flat"
                            ]
                            InnerFolds = 2
                            Keep = 1
                    }
                    Budget = DeviceBudget.defaults
            }

            let data = forms.Head.Data
            let folds = Study.folds (KFold 2) 3 data |> Result.defaultWith failwith
            let r = Study.ternaryOn cfg forms folds ignore

            for f in r.Folds do
                match f.Choice with
                | None -> failtest $"fold {f.Fold}: no choice recorded"
                | Some c ->
                    Expect.equal (f.Form, f.Architecture) (c.Form, c.Architecture) "the fold trained what was chosen"
                    Expect.equal c.Rows.Length 3 "every candidate reported"
                    let big = c.Rows |> List.find (fun row -> row.Architecture = "sep-64-64-k5-flat")
                    Expect.equal big.Status OverBudget "64-wide stages break the default flash budget"
                    Expect.isEmpty big.Scores "and are never trained"

            let tooSmall = {
                cfg with
                    Budget = {
                        DeviceBudget.defaults with
                            Flash = Some 1024L
                    }
            }

            match Study.check tooSmall forms with
            | Ok() -> failtest "a 1 KB flash budget fits nothing"
            | Error e -> Expect.stringContains e "budget" "says which limit"
    ]
