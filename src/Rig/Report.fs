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
    /// The device's output (logits) of every sample, in order; for a split run, the split result's (device
    /// prefix, decoded stream, host suffix).
    Outputs: sbyte[][]
}

/// What a split run adds to the HIL report: the device ran layers 0..Split-1 and the encoder, the host the rest.
type SplitReport = {
    Split: int
    /// Name of layer Split-1, whose output crosses the link.
    Layer: string
    Feature: Tern.Runtime.Shape3
    Codec: Tern.Core.CodecOptions
    /// Codec streams (groups) received.
    Groups: int
    /// Frames whose group stream differed from the host encoder's on the host's own prefix output.
    Mismatches: int
    /// Codec stream bytes per frame (what crosses the link for the features, before framing).
    WireBytesPerFrame: float
    /// All protocol bytes both ways per frame (requests with the inputs, replies, framing).
    LinkBytesPerFrame: float
    /// Bytes of one int8 feature map.
    Int8BytesPerFrame: int
    /// Frames whose split result (device prefix, decoded stream, host suffix) has the unsplit top-1 class.
    Top1Agreement: float
    /// Largest |split logit - unsplit logit| over every frame, in int8 output codes.
    MaxOutputDifference: int
    /// Encoder work per frame (a group's encoder work divided by its frames).
    EncoderWork: WorkStats
    /// Unsplit accuracy of the host runtime on the same frames (with labels).
    UnsplitAccuracy: float option
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

    /// Settings of a codec as JSON.
    let codecJson (o: Tern.Core.CodecOptions) : JsonNode =
        let c = JsonObject()
        c["bits"] <- node o.Bits
        c["quant"] <- node (string o.Quant)
        c["prediction"] <- node ((string o.Prediction).ToLowerInvariant())
        c["entropy"] <- node ((string o.Entropy).ToLowerInvariant())
        c["residual"] <- node o.Residual
        c["block"] <- node o.Motion.Block
        c["range"] <- node o.Motion.Range
        c["search"] <- node (string o.Motion.Search)
        c["cost"] <- node (string o.Motion.Cost)
        c

    /// The report of a split run: the HIL report's keys (mismatches count stream mismatches, work and accuracy
    /// are the device prefix's and the split result's) and the split keys.
    let splitJson (r: HilReport) (s: SplitReport) : JsonNode =
        let o = (toJson r).AsObject()
        o["split"] <- node s.Split
        o["split_layer"] <- node s.Layer
        o["feature_shape"] <- JsonArray([| node s.Feature.H; node s.Feature.W; node s.Feature.C |])
        o["codec"] <- codecJson s.Codec
        o["groups"] <- node s.Groups
        o["wire_bytes_per_frame"] <- node (Math.Round(s.WireBytesPerFrame, 2))
        o["link_bytes_per_frame"] <- node (Math.Round(s.LinkBytesPerFrame, 1))
        o["int8_bytes_per_frame"] <- node s.Int8BytesPerFrame

        o["ratio_vs_int8"] <-
            node (
                if s.WireBytesPerFrame > 0.0 then
                    Math.Round(float s.Int8BytesPerFrame / s.WireBytesPerFrame, 3)
                else
                    0.0
            )

        o["top1_agreement"] <- node (Math.Round(s.Top1Agreement, 4))
        o["max_output_difference"] <- node s.MaxOutputDifference
        o[$"encoder_{r.WorkUnit}_per_frame"] <- node s.EncoderWork.Median
        let enc = JsonObject()
        enc["min"] <- node s.EncoderWork.Min
        enc["median"] <- node s.EncoderWork.Median
        enc["max"] <- node s.EncoderWork.Max
        o[$"encoder_{r.WorkUnit}_per_frame_stats"] <- enc

        o["accuracy_unsplit"] <-
            (match s.UnsplitAccuracy with
             | Some a -> node a
             | None -> null)

        o

    /// Indented JSON text of a split run's report.
    let renderSplit (r: HilReport) (s: SplitReport) : string =
        (splitJson r s).ToJsonString(JsonSerializerOptions(WriteIndented = true))

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

        Tern.Core.AtomicFile.writeText full text
