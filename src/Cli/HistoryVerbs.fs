/// `tern history` (the runs kept) and `tern history diff A B` (two runs compared); the comparison table hil
/// --baseline prints too.
module Tern.Cli.HistoryVerbs

open System
open System.Globalization
open System.Text.Json.Nodes
open Argu
open Tern.Rig
open Tern.Cli.Args

let private stamp (t: DateTime) =
    t.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)

let private optional (x: 'a option) : JsonNode =
    match x with
    | Some v -> JsonValue.Create<'a> v
    | None -> null

/// Who a run is: id, time, verb, model hash, board, tern version.
let runIdentity (r: HistoryRun) : JsonObject =
    let o = JsonObject()
    o["id"] <- JsonValue.Create r.Id
    o["time"] <- JsonValue.Create(stamp r.Time)
    o["verb"] <- JsonValue.Create r.Verb
    o["model_hash"] <- optional r.ModelHash
    o["board"] <- optional r.Board
    o["tern_version"] <- JsonValue.Create r.TernVersion
    o

/// A run of the list: its identity and headline numbers (work per inference median, accuracy, mismatches, flash,
/// RAM; null where the report has none).
let runJson (r: HistoryRun) : JsonNode =
    let o = runIdentity r

    match ReportFacts.work r.Report with
    | Some w ->
        o["work_unit"] <- JsonValue.Create w.Unit
        o[$"{w.Unit}_per_inference"] <- JsonValue.Create w.Median
    | None ->
        o["work_unit"] <- null
        o["instructions_per_inference"] <- null

    for key in [ "accuracy"; "mismatches"; "flash_bytes"; "ram_bytes" ] do
        o[key] <- optional (ReportFacts.number key r.Report)

    o

/// Numbers of one row as the tables show them: whole numbers with thousands separators, others with four decimals
/// (one when they are large), all of a row alike so that a column of one metric lines up.
let formatRow (xs: float option list) : string list =
    let present = List.choose id xs

    let fmt: float -> string =
        if present |> List.forall (fun x -> x = Math.Round x && abs x < 1e15) then
            fun x -> x.ToString("N0", CultureInfo.InvariantCulture)
        elif present |> List.exists (fun x -> abs x >= 1000.0) then
            fun x -> x.ToString("N1", CultureInfo.InvariantCulture)
        else
            fun x -> x.ToString("F4", CultureInfo.InvariantCulture)

    xs |> List.map (Option.map fmt >> Option.defaultValue "-")

/// One number as the tables show it.
let formatValue (x: float) : string = formatRow [ Some x ] |> List.head

let private pct (x: float option) =
    match x with
    | None -> "-"
    | Some v -> v.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture) + " %"

/// Prints rows under headers as aligned columns (the first `left` columns left-aligned, the others right-aligned):
/// plain text, so that a CI log keeps it whole whatever its width.
let printColumns (left: int) (headers: string list) (rows: string list list) =
    let all = headers :: rows

    let widths =
        headers
        |> List.mapi (fun i _ -> all |> List.map (fun r -> (List.item i r).Length) |> List.max)

    for r in all do
        r
        |> List.mapi (fun i c ->
            if i < left then
                c.PadRight widths[i]
            else
                c.PadLeft widths[i])
        |> String.concat "  "
        |> fun line -> printfn "%s" (line.TrimEnd())

let private changeRow (m: MetricChange) : string list =
    match formatRow [ m.A; m.B; m.Change ] with
    | [ a; b; c ] ->
        let c =
            match m.Change with
            | Some v when v > 0.0 -> "+" + c
            | _ -> c

        [ a; b; c; pct m.ChangePct ]
    | _ -> failwith "unreachable"

/// The comparison as text tables (metrics, then per-layer work), the value columns headed by the two runs' labels.
let printComparison (labelA: string) (labelB: string) (c: ReportComparison) =
    for n in c.Notes do
        printfn "note: %s" n

    let values = [ labelA; labelB; "change"; "change %" ]

    if c.Metrics.IsEmpty then
        printfn "no number to compare"
    else
        printColumns 1 ("metric" :: values) [ for m in c.Metrics -> m.Metric :: changeRow m ]

    match c.LayerUnit with
    | Some unit when not c.Layers.IsEmpty ->
        printfn "%s per layer:" unit

        printColumns 3 ([ "#"; "layer"; "kind" ] @ values) [
            for l in c.Layers -> [ string l.Index; l.Name; l.Kind ] @ changeRow l.Work
        ]
    | _ -> ()

let private pathOf (file: string option) =
    defaultArg file (HistoryStore.defaultPath ())

let private parseId (text: string) : int64 =
    match Int64.TryParse text with
    | true, v when v >= 1L -> v
    | _ -> raise (BadInput $"'{text}' is not a run id (a whole number >= 1; tern history lists them)")

/// A stored run by id (exit 2 when there is none).
let findRun (path: string) (id: int64) : HistoryRun =
    match HistoryOption.guard (fun () -> HistoryStore.tryFind path id) with
    | Some r -> r
    | None -> raise (BadInput $"history: no run {id} in {path}")

/// A short description of a run for headings.
let describe (r: HistoryRun) : string =
    let model =
        r.ModelHash
        |> Option.map (fun h -> ", model " + Common.shortHash h)
        |> Option.defaultValue ""

    let board = r.Board |> Option.map (fun b -> ", " + b) |> Option.defaultValue ""
    $"""run {r.Id} ({r.Time.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC, {r.Verb}{model}{board})"""

/// tern history diff A B: run B against run A.
let historyDiff (file: string option) (json: bool) (args: ParseResults<HistoryDiffArgs>) =
    let path = pathOf (args.TryGetResult HistoryDiffArgs.History |> Option.orElse file)
    let ta, tb = args.GetResult HistoryDiffArgs.Runs
    let ia, ib = parseId ta, parseId tb
    let a, b = findRun path ia, findRun path ib

    if a.Verb <> b.Verb then
        raise (BadInput $"history: run {ia} is '{a.Verb}' and run {ib} '{b.Verb}': only runs of one verb compare")

    let c = ReportDiff.compare a.Report b.Report

    if json then
        let o = ReportDiff.toJson c
        o.Insert(0, "history", JsonValue.Create path)
        o.Insert(1, "a", runIdentity a)
        o.Insert(2, "b", runIdentity b)
        printfn "%s" (Json.render o)
    else
        printfn "%s -> %s" (describe a) (describe b)
        printfn "(change = run %d - run %d; %% of run %d's value)" ib ia ia
        printComparison $"run {ia}" $"run {ib}" c

/// tern history: the last runs, oldest first.
let history (args: ParseResults<HistoryArgs>) =
    let file = args.TryGetResult HistoryArgs.History
    let json = args.Contains HistoryArgs.Json

    match args.TryGetSubCommand() with
    | Some(HistoryArgs.Diff d) ->
        if args.Contains HistoryArgs.Limit then
            raise (BadInput "--limit applies to the list, not to history diff")

        if file.IsSome && d.Contains HistoryDiffArgs.History then
            raise (BadInput "give --history once (before or after diff)")

        historyDiff file (json || d.Contains HistoryDiffArgs.Json) d
    | _ ->
        let limit = args.GetResult(HistoryArgs.Limit, defaultValue = 20)

        if limit < 1 then
            raise (BadInput $"--limit {limit}: must be at least 1")

        let path = pathOf file

        let runs, total =
            HistoryOption.guard (fun () -> HistoryStore.recent path limit, HistoryStore.count path)

        if json then
            printfn
                "%s"
                (Json.render (
                    Json.obj [
                        "history", Json.str path
                        "schema_version", Json.int HistoryStore.SchemaVersion
                        "total", Json.int64 total
                        "runs", Json.arr (runs |> List.map runJson)
                    ]
                ))
        elif runs.IsEmpty then
            printfn "no runs in %s" path
        else
            let rows = [
                for r in runs ->
                    let work = ReportFacts.work r.Report

                    let numbers =
                        formatRow [ work |> Option.map (fun w -> w.Median) ]
                        @ [
                            ReportFacts.number "accuracy" r.Report
                            |> Option.map (fun a -> a.ToString("F4", CultureInfo.InvariantCulture))
                            |> Option.defaultValue "-"
                        ]
                        @ formatRow [
                            for k in [ "mismatches"; "flash_bytes"; "ram_bytes" ] -> ReportFacts.number k r.Report
                        ]

                    [
                        string r.Id
                        r.Time.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)
                        r.Verb
                        r.ModelHash |> Option.map Common.shortHash |> Option.defaultValue "-"
                        defaultArg r.Board "-"
                        work |> Option.map (fun w -> w.Unit) |> Option.defaultValue "-"
                    ]
                    @ numbers
            ]

            printColumns
                6
                [
                    "id"
                    "time (UTC)"
                    "verb"
                    "model"
                    "board"
                    "unit"
                    "work/inference"
                    "accuracy"
                    "mismatches"
                    "flash"
                    "RAM"
                ]
                rows

            printfn "%d of %d runs in %s" runs.Length total path
