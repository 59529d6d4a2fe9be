/// The HTML report (--html): what it draws from each verb's JSON, that it is self-contained and escapes every name,
/// and, in headless Chromium, that the charts render with the expected bars, cells and points and nothing logged.
module Tern.Tests.HtmlReportTests

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open AngleSharp.Html.Parser
open Giraffe.ViewEngine
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Rig
open Tern.Tests.Assertions

module Json = Tern.Cli.Json

/// JSON objects shaped as each verb prints them (hil with the contract's layers, profile, confusion and per-class
/// keys; the studies as src/Cli prints their rows today).
module Samples =
    let hil =
        """{
  "board": "qemu-mps2-an386", "kernels": "dsp", "weights": "ternary",
  "model_hash": "3f9a0c1b2d4e5f60718293a4b5c6d7e8f9001122334455667788990011223344",
  "firmware_hash": "aa11bb22", "samples": 300, "mismatches": 0, "mismatched_samples": [], "first_mismatch": null,
  "work_unit": "instructions", "instructions_per_inference": {"min": 243000, "median": 243840, "max": 244100},
  "accuracy": 0.8333, "macro_f1": 0.8152, "flash_bytes": 42160, "ram_bytes": 21976, "arena_bytes": 5120,
  "link_bytes_per_s": 30123.4, "elapsed_s": 12.5, "firmware_cached": true, "subjects": ["16", "17"],
  "per_class": [
    {"class": "walk", "precision": 0.77, "recall": 0.85, "f1": 0.81, "support": 100},
    {"class": "run", "precision": 0.86, "recall": 0.9, "f1": 0.88, "support": 100},
    {"class": "sit <b>&amp;</b> </script>", "precision": 0.88, "recall": 0.75, "f1": 0.81, "support": 100}
  ],
  "confusion": {"classes": ["walk", "run", "sit <b>&amp;</b> </script>"], "matrix": [[85, 10, 5], [4, 90, 6], [21, 4, 75]]},
  "float_vs_integer": {"float_model": "0badc0de", "top1_agreement": 0.97, "l2r": 0.12, "cosine": 0.99},
  "layers": [
    {"index": 0, "name": "conv2d_0", "kind": "conv2d", "output_shape": [32, 32, 8], "macs": 73728, "instructions": 120000, "instructions_per_mac": 1.63, "flash_bytes": 900, "arena_bytes": 8192, "ms": 4.8},
    {"index": 1, "name": "depthwise_1", "kind": "depthwise", "output_shape": [16, 16, 8], "macs": 18432, "instructions": 60000, "instructions_per_mac": 3.26, "flash_bytes": 700, "arena_bytes": 2048, "ms": 2.4},
    {"index": 2, "name": "pointwise_2", "kind": "conv2d", "output_shape": [16, 16, 16], "macs": 32768, "instructions": 50000, "instructions_per_mac": 1.53, "flash_bytes": 1200, "arena_bytes": 4096, "ms": 2.0},
    {"index": 3, "name": "gap_3", "kind": "globalavgpool", "output_shape": [1, 1, 16], "macs": 4096, "instructions": 9000, "instructions_per_mac": 2.2, "flash_bytes": 300, "arena_bytes": 16, "ms": 0.36},
    {"index": 4, "name": "dense_4", "kind": "dense", "output_shape": [1, 1, 3], "macs": 48, "instructions": 4840, "instructions_per_mac": 100.8, "flash_bytes": 500, "arena_bytes": 3, "ms": 0.19}
  ],
  "profile": {"unit": "instructions", "clock_hz": 25000000, "layers_sum": 243840, "inference": 243840, "coverage": 1.0}
}"""

    let run =
        """{
  "file": "models/default.tern", "kind": "integer", "input": "radar", "samples": 40, "kernels": "optimized",
  "wall_ms_per_inference": 1.97, "threads": 2, "predictions": {"jogging": 8, "jumping": 7, "situp": 8, "waving": 10, "other": 7},
  "accuracy": 0.95, "correct": 38, "check": false,
  "confusion": {"classes": ["jogging", "jumping", "situp", "waving", "other"],
                "matrix": [[8, 0, 0, 0, 0], [0, 7, 0, 1, 0], [0, 0, 8, 0, 0], [0, 0, 0, 8, 0], [0, 0, 0, 1, 7]]}
}"""

    let ternary =
        """{
  "data": "radar", "split": "3-fold",
  "folds": [
    {"fold": 0, "train_samples": 80, "test_samples": 40, "fp32_accuracy": 0.91, "fp32_macro_f1": 0.9, "ternary_accuracy": 0.88, "ternary_macro_f1": 0.87, "sparsity": 0.46, "pruned": 0.45, "fp32_epochs": 30, "qat_epochs": 10, "seconds": 12.0},
    {"fold": 1, "train_samples": 80, "test_samples": 40, "fp32_accuracy": 0.86, "fp32_macro_f1": 0.85, "ternary_accuracy": 0.85, "ternary_macro_f1": 0.84, "sparsity": 0.48, "pruned": 0.45, "fp32_epochs": 28, "qat_epochs": 10, "seconds": 11.0},
    {"fold": 2, "train_samples": 80, "test_samples": 40, "fp32_accuracy": 0.93, "fp32_macro_f1": 0.92, "ternary_accuracy": 0.9, "ternary_macro_f1": 0.9, "sparsity": 0.45, "pruned": 0.45, "fp32_epochs": 31, "qat_epochs": 10, "seconds": 13.0}
  ],
  "mean_fp32_accuracy": 0.9, "mean_ternary_accuracy": 0.8767, "mean_fp32_macro_f1": 0.89, "mean_ternary_macro_f1": 0.87,
  "mean_sparsity": 0.4633, "augment": "time-shift", "seconds": 36.0,
  "source": "Tern synthetic CW radar micro-Doppler, seed 1; simulated, no recorded data, free to use"
}"""

    let gamma =
        """{
  "data": "spsw/raw", "split": "loso", "folds": 5, "bits_list": [2, 4],
  "results": [
    {"bits": null, "method": "raw", "macro_f1": 0.8, "accuracy": 0.82, "pooled_macro_f1": 0.79, "fold_macro_f1": [0.8], "mean_epochs": 20},
    {"bits": 2, "method": "linear", "macro_f1": 0.5, "accuracy": 0.55, "pooled_macro_f1": 0.5, "fold_macro_f1": [0.5], "mean_epochs": 20},
    {"bits": 2, "method": "gamma-global", "macro_f1": 0.7, "accuracy": 0.72, "pooled_macro_f1": 0.7, "fold_macro_f1": [0.7], "mean_epochs": 20},
    {"bits": 2, "method": "gamma-per-axis", "macro_f1": 0.72, "accuracy": 0.74, "pooled_macro_f1": 0.71, "fold_macro_f1": [0.72], "mean_epochs": 20},
    {"bits": 4, "method": "linear", "macro_f1": 0.74, "accuracy": 0.76, "pooled_macro_f1": 0.73, "fold_macro_f1": [0.74], "mean_epochs": 20},
    {"bits": 4, "method": "gamma-global", "macro_f1": 0.78, "accuracy": 0.8, "pooled_macro_f1": 0.77, "fold_macro_f1": [0.78], "mean_epochs": 20},
    {"bits": 4, "method": "gamma-per-axis", "macro_f1": 0.79, "accuracy": 0.81, "pooled_macro_f1": 0.78, "fold_macro_f1": [0.79], "mean_epochs": 20}
  ],
  "gamma": {"2": {"gamma-global": 0.41, "gamma-per-axis": [0.4, 0.42, 0.39]}, "4": {"gamma-global": 0.45, "gamma-per-axis": [0.44, 0.46, 0.45]}},
  "mu": {"2": {"gamma-global": 0.0, "gamma-per-axis": [0.0, 0.1, 0.0]}, "4": {"gamma-global": 0.0, "gamma-per-axis": [0.0, 0.1, 0.0]}},
  "seconds": 100.0, "source": "Matey-Sanz, M., Casteleyn, S., Granell, C. (2023). Data in Brief, 109809. Licence: CC BY 4.0."
}"""

    let private codecMethods = [
        "uniform"
        "uniform+ZVC"
        "uniform+Huffman"
        "uni-TSS"
        "uni-TSS+ZVC"
        "uni-TSS+Huffman"
        "bi-TSS"
        "bi-TSS+ZVC"
        "bi-TSS+Huffman"
    ]

    let codec =
        let row (m: string) (bits: int option) (k: int) =
            let b =
                match bits with
                | Some b -> string b
                | None -> "null"

            let perFrame = 2048.0 / float (k + 1) + float (Option.defaultValue 32 bits * 40)

            $"""{{"method": "{m}", "bits": {b}, "ratio_vs_float32": {8192.0 / perFrame:F3}, "ratio_vs_int8": {2048.0 / perFrame:F3}, "accuracy": {0.8 + 0.01 * float k:F3}, "accuracy_drop": 0.01, "top1_agreement": 0.97, "bits_per_frame": {perFrame * 8.0:F1}, "coded_bits": 1000, "streams_written": 8, "bits_breakdown": {{"framing": 1, "tables": 1, "anchor": 1, "vectors": 1, "residual": 1}}}}"""

        let rows =
            row "raw float" None 0
            :: [
                for i, m in List.indexed codecMethods do
                    for b in [ 4; 8 ] -> row m (Some b) i
            ]

        $"""{{"data": "synthetic radar stream", "model": "default", "split": 2, "group_frames": 5, "quantizer": "minmax",
  "feature_map": [16, 16, 8], "zero_point": -128, "frames": 300, "streams": 10, "sparsity": 0.4, "baseline_accuracy": 0.85,
  "bits_counted": "every byte", "rows": [{String.Join(",\n", rows)}], "seconds": 3.0, "source": "Tern synthetic CW radar; free to use"}}"""

    let prune =
        """{
  "data": "radar", "arch": "plain", "params": 20000, "macs": 1500000, "folds": 2,
  "rows": [
    {"criterion": "l1", "ratio": 0.6, "baseline_accuracy": 0.9, "pruned_accuracy": 0.87, "accuracy_drop": 0.03, "flops_reduction": 0.8, "params_reduction": 0.82, "kept_channels": [3, 6]},
    {"criterion": "l1", "ratio": 0.7, "baseline_accuracy": 0.9, "pruned_accuracy": 0.84, "accuracy_drop": 0.06, "flops_reduction": 0.88, "params_reduction": 0.9, "kept_channels": [2, 5]},
    {"criterion": "low", "ratio": 0.6, "baseline_accuracy": 0.9, "pruned_accuracy": 0.88, "accuracy_drop": 0.02, "flops_reduction": 0.8, "params_reduction": 0.82, "kept_channels": [3, 6]},
    {"criterion": "low", "ratio": 0.7, "baseline_accuracy": 0.9, "pruned_accuracy": 0.86, "accuracy_drop": 0.04, "flops_reduction": 0.88, "params_reduction": 0.9, "kept_channels": [2, 5]}
  ],
  "fold_rows": [], "seconds": 50.0, "source": "Tern synthetic CW radar; free to use"
}"""

    let search =
        """{
  "data": "radar", "arch": "blocks", "blocks": 4, "drop_sequence": [3, 2, 1, 0], "baseline_accuracy": 0.9, "target": 0.89,
  "b_star": 2, "r_star": 0.45, "accuracy": 0.895, "meets_target": true, "within_budget": true, "budget_violations": [],
  "evaluations": 6, "linear_evaluations": 24,
  "block_search": {"grid": [0, 1, 2, 3, 4], "grid_size": 5, "chosen": 2, "evaluations": 3, "linear_evaluations": 4, "bound": 5, "verified": true, "final_accuracy": 0.9,
    "log": [
      {"index": 2, "candidate": 2, "kind": "subset", "accuracies": [0.9, 0.91], "accepted": true, "reason": "ok", "macs": 1000, "params": 100, "seconds": 1.0},
      {"index": 1, "candidate": 1, "kind": "subset", "accuracies": [0.7, 0.72], "accepted": false, "reason": "below", "macs": 800, "params": 80, "seconds": 1.0},
      {"index": 3, "candidate": 3, "kind": "full", "accuracies": [0.92], "accepted": true, "reason": "ok", "macs": 1200, "params": 120, "seconds": 1.0}
    ]},
  "sparsity_search": {"grid": [0.0, 0.3, 0.6, 0.9], "grid_size": 4, "chosen": 0.3, "evaluations": 3, "linear_evaluations": 4, "bound": 4, "verified": true, "final_accuracy": 0.895,
    "log": [
      {"index": 2, "candidate": 0.6, "kind": "subset", "accuracies": [0.8, 0.82], "accepted": false, "reason": "below", "macs": 1000, "params": 40, "seconds": 1.0},
      {"index": 1, "candidate": 0.3, "kind": "subset", "accuracies": [0.9, 0.9], "accepted": true, "reason": "ok", "macs": 1000, "params": 70, "seconds": 1.0},
      {"index": 3, "candidate": 0.9, "kind": "subset", "accuracies": [], "accepted": false, "reason": "budget", "macs": 1000, "params": 10, "seconds": 0.0}
    ]},
  "params_before": 3000, "params_after": 2000, "nonzero_params_after": 1400, "params_reduction": 0.33, "flops_reduction": 0.3,
  "weight_sparsity": 0.3, "repacked_channels": 0, "repack_undone_channels": 0, "validation_samples": 40, "seconds": 60.0,
  "source": "Tern synthetic CW radar; free to use"
}"""

    /// Every verb with its sample and the figures (id, marks) its report must draw.
    let all: (string * string * (string * int) list) list = [
        "hil", hil, [ "layer-work", 5; "layer-flash", 5; "confusion", 9 ]
        "run", run, [ "confusion", 25; "predictions", 5 ]
        "study ternary", ternary, [ "ternary-sparsity", 8; "ternary-folds", 6 ]
        "study gamma", gamma, [ "gamma-f1", 8; "gamma-accuracy", 8 ]
        "study codec", codec, [ "codec-bytes", 21; "codec-ratio", 18 ]
        "study prune", prune, [ "prune-accuracy", 6; "prune-reduction", 4 ]
        "study search", search, [ "search-blocks", 5; "search-sparsity", 4 ]
    ]

/// The chart ids of a written report file, in page order (CliTests checks what each verb's real JSON draws).
let chartIds (file: string) : string list =
    HtmlParser().ParseDocument(File.ReadAllText file).QuerySelectorAll "figure.chart"
    |> Seq.map (fun f -> f.Id.Substring "figure-".Length)
    |> Seq.toList

let private stamp: ReportStamp = {
    Version = "9.9.9"
    Time = DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero)
    Command = "tern hil --model default --html report.html"
}

let private parse (text: string) : JsonNode = JsonNode.Parse text

let private figureMarks (verb: string) (json: string) =
    HtmlReport.figures verb (parse json) |> List.map (fun f -> f.Id, f.Marks)

/// The attributes through which a page can make the browser fetch something.
let private fetchingAttributes = [
    "src"
    "href"
    "xlink:href"
    "srcset"
    "poster"
    "data"
    "action"
    "background"
]

/// A JSON object of scalars: distinct keys, numbers, strings and booleans.
let private scalarObjects: Arbitrary<(string * JsonNode) list> =
    let key = Gen.elements [ 'a' .. 'z' ] |> Gen.arrayOfLength 6 |> Gen.map String

    let value =
        Gen.oneof [
            ArbMap.defaults
            |> ArbMap.generate<int>
            |> Gen.map (fun i -> JsonValue.Create i :> JsonNode)
            ArbMap.defaults
            |> ArbMap.generate<NormalFloat>
            |> Gen.map (fun f -> JsonValue.Create f.Get :> JsonNode)
            ArbMap.defaults
            |> ArbMap.generate<NonNull<string>>
            |> Gen.map (fun s -> JsonValue.Create s.Get :> JsonNode)
            ArbMap.defaults
            |> ArbMap.generate<bool>
            |> Gen.map (fun b -> JsonValue.Create b :> JsonNode)
        ]

    Gen.zip key value |> Gen.listOf |> Gen.map (List.distinctBy fst) |> Arb.fromGen

/// Layers as the profile reports them: index, name, instructions, flash bytes (some without).
let private layerLists: Arbitrary<(string * int64 * int option) list> =
    let layer =
        gen {
            let! name = ArbMap.defaults |> ArbMap.generate<NonNull<string>>
            let! work = Gen.choose (1, 5_000_000)

            let! flash =
                Gen.frequency [ 9, Gen.choose (0, 100_000) |> Gen.map Some; 1, Gen.constant None ]

            return name.Get, int64 work, flash
        }

    Gen.listOf layer |> Gen.map (List.truncate 40) |> Arb.fromGen

/// The marks of a figure as rendered: bars, heat-map cell labels or scatter markers inside its container.
let private renderedMarks (doc: AngleSharp.Dom.IDocument) (id: string) (kind: FigureKind) : int =
    let selector =
        match kind with
        | Bars -> ".barlayer .point"
        | Heatmap -> ".heatmaplayer .heatmap-label"
        | Curves -> ".scatterlayer .point"

    doc.QuerySelectorAll($"#chart-{id} {selector}").Length

[<Tests>]
let tests =
    testList "HtmlReportTests" [
        testCase "each verb's report draws the charts its keys call for"
        <| fun () ->
            for verb, json, expected in Samples.all do
                Expect.equal (figureMarks verb json) expected verb

            Expect.equal
                (List.sort (Samples.all |> List.map (fun (v, _, _) -> v)))
                (List.sort HtmlReport.verbs)
                "every verb has a sample"

        testCase "a verb's JSON without those keys gives a page of headline numbers and no chart"
        <| fun () ->
            let json =
                parse """{"samples": 3, "layers": [], "confusion": {"classes": ["a"], "matrix": [[1, 2]]}}"""

            Expect.isEmpty (HtmlReport.figures "hil" json) "no figure"
            let page = HtmlParser().ParseDocument(HtmlReport.renderWith stamp "hil" json)
            Expect.equal (page.QuerySelectorAll("figure.chart").Length) 0 "no chart on the page"

            Expect.stringContains
                (page.QuerySelector("#charts").TextContent)
                "no per-layer cost"
                "the charts' section says why it is empty"

        testCase "the per-layer caption gives each layer's instructions per MAC, skipping a layer without MACs"
        <| fun () ->
            // The profile reports no ratio for a flatten (0 MACs): the others' ratios must still be shown.
            let json =
                parse
                    """{"work_unit": "instructions", "layers": [
  {"index": 0, "name": "conv2d_0", "kind": "conv", "macs": 100, "instructions": 150, "instructions_per_mac": 1.5, "flash_bytes": 10},
  {"index": 1, "name": "flatten_1", "kind": "flatten", "macs": 0, "instructions": 7, "instructions_per_mac": null, "flash_bytes": 0},
  {"index": 2, "name": "dense_2", "kind": "dense", "macs": 20, "instructions": 25, "instructions_per_mac": 1.25, "flash_bytes": 40}]}"""

            let work = HtmlReport.figures "hil" json |> List.find (fun f -> f.Id = "layer-work")

            Expect.stringContains work.Caption "conv2d_0 1.5" "the caption gives the conv's ratio"
            Expect.stringContains work.Caption "dense_2 1.25" "the caption gives the dense layer's ratio"
            Expect.isFalse (work.Caption.Contains "flatten_1") "the caption skips the flatten (no MACs)"

        testCase
            "every report is self-contained: plotly.js inline once, no script or style from elsewhere, nothing to fetch"
        <| fun () ->
            for verb, json, expected in Samples.all do
                let html = HtmlReport.renderWith stamp verb (parse json)
                let doc = HtmlParser().ParseDocument html
                let scripts = doc.QuerySelectorAll "script" |> Seq.toList

                Expect.isEmpty (scripts |> List.filter (fun s -> s.HasAttribute "src")) verb
                Expect.equal scripts.Length (1 + expected.Length) verb

                Expect.equal
                    (scripts
                     |> List.filter (fun s -> s.TextContent.Contains "plotly.js v")
                     |> List.length)
                    1
                    verb

                for tag in [ "link"; "iframe"; "object"; "embed"; "base" ] do
                    Expect.equal (doc.QuerySelectorAll(tag).Length) 0 $"{verb}: <{tag}>"

                for e in doc.All do
                    for a in e.Attributes do
                        if List.contains a.Name fetchingAttributes then
                            Expect.isTrue
                                (a.Value = "" || a.Value.StartsWith "#" || a.Value.StartsWith "data:")
                                $"{verb}: <{e.LocalName} {a.Name}=\"{a.Value}\">"

                for s in doc.QuerySelectorAll "style" do
                    Expect.isFalse (s.TextContent.Contains "url(") $"{verb}: a style fetches url("
                    Expect.isFalse (s.TextContent.Contains "@import") $"{verb}: a style has @import"

                let csp = doc.QuerySelector "meta[http-equiv='Content-Security-Policy']"
                Expect.isNotNull csp $"{verb}: no Content-Security-Policy"
                Expect.stringStarts (csp.GetAttribute "content") "default-src 'none'" verb
                let charset = html.IndexOf "<meta charset=\"utf-8\">"
                Expect.isTrue (charset >= 0 && charset <= 1024) $"{verb}: charset at {charset}, not in 0..1024"

        testCase "the page shows the provenance and every scalar of the JSON as a headline row"
        <| fun () ->
            let json = parse Samples.hil
            let doc = HtmlParser().ParseDocument(HtmlReport.renderWith stamp "hil" json)

            let provenance =
                Seq.zip (doc.QuerySelectorAll "#provenance dt") (doc.QuerySelectorAll "#provenance dd")
                |> Seq.map (fun (k, v) -> k.TextContent, v.TextContent)
                |> Map.ofSeq

            Expect.equal
                provenance["model"]
                "3f9a0c1b2d4e5f60718293a4b5c6d7e8f9001122334455667788990011223344"
                "provenance: model"

            Expect.equal provenance["float parent"] "0badc0de" "provenance: float parent"
            Expect.equal provenance["board"] "qemu-mps2-an386" "provenance: board"
            Expect.equal provenance["tern"] "9.9.9" "provenance: tern"
            Expect.equal provenance["time"] "2026-12-06 12:00:00 UTC" "provenance: time"
            Expect.equal provenance["command"] stamp.Command "provenance: command"
            Expect.stringContains provenance["data source and licence"] "not recorded" "provenance: data source"

            let study =
                HtmlParser().ParseDocument(HtmlReport.renderWith stamp "study gamma" (parse Samples.gamma))

            Expect.isTrue
                (study.QuerySelectorAll "#provenance dd"
                 |> Seq.exists (fun d -> d.TextContent.Contains "Licence: CC BY 4.0"))
                "a provenance row gives the study's licence"

            let rows =
                doc.QuerySelectorAll "#headline tbody tr"
                |> Seq.map (fun r -> r.Children[0].TextContent, r.Children[1].TextContent)
                |> Map.ofSeq

            Expect.equal rows["instructions_per_inference.median"] "243,840" "headline: median instructions"
            Expect.equal rows["accuracy"] "0.8333" "headline: accuracy"
            Expect.equal rows["float_vs_integer.cosine"] "0.99" "headline: cosine"
            Expect.equal rows["subjects"] "16, 17" "headline: subjects"
            Expect.isFalse (rows.ContainsKey "layers") "a table is drawn, not listed"
            Expect.equal (doc.QuerySelectorAll("#layers tbody tr").Length) 5 "one row per layer"
            Expect.equal (doc.QuerySelectorAll("#per-class tbody tr").Length) 3 "one row per class"
            // A class name is text, never markup.
            Expect.equal (doc.QuerySelectorAll("#per-class b").Length) 0 "no markup from a class name"

            Expect.equal
                (doc.QuerySelector("#per-class tbody tr:last-child td").TextContent)
                "sit <b>&amp;</b> </script>"
                "the class name as text"

        testPropertyWithConfig
            (Properties.tests 50)
            "every scalar key of the JSON is a headline row, in the JSON's order"
        <| fun () ->
            Prop.forAll scalarObjects (fun pairs ->
                let o = JsonObject()

                for k, v in pairs do
                    o[k] <- v

                ReportJson.headline o |> List.map fst = List.map fst pairs)

        testPropertyWithConfig
            (Properties.tests 40)
            "one bar per layer with its instructions, and flash bars only when every layer carries flash bytes"
        <| fun () ->
            Prop.forAll layerLists (fun layers ->
                let json =
                    Json.obj [
                        "layers",
                        Json.arr [
                            for i, (name, work, flash) in List.indexed layers ->
                                Json.obj (
                                    [ "index", Json.int i; "name", Json.str name; "instructions", Json.int64 work ]
                                    @ (flash |> Option.map (fun f -> "flash_bytes", Json.int f) |> Option.toList)
                                )
                        ]
                    ]

                let figs = HtmlReport.figures "hil" json

                let ys (id: string) =
                    figs
                    |> List.tryFind (fun f -> f.Id = id)
                    |> Option.map (fun f ->
                        let data = JsonDocument.Parse(ReportCharts.dataJson f).RootElement
                        [ for y in data[0].GetProperty("y").EnumerateArray() -> y.GetDouble() ], f.Marks)

                let expectWork =
                    if layers.IsEmpty then
                        None
                    else
                        Some(layers |> List.map (fun (_, w, _) -> float w), layers.Length)

                let expectFlash =
                    if layers.IsEmpty || layers |> List.exists (fun (_, _, f) -> f.IsNone) then
                        None
                    else
                        Some(layers |> List.map (fun (_, _, f) -> float f.Value), layers.Length)

                ys "layer-work" = expectWork && ys "layer-flash" = expectFlash)

        testPropertyWithConfig
            (Properties.tests 40)
            "the confusion heat map has one cell per count, and a matrix that is not square over its classes draws none"
        <| fun () ->
            let gen =
                gen {
                    let! n = Gen.choose (1, 8)
                    let! counts = Gen.choose (0, 500) |> Gen.listOfLength n |> Gen.listOfLength n
                    let! drop = Gen.elements [ false; false; true ]
                    return n, counts, drop
                }

            Prop.forAll (Arb.fromGen gen) (fun (n, counts, drop) ->
                let rows = if drop then List.take (n - 1) counts else counts

                let json =
                    Json.obj [
                        "confusion",
                        Json.obj [
                            "classes", Json.arr [ for i in 1..n -> Json.str $"class {i}" ]
                            "matrix", Json.arr [ for r in rows -> Json.arr (r |> List.map Json.int) ]
                        ]
                    ]

                match HtmlReport.figures "run" json, drop with
                | [ f ], false ->
                    let z = JsonDocument.Parse(ReportCharts.dataJson f).RootElement[0].GetProperty "z"

                    f.Kind = Heatmap
                    && f.Marks = n * n
                    && [
                        for r in z.EnumerateArray() -> [ for c in r.EnumerateArray() -> c.GetDouble() ]
                    ]
                        =
                        (counts |> List.map (List.map float))
                | [], true -> true
                | _ -> false)

        testPropertyWithConfig (Properties.tests 30) "no name from the JSON can end a chart's script or add an element"
        <| fun (names: NonNull<string> list) ->
            let names =
                names
                |> List.map (fun n -> n.Get)
                |> List.filter (fun n -> n <> "")
                |> List.distinct
                |> List.truncate 12

            let names = "</script><script>alert(1)</script>" :: "<!--" :: names
            let labels = names |> List.mapi (fun i n -> $"{i} {n}")

            let fig =
                ReportCharts.bars "x" "title </script>" "caption <b>" "x" "y" labels [
                    "s", names |> List.map (fun _ -> 1.0)
                ]

            let html = RenderView.AsString.htmlNode (ReportCharts.node fig)
            let doc = HtmlParser().ParseDocument html
            let data = JsonDocument.Parse(ReportCharts.dataJson fig).RootElement

            doc.QuerySelectorAll("script").Length = 1
            && doc.QuerySelectorAll("b").Length = 0
            && doc.QuerySelector("figcaption").TextContent = "caption <b>"
            && [ for x in data[0].GetProperty("x").EnumerateArray() -> x.GetString() ] = labels

        testCase "--html refuses a folder or a path under a file, and writes the file whole"
        <| fun () ->
            let dir = Scratch.folder "tern-html"
            let check = Tern.Cli.OutputPaths.checkPath "--html" false
            Expect.stringContains (err (check dir)) "is a folder" "a folder is refused"
            let file = Path.Combine(dir, "f")
            File.WriteAllText(file, "")

            Expect.stringContains
                (err (check (Path.Combine(file, "r.html"))))
                "is a file"
                "a path under a file is refused"

            ok (check (Path.Combine(dir, "r.html")))
            let target = Path.Combine(dir, "sub", "r.html")
            HtmlReport.write target "run" (parse Samples.run)
            HtmlReport.write target "run" (parse Samples.run)
            Expect.equal (Directory.GetFiles(Path.GetDirectoryName target)) [| target |] "only the report, no temporary"
            Expect.stringEnds (File.ReadAllText target) "</html>" "the report is written whole"

        testCase "in Chromium every verb's charts render with their bars, cells and points, and the page logs nothing"
        <| fun () ->
            Browser.require () |> ignore
            let dir = Scratch.folder "tern-html-browser"

            let loaded =
                Samples.all
                |> List.toArray
                |> Array.Parallel.map (fun (verb, json, _) ->
                    let file = Path.Combine(dir, verb.Replace(' ', '-') + ".html")
                    File.WriteAllText(file, HtmlReport.renderWith stamp verb (parse json))
                    verb, json, Browser.load file)

            for verb, json, page in loaded do
                Expect.isEmpty page.Console verb

                for f in HtmlReport.figures verb (parse json) do
                    let container = page.Dom.QuerySelector $"#chart-{f.Id}"
                    Expect.isNotNull container $"{verb}: {f.Id}"
                    Expect.isGreaterThan (container.QuerySelectorAll("svg.main-svg").Length) 0 $"{verb}: {f.Id}"
                    Expect.equal (renderedMarks page.Dom f.Id f.Kind) f.Marks $"{verb}: {f.Id}"
                    Expect.equal (container.QuerySelector(".gtitle").TextContent) f.Title $"{verb}: {f.Id}"

            // The heat map's cells carry the counts, row by row.
            let _, _, hil = loaded |> Array.find (fun (v, _, _) -> v = "hil")

            Expect.equal
                (hil.Dom.QuerySelectorAll "#chart-confusion .heatmap-label"
                 |> Seq.map (fun t -> t.TextContent)
                 |> Seq.toList)
                [ "85"; "10"; "5"; "4"; "90"; "6"; "21"; "4"; "75" ]
                "the heat map's cell labels, row by row"

        testCase "in Chromium a report that tried to fetch a script or logged an error would be caught"
        <| fun () ->
            Browser.require () |> ignore
            let dir = Scratch.folder "tern-html-browser"
            let html = HtmlReport.renderWith stamp "run" (parse Samples.run)

            let planted =
                html.Replace(
                    "</title>",
                    "</title><script src=\"https://cdn.example.invalid/plotly.js\"></script><script>console.error('planted')</script>"
                )

            let file = Path.Combine(dir, "planted.html")
            File.WriteAllText(file, planted)
            let page = Browser.load file

            Expect.isTrue
                (page.Console |> List.exists (fun l -> l.Contains "planted"))
                "the console has the planted error"

            Expect.isTrue
                (page.Console |> List.exists (fun l -> l.Contains "cdn.example.invalid"))
                "the console has the blocked fetch"
    ]
