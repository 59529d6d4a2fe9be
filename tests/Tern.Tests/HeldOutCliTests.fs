/// The command line of held-out truth and metrics: train records its held-out subjects, lower its parent; run and
/// hil evaluate the held-out subjects by default, or all, or the named ones, draw --samples stratified, report the
/// metrics and, with --float, the float-vs-integer figures; what does not apply exits 2.
module Tern.Tests.HeldOutCliTests

open System
open System.IO
open System.Text.Json
open NUnit.Framework
open Tern.Core
open Tern.Tests.CliTests
open Tern.Tests.Assertions

let private strings (e: JsonElement) =
    e.EnumerateArray() |> Seq.map (fun x -> x.GetString()) |> Seq.toList

[<NonParallelizable>]
type HeldOutCliTests() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-heldout-" + Guid.NewGuid().ToString("N"))

    let path name = Path.Combine(dir, name)
    let mutable trainJson = Unchecked.defaultof<JsonElement>

    let ok (args: string list) =
        let code, out, err = tern args
        let command = String.concat " " args
        Assert.That(code, Is.EqualTo 0, $"{command}: {err}")
        out

    /// Exit 2 with a message containing `text`.
    let refused (args: string list) (text: string) =
        let code, _, err = tern args
        let command = String.concat " " args
        Assert.That(code, Is.EqualTo 2, $"{command}: {err}")
        Assert.That(err, Does.Contain text, command)

    let data () =
        match Dataset.load (path "radar") with
        | Ok d -> d
        | Error e -> failwith e

    let holdoutSubjects () =
        trainJson.GetProperty("holdout").GetProperty("subjects") |> strings

    let run (extra: string list) =
        json (ok ([ "run"; path "int8.tern"; "--json" ] @ extra))

    [<OneTimeSetUp>]
    member _.Setup() =
        Directory.CreateDirectory dir |> ignore

        for name, seed in [ "radar", 3; "other", 4 ] do
            synth (path name) 5 4 seed

        trainJson <-
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

    [<OneTimeTearDown>]
    member _.TearDown() = Directory.Delete(dir, true)

    [<Test>]
    member _.``train records the data's fingerprint and its validation subjects; inspect and lower keep them``() =
        let h = trainJson.GetProperty("holdout")
        Assert.That(h.GetProperty("data").GetString(), Is.EqualTo(Dataset.fingerprint (data ())))
        Assert.That(holdoutSubjects (), eq (strings (trainJson.GetProperty("subjects"))))
        Assert.That(holdoutSubjects (), Is.Not.Empty)
        hasMetrics trainJson 5 (trainJson.GetProperty("valid_samples").GetInt32())

        let floatInfo = json (ok [ "inspect"; path "float.tern"; "--json" ])
        let intInfo = json (ok [ "inspect"; path "int8.tern"; "--json" ])

        for info in [ floatInfo; intInfo ] do
            let ih = info.GetProperty("holdout")
            Assert.That(ih.GetProperty("data").GetString(), Is.EqualTo(h.GetProperty("data").GetString()))
            Assert.That(strings (ih.GetProperty("subjects")), eq (holdoutSubjects ()))

        // lower records the float parent's hash.
        Assert.That(
            intInfo.GetProperty("meta").GetProperty("parent").GetString(),
            Is.EqualTo(floatInfo.GetProperty("hash").GetString())
        )

        let human = ok [ "inspect"; path "int8.tern" ]
        Assert.That(human, Does.Contain $"""holdout: subjects {String.Join(", ", holdoutSubjects ())}""")

    [<Test>]
    member _.``run on the training data evaluates the held-out subjects by default``() =
        let d = data ()
        let held = holdoutSubjects ()

        let expected =
            d.Subjects
            |> Array.filter (fun s -> List.contains (Dataset.subjectName d s) held)
            |> Array.length

        let j = run [ "--input"; path "radar" ]
        Assert.That(j.GetProperty("subject_choice").GetString(), Is.EqualTo "holdout")
        Assert.That(strings (j.GetProperty("subjects")), eq held)
        Assert.That(j.GetProperty("samples").GetInt32(), Is.EqualTo expected)
        hasMetrics j 5 expected

        let human = ok [ "run"; path "int8.tern"; "--input"; path "radar" ]
        Assert.That(human, Does.Contain "evaluating on the model's held-out subject")
        Assert.That(human, Does.Contain "confusion")

    [<Test>]
    member _.``--all-subjects, --subjects and other data evaluate what they say``() =
        let all = run [ "--input"; path "radar"; "--all-subjects" ]
        Assert.That(all.GetProperty("subject_choice").GetString(), Is.EqualTo "all")
        Assert.That(strings (all.GetProperty("subjects")), eq [ "0"; "1"; "2"; "3"; "4" ])
        hasMetrics all 5 100

        let some = run [ "--input"; path "radar"; "--subjects"; "2,0" ]
        Assert.That(some.GetProperty("subject_choice").GetString(), Is.EqualTo "given")
        Assert.That(strings (some.GetProperty("subjects")), eq [ "0"; "2" ])
        hasMetrics some 5 40

        let other = run [ "--input"; path "other" ]
        Assert.That(other.GetProperty("subject_choice").GetString(), Is.EqualTo "all")
        Assert.That(other.GetProperty("subject_choice_reason").GetString(), Does.Contain "not the data set")
        Assert.That(other.GetProperty("samples").GetInt32(), Is.EqualTo 100)

    [<Test>]
    member _.``--samples draws stratified by class and subject with the seed, never the first N``() =
        let draw seed =
            run [ "--input"; path "radar"; "--all-subjects"; "--samples"; "10"; "--seed"; seed ]

        let a = draw "2"
        Assert.That(a.GetProperty("samples").GetInt32(), Is.EqualTo 10)
        // Two per class; the first 10 samples would be subject 0's first two classes only.
        let support =
            a.GetProperty("per_class").EnumerateArray()
            |> Seq.map (fun c -> c.GetProperty("support").GetInt32())

        Assert.That(support, Is.All.EqualTo 2)
        Assert.That((strings (a.GetProperty("subjects"))).Length, Is.GreaterThan 1)
        // The same seed draws the same samples.
        let again = draw "2"

        for key in [ "subjects"; "predictions"; "confusion" ] do
            Assert.That(again.GetProperty(key).GetRawText(), Is.EqualTo(a.GetProperty(key).GetRawText()), key)

        let seeds =
            [ "1"; "2"; "3"; "4"; "5" ]
            |> List.map (fun s -> strings ((draw s).GetProperty("subjects")))
            |> List.distinct

        Assert.That(seeds.Length, Is.GreaterThan 1, "the seed chooses the draw")

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

        Assert.That(human, Does.Contain "drawn stratified by class and subject (seed 2)")

    [<Test>]
    member _.``--float gives top-1 agreement, L2r and cosine equal to a direct computation from saved outputs``() =
        let j =
            run [ "--input"; path "radar"; "--all-subjects"; "--float"; path "float.tern" ]

        let f = j.GetProperty("float_vs_integer")

        let floatHash =
            (json (ok [ "inspect"; path "float.tern"; "--json" ])).GetProperty("hash").GetString()

        Assert.That(f.GetProperty("float_model").GetString(), Is.EqualTo floatHash)
        Assert.That(f.GetProperty("over").GetString(), Is.EqualTo "all logits")

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
        Assert.That(f.GetProperty("l2r").GetDouble(), Is.EqualTo(LogitOracle.l2r fl q).Within(1e-5))
        Assert.That(f.GetProperty("cosine").GetDouble(), Is.EqualTo(LogitOracle.cosine fl q).Within(1e-6))

        Assert.That(
            f.GetProperty("top1_agreement").GetDouble(),
            Is.EqualTo(float (LogitOracle.agreeing 5 fl q) / 100.0).Within(1e-12)
        )

    [<Test>]
    member _.``what does not apply exits 2 naming it``() =
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

    [<Test>]
    member _.``hil on the training data runs the held-out subjects and reports what run reports``() =
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
        Assert.That(hil.GetProperty("mismatches").GetInt32(), Is.EqualTo 0)
        Assert.That(hil.GetProperty("subject_choice").GetString(), Is.EqualTo "holdout")
        Assert.That(strings (hil.GetProperty("subjects")), eq (strings (host.GetProperty("subjects"))))
        hasMetrics hil 5 12

        for key in [ "accuracy"; "macro_f1"; "per_class"; "confusion"; "float_vs_integer" ] do
            Assert.That(hil.GetProperty(key).GetRawText(), Is.EqualTo(host.GetProperty(key).GetRawText()), key)
