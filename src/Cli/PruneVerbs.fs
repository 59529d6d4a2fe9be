/// Pruning studies: study prune (seed 001's criteria and ratios).
module Tern.Cli.PruneVerbs

open System
open Argu
open Tern.Core
open Tern.Studies
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

/// Filter pruning by criterion and ratio per subject-grouped fold (seed 001's tables 3-12).
let studyPrune (args: ParseResults<StudyPruneArgs>) =
    let html = args.TryGetResult StudyPruneArgs.Html

    let history =
        HistoryOption.choose (args.TryGetResult StudyPruneArgs.History) (args.Contains StudyPruneArgs.No_History)

    let dir = args.GetResult StudyPruneArgs.Data
    let data = loadDataOption dir
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
        Progress.track "study prune" (folds * criteria.Length * ratios.Length) (fun p ->
            StudyPrune.run config data (function
                | BaselineEpoch(f, log) -> p.Status $"fold {f + 1}/{folds}  baseline {ProgressText.epoch log}"
                | Pruned r ->
                    p.Status $"fold {r.Fold + 1}/{folds}  {r.Criterion} {r.Ratio:F2}  acc {r.PrunedAccuracy:F3}"
                    p.Tick 1))

    let final =
        let last = List.last result.Rows

        $"{last.Criterion} at ratio {last.Ratio} (the table's last row), fine-tuned: each fold's model on its own "
        + "test subjects, predictions pooled"


    let report =
        Json.obj (
            [
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
            @ MetricsView.finalJson final result.FinalMetrics
        )

    HistoryOption.finish history "study prune" (args.Contains StudyPruneArgs.Json) report (fun () ->
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
        MetricsView.printFinal final result.FinalMetrics

        if data.Source <> "" then
            printfn "data: %s" data.Source)

    writeHtml html "study prune" report

let private searchJson (stage: SearchStage<'c>) (value: 'c -> Text.Json.Nodes.JsonNode) : Text.Json.Nodes.JsonNode =
    let r = stage.Result

    Json.obj [
        "grid", Json.arr (stage.Grid |> Array.map value)
        "grid_size", Json.int stage.Grid.Length
        "chosen",
        (match r.Chosen with
         | Some i -> value stage.Grid[i]
         | None -> null)
        "evaluations", Json.int r.Evaluations
        "linear_evaluations", Json.int r.LinearEvaluations
        "bound", Json.int (int (ceil (Math.Log2(float (max 1 stage.Grid.Length)))) + 2)
        "verified", Json.bool r.Verified
        "final_accuracy",
        (match r.FinalAccuracy with
         | Some a -> Json.num a
         | None -> null)
        "log",
        Json.arr (
            r.Log
            |> List.map (fun e ->
                Json.obj [
                    "index", Json.int e.Index
                    "candidate", value e.Candidate
                    "kind", Json.str ((sprintf "%A" e.Kind).ToLowerInvariant())
                    "accuracies", Json.arr (e.Accuracies |> List.map Json.num)
                    "accepted", Json.bool e.Accepted
                    "reason", Json.str e.Reason
                    "macs", Json.int64 e.Costs.Flops
                    "params", Json.int e.Costs.Params
                    "seconds", Json.num e.Seconds
                ])
        )
    ]

/// Instructions per inference of a float candidate on qemu-mps2-an386: lowered to ternary (calibrated on 64 of the
/// data's samples), one firmware build and two inferences, memoised by the model's content.
let private deviceInstructions (data: Dataset) : Model -> int64 =
    let board =
        match Tern.Rig.Boards.find "qemu-mps2-an386" with
        | Ok b -> b
        | Error e -> raise (Failure e)

    let calibration = Pipeline.calibrationInputs data.Shape 64 data.Samples
    let seen = Collections.Generic.Dictionary<string, int64>()

    fun model ->
        let im =
            match Lower.lower LowerOptions.Ternary calibration model with
            | Ok im -> im
            | Error e -> raise (Failure $"lowering a candidate failed: {e}")

        let key = ModelFile.hash (ModelFile.serializeInt im)

        match seen.TryGetValue key with
        | true, n -> n
        | _ ->
            let r =
                Tern.Rig.Hil.run {
                    Board = board
                    Model = im
                    Weights = "ternary"
                    Kernels = Tern.Rig.Dsp
                    Inputs = calibration |> List.truncate 2 |> List.map (fun t -> t.Data) |> List.toArray
                    Labels = None
                    Port = None
                    Cache = Tern.Rig.Firmware.defaultCache ()
                    Firmware = None
                    NoFlash = false
                    HelloTimeout = TimeSpan.FromSeconds 10.0
                    Progress = ignore
                }

            if r.Mismatches <> 0 then
                raise (Failure $"candidate {key}: the board disagreed with the host on {r.Mismatches} samples")

            seen[key] <- r.Work.Median
            r.Work.Median

/// Seed 003's bisection over retained blocks, then over global sparsity, with the cheap decision protocol.
let studySearch (args: ParseResults<StudySearchArgs>) =
    let html = args.TryGetResult StudySearchArgs.Html

    let history =
        HistoryOption.choose (args.TryGetResult StudySearchArgs.History) (args.Contains StudySearchArgs.No_History)

    let dir = args.GetResult StudySearchArgs.Data
    let data = loadDataOption dir
    let d = StudySearch.defaultConfig
    let p = d.Protocol

    let tolerance =
        match args.TryGetResult StudySearchArgs.Tolerance with
        | None -> p.Tolerance
        | Some spec ->
            let bad () =
                raise (BadInput $"--tolerance {spec}: expected fixed:MARGIN or hoeffding:DELTA")

            match spec.Split(':') with
            | [| kind; v |] ->
                match
                    Double.TryParse(v, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture)
                with
                | true, x when kind = "fixed" && x >= 0.0 && x < 1.0 -> Tolerance.Fixed x
                | true, x when kind = "hoeffding" && x > 0.0 && x < 1.0 -> Tolerance.Hoeffding x
                | _ -> bad ()
            | _ -> bad ()

    let protocol = {
        p with
            FineTuneEpochs = args.GetResult(StudySearchArgs.Fine_Tune, defaultValue = p.FineTuneEpochs)
            SubsetFraction = args.GetResult(StudySearchArgs.Subset, defaultValue = p.SubsetFraction)
            Repeats = args.GetResult(StudySearchArgs.Repeats, defaultValue = p.Repeats)
            Tolerance = tolerance
    }

    match Search.validate protocol with
    | Error e -> raise (BadInput e)
    | Ok() -> ()

    let epochs = args.GetResult(StudySearchArgs.Epochs, defaultValue = d.Train.Epochs)

    if epochs < 1 then
        raise (BadInput $"--epochs {epochs}: need at least 1")

    let step =
        args.GetResult(StudySearchArgs.Sparsity_Step, defaultValue = d.SparsityStep)

    if not (step > 0.0 && step <= d.SparsityMax) then
        raise (BadInput $"--sparsity-step {step}: expected a fraction in (0, {d.SparsityMax}]")

    match args.TryGetResult StudySearchArgs.Repack with
    | Some r when not (r >= 0.0 && r < 1.0) -> raise (BadInput $"--repack {r}: expected a fraction in [0, 1)")
    | _ -> ()

    let arch = args.GetResult(StudySearchArgs.Arch, defaultValue = d.Architecture)

    match Architectures.forData arch data.Shape data.Classes 1 with
    | Error e -> raise (BadInput $"--arch: {e}")
    | Ok m when (Model.residualBlocks m).IsEmpty ->
        raise (BadInput $"--arch {arch}: no droppable residual blocks (try blocks)")
    | Ok _ -> ()

    let config = {
        d with
            Seed = args.GetResult(StudySearchArgs.Seed, defaultValue = d.Seed)
            Architecture = arch
            DropOrder =
                match args.TryGetResult StudySearchArgs.Drop_Order with
                | Some DropOrderArg.Energy -> DropOrder.BranchEnergy
                | Some DropOrderArg.Suffix -> DropOrder.Suffix
                | None -> d.DropOrder
            Train = { d.Train with Epochs = epochs }
            Protocol = protocol
            AllowedDrop = args.GetResult(StudySearchArgs.Allowed_Drop, defaultValue = d.AllowedDrop)
            Repack = args.GetResult(StudySearchArgs.Repack, defaultValue = d.Repack)
            SparsityStep = step
            Budget = {
                MaxFlops = args.TryGetResult StudySearchArgs.Max_Flops
                MaxParams = args.TryGetResult StudySearchArgs.Max_Params
                MaxInstructions = args.TryGetResult StudySearchArgs.Max_Instructions
            }
            MeasureInstructions =
                if args.Contains StudySearchArgs.Max_Instructions then
                    Some(deviceInstructions data)
                else
                    None
    }

    let result =
        Progress.track "study search" epochs (fun p ->
            StudySearch.run config data (function
                | SearchBaselineEpoch log ->
                    p.Status $"baseline {ProgressText.epoch log}"
                    p.Tick 1
                | Evaluated(stage, index, _) -> p.Status $"{stage} candidate {index}"))

    args.TryGetResult StudySearchArgs.Out
    |> Option.iter (fun out -> ModelFile.saveFloat out result.Model)

    let b, s = result.BlockSearch, result.SparsitySearch
    let red = result.BaselineReduction

    let final =
        "the chosen model (blocks dropped, weights pruned, channels repacked) on the whole validation set"


    let report =
        Json.obj (
            [
                "data", Json.str dir
                "arch", Json.str result.Architecture
                "blocks", Json.int result.Blocks
                "drop_sequence", Json.arr (result.DropSequence |> List.map Json.int)
                "baseline_accuracy", Json.num result.BaselineAccuracy
                "target", Json.num result.Target
                "b_star",
                (match result.BStar with
                 | Some v -> Json.int v
                 | None -> null)
                "r_star",
                (match result.RStar with
                 | Some v -> Json.num v
                 | None -> null)
                "accuracy", Json.num result.Accuracy
                "meets_target", Json.bool (result.Accuracy >= result.Target)
                "within_budget", Json.bool result.BudgetViolations.IsEmpty
                "budget_violations", Json.arr (result.BudgetViolations |> List.map Json.str)
                "evaluations", Json.int (b.Result.Evaluations + s.Result.Evaluations)
                "linear_evaluations", Json.int (b.Result.LinearEvaluations + s.Result.LinearEvaluations)
                "block_search", searchJson b Json.int
                "sparsity_search", searchJson s Json.num
                "params_before", Json.int red.ParamsBefore
                "params_after", Json.int red.ParamsAfter
                "nonzero_params_after", Json.int (StudySearch.nonZeroParams result.Model)
                "params_reduction", Json.num red.ParamsReduction
                "flops_reduction", Json.num red.FlopsReduction
                "weight_sparsity", Json.num result.WeightSparsity
                "repacked_channels", Json.int (result.Repacked |> List.sumBy (fun r -> r.Removed.Length))
                "repack_undone_channels", Json.int result.RepackUndone
                "validation_samples", Json.int result.ValidationSamples
                "seconds", Json.num result.Seconds
                "source", Json.str data.Source
            ]
            @ MetricsView.finalJson final result.FinalMetrics
        )

    HistoryOption.finish history "study search" (args.Contains StudySearchArgs.Json) report (fun () ->
        printfn
            "%s: baseline validation accuracy %.4f, target %.4f (%d validation samples)"
            result.Architecture
            result.BaselineAccuracy
            result.Target
            result.ValidationSamples

        printfn "retained blocks:"
        printfn "%s" (Search.formatLog b.Result.Log string)

        printfn
            "  B* = %s of %d: %d evaluations (a linear sweep: %d)"
            (result.BStar |> Option.map string |> Option.defaultValue "none")
            result.Blocks
            b.Result.Evaluations
            b.Result.LinearEvaluations

        printfn "global sparsity:"
        printfn "%s" (Search.formatLog s.Result.Log (sprintf "%.2f"))

        printfn
            "  r* = %s: %d evaluations (a linear sweep: %d)"
            (result.RStar |> Option.map (sprintf "%.2f") |> Option.defaultValue "none")
            s.Result.Evaluations
            s.Result.LinearEvaluations

        printfn
            "final: accuracy %.4f (target %.4f), %d -> %d parameters (%d non-zero), MACs -%.1f %%, %d channels repacked (%.0f s)"
            result.Accuracy
            result.Target
            red.ParamsBefore
            red.ParamsAfter
            (StudySearch.nonZeroParams result.Model)
            (100.0 * red.FlopsReduction)
            (result.Repacked |> List.sumBy (fun r -> r.Removed.Length))
            result.Seconds

        if not result.BudgetViolations.IsEmpty then
            printfn
                "no candidate met the target within the budget; the final model is over it: %s"
                (String.concat "; " result.BudgetViolations)

        MetricsView.printFinal final result.FinalMetrics

        if data.Source <> "" then
            printfn "data: %s" data.Source)

    writeHtml html "study search" report
