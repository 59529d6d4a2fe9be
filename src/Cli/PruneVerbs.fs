/// Pruning studies: study prune (seed 001's criteria and ratios).
module Tern.Cli.PruneVerbs

open System
open Argu
open Tern.Core
open Tern.Cli.Args
open Tern.Cli.Common

let private parseList (option: string) (text: string) (parse: string -> Result<'a, string>) : 'a list =
    let parts =
        text.Split(',', StringSplitOptions.TrimEntries ||| StringSplitOptions.RemoveEmptyEntries)

    if parts.Length = 0 then
        raise (BadInput $"{option} '{text}': empty list")

    parts
    |> Array.map (fun p ->
        match parse p with
        | Ok v -> v
        | Error e -> raise (BadInput $"{option} '{text}': {e}"))
    |> Array.toList

let private parseRatio (p: string) : Result<float, string> =
    match Double.TryParse(p, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
    | true, r when r >= 0.0 && r < 1.0 -> Ok r
    | _ -> Error $"'{p}' is not a ratio in [0, 1)"

let private loadData (dir: string) : Dataset =
    if not (IO.Directory.Exists dir) then
        raise (BadInput $"--data {dir}: no such folder")

    match Dataset.load dir with
    | Ok d -> d
    | Error e -> raise (BadInput e)

/// Filter pruning by criterion and ratio per subject-grouped fold (seed 001's tables 3-12).
let studyPrune (args: ParseResults<StudyPruneArgs>) =
    let dir = args.GetResult StudyPruneArgs.Data
    let data = loadData dir
    let d = StudyPrune.defaultConfig

    let criteria =
        args.TryGetResult StudyPruneArgs.Criteria
        |> Option.map (fun t -> parseList "--criteria" t PruneCriteria.Criterion.parse)
        |> Option.defaultValue d.Criteria

    let ratios =
        args.TryGetResult StudyPruneArgs.Ratios
        |> Option.map (fun t -> parseList "--ratios" t parseRatio)
        |> Option.defaultValue d.Ratios

    let folds = args.GetResult(StudyPruneArgs.Folds, defaultValue = 5)

    if folds < 2 then
        raise (BadInput $"--folds {folds}: need at least 2")

    let epochs = args.GetResult(StudyPruneArgs.Epochs, defaultValue = d.Train.Epochs)

    let fineTune =
        args.GetResult(StudyPruneArgs.Fine_Tune, defaultValue = d.FineTune.Epochs)

    if epochs < 1 || fineTune < 1 then
        raise (BadInput $"--epochs {epochs} / --fine-tune {fineTune}: need at least 1")

    let arch = args.GetResult(StudyPruneArgs.Arch, defaultValue = d.Architecture)

    match Architectures.forData arch data.Shape data.Classes 1 with
    | Error e -> raise (BadInput $"--arch: {e}")
    | Ok m when (Surgery.prunable m).IsEmpty -> raise (BadInput $"--arch {arch}: no layer has removable filters")
    | Ok _ -> ()

    let config = {
        d with
            Split = KFold folds
            Seed = args.GetResult(StudyPruneArgs.Seed, defaultValue = d.Seed)
            Architecture = arch
            Criteria = criteria
            Ratios = ratios
            Train = { d.Train with Epochs = epochs }
            FineTune = { d.FineTune with Epochs = fineTune }
    }

    let result =
        Progress.run "study prune" (folds * criteria.Length * ratios.Length) (fun tick ->
            StudyPrune.run config data (function
                | Pruned _ -> tick 1
                | _ -> ()))

    if args.Contains StudyPruneArgs.Json then
        printfn
            "%s"
            (Json.render (
                Json.obj [
                    "data", Json.str dir
                    "arch", Json.str result.Architecture
                    "params", Json.int result.Params
                    "macs", Json.int64 result.Macs
                    "folds", Json.int folds
                    "rows",
                    Json.arr (
                        result.Rows
                        |> List.map (fun r ->
                            Json.obj [
                                "criterion", Json.str r.Criterion
                                "ratio", Json.num r.Ratio
                                "baseline_accuracy", Json.num r.BaselineAccuracy
                                "pruned_accuracy", Json.num r.PrunedAccuracy
                                "accuracy_drop", Json.num r.AccuracyDrop
                                "flops_reduction", Json.num r.FlopsReduction
                                "params_reduction", Json.num r.ParamsReduction
                                "kept_channels", Json.arr (r.KeptChannels |> List.map Json.int)
                            ])
                    )
                    "fold_rows",
                    Json.arr (
                        result.Folds
                        |> List.map (fun f ->
                            Json.obj [
                                "fold", Json.int f.Fold
                                "criterion", Json.str f.Criterion
                                "ratio", Json.num f.Ratio
                                "baseline_accuracy", Json.num f.BaselineAccuracy
                                "surgery_accuracy", Json.num f.SurgeryAccuracy
                                "pruned_accuracy", Json.num f.PrunedAccuracy
                                "params_after", Json.int f.Reduction.ParamsAfter
                                "macs_after", Json.int64 f.Reduction.MacsAfter
                                "seconds", Json.num f.Seconds
                            ])
                    )
                    "seconds", Json.num result.Seconds
                    "source", Json.str data.Source
                ]
            ))
    else
        printfn
            "%s: %d parameters, %d MACs; %d-fold, mean over folds of the test subjects' accuracy"
            result.Architecture
            result.Params
            result.Macs
            folds

        printfn "criterion  ratio  baseline  pruned   drop     FLOPs-%%  params-%%  kept filters"

        for r in result.Rows do
            printfn
                "%-9s  %5.2f  %8.4f  %7.4f  %7.4f  %7.1f  %8.1f  %s"
                r.Criterion
                r.Ratio
                r.BaselineAccuracy
                r.PrunedAccuracy
                r.AccuracyDrop
                (100.0 * r.FlopsReduction)
                (100.0 * r.ParamsReduction)
                (r.KeptChannels |> List.map string |> String.concat "/")

        printfn "(%.0f s)" result.Seconds

        if data.Source <> "" then
            printfn "data: %s" data.Source
