/// The per-layer table `tern hil --profile` prints after its summary.
module Tern.Cli.ProfileTable

open System
open Spectre.Console
open Tern.Rig

let private right (t: Table) (header: string) =
    t.AddColumn(TableColumn(header).RightAligned()) |> ignore

/// Writes the table of a profile and the lines on what it counts.
let write (p: ProfileReport) : unit =
    let short = if p.Unit = "cycles" then "cycles" else "instr."
    let t = Table()
    right t "#"
    t.AddColumn("layer") |> ignore
    t.AddColumn("kind") |> ignore
    t.AddColumn("output") |> ignore
    right t "MACs"
    right t p.Unit
    right t $"{short}/MAC"
    right t "flash B"
    right t "arena B"
    right t "ms"

    for l in p.Layers do
        let perMac =
            if l.Macs > 0L then
                $"{float l.Work / float l.Macs:F2}"
            else
                "-"

        let flash =
            if l.Flash.KernelShared then
                $"{l.Flash.Total:N0}*"
            else
                $"{l.Flash.Total:N0}"

        t.AddRow(
            [|
                string l.Index
                Markup.Escape l.Name
                l.Kind
                $"{l.OutputShape.H}x{l.OutputShape.W}x{l.OutputShape.C}"
                $"{l.Macs:N0}"
                $"{l.Work:N0}"
                perMac
                flash
                $"{l.ArenaBytes:N0}"
                $"{l.Ms:F3}"
            |]
        )
        |> ignore

    let macs = p.Layers |> List.sumBy (fun l -> l.Macs)
    let flash = p.Layers |> List.sumBy (fun l -> l.Flash.Total)

    t.AddRow(
        [|
            ""
            "sum"
            ""
            ""
            $"{macs:N0}"
            $"{p.LayersSum:N0}"
            (if macs > 0L then
                 $"{float p.LayersSum / float macs:F2}"
             else
                 "-")
            $"{flash:N0}"
            ""
            $"{float p.LayersSum / float p.ClockHz * 1000.0:F3}"
        |]
    )
    |> ignore

    // A pipe or a file has no width; Spectre then assumes 80 columns and would fold the ten columns.
    let profile = AnsiConsole.Console.Profile
    let width = profile.Width

    if Console.IsOutputRedirected && width < 120 then
        profile.Width <- 120

    try
        AnsiConsole.Write t
    finally
        profile.Width <- width

    printfn
        "%s"
        ($"sum of layers {p.LayersSum:N0} of {p.Inference:N0} {p.Unit} per inference (coverage {100.0 * p.Coverage:F2} %%; sample {p.Sample}, {p.Repeats} runs of each prefix); ms at {float p.ClockHz / 1e6:G4} MHz")

    printfn
        "%s"
        ("flash B: the layer's weight arrays, parameters and the code only it runs (baked code, inlined or not; its kernel); the rest of the firmware's flash is its protocol, board support and C library.")

    for s in p.Shared do
        let layers = s.Layers |> List.map string |> String.concat ","
        printfn "%s" $"  counted once: {s.Name} {s.Bytes:N0} B (layers {layers})"

    if p.Layers |> List.exists (fun l -> l.Flash.KernelShared) then
        printfn "%s" "  * calls a kernel other layers share: its code is counted once, above."

    if not p.DebugInfo then
        printfn
            "%s"
            ("  the ELF has no DWARF 4 debug information: code inlined into the driver is counted as the driver's.")

let private pct (estimate: int64) (measured: int64) =
    if measured = 0L then
        "-"
    else
        (100.0 * float (estimate - measured) / float measured)
            .ToString("+0.0;-0.0;0.0", Globalization.CultureInfo.InvariantCulture)

/// The cost model's estimate beside the profile (`tern hil --profile`): per layer and in total, estimated against
/// measured instructions, flash and RAM, with the error in %.
let writeEstimate (p: ProfileReport) (e: Tern.Core.CostEstimate) (flashBytes: int64) (ramBytes: int64) : unit =
    let t = Table()
    right t "#"
    t.AddColumn("kind") |> ignore
    right t $"{p.Unit} est."
    right t "measured"
    right t "err %"
    right t "flash B est."
    right t "measured"
    right t "err %"

    for l, c in List.zip p.Layers e.Layers do
        t.AddRow(
            [|
                string l.Index
                l.Kind
                $"{c.Instructions:N0}"
                $"{l.Work:N0}"
                pct c.Instructions l.Work
                $"{c.FlashBytes:N0}"
                $"{l.Flash.Total:N0}"
                pct c.FlashBytes l.Flash.Total
            |]
        )
        |> ignore

    AnsiConsole.Write t

    printfn
        "%s"
        ($"estimate (DeviceCost, fitted on qemu-mps2-an386 with the DSP kernels): {e.Instructions:N0} {p.Unit} against {p.Inference:N0} ({pct e.Instructions p.Inference} %%), "
         + $"flash {e.FlashBytes:N0} against {flashBytes:N0} B ({pct e.FlashBytes flashBytes} %%), RAM {e.RamBytes:N0} against {ramBytes:N0} B ({pct e.RamBytes ramBytes} %%); "
         + "a layer's flash estimate holds its own code and data, the kernels it shares are in the total.")

/// Adds `estimate` (instructions, flash_bytes, ram_bytes and per-layer instructions and flash) to the JSON report.
let addEstimateJson (o: System.Text.Json.Nodes.JsonObject) (e: Tern.Core.CostEstimate) : unit =
    let j = System.Text.Json.Nodes.JsonObject()
    j["instructions"] <- System.Text.Json.Nodes.JsonValue.Create e.Instructions
    j["flash_bytes"] <- System.Text.Json.Nodes.JsonValue.Create e.FlashBytes
    j["ram_bytes"] <- System.Text.Json.Nodes.JsonValue.Create e.RamBytes

    j["layers"] <-
        System.Text.Json.Nodes.JsonArray(
            e.Layers
            |> List.map (fun l ->
                let x = System.Text.Json.Nodes.JsonObject()
                x["index"] <- System.Text.Json.Nodes.JsonValue.Create l.Index
                x["instructions"] <- System.Text.Json.Nodes.JsonValue.Create l.Instructions
                x["flash_bytes"] <- System.Text.Json.Nodes.JsonValue.Create l.FlashBytes
                x["arena_bytes"] <- System.Text.Json.Nodes.JsonValue.Create l.ArenaBytes
                x :> System.Text.Json.Nodes.JsonNode)
            |> List.toArray
        )

    o["estimate"] <- j
