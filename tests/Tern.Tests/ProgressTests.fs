module Tern.Tests.ProgressTests

open System
open System.IO
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
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

[<Property(MaxTest = 200)>]
let ``the time left is never negative, shrinks as more is done and is the elapsed time's share of the rest`` () =
    Prop.forAll (Arb.fromGen (Gen.zip elapsedAndFraction (Gen.choose (1, 999)))) (fun ((elapsed, f), g) ->
        let f2 = max f (float g / 1000.0)
        let t1 = (ProgressText.timeLeft elapsed f).Value
        let t2 = (ProgressText.timeLeft elapsed f2).Value
        Assert.That(t1, Is.GreaterThanOrEqualTo TimeSpan.Zero)
        Assert.That(t2, Is.LessThanOrEqualTo t1)
        // Done and left go at the same pace: elapsed / f = (elapsed + left) / 1.
        Assert.That((elapsed + t1).TotalSeconds, Is.EqualTo(elapsed.TotalSeconds / f).Within(1e-3)))

[<Property(MaxTest = 100)>]
let ``the time left is zero at the end and unknown before anything is done`` () =
    Prop.forAll (Arb.fromGen elapsedAndFraction) (fun (elapsed, _) ->
        Assert.That(ProgressText.timeLeft elapsed 1.0, Is.EqualTo(Some TimeSpan.Zero))
        Assert.That(ProgressText.timeLeft elapsed 0.0, Is.EqualTo None)
        Assert.That(ProgressText.timeLeft elapsed nan, Is.EqualTo None)
        Assert.That(ProgressText.left elapsed 0.0 TimeSpan.Zero, Is.Empty)
        Assert.That(ProgressText.left elapsed 1.0 (seconds 5.0), Is.EqualTo "0:00 left"))

[<Property(MaxTest = 200)>]
let ``the countdown between updates goes down with time and stops at zero`` () =
    Prop.forAll (Arb.fromGen (Gen.zip elapsedAndFraction (Gen.choose (0, 100000)))) (fun ((elapsed, f), since) ->
        let estimate = (ProgressText.timeLeft elapsed f).Value
        let text = ProgressText.left elapsed f (seconds (float since))
        Assert.That(text, Does.EndWith " left")
        Assert.That(text, Does.Not.Contain "-")

        let expected =
            if estimate.TotalSeconds > float since then
                estimate - seconds (float since)
            else
                TimeSpan.Zero

        Assert.That(text, Is.EqualTo(ProgressText.clock expected + " left")))

[<Test>]
let ``clock readings`` () =
    Assert.That(ProgressText.clock (seconds 42.0), Is.EqualTo "0:42")
    Assert.That(ProgressText.clock (seconds 61.4), Is.EqualTo "1:01")
    Assert.That(ProgressText.clock (seconds 3723.0), Is.EqualTo "1:02:03")
    Assert.That(ProgressText.clock (seconds -3.0), Is.EqualTo "0:00")
    Assert.That(ProgressText.left (seconds 60.0) 0.25 (seconds 100.0), Is.EqualTo "1:20 left")

[<Property(MaxTest = 200)>]
let ``an epoch's status names the epoch of the total and the loss, and the validation accuracy only when there is one``
    ()
    =
    Prop.forAll (Arb.fromGen epochLog) (fun log ->
        let text = ProgressText.epoch log
        Assert.That(text, Does.StartWith $"epoch {log.Epoch}/{log.Epochs}  loss ")
        Assert.That(text, Does.Contain(sprintf "loss %.3f" log.TrainLoss))

        match log.ValidAccuracy with
        | Some a -> Assert.That(text, Does.EndWith(sprintf "  val acc %.3f" a))
        | None -> Assert.That(text, Does.Not.Contain "val"))

[<Test>]
let ``a training line reads as a person expects`` () =
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

    Assert.That(
        ProgressText.line "training" (ProgressText.epoch log),
        Is.EqualTo "training  epoch 7/20  loss 0.412  val acc 0.781"
    )

    Assert.That(ProgressText.line "training" "", Is.EqualTo "training")
    Assert.That(ProgressText.count "samples" 12 50, Is.EqualTo "samples 12/50")

[<Property(MaxTest = 200)>]
let ``a status fits its width, is cut only when too long and keeps its beginning`` () =
    Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (0, 80)) (Gen.choose (0, 100)))) (fun (width, length) ->
        let text = String.init length (fun i -> string (char (int 'a' + i % 26)))
        let fitted = ProgressText.fit width text
        Assert.That(fitted.Length, Is.LessThanOrEqualTo(max width 0))

        if length <= width then
            Assert.That(fitted, Is.EqualTo text)
        else
            Assert.That(text, Does.StartWith(fitted.TrimEnd '…'))
            Assert.That(fitted.Length, Is.EqualTo width))

[<Property(MaxTest = 200)>]
let ``partly done steps are clamped, never go back, and add up to at most the number of steps`` () =
    let report =
        Gen.zip (Gen.choose (0, 4)) (Gen.choose (-500, 1500) |> Gen.map (fun p -> float p / 1000.0))

    Prop.forAll (Arb.fromGen (Gen.listOf report)) (fun reports ->
        let mutable parts = Map.empty

        for key, fraction in reports do
            let before = parts
            parts <- ProgressText.setPart key fraction parts
            Assert.That(ProgressText.partsDone parts, Is.GreaterThanOrEqualTo(ProgressText.partsDone before))
            Assert.That(parts[key], Is.InRange(0.0, 1.0))
            Assert.That(parts[key], Is.GreaterThanOrEqualTo(min 1.0 (max 0.0 fraction)))

        Assert.That(ProgressText.partsDone parts, Is.LessThanOrEqualTo(float parts.Count)))

[<Test>]
let ``the bar shows only on a terminal outside CI`` () =
    Assert.That(Progress.interactiveWhen false null, Is.True)
    Assert.That(Progress.interactiveWhen false "", Is.True)
    Assert.That(Progress.interactiveWhen false "true", Is.False)
    Assert.That(Progress.interactiveWhen true null, Is.False)
    Assert.That(Progress.interactiveWhen true "1", Is.False)

/// Console and environment are global: nothing else may run beside these.
[<NonParallelizable>]
type QuietProgressTests() =

    [<Test>]
    member _.``with CI set, progress writes nothing and the work still gets its reports and returns its result``() =
        let out = new StringWriter()
        let err = new StringWriter()
        let oldOut, oldErr = Console.Out, Console.Error
        let oldCi = Environment.GetEnvironmentVariable "CI"
        Console.SetOut out
        Console.SetError err
        Environment.SetEnvironmentVariable("CI", "true")

        try
            Assert.That(Progress.interactive (), Is.False)

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

            Assert.That((epochs, samples, tracked), Is.EqualTo((2, 3, "done")))
            Assert.That(out.ToString(), Is.Empty)
            Assert.That(err.ToString(), Is.Empty)
        finally
            Console.SetOut oldOut
            Console.SetError oldErr
            Environment.SetEnvironmentVariable("CI", oldCi)
