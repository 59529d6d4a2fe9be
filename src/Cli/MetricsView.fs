/// Classification metrics and float-vs-integer figures as every verb shows them: JSON keys (accuracy, macro_f1,
/// per_class, confusion; float_vs_integer) and Spectre.Console tables.
module Tern.Cli.MetricsView

open System
open System.Text.Json.Nodes
open Tern.Core
open Spectre.Console

/// A number for JSON; null when it is not finite (JSON has no NaN).
let private finite (x: float) : JsonNode =
    if Double.IsFinite x then Json.num x else null

/// The contract's metric keys: accuracy, macro_f1, per_class [{class, precision, recall, f1, support}] and
/// confusion {classes, matrix} (rows true class, columns predicted).
let json (m: ClassMetrics) : (string * JsonNode) list = [
    "accuracy", Json.num m.Accuracy
    "macro_f1", Json.num m.MacroF1
    "per_class",
    Json.arr (
        m.PerClass
        |> List.map (fun c ->
            Json.obj [
                "class", Json.str c.Class
                "precision", Json.num c.Precision
                "recall", Json.num c.Recall
                "f1", Json.num c.F1
                "support", Json.int c.Support
            ])
    )
    "confusion",
    Json.obj [
        "classes", Json.arr (m.Classes |> List.map Json.str)
        "matrix", Json.arr (m.Confusion |> Array.map (fun row -> Json.arr (row |> Array.map Json.int)))
    ]
]

/// Spectre.Console on whatever Console.Out is now (AnsiConsole keeps the stdout it started with, so redirected
/// output, as the in-process CLI tests capture it, would miss the tables); no colour codes when redirected (its
/// detection looks at TERM only for a writer of our own).
let private console () =
    let ansi =
        if Console.IsOutputRedirected then
            AnsiSupport.No
        else
            AnsiSupport.Detect

    AnsiConsole.Create(AnsiConsoleSettings(Out = AnsiConsoleOutput(Console.Out), Ansi = ansi))

/// One line: accuracy and macro-F1 with the counts.
let line (m: ClassMetrics) : string =
    $"accuracy %.4f{m.Accuracy} ({m.Correct} of {m.Samples}), macro-F1 %.4f{m.MacroF1}"

/// The per-class table (precision, recall, F1, support) and the confusion matrix (rows true, columns predicted).
let print (m: ClassMetrics) : unit =
    let perClass = Table()

    for h in [ "class"; "precision"; "recall"; "F1"; "support" ] do
        perClass.AddColumn(h) |> ignore

    for c in m.PerClass do
        perClass.AddRow(
            [|
                Markup.Escape c.Class
                $"%.4f{c.Precision}"
                $"%.4f{c.Recall}"
                $"%.4f{c.F1}"
                string c.Support
            |]
        )
        |> ignore

    let out = console ()
    out.Write perClass

    let confusion = Table()
    confusion.Title <- TableTitle "confusion (rows: true class, columns: predicted)"
    confusion.AddColumn("true \\ predicted") |> ignore

    for c in m.Classes do
        confusion.AddColumn(Markup.Escape c) |> ignore

    m.Classes
    |> List.iteri (fun i c ->
        confusion.AddRow(Array.append [| Markup.Escape c |] (m.Confusion[i] |> Array.map string))
        |> ignore)

    out.Write confusion

/// The float_vs_integer object: the float model's hash, samples, top-1 agreement, L2r and cosine, and over what
/// the last two are taken.
let floatVsIntegerJson (floatHash: string) (f: FloatVsIntegerFigures) : JsonNode =
    Json.obj [
        "float_model", Json.str floatHash
        "samples", Json.int f.Samples
        "top1_agreement", Json.num f.Top1Agreement
        "l2r", finite f.L2r
        "cosine", finite f.Cosine
        "over", Json.str "all logits"
    ]

/// The float-vs-integer figures as one line.
let floatVsIntegerLine (floatHash: string) (f: FloatVsIntegerFigures) : string =
    let short = Common.shortHash floatHash

    $"float vs integer (float model {short}, dequantized logits of {f.Samples} samples): top-1 agreement "
    + $"%.2f{100.0 * f.Top1Agreement} %%, L2r %.4f{f.L2r}, cosine %.4f{f.Cosine} (L2r and cosine over all logits at "
    + "once, as stedgeai)"

/// A study's final model: final_model (what it is) and the metric keys.
let finalJson (what: string) (m: ClassMetrics) : (string * JsonNode) list =
    ("final_model", Json.str what) :: json m

/// A study's final model: what it is, its accuracy and macro-F1, the per-class table and the confusion matrix.
let printFinal (what: string) (m: ClassMetrics) : unit =
    printfn "final model: %s" what
    printfn "%s" (line m)
    print m
