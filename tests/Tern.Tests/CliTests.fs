module Tern.Tests.CliTests

open System
open System.IO
open System.Text.Json
open Expecto

/// Runs the `tern` entry point in-process, capturing stdout and stderr (CliNpyTests and ExportTests use it too;
/// the console is global, so their test lists are sequenced).
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

    Expect.equal code 0 err

/// The contract's metric keys: accuracy, macro_f1, per_class (one per class), confusion (k x k, rows summing to
/// the supports, all to the samples).
let hasMetrics (j: JsonElement) (classes: int) (samples: int) =
    Expect.isGreaterThanOrEqual (j.GetProperty("accuracy").GetDouble()) 0.0 "accuracy"
    Expect.isLessThanOrEqual (j.GetProperty("accuracy").GetDouble()) 1.0 "accuracy"
    Expect.isGreaterThanOrEqual (j.GetProperty("macro_f1").GetDouble()) 0.0 "macro_f1"
    Expect.isLessThanOrEqual (j.GetProperty("macro_f1").GetDouble()) 1.0 "macro_f1"
    let perClass = j.GetProperty("per_class").EnumerateArray() |> Seq.toArray
    Expect.equal perClass.Length classes "per_class entries"
    let c = j.GetProperty("confusion")
    Expect.equal (c.GetProperty("classes").GetArrayLength()) classes "classes"

    let rows =
        c.GetProperty("matrix").EnumerateArray()
        |> Seq.map (fun r -> r.EnumerateArray() |> Seq.map (fun x -> x.GetInt32()) |> Seq.toArray)
        |> Seq.toArray

    Expect.equal rows.Length classes "confusion rows"
    Expect.equal (rows |> Array.sumBy Array.sum) samples "confusion total"

    for k in 0 .. classes - 1 do
        let p = perClass[k]
        let name = (c.GetProperty("classes")[k]).GetString()
        Expect.equal (p.GetProperty("class").GetString()) name "class"
        Expect.equal (p.GetProperty("support").GetInt32()) (Array.sum rows[k]) "support"

        for key in [ "precision"; "recall"; "f1" ] do
            Expect.isGreaterThanOrEqual (p.GetProperty(key).GetDouble()) 0.0 key
            Expect.isLessThanOrEqual (p.GetProperty(key).GetDouble()) 1.0 key

    let correct = Seq.init classes (fun k -> rows[k][k]) |> Seq.sum

    Expect.floatClose
        { absolute = 1e-12; relative = 0.0 }
        (j.GetProperty("accuracy").GetDouble())
        (float correct / float samples)
        "accuracy"

/// Runs an integer model on random inputs with --check: it must exit 0 with no disagreement between the runtimes.
let runsBitExact (model: string) (samples: int) =
    let code, out, err =
        tern [ "run"; model; "--input"; $"random:{samples}"; "--check"; "--json" ]

    Expect.equal code 0 err
    Expect.equal ((json out).GetProperty("mismatches").GetInt32()) 0 "mismatches"

/// The fixture: a folder holding the default float model (seed 1), made once for the tests below.
let private fixture =
    lazy
        (let dir = Scratch.folder "tern-cli"

         let code, _, err =
             tern [
                 "model"
                 "new"
                 "--arch"
                 "default"
                 "--seed"
                 "1"
                 "--out"
                 Path.Combine(dir, "float.tern")
             ]

         Expect.equal code 0 err
         dir)

let private path name = Path.Combine(fixture.Force(), name)

let private ``inspect of the default model reports params, macs, peak bytes and layers`` () =
    let code, out, err = tern [ "inspect"; path "float.tern"; "--json" ]
    Expect.equal code 0 err
    let j = json out
    Expect.isGreaterThanOrEqual (j.GetProperty("params").GetInt32()) 2500 "params"
    Expect.isLessThanOrEqual (j.GetProperty("params").GetInt32()) 3500 "params"
    Expect.isGreaterThan (j.GetProperty("macs").GetInt64()) 0L "macs"
    Expect.isGreaterThan (j.GetProperty("peak_activation_bytes").GetInt32()) 0 "peak_activation_bytes"

    for l in j.GetProperty("layers").EnumerateArray() do
        for key in [ "name"; "kind"; "output_shape"; "params"; "macs" ] do
            Expect.isTrue (l.TryGetProperty(key) |> fst) key

let private ``lower to ternary, inspect weight bytes, and run check is bit-exact over 1000 inputs`` () =
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

    Expect.equal code 0 err
    let code, out, err = tern [ "inspect"; path "t2.tern"; "--json" ]
    Expect.equal code 0 err
    let j = json out
    let paramCount = j.GetProperty("params").GetInt32()

    let channels =
        j.GetProperty("layers").EnumerateArray()
        |> Seq.filter (fun l -> l.TryGetProperty("weights") |> fst)
        |> Seq.sumBy (fun l -> l.GetProperty("output_shape").[2].GetInt32())

    Expect.isLessThanOrEqual
        (j.GetProperty("weight_bytes").GetInt32())
        (paramCount / 4 + 9 * channels + 16)
        "weight_bytes"

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

    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("samples").GetInt32()) 1000 "samples"
    Expect.equal (j.GetProperty("mismatches").GetInt32()) 0 "mismatches"

let private ``int8 lowering runs bit-exact too`` () =
    let code, _, err =
        tern [ "lower"; path "float.tern"; "--weights"; "int8"; "--out"; path "s8.tern" ]

    Expect.equal code 0 err

    runsBitExact (path "s8.tern") 200

let private ``a ternary model with an int8 first layer lowers, shows its kinds and runs bit-exact`` () =
    let code, _, err =
        tern [ "lower"; path "float.tern"; "--int8-layers"; "0"; "--out"; path "mixed.tern" ]

    Expect.equal code 0 err
    let code, out, err = tern [ "inspect"; path "mixed.tern"; "--json" ]
    Expect.equal code 0 err

    let kinds =
        (json out).GetProperty("layers").EnumerateArray()
        |> Seq.choose (fun l ->
            match l.TryGetProperty "weights" with
            | true, w -> Some(w.GetString())
            | _ -> None)
        |> List.ofSeq

    Expect.equal kinds.Head "int8" $"the first layer's weights: {kinds}"
    Expect.isTrue (kinds.Tail |> List.forall ((=) "ternary")) $"the others ternary: {kinds}"
    runsBitExact (path "mixed.tern") 200

    let code, _, err =
        tern [ "lower"; path "float.tern"; "--int8-layers"; "9"; "--out"; path "bad.tern" ]

    Expect.equal code 2 err
    Expect.stringContains err "'9' is not a conv/dense layer position (0..3)" "names the range"

    let code, _, err =
        tern [
            "lower"
            path "float.tern"
            "--weights"
            "int8"
            "--int8-layers"
            "0"
            "--out"
            path "bad.tern"
        ]

    Expect.equal code 2 err
    Expect.stringContains err "--int8-layers applies to --weights ternary" "refused, not ignored"
    Expect.isFalse (File.Exists(path "bad.tern")) "nothing written"

let private ``a malformed model file exits 2 naming the problem`` () =
    File.WriteAllText(path "junk.tern", "this is not a model")
    let code, _, err = tern [ "inspect"; path "junk.tern" ]
    Expect.equal code 2 "exit code"
    Expect.stringContains err "junk.tern" "stderr"
    let bytes = File.ReadAllBytes(path "float.tern")
    File.WriteAllBytes(path "cut.tern", bytes[.. bytes.Length / 2])
    let code, _, err = tern [ "inspect"; path "cut.tern" ]
    Expect.equal code 2 "exit code"
    Expect.stringContains (err.ToLowerInvariant()) "truncated" "stderr"

let private ``bad options exit 2`` () =
    let code, _, _ =
        tern [ "lower"; path "float.tern"; "--weights"; "int4"; "--out"; path "x.tern" ]

    Expect.equal code 2 "exit code"
    let code, _, err = tern [ "run"; path "float.tern"; "--input"; "random:0" ]
    Expect.equal code 2 "exit code"
    Expect.stringContains err "random:0" "stderr"
    let code, _, err = tern [ "model"; "new"; "--arch"; "huge"; "--out"; path "h.tern" ]
    Expect.equal code 2 "exit code"
    Expect.stringContains err "huge" "stderr"
    let code, _, _ = tern [ "frobnicate" ]
    Expect.equal code 2 "exit code"

let private ``run takes a float model through the float reference, but --check on it is refused with exit 2`` () =
    let code, out, err =
        tern [ "run"; path "float.tern"; "--input"; "random:2"; "--json" ]

    Expect.equal code 0 err
    Expect.equal ((json out).GetProperty("kind").GetString()) "float" "kind"

    let code, _, err =
        tern [ "run"; path "float.tern"; "--input"; "random:2"; "--check" ]

    Expect.equal code 2 "exit code"
    Expect.stringContains err "float model" "stderr"

let private ``run --html writes the report of a labelled run; an --html it cannot write exits 2 before any work`` () =
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

    Expect.equal code 0 err
    Expect.stringContains out "accuracy" "stdout"
    Expect.contains (HtmlReportTests.chartIds (path "run.html")) "predictions" "run.html charts"

    let code, _, err =
        tern [ "run"; path "float.tern"; "--input"; "random:2"; "--html"; fixture.Force() ]

    Expect.equal code 2 "exit code"
    Expect.stringContains err "--html" "stderr"

let private ``hil with a data set reports accuracy from the device's answers`` () =
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
    Expect.equal code 0 err

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

    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("samples").GetInt32()) 6 "samples"
    Expect.stringContains (File.ReadAllText(path "hil.html")) "Tern hil report" "hil.html"
    Expect.equal (j.GetProperty("mismatches").GetInt32()) 0 "mismatches"
    Expect.isGreaterThanOrEqual (j.GetProperty("accuracy").GetDouble()) 0.0 "accuracy"
    Expect.isLessThanOrEqual (j.GetProperty("accuracy").GetDouble()) 1.0 "accuracy"

let private ``data import csv writes both forms, data info counts them, bad rows exit 2`` () =
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

    Expect.equal code 0 err
    let j = json out
    let count = j.GetProperty("raw").GetProperty("count").GetInt32()
    Expect.isGreaterThan count 0 "raw.count"
    let code, out, err = tern [ "data"; "info"; path "csvdata/spectrogram"; "--json" ]
    Expect.equal code 0 err
    Expect.equal ((json out).GetProperty("count").GetInt32()) count "count"
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

    Expect.equal code 2 "exit code"
    Expect.stringContains err "bad.csv" "stderr"
    Expect.stringContains err "row 3" "stderr"

let private ``data synth then train writes a float model and reports held-out accuracy`` () =
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

    Expect.equal code 0 err
    Expect.equal ((json out).GetProperty("count").GetInt32()) 60 "count"

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

    Expect.equal code 0 err
    let j = json out
    Expect.isGreaterThanOrEqual (j.GetProperty("valid_accuracy").GetDouble()) 0.0 "valid_accuracy"
    Expect.isLessThanOrEqual (j.GetProperty("valid_accuracy").GetDouble()) 1.0 "valid_accuracy"
    Expect.equal (j.GetProperty("epochs").GetInt32()) 2 "epochs"
    let code, out, err = tern [ "inspect"; path "trained.tern"; "--json" ]
    Expect.equal code 0 err
    Expect.equal ((json out).GetProperty("kind").GetString()) "float" "kind"

let private ``train --qat ternary writes an integer model; study ternary reports folds and means`` () =
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
            // every layer ternary (the automatic choice may keep a first layer int8, never pruned)
            "--arch"
            "default"
            "--json"
        ]

    Expect.equal code 0 err
    Expect.isGreaterThanOrEqual ((json out).GetProperty("sparsity").GetDouble()) 0.45 "sparsity"
    let code, out, err = tern [ "inspect"; path "qat.tern"; "--json" ]
    Expect.equal code 0 err
    Expect.equal ((json out).GetProperty("kind").GetString()) "integer" "kind"

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

    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("folds").GetArrayLength()) 2 "folds"
    // The final model: both folds' ternary models on their test subjects, every sample once.
    hasMetrics j 5 40
    Expect.stringContains (j.GetProperty("final_model").GetString()) "pooled" "final_model"

    Expect.containsAll
        (HtmlReportTests.chartIds (path "ternary.html"))
        [ "ternary-sparsity"; "ternary-folds" ]
        "ternary.html charts"

    for key in
        [
            "mean_fp32_accuracy"
            "mean_ternary_accuracy"
            "mean_sparsity"
            "mean_fp32_macro_f1"
            "mean_ternary_macro_f1"
        ] do
        Expect.isTrue (j.TryGetProperty(key) |> fst) key

    for f in j.GetProperty("folds").EnumerateArray() do
        for key in [ "fp32_accuracy"; "ternary_accuracy"; "ternary_macro_f1"; "sparsity" ] do
            Expect.isTrue (f.TryGetProperty(key) |> fst) key

let private ``train --prune, study prune and study search report their keys; bad specs exit 2`` () =
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

    Expect.equal code 0 err
    let p = (json out).GetProperty("prune")
    Expect.isGreaterThan (p.GetProperty("params_reduction").GetDouble()) 0.85 "params_reduction"
    Expect.equal (p.GetProperty("criterion").GetString()) "low" "criterion"

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

    Expect.equal code 0 err
    let rows = (json out).GetProperty("rows")
    Expect.equal (rows.GetArrayLength()) 2 "rows"
    hasMetrics (json out) 5 60
    Expect.stringStarts ((json out).GetProperty("final_model").GetString()) "low at ratio 0.7" "final_model"

    Expect.containsAll
        (HtmlReportTests.chartIds (path "prune.html"))
        [ "prune-accuracy"; "prune-reduction" ]
        "prune.html charts"

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
            Expect.isTrue (r.TryGetProperty(key) |> fst) key

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

    Expect.equal code 0 err
    let j = json out
    hasMetrics j 5 (j.GetProperty("validation_samples").GetInt32())

    Expect.containsAll
        (HtmlReportTests.chartIds (path "search.html"))
        [ "search-blocks"; "search-sparsity" ]
        "search.html charts"

    for key in
        [
            "b_star"
            "r_star"
            "accuracy"
            "evaluations"
            "linear_evaluations"
            "target"
        ] do
        Expect.isTrue (j.TryGetProperty(key) |> fst) key

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

    Expect.equal code 0 err
    Expect.equal ((json out).GetProperty("qat").GetString()) "ternary" "qat"

    for stage in [ "block_search"; "sparsity_search" ] do
        let s = j.GetProperty(stage)

        Expect.equal
            (s.GetProperty("linear_evaluations").GetInt32())
            (s.GetProperty("grid_size").GetInt32())
            $"{stage}: linear_evaluations = grid_size"

        Expect.isLessThanOrEqual
            (s.GetProperty("evaluations").GetInt32())
            (s.GetProperty("bound").GetInt32())
            $"{stage}: evaluations within the bound"

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
        Expect.equal code 2 what
        Expect.stringContains err what "stderr"

let private ``train --qat int8 writes an int8 integer model whose activation ranges were learned`` () =
    synth (path "tiny8") 4 2 6

    let code, out, err =
        tern [
            "train"
            "--data"
            path "tiny8"
            "--arch"
            "default"
            "--out"
            path "qat8.tern"
            "--epochs"
            "1"
            "--qat"
            "int8"
            "--json"
        ]

    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("qat").GetString()) "int8" "qat"
    Expect.isGreaterThanOrEqual (j.GetProperty("valid_accuracy").GetDouble()) 0.0 "valid_accuracy"
    Expect.isLessThanOrEqual (j.GetProperty("valid_accuracy").GetDouble()) 1.0 "valid_accuracy"

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

    Expect.isGreaterThan convs.Length 0 "conv layers"

    for c in convs do
        Expect.equal c.WeightKind Tern.Runtime.WeightKind.Int8 c.Name

let private ``train takes --label-smoothing and --distill with --qat; --distill without QAT and smoothing 1 exit 2``
    ()
    =
    synth (path "tinyd") 4 2 7

    let train extra =
        tern (
            [
                "train"
                "--data"
                path "tinyd"
                "--out"
                path "distilled.tern"
                "--epochs"
                "1"
            ]
            @ extra
        )

    let code, out, err =
        train [
            "--qat"
            "ternary"
            "--qat-epochs"
            "2"
            "--distill"
            "on"
            "--label-smoothing"
            "0.1"
            "--json"
        ]

    Expect.equal code 0 err
    let j = json out
    Expect.isTrue (j.GetProperty("distill").GetBoolean()) "distill"
    Expect.equal (j.GetProperty("label_smoothing").GetDouble()) 0.1 "label_smoothing"

    for args, what in
        [
            [ "--distill"; "on" ], "--distill applies only with --qat"
            [ "--label-smoothing"; "1" ], "--label-smoothing 1: must be a number in [0, 1)"
        ] do
        let code, _, err = train args
        Expect.equal code 2 err
        Expect.stringContains err what "stderr"

    let code, _, err =
        tern [ "study"; "ternary"; "--data"; path "tinyd"; "--label-smoothing"; "-0.1" ]

    Expect.equal code 2 err
    Expect.stringContains err "--label-smoothing -0.1" "stderr"

let private ``study gamma reports every method per bit depth; bad bits, folders and shapes exit 2`` () =
    let rng = Random(4)

    let raw: Tern.Core.Dataset = {
        Shape = Tern.Runtime.Shape3(1, 16, 3)
        Classes = [ "a"; "b" ]
        Samples =
            Array.init 48 (fun i ->
                Array.init 48 (fun j -> float32 (0.4 * float (i % 2) * sin (float j) + 0.1 * (rng.NextDouble() - 0.5))))
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

    Expect.equal code 0 err
    let j = json out
    let rows = j.GetProperty("results").EnumerateArray() |> Seq.toList

    Expect.containsAll
        (HtmlReportTests.chartIds (path "gamma.html"))
        [ "gamma-f1"; "gamma-accuracy" ]
        "gamma.html charts"

    Expect.equal
        (rows |> List.map (fun r -> r.GetProperty("method").GetString()))
        [ "raw"; "linear"; "gamma-global"; "gamma-per-axis" ]
        "methods"

    Expect.equal (rows.Head.GetProperty("bits").ValueKind) JsonValueKind.Null "bits"
    Expect.equal (rows[1].GetProperty("bits").GetInt32()) 2 "bits"

    for r in rows do
        Expect.isGreaterThanOrEqual (r.GetProperty("macro_f1").GetDouble()) 0.0 "macro_f1"
        Expect.isLessThanOrEqual (r.GetProperty("macro_f1").GetDouble()) 1.0 "macro_f1"
        Expect.isGreaterThanOrEqual (r.GetProperty("accuracy").GetDouble()) 0.0 "accuracy"
        Expect.isLessThanOrEqual (r.GetProperty("accuracy").GetDouble()) 1.0 "accuracy"

    // The final model is the last row's, its pooled macro-F1 the row's.
    hasMetrics j 2 48
    Expect.stringStarts (j.GetProperty("final_model").GetString()) "gamma-per-axis at 2 bits" "final_model"

    Expect.floatClose
        { absolute = 1e-12; relative = 0.0 }
        (j.GetProperty("macro_f1").GetDouble())
        (rows[3].GetProperty("pooled_macro_f1").GetDouble())
        "macro_f1 is the last row's pooled_macro_f1"

    let g = j.GetProperty("gamma").GetProperty("2")
    Expect.equal (g.GetProperty("gamma-global").ValueKind) JsonValueKind.Number "gamma-global"
    Expect.equal (g.GetProperty("gamma-per-axis").GetArrayLength()) 3 "gamma-per-axis"

    Expect.equal
        (j.GetProperty("mu").GetProperty("2").GetProperty("gamma-per-axis").GetArrayLength())
        3
        "mu.2.gamma-per-axis"

    Expect.isGreaterThanOrEqual (j.GetProperty("seconds").GetDouble()) 0.0 "seconds"

    for bits in [ "0"; "17"; "2,x"; "" ] do
        let code, _, err = tern [ "study"; "gamma"; "--data"; path "raw"; "--bits"; bits ]
        Expect.equal code 2 bits
        Expect.stringContains err "--bits" bits

    let code, _, err = tern [ "study"; "gamma"; "--data"; path "no-such-folder" ]
    Expect.equal code 2 "exit code"
    Expect.stringContains err "no such folder" "stderr"

    synth (path "spectra") 2 1 1

    let code, _, err =
        tern [ "study"; "gamma"; "--data"; path "spectra"; "--folds"; "2" ]

    Expect.equal code 2 "exit code"
    Expect.stringContains err "1 x W x C" "stderr"

let private ``study codec reports every method per bit depth on a data folder; bad bits, split and group exit 2`` () =
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

    Expect.equal code 0 err
    let j = json out

    Expect.containsAll
        (HtmlReportTests.chartIds (path "codec.html"))
        [ "codec-bytes"; "codec-ratio" ]
        "codec.html charts"

    Expect.equal (j.GetProperty("split").GetInt32()) 2 "split"
    Expect.equal (j.GetProperty("feature_map").GetArrayLength()) 3 "feature_map"
    Expect.equal (j.GetProperty("frames").GetInt32()) 40 "frames"
    Expect.equal (j.GetProperty("streams").GetInt32()) 2 "streams"
    Expect.isGreaterThanOrEqual (j.GetProperty("baseline_accuracy").GetDouble()) 0.0 "baseline_accuracy"
    Expect.isLessThanOrEqual (j.GetProperty("baseline_accuracy").GetDouble()) 1.0 "baseline_accuracy"
    hasMetrics j 2 40

    Expect.floatClose
        { absolute = 1e-12; relative = 0.0 }
        (j.GetProperty("accuracy").GetDouble())
        (j.GetProperty("baseline_accuracy").GetDouble())
        "accuracy is baseline_accuracy"

    let rows = j.GetProperty("rows").EnumerateArray() |> Seq.toList
    Expect.hasLength rows (1 + 9 * 2) "rows"
    Expect.equal (rows.Head.GetProperty("method").GetString()) "raw float" "method"
    Expect.equal (rows.Head.GetProperty("bits").ValueKind) JsonValueKind.Null "bits"

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
            Expect.equal (r.GetProperty(key).ValueKind) JsonValueKind.Number key

    Expect.equal
        (rows |> List.map (fun r -> r.GetProperty("method").GetString()) |> List.distinct)
        [
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
        "methods"

    for bits in [ "1"; "9"; "4,x"; "" ] do
        let code, _, err = tern [ "study"; "codec"; "--bits"; bits ]
        Expect.equal code 2 bits
        Expect.stringContains err "--bits" bits

    for extra in
        [
            [ "--split"; "0" ]
            [ "--split"; "9" ]
            [ "--group"; "2" ]
            [ "--group"; "x" ]
        ] do
        let code, _, _ = study extra
        Expect.equal code 2 (String.concat " " extra)

    let code, _, err = tern [ "study"; "codec"; "--data"; path "no-such-folder" ]
    Expect.equal code 2 "exit code"
    Expect.stringContains err "no such folder" "stderr"

let private ``hil --profile does not apply with --split: exit 2 naming both`` () =
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

    Expect.equal code 2 err
    Expect.stringContains err "--profile" "stderr"
    Expect.stringContains err "--split" "stderr"

[<Tests>]
let tests =
    testSequenced
    <| testList "CliTests" [
        testCase
            "inspect of the default model reports params, macs, peak bytes and layers"
            ``inspect of the default model reports params, macs, peak bytes and layers``
        testCase
            "lower to ternary, inspect weight bytes, and run check is bit-exact over 1000 inputs"
            ``lower to ternary, inspect weight bytes, and run check is bit-exact over 1000 inputs``
        testCase "int8 lowering runs bit-exact too" ``int8 lowering runs bit-exact too``
        testCase
            "a ternary model with an int8 first layer lowers, shows its kinds and runs bit-exact"
            ``a ternary model with an int8 first layer lowers, shows its kinds and runs bit-exact``
        testCase
            "a malformed model file exits 2 naming the problem"
            ``a malformed model file exits 2 naming the problem``
        testCase "bad options exit 2" ``bad options exit 2``
        testCase
            "run takes a float model through the float reference, but --check on it is refused with exit 2"
            ``run takes a float model through the float reference, but --check on it is refused with exit 2``
        testCase
            "run --html writes the report of a labelled run; an --html it cannot write exits 2 before any work"
            ``run --html writes the report of a labelled run; an --html it cannot write exits 2 before any work``
        testCase
            "hil with a data set reports accuracy from the device's answers"
            ``hil with a data set reports accuracy from the device's answers``
        testCase
            "data import csv writes both forms, data info counts them, bad rows exit 2"
            ``data import csv writes both forms, data info counts them, bad rows exit 2``
        testCase
            "data synth then train writes a float model and reports held-out accuracy"
            ``data synth then train writes a float model and reports held-out accuracy``
        testCase
            "train --qat ternary writes an integer model; study ternary reports folds and means"
            ``train --qat ternary writes an integer model; study ternary reports folds and means``
        testCase
            "train --prune, study prune and study search report their keys; bad specs exit 2"
            ``train --prune, study prune and study search report their keys; bad specs exit 2``
        testCase
            "train --qat int8 writes an int8 integer model whose activation ranges were learned"
            ``train --qat int8 writes an int8 integer model whose activation ranges were learned``
        testCase
            "train takes --label-smoothing and --distill with --qat; --distill without QAT and smoothing 1 exit 2"
            ``train takes --label-smoothing and --distill with --qat; --distill without QAT and smoothing 1 exit 2``
        testCase
            "study gamma reports every method per bit depth; bad bits, folders and shapes exit 2"
            ``study gamma reports every method per bit depth; bad bits, folders and shapes exit 2``
        testCase
            "study codec reports every method per bit depth on a data folder; bad bits, split and group exit 2"
            ``study codec reports every method per bit depth on a data folder; bad bits, split and group exit 2``
        testCase
            "hil --profile does not apply with --split: exit 2 naming both"
            ``hil --profile does not apply with --split: exit 2 naming both``
    ]
