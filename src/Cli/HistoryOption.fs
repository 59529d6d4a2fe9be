/// `--history FILE` / `--no-history` of the verbs whose runs the history keeps (hil, every study).
module Tern.Cli.HistoryOption

open System
open System.Text.Json.Nodes
open Tern.Rig
open Tern.Cli.Args

/// Where runs are read from and whether this run is appended.
type HistoryChoice = { Path: string; Record: bool }

/// Runs an operation on the history, turning its errors into the verb's: a bad file is bad input (exit 2), a busy
/// or failing store a failure (exit 1).
let guard (f: unit -> 'a) : 'a =
    try
        f ()
    with
    | HistoryFileError msg -> raise (BadInput $"history: {msg}")
    | HistoryFailure msg -> raise (Failure $"history: {msg}")

/// The choice from the verb's options ($TERN_HISTORY or the user's data folder by default). Both options together are
/// refused. An existing file is checked now, before any long work, so that a foreign or damaged file stops the run
/// early.
let choose (file: string option) (skip: bool) : HistoryChoice =
    match file, skip with
    | Some _, true -> raise (BadInput "--history and --no-history exclude each other")
    | Some "", _ -> raise (BadInput "--history: give a file name")
    | _ ->
        let choice = {
            Path = defaultArg file (HistoryStore.defaultPath ())
            Record = not skip
        }

        if choice.Record then
            // A file the user names is an output like any other: its folder must exist (only the default folder is
            // created).
            file
            |> Option.iter (fun f ->
                match OutputPaths.checkPath "--history" false f with
                | Ok() -> ()
                | Error e -> raise (BadInput e))

            guard (fun () -> HistoryStore.check choice.Path)

        choice

/// Appends the verb's finished report (unless --no-history) and returns the run id.
let record (choice: HistoryChoice) (verb: string) (report: JsonNode) : int64 option =
    if choice.Record then
        Some(guard (fun () -> HistoryStore.append choice.Path DateTime.UtcNow verb report))
    else
        None

/// The report as printed: the stored object plus where it was stored (`history`: {file, run}), which the stored copy
/// cannot hold since its id is known only once it is written.
let annotate (choice: HistoryChoice) (id: int64 option) (report: JsonNode) : JsonNode =
    match id with
    | None -> report
    | Some i ->
        let printed = report.DeepClone().AsObject()
        let h = JsonObject()
        h["file"] <- JsonValue.Create choice.Path
        h["run"] <- JsonValue.Create i
        printed["history"] <- h
        printed

/// One line for the human summary.
let summaryLine (choice: HistoryChoice) (id: int64 option) : string option =
    id |> Option.map (fun i -> $"history: run {i} in {choice.Path}")

/// The end of a verb that keeps its runs: records the report, then prints it (--json: the object with `history`)
/// or the human summary followed by the run's id.
let finish (choice: HistoryChoice) (verb: string) (json: bool) (report: JsonNode) (human: unit -> unit) : unit =
    let id = record choice verb report

    if json then
        printfn "%s" (Json.render (annotate choice id report))
    else
        human ()
        summaryLine choice id |> Option.iter (printfn "%s")
