/// The run history's SQLite store: round trip, listing, refused files (not SQLite, foreign, newer, damaged) and
/// concurrent appends.
module Tern.Tests.HistoryStoreTests

open System
open System.IO
open System.Text.Json.Nodes
open System.Threading.Tasks
open FsCheck
open FsCheck.FSharp
open Microsoft.Data.Sqlite
open NUnit.Framework
open FsCheck.NUnit
open Tern.Rig
open Tern.Tests.Assertions

let private folder () =
    let d =
        Path.Combine(Path.GetTempPath(), "tern-store-" + Guid.NewGuid().ToString("N"))

    Directory.CreateDirectory d |> ignore
    d

let private time = DateTime(2026, 12, 7, 10, 22, 3, DateTimeKind.Utc)

let private report (median: int) : JsonNode =
    JsonNode.Parse
        $"""{{"board": "qemu-mps2-an386", "model_hash": "ab12", "mismatches": 0, "work_unit": "instructions",
             "instructions_per_inference": {{"min": {median}, "median": {median}, "max": {median}}}}}"""

/// The file's error message, or a failure when the operation did not refuse the file.
let private refused (f: unit -> 'a) : string =
    try
        f () |> ignore
        failwith "expected HistoryFileError"
    with HistoryFileError msg ->
        msg

/// Runs SQL on a file directly (to make foreign or altered databases).
let private sql (path: string) (text: string) =
    use c = new SqliteConnection($"Data Source={path};Pooling=False")
    c.Open()
    use cmd = c.CreateCommand()
    cmd.CommandText <- text
    cmd.ExecuteNonQuery() |> ignore

[<Property(MaxTest = 60)>]
let ``a report reads back as written, with its verb, model hash and board`` () =
    let dir = folder ()
    let path = Path.Combine(dir, "h.db")

    let cases =
        Gen.zip3 (Generators.jsonObject 3) Generators.jsonText (Gen.optionOf Generators.jsonText)
        |> Arb.fromGen

    try
        Prop.forAll cases (fun (o, verb, model) ->
            model |> Option.iter (fun m -> o["model_hash"] <- JsonValue.Create m)
            let id = HistoryStore.append path time verb o

            match HistoryStore.tryFind path id with
            | None -> false
            | Some r ->
                r.Report.ToJsonString() = o.ToJsonString()
                && r.Verb = verb
                && r.Time = time
                && r.ModelHash = ReportFacts.text "model_hash" o
                && r.Board = ReportFacts.text "board" o)
    finally
        Directory.Delete(dir, true)

[<Property(MaxTest = 15)>]
let ``recent lists the last N runs oldest first; count counts them all`` () =
    let cases = Gen.zip (Gen.choose (1, 12)) (Gen.choose (1, 15)) |> Arb.fromGen

    Prop.forAll cases (fun (n, limit) ->
        let dir = folder ()

        try
            let path = Path.Combine(dir, "h.db")

            let ids = [
                for i in 1..n -> HistoryStore.append path (time.AddMinutes(float i)) "hil" (report i)
            ]

            let listed = HistoryStore.recent path limit
            let expected = ids |> List.skip (max 0 (n - limit))

            (listed |> List.map (fun r -> r.Id)) = expected
            && listed
               |> List.forall (fun r ->
                   ReportFacts.work r.Report =
                       Some {
                           Unit = "instructions"
                           Median = float r.Id
                       })
            && HistoryStore.count path = int64 n
        finally
            Directory.Delete(dir, true))

[<Test>]
let ``a missing file reads as no runs and is not created; an empty file becomes a history`` () =
    let dir = folder ()

    try
        let missing = Path.Combine(dir, "sub", "none.db")
        Assert.That(HistoryStore.recent missing 10, Is.Empty)
        Assert.That(HistoryStore.count missing, eq 0L)
        HistoryStore.check missing
        Assert.That(File.Exists missing, Is.False)

        let empty = Path.Combine(dir, "empty.db")
        File.WriteAllBytes(empty, [||])
        Assert.That(HistoryStore.count empty, eq 0L)
        Assert.That(HistoryStore.append empty time "hil" (report 5), eq 1L)
        Assert.That(HistoryStore.append missing time "hil" (report 5), eq 1L)
        Assert.That(HistoryStore.count missing, eq 1L)
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``ids keep growing after the newest run is deleted (AUTOINCREMENT)`` () =
    let dir = folder ()

    try
        let path = Path.Combine(dir, "h.db")
        HistoryStore.append path time "hil" (report 1) |> ignore
        HistoryStore.append path time "hil" (report 2) |> ignore
        sql path "DELETE FROM runs WHERE id = 2"
        Assert.That(HistoryStore.append path time "hil" (report 3), eq 3L)
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``a file that is not SQLite is refused and left as it was`` () =
    let dir = folder ()

    try
        let path = Path.Combine(dir, "notes.db")
        let bytes = Array.init 4096 (fun i -> byte (i * 7 + 3))
        File.WriteAllBytes(path, bytes)
        Assert.That(refused (fun () -> HistoryStore.check path), Does.Contain "not an SQLite database")
        Assert.That(refused (fun () -> HistoryStore.append path time "hil" (report 1)), Does.Contain path)
        Assert.That(refused (fun () -> HistoryStore.recent path 5), Does.Contain "not an SQLite database")
        Assert.That(File.ReadAllBytes path, eq bytes)
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``another program's SQLite database is refused and left as it was`` () =
    let dir = folder ()

    try
        let path = Path.Combine(dir, "photos.db")
        sql path "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos (name) VALUES ('cat')"
        let before = File.ReadAllBytes path
        let msg = refused (fun () -> HistoryStore.append path time "hil" (report 1))
        Assert.That(msg, Does.Contain "another program")
        Assert.That(msg, Does.Contain "photos")
        Assert.That(File.ReadAllBytes path, eq before)
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``a history of a newer schema is refused, naming both versions`` () =
    let dir = folder ()

    try
        let path = Path.Combine(dir, "h.db")
        HistoryStore.append path time "hil" (report 1) |> ignore
        sql path "PRAGMA user_version = 2"
        let msg = refused (fun () -> HistoryStore.recent path 5)
        Assert.That(msg, Does.Contain "newer tern")
        Assert.That(msg, Does.Contain "schema 2")
        Assert.That(refused (fun () -> HistoryStore.append path time "hil" (report 1)), Does.Contain "newer tern")
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``a damaged history (pages overwritten, or cut short) is refused`` () =
    let dir = folder ()

    try
        let path = Path.Combine(dir, "h.db")

        for i in 1..200 do
            HistoryStore.append path time "hil" (report i) |> ignore

        let good = File.ReadAllBytes path
        Assert.That(good.Length, Is.GreaterThan 16384)

        // Everything after the header page: the table's pages.
        let overwritten = Array.copy good
        Array.fill overwritten 4096 (good.Length - 4096) 0xA5uy
        File.WriteAllBytes(path, overwritten)
        Assert.That(refused (fun () -> HistoryStore.recent path 500), Does.Contain "damaged")

        File.WriteAllBytes(path, good[.. good.Length / 2])
        Assert.That(refused (fun () -> HistoryStore.recent path 500), Does.Contain path)
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``a folder is refused as a history file`` () =
    let dir = folder ()

    try
        Assert.That(refused (fun () -> HistoryStore.check dir), Does.Contain "folder")
        Assert.That(refused (fun () -> HistoryStore.append dir time "hil" (report 1)), Does.Contain "folder")
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``concurrent appends to one new file keep every run, each with its own id`` () =
    let dir = folder ()

    try
        let path = Path.Combine(dir, "shared.db")
        let writers, each = 8, 12

        let ids =
            [|
                for w in 0 .. writers - 1 ->
                    Task.Run(fun () -> [
                        for i in 0 .. each - 1 -> HistoryStore.append path time "hil" (report (w * 1000 + i))
                    ])
            |]
            |> Array.collect (fun t -> List.toArray t.Result)

        Assert.That(ids |> Array.sort, eq [| 1L .. int64 (writers * each) |])

        let medians =
            HistoryStore.recent path 1000
            |> List.choose (fun r -> ReportFacts.work r.Report |> Option.map (fun w -> int w.Median))
            |> List.sort

        Assert.That(
            medians,
            eq [
                for w in 0 .. writers - 1 do
                    for i in 0 .. each - 1 -> w * 1000 + i
            ]
        )
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``ofSubject returns that model's runs on that board, newest first`` () =
    let dir = folder ()

    try
        let path = Path.Combine(dir, "h.db")
        let other = (report 9).AsObject()
        other["model_hash"] <- JsonValue.Create "ff00"
        let a = HistoryStore.append path time "hil" (report 1)
        HistoryStore.append path time "hil" other |> ignore
        HistoryStore.append path time "study ternary" (report 1) |> ignore
        let b = HistoryStore.append path time "hil" (report 2)

        Assert.That(
            HistoryStore.ofSubject path "hil" "ab12" "qemu-mps2-an386"
            |> List.map (fun r -> r.Id),
            eq [ b; a ]
        )
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``the default file is $TERN_HISTORY, else tern/history.db in $XDG_DATA_HOME`` () =
    let keep name =
        name, Environment.GetEnvironmentVariable name

    let saved = [ keep "TERN_HISTORY"; keep "XDG_DATA_HOME" ]

    try
        Environment.SetEnvironmentVariable("TERN_HISTORY", "/some/where/runs.db")
        Assert.That(HistoryStore.defaultPath (), eq "/some/where/runs.db")
        Environment.SetEnvironmentVariable("TERN_HISTORY", null)

        if not (OperatingSystem.IsWindows()) then
            Environment.SetEnvironmentVariable("XDG_DATA_HOME", "/xdg/data")
            Assert.That(HistoryStore.defaultPath (), eq (Path.Combine("/xdg/data", "tern", "history.db")))
    finally
        for name, value in saved do
            Environment.SetEnvironmentVariable(name, value)
