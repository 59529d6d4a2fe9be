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

[<Tests>]
let tests =
    testList "TopFolderCliTests" [
        testCase
            "run --input and train take an import's top folder, each model its own form"
            ``run --input and train take an import's top folder, each model its own form``
    ]
