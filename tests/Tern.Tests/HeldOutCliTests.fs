/// The command line of held-out truth and metrics: train records its held-out subjects, lower its parent; run and
/// hil evaluate the held-out subjects by default, or all, or the named ones, draw --samples stratified, report the
/// metrics and, with --float, the float-vs-integer figures; what does not apply exits 2.
module Tern.Tests.HeldOutCliTests

open System
open System.IO
open System.Text.Json
open Expecto
open Tern.Core
open Tern.Tests.CliTests

let private strings (e: JsonElement) =
    e.EnumerateArray() |> Seq.map (fun x -> x.GetString()) |> Seq.toList

let private ok (args: string list) =
    let code, out, err = tern args
    let command = String.concat " " args
    Expect.equal code 0 $"{command}: {err}"
    out

/// Exit 2 with a message containing `text`.
let private refused (args: string list) (text: string) =
    let code, _, err = tern args
    let command = String.concat " " args
    Expect.equal code 2 $"{command}: {err}"
    Expect.stringContains err text command

/// The fixture: data sets radar and other (5 subjects, 4 per class), a float model trained on radar with the JSON
/// train printed, and its int8 lowering calibrated on radar. (folder, train's JSON)
let private fixture =
    lazy
        (let dir = Scratch.folder "tern-heldout"
         let path name = Path.Combine(dir, name)

         for name, seed in [ "radar", 3; "other", 4 ] do
             synth (path name) 5 4 seed

         let trainJson =
             json (
                 ok [
                     "train"
                     "--data"
                     path "radar"
                     "--out"
                     path "float.tern"
                     "--epochs"
                     "1"
                     "--json"
                 ]
             )

         ok [
             "lower"
             path "float.tern"
             "--weights"
             "int8"
             "--calib"
             path "radar"
             "--out"
             path "int8.tern"
         ]
         |> ignore

         dir, trainJson)

let private path name = Path.Combine(fst fixture.Value, name)

/// What train printed with --json.
let private trained () = snd fixture.Value

let private data () =
    match Dataset.load (path "radar") with
    | Ok d -> d
    | Error e -> failwith e

let private holdoutSubjects () =
    trained().GetProperty("holdout").GetProperty("subjects") |> strings

let private run (extra: string list) =
    json (ok ([ "run"; path "int8.tern"; "--json" ] @ extra))

let private ``train records the data's fingerprint and its validation subjects; inspect and lower keep them`` () =
    let trainJson = trained ()
    let h = trainJson.GetProperty("holdout")
    Expect.equal (h.GetProperty("data").GetString()) (Dataset.fingerprint (data ())) "data"

    Expect.equal
        (holdoutSubjects ())
        (strings (trainJson.GetProperty("subjects")))
        "the held-out subjects are the subjects"

    Expect.isNonEmpty (holdoutSubjects ()) "the held-out subjects"
    hasMetrics trainJson 5 (trainJson.GetProperty("valid_samples").GetInt32())

    let floatInfo = json (ok [ "inspect"; path "float.tern"; "--json" ])
    let intInfo = json (ok [ "inspect"; path "int8.tern"; "--json" ])

    for info in [ floatInfo; intInfo ] do
        let ih = info.GetProperty("holdout")
        Expect.equal (ih.GetProperty("data").GetString()) (h.GetProperty("data").GetString()) "data"
        Expect.equal (strings (ih.GetProperty("subjects"))) (holdoutSubjects ()) "subjects"

    // lower records the float parent's hash.
    Expect.equal
        (intInfo.GetProperty("meta").GetProperty("parent").GetString())
        (floatInfo.GetProperty("hash").GetString())
        "meta.parent is the float model's hash"

    let human = ok [ "inspect"; path "int8.tern" ]
    Expect.stringContains human $"""holdout: subjects {String.Join(", ", holdoutSubjects ())}""" "the human summary"

let private ``run on the training data evaluates the held-out subjects by default`` () =
    let d = data ()
    let held = holdoutSubjects ()

    let expected =
        d.Subjects
        |> Array.filter (fun s -> List.contains (Dataset.subjectName d s) held)
        |> Array.length

    let j = run [ "--input"; path "radar" ]
    Expect.equal (j.GetProperty("subject_choice").GetString()) "holdout" "subject_choice"
    Expect.equal (strings (j.GetProperty("subjects"))) held "subjects"
    Expect.equal (j.GetProperty("samples").GetInt32()) expected "samples"
    hasMetrics j 5 expected

    let human = ok [ "run"; path "int8.tern"; "--input"; path "radar" ]
    Expect.stringContains human "evaluating on the model's held-out subject" "the human summary"
    Expect.stringContains human "confusion" "the human summary"

let private ``--all-subjects, --subjects and other data evaluate what they say`` () =
    let all = run [ "--input"; path "radar"; "--all-subjects" ]
    Expect.equal (all.GetProperty("subject_choice").GetString()) "all" "subject_choice"
    Expect.equal (strings (all.GetProperty("subjects"))) [ "0"; "1"; "2"; "3"; "4" ] "subjects"
    hasMetrics all 5 100

    let some = run [ "--input"; path "radar"; "--subjects"; "2,0" ]
    Expect.equal (some.GetProperty("subject_choice").GetString()) "given" "subject_choice"
    Expect.equal (strings (some.GetProperty("subjects"))) [ "0"; "2" ] "subjects"
    hasMetrics some 5 40

    let other = run [ "--input"; path "other" ]
    Expect.equal (other.GetProperty("subject_choice").GetString()) "all" "subject_choice"

    Expect.stringContains
        (other.GetProperty("subject_choice_reason").GetString())
        "not the data set"
        "subject_choice_reason"

    Expect.equal (other.GetProperty("samples").GetInt32()) 100 "samples"

let private ``--samples draws stratified by class and subject with the seed, never the first N`` () =
    let draw seed =
        run [ "--input"; path "radar"; "--all-subjects"; "--samples"; "10"; "--seed"; seed ]

    let a = draw "2"
    Expect.equal (a.GetProperty("samples").GetInt32()) 10 "samples"
    // Two per class; the first 10 samples would be subject 0's first two classes only.
    let support =
        a.GetProperty("per_class").EnumerateArray()
        |> Seq.map (fun c -> c.GetProperty("support").GetInt32())

    Expect.all support (fun s -> s = 2) "every class's support"
    Expect.isGreaterThan ((strings (a.GetProperty("subjects"))).Length) 1 "subjects"
    // The same seed draws the same samples.
    let again = draw "2"

    for key in [ "subjects"; "predictions"; "confusion" ] do
        Expect.equal (again.GetProperty(key).GetRawText()) (a.GetProperty(key).GetRawText()) key

    let seeds =
        [ "1"; "2"; "3"; "4"; "5" ]
        |> List.map (fun s -> strings ((draw s).GetProperty("subjects")))
        |> List.distinct

    Expect.isGreaterThan seeds.Length 1 "the seed chooses the draw"

    let human =
        ok [
            "run"
            path "int8.tern"
            "--input"
            path "radar"
            "--samples"
            "4"
            "--seed"
            "2"
        ]

    Expect.stringContains human "drawn stratified by class and subject (seed 2)" "the human summary"

let private ``--float gives top-1 agreement, L2r and cosine equal to a direct computation from saved outputs`` () =
    let j =
        run [ "--input"; path "radar"; "--all-subjects"; "--float"; path "float.tern" ]

    let f = j.GetProperty("float_vs_integer")

    let floatHash =
        (json (ok [ "inspect"; path "float.tern"; "--json" ])).GetProperty("hash").GetString()

    Expect.equal (f.GetProperty("float_model").GetString()) floatHash "float_model"
    Expect.equal (f.GetProperty("over").GetString()) "all logits" "over"

    // The same inputs through both models, outputs saved as float32 (the integer ones dequantized).
    ok [
        "run"
        path "float.tern"
        "--input"
        path "radar"
        "--all-subjects"
        "--save-outputs"
        path "f.npy"
    ]
    |> ignore

    ok [
        "run"
        path "int8.tern"
        "--input"
        path "radar"
        "--all-subjects"
        "--save-outputs"
        path "q.npy"
        "--dequantize"
    ]
    |> ignore

    let load name =
        match Npy.read (path name) with
        | Ok { Values = Float32s v } -> v |> Array.map float
        | other -> failwith $"{name}: {other}"

    let fl, q = load "f.npy", load "q.npy"

    Expect.floatClose
        { absolute = 1e-5; relative = 0.0 }
        (f.GetProperty("l2r").GetDouble())
        (LogitOracle.l2r fl q)
        "l2r"

    Expect.floatClose
        { absolute = 1e-6; relative = 0.0 }
        (f.GetProperty("cosine").GetDouble())
        (LogitOracle.cosine fl q)
        "cosine"

    Expect.floatClose
        { absolute = 1e-12; relative = 0.0 }
        (f.GetProperty("top1_agreement").GetDouble())
        (float (LogitOracle.agreeing 5 fl q) / 100.0)
        "top1_agreement"

let private ``what does not apply exits 2 naming it`` () =
    let input = [ "run"; path "int8.tern"; "--input" ]
    refused (input @ [ path "radar"; "--subjects"; "1"; "--all-subjects" ]) "exclude each other"
    refused (input @ [ path "radar"; "--subjects"; "1,9" ]) "'9'"
    refused (input @ [ path "radar"; "--subjects"; "," ]) "--subjects"
    refused (input @ [ "random:5"; "--subjects"; "1" ]) "data set folder"
    refused (input @ [ "random:5"; "--all-subjects" ]) "data set folder"
    refused (input @ [ "random:5"; "--samples"; "3" ]) "--samples"
    refused (input @ [ path "radar"; "--samples"; "0" ]) "--samples"
    refused (input @ [ path "radar"; "--all-subjects"; "--samples"; "101" ]) "100 samples"
    refused (input @ [ path "radar"; "--seed"; "3" ]) "--seed"
    refused [ "run"; path "float.tern"; "--float"; path "float.tern" ] "float model"
    refused [ "run"; path "int8.tern"; "--float"; path "int8.tern" ] "integer model"

    // Another float model is not the parent lowering recorded.
    ok [
        "model"
        "new"
        "--arch"
        "default"
        "--seed"
        "9"
        "--out"
        path "stranger.tern"
    ]
    |> ignore

    refused [ "run"; path "int8.tern"; "--float"; path "stranger.tern" ] "not from this one"

    refused [ "hil"; "--model"; path "int8.tern"; "--subjects"; "1" ] "--data"
    refused [ "hil"; "--model"; path "int8.tern"; "--all-subjects" ] "--data"

    refused
        [
            "hil"
            "--model"
            path "int8.tern"
            "--data"
            path "radar"
            "--subjects"
            "1"
            "--all-subjects"
        ]
        "exclude each other"

    refused [ "hil"; "--model"; path "float.tern"; "--float"; path "float.tern" ] "float model"

let private ``hil on the training data runs the held-out subjects and reports what run reports`` () =
    EmulatedBoard.requireToolchain ()

    let common = [ "--samples"; "12"; "--seed"; "4"; "--float"; path "float.tern"; "--json" ]

    let hil =
        json (
            ok (
                [
                    "hil"
                    "--model"
                    path "int8.tern"
                    "--data"
                    path "radar"
                    "--cache"
                    path "cache"
                ]
                @ common
            )
        )

    let host = run ([ "--input"; path "radar" ] @ common |> List.filter ((<>) "--json"))
    Expect.equal (hil.GetProperty("mismatches").GetInt32()) 0 "mismatches"
    Expect.equal (hil.GetProperty("subject_choice").GetString()) "holdout" "subject_choice"
    Expect.equal (strings (hil.GetProperty("subjects"))) (strings (host.GetProperty("subjects"))) "subjects"
    hasMetrics hil 5 12

    for key in [ "accuracy"; "macro_f1"; "per_class"; "confusion"; "float_vs_integer" ] do
        Expect.equal (hil.GetProperty(key).GetRawText()) (host.GetProperty(key).GetRawText()) key

[<Tests>]
let tests =
    testSequenced
    <| testList "HeldOutCliTests" [
        testCase
            "train records the data's fingerprint and its validation subjects; inspect and lower keep them"
            ``train records the data's fingerprint and its validation subjects; inspect and lower keep them``
        testCase
            "run on the training data evaluates the held-out subjects by default"
            ``run on the training data evaluates the held-out subjects by default``
        testCase
            "--all-subjects, --subjects and other data evaluate what they say"
            ``--all-subjects, --subjects and other data evaluate what they say``
        testCase
            "--samples draws stratified by class and subject with the seed, never the first N"
            ``--samples draws stratified by class and subject with the seed, never the first N``
        testCase
            "--float gives top-1 agreement, L2r and cosine equal to a direct computation from saved outputs"
            ``--float gives top-1 agreement, L2r and cosine equal to a direct computation from saved outputs``
        testCase "what does not apply exits 2 naming it" ``what does not apply exits 2 naming it``
        testCase
            "hil on the training data runs the held-out subjects and reports what run reports"
            ``hil on the training data runs the held-out subjects and reports what run reports``
    ]
