module Tern.Tests.StudyGammaTests

open System
open NUnit.Framework
open Tern.Runtime
open Tern.Core

/// Helpers of this file only.
module private StudyGammaGen =
    /// 4 subjects x 3 classes x 6 windows of 1 x 16 x 3: each class shakes one axis, gravity on z.
    let data =
        lazy
            (let rng = Random(11)

             let samples, labels, ids =
                 [|
                     for s in 0..3 do
                         for c in 0..2 do
                             for _ in 1..6 do
                                 let phase = rng.NextDouble() * 6.28

                                 let x =
                                     Array.init 48 (fun i ->
                                         let t, ch = i / 3, i % 3
                                         let shake = if ch = c then 0.3 * sin (phase + float t) else 0.0
                                         let gravity = if ch = 2 then 0.5 else 0.0
                                         float32 (shake + gravity + 0.05 * (rng.NextDouble() - 0.5)))

                                 yield x, c, s
                 |]
                 |> Array.unzip3

             {
                 Shape = Shape3(1, 16, 3)
                 Classes = [ "x"; "y"; "z" ]
                 Samples = samples
                 Labels = labels
                 Subjects = ids
                 SubjectNames = []
                 Source = "test"
                 Augment = NoAugmentation
             })

    let config = {
        StudyGamma.defaultConfig with
            Split = KFold 2
            Bits = [ 2; 3 ]
            Seed = 3
            Training = {
                StudyGamma.defaultConfig.Training with
                    Train = {
                        StudyGamma.defaultConfig.Training.Train with
                            Epochs = 2
                            BatchSize = 16
                    }
            }
            Threads = 2
    }

    let once = lazy (StudyGamma.run config (data.Force()) ignore)

[<Test>]
let ``the study on a tiny set returns every method at every bit depth, raw once`` () =
    let r = StudyGammaGen.once.Force()
    Assert.That(r.Folds, Is.EqualTo 2)

    let keys =
        r.Rows |> List.map (fun row -> row.Bits, GammaQuant.methodName row.Method)

    Assert.That(
        keys,
        Is.EqualTo(
            box [
                0, "raw"
                2, "linear"
                2, "gamma-global"
                2, "gamma-per-axis"
                3, "linear"
                3, "gamma-global"
                3, "gamma-per-axis"
            ]
        )
    )

    for row in r.Rows do
        Assert.That(row.MacroF1, Is.InRange(0.0, 1.0))
        Assert.That(row.Accuracy, Is.InRange(0.0, 1.0))
        Assert.That(row.PooledMacroF1, Is.InRange(0.0, 1.0))
        Assert.That(row.FoldMacroF1.Length, Is.EqualTo 2)
        Assert.That(row.MacroF1, Is.EqualTo(List.average row.FoldMacroF1).Within(1e-12))
        Assert.That(row.MeanEpochs, Is.InRange(1.0, 2.0))

        let expected =
            match row.Method with
            | GammaGlobal -> 1
            | GammaPerAxis -> 3
            | RawInput
            | LinearInput -> 0

        Assert.That(row.Gamma.Length, Is.EqualTo expected)
        Assert.That(row.Mu.Length, Is.EqualTo expected)

        for g in row.Gamma do
            Assert.That(g, Is.InRange(0.05, 4.0))

[<Test>]
let ``the study is deterministic by seed`` () =
    let a = StudyGammaGen.once.Force()

    let b =
        StudyGamma.run
            {
                StudyGammaGen.config with
                    Threads = 1
            }
            (StudyGammaGen.data.Force())
            ignore

    Assert.That((b.Rows = a.Rows), Is.True)

[<Test>]
let ``the study rejects bits outside 1..16, an empty bit list and windows that are not 1 x W x C`` () =
    let d = StudyGammaGen.data.Force()
    let c = StudyGammaGen.config

    for bits in [ [ 0 ]; [ 2; 17 ]; [] ] do
        Assert.That(StudyGamma.check { c with Bits = bits } d |> Result.isError, Is.True, $"%A{bits}")

    let square = { d with Shape = Shape3(4, 4, 3) }
    Assert.That(StudyGamma.check c square |> Result.isError, Is.True)
    Assert.That(StudyGamma.check { c with Architecture = "nope" } d |> Result.isError, Is.True)
    Assert.That(StudyGamma.check c d, Is.EqualTo(Ok(): Result<unit, string>))

    Assert.Throws<ArgumentException>(fun () -> StudyGamma.run { c with Bits = [ 0 ] } d ignore |> ignore)
    |> ignore
