module Tern.Tests.ProgressTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Cli

let private seconds (s: float) = TimeSpan.FromSeconds s

/// Elapsed seconds (0 to a day) and a fraction done in (0, 1).
let private elapsedAndFraction =
    Gen.zip (Gen.choose (0, 86400)) (Gen.choose (1, 999))
    |> Gen.map (fun (s, f) -> seconds (float s), float f / 1000.0)

let private epochLog =
    gen {
        let! epochs = Gen.choose (1, 500)
        let! epoch = Gen.choose (1, epochs)
        let! loss = Gen.choose (0, 100000)
        let! valid = Gen.optionOf (Gen.choose (0, 1000))

        return {
            Epoch = epoch
            Epochs = epochs
            LearningRate = 1e-3
            TrainLoss = float loss / 1000.0
            TrainAccuracy = 0.5
            ValidLoss = valid |> Option.map (fun _ -> 1.0)
            ValidAccuracy = valid |> Option.map (fun a -> float a / 1000.0)
            Seconds = 1.0
        }
    }

let private ``the time left is never negative, shrinks as more is done and is the elapsed time's share of the rest``
    ()
    =
    Prop.forAll (Arb.fromGen (Gen.zip elapsedAndFraction (Gen.choose (1, 999)))) (fun ((elapsed, f), g) ->
        let f2 = max f (float g / 1000.0)
        let t1 = (ProgressText.timeLeft elapsed f).Value
        let t2 = (ProgressText.timeLeft elapsed f2).Value
        Expect.isGreaterThanOrEqual t1 TimeSpan.Zero "the time left is never negative"
        Expect.isLessThanOrEqual t2 t1 "more done leaves no more time"
        // Done and left go at the same pace: elapsed / f = (elapsed + left) / 1.
        Expect.floatClose
            { absolute = 1e-3; relative = 0.0 }
            ((elapsed + t1).TotalSeconds)
            (elapsed.TotalSeconds / f)
            "elapsed + left = elapsed / fraction done")

let private ``the time left is zero at the end and unknown before anything is done`` () =
    Prop.forAll (Arb.fromGen elapsedAndFraction) (fun (elapsed, _) ->
        Expect.equal (ProgressText.timeLeft elapsed 1.0) (Some TimeSpan.Zero) "time left when all is done"
        Expect.equal (ProgressText.timeLeft elapsed 0.0) None "time left when nothing is done"
        Expect.equal (ProgressText.timeLeft elapsed nan) None "time left when the fraction is NaN"
        Expect.equal (ProgressText.left elapsed 0.0 TimeSpan.Zero) "" "the text before anything is done"
        Expect.equal (ProgressText.left elapsed 1.0 (seconds 5.0)) "0:00 left" "the text at the end")

let private ``the countdown between updates goes down with time and stops at zero`` () =
    Prop.forAll (Arb.fromGen (Gen.zip elapsedAndFraction (Gen.choose (0, 100000)))) (fun ((elapsed, f), since) ->
        let estimate = (ProgressText.timeLeft elapsed f).Value
        let text = ProgressText.left elapsed f (seconds (float since))
        Expect.stringEnds text " left" "the status text"
        Expect.isFalse (text.Contains "-") $"no minus sign in '{text}'"

        let expected =
            if estimate.TotalSeconds > float since then
                estimate - seconds (float since)
            else
                TimeSpan.Zero

        Expect.equal text (ProgressText.clock expected + " left") "the status text")

let private ``clock readings`` () =
    Expect.equal (ProgressText.clock (seconds 42.0)) "0:42" "clock of 42 s"
    Expect.equal (ProgressText.clock (seconds 61.4)) "1:01" "clock of 61.4 s"
    Expect.equal (ProgressText.clock (seconds 3723.0)) "1:02:03" "clock of 3723 s"
    Expect.equal (ProgressText.clock (seconds -3.0)) "0:00" "clock of -3 s"

    Expect.equal
        (ProgressText.left (seconds 60.0) 0.25 (seconds 100.0))
        "1:20 left"
        "time left after 60 s at a quarter, 100 s since"

let private ``an epoch's status names the epoch of the total and the loss, and the validation accuracy only when there is one``
    ()
    =
    Prop.forAll (Arb.fromGen epochLog) (fun log ->
        let text = ProgressText.epoch log
        Expect.stringStarts text $"epoch {log.Epoch}/{log.Epochs}  loss " "the status text"
        Expect.stringContains text (sprintf "loss %.3f" log.TrainLoss) "the status text"

        match log.ValidAccuracy with
        | Some a -> Expect.stringEnds text (sprintf "  val acc %.3f" a) "the status text"
        | None -> Expect.isFalse (text.Contains "val") $"no validation accuracy in '{text}'")

let private ``a training line reads as a person expects`` () =
    let log = {
        Epoch = 7
        Epochs = 20
        LearningRate = 1e-3
        TrainLoss = 0.41234
        TrainAccuracy = 0.8
        ValidLoss = Some 0.5
        ValidAccuracy = Some 0.7812
        Seconds = 2.0
    }

    Expect.equal
        (ProgressText.line "training" (ProgressText.epoch log))
        "training  epoch 7/20  loss 0.412  val acc 0.781"
        "a training line"

    Expect.equal (ProgressText.line "training" "") "training" "a line without a status"
    Expect.equal (ProgressText.count "samples" 12 50) "samples 12/50" "a count"

let private ``a status fits its width, is cut only when too long and keeps its beginning`` () =
    Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (0, 80)) (Gen.choose (0, 100)))) (fun (width, length) ->
        let text = String.init length (fun i -> string (char (int 'a' + i % 26)))
        let fitted = ProgressText.fit width text
        Expect.isLessThanOrEqual fitted.Length (max width 0) "the fitted length"

        if length <= width then
            Expect.equal fitted text "a short status is kept whole"
        else
            Expect.stringStarts text (fitted.TrimEnd '…') "the status text"
            Expect.equal fitted.Length width "the fitted length")

let private ``partly done steps are clamped, never go back, and add up to at most the number of steps`` () =
    let report =
        Gen.zip (Gen.choose (0, 4)) (Gen.choose (-500, 1500) |> Gen.map (fun p -> float p / 1000.0))

    Prop.forAll (Arb.fromGen (Gen.listOf report)) (fun reports ->
        let mutable parts = Map.empty

        for key, fraction in reports do
            let before = parts
            parts <- ProgressText.setPart key fraction parts
            Expect.isGreaterThanOrEqual (ProgressText.partsDone parts) (ProgressText.partsDone before) "the parts done"
            Expect.isGreaterThanOrEqual (parts[key]) 0.0 $"part {key}"
            Expect.isLessThanOrEqual (parts[key]) 1.0 $"part {key}"
            Expect.isGreaterThanOrEqual (parts[key]) (min 1.0 (max 0.0 fraction)) $"part {key}"

        Expect.isLessThanOrEqual (ProgressText.partsDone parts) (float parts.Count) "the parts done")

let private ``the bar shows only on a terminal outside CI`` () =
    Expect.isTrue (Progress.interactiveWhen false null) "a terminal, CI unset"
    Expect.isTrue (Progress.interactiveWhen false "") "a terminal, CI empty"
    Expect.isFalse (Progress.interactiveWhen false "true") "a terminal, CI=true"
    Expect.isFalse (Progress.interactiveWhen true null) "redirected, CI unset"
    Expect.isFalse (Progress.interactiveWhen true "1") "redirected, CI=1"

/// Console and environment are global: nothing else may run beside this (its list is sequenced).
let private ``with CI set, progress writes nothing and the work still gets its reports and returns its result`` () =
    let out = new StringWriter()
    let err = new StringWriter()
    let oldOut, oldErr = Console.Out, Console.Error
    let oldCi = Environment.GetEnvironmentVariable "CI"
    Console.SetOut out
    Console.SetError err
    Environment.SetEnvironmentVariable("CI", "true")

    try
        Expect.isFalse (Progress.interactive ()) "interactive with CI set"

        let log = {
            Epoch = 1
            Epochs = 2
            LearningRate = 1e-3
            TrainLoss = 1.0
            TrainAccuracy = 0.5
            ValidLoss = None
            ValidAccuracy = None
            Seconds = 1.0
        }

        let epochs =
            Progress.runEpochs "training" 2 (fun report ->
                report log
                report { log with Epoch = 2 }
                2)

        let samples =
            Progress.runCounted "hil" "samples" 3 (fun tick ->
                tick 1
                tick 2
                3)

        let tracked =
            Progress.track "study" 2 (fun p ->
                p.Status "fold 1/2"
                p.Part 0 0.5
                p.Tick 1
                "done")

        Expect.equal (epochs, samples, tracked) (2, 3, "done") "the results of the work"
        Expect.equal (out.ToString()) "" "stdout"
        Expect.equal (err.ToString()) "" "stderr"
    finally
        Console.SetOut oldOut
        Console.SetError oldErr
        Environment.SetEnvironmentVariable("CI", oldCi)

[<Tests>]
let tests =
    testList "ProgressTests" [
        testPropertyWithConfig
            (Properties.tests 200)
            "the time left is never negative, shrinks as more is done and is the elapsed time's share of the rest"
            ``the time left is never negative, shrinks as more is done and is the elapsed time's share of the rest``
        testPropertyWithConfig
            (Properties.tests 100)
            "the time left is zero at the end and unknown before anything is done"
            ``the time left is zero at the end and unknown before anything is done``
        testPropertyWithConfig
            (Properties.tests 200)
            "the countdown between updates goes down with time and stops at zero"
            ``the countdown between updates goes down with time and stops at zero``
        testCase "clock readings" ``clock readings``
        testPropertyWithConfig
            (Properties.tests 200)
            "an epoch's status names the epoch of the total and the loss, and the validation accuracy only when there is one"
            ``an epoch's status names the epoch of the total and the loss, and the validation accuracy only when there is one``
        testCase "a training line reads as a person expects" ``a training line reads as a person expects``
        testPropertyWithConfig
            (Properties.tests 200)
            "a status fits its width, is cut only when too long and keeps its beginning"
            ``a status fits its width, is cut only when too long and keeps its beginning``
        testPropertyWithConfig
            (Properties.tests 200)
            "partly done steps are clamped, never go back, and add up to at most the number of steps"
            ``partly done steps are clamped, never go back, and add up to at most the number of steps``
        testCase "the bar shows only on a terminal outside CI" ``the bar shows only on a terminal outside CI``
        testSequenced
        <| testList "QuietProgressTests" [
            testCase
                "with CI set, progress writes nothing and the work still gets its reports and returns its result"
                ``with CI set, progress writes nothing and the work still gets its reports and returns its result``
        ]
    ]
