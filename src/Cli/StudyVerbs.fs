/// Studies that reproduce the seeds' tables on Tern's own data: study ternary.
module Tern.Cli.StudyVerbs

open System
open Argu
open Tern.Core
open Tern.Cli.Args
open Tern.Cli.Common

let private foldJson (f: StudyFold) : System.Text.Json.Nodes.JsonNode =
    Json.obj [
        "fold", Json.int f.Fold
        "train_samples", Json.int f.TrainSamples
        "test_samples", Json.int f.TestSamples
        "fp32_accuracy", Json.num f.Fp32Accuracy
        "fp32_macro_f1", Json.num f.Fp32MacroF1
        "ternary_accuracy", Json.num f.TernaryAccuracy
        "ternary_macro_f1", Json.num f.TernaryMacroF1
        "sparsity", Json.num f.Sparsity
        "pruned", Json.num f.Pruned
        "fp32_epochs", Json.int f.Fp32Epochs
        "qat_epochs", Json.int f.QatEpochs
        "seconds", Json.num f.Seconds
    ]

/// FP32 against integer ternary accuracy per subject-grouped fold (seed 000's table).
let studyTernary (args: ParseResults<StudyTernaryArgs>) =
    let dir = args.GetResult StudyTernaryArgs.Data

    let data =
        match Dataset.load dir with
        | Ok d -> d
        | Error e -> raise (BadInput e)

    let split =
        match args.TryGetResult StudyTernaryArgs.Split with
        | Some Loso -> LeaveOneSubjectOut
        | _ ->
            let k = args.GetResult(StudyTernaryArgs.Folds, defaultValue = 5)

            if k < 2 then
                raise (BadInput $"--folds {k}: need at least 2")

            KFold k

    let d = Study.defaultConfig

    let config = {
        d with
            Split = split
            Seed = args.GetResult(StudyTernaryArgs.Seed, defaultValue = d.Seed)
            Train = {
                d.Train with
                    Epochs = args.GetResult(StudyTernaryArgs.Epochs, defaultValue = d.Train.Epochs)
            }
            Qat = {
                d.Qat with
                    Sparsity = args.GetResult(StudyTernaryArgs.Sparsity, defaultValue = d.Qat.Sparsity)
            }
    }

    match Study.splits config data with
    | Error e -> raise (BadInput $"{dir}: {e}")
    | Ok folds ->
        let result =
            Progress.run "study ternary" folds.Length (fun tick ->
                Study.ternary config data (function
                    | FoldDone _ -> tick 1
                    | _ -> ()))

        if args.Contains StudyTernaryArgs.Json then
            printfn
                "%s"
                (Json.render (
                    Json.obj [
                        "data", Json.str dir
                        "split",
                        Json.str (
                            match split with
                            | KFold k -> $"{k}-fold"
                            | LeaveOneSubjectOut -> "loso"
                        )
                        "folds", Json.arr (result.Folds |> List.map foldJson)
                        "mean_fp32_accuracy", Json.num result.MeanFp32Accuracy
                        "mean_ternary_accuracy", Json.num result.MeanTernaryAccuracy
                        "mean_fp32_macro_f1", Json.num result.MeanFp32MacroF1
                        "mean_ternary_macro_f1", Json.num result.MeanTernaryMacroF1
                        "mean_sparsity", Json.num result.MeanSparsity
                        "seconds", Json.num result.Seconds
                        "source", Json.str data.Source
                    ]
                ))
        else
            printfn "fold  FP32 acc  ternary acc  FP32 F1  ternary F1  sparsity"

            for f in result.Folds do
                printfn
                    "%4d  %8.4f  %11.4f  %7.4f  %10.4f  %8.3f"
                    f.Fold
                    f.Fp32Accuracy
                    f.TernaryAccuracy
                    f.Fp32MacroF1
                    f.TernaryMacroF1
                    f.Sparsity

            printfn
                "mean  %8.4f  %11.4f  %7.4f  %10.4f  %8.3f   (%.0f s; ternary figures from the C# integer runtime)"
                result.MeanFp32Accuracy
                result.MeanTernaryAccuracy
                result.MeanFp32MacroF1
                result.MeanTernaryMacroF1
                result.MeanSparsity
                result.Seconds

            if data.Source <> "" then
                printfn "data: %s" data.Source
