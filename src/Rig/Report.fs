namespace Tern.Rig

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open System.Xml.Linq

/// Where device and host first disagree.
type Divergence = {
    Sample: int
    /// Index of the first integer layer whose output differs, and its name; None if only the final output was compared.
    Layer: (int * string) option
    Element: int
    Device: int
    Host: int
}

/// Min, median and max of per-inference work.
type WorkStats = {
    Min: int64
    Median: int64
    Max: int64
}

/// The result of a HIL run: everything the report files and the summary show.
type HilReport = {
    Board: string
    Kernels: string
    Weights: string
    ModelHash: string
    FirmwareHash: string
    Samples: int
    Mismatches: int
    MismatchedSamples: int list
    FirstDivergence: Divergence option
    /// "instructions" (QEMU -icount) or "cycles" (silicon).
    WorkUnit: string
    Work: WorkStats
    Accuracy: float option
    FlashBytes: int64
    RamBytes: int64
    ArenaBytes: int
    LinkBytesPerSecond: float
    ElapsedSeconds: float
    FirmwareCached: bool
}

[<RequireQualifiedAccess>]
module Report =
    let private node (x: 'a) : JsonNode = JsonValue.Create<'a> x

    /// Median of a non-empty list (the lower middle for even counts).
    let median (xs: int64 list) : int64 =
        let a = List.sort xs |> List.toArray
        if a.Length = 0 then 0L else a[(a.Length - 1) / 2]

    /// Work statistics of per-inference counts.
    let workStats (xs: int64 list) : WorkStats =
        if xs.IsEmpty then
            { Min = 0L; Median = 0L; Max = 0L }
        else
            {
                Min = List.min xs
                Median = median xs
                Max = List.max xs
            }

    /// The report as one JSON object (keys in snake_case).
    let toJson (r: HilReport) : JsonNode =
        let o = JsonObject()
        o["board"] <- node r.Board
        o["kernels"] <- node r.Kernels
        o["weights"] <- node r.Weights
        o["model_hash"] <- node r.ModelHash
        o["firmware_hash"] <- node r.FirmwareHash
        o["samples"] <- node r.Samples
        o["mismatches"] <- node r.Mismatches
        o["mismatched_samples"] <- JsonArray(r.MismatchedSamples |> List.map node |> List.toArray)

        o["first_mismatch"] <-
            match r.FirstDivergence with
            | None -> null
            | Some d ->
                let m = JsonObject()
                m["sample"] <- node d.Sample

                match d.Layer with
                | Some(i, name) ->
                    m["layer"] <- node i
                    m["layer_name"] <- node name
                | None -> ()

                m["element"] <- node d.Element
                m["device"] <- node d.Device
                m["host"] <- node d.Host
                m

        let work = JsonObject()
        work["min"] <- node r.Work.Min
        work["median"] <- node r.Work.Median
        work["max"] <- node r.Work.Max
        o["work_unit"] <- node r.WorkUnit
        o[$"{r.WorkUnit}_per_inference"] <- work

        o["accuracy"] <-
            (match r.Accuracy with
             | Some a -> node a
             | None -> null)

        o["flash_bytes"] <- node r.FlashBytes
        o["ram_bytes"] <- node r.RamBytes
        o["arena_bytes"] <- node r.ArenaBytes
        o["link_bytes_per_s"] <- node (Math.Round(r.LinkBytesPerSecond, 1))
        o["elapsed_s"] <- node (Math.Round(r.ElapsedSeconds, 3))
        o["firmware_cached"] <- node r.FirmwareCached
        o

    /// Indented JSON text of the report.
    let render (r: HilReport) : string =
        (toJson r).ToJsonString(JsonSerializerOptions(WriteIndented = true))

    /// JUnit XML: one test case per sample, a failure where the device disagreed with the host.
    let toJUnit (r: HilReport) : XDocument =
        let bad = Set.ofList r.MismatchedSamples

        let case i =
            let tc =
                XElement(
                    XName.Get "testcase",
                    XAttribute(XName.Get "classname", $"tern.hil.{r.Board}.{r.Kernels}"),
                    XAttribute(XName.Get "name", $"sample {i}")
                )

            if bad.Contains i then
                let detail =
                    match r.FirstDivergence with
                    | Some d when d.Sample = i ->
                        let layer =
                            match d.Layer with
                            | Some(l, name) -> $"layer {l} ({name}), "
                            | None -> ""

                        $"first difference at {layer}element {d.Element}: device {d.Device}, host {d.Host}"
                    | _ -> "device output differs from the host runtime"

                tc.Add(XElement(XName.Get "failure", XAttribute(XName.Get "message", detail)))

            tc

        XDocument(
            XElement(
                XName.Get "testsuite",
                XAttribute(XName.Get "name", $"tern hil {r.Board} {r.Kernels}"),
                XAttribute(XName.Get "tests", r.Samples),
                XAttribute(XName.Get "failures", r.Mismatches),
                XAttribute(
                    XName.Get "time",
                    r.ElapsedSeconds.ToString("F3", Globalization.CultureInfo.InvariantCulture)
                ),
                [ for i in 0 .. r.Samples - 1 -> case i ]
            )
        )

    /// Writes text atomically (temporary name, then rename).
    let writeAtomic (path: string) (text: string) : unit =
        let full = Path.GetFullPath path
        Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore

        let tmp =
            Path.Combine(Path.GetDirectoryName full, $".{Path.GetFileName full}.tmp-{Environment.ProcessId}")

        File.WriteAllText(tmp, text)
        File.Move(tmp, full, true)
