/// The automatic choice of form and architecture (`--arch auto`) as the verbs show it: JSON per choice, and a table of
/// every candidate over the folds of a study.
module Tern.Cli.ArchChoiceView

open System.Text.Json.Nodes
open Tern.Core

let private statusName (s: CandidateStatus) : string =
    match s with
    | OverBudget -> "over budget"
    | Screened -> "screened out"
    | Finalist -> "finalist"
    | Winner -> "chosen"

/// One choice: the winner, why, and every candidate with its cost estimate, validation scores and status.
let json (c: ArchChoice) : JsonNode =
    Json.obj [
        "form", Json.str (ImportFolder.formName c.Form)
        "arch", Json.str c.Architecture
        "int8_layers", Json.arr (c.Int8Layers |> Seq.map Json.int |> List.ofSeq)
        "reason", Json.str c.Reason
        // What the validation scores are of: "ternary" (after scoring_qat_epochs of QAT) or "fp32".
        "scored", Json.str (if c.ScoringQatEpochs > 0 then "ternary" else "fp32")
        "scoring_qat_epochs", Json.int c.ScoringQatEpochs
        "seconds", Json.num c.Seconds
        "candidates",
        Json.arr (
            c.Rows
            |> List.map (fun r ->
                Json.obj [
                    "form", Json.str (ImportFolder.formName r.Form)
                    "arch", Json.str r.Architecture
                    "params", Json.int r.Params
                    "macs", Json.num (float r.Macs)
                    "estimate",
                    Json.obj [
                        "instructions", Json.num (float r.Cost.Instructions)
                        "flash_bytes", Json.num (float r.Cost.FlashBytes)
                        "ram_bytes", Json.num (float r.Cost.RamBytes)
                    ]
                    "int8_layers", Json.arr (r.Cost.Int8Layers |> Seq.map Json.int |> List.ofSeq)
                    "over_budget", Json.arr (r.Cost.Violations |> List.map Json.str)
                    "scores", Json.arr (r.Scores |> List.map Json.num)
                    "mean_score",
                    (if r.Scores.IsEmpty then
                         null
                     else
                         Json.num (List.average r.Scores))
                    "status", Json.str (statusName r.Status)
                    "seconds", Json.num r.Seconds
                ])
        )
    ]

/// Every candidate over the choices of several folds: its cost, how often it was chosen, a finalist, screened out or
/// over budget, and its mean validation score (over every inner fold it trained on, all outer folds).
let printSummary (choices: ArchChoice list) : unit =
    match choices with
    | [] -> ()
    | first :: _ ->
        let over =
            if choices.Length > 1 then
                $"over {choices.Length} folds, each on its own training subjects"
            else
                "on the training subjects"

        let model =
            if first.ScoringQatEpochs > 0 then
                $"the ternary model after {first.ScoringQatEpochs} QAT epochs"
            else
                "the FP32 model"

        printfn
            "candidates (validation: mean per-subject macro-F1 of %s on subject-grouped inner folds %s; cost: DeviceCost's estimate for qemu-mps2-an386 as QAT prunes, first layer int8 where marked *)"
            model
            over

        printfn
            "  %-12s %-24s %7s %9s %8s %8s  %6s %8s %8s %6s  %s"
            "form"
            "architecture"
            "params"
            "instr."
            "flash B"
            "RAM B"
            "chosen"
            "finalist"
            "screened"
            "over"
            "validation"

        for r in first.Rows do
            let same =
                choices
                |> List.choose (fun c ->
                    c.Rows
                    |> List.tryFind (fun x -> x.Form = r.Form && x.Architecture = r.Architecture))

            let count s =
                same |> List.filter (fun x -> x.Status = s) |> List.length

            let scores = same |> List.collect (fun x -> x.Scores)

            printfn
                "  %-12s %-24s %7d %9d %8d %8d  %6d %8d %8d %6d  %s"
                (ImportFolder.formName r.Form)
                (if r.Cost.Int8Layers.IsEmpty then
                     r.Architecture
                 else
                     r.Architecture + " *")
                r.Params
                r.Cost.Instructions
                r.Cost.FlashBytes
                r.Cost.RamBytes
                (count Winner)
                (count Finalist)
                (count Screened)
                (count OverBudget)
                (if scores.IsEmpty then
                     "-"
                 else
                     sprintf "%.4f (%d runs)" (List.average scores) scores.Length)

            for v in r.Cost.Violations do
                printfn "      over budget: %s" v
