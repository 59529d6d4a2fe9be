module Tern.Tests.StudyTests

open System
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Core

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
    }

    let once = lazy (Study.ternary config (data.Force()) ignore)

    let noTime (r: StudyResult) = {
        r with
            Seconds = 0.0
            Folds = r.Folds |> List.map (fun f -> { f with Seconds = 0.0 })
    }

[<Test>]
let ``study on a tiny radar set returns well-formed results`` () =
    let d = StudyGen.data.Force()
    let r = StudyGen.once.Force()
    Assert.That(r.Folds.Length, Is.EqualTo 2)
    Assert.That(r.Folds |> List.map _.Fold, Is.EqualTo(box [ 0; 1 ]))
    Assert.That(r.Folds |> List.sumBy _.TestSamples, Is.EqualTo d.Samples.Length)

    for f in r.Folds do
        Assert.That(f.TrainSamples + f.TestSamples, Is.EqualTo d.Samples.Length)

        for v in
            [
                f.Fp32Accuracy
                f.Fp32MacroF1
                f.TernaryAccuracy
                f.TernaryMacroF1
                f.Sparsity
            ] do
            Assert.That(v, Is.InRange(0.0, 1.0))

        Assert.That(f.Pruned, Is.GreaterThanOrEqualTo 0.45)
        Assert.That(f.Sparsity, Is.GreaterThanOrEqualTo f.Pruned)
        Assert.That(f.QatEpochs, Is.EqualTo 2)
        Assert.That(f.Seconds, Is.GreaterThan 0.0)

    let mean g = r.Folds |> List.averageBy g
    Assert.That(r.MeanFp32Accuracy, Is.EqualTo(mean _.Fp32Accuracy).Within(1e-12))
    Assert.That(r.MeanTernaryAccuracy, Is.EqualTo(mean _.TernaryAccuracy).Within(1e-12))
    Assert.That(r.MeanFp32MacroF1, Is.EqualTo(mean _.Fp32MacroF1).Within(1e-12))
    Assert.That(r.MeanTernaryMacroF1, Is.EqualTo(mean _.TernaryMacroF1).Within(1e-12))
    Assert.That(r.MeanSparsity, Is.EqualTo(mean _.Sparsity).Within(1e-12))

    // The pooled metrics are the folds' predictions together: their correct counts add up.
    let pooled = r.TernaryMetrics
    Assert.That(pooled.Samples, Is.EqualTo d.Samples.Length)

    let correct =
        r.Folds
        |> List.sumBy (fun f -> Array.fold2 (fun n t p -> if t = p then n + 1 else n) 0 f.Truth f.TernaryPredicted)

    Assert.That(pooled.Correct, Is.EqualTo correct)

    Assert.That(
        pooled.Accuracy,
        Is
            .EqualTo(
                r.Folds
                |> List.sumBy (fun f -> f.TernaryAccuracy * float f.TestSamples)
                |> fun x -> x / float d.Samples.Length
            )
            .Within(1e-12)
    )

[<Test>]
let ``study is deterministic by seed`` () =
    let again =
        Study.ternary { StudyGen.config with Threads = 1 } (StudyGen.data.Force()) ignore

    Assert.That(StudyGen.noTime again, Is.EqualTo(StudyGen.noTime (StudyGen.once.Force())))

[<Test>]
let ``integer accuracy is the C# runner's, input by input`` () =
    let d = StudyGen.data.Force()
    let cfg = StudyGen.config

    let fold =
        match Study.splits cfg d with
        | Ok(f :: _) -> f
        | other -> failwith $"%A{other}"

    let events = ResizeArray<StudyProgress>()
    let r, latent, im = Study.runFold cfg d fold events.Add
    // The fold equals the study's fold 0.
    Assert.That(
        { r with Seconds = 0.0 },
        Is.EqualTo {
            (StudyGen.once.Force()).Folds.Head with
                Seconds = 0.0
        }
    )
    // The integer model is the ternary lowering of the QAT latent weights.
    Assert.That(latent.Layers |> List.exists _.IsBatchNorm, Is.False)
    // A scalar runner, one input at a time, gives the same accuracy.
    let runner = Runner(im, KernelMode.Scalar)

    let correct =
        fold.Test
        |> Array.filter (fun i ->
            let q = Lower.quantizeInput im (Tensor.ofArray d.Shape d.Samples[i])
            Runner.Argmax(ReadOnlySpan(runner.Run q)) = d.Labels[i])
        |> Array.length

    Assert.That(r.TernaryAccuracy, Is.EqualTo(float correct / float fold.Test.Length))
    Assert.That(r.Sparsity, Is.EqualTo(Study.ternarySparsity im))
    let qatSteps = events |> Seq.filter _.IsQatStep |> Seq.length
    Assert.That(qatSteps, Is.EqualTo 2)
    Assert.That(events |> Seq.last |> _.IsFoldDone, Is.True)

[<Test>]
let ``leave one subject out gives one fold per subject`` () =
    let d = StudyGen.data.Force()

    match
        Study.splits
            {
                StudyGen.config with
                    Split = LeaveOneSubjectOut
            }
            d
    with
    | Ok folds -> Assert.That(folds.Length, Is.EqualTo 4)
    | Error e -> Assert.Fail e

[<Test>]
let ``calibration inputs are evenly spaced training samples`` () =
    let samples = Array.init 10 (fun i -> Array.create 4 (float32 i))
    let shape = Shape3(2, 2, 1)

    let picked =
        Study.calibrationInputs shape 4 samples |> List.map (fun t -> t.Data[0])

    Assert.That(picked, Is.EqualTo(box [ 0.0f; 2.0f; 5.0f; 7.0f ]))
    Assert.That(Study.calibrationInputs shape 50 samples |> List.length, Is.EqualTo 10)
