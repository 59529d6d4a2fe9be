module Tern.Tests.StudyPruneTests

open NUnit.Framework
open Tern.Runtime
open Tern.Core

module private Tiny =
    /// 4 subjects x 3 recordings per class of the radar simulator: 60 spectrograms of 64x64.
    let data = lazy (RadarSim.synth RadarSim.defaultConfig 4 3 11)

    let config = {
        StudyPrune.defaultConfig with
            Split = KFold 2
            Seed = 3
            Criteria = [ PruneCriteria.L1; PruneCriteria.LowFrequency ]
            Ratios = [ 0.5; 0.7 ]
            Train = {
                StudyPrune.defaultConfig.Train with
                    Epochs = 2
                    BatchSize = 16
            }
            FineTune = {
                StudyPrune.defaultConfig.FineTune with
                    Epochs = 1
                    BatchSize = 16
            }
            Calibration = 8
            Threads = 2
    }

    let once = lazy (StudyPrune.run config (data.Force()) ignore)

[<Test>]
let ``the prune study gives one row per criterion and ratio with the pruned model's reductions`` () =
    let r = Tiny.once.Force()

    Assert.That(
        r.Rows |> List.map (fun x -> x.Criterion, x.Ratio),
        Is.EqualTo(box [ "l1", 0.5; "l1", 0.7; "low", 0.5; "low", 0.7 ])
    )

    Assert.That(r.Folds.Length, Is.EqualTo 8)

    for row in r.Rows do
        Assert.That(row.AccuracyDrop, Is.EqualTo(row.BaselineAccuracy - row.PrunedAccuracy).Within(1e-12))
        // The plain stack keeps round((1 - ratio) n) of 8/16/32/48/64 filters per layer.
        let expected =
            [ 8; 16; 32; 48; 64 ]
            |> List.map (fun n ->
                n
                - int (System.Math.Round(row.Ratio * float n, System.MidpointRounding.AwayFromZero)))

        Assert.That(row.KeptChannels, Is.EqualTo(box expected))
        Assert.That(row.ParamsReduction, Is.GreaterThan(if row.Ratio = 0.7 then 0.85 else 0.65))
        Assert.That(row.FlopsReduction, Is.GreaterThan(if row.Ratio = 0.7 then 0.85 else 0.65))

[<Test>]
let ``the pruning plan removes each prunable layer's lowest-scoring filters`` () =
    let m = Architectures.plainFor (Shape3(16, 16, 1)) [ "a"; "b" ] 4
    let calibration = Lower.randomCalibration 4 6 m.Input

    for criterion in
        [
            PruneCriteria.L1
            PruneCriteria.LowFrequency
            PruneCriteria.HighFrequency
            PruneCriteria.Overall
        ] do
        let plan = StudyPrune.plan criterion 0.6 calibration m
        Assert.That(plan |> Map.keys |> List.ofSeq, Is.EqualTo(box (Surgery.prunable m)))

        for KeyValue(i, drop) in plan do
            let scores = PruneCriteria.scores criterion m i calibration

            let kept =
                [ 0 .. scores.Length - 1 ] |> List.filter (fun c -> not (drop.Contains c))

            for d in drop do
                for k in kept do
                    Assert.That(scores[d], Is.LessThanOrEqualTo scores[k])

[<Test>]
let ``a bad ratio is refused naming it`` () =
    let ex =
        Assert.Throws<System.ArgumentException>(fun () ->
            StudyPrune.run { Tiny.config with Ratios = [ 1.2 ] } (Tiny.data.Force()) ignore
            |> ignore)

    Assert.That(ex.Message, Does.Contain "1.2")
