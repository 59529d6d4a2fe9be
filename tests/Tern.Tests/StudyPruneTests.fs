module Tern.Tests.StudyPruneTests

open Expecto
open Tern.Runtime
open Tern.Core
open Tern.Studies

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

let private ``the prune study gives one row per criterion and ratio with the pruned model's reductions`` () =
    let r = Tiny.once.Force()

    Expect.equal
        (r.Rows |> List.map (fun x -> x.Criterion, x.Ratio))
        [ "l1", 0.5; "l1", 0.7; "low", 0.5; "low", 0.7 ]
        "one row per criterion and ratio, in order"

    Expect.equal r.Folds.Length 8 "2 folds x 2 criteria x 2 ratios"

    for row in r.Rows do
        Expect.floatClose
            { absolute = 1e-12; relative = 0.0 }
            row.AccuracyDrop
            (row.BaselineAccuracy - row.PrunedAccuracy)
            $"{row.Criterion} {row.Ratio}: drop is baseline minus pruned"
        // The plain stack keeps round((1 - ratio) n) of 8/16/32/48/64 filters per layer.
        let expected =
            [ 8; 16; 32; 48; 64 ]
            |> List.map (fun n ->
                n
                - int (System.Math.Round(row.Ratio * float n, System.MidpointRounding.AwayFromZero)))

        Expect.equal row.KeptChannels expected $"{row.Criterion} {row.Ratio}: kept filters per layer"

        Expect.isGreaterThan
            row.ParamsReduction
            (if row.Ratio = 0.7 then 0.85 else 0.65)
            $"{row.Criterion} {row.Ratio}: parameter reduction"

        Expect.isGreaterThan
            row.FlopsReduction
            (if row.Ratio = 0.7 then 0.85 else 0.65)
            $"{row.Criterion} {row.Ratio}: FLOPs reduction"

let private ``a bad ratio is refused naming it`` () =
    let ex =
        Expect.throwsC
            (fun () ->
                StudyPrune.run { Tiny.config with Ratios = [ 1.2 ] } (Tiny.data.Force()) ignore
                |> ignore)
            id

    Expect.equal (ex.GetType()) typeof<System.ArgumentException> "a ratio of 1.2 is refused"
    Expect.stringContains ex.Message "1.2" "the message names the ratio"

[<Tests>]
let tests =
    testList "StudyPruneTests" [
        testCase
            "the prune study gives one row per criterion and ratio with the pruned model's reductions"
            ``the prune study gives one row per criterion and ratio with the pruned model's reductions``
        testCase "a bad ratio is refused naming it" ``a bad ratio is refused naming it``
    ]
