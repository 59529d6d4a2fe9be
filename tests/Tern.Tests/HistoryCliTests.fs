/// `tern history`, `tern history diff`, --history / --no-history on hil and the studies, and the exit codes of
/// `hil --baseline ... --fail-on-regression` (on QEMU).
module Tern.Tests.HistoryCliTests

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open Expecto
open Tern.Rig
open Tern.Tests.CliTests

let private time = DateTime(2026, 12, 7, 10, 0, 0, DateTimeKind.Utc)

let private hilReport (median: int) (accuracy: float) (layers: int list) : JsonNode =
    let layerJson =
        layers
        |> List.mapi (fun i w -> $"""{{"index": {i}, "name": "l{i}", "kind": "conv2d", "instructions": {w}}}""")
        |> String.concat ", "

    JsonNode.Parse
        $"""{{"board": "qemu-mps2-an386", "kernels": "dsp", "model_hash": "0123456789abcdef", "samples": 10,
             "mismatches": 0, "work_unit": "instructions",
             "instructions_per_inference": {{"min": {median}, "median": {median}, "max": {median}}},
             "accuracy": {accuracy}, "flash_bytes": 20000, "ram_bytes": 30000, "arena_bytes": 12288,
             "layers": [{layerJson}]}}"""

let private dir = lazy (Scratch.folder "tern-history-cli")
let private path name = Path.Combine(dir.Value, name)

let private ``history of a missing file lists no runs and creates nothing`` () =
    let file = path "none.db"
    let code, out, err = tern [ "history"; "--history"; file; "--json" ]
    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("runs").GetArrayLength()) 0 "runs"
    Expect.equal (j.GetProperty("schema_version").GetInt32()) 1 "schema_version"
    Expect.isFalse (File.Exists file) "the history file was created"
    let code, out, _ = tern [ "history"; "--history"; file ]
    Expect.equal (code, out) (0, $"no runs in {file}\n") "exit code and stdout"

let private ``history lists runs with their headline numbers; --limit keeps the newest`` () =
    let file = path "list.db"

    for m in [ 1000; 1100; 1200 ] do
        HistoryStore.append file time "hil" (hilReport m 0.75 []) |> ignore

    HistoryStore.append file time "study ternary" (JsonNode.Parse """{"data": "x"}""")
    |> ignore

    let code, out, err = tern [ "history"; "--history"; file; "--limit"; "3"; "--json" ]
    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("total").GetInt32()) 4 "total"
    let runs = j.GetProperty("runs").EnumerateArray() |> Seq.toList
    Expect.equal (runs |> List.map (fun r -> r.GetProperty("id").GetInt64())) [ 2L; 3L; 4L ] "id"
    let first = runs.Head
    Expect.equal (first.GetProperty("time").GetString()) "2026-12-07T10:00:00Z" "time"
    Expect.equal (first.GetProperty("verb").GetString()) "hil" "verb"
    Expect.equal (first.GetProperty("model_hash").GetString()) "0123456789abcdef" "model_hash"
    Expect.equal (first.GetProperty("board").GetString()) "qemu-mps2-an386" "board"
    Expect.equal (first.GetProperty("instructions_per_inference").GetDouble()) 1100.0 "instructions_per_inference"
    Expect.equal (first.GetProperty("accuracy").GetDouble()) 0.75 "accuracy"

    for key in [ "mismatches"; "flash_bytes"; "ram_bytes" ] do
        Expect.isTrue (first.TryGetProperty key |> fst) key

    let study = runs[2]
    Expect.equal (study.GetProperty("verb").GetString()) "study ternary" "verb"
    Expect.equal (study.GetProperty("accuracy").ValueKind) JsonValueKind.Null "accuracy"

    let code, out, err = tern [ "history"; "--history"; file ]
    Expect.equal code 0 err
    Expect.stringContains out "1,200" "stdout"
    Expect.stringContains out "4 of 4 runs" "stdout"

    let code, _, err = tern [ "history"; "--history"; file; "--limit"; "0" ]
    Expect.equal (code, err) (2, "tern: --limit 0: must be at least 1\n") "exit code and stderr"

let private ``history diff gives values, changes and per-layer work; bad ids and mixed verbs exit 2`` () =
    let file = path "diff.db"
    let a = HistoryStore.append file time "hil" (hilReport 1000 0.80 [ 600; 400 ])
    let b = HistoryStore.append file time "hil" (hilReport 1100 0.78 [ 650; 450 ])

    let s =
        HistoryStore.append file time "study gamma" (JsonNode.Parse """{"seconds": 3}""")

    let code, out, err =
        tern [ "history"; "--history"; file; "diff"; string a; string b; "--json" ]

    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("a").GetProperty("id").GetInt64()) a "a.id"
    Expect.equal (j.GetProperty("b").GetProperty("id").GetInt64()) b "b.id"

    let change name =
        j.GetProperty("changes").EnumerateArray()
        |> Seq.find (fun c -> c.GetProperty("metric").GetString() = name)

    let work = change "instructions_per_inference"

    Expect.equal
        (work.GetProperty("a").GetDouble(),
         work.GetProperty("b").GetDouble(),
         work.GetProperty("change").GetDouble(),
         work.GetProperty("change_pct").GetDouble())
        (1000.0, 1100.0, 100.0, 10.0)
        "instructions_per_inference: a, b, change, change_pct"

    Expect.equal ((change "accuracy").GetProperty("change_pct").GetDouble()) (-2.5) "change_pct"
    Expect.equal ((change "flash_bytes").GetProperty("change").GetDouble()) 0.0 "change"
    let rows = j.GetProperty("layers").GetProperty("rows")

    Expect.equal
        (rows.EnumerateArray()
         |> Seq.map (fun r -> r.GetProperty("change").GetDouble())
         |> Seq.toList)
        [ 50.0; 50.0 ]
        "per-layer changes"

    let code, out, err =
        tern [ "history"; "diff"; string a; string b; "--history"; file ]

    Expect.equal code 0 err
    Expect.stringContains out "instructions_per_inference" "stdout"
    Expect.stringContains out "+10.00 %" "stdout"
    Expect.stringContains out "instructions per layer" "stdout"

    for args, expected in
        [
            [ "diff"; string a; string s ], "only runs of one verb"
            [ "diff"; string a; "99" ], "no run 99"
            [ "diff"; "x"; string a ], "'x' is not a run id"
            [ "--limit"; "2"; "diff"; string a; string b ], "--limit applies to the list"
        ] do
        let code, _, err = tern ([ "history"; "--history"; file ] @ args)
        Expect.equal code 2 err
        Expect.stringContains err expected "stderr"

let private ``a file that is not a history exits 2 before any work, naming the file`` () =
    let bad = path "notes.txt"
    File.WriteAllText(bad, String.replicate 200 "these are my notes, not a database\n")

    for args in
        [
            [ "history"; "--history"; bad ]
            [ "history"; "diff"; "1"; "2"; "--history"; bad ]
            [ "hil"; "--model"; "default"; "--history"; bad ]
            [ "study"; "ternary"; "--data"; path "no-such-data"; "--history"; bad ]
        ] do
        let code, _, err = tern args
        Expect.equal code 2 (String.Join(" ", args) + ": " + err)
        Expect.stringContains err bad "stderr"
        Expect.stringContains err "not an SQLite database" "stderr"

let private ``--history with --no-history, or --fail-on-regression without --baseline, exit 2`` () =
    for args, expected in
        [
            [ "hil"; "--model"; "default"; "--history"; path "h.db"; "--no-history" ], "exclude each other"
            [ "study"; "codec"; "--history"; path "h.db"; "--no-history" ], "exclude each other"
            [ "hil"; "--model"; "default"; "--fail-on-regression"; "5" ], "needs --baseline"
            [
                "hil"
                "--model"
                "default"
                "--baseline"
                "last"
                "--fail-on-regression"
                "-1"
            ],
            "--fail-on-regression -1: must be a number in [0, 10000]"
            [ "hil"; "--model"; "default"; "--baseline"; "yesterday" ], "'last' or a run id"
        ] do
        let code, _, err = tern args
        Expect.equal code 2 (String.Join(" ", args) + ": " + err)
        Expect.stringContains err expected "stderr"

    Expect.isFalse (File.Exists(path "h.db")) "h.db was created"

let private ``a baseline that is missing, not hil or of another board exits 2 before the run`` () =
    let file = path "baselines.db"
    let study = HistoryStore.append file time "study codec" (JsonNode.Parse "{}")
    let other = (hilReport 1000 0.5 []).AsObject()
    other["board"] <- JsonValue.Create "nucleo-f446re"
    let elsewhere = HistoryStore.append file time "hil" other

    for id, expected in
        [
            "77", "no run 77"
            string study, "not a hil run"
            string elsewhere, "ran on nucleo-f446re"
        ] do
        let code, _, err =
            tern [ "hil"; "--model"; "default"; "--history"; file; "--baseline"; id ]

        Expect.equal code 2 err
        Expect.stringContains err expected "stderr"

    Expect.equal (HistoryStore.count file) 2L "runs in the history"

let private ``a study appends the report it prints`` () =
    let file = path "study.db"

    synth (path "tiny") 4 2 5

    let study = [
        "study"
        "ternary"
        "--data"
        path "tiny"
        "--folds"
        "2"
        "--epochs"
        "1"
        "--json"
    ]

    let code, out, err = tern (study @ [ "--history"; file ])
    Expect.equal code 0 err
    let printed = JsonNode.Parse(out).AsObject()
    let where = printed["history"]
    Expect.equal (where["file"].GetValue<string>()) file "history.file"
    Expect.equal (where["run"].GetValue<int64>()) 1L "history.run"
    printed.Remove "history" |> ignore

    let stored = HistoryStore.tryFind file 1L |> Option.get
    Expect.equal stored.Verb "study ternary" "the stored verb"
    Expect.equal (stored.Report.ToJsonString()) (printed.ToJsonString()) "the stored report is the printed one"


let private ``hil --fail-on-regression: exit 1 when instructions grow past the limit, 0 within it; last skips regressions``
    ()
    =
    EmulatedBoard.requireToolchain ()
    let file = path "hil.db"
    let cache = path "cache"

    let hilArgs = [ "hil"; "--model"; "default"; "--samples"; "10"; "--cache"; cache ]

    let hil extra =
        tern (hilArgs @ [ "--history"; file; "--json" ] @ extra)

    let code, out, err = hil []
    Expect.equal code 0 err
    let first = json out
    Expect.equal (first.GetProperty("history").GetProperty("run").GetInt64()) 1L "history.run"

    let median =
        first.GetProperty("instructions_per_inference").GetProperty("median").GetInt64()

    // A baseline 3 % cheaper than what the emulator counts (exact under -icount): this run is ~3.1 % worse.
    let cheaper = (HistoryStore.tryFind file 1L).Value.Report.DeepClone().AsObject()
    cheaper["instructions_per_inference"]["median"] <- JsonValue.Create(median * 97L / 100L)
    let fake = HistoryStore.append file time "hil" cheaper

    let code, out, err = hil [ "--baseline"; string fake; "--fail-on-regression"; "1" ]
    Expect.equal code 1 err
    Expect.stringContains err $"regression against run {fake}: instructions_per_inference +3." "stderr"
    let b = (json out).GetProperty "baseline"
    Expect.equal (b.GetProperty("verdict").GetString()) "regression" "verdict"
    Expect.equal (b.GetProperty("run").GetProperty("id").GetInt64()) fake "run.id"

    // `last` passes over the run that regressed and compares with the newest passing one: the fake, within 5 %.
    // --no-history: read the baseline from $TERN_HISTORY, append nothing.
    let saved = Environment.GetEnvironmentVariable "TERN_HISTORY"
    Environment.SetEnvironmentVariable("TERN_HISTORY", file)

    let code, out, err =
        try
            tern (hilArgs @ [ "--no-history"; "--baseline"; "last"; "--fail-on-regression"; "5" ])
        finally
            Environment.SetEnvironmentVariable("TERN_HISTORY", saved)

    Expect.equal code 0 err
    Expect.stringContains out $"baseline: run {fake} (" "stdout"
    Expect.stringContains out "instructions_per_inference" "stdout"
    Expect.stringContains out "limit growth 5 %): ok" "stdout"
    Expect.isFalse (out.Contains "history: run") $"nothing appended with --no-history: {out}"
    Expect.equal (HistoryStore.count file) 3L "runs in the history"

[<Tests>]
let tests =
    testSequenced
    <| testList "HistoryCliTests" [
        testCase
            "history of a missing file lists no runs and creates nothing"
            ``history of a missing file lists no runs and creates nothing``
        testCase
            "history lists runs with their headline numbers; --limit keeps the newest"
            ``history lists runs with their headline numbers; --limit keeps the newest``
        testCase
            "history diff gives values, changes and per-layer work; bad ids and mixed verbs exit 2"
            ``history diff gives values, changes and per-layer work; bad ids and mixed verbs exit 2``
        testCase
            "a file that is not a history exits 2 before any work, naming the file"
            ``a file that is not a history exits 2 before any work, naming the file``
        testCase
            "--history with --no-history, or --fail-on-regression without --baseline, exit 2"
            ``--history with --no-history, or --fail-on-regression without --baseline, exit 2``
        testCase
            "a baseline that is missing, not hil or of another board exits 2 before the run"
            ``a baseline that is missing, not hil or of another board exits 2 before the run``
        testCase "a study appends the report it prints" ``a study appends the report it prints``
        testCase
            "hil --fail-on-regression: exit 1 when instructions grow past the limit, 0 within it; last skips regressions"
            ``hil --fail-on-regression: exit 1 when instructions grow past the limit, 0 within it; last skips regressions``
    ]
