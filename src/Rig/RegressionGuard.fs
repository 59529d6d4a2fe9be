namespace Tern.Rig

open System
open System.Text.Json.Nodes

/// One guarded number against the baseline.
type RegressionCheck = {
    /// "instructions_per_inference" (or "cycles_per_inference") or "accuracy".
    Metric: string
    Baseline: float
    Current: float
    /// Relative change in percent (None when the baseline is 0).
    ChangePct: float option
    Regressed: bool
}

/// The verdict of `hil --baseline ... --fail-on-regression PCT`.
type RegressionVerdict = {
    ThresholdPct: float
    Checks: RegressionCheck list
    /// Guarded numbers that could not be compared, and why.
    Skipped: string list
} with

    member v.Regressed = v.Checks |> List.exists (fun c -> c.Regressed)

/// The regression guard of a CI job watching a model: per-inference work may not grow, accuracy may not fall, by
/// more than a percentage of the baseline's value; and which earlier run is the baseline.
[<RequireQualifiedAccess>]
module RegressionGuard =
    /// Whether a stored hil report passed: bit-exact, and not itself a regression against its own baseline.
    let passed (report: JsonNode) : bool =
        let bitExact = ReportFacts.number "mismatches" report = Some 0.0

        let regressed =
            ReportFacts.text "verdict" (ReportFacts.child "baseline" report) = Some "regression"

        bitExact && not regressed

    /// Keys whose values must be equal for two hil reports to measure the same thing: the model, where and how it
    /// ran, and on which inputs (sample count and the subjects drawn).
    let sameMeasurement = [
        "model_hash"
        "board"
        "kernels"
        "work_unit"
        "split"
        "codec"
        "samples"
        "subjects"
    ]

    /// Whether an earlier report measured the same thing as the current one (`sameMeasurement`).
    let comparable (current: JsonNode) (earlier: JsonNode) : bool =
        sameMeasurement
        |> List.forall (fun k -> ReportFacts.raw k current = ReportFacts.raw k earlier)

    /// `--baseline last`: the newest of the candidates (newest first) that is comparable and passed.
    let pickLast (current: JsonNode) (candidates: HistoryRun list) : HistoryRun option =
        candidates
        |> List.tryFind (fun r -> comparable current r.Report && passed r.Report)

    /// True when `current` is worse than `baseline` by more than pct percent of the baseline, in the direction that
    /// hurts (growth for work, a fall for accuracy). Multiplied out so that exactly pct is not a regression.
    let exceeds (higherIsWorse: bool) (pct: float) (baseline: float) (current: float) : bool =
        let worse =
            if higherIsWorse then
                current - baseline
            else
                baseline - current

        worse * 100.0 > pct * abs baseline

    let private checkOf (metric: string) (higherIsWorse: bool) (pct: float) (b: float) (c: float) = {
        Metric = metric
        Baseline = b
        Current = c
        ChangePct = if b = 0.0 then None else Some((c - b) / abs b * 100.0)
        Regressed = exceeds higherIsWorse pct b c
    }

    /// Checks the current report against the baseline report with a threshold in percent.
    let check (pct: float) (baseline: JsonNode) (current: JsonNode) : RegressionVerdict =
        if Double.IsNaN pct || pct < 0.0 then
            invalidArg "pct" $"the threshold must be a percentage >= 0, not {pct}"

        let skipped = ResizeArray<string>()

        let work =
            match ReportFacts.work baseline, ReportFacts.work current with
            | Some b, Some c when b.Unit = c.Unit -> [ checkOf $"{c.Unit}_per_inference" true pct b.Median c.Median ]
            | Some b, Some c ->
                skipped.Add $"work per inference: the baseline counts {b.Unit}, this run {c.Unit}"
                []
            | _ ->
                skipped.Add "work per inference: missing from one of the reports"
                []

        let accuracy =
            match ReportFacts.number "accuracy" baseline, ReportFacts.number "accuracy" current with
            | Some b, Some c -> [ checkOf "accuracy" false pct b c ]
            | None, _ ->
                skipped.Add "accuracy: the baseline has none (unlabelled inputs)"
                []
            | _, None ->
                skipped.Add "accuracy: this run has none (unlabelled inputs)"
                []

        {
            ThresholdPct = pct
            Checks = work @ accuracy
            Skipped = List.ofSeq skipped
        }

    /// The verdict as JSON: threshold_pct, checks [{metric, baseline, current, change_pct, regressed}], skipped.
    let toJson (v: RegressionVerdict) : JsonObject =
        let o = JsonObject()
        o["threshold_pct"] <- JsonValue.Create v.ThresholdPct

        o["checks"] <-
            JsonArray(
                v.Checks
                |> List.map (fun c ->
                    let j = JsonObject()
                    j["metric"] <- JsonValue.Create c.Metric
                    j["baseline"] <- JsonValue.Create c.Baseline
                    j["current"] <- JsonValue.Create c.Current

                    j["change_pct"] <-
                        match c.ChangePct with
                        | Some p -> JsonValue.Create(Math.Round(p, 4))
                        | None -> null

                    j["regressed"] <- JsonValue.Create c.Regressed
                    j :> JsonNode)
                |> List.toArray
            )

        o["skipped"] <- JsonArray(v.Skipped |> List.map (fun s -> JsonValue.Create s :> JsonNode) |> List.toArray)
        o
