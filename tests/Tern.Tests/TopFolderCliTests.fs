/// A model trained on an import's top folder is run against the same top folder: the verbs pick the form whose
/// samples the model takes.
module Tern.Tests.TopFolderCliTests

open System.IO
open Expecto

let private ``run --input and train take an import's top folder, each model its own form`` () =
    let raw, spectrogram = ImportFolderTests.pair 6 2 13
    let top = ImportFolderTests.saveImport "top-run" (Some raw) (Some spectrogram)

    for arch, samples in [ "raw1d", raw.Samples.Length; "default", spectrogram.Samples.Length ] do
        let model = Path.Combine(top, $"{arch}.tern")

        let code, out, err =
            CliTests.tern [
                "train"
                "--data"
                top
                "--arch"
                arch
                "--epochs"
                "1"
                "--out"
                model
                "--json"
            ]

        Expect.equal code 0 err
        let trained = CliTests.json out
        let form = if arch = "raw1d" then "raw" else "spectrogram"
        Expect.equal (trained.GetProperty("form").GetString()) form $"{arch} trains on {form}/"

        let code, out, err =
            CliTests.tern [ "run"; model; "--input"; top; "--all-subjects"; "--json" ]

        Expect.equal code 0 $"{arch}: {err}"
        let j = CliTests.json out
        Expect.equal (j.GetProperty("samples").GetInt32()) samples $"{arch}: every window of its form"

    // A model to start from trains on the form its input fits, whatever the rule for new networks says.
    let code, out, err =
        CliTests.tern [
            "train"
            "--data"
            top
            "--init"
            Path.Combine(top, "raw1d.tern")
            "--epochs"
            "1"
            "--out"
            Path.Combine(top, "again.tern")
            "--json"
        ]

    Expect.equal code 0 err
    Expect.equal ((CliTests.json out).GetProperty("form").GetString()) "raw" "--init raw1d trains on raw/"

let private ``train --qat ternary --int8-layers 0 writes a model whose first layer is int8`` () =
    let raw, spectrogram = ImportFolderTests.pair 6 2 13
    let top = ImportFolderTests.saveImport "top-int8" (Some raw) (Some spectrogram)
    let model = Path.Combine(top, "mixed.tern")

    let train extra =
        CliTests.tern ([ "train"; "--data"; top; "--epochs"; "1"; "--out"; model ] @ extra)

    let code, out, err =
        train [
            "--arch"
            "default"
            "--qat"
            "ternary"
            "--qat-epochs"
            "1"
            "--int8-layers"
            "0"
            "--json"
        ]

    Expect.equal code 0 err

    Expect.equal
        ((CliTests.json out).GetProperty("int8_layers").EnumerateArray()
         |> Seq.map _.GetInt32()
         |> List.ofSeq)
        [ 0 ]
        "the JSON says so"

    let code, out, err = CliTests.tern [ "inspect"; model; "--json" ]
    Expect.equal code 0 err

    let kinds =
        (CliTests.json out).GetProperty("layers").EnumerateArray()
        |> Seq.choose (fun l ->
            match l.TryGetProperty "weights" with
            | true, w -> Some(w.GetString())
            | _ -> None)
        |> List.ofSeq

    Expect.equal kinds [ "int8"; "ternary"; "ternary"; "ternary" ] "the first layer int8"

    for extra, names in
        [
            [ "--arch"; "default"; "--int8-layers"; "0" ], "--int8-layers applies only with --qat"
            [ "--arch"; "default"; "--qat"; "int8"; "--int8-layers"; "0" ], "--int8-layers applies to --qat ternary"
            [ "--qat"; "ternary"; "--int8-layers"; "0" ], "--int8-layers applies to a fixed --arch"
            [ "--arch"; "default"; "--qat"; "ternary"; "--int8-layers"; "4" ], "'4' is not a conv/dense layer position"
            [ "--arch"; "default"; "--inner-folds"; "2" ], "--inner-folds applies to --arch auto"
        ] do
        let code, _, err = train extra
        Expect.equal code 2 $"{extra}: {err}"
        Expect.stringContains err names $"{extra}: the message names it"

let private ``train --arch auto validates on the inner folds asked for`` () =
    let raw, spectrogram = ImportFolderTests.pair 6 2 17
    let top = ImportFolderTests.saveImport "top-auto" (Some raw) (Some spectrogram)

    let code, out, err =
        CliTests.tern [
            "train"
            "--data"
            top
            "--epochs"
            "1"
            "--inner-folds"
            "2"
            "--out"
            Path.Combine(top, "auto.tern")
            "--json"
        ]

    Expect.equal code 0 err
    let search = (CliTests.json out).GetProperty "search"

    Expect.stringContains
        (search.GetProperty("reason").GetString())
        "over 2 subject-grouped folds"
        "the folds asked for"

[<Tests>]
let tests =
    testList "TopFolderCliTests" [
        testCase
            "train --qat ternary --int8-layers 0 writes a model whose first layer is int8"
            ``train --qat ternary --int8-layers 0 writes a model whose first layer is int8``
        testCase
            "run --input and train take an import's top folder, each model its own form"
            ``run --input and train take an import's top folder, each model its own form``
        testCase
            "train --arch auto validates on the inner folds asked for"
            ``train --arch auto validates on the inner folds asked for``
    ]
