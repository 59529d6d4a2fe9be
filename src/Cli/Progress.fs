/// Progress bars for long work, shown only when a person is watching (a terminal, not CI).
module Tern.Cli.Progress

open System
open Spectre.Console

/// True when stdout is a terminal and no CI variable is set.
let interactive () : bool =
    not Console.IsOutputRedirected
    && String.IsNullOrEmpty(Environment.GetEnvironmentVariable "CI")

/// Runs work that reports progress as a count of `total` steps; shows a bar when interactive.
let run (title: string) (total: int) (work: (int -> unit) -> 'a) : 'a =
    if interactive () then
        AnsiConsole
            .Progress()
            .AutoClear(true)
            .Start(fun ctx ->
                let task = ctx.AddTask(title, maxValue = float total)
                work (fun n -> task.Increment(float n)))
    else
        work ignore
