/// `hil --baseline last|ID [--fail-on-regression PCT]`: this run against an earlier one from the history.
module Tern.Cli.BaselineOption

open System
open System.Globalization
open System.Text.Json.Nodes
open Tern.Rig
open Tern.Cli.Args

/// Which earlier run: the newest comparable passing one, or a run the user names.
type BaselineRequest =
    | Last
    | RunId of int64

type Baseline = {
    Request: BaselineRequest
    /// --fail-on-regression.
    ThresholdPct: float option
    /// The history file the baseline is read from.
    Path: string
}

/// What the comparison found.
type BaselineOutcome = {
    Baseline: Baseline
    /// None: `last` found no comparable passing run.
    Run: HistoryRun option
    Comparison: ReportComparison option
    Verdict: RegressionVerdict option
}

let private requestText (r: BaselineRequest) =
    match r with
    | Last -> "last"
    | RunId i -> string i

/// Reads the options; --fail-on-regression needs --baseline.
let parse (baseline: string option) (failOn: float option) (path: string) : Baseline option =
    match baseline, failOn with
    | None, Some _ -> raise (BadInput "--fail-on-regression needs --baseline last or --baseline ID")
    | _, Some p when not (Double.IsFinite p) || p < 0.0 ->
        raise (BadInput $"--fail-on-regression {p}: a percentage >= 0")
    | None, None -> None
    | Some text, _ ->
        let request =
            match text.Trim().ToLowerInvariant() with
            | "last" -> Last
            | t ->
                match Int64.TryParse t with
                | true, v when v >= 1L -> RunId v
                | _ -> raise (BadInput $"--baseline {text}: 'last' or a run id (tern history lists them)")

        Some {
            Request = request
            ThresholdPct = failOn
            Path = path
        }

/// A named run must exist, be a hil run and have run on this board (other units or boards do not compare); checked
/// before the run starts.
let precheck (b: Baseline) (board: string) : unit =
    match b.Request with
    | Last -> HistoryOption.guard (fun () -> HistoryStore.check b.Path)
    | RunId id ->
        let run = HistoryVerbs.findRun b.Path id

        if run.Verb <> "hil" then
            raise (BadInput $"--baseline {id}: run {id} is '{run.Verb}', not a hil run")

        match run.Board with
        | Some rb when rb <> board ->
            raise (BadInput $"--baseline {id}: run {id} ran on {rb}, this run on {board}: their costs do not compare")
        | _ -> ()

/// Finds the baseline of a finished run (before the run itself is recorded) and compares.
let evaluate (b: Baseline) (current: JsonNode) : BaselineOutcome =
    let run =
        match b.Request with
        | RunId id -> Some(HistoryVerbs.findRun b.Path id)
        | Last ->
            match ReportFacts.text "model_hash" current, ReportFacts.text "board" current with
            | Some hash, Some board ->
                HistoryOption.guard (fun () -> HistoryStore.ofSubject b.Path "hil" hash board)
                |> RegressionGuard.pickLast current
            | _ -> None

    {
        Baseline = b
        Run = run
        Comparison = run |> Option.map (fun r -> ReportDiff.compare r.Report current)
        Verdict =
            match run, b.ThresholdPct with
            | Some r, Some pct -> Some(RegressionGuard.check pct r.Report current)
            | _ -> None
    }

let private verdictName (o: BaselineOutcome) =
    match o.Verdict with
    | Some v when v.Regressed -> "regression"
    | Some _ -> "ok"
    | None -> "not checked"

/// The `baseline` key of the hil report: requested, run (null when none), the comparison (notes, changes, layers),
/// regression ({threshold_pct, checks, skipped} or null) and verdict ("ok", "regression" or "not checked").
let toJson (o: BaselineOutcome) : JsonNode =
    let j = JsonObject()
    j["requested"] <- JsonValue.Create(requestText o.Baseline.Request)

    match o.Run, o.Comparison with
    | Some r, Some c ->
        j["run"] <- HistoryVerbs.runIdentity r

        for KeyValue(k, v) in ReportDiff.toJson c |> Seq.toList do
            j[k] <- (if isNull v then null else v.DeepClone())
    | _ ->
        j["run"] <- null

        j["note"] <-
            JsonValue.Create
                "no earlier passing run of this model hash, board, kernels, split and samples in the history"

    j["regression"] <-
        match o.Verdict with
        | Some v -> RegressionGuard.toJson v
        | None -> null

    j["verdict"] <- JsonValue.Create(verdictName o)
    j

let private percent (x: float) =
    x.ToString("0.##", CultureInfo.InvariantCulture) + " %"

/// The human part: which run, the changes, the verdict.
let print (o: BaselineOutcome) : unit =
    match o.Run, o.Comparison with
    | Some r, Some c ->
        let why =
            match o.Baseline.Request with
            | Last -> "the newest passing run of this model, board, kernels, split and samples"
            | RunId _ -> "named with --baseline"

        printfn "baseline: %s, %s" (HistoryVerbs.describe r) why
        HistoryVerbs.printComparison $"run {r.Id}" "this run" c
    | _ ->
        printfn
            "baseline: no earlier passing run of this model hash, board, kernels, split and samples in %s: nothing compared"
            o.Baseline.Path

    o.Verdict
    |> Option.iter (fun v ->
        for c in v.Checks do
            let change =
                c.ChangePct
                |> Option.map (fun p -> p.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture) + " %")
                |> Option.defaultValue "n/a"

            let values = HistoryVerbs.formatRow [ Some c.Baseline; Some c.Current ]

            printfn
                "  %s %s -> %s (%s, limit %s %s): %s"
                c.Metric
                values[0]
                values[1]
                change
                (if c.Metric = "accuracy" then "fall" else "growth")
                (percent v.ThresholdPct)
                (if c.Regressed then "REGRESSION" else "ok")

        for s in v.Skipped do
            printfn "  not checked: %s" s)

/// The failure message when the guard tripped.
let failure (o: BaselineOutcome) : string option =
    match o.Run, o.Verdict with
    | Some r, Some v when v.Regressed ->
        let what =
            v.Checks
            |> List.filter (fun c -> c.Regressed)
            |> List.map (fun c ->
                let p =
                    c.ChangePct |> Option.map (sprintf "%+.2f %%") |> Option.defaultValue "from 0"

                $"{c.Metric} {p}")
            |> String.concat ", "

        Some $"regression against run {r.Id}: {what} (limit {percent v.ThresholdPct})"
    | _ -> None
