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
open Expecto
open Tern.Rig

let private folder () = Scratch.folder "tern-store"

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

[<Tests>]
let tests =
    testList "HistoryStoreTests" [
        testPropertyWithConfig
            (Properties.tests 60)
            "a report reads back as written, with its verb, model hash and board"
        <| fun () ->
            let dir = folder ()
            let path = Path.Combine(dir, "h.db")

            let cases =
                Gen.zip3 (Generators.jsonObject 3) Generators.jsonText (Gen.optionOf Generators.jsonText)
                |> Arb.fromGen

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

        testPropertyWithConfig (Properties.tests 15) "recent lists the last N runs oldest first; count counts them all"
        <| fun () ->
            let cases = Gen.zip (Gen.choose (1, 12)) (Gen.choose (1, 15)) |> Arb.fromGen

            Prop.forAll cases (fun (n, limit) ->
                let dir = folder ()
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
                && HistoryStore.count path = int64 n)

        testCase "a missing file reads as no runs and is not created; an empty file becomes a history"
        <| fun () ->
            let dir = folder ()
            let missing = Path.Combine(dir, "sub", "none.db")
            Expect.isEmpty (HistoryStore.recent missing 10) "runs of a missing file"
            Expect.equal (HistoryStore.count missing) 0L "count of a missing file"
            HistoryStore.check missing
            Expect.isFalse (File.Exists missing) "the missing file is not created"

            let empty = Path.Combine(dir, "empty.db")
            File.WriteAllBytes(empty, [||])
            Expect.equal (HistoryStore.count empty) 0L "count of an empty file"
            Expect.equal (HistoryStore.append empty time "hil" (report 5)) 1L "first id in the empty file"
            Expect.equal (HistoryStore.append missing time "hil" (report 5)) 1L "first id in the missing file"
            Expect.equal (HistoryStore.count missing) 1L "count after one append to the missing file"

        testCase "ids keep growing after the newest run is deleted (AUTOINCREMENT)"
        <| fun () ->
            let dir = folder ()
            let path = Path.Combine(dir, "h.db")
            HistoryStore.append path time "hil" (report 1) |> ignore
            HistoryStore.append path time "hil" (report 2) |> ignore
            sql path "DELETE FROM runs WHERE id = 2"
            Expect.equal (HistoryStore.append path time "hil" (report 3)) 3L "the id after the deleted newest"

        testCase "a file that is not SQLite is refused and left as it was"
        <| fun () ->
            let dir = folder ()
            let path = Path.Combine(dir, "notes.db")
            let bytes = Array.init 4096 (fun i -> byte (i * 7 + 3))
            File.WriteAllBytes(path, bytes)

            Expect.stringContains
                (refused (fun () -> HistoryStore.check path))
                "not an SQLite database"
                "check's refusal"

            Expect.stringContains
                (refused (fun () -> HistoryStore.append path time "hil" (report 1)))
                path
                "append's refusal names the file"

            Expect.stringContains
                (refused (fun () -> HistoryStore.recent path 5))
                "not an SQLite database"
                "recent's refusal"

            Expect.equal (File.ReadAllBytes path) bytes "the file is left as it was"

        testCase "another program's SQLite database is refused and left as it was"
        <| fun () ->
            let dir = folder ()
            let path = Path.Combine(dir, "photos.db")
            sql path "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos (name) VALUES ('cat')"
            let before = File.ReadAllBytes path
            let msg = refused (fun () -> HistoryStore.append path time "hil" (report 1))
            Expect.stringContains msg "another program" "the refusal says whose the file is"
            Expect.stringContains msg "photos" "the refusal names the foreign table"
            Expect.equal (File.ReadAllBytes path) before "the file is left as it was"

        testCase "a history of a newer schema is refused, naming both versions"
        <| fun () ->
            let dir = folder ()
            let path = Path.Combine(dir, "h.db")
            HistoryStore.append path time "hil" (report 1) |> ignore
            sql path "PRAGMA user_version = 2"
            let msg = refused (fun () -> HistoryStore.recent path 5)
            Expect.stringContains msg "newer tern" "recent's refusal"
            Expect.stringContains msg "schema 2" "recent's refusal names the file's schema"

            Expect.stringContains
                (refused (fun () -> HistoryStore.append path time "hil" (report 1)))
                "newer tern"
                "append's refusal"

        testCase "a damaged history (pages overwritten, or cut short) is refused"
        <| fun () ->
            let dir = folder ()
            let path = Path.Combine(dir, "h.db")

            for i in 1..200 do
                HistoryStore.append path time "hil" (report i) |> ignore

            let good = File.ReadAllBytes path
            Expect.isGreaterThan good.Length 16384 "the history spans several pages"

            // Everything after the header page: the table's pages.
            let overwritten = Array.copy good
            Array.fill overwritten 4096 (good.Length - 4096) 0xA5uy
            File.WriteAllBytes(path, overwritten)

            Expect.stringContains
                (refused (fun () -> HistoryStore.recent path 500))
                "damaged"
                "refusal of overwritten pages"

            File.WriteAllBytes(path, good[.. good.Length / 2])

            Expect.stringContains
                (refused (fun () -> HistoryStore.recent path 500))
                path
                "refusal of a file cut short names the file"

        testCase "a folder is refused as a history file"
        <| fun () ->
            let dir = folder ()
            Expect.stringContains (refused (fun () -> HistoryStore.check dir)) "folder" "check's refusal"

            Expect.stringContains
                (refused (fun () -> HistoryStore.append dir time "hil" (report 1)))
                "folder"
                "append's refusal"

        testCase "concurrent appends to one new file keep every run, each with its own id"
        <| fun () ->
            let dir = folder ()
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

            Expect.equal (ids |> Array.sort) [| 1L .. int64 (writers * each) |] "every append has its own id"

            let medians =
                HistoryStore.recent path 1000
                |> List.choose (fun r -> ReportFacts.work r.Report |> Option.map (fun w -> int w.Median))
                |> List.sort

            Expect.equal
                medians
                [
                    for w in 0 .. writers - 1 do
                        for i in 0 .. each - 1 -> w * 1000 + i
                ]
                "every run is kept"

        testCase "ofSubject returns that model's runs on that board, newest first"
        <| fun () ->
            let dir = folder ()
            let path = Path.Combine(dir, "h.db")
            let other = (report 9).AsObject()
            other["model_hash"] <- JsonValue.Create "ff00"
            let a = HistoryStore.append path time "hil" (report 1)
            HistoryStore.append path time "hil" other |> ignore
            HistoryStore.append path time "study ternary" (report 1) |> ignore
            let b = HistoryStore.append path time "hil" (report 2)

            Expect.equal
                (HistoryStore.ofSubject path "hil" "ab12" "qemu-mps2-an386"
                 |> List.map (fun r -> r.Id))
                [ b; a ]
                "the subject's run ids, newest first"

        testCase "the default file is $TERN_HISTORY, else tern/history.db in $XDG_DATA_HOME"
        <| fun () ->
            let keep name =
                name, Environment.GetEnvironmentVariable name

            let saved = [ keep "TERN_HISTORY"; keep "XDG_DATA_HOME" ]

            try
                Environment.SetEnvironmentVariable("TERN_HISTORY", "/some/where/runs.db")
                Expect.equal (HistoryStore.defaultPath ()) "/some/where/runs.db" "the path from $TERN_HISTORY"
                Environment.SetEnvironmentVariable("TERN_HISTORY", null)

                if not (OperatingSystem.IsWindows()) then
                    Environment.SetEnvironmentVariable("XDG_DATA_HOME", "/xdg/data")

                    Expect.equal
                        (HistoryStore.defaultPath ())
                        (Path.Combine("/xdg/data", "tern", "history.db"))
                        "the path in $XDG_DATA_HOME"
            finally
                for name, value in saved do
                    Environment.SetEnvironmentVariable(name, value)
    ]
