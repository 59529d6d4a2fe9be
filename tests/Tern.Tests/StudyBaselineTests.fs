module Tern.Tests.StudyBaselineTests

open System
open System.IO
open Expecto
open Tern.Core
open Tern.Runtime
open Tern.Studies

/// Raw windows of 16 steps and 3 axes; `amplitude subject label` sets the spread of the noise around a per-axis
/// offset of `offset subject label`.
let private rawSet
    (subjects: int)
    (perClass: int)
    (classes: int)
    (offset: int -> int -> float)
    (amplitude: int -> int -> float)
    =
    let rng = Random(7)
    let n = subjects * classes * perClass

    let cell i =
        let s = i / (classes * perClass)
        let l = (i / perClass) % classes
        s, l

    {
        Shape = Shape3(1, 16, 3)
        Classes = List.init classes (sprintf "c%d")
        Samples =
            Array.init n (fun i ->
                let s, l = cell i

                Array.init 48 (fun _ -> float32 (offset s l + amplitude s l * (2.0 * rng.NextDouble() - 1.0))))
        Labels = Array.init n (fun i -> snd (cell i))
        Subjects = Array.init n (fun i -> fst (cell i))
        SubjectNames = []
        Source = "test"
        Augment = NoAugmentation
    }

let private config split = {
    StudyBaseline.defaultConfig with
        Split = split
        Trees = 20
}

/// Three classes that differ only in the spread of the signal (std, min, max, energy...).
let private bySpread =
    lazy (rawSet 6 12 3 (fun _ _ -> 0.2) (fun _ l -> 0.1 + 0.4 * float l))

let private ``classes that differ in spread: the forest beats chance`` () =
    let r = StudyBaseline.run (config (KFold 3)) bySpread.Value ignore
    Expect.isGreaterThan r.Pooled.Accuracy 0.9 "chance is 1/3"
    Expect.isGreaterThan r.MeanSubjectMacroF1 0.9 "per subject"
    Expect.equal r.PerSubject.Length 6 "every subject"
    Expect.equal (r.Folds |> List.sumBy (fun f -> f.TestSamples)) 216 "every sample tested once"

let private ``the same seed gives the same predictions`` () =
    let data = bySpread.Value
    let a = StudyBaseline.run (config LeaveOneSubjectOut) data ignore
    let b = StudyBaseline.run (config LeaveOneSubjectOut) data ignore
    Expect.equal (a.Folds |> List.map (fun f -> f.Predicted)) (b.Folds |> List.map (fun f -> f.Predicted)) "seeded"

/// Each subject gives each class its own random offset, with no pattern across subjects: a forest that saw the test
/// subject would learn its offsets and score near 1; held out, it can only guess.
let private ``a held-out subject is never learned from`` () =
    let offsets = Random(3)

    let table =
        Array.init 8 (fun _ -> Array.init 2 (fun _ -> 2.0 * offsets.NextDouble() - 1.0))

    let data = rawSet 8 20 2 (fun s l -> table[s][l]) (fun _ _ -> 0.05)
    let r = StudyBaseline.run (config LeaveOneSubjectOut) data ignore

    for f in r.Folds do
        Expect.equal f.Subjects [ string f.Fold ] "one subject per fold"
        Expect.equal (f.TrainSamples + f.TestSamples) data.Samples.Length "the rest trains"

    Expect.isLessThan r.Pooled.Accuracy 0.8 "no pattern across subjects: a score near 1 means the subject leaked"

let private ``per-subject macro-F1 counts the classes in that subject's truth or predictions`` () =
    let data = rawSet 2 2 3 (fun _ _ -> 0.0) (fun _ _ -> 0.1)
    // Subject 0: truth 0 0 1 1 2 2 -> predictions all right but one 2 called 0.
    let samples = [| 0..5 |]
    let truth = data.Labels[0..5]
    let predicted = [| 0; 0; 1; 1; 2; 0 |]
    let s = StudyBaseline.perSubject data samples truth predicted |> List.exactlyOne
    // F1: class 0 = 4/5, class 1 = 1, class 2 = 2/3.
    Expect.floatClose Accuracy.veryHigh s.MacroF1 ((0.8 + 1.0 + 2.0 / 3.0) / 3.0) "macro-F1"

/// Under leave one subject out each fold is one subject: the mean over folds (the ternary study's mean) is the mean
/// per-subject macro-F1; and the study is its folds run by runOn.
let private ``under loso the mean over folds is the mean per subject; run is runOn on Study.folds`` () =
    let data = rawSet 4 6 3 (fun _ l -> 0.1 * float l) (fun _ l -> 0.1 + 0.2 * float l)
    let cfg = config LeaveOneSubjectOut
    let r = StudyBaseline.run cfg data ignore
    Expect.equal r.Folds.Length 4 "one fold per subject"
    Expect.floatClose Accuracy.veryHigh r.MeanMacroF1 r.MeanSubjectMacroF1 "mean over folds = per subject"
    Expect.floatClose Accuracy.veryHigh r.MeanAccuracy (r.Folds |> List.averageBy (fun f -> f.Accuracy)) "accuracy"

    let folds =
        match Study.folds (KFold 2) 9 data with
        | Ok f -> f
        | Error e -> failwith e

    let kfold = { cfg with Split = KFold 2; Seed = 9 }
    let a = StudyBaseline.runOn kfold data folds ignore
    let b = StudyBaseline.run kfold data ignore
    Expect.equal (a.Folds |> List.map (fun f -> f.Predicted)) (b.Folds |> List.map (fun f -> f.Predicted)) "same"

    Expect.equal
        (a.Folds |> List.map (fun f -> f.TestSamples))
        (folds |> List.map (fun f -> f.Test.Length))
        "the given folds"

let private ``study baseline: json keys; bad or spectrogram-only folders exit 2`` () =
    let dir = Scratch.folder "baseline-cli"
    Dataset.save (Path.Combine(dir, "imp", "raw")) bySpread.Value

    let code, out, err =
        CliTests.tern [
            "study"
            "baseline"
            "--data"
            Path.Combine(dir, "imp")
            "--folds"
            "2"
            "--trees"
            "5"
            "--json"
            "--no-history"
        ]

    Expect.equal code 0 err
    let j = CliTests.json out

    for key in
        [
            "study"
            "split"
            "folds"
            "accuracy"
            "macro_f1"
            "mean_subject_macro_f1"
            "per_fold"
        ] do
        Expect.isTrue (fst (j.TryGetProperty key)) $"key {key}"

    Expect.equal (j.GetProperty("split").GetString()) "2-fold" "split"
    Expect.equal (j.GetProperty("per_fold").GetArrayLength()) 2 "two folds"

    let spectrogram = {
        bySpread.Value with
            Shape = Shape3(4, 4, 3)
    }

    Dataset.save (Path.Combine(dir, "spec", "spectrogram")) spectrogram
    Dataset.save (Path.Combine(dir, "specset")) spectrogram

    for bad in
        [
            Path.Combine(dir, "missing")
            Path.Combine(dir, "spec")
            Path.Combine(dir, "specset")
        ] do
        let code, _, err =
            CliTests.tern [ "study"; "baseline"; "--data"; bad; "--no-history" ]

        Expect.equal code 2 $"{bad}: {err}"
        Expect.stringContains err bad "the message names the folder"

    let code, _, err =
        CliTests.tern [
            "study"
            "baseline"
            "--data"
            Path.Combine(dir, "imp")
            "--split"
            "loso"
            "--folds"
            "3"
            "--no-history"
        ]

    Expect.equal code 2 err

[<Tests>]
let tests =
    testList "StudyBaselineTests" [
        testCase
            "classes that differ in spread: the forest beats chance"
            ``classes that differ in spread: the forest beats chance``
        testCase "the same seed gives the same predictions" ``the same seed gives the same predictions``
        testCase "a held-out subject is never learned from" ``a held-out subject is never learned from``
        testCase
            "per-subject macro-F1 counts the classes in that subject's truth or predictions"
            ``per-subject macro-F1 counts the classes in that subject's truth or predictions``
        testCase
            "under loso the mean over folds is the mean per subject; run is runOn on Study.folds"
            ``under loso the mean over folds is the mean per subject; run is runOn on Study.folds``
        testCase
            "study baseline: json keys; bad or spectrogram-only folders exit 2"
            ``study baseline: json keys; bad or spectrogram-only folders exit 2``
    ]
