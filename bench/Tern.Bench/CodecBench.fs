/// Feature-map codec throughput: encoder and decoder on int8 feature maps of a moving, noisy scene,
/// reported in MB/s of int8 feature maps (1 MB = 10^6 bytes of HxWxC codes, all frames of a group).
module Tern.Bench.CodecBench

open System
open BenchmarkDotNet.Attributes
open BenchmarkDotNet.Columns
open BenchmarkDotNet.Configs
open BenchmarkDotNet.Reports
open BenchmarkDotNet.Running
open Tern.Core
open Tern.Runtime

/// The map shape named by a "HxWxC" parameter.
let shapeOf (name: string) : Shape3 =
    match name.Split 'x' |> Array.map int with
    | [| h; w; c |] -> Shape3(h, w, c)
    | _ -> invalidArg "name" $"shape '{name}' is not HxWxC"

/// The codec options named by a Scheme parameter (4 bits, seed 004's defaults otherwise).
let optionsOf (name: string) : CodecOptions =
    match name with
    | "uniform-huffman" -> Codec.defaults 4 Intra Huffman
    | "uni-tss-huffman" -> Codec.defaults 4 Uni Huffman
    | "bi-tss-huffman" -> Codec.defaults 4 Bi Huffman
    | "bi-tss-zvc" -> Codec.defaults 4 Bi Zvc
    | _ -> invalidArg "name" $"unknown codec method '{name}'"

/// ReLU-like int8 maps (zero point -128): a smooth pattern per channel sliding one column per frame, plus noise.
let frames (shape: Shape3) (count: int) : sbyte[][] =
    let rng = Random 42

    Array.init count (fun t ->
        Array.init shape.Size (fun i ->
            let c = i % shape.C
            let x = (i / shape.C) % shape.W + t
            let y = i / (shape.C * shape.W)

            let v =
                150.0
                * Math.Sin(float x / 4.0 + float c)
                * Math.Cos(float y / 5.0 + 0.3 * float c)
                - 60.0

            let q = int (Quantize.roundHalfAway v) + rng.Next(-3, 4)
            sbyte (max -128 (min 127 q))))

/// Input bytes one operation of the case handles, from its Map and Scheme parameters.
let private caseBytes (case: BenchmarkCase) : float =
    let shape = shapeOf (string (case.Parameters["Map"]))
    let options = optionsOf (string (case.Parameters["Scheme"]))
    float shape.Size * float (Codec.groupSize options.Prediction)

/// Throughput column: int8 feature-map megabytes per second from the mean time of one operation.
type MegabytesPerSecond() =
    interface IColumn with
        member _.Id = "CodecMBps"
        member _.ColumnName = "MB/s"
        member _.AlwaysShow = true
        member _.Category = ColumnCategory.Custom
        member _.PriorityInCategory = 0
        member _.IsNumeric = true
        member _.UnitType = UnitType.Dimensionless
        member _.Legend = "int8 feature-map megabytes (10^6 bytes) per second"
        member _.IsAvailable(_: Summary) = true
        member _.IsDefault(_: Summary, _: BenchmarkCase) = false

        member this.GetValue(summary: Summary, case: BenchmarkCase) =
            (this :> IColumn).GetValue(summary, case, SummaryStyle.Default)

        member _.GetValue(summary: Summary, case: BenchmarkCase, _: SummaryStyle) =
            let report = summary[case]

            if isNull (box report) || isNull (box report.ResultStatistics) then
                "-"
            else
                let seconds = report.ResultStatistics.Mean * 1e-9
                (caseBytes case / seconds / 1e6).ToString("F1")

/// Adds the MB/s column.
type CodecConfig() as this =
    inherit ManualConfig()
    do this.AddColumn(MegabytesPerSecond()) |> ignore

/// Encoder and decoder of one group (1, 2 or 3 frames by method) per operation.
[<Config(typeof<CodecConfig>)>]
type CodecThroughput() =
    let mutable group: sbyte[][] = [||]
    let mutable stream: byte[] = [||]
    let mutable options = Codec.defaults 4 Intra Huffman
    let mutable shape = Shape3(1, 1, 1)

    [<Params("16x16x8", "32x32x8")>]
    member val Map = "16x16x8" with get, set

    [<Params("uniform-huffman", "uni-tss-huffman", "bi-tss-huffman", "bi-tss-zvc")>]
    member val Scheme = "bi-tss-huffman" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        shape <- shapeOf this.Map
        options <- optionsOf this.Scheme
        group <- frames shape (Codec.groupSize options.Prediction)

        match Codec.encode options -128 shape group with
        | Ok e -> stream <- e.Stream
        | Error e -> failwith e

    [<Benchmark>]
    member _.Encode() =
        match Codec.encode options -128 shape group with
        | Ok e -> e.Stream.Length
        | Error e -> failwith e

    [<Benchmark>]
    member _.Decode() =
        match Codec.decode stream with
        | Ok d -> d.Frames.Length
        | Error e -> failwith (Codec.describe e)
