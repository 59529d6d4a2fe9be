/// The test program: Expecto runs every `[<Tests>]` value of this assembly. Tests run one at a time (`--sequenced`
/// unless told otherwise), as several share the console (the CLI in-process), environment variables and QEMU.
module Tern.Tests.Main

open System
open System.IO
open Expecto

[<EntryPoint>]
let main argv =
    // Every `tern hil` or study run in-process appends to the history: point $TERN_HISTORY at a file of this run.
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-history-" + Guid.NewGuid().ToString("N"))

    Directory.CreateDirectory dir |> ignore
    let previous = Environment.GetEnvironmentVariable "TERN_HISTORY"
    Environment.SetEnvironmentVariable("TERN_HISTORY", Path.Combine(dir, "history.db"))

    try
        let inParallel = argv |> Array.exists (fun a -> a = "--parallel")
        let defaults = if inParallel then [] else [ CLIArguments.Sequenced ]
        runTestsInAssemblyWithCLIArgs defaults argv
    finally
        Environment.SetEnvironmentVariable("TERN_HISTORY", previous)
        Scratch.removeAll ()

        if Directory.Exists dir then
            Directory.Delete(dir, true)
