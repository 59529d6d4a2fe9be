module Tern.Tests.StudyTernaryTests

open System.IO
open Expecto
open Tern.Core

/// One import of 6 subjects x 3 classes x 2 to 7 windows, raw/ and spectrogram/ side by side.
let private import =
    lazy
        (let raw, spectrogram = ImportFolderTests.pair 6 2 11
         ImportFolderTests.saveImport "ternary-import" (Some raw) (Some spectrogram))

let private study (args: string list) =
    CliTests.tern ([ "study"; "ternary" ] @ args @ [ "--no-history" ])

let private quick = [ "--folds"; "3"; "--epochs"; "1" ]

let private ``a top folder trains on spectrogram/; --baseline runs the forest on raw/ on the same folds`` () =
    let top = import.Value

    let code, out, err =
        study ([ "--data"; top; "--arch"; "default"; "--baseline"; "--json" ] @ quick)

    Expect.equal code 0 err
    let j = CliTests.json out
    Expect.equal (j.GetProperty("form").GetString()) "spectrogram" "the network's form"
    Expect.equal (j.GetProperty("form_dir").GetString()) (Path.Combine(top, "spectrogram")) "its folder"
    Expect.equal (j.GetProperty("arch").GetString()) "default" "arch"
    let b = j.GetProperty "baseline"

    for key in
        [
            "mean_macro_f1"
            "mean_accuracy"
            "mean_subject_macro_f1"
            "accuracy"
            "macro_f1"
            "fp32_minus_baseline_pp"
            "ternary_minus_baseline_pp"
            "seconds"
        ] do
        Expect.isTrue (fst (b.TryGetProperty key)) $"baseline.{key}"

    Expect.equal (b.GetProperty("form_dir").GetString()) (Path.Combine(top, "raw")) "the baseline's folder"
    let folds = j.GetProperty("folds").EnumerateArray() |> Seq.toList

    let f1s =
        folds |> List.map (fun f -> f.GetProperty("baseline_macro_f1").GetDouble())

    Expect.floatClose Accuracy.veryHigh (b.GetProperty("mean_macro_f1").GetDouble()) (List.average f1s) "mean"

    // The baseline's own study on the same folder, split and seed scores every fold alike: the same folds.
    let code, out, err =
        CliTests.tern [ "study"; "baseline"; "--data"; top; "--folds"; "3"; "--json"; "--no-history" ]

    Expect.equal code 0 err
    let own = CliTests.json out
    let ownFolds = own.GetProperty("per_fold").EnumerateArray() |> Seq.toList
    Expect.equal ownFolds.Length folds.Length "fold count"

    let at (e: System.Text.Json.JsonElement) (key: string) = e.GetProperty(key).GetDouble()

    for f, o in List.zip folds ownFolds do
        let fold = f.GetProperty("fold").GetInt32()
        Expect.equal fold (o.GetProperty("fold").GetInt32()) "fold order"

        Expect.equal
            (f.GetProperty("test_samples").GetInt32())
            (o.GetProperty("test_samples").GetInt32())
            $"fold {fold}: test samples"

        Expect.equal (at f "baseline_macro_f1") (at o "macro_f1") $"fold {fold}: macro-F1"
        Expect.equal (at f "baseline_accuracy") (at o "accuracy") $"fold {fold}: accuracy"

    Expect.equal (at b "accuracy") (at own "accuracy") "pooled accuracy"
    Expect.equal (at b "mean_subject_macro_f1") (at own "mean_subject_macro_f1") "per subject"

let private ``--arch raw1d trains on raw/, its first layer int8 when asked; without --baseline no baseline key`` () =
    let code, out, err =
        study (
            [ "--data"; import.Value; "--arch"; "raw1d"; "--int8-layers"; "0"; "--json" ]
            @ quick
        )

    Expect.equal code 0 err
    let j = CliTests.json out
    Expect.equal (j.GetProperty("form").GetString()) "raw" "raw1d's form"
    Expect.equal (j.GetProperty("arch").GetString()) "raw1d" "arch"

    Expect.equal
        (j.GetProperty("int8_layers").EnumerateArray()
         |> Seq.map _.GetInt32()
         |> List.ofSeq)
        [ 0 ]
        "int8"

    Expect.isFalse (fst (j.TryGetProperty "baseline")) "no baseline"

/// The default, --arch auto: each fold chooses its form and architecture, and the report shows every candidate.
let private ``--arch auto records each fold's choice and refuses a budget nothing fits`` () =
    let top = import.Value

    let code, out, err =
        study ([ "--data"; top; "--json"; "--inner-folds"; "2" ] @ quick)

    Expect.equal code 0 err
    let j = CliTests.json out
    Expect.equal (j.GetProperty("arch").GetString()) "auto" "arch"
    Expect.equal (j.GetProperty("budget").GetString()) (DeviceBudget.format DeviceBudget.defaults) "the budget"
    Expect.equal (j.GetProperty("inner_folds").GetInt32()) 2 "the inner folds asked for"

    for f in j.GetProperty("folds").EnumerateArray() do
        let search = f.GetProperty "search"
        Expect.equal (f.GetProperty("form").GetString()) (search.GetProperty("form").GetString()) "trained the choice"
        Expect.equal (f.GetProperty("arch").GetString()) (search.GetProperty("arch").GetString()) "trained the choice"
        let candidates = search.GetProperty("candidates").EnumerateArray() |> Seq.toList
        Expect.isGreaterThan candidates.Length 2 "every candidate"

        Expect.equal
            (candidates
             |> List.filter (fun c -> c.GetProperty("status").GetString() = "chosen")
             |> List.length)
            1
            "one chosen"

        Expect.stringContains (search.GetProperty("reason").GetString()) "budget" "why"

        Expect.stringContains
            (search.GetProperty("reason").GetString())
            "over 2 subject-grouped folds"
            "validated on the inner folds asked for"
        // A study ships ternary weights: the candidates are scored so.
        Expect.equal (search.GetProperty("scored").GetString()) "ternary" "scored as it ships"

        Expect.isTrue
            (candidates |> List.forall (fun c -> fst (c.TryGetProperty "int8_layers")))
            "int8 layers per candidate"

        Expect.isTrue (fst (search.TryGetProperty "int8_layers")) "the winner's int8 layers"

    for args, names in
        [
            [ "--budget"; "flash=1K" ], "budget"
            [ "--budget"; "flash=lots" ], "flash=lots"
            [ "--arch"; "default"; "--budget"; "flash=32K" ], "--budget"
            [ "--int8-layers"; "0" ], "--int8-layers applies to a fixed --arch"
            [ "--arch"; "default"; "--inner-folds"; "2" ], "--inner-folds applies to --arch auto"
            [ "--inner-folds"; "1" ], "--inner-folds 1"
            [ "--arch"; "default"; "--int8-layers"; "7" ], "'7' is not a conv/dense layer position (0..3)"
        ] do
        let code, _, err = study ([ "--data"; top ] @ args @ quick)
        Expect.equal code 2 $"{args}: {err}"
        Expect.stringContains err names $"{args}: the message names it"

let private ``forms that differ, --baseline without raw windows and unknown or misfit architectures exit 2`` () =
    let raw, spectrogram = ImportFolderTests.pair 6 2 11

    let moved = {
        spectrogram with
            Subjects = spectrogram.Subjects |> Array.map (fun s -> (s + 1) % 6)
    }

    let differ = ImportFolderTests.saveImport "ternary-differ" (Some raw) (Some moved)
    let specOnly = ImportFolderTests.saveImport "ternary-spec" None (Some spectrogram)
    let specSet = Path.Combine(specOnly, "spectrogram")

    for args, names in
        [
            [ "--data"; differ ], Path.Combine(differ, "spectrogram")
            [ "--data"; specOnly; "--baseline" ], specOnly
            [ "--data"; specSet; "--baseline" ], specSet
            [ "--data"; import.Value; "--arch"; "nope" ], "nope"
            [ "--data"; specOnly; "--arch"; "raw1d" ], specSet
        ] do
        let code, _, err = study (args @ quick)
        Expect.equal code 2 $"{args}: {err}"
        Expect.stringContains err names $"{args}: the message names it"

[<Tests>]
let tests =
    testList "StudyTernaryTests" [
        testCase
            "a top folder trains on spectrogram/; --baseline runs the forest on raw/ on the same folds"
            ``a top folder trains on spectrogram/; --baseline runs the forest on raw/ on the same folds``
        testCase
            "--arch auto records each fold's choice and refuses a budget nothing fits"
            ``--arch auto records each fold's choice and refuses a budget nothing fits``
        testCase
            "--arch raw1d trains on raw/, its first layer int8 when asked; without --baseline no baseline key"
            ``--arch raw1d trains on raw/, its first layer int8 when asked; without --baseline no baseline key``
        testCase
            "forms that differ, --baseline without raw windows and unknown or misfit architectures exit 2"
            ``forms that differ, --baseline without raw windows and unknown or misfit architectures exit 2``
    ]
