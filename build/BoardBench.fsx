/// The board half of `dotnet fsi build.fsx bench`: the default architecture's per-layer instructions per MAC on
/// qemu-mps2-an386 (exact under -icount), from `tern hil --profile`, for three builds side by side in one run:
/// int8 weights on the reference (portable C) bodies, int8 weights on the DSP bodies, and the embedded default
/// model (ternary, baked into code). The int8 model is the same architecture trained in FP32 on the default
/// synthetic radar data (seed 1) and lowered with int8 weights: kernel work does not depend on the weights' values.
/// Prints the table and writes it, with every run's figures, to artifacts/bench/board/board.json.
module BoardBench

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes

type Build = {
    Name: string
    Model: string
    Kernels: string
    Report: string
}

type LayerRow = {
    Name: string
    Kind: string
    Macs: int64
    /// Instructions of the layer in each build, in the order of the builds.
    Instructions: int64 list
}

let private layerRows (reports: JsonNode list) : LayerRow list =
    let layers (r: JsonNode) = r["layers"].AsArray() |> Seq.toList

    match reports with
    | [] -> []
    | first :: _ ->
        layers first
        |> List.mapi (fun i l -> {
            Name = l["name"].GetValue<string>()
            Kind = l["kind"].GetValue<string>()
            Macs = l["macs"].GetValue<int64>()
            Instructions =
                reports
                |> List.map (fun r ->
                    let layer = (layers r)[i]
                    layer["instructions"].GetValue<int64>())
        })

/// A report's instructions per inference (its median over the samples).
let private median (r: JsonNode) : int64 =
    let work = r["instructions_per_inference"]
    work["median"].GetValue<int64>()

let private perMac (instructions: int64) (macs: int64) =
    if macs > 0L then
        sprintf "%.2f" (float instructions / float macs)
    else
        sprintf "(%d)" instructions

/// The table as text: per layer MACs (for a pool: input elements) and instructions per MAC in each build, then the
/// whole inference (instructions per MAC over every layer's MACs), flash and mismatches.
let format (builds: Build list) (reports: JsonNode list) : string =
    let rows = layerRows reports
    let w = Text.StringBuilder()
    let line (s: string) = w.AppendLine s |> ignore
    let head = builds |> List.map (fun b -> sprintf "%14s" b.Name) |> String.concat ""
    line (sprintf "%-14s %-10s %8s%s" "layer" "kind" "MACs" head)

    for r in rows do
        let cells =
            r.Instructions
            |> List.map (fun i -> sprintf "%14s" (perMac i r.Macs))
            |> String.concat ""

        line (sprintf "%-14s %-10s %8d%s" r.Name r.Kind r.Macs cells)

    let macs = rows |> List.sumBy (fun r -> r.Macs)

    let total =
        reports
        |> List.map (fun r -> sprintf "%14s" (perMac (median r) macs))
        |> String.concat ""

    line (sprintf "%-14s %-10s %8d%s" "inference" "" macs total)

    let counts =
        reports |> List.map (fun r -> sprintf "%14d" (median r)) |> String.concat ""

    line (sprintf "%-25s %8s%s" "instructions (median)" "" counts)

    let flash =
        reports
        |> List.map (fun r -> sprintf "%14d" (r["flash_bytes"].GetValue<int64>()))
        |> String.concat ""

    line (sprintf "%-25s %8s%s" "flash bytes" "" flash)

    let mismatches =
        reports
        |> List.map (fun r -> sprintf "%14d" (r["mismatches"].GetValue<int64>()))
        |> String.concat ""

    line (sprintf "%-25s %8s%s" "mismatches" "" mismatches)
    w.ToString()

/// Runs the three builds with `run` (a command runner that fails on a non-zero exit) and prints the table.
let run (root: string) (runTern: string list -> unit) =
    let out = Path.Combine(root, "artifacts", "bench", "board")

    if Directory.Exists out then
        Directory.Delete(out, true)

    Directory.CreateDirectory out |> ignore
    let at (name: string) = Path.Combine(out, name)

    runTern [ "data"; "synth"; "--out"; at "radar"; "--seed"; "1" ]

    runTern [
        "train"
        "--data"
        at "radar"
        "--arch"
        "default"
        "--seed"
        "1"
        "--out"
        at "fp32.tern"
    ]

    runTern [
        "lower"
        at "fp32.tern"
        "--weights"
        "int8"
        "--calib"
        at "radar"
        "--out"
        at "int8.tern"
    ]

    let builds = [
        {
            Name = "int8 ref"
            Model = at "int8.tern"
            Kernels = "reference"
            Report = at "int8-reference.json"
        }
        {
            Name = "int8 dsp"
            Model = at "int8.tern"
            Kernels = "dsp"
            Report = at "int8-dsp.json"
        }
        {
            Name = "ternary"
            Model = "default"
            Kernels = "dsp"
            Report = at "ternary-dsp.json"
        }
    ]

    for b in builds do
        runTern [
            "hil"
            "--model"
            b.Model
            "--kernels"
            b.Kernels
            "--input"
            "random:8"
            "--profile"
            "--no-history"
            "--report"
            b.Report
        ]

    let reports =
        builds |> List.map (fun b -> JsonNode.Parse(File.ReadAllText b.Report))

    let table = format builds reports
    printfn "\nqemu-mps2-an386, instructions per MAC (pools: per input element), one run:\n%s" table

    let ratio = float (median reports[2]) / float (median reports[1])
    printfn "ternary / int8 dsp: %.3f (whole inference)" ratio

    let summary = JsonObject()
    summary["table"] <- JsonValue.Create table
    summary["ternary_over_int8_dsp"] <- JsonValue.Create ratio

    for b, r in List.zip builds reports do
        summary[b.Name] <- r.DeepClone()

    let tmp = at "board.json.tmp"
    File.WriteAllText(tmp, summary.ToJsonString(JsonSerializerOptions(WriteIndented = true)))
    File.Move(tmp, at "board.json", true)
