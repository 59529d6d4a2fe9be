namespace Tern.Rig

open System
open System.Text.Json.Nodes
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Runtime.Protocol

/// One layer's cost on the board.
type LayerCost = {
    Index: int
    Name: string
    /// The layer kind in lower case ("conv", "depthwise", "avgpool", ...).
    Kind: string
    OutputShape: Shape3
    Macs: int64
    /// Instructions (QEMU -icount) or cycles (silicon) of this layer in one inference.
    Work: int64
    Flash: LayerFlash
    /// Arena bytes alive while the layer runs: its input, its output and a residual block's held input.
    ArenaBytes: int
    /// Work at the board's clock, in milliseconds (QEMU: one instruction per cycle).
    Ms: float
}

/// Per-layer cost of one inference (`tern hil --profile`).
type ProfileReport = {
    /// "instructions" or "cycles".
    Unit: string
    ClockHz: int64
    /// Runs of each prefix of layers the device timed (PROFILE's R).
    Repeats: int
    /// The sample profiled: the first one whose work is the run's median.
    Sample: int
    Layers: LayerCost list
    LayersSum: int64
    /// The profiled sample's whole inference, as INFER measured it.
    Inference: int64
    /// LayersSum / Inference.
    Coverage: float
    /// Code counted once: kernels several layers call, kernel helpers, the model's driver.
    Shared: SharedFlash list
    DebugInfo: bool
}

[<RequireQualifiedAccess>]
module Profile =
    /// Work units per counter tick: 10^9 / f (instructions under -icount shift=0) or clock / f (cycles).
    let workPerTick (unit: WorkUnit) (coreClockHz: uint32) (ticksPerSecond: uint32) : float =
        let perSecond =
            if unit = WorkUnit.Instructions then
                1e9
            else
                float coreClockHz

        perSecond / float ticksPerSecond

    /// Repeats that make each layer's rounded work exact for deterministic code: a difference of two counter
    /// windows is off by less than two ticks, so R > 4 ticks' work keeps the error under half a unit; at least 8,
    /// and few enough that R inferences stay under 2^31 ticks.
    let repeats (workPerTick: float) (inferenceWork: int64) : int =
        let exact = int (Math.Ceiling(4.0 * workPerTick)) + 4
        let ticksPerRun = max 1.0 (float inferenceWork / workPerTick)
        let fits = int (min 4096.0 (2.0 ** 31.0 / (2.0 * ticksPerRun)))
        max 1 (min fits (max 8 exact))

    /// Each layer's work from PROFILE_DATA: the difference of consecutive prefixes (the base before layer 0), in
    /// work units per run, rounded.
    let layerWork (workPerTick: float) (data: ProfileDataMessage) : int64[] =
        let perRun (ticks: uint32) =
            float ticks * workPerTick / float data.Repeats

        let prefixes = Array.append [| data.BaseTicks |] data.PrefixTicks

        Array.init data.PrefixTicks.Length (fun k ->
            int64 (Math.Round(perRun prefixes[k + 1] - perRun prefixes[k], MidpointRounding.AwayFromZero)))

    /// The profile of a model from the device's PROFILE_DATA, the firmware's map and the inference it profiled.
    let build
        (model: IntModel)
        (unit: WorkUnit)
        (clockHz: int64)
        (workPerTick: float)
        (data: ProfileDataMessage)
        (flash: FirmwareMap)
        (sample: int)
        (inference: int64)
        : ProfileReport =
        let work = layerWork workPerTick data

        if work.Length <> model.Layers.Length then
            failwith $"the device profiled {work.Length} layers; the model has {model.Layers.Length}"

        let live = MemoryPlan.LiveBytes model

        let layers = [
            for i in 0 .. work.Length - 1 do
                let l = model.Layers[i]

                yield {
                    Index = i
                    Name = l.Name
                    Kind = l.Kind.ToString().ToLowerInvariant()
                    OutputShape = l.Output
                    Macs = l.MacCount
                    Work = work[i]
                    Flash = flash.Layers[i]
                    ArenaBytes = live[i]
                    Ms = float work[i] / float clockHz * 1000.0
                }
        ]

        let sum = Array.sum work

        {
            Unit =
                (if unit = WorkUnit.Instructions then
                     "instructions"
                 else
                     "cycles")
            ClockHz = clockHz
            Repeats = int data.Repeats
            Sample = sample
            Layers = layers
            LayersSum = sum
            Inference = inference
            Coverage = (if inference > 0L then float sum / float inference else 0.0)
            Shared = flash.Shared
            DebugInfo = flash.DebugInfo
        }

    let private node (x: 'a) : JsonNode = JsonValue.Create<'a> x

    /// Adds `layers` (one object per layer) and `profile` (the totals) to a HIL report's JSON object.
    let addJson (o: JsonObject) (p: ProfileReport) : unit =
        let perMac =
            if p.Unit = "cycles" then
                "cycles_per_mac"
            else
                "instructions_per_mac"

        o["layers"] <-
            JsonArray(
                p.Layers
                |> List.map (fun l ->
                    let j = JsonObject()
                    j["index"] <- node l.Index
                    j["name"] <- node l.Name
                    j["kind"] <- node l.Kind

                    j["output_shape"] <-
                        JsonArray([| node l.OutputShape.H; node l.OutputShape.W; node l.OutputShape.C |])

                    j["macs"] <- node l.Macs
                    j[p.Unit] <- node l.Work

                    j[perMac] <-
                        if l.Macs > 0L then
                            node (Math.Round(float l.Work / float l.Macs, 3))
                        else
                            null

                    j["flash_bytes"] <- node l.Flash.Total
                    let f = JsonObject()
                    f["weights"] <- node l.Flash.WeightBytes
                    f["params"] <- node l.Flash.ParamBytes
                    f["code"] <- node l.Flash.CodeBytes
                    f["kernel"] <- (if l.Flash.Kernel = "" then null else node l.Flash.Kernel)
                    f["kernel_shared"] <- node l.Flash.KernelShared
                    j["flash"] <- f
                    j["arena_bytes"] <- node l.ArenaBytes
                    j["ms"] <- node (Math.Round(l.Ms, 4))
                    j :> JsonNode)
                |> List.toArray
            )

        let s = JsonObject()
        s["unit"] <- node p.Unit
        s["clock_hz"] <- node p.ClockHz
        s["layers_sum"] <- node p.LayersSum
        s["inference"] <- node p.Inference
        s["coverage"] <- node (Math.Round(p.Coverage, 5))
        s["repeats"] <- node p.Repeats
        s["sample"] <- node p.Sample

        s["shared_flash"] <-
            JsonArray(
                p.Shared
                |> List.map (fun x ->
                    let j = JsonObject()
                    j["name"] <- node x.Name
                    j["bytes"] <- node x.Bytes
                    j["layers"] <- JsonArray(x.Layers |> List.map node |> List.toArray)
                    j :> JsonNode)
                |> List.toArray
            )

        s["debug_info"] <- node p.DebugInfo
        o["profile"] <- s
