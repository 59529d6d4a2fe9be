/// The regression guard: the threshold's edge, monotonicity, which numbers it checks, and which earlier run
/// `--baseline last` picks.
module Tern.Tests.RegressionGuardTests

open System
open System.Text.Json.Nodes
open FsCheck
open FsCheck.FSharp
open Expecto
open Tern.Rig

/// A baseline (a multiple of 100, so that pct percent of it is whole) and a threshold in whole percent.
let private edges =
    Gen.zip (Gen.choose (1, 100_000) |> Gen.map (fun k -> 100 * k)) (Gen.choose (0, 50))
    |> Arb.fromGen

let private run (id: int64) (report: JsonNode) : HistoryRun = {
    Id = id
    Time = DateTime.UnixEpoch
    Verb = "hil"
    ModelHash = ReportFacts.text "model_hash" report
    Board = ReportFacts.text "board" report
    TernVersion = "0"
    Report = report
}

/// A report with some settings changed.
let private variant (o: JsonObject) (changes: (string * JsonNode) list) : JsonNode =
    let c = o.DeepClone().AsObject()

    for k, v in changes do
        c[k] <- v

    c

[<Tests>]
let tests =
    testList "RegressionGuardTests" [
        testProperty "growth of exactly PCT percent passes; one more instruction fails"
        <| fun () ->
            Prop.forAll edges (fun (b, pct) ->
                let limit = float (b + b / 100 * pct)

                not (RegressionGuard.exceeds true (float pct) (float b) limit)
                && RegressionGuard.exceeds true (float pct) (float b) (limit + 1.0))

        testProperty "a fall of exactly PCT percent of accuracy passes; a little more fails"
        <| fun () ->
            Prop.forAll edges (fun (b, pct) ->
                let b = float b / 1e7
                let edge = b - b * float pct / 100.0

                not (RegressionGuard.exceeds false (float pct) b (edge + 1e-12))
                && RegressionGuard.exceeds false (float pct) b (edge - 1e-9))

        testProperty "worse stays worse: a regression at one value is one at every worse value"
        <| fun (higherIsWorse: bool) ->
            let cases =
                Gen.zip3 (Gen.choose (1, 10_000)) (Gen.choose (0, 20_000)) (Gen.choose (0, 5_000))
                |> Arb.fromGen

            Prop.forAll cases (fun (b, c, more) ->
                let worse = if higherIsWorse then c + more else c - more

                not (RegressionGuard.exceeds higherIsWorse 5.0 (float b) (float c))
                || RegressionGuard.exceeds higherIsWorse 5.0 (float b) (float worse))

        testProperty "the verdict checks work and accuracy and regresses exactly when one of them does"
        <| fun () ->
            let cases =
                Gen.zip3 Generators.hilReport Generators.hilReport (Gen.choose (0, 30))
                |> Arb.fromGen

            Prop.forAll cases (fun (baseline, current, pct) ->
                let v = RegressionGuard.check (float pct) baseline current
                let wb, wc = (ReportFacts.work baseline).Value, (ReportFacts.work current).Value
                let growth = RegressionGuard.exceeds true (float pct) wb.Median wc.Median

                let fall =
                    match ReportFacts.number "accuracy" baseline, ReportFacts.number "accuracy" current with
                    | Some b, Some c -> RegressionGuard.exceeds false (float pct) b c
                    | _ -> false

                let hasAccuracy = v.Checks |> List.exists (fun c -> c.Metric = "accuracy")

                v.Regressed = (growth || fall)
                && (hasAccuracy || v.Skipped |> List.exists (fun s -> s.StartsWith "accuracy"))
                && v.Checks.Head.Metric = "instructions_per_inference")

        testCase "a zero threshold fails any growth; a negative one is refused"
        <| fun () ->
            let r (median: int) (acc: float) =
                JsonNode.Parse
                    $"""{{"work_unit": "instructions", "instructions_per_inference": {{"median": {median}}}, "accuracy": {acc}}}"""

            Expect.isFalse (RegressionGuard.check 0.0 (r 100 0.5) (r 100 0.5)).Regressed "no change is no regression"
            Expect.isTrue (RegressionGuard.check 0.0 (r 100 0.5) (r 101 0.5)).Regressed "one more instruction regresses"
            Expect.isTrue (RegressionGuard.check 0.0 (r 100 0.5) (r 99 0.4)).Regressed "a fall of accuracy regresses"

            Expect.throwsT<ArgumentException>
                (fun () -> RegressionGuard.check -1.0 (r 1 0.5) (r 1 0.5) |> ignore)
                "a negative threshold is refused"

        testCase "last skips runs that failed, regressed or measured something else, and takes the newest of the rest"
        <| fun () ->
            let current = Gen.sample 1 Generators.hilReport |> Array.head
            current["mismatches"] <- JsonValue.Create 0
            let same = variant current []

            let candidates = [
                run 9L (variant current [ "mismatches", JsonValue.Create 2 ])
                run 8L (variant current [ "baseline", JsonNode.Parse """{"verdict": "regression"}""" ])
                run 7L (variant current [ "kernels", JsonValue.Create "reference" ])
                run 6L (variant current [ "samples", JsonValue.Create 5 ])
                run 5L (variant current [ "split", JsonValue.Create 2 ])
                run 4L (variant current [ "baseline", JsonNode.Parse """{"verdict": "ok"}""" ])
                run 3L same
            ]

            Expect.equal
                (RegressionGuard.pickLast current candidates |> Option.map (fun r -> r.Id))
                (Some 4L)
                "the newest comparable passing run"

            Expect.equal
                (RegressionGuard.pickLast current (List.take 5 candidates))
                None
                "none among runs that are not comparable or did not pass"

        testProperty "last is a comparable passing candidate, and no newer candidate is"
        <| fun () ->
            let cases =
                Gen.zip Generators.hilReport (Gen.listOf Generators.hilReport) |> Arb.fromGen

            Prop.forAll cases (fun (current, others) ->
                let candidates = others |> List.mapi (fun i r -> run (int64 (100 - i)) r)

                let ok (r: HistoryRun) =
                    RegressionGuard.comparable current r.Report && RegressionGuard.passed r.Report

                match RegressionGuard.pickLast current candidates with
                | None -> candidates |> List.forall (ok >> not)
                | Some r ->
                    ok r
                    && candidates |> List.takeWhile (fun c -> c.Id <> r.Id) |> List.forall (ok >> not))
    ]
