namespace Tern.Tests

open System
open System.IO
open NUnit.Framework

/// Every test that runs `tern hil` or a study in-process would append to the user's history: point $TERN_HISTORY at a
/// file of this test run instead, for the whole assembly (tests that choose a file pass --history).
[<SetUpFixture>]
type HistoryIsolation() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-history-" + Guid.NewGuid().ToString("N"))

    let mutable previous: string = null

    /// The file the tests' runs go to.
    static member val File = "" with get, set

    [<OneTimeSetUp>]
    member _.Isolate() =
        Directory.CreateDirectory dir |> ignore
        previous <- Environment.GetEnvironmentVariable "TERN_HISTORY"
        HistoryIsolation.File <- Path.Combine(dir, "history.db")
        Environment.SetEnvironmentVariable("TERN_HISTORY", HistoryIsolation.File)

    [<OneTimeTearDown>]
    member _.Restore() =
        Environment.SetEnvironmentVariable("TERN_HISTORY", previous)

        if Directory.Exists dir then
            Directory.Delete(dir, true)
