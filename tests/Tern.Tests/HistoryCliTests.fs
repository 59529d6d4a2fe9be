/// `tern history`, `tern history diff`, --history / --no-history on hil and the studies, and the exit codes of
/// `hil --baseline ... --fail-on-regression` (on QEMU).
module Tern.Tests.HistoryCliTests

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open NUnit.Framework
open Tern.Rig
open Tern.Tests.Assertions
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

[<NonParallelizable>]
type HistoryCliTests() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-history-cli-" + Guid.NewGuid().ToString("N"))

    let path name = Path.Combine(dir, name)

    [<OneTimeSetUp>]
    member _.Setup() = Directory.CreateDirectory dir |> ignore

    [<OneTimeTearDown>]
    member _.TearDown() = Directory.Delete(dir, true)

    [<Test>]
    member _.``history of a missing file lists no runs and creates nothing``() =
        let file = path "none.db"
        let code, out, err = tern [ "history"; "--history"; file; "--json" ]
        Assert.That(code, eq 0, err)
        let j = json out
        Assert.That(j.GetProperty("runs").GetArrayLength(), eq 0)
        Assert.That(j.GetProperty("schema_version").GetInt32(), eq 1)
        Assert.That(File.Exists file, Is.False)
        let code, out, _ = tern [ "history"; "--history"; file ]
        Assert.That((code, out), eq (0, $"no runs in {file}\n"))

    [<Test>]
    member _.``history lists runs with their headline numbers; --limit keeps the newest``() =
        let file = path "list.db"

        for m in [ 1000; 1100; 1200 ] do
            HistoryStore.append file time "hil" (hilReport m 0.75 []) |> ignore

        HistoryStore.append file time "study ternary" (JsonNode.Parse """{"data": "x"}""")
        |> ignore

        let code, out, err = tern [ "history"; "--history"; file; "--limit"; "3"; "--json" ]
        Assert.That(code, eq 0, err)
        let j = json out
        Assert.That(j.GetProperty("total").GetInt32(), eq 4)
        let runs = j.GetProperty("runs").EnumerateArray() |> Seq.toList
        Assert.That(runs |> List.map (fun r -> r.GetProperty("id").GetInt64()), eq [ 2L; 3L; 4L ])
        let first = runs.Head
        Assert.That(first.GetProperty("time").GetString(), eq "2026-12-07T10:00:00Z")
        Assert.That(first.GetProperty("verb").GetString(), eq "hil")
        Assert.That(first.GetProperty("model_hash").GetString(), eq "0123456789abcdef")
        Assert.That(first.GetProperty("board").GetString(), eq "qemu-mps2-an386")
        Assert.That(first.GetProperty("instructions_per_inference").GetDouble(), eq 1100.0)
        Assert.That(first.GetProperty("accuracy").GetDouble(), eq 0.75)

        for key in [ "mismatches"; "flash_bytes"; "ram_bytes" ] do
            Assert.That(first.TryGetProperty key |> fst, Is.True, key)

        let study = runs[2]
        Assert.That(study.GetProperty("verb").GetString(), eq "study ternary")
        Assert.That(study.GetProperty("accuracy").ValueKind, eq JsonValueKind.Null)

        let code, out, err = tern [ "history"; "--history"; file ]
        Assert.That(code, eq 0, err)
        Assert.That(out, Does.Contain "1,200")
        Assert.That(out, Does.Contain "4 of 4 runs")

        let code, _, err = tern [ "history"; "--history"; file; "--limit"; "0" ]
        Assert.That((code, err), eq (2, "tern: --limit 0: must be at least 1\n"))

    [<Test>]
    member _.``history diff gives values, changes and per-layer work; bad ids and mixed verbs exit 2``() =
        let file = path "diff.db"
        let a = HistoryStore.append file time "hil" (hilReport 1000 0.80 [ 600; 400 ])
        let b = HistoryStore.append file time "hil" (hilReport 1100 0.78 [ 650; 450 ])

        let s =
            HistoryStore.append file time "study gamma" (JsonNode.Parse """{"seconds": 3}""")

        let code, out, err =
            tern [ "history"; "--history"; file; "diff"; string a; string b; "--json" ]

        Assert.That(code, eq 0, err)
        let j = json out
        Assert.That(j.GetProperty("a").GetProperty("id").GetInt64(), eq a)
        Assert.That(j.GetProperty("b").GetProperty("id").GetInt64(), eq b)

        let change name =
            j.GetProperty("changes").EnumerateArray()
            |> Seq.find (fun c -> c.GetProperty("metric").GetString() = name)

        let work = change "instructions_per_inference"

        Assert.That(
            (work.GetProperty("a").GetDouble(),
             work.GetProperty("b").GetDouble(),
             work.GetProperty("change").GetDouble(),
             work.GetProperty("change_pct").GetDouble()),
            eq (1000.0, 1100.0, 100.0, 10.0)
        )

        Assert.That((change "accuracy").GetProperty("change_pct").GetDouble(), eq -2.5)
        Assert.That((change "flash_bytes").GetProperty("change").GetDouble(), eq 0.0)
        let rows = j.GetProperty("layers").GetProperty("rows")

        Assert.That(
            rows.EnumerateArray()
            |> Seq.map (fun r -> r.GetProperty("change").GetDouble())
            |> Seq.toList,
            eq [ 50.0; 50.0 ]
        )

        let code, out, err =
            tern [ "history"; "diff"; string a; string b; "--history"; file ]

        Assert.That(code, eq 0, err)
        Assert.That(out, Does.Contain "instructions_per_inference")
        Assert.That(out, Does.Contain "+10.00 %")
        Assert.That(out, Does.Contain "instructions per layer")

        for args, expected in
            [
                [ "diff"; string a; string s ], "only runs of one verb"
                [ "diff"; string a; "99" ], "no run 99"
                [ "diff"; "x"; string a ], "'x' is not a run id"
                [ "--limit"; "2"; "diff"; string a; string b ], "--limit applies to the list"
            ] do
            let code, _, err = tern ([ "history"; "--history"; file ] @ args)
            Assert.That(code, eq 2, err)
            Assert.That(err, Does.Contain expected)

    [<Test>]
    member _.``a file that is not a history exits 2 before any work, naming the file``() =
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
            Assert.That(code, eq 2, String.Join(" ", args) + ": " + err)
            Assert.That(err, Does.Contain bad)
            Assert.That(err, Does.Contain "not an SQLite database")

    [<Test>]
    member _.``--history with --no-history, or --fail-on-regression without --baseline, exit 2``() =
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
            Assert.That(code, eq 2, String.Join(" ", args) + ": " + err)
            Assert.That(err, Does.Contain expected)

        Assert.That(File.Exists(path "h.db"), Is.False)

    [<Test>]
    member _.``a baseline that is missing, not hil or of another board exits 2 before the run``() =
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

            Assert.That(code, eq 2, err)
            Assert.That(err, Does.Contain expected)

        Assert.That(HistoryStore.count file, eq 2L)

    [<Test>]
    member _.``a study appends the report it prints``() =
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
        Assert.That(code, eq 0, err)
        let printed = JsonNode.Parse(out).AsObject()
        let where = printed["history"]
        Assert.That(where["file"].GetValue<string>(), eq file)
        Assert.That(where["run"].GetValue<int64>(), eq 1L)
        printed.Remove "history" |> ignore

        let stored = HistoryStore.tryFind file 1L |> Option.get
        Assert.That(stored.Verb, eq "study ternary")
        Assert.That(stored.Report.ToJsonString(), eq (printed.ToJsonString()))


    [<Test>]
    member _.``hil --fail-on-regression: exit 1 when instructions grow past the limit, 0 within it; last skips regressions``
        ()
        =
        EmulatedBoard.requireToolchain ()
        let file = path "hil.db"
        let cache = path "cache"

        let hilArgs = [ "hil"; "--model"; "default"; "--samples"; "10"; "--cache"; cache ]

        let hil extra =
            tern (hilArgs @ [ "--history"; file; "--json" ] @ extra)

        let code, out, err = hil []
        Assert.That(code, eq 0, err)
        let first = json out
        Assert.That(first.GetProperty("history").GetProperty("run").GetInt64(), eq 1L)

        let median =
            first.GetProperty("instructions_per_inference").GetProperty("median").GetInt64()

        // A baseline 3 % cheaper than what the emulator counts (exact under -icount): this run is ~3.1 % worse.
        let cheaper = (HistoryStore.tryFind file 1L).Value.Report.DeepClone().AsObject()
        cheaper["instructions_per_inference"]["median"] <- JsonValue.Create(median * 97L / 100L)
        let fake = HistoryStore.append file time "hil" cheaper

        let code, out, err = hil [ "--baseline"; string fake; "--fail-on-regression"; "1" ]
        Assert.That(code, eq 1, err)
        Assert.That(err, Does.Contain $"regression against run {fake}: instructions_per_inference +3.")
        let b = (json out).GetProperty "baseline"
        Assert.That(b.GetProperty("verdict").GetString(), eq "regression")
        Assert.That(b.GetProperty("run").GetProperty("id").GetInt64(), eq fake)

        // `last` passes over the run that regressed and compares with the newest passing one: the fake, within 5 %.
        // --no-history: read the baseline from $TERN_HISTORY, append nothing.
        let saved = Environment.GetEnvironmentVariable "TERN_HISTORY"
        Environment.SetEnvironmentVariable("TERN_HISTORY", file)

        let code, out, err =
            try
                tern (hilArgs @ [ "--no-history"; "--baseline"; "last"; "--fail-on-regression"; "5" ])
            finally
                Environment.SetEnvironmentVariable("TERN_HISTORY", saved)

        Assert.That(code, eq 0, err)
        Assert.That(out, Does.Contain $"baseline: run {fake} (")
        Assert.That(out, Does.Contain "instructions_per_inference")
        Assert.That(out, Does.Contain "limit growth 5 %): ok")
        Assert.That(out, Does.Not.Contain "history: run")
        Assert.That(HistoryStore.count file, eq 3L)
