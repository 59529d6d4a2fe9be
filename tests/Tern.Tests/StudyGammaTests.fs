module Tern.Tests.StudyGammaTests

open System
open Expecto
open Tern.Runtime
open Tern.Core
open Tern.Studies

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

/// Expects `x` in [lo, hi].
let private inRange (lo: float) (hi: float) (x: float) (what: string) =
    Expect.isTrue (x >= lo && x <= hi) $"{what}: {x} not in [{lo}, {hi}]"

[<Tests>]
let tests =
    testList "StudyGammaTests" [
        testCase "the study on a tiny set returns every method at every bit depth, raw once"
        <| fun () ->
            let r = StudyGammaGen.once.Force()
            Expect.equal r.Folds 2 "two folds"

            let keys =
                r.Rows |> List.map (fun row -> row.Bits, GammaQuant.methodName row.Method)

            Expect.equal
                keys
                [
                    0, "raw"
                    2, "linear"
                    2, "gamma-global"
                    2, "gamma-per-axis"
                    3, "linear"
                    3, "gamma-global"
                    3, "gamma-per-axis"
                ]
                "one row per method and bit depth, raw once"

            for row in r.Rows do
                let name = $"{row.Bits} bits {GammaQuant.methodName row.Method}"
                inRange 0.0 1.0 row.MacroF1 $"{name}: macro F1"
                inRange 0.0 1.0 row.Accuracy $"{name}: accuracy"
                inRange 0.0 1.0 row.PooledMacroF1 $"{name}: pooled macro F1"
                Expect.equal row.FoldMacroF1.Length 2 $"{name}: one macro F1 per fold"

                Expect.floatClose
                    { absolute = 1e-12; relative = 0.0 }
                    row.MacroF1
                    (List.average row.FoldMacroF1)
                    $"{name}: macro F1 is the folds' mean"

                inRange 1.0 2.0 row.MeanEpochs $"{name}: mean epochs"

                let expected =
                    match row.Method with
                    | GammaGlobal -> 1
                    | GammaPerAxis -> 3
                    | RawInput
                    | LinearInput -> 0

                Expect.equal row.Gamma.Length expected $"{name}: gammas"
                Expect.equal row.Mu.Length expected $"{name}: mus"

                for g in row.Gamma do
                    inRange 0.05 4.0 g $"{name}: gamma"

        testCase "the study is deterministic by seed"
        <| fun () ->
            let a = StudyGammaGen.once.Force()

            let b =
                StudyGamma.run
                    {
                        StudyGammaGen.config with
                            Threads = 1
                    }
                    (StudyGammaGen.data.Force())
                    ignore

            Expect.isTrue (b.Rows = a.Rows) "the same rows on 1 thread and on 2"

        testCase "the study rejects bits outside 1..16, an empty bit list and windows that are not 1 x W x C"
        <| fun () ->
            let d = StudyGammaGen.data.Force()
            let c = StudyGammaGen.config

            for bits in [ [ 0 ]; [ 2; 17 ]; [] ] do
                Expect.isTrue (StudyGamma.check { c with Bits = bits } d |> Result.isError) $"%A{bits}"

            let square = { d with Shape = Shape3(4, 4, 3) }
            Expect.isTrue (StudyGamma.check c square |> Result.isError) "a window of 4 x 4 is refused"

            Expect.isTrue
                (StudyGamma.check { c with Architecture = "nope" } d |> Result.isError)
                "an unknown architecture is refused"

            Expect.equal (StudyGamma.check c d) (Ok()) "the tiny set is accepted"

            Expect.throwsT<ArgumentException>
                (fun () -> StudyGamma.run { c with Bits = [ 0 ] } d ignore |> ignore)
                "run refuses 0 bits"
    ]
