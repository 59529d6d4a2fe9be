module Tern.Tests.CliTests

open System
open System.IO
open System.Text.Json
open NUnit.Framework

/// Runs the `tern` entry point in-process, capturing stdout and stderr (CliNpyTests and ExportTests use it too;
/// the console is global, so their fixtures are NonParallelizable).
let tern (args: string list) : int * string * string =
    let out = new StringWriter()
    let err = new StringWriter()
    let oldOut, oldErr = Console.Out, Console.Error
    Console.SetOut out
    Console.SetError err

    try
        let code = Tern.Cli.Program.main (List.toArray args)
        code, out.ToString(), err.ToString()
    finally
        Console.SetOut oldOut
        Console.SetError oldErr

/// `data import csv` of a file with columns x,y,z, label column l and subject column s, at 50 Hz, into `out`.
let importXyz (csv: string) (out: string) : int * string * string =
    tern [
        "data"
        "import"
        "csv"
        "--in"
        csv
        "--columns"
        "x,y,z"
        "--label"
        "l"
        "--subject"
        "s"
        "--rate"
        "50"
        "--out"
        out
    ]

let json (text: string) = JsonDocument.Parse(text).RootElement

/// `tern data synth` of a small labelled data set into `out`; the run must succeed.
let synth (out: string) (subjects: int) (perClass: int) (seed: int) =
    let code, _, err =
        tern [
            "data"
            "synth"
            "--out"
            out
            "--subjects"
            string subjects
            "--per-class"
            string perClass
            "--seed"
            string seed
        ]

    Assert.That(code, Is.EqualTo 0, err)

/// The contract's metric keys: accuracy, macro_f1, per_class (one per class), confusion (k x k, rows summing to
/// the supports, all to the samples).
let hasMetrics (j: JsonElement) (classes: int) (samples: int) =
    Assert.That(j.GetProperty("accuracy").GetDouble(), Is.InRange(0.0, 1.0))
    Assert.That(j.GetProperty("macro_f1").GetDouble(), Is.InRange(0.0, 1.0))
    let perClass = j.GetProperty("per_class").EnumerateArray() |> Seq.toArray
    Assert.That(perClass.Length, Is.EqualTo classes)
    let c = j.GetProperty("confusion")
    Assert.That(c.GetProperty("classes").GetArrayLength(), Is.EqualTo classes)

    let rows =
        c.GetProperty("matrix").EnumerateArray()
        |> Seq.map (fun r -> r.EnumerateArray() |> Seq.map (fun x -> x.GetInt32()) |> Seq.toArray)
        |> Seq.toArray

    Assert.That(rows.Length, Is.EqualTo classes)
    Assert.That(rows |> Array.sumBy Array.sum, Is.EqualTo samples)

    for k in 0 .. classes - 1 do
        let p = perClass[k]
        let name = (c.GetProperty("classes")[k]).GetString()
        Assert.That(p.GetProperty("class").GetString(), Is.EqualTo name)
        Assert.That(p.GetProperty("support").GetInt32(), Is.EqualTo(Array.sum rows[k]))

        for key in [ "precision"; "recall"; "f1" ] do
            Assert.That(p.GetProperty(key).GetDouble(), Is.InRange(0.0, 1.0), key)

    let correct = Seq.init classes (fun k -> rows[k][k]) |> Seq.sum
    Assert.That(j.GetProperty("accuracy").GetDouble(), Is.EqualTo(float correct / float samples).Within(1e-12))

/// Runs an integer model on random inputs with --check: it must exit 0 with no disagreement between the runtimes.
let runsBitExact (model: string) (samples: int) =
    let code, out, err =
        tern [ "run"; model; "--input"; $"random:{samples}"; "--check"; "--json" ]

    Assert.That(code, Is.EqualTo 0, err)
    Assert.That((json out).GetProperty("mismatches").GetInt32(), Is.EqualTo 0)

[<NonParallelizable>]
type CliTests() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-cli-" + Guid.NewGuid().ToString("N"))

    let path name = Path.Combine(dir, name)

    [<OneTimeSetUp>]
    member _.Setup() =
        Directory.CreateDirectory dir |> ignore

        let code, _, err =
            tern [
                "model"
                "new"
                "--arch"
                "default"
                "--seed"
                "1"
                "--out"
                path "float.tern"
            ]

        Assert.That(code, Is.EqualTo 0, err)

    [<OneTimeTearDown>]
    member _.TearDown() = Directory.Delete(dir, true)

    [<Test>]
    member _.``inspect of the default model reports params, macs, peak bytes and layers``() =
        let code, out, err = tern [ "inspect"; path "float.tern"; "--json" ]
        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        Assert.That(j.GetProperty("params").GetInt32(), Is.InRange(2500, 3500))
        Assert.That(j.GetProperty("macs").GetInt64(), Is.GreaterThan 0L)
        Assert.That(j.GetProperty("peak_activation_bytes").GetInt32(), Is.GreaterThan 0)

        for l in j.GetProperty("layers").EnumerateArray() do
            for key in [ "name"; "kind"; "output_shape"; "params"; "macs" ] do
                Assert.That(l.TryGetProperty(key) |> fst, Is.True, key)

    [<Test>]
    member _.``lower to ternary, inspect weight bytes, and run check is bit-exact over 1000 inputs``() =
        let code, _, err =
            tern [
                "lower"
                path "float.tern"
                "--weights"
                "ternary"
                "--calib"
                "random:16"
                "--seed"
                "1"
                "--out"
                path "t2.tern"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let code, out, err = tern [ "inspect"; path "t2.tern"; "--json" ]
        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        let paramCount = j.GetProperty("params").GetInt32()

        let channels =
            j.GetProperty("layers").EnumerateArray()
            |> Seq.filter (fun l -> l.TryGetProperty("weights") |> fst)
            |> Seq.sumBy (fun l -> l.GetProperty("output_shape").[2].GetInt32())

        Assert.That(j.GetProperty("weight_bytes").GetInt32(), Is.LessThanOrEqualTo(paramCount / 4 + 9 * channels + 16))

        let code, out, err =
            tern [
                "run"
                path "t2.tern"
                "--input"
                "random:1000"
                "--seed"
                "3"
                "--check"
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        Assert.That(j.GetProperty("samples").GetInt32(), Is.EqualTo 1000)
        Assert.That(j.GetProperty("mismatches").GetInt32(), Is.EqualTo 0)

    [<Test>]
    member _.``int8 lowering runs bit-exact too``() =
        let code, _, err =
            tern [ "lower"; path "float.tern"; "--weights"; "int8"; "--out"; path "s8.tern" ]

        Assert.That(code, Is.EqualTo 0, err)

        runsBitExact (path "s8.tern") 200

    [<Test>]
    member _.``a malformed model file exits 2 naming the problem``() =
        File.WriteAllText(path "junk.tern", "this is not a model")
        let code, _, err = tern [ "inspect"; path "junk.tern" ]
        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain "junk.tern")
        let bytes = File.ReadAllBytes(path "float.tern")
        File.WriteAllBytes(path "cut.tern", bytes[.. bytes.Length / 2])
        let code, _, err = tern [ "inspect"; path "cut.tern" ]
        Assert.That(code, Is.EqualTo 2)
        Assert.That(err.ToLowerInvariant(), Does.Contain "truncated")

    [<Test>]
    member _.``bad options exit 2``() =
        let code, _, _ =
            tern [ "lower"; path "float.tern"; "--weights"; "int4"; "--out"; path "x.tern" ]

        Assert.That(code, Is.EqualTo 2)
        let code, _, err = tern [ "run"; path "float.tern"; "--input"; "random:0" ]
        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain "random:0")
        let code, _, err = tern [ "model"; "new"; "--arch"; "huge"; "--out"; path "h.tern" ]
        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain "huge")
        let code, _, _ = tern [ "frobnicate" ]
        Assert.That(code, Is.EqualTo 2)

    [<Test>]
    member _.``run takes a float model through the float reference, but --check on it is refused with exit 2``() =
        let code, out, err =
            tern [ "run"; path "float.tern"; "--input"; "random:2"; "--json" ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That((json out).GetProperty("kind").GetString(), Is.EqualTo "float")

        let code, _, err =
            tern [ "run"; path "float.tern"; "--input"; "random:2"; "--check" ]

        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain "float model")

    [<Test>]
    member _.``run --html writes the report of a labelled run; an --html it cannot write exits 2 before any work``() =
        synth (path "html-data") 2 2 1

        let code, out, err =
            tern [
                "run"
                path "float.tern"
                "--input"
                path "html-data"
                "--html"
                path "run.html"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That(out, Does.Contain "accuracy")
        Assert.That(HtmlReportTests.chartIds (path "run.html"), Does.Contain "predictions")

        let code, _, err =
            tern [ "run"; path "float.tern"; "--input"; "random:2"; "--html"; dir ]

        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain "--html")

    [<Test>]
    member _.``hil with a data set reports accuracy from the device's answers``() =
        EmulatedBoard.requireToolchain ()

        let rng = Random(3)
        let shape = Tern.Runtime.Shape3(64, 64, 1)

        let data: Tern.Core.Dataset = {
            Shape = shape
            Classes = [ "jogging"; "jumping"; "situp"; "waving"; "other" ]
            Samples = Array.init 6 (fun _ -> Array.init shape.Size (fun _ -> float32 (rng.NextDouble())))
            Labels = [| 0; 1; 2; 3; 4; 0 |]
            Subjects = [| 0; 0; 1; 1; 2; 2 |]
            SubjectNames = []
            Source = "random test data"
            Augment = Tern.Core.NoAugmentation
        }

        Tern.Core.Dataset.save (path "data") data

        let code, _, err = tern [ "lower"; path "float.tern"; "--out"; path "hil.tern" ]
        Assert.That(code, Is.EqualTo 0, err)

        let code, out, err =
            tern [
                "hil"
                "--model"
                path "hil.tern"
                "--data"
                path "data"
                "--cache"
                path "cache"
                "--json"
                "--html"
                path "hil.html"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        Assert.That(j.GetProperty("samples").GetInt32(), Is.EqualTo 6)
        Assert.That(File.ReadAllText(path "hil.html"), Does.Contain "Tern hil report")
        Assert.That(j.GetProperty("mismatches").GetInt32(), Is.EqualTo 0)
        Assert.That(j.GetProperty("accuracy").GetDouble(), Is.InRange(0.0, 1.0))

    [<Test>]
    member _.``data import csv writes both forms, data info counts them, bad rows exit 2``() =
        let csv = path "rec.csv"

        let rows = [
            for i in 0..299 ->
                let label = if i < 150 then "rest" else "move"
                $"{i * 10},{sin (float i * 0.3):F4},{cos (float i * 0.2):F4},{label},{1 + i / 100}"
        ]

        File.WriteAllLines(csv, "t,x,y,activity,subject" :: rows)

        let code, out, err =
            tern [
                "data"
                "import"
                "csv"
                "--in"
                csv
                "--columns"
                "x,y"
                "--label"
                "activity"
                "--subject"
                "subject"
                "--rate"
                "100"
                "--time"
                "t"
                "--out"
                path "csvdata"
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        let count = j.GetProperty("raw").GetProperty("count").GetInt32()
        Assert.That(count, Is.GreaterThan 0)
        let code, out, err = tern [ "data"; "info"; path "csvdata/spectrogram"; "--json" ]
        Assert.That(code, Is.EqualTo 0, err)
        Assert.That((json out).GetProperty("count").GetInt32(), Is.EqualTo count)
        File.WriteAllLines(path "bad.csv", [ "t,x,y,activity,subject"; "0,1,2,rest,1"; "10,oops,2,rest,1" ])

        let code, _, err =
            tern [
                "data"
                "import"
                "csv"
                "--in"
                path "bad.csv"
                "--columns"
                "x,y"
                "--label"
                "activity"
                "--subject"
                "subject"
                "--rate"
                "100"
                "--time"
                "t"
                "--out"
                path "baddata"
            ]

        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain("bad.csv").And.Contain("row 3"))

    [<Test>]
    member _.``data synth then train writes a float model and reports held-out accuracy``() =
        let code, out, err =
            tern [
                "data"
                "synth"
                "--out"
                path "radar"
                "--subjects"
                "3"
                "--per-class"
                "4"
                "--seed"
                "2"
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That((json out).GetProperty("count").GetInt32(), Is.EqualTo 60)

        let code, out, err =
            tern [
                "train"
                "--data"
                path "radar"
                "--out"
                path "trained.tern"
                "--epochs"
                "2"
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        Assert.That(j.GetProperty("valid_accuracy").GetDouble(), Is.InRange(0.0, 1.0))
        Assert.That(j.GetProperty("epochs").GetInt32(), Is.EqualTo 2)
        let code, out, err = tern [ "inspect"; path "trained.tern"; "--json" ]
        Assert.That(code, Is.EqualTo 0, err)
        Assert.That((json out).GetProperty("kind").GetString(), Is.EqualTo "float")

    [<Test>]
    member _.``train --qat ternary writes an integer model; study ternary reports folds and means``() =
        synth (path "tiny") 4 2 5

        let code, out, err =
            tern [
                "train"
                "--data"
                path "tiny"
                "--out"
                path "qat.tern"
                "--epochs"
                "1"
                "--qat"
                "ternary"
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That((json out).GetProperty("sparsity").GetDouble(), Is.GreaterThanOrEqualTo 0.45)
        let code, out, err = tern [ "inspect"; path "qat.tern"; "--json" ]
        Assert.That(code, Is.EqualTo 0, err)
        Assert.That((json out).GetProperty("kind").GetString(), Is.EqualTo "integer")

        let code, out, err =
            tern [
                "study"
                "ternary"
                "--data"
                path "tiny"
                "--folds"
                "2"
                "--epochs"
                "1"
                "--json"
                "--html"
                path "ternary.html"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        Assert.That(j.GetProperty("folds").GetArrayLength(), Is.EqualTo 2)
        // The final model: both folds' ternary models on their test subjects, every sample once.
        hasMetrics j 5 40
        Assert.That(j.GetProperty("final_model").GetString(), Does.Contain "pooled")

        Assert.That(
            HtmlReportTests.chartIds (path "ternary.html"),
            Is.SupersetOf [ "ternary-sparsity"; "ternary-folds" ]
        )

        for key in
            [
                "mean_fp32_accuracy"
                "mean_ternary_accuracy"
                "mean_sparsity"
                "mean_fp32_macro_f1"
                "mean_ternary_macro_f1"
            ] do
            Assert.That(j.TryGetProperty(key) |> fst, Is.True, key)

        for f in j.GetProperty("folds").EnumerateArray() do
            for key in [ "fp32_accuracy"; "ternary_accuracy"; "ternary_macro_f1"; "sparsity" ] do
                Assert.That(f.TryGetProperty(key) |> fst, Is.True, key)

    [<Test>]
    member _.``train --prune, study prune and study search report their keys; bad specs exit 2``() =
        synth (path "prune") 4 3 6

        let code, out, err =
            tern [
                "train"
                "--data"
                path "prune"
                "--arch"
                "plain"
                "--epochs"
                "1"
                "--prune"
                "low:0.7"
                "--out"
                path "pruned.tern"
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let p = (json out).GetProperty("prune")
        Assert.That(p.GetProperty("params_reduction").GetDouble(), Is.GreaterThan 0.85)
        Assert.That(p.GetProperty("criterion").GetString(), Is.EqualTo "low")

        let code, out, err =
            tern [
                "study"
                "prune"
                "--data"
                path "prune"
                "--criteria"
                "l1,low"
                "--ratios"
                "0.7"
                "--folds"
                "2"
                "--epochs"
                "1"
                "--fine-tune"
                "1"
                "--json"
                "--html"
                path "prune.html"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let rows = (json out).GetProperty("rows")
        Assert.That(rows.GetArrayLength(), Is.EqualTo 2)
        hasMetrics (json out) 5 60
        Assert.That((json out).GetProperty("final_model").GetString(), Does.StartWith "low at ratio 0.7")
        Assert.That(HtmlReportTests.chartIds (path "prune.html"), Is.SupersetOf [ "prune-accuracy"; "prune-reduction" ])

        for r in rows.EnumerateArray() do
            for key in
                [
                    "criterion"
                    "ratio"
                    "baseline_accuracy"
                    "pruned_accuracy"
                    "accuracy_drop"
                    "flops_reduction"
                    "params_reduction"
                ] do
                Assert.That(r.TryGetProperty(key) |> fst, Is.True, key)

        let code, out, err =
            tern [
                "study"
                "search"
                "--data"
                path "prune"
                "--epochs"
                "1"
                "--fine-tune"
                "1"
                "--sparsity-step"
                "0.3"
                "--out"
                path "searched.tern"
                "--json"
                "--html"
                path "search.html"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        hasMetrics j 5 (j.GetProperty("validation_samples").GetInt32())
        Assert.That(HtmlReportTests.chartIds (path "search.html"), Is.SupersetOf [ "search-blocks"; "search-sparsity" ])

        for key in
            [
                "b_star"
                "r_star"
                "accuracy"
                "evaluations"
                "linear_evaluations"
                "target"
            ] do
            Assert.That(j.TryGetProperty(key) |> fst, Is.True, key)

        // The searched float model goes on to quantization-aware training.
        let code, out, err =
            tern [
                "train"
                "--data"
                path "prune"
                "--init"
                path "searched.tern"
                "--epochs"
                "1"
                "--qat"
                "ternary"
                "--out"
                path "searched-t2.tern"
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That((json out).GetProperty("qat").GetString(), Is.EqualTo "ternary")

        for stage in [ "block_search"; "sparsity_search" ] do
            let s = j.GetProperty(stage)

            Assert.That(
                s.GetProperty("linear_evaluations").GetInt32(),
                Is.EqualTo(s.GetProperty("grid_size").GetInt32())
            )

            Assert.That(
                s.GetProperty("evaluations").GetInt32(),
                Is.LessThanOrEqualTo(s.GetProperty("bound").GetInt32())
            )

        for args, what in
            [
                [
                    "train"
                    "--data"
                    path "prune"
                    "--out"
                    path "x.tern"
                    "--prune"
                    "median:0.5"
                ],
                "median"
                [
                    "train"
                    "--data"
                    path "prune"
                    "--out"
                    path "x.tern"
                    "--prune"
                    "low:1.5"
                ],
                "low:1.5"
                [ "study"; "prune"; "--data"; path "prune"; "--ratios"; "0.7,x" ], "'x'"
                [ "study"; "prune"; "--data"; path "prune"; "--criteria"; "l2" ], "l2"
                [ "study"; "search"; "--data"; path "prune"; "--arch"; "plain" ], "residual"
                [ "study"; "search"; "--data"; path "prune"; "--tolerance"; "wide:3" ], "wide:3"
                [ "study"; "search"; "--data"; path "prune"; "--repack"; "1.5" ], "--repack"
                [
                    "train"
                    "--data"
                    path "prune"
                    "--out"
                    path "x.tern"
                    "--init"
                    path "searched.tern"
                    "--arch"
                    "plain"
                ],
                "exclude"
                [
                    "train"
                    "--data"
                    path "prune"
                    "--out"
                    path "x.tern"
                    "--init"
                    path "searched-t2.tern"
                ],
                "integer"
            ] do
            let code, _, err = tern args
            Assert.That(code, Is.EqualTo 2, what)
            Assert.That(err, Does.Contain what)

    [<Test>]
    member _.``train --qat int8 writes an int8 integer model whose activation ranges were learned``() =
        synth (path "tiny8") 4 2 6

        let code, out, err =
            tern [
                "train"
                "--data"
                path "tiny8"
                "--out"
                path "qat8.tern"
                "--epochs"
                "1"
                "--qat"
                "int8"
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        Assert.That(j.GetProperty("qat").GetString(), Is.EqualTo "int8")
        Assert.That(j.GetProperty("valid_accuracy").GetDouble(), Is.InRange(0.0, 1.0))

        let model =
            match Tern.Core.ModelFile.load (path "qat8.tern") with
            | Ok(Tern.Core.IntegerModel m) -> m
            | Ok _ -> failwith "expected an integer model"
            | Error e -> failwith e

        let convs =
            model.Layers
            |> Array.choose (function
                | :? Tern.Runtime.IntConvLayer as c -> Some c
                | _ -> None)

        Assert.That(convs.Length, Is.GreaterThan 0)

        for c in convs do
            Assert.That(c.WeightKind, Is.EqualTo Tern.Runtime.WeightKind.Int8, c.Name)

    [<Test>]
    member _.``study gamma reports every method per bit depth; bad bits, folders and shapes exit 2``() =
        let rng = Random(4)

        let raw: Tern.Core.Dataset = {
            Shape = Tern.Runtime.Shape3(1, 16, 3)
            Classes = [ "a"; "b" ]
            Samples =
                Array.init 48 (fun i ->
                    Array.init 48 (fun j ->
                        float32 (0.4 * float (i % 2) * sin (float j) + 0.1 * (rng.NextDouble() - 0.5))))
            Labels = Array.init 48 (fun i -> i % 2)
            Subjects = Array.init 48 (fun i -> i / 12)
            SubjectNames = []
            Source = "test"
            Augment = Tern.Core.NoAugmentation
        }

        Tern.Core.Dataset.save (path "raw") raw

        let code, out, err =
            tern [
                "study"
                "gamma"
                "--data"
                path "raw"
                "--bits"
                "2"
                "--folds"
                "2"
                "--epochs"
                "1"
                "--json"
                "--html"
                path "gamma.html"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        let rows = j.GetProperty("results").EnumerateArray() |> Seq.toList
        Assert.That(HtmlReportTests.chartIds (path "gamma.html"), Is.SupersetOf [ "gamma-f1"; "gamma-accuracy" ])

        Assert.That(
            rows |> List.map (fun r -> r.GetProperty("method").GetString()),
            Is.EqualTo(box [ "raw"; "linear"; "gamma-global"; "gamma-per-axis" ])
        )

        Assert.That(rows.Head.GetProperty("bits").ValueKind, Is.EqualTo JsonValueKind.Null)
        Assert.That(rows[1].GetProperty("bits").GetInt32(), Is.EqualTo 2)

        for r in rows do
            Assert.That(r.GetProperty("macro_f1").GetDouble(), Is.InRange(0.0, 1.0))
            Assert.That(r.GetProperty("accuracy").GetDouble(), Is.InRange(0.0, 1.0))

        // The final model is the last row's, its pooled macro-F1 the row's.
        hasMetrics j 2 48
        Assert.That(j.GetProperty("final_model").GetString(), Does.StartWith "gamma-per-axis at 2 bits")

        Assert.That(
            j.GetProperty("macro_f1").GetDouble(),
            Is.EqualTo(rows[3].GetProperty("pooled_macro_f1").GetDouble()).Within(1e-12)
        )

        let g = j.GetProperty("gamma").GetProperty("2")
        Assert.That(g.GetProperty("gamma-global").ValueKind, Is.EqualTo JsonValueKind.Number)
        Assert.That(g.GetProperty("gamma-per-axis").GetArrayLength(), Is.EqualTo 3)
        Assert.That(j.GetProperty("mu").GetProperty("2").GetProperty("gamma-per-axis").GetArrayLength(), Is.EqualTo 3)
        Assert.That(j.GetProperty("seconds").GetDouble(), Is.GreaterThanOrEqualTo 0.0)

        for bits in [ "0"; "17"; "2,x"; "" ] do
            let code, _, err = tern [ "study"; "gamma"; "--data"; path "raw"; "--bits"; bits ]
            Assert.That(code, Is.EqualTo 2, bits)
            Assert.That(err, Does.Contain "--bits", bits)

        let code, _, err = tern [ "study"; "gamma"; "--data"; path "no-such-folder" ]
        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain "no such folder")

        synth (path "spectra") 2 1 1

        let code, _, err =
            tern [ "study"; "gamma"; "--data"; path "spectra"; "--folds"; "2" ]

        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain "1 x W x C")

    [<Test>]
    member _.``study codec reports every method per bit depth on a data folder; bad bits, split and group exit 2``() =
        // Windows of one smooth random scene every column: consecutive samples are shifted copies.
        let rng = Random(6)
        let scene = Array2D.init 16 60 (fun _ _ -> float32 (rng.NextDouble()))
        let shape = Tern.Runtime.Shape3(16, 16, 1)

        let stream: Tern.Core.Dataset = {
            Shape = shape
            Classes = [ "a"; "b" ]
            Samples = Array.init 40 (fun t -> Array.init 256 (fun i -> scene[i / 16, (t % 20) * 2 + i % 16]))
            Labels = Array.init 40 (fun t -> t / 20)
            Subjects = Array.zeroCreate 40
            SubjectNames = []
            Source = "test"
            Augment = Tern.Core.NoAugmentation
        }

        Tern.Core.Dataset.save (path "stream") stream
        Tern.Core.ModelFile.saveFloat (path "small.tern") (Tern.Core.Architectures.defaultFor shape stream.Classes 2)

        let study extra =
            tern (
                [ "study"; "codec"; "--data"; path "stream"; "--model"; path "small.tern" ]
                @ extra
            )

        let code, out, err =
            study [ "--bits"; "4,8"; "--json"; "--html"; path "codec.html" ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        Assert.That(HtmlReportTests.chartIds (path "codec.html"), Is.SupersetOf [ "codec-bytes"; "codec-ratio" ])
        Assert.That(j.GetProperty("split").GetInt32(), Is.EqualTo 2)
        Assert.That(j.GetProperty("feature_map").GetArrayLength(), Is.EqualTo 3)
        Assert.That(j.GetProperty("frames").GetInt32(), Is.EqualTo 40)
        Assert.That(j.GetProperty("streams").GetInt32(), Is.EqualTo 2)
        Assert.That(j.GetProperty("baseline_accuracy").GetDouble(), Is.InRange(0.0, 1.0))
        hasMetrics j 2 40

        Assert.That(
            j.GetProperty("accuracy").GetDouble(),
            Is.EqualTo(j.GetProperty("baseline_accuracy").GetDouble()).Within(1e-12)
        )

        let rows = j.GetProperty("rows").EnumerateArray() |> Seq.toList
        Assert.That(rows, Has.Length.EqualTo(1 + 9 * 2))
        Assert.That(rows.Head.GetProperty("method").GetString(), Is.EqualTo "raw float")
        Assert.That(rows.Head.GetProperty("bits").ValueKind, Is.EqualTo JsonValueKind.Null)

        for r in rows do
            for key in
                [
                    "ratio_vs_float32"
                    "ratio_vs_int8"
                    "accuracy"
                    "accuracy_drop"
                    "top1_agreement"
                    "bits_per_frame"
                ] do
                Assert.That(r.GetProperty(key).ValueKind, Is.EqualTo JsonValueKind.Number, key)

        Assert.That(
            rows |> List.map (fun r -> r.GetProperty("method").GetString()) |> List.distinct,
            Is.EqualTo(
                box [
                    "raw float"
                    "uniform"
                    "uniform+ZVC"
                    "uniform+Huffman"
                    "uni-TSS"
                    "uni-TSS+ZVC"
                    "uni-TSS+Huffman"
                    "bi-TSS"
                    "bi-TSS+ZVC"
                    "bi-TSS+Huffman"
                ]
            )
        )

        for bits in [ "1"; "9"; "4,x"; "" ] do
            let code, _, err = tern [ "study"; "codec"; "--bits"; bits ]
            Assert.That(code, Is.EqualTo 2, bits)
            Assert.That(err, Does.Contain "--bits", bits)

        for extra in
            [
                [ "--split"; "0" ]
                [ "--split"; "9" ]
                [ "--group"; "2" ]
                [ "--group"; "x" ]
            ] do
            let code, _, _ = study extra
            Assert.That(code, Is.EqualTo 2, String.concat " " extra)

        let code, _, err = tern [ "study"; "codec"; "--data"; path "no-such-folder" ]
        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain "no such folder")

    [<Test>]
    member _.``hil --profile does not apply with --split: exit 2 naming both``() =
        let code, _, err =
            tern [
                "hil"
                "--model"
                "default"
                "--profile"
                "--split"
                "2"
                "--samples"
                "1"
                "--cache"
                path "cache"
            ]

        Assert.That(code, Is.EqualTo 2, err)
        Assert.That(err, Does.Contain "--profile")
        Assert.That(err, Does.Contain "--split")
