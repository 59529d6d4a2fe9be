module Tern.Tests.CodecStudyTests

open System
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Core
open Tern.Runtime

/// Generators and fixtures for this file only.
module private G =

    let side = 16
    let classes = [ "a"; "b"; "c" ]
    let shape = Shape3(side, side, 1)

    /// A tiny integer model of the default architecture on 16x16x1 (conv 8x8x8, depthwise 4x4x8, ...).
    let model: Lazy<IntModel> =
        lazy
            (let f = Architectures.defaultFor shape classes 3

             match Lower.lower LowerOptions.Ternary (Lower.randomCalibration 5 16 shape) f with
             | Ok m -> m
             | Error e -> failwith e)

    /// A stream set: per stream one long random "scene" (16 rows, smooth along time) cut into windows
    /// every `hop` columns, so consecutive windows are exact shifted copies.
    let streamData (seed: int) (streams: int) (windows: int) (hop: int) : Dataset * int[] =
        let rng = Random(seed)
        let samples = ResizeArray<float32[]>()
        let labels = ResizeArray<int>()
        let ids = ResizeArray<int>()

        for s in 0 .. streams - 1 do
            let cols = side + (windows - 1) * hop
            let scene = Array2D.zeroCreate<float32> side cols
            let label = rng.Next classes.Length

            for h in 0 .. side - 1 do
                let mutable v = rng.NextDouble()

                for w in 0 .. cols - 1 do
                    v <- Math.Clamp(v + 0.3 * (rng.NextDouble() - 0.5), 0.0, 1.0)
                    scene[h, w] <- float32 v

            for t in 0 .. windows - 1 do
                samples.Add(Array.init (side * side) (fun i -> scene[i / side, t * hop + i % side]))
                labels.Add label
                ids.Add s

        {
            Shape = shape
            Classes = classes
            Samples = samples.ToArray()
            Labels = labels.ToArray()
            Subjects = ids.ToArray()
            SubjectNames = []
            Source = "test"
            Augment = NoAugmentation
        },
        ids.ToArray()

    type Case = {
        Seed: int
        Streams: int
        Windows: int
        Hop: int
        Bits: int list
        Group: int option
        Quant: QuantSource
    }

    let case: Gen<Case> =
        gen {
            let! seed = Gen.choose (0, 10000)
            let! streams = Gen.choose (1, 3)
            let! windows = Gen.choose (1, 7)
            let! hop = Gen.choose (1, 4)
            let! bits = Gen.subListOf [ 2; 3; 4; 5; 6; 7; 8 ]
            let! extra = Gen.choose (2, 8)
            let! group = Gen.elements [ None; Some 3; Some 5 ]
            let! quant = Gen.elements [ FromInt8; MinMaxAffine; MinMaxSymmetric ]

            return {
                Seed = seed
                Streams = streams
                Windows = windows
                Hop = hop
                Bits = (if List.isEmpty bits then [ extra ] else List.ofSeq bits)
                Group = group
                Quant = quant
            }
        }

    let run (c: Case) =
        let data, ids = streamData c.Seed c.Streams c.Windows c.Hop

        let config = {
            CodecStudy.defaultConfig with
                Bits = c.Bits
                GroupFrames = c.Group
                Quant = c.Quant
                Threads = 2
        }

        match CodecStudy.run config model.Value data ids ignore with
        | Ok r -> r
        | Error e -> failwith e

    let frames: Gen<sbyte[][] * Shape3> =
        gen {
            let! h = Gen.choose (2, 9)
            let! w = Gen.choose (2, 9)
            let! c = Gen.choose (1, 3)
            let! n = Gen.choose (1, 12)
            let s = Shape3(h, w, c)

            let! fs =
                Gen.arrayOfLength n (Gen.arrayOfLength s.Size (Gen.choose (-128, 127) |> Gen.map sbyte))

            return fs, s
        }

let private near (a: float) (b: float) = abs (a - b) <= 1e-9 * max 1.0 (abs b)

[<Property(MaxTest = 12)>]
let ``the study returns every method at every bit depth with consistent ratios and accuracies`` () =
    Prop.forAll (Arb.fromGen G.case) (fun c ->
        let r = G.run c
        let n = r.Frames
        let coded = CodecStudy.methods |> List.filter ((<>) RawFloat)

        Assert.That(r.Rows.Length, Is.EqualTo(1 + coded.Length * c.Bits.Length))
        Assert.That(r.Rows.Head.Method, Is.EqualTo RawFloat)
        Assert.That(r.Rows.Head.RatioVsFloat32, Is.EqualTo 1.0)
        Assert.That(r.Split, Is.EqualTo 2)
        Assert.That(r.FeatureMap, Is.EqualTo(Shape3(4, 4, 8)))

        for m in coded do
            for b in c.Bits do
                Assert.That(r.Rows |> List.filter (fun x -> x.Method = m && x.Bits = Some b), Has.Length.EqualTo 1)

        for row in r.Rows do
            // Both ratios count the same frames, so they differ by exactly float32 / int8 = 4.
            Assert.That(near row.RatioVsFloat32 (4.0 * row.RatioVsInt8), Is.True, $"{row}")
            Assert.That(near row.BitsPerFrame (float row.CodedBits / float n), Is.True)
            Assert.That(near row.AccuracyDrop (r.BaselineAccuracy - row.Accuracy), Is.True)
            Assert.That(row.Top1Agreement, Is.InRange(0.0, 1.0))
            // A frame can change correctness only if its top-1 class changed.
            Assert.That(abs (row.Accuracy - r.BaselineAccuracy), Is.LessThanOrEqualTo(1.0 - row.Top1Agreement + 1e-12))

            let b = row.Breakdown

            if row.Method <> RawFloat then
                Assert.That(b.Framing + b.Tables + b.Anchor + b.Vectors + b.Residual, Is.EqualTo row.CodedBits)
                // Every stream is whole bytes: its 22-byte header and 4-byte CRC at least.
                Assert.That(row.CodedBits % 8L, Is.EqualTo 0L)
                Assert.That(row.CodedBits, Is.GreaterThanOrEqualTo(int64 row.Streams * 8L * 26L))

            // 8-bit intra coding with an affine quantizer is lossless (step 1). A symmetric one has only 127 steps
            // each side of the zero point, so a map spanning more than that from it takes step 2 even at 8 bits.
            let lossless =
                match row.Method, row.Bits with
                | RawFloat, _ -> true
                | Coded(Intra, _), Some 8 -> c.Quant <> MinMaxSymmetric
                | _ -> false

            if lossless then
                Assert.That(row.Top1Agreement, Is.EqualTo 1.0)
                Assert.That(row.AccuracyDrop, Is.EqualTo 0.0)

        true
        |> Prop.classify (c.Windows >= 3) "streams long enough for bi-TSS"
        |> Prop.classify (c.Group.IsSome) "longer groups")

[<Test>]
let ``streams of one window are coded without prediction vectors`` () =
    let r =
        G.run {
            Seed = 1
            Streams = 2
            Windows = 1
            Hop = 1
            Bits = [ 4 ]
            Group = None
            Quant = FromInt8
        }

    for row in r.Rows do
        Assert.That(row.Breakdown.Vectors, Is.EqualTo 0L)

[<Test>]
let ``the default split of the embedded model is after the depthwise layer: 16x16x8`` () =
    let m = Tern.Cli.DefaultModel.load ()
    Assert.That(CodecStudy.defaultSplit m, Is.EqualTo 2)
    let shape, zero = CodecStudy.featureMap m 2
    Assert.That(shape, Is.EqualTo(Shape3(16, 16, 8)))
    Assert.That(zero, Is.InRange(-128, 127))
    Assert.That(CodecStudy.defaultSplit G.model.Value, Is.EqualTo 2)

[<Test>]
let ``bad bit depths, splits and shapes are rejected`` () =
    let data, ids = G.streamData 1 1 3 1
    let m = G.model.Value
    let c = CodecStudy.defaultConfig
    Assert.That(CodecStudy.check { c with Bits = [ 9 ] } m data ids |> Result.isError, Is.True)
    Assert.That(CodecStudy.check { c with Bits = [] } m data ids |> Result.isError, Is.True)
    Assert.That(CodecStudy.check { c with Split = Some 0 } m data ids |> Result.isError, Is.True)

    Assert.That(
        CodecStudy.check { c with Split = Some m.Layers.Length } m data ids
        |> Result.isError,
        Is.True
    )

    Assert.That(CodecStudy.check { c with GroupFrames = Some 2 } m data ids |> Result.isError, Is.True)
    Assert.That(CodecStudy.check c m data ids[1..] |> Result.isError, Is.True)

    let wrong = { data with Shape = Shape3(8, 32, 1) }
    Assert.That(CodecStudy.check c m wrong ids |> Result.isError, Is.True)
    Assert.That(CodecStudy.check c m data ids, Is.EqualTo(Ok 2: Result<int, string>))

[<Test>]
let ``streamsOf starts a stream wherever the subject or the label changes`` () =
    let d = {
        Shape = Shape3(1, 1, 1)
        Classes = [ "a"; "b" ]
        Samples = Array.init 7 (fun _ -> [| 0.0f |])
        Labels = [| 0; 0; 1; 1; 1; 0; 0 |]
        Subjects = [| 3; 3; 3; 4; 4; 4; 4 |]
        SubjectNames = []
        Source = ""
        Augment = NoAugmentation
    }

    Assert.That(CodecStudy.streamsOf d, Is.EqualTo(box [| 0; 0; 1; 2; 2; 3; 3 |]))

[<Test>]
let ``RadarSim.stream is deterministic and shaped as streams of consecutive windows`` () =
    let a = RadarSim.stream RadarSim.defaultConfig 1 3 4 7
    let b = RadarSim.stream RadarSim.defaultConfig 1 3 4 7
    Assert.That(a.Data.Samples, Is.EqualTo(box b.Data.Samples))
    Assert.That(a.Data.Samples.Length, Is.EqualTo(5 * 3))
    Assert.That(a.Streams, Is.EqualTo(box (Array.init 15 (fun i -> i / 3))))
    Assert.That(a.Data.Labels, Is.EqualTo(box (Array.init 15 (fun i -> i / 3))))
    Assert.That(a.Data.Subjects, Is.EqualTo(box (Array.zeroCreate<int> 15)))
    Assert.That(Dataset.validate a.Data, Is.EqualTo(Ok(): Result<unit, string>))
    Assert.That(a.HopFrames, Is.EqualTo 4)

[<Property(MaxTest = 6)>]
let ``consecutive radar windows are the same STFT frames shifted by the hop, up to one offset per window`` () =
    let arb =
        Arb.fromGen (
            gen {
                let! cls = Gen.choose (0, 4)
                let! hop = Gen.choose (1, 9)
                let! seed = Gen.choose (0, 1000)
                return cls, hop, seed
            }
        )

    Prop.forAll arb (fun (cls, hop, seed) ->
        let cfg = RadarSim.defaultConfig
        let person = RadarSim.subject seed 0
        let signal = RadarSim.streamEcho cfg person cls 2 hop seed
        Assert.That(signal.Length, Is.EqualTo(RadarSim.streamSamples cfg 2 hop))
        let w0 = RadarSim.streamWindow cfg signal hop 0
        let w1 = RadarSim.streamWindow cfg signal hop 1
        let n = RadarSim.size
        // Both windows map the same dB values v to clamp((v - top) / range + 1, 0, 1) with their own top, so
        // wherever neither is clipped, w1[h, w] - w0[h, w + hop] is one constant.
        let diffs = [|
            for h in 0 .. n - 1 do
                for w in 0 .. n - 1 - hop do
                    let a = w1[h * n + w]
                    let b = w0[h * n + w + hop]

                    if a > 0.0f && a < 1.0f && b > 0.0f && b < 1.0f then
                        float a - float b
        |]

        Assert.That(diffs.Length, Is.GreaterThan 100)
        let spread = Array.max diffs - Array.min diffs
        Assert.That(spread, Is.LessThan 1e-5)
        // The first window is exactly the spectrogram of the recording's first samples.
        Assert.That(w0, Is.EqualTo(box (RadarSim.spectrogram cfg signal[0 .. RadarSim.samplesPerRecording cfg - 1])))
        true |> Prop.classify (abs diffs[0] > 1e-4) "windows with different peaks")

[<Property(MaxTest = 60)>]
let ``encodeSequenceGrouped with the prediction's own group size is encodeSequence`` () =
    Prop.forAll (Arb.fromGen (Gen.zip G.frames (Gen.elements [ Intra; Uni; Bi ]))) (fun ((frames, shape), p) ->
        let o = Codec.defaults 4 p Huffman

        match
            Codec.encodeSequence o -7 shape frames, Codec.encodeSequenceGrouped o (Codec.groupSize p) -7 shape frames
        with
        | Ok a, Ok b ->
            Assert.That(b |> List.map _.Stream, Is.EqualTo(box (a |> List.map _.Stream)))
            true
        | a, b -> failwith $"{a} {b}")

[<Property(MaxTest = 60)>]
let ``a longer predicted group decodes to its reconstruction with the anchor in the middle (bi) or first (uni)`` () =
    Prop.forAll (Arb.fromGen (Gen.zip G.frames (Gen.elements [ Uni; Bi ]))) (fun ((frames, shape), p) ->
        let o = Codec.defaults 5 p Zvc

        match Codec.encodeSequenceGrouped o 5 12 shape frames with
        | Error e -> failwith e
        | Ok groups ->
            let sizes = frames |> Array.chunkBySize 5 |> Array.map _.Length
            Assert.That(groups |> List.map _.Reconstruction.Length |> Array.ofList, Is.EqualTo(box sizes))

            for g in groups do
                match Codec.decode g.Stream with
                | Error e -> failwith (Codec.describe e)
                | Ok d ->
                    Assert.That(d.Frames, Is.EqualTo(box g.Reconstruction))

                    if d.Predicted then
                        Assert.That(d.Anchor, Is.EqualTo(Codec.groupAnchor p d.Frames.Length))
                    else
                        Assert.That(d.Frames.Length, Is.LessThan(Codec.groupSize p))

            true
            |> Prop.classify (frames.Length > 5) "several groups"
            |> Prop.classify (frames.Length % 5 = 1) "an intra tail")

[<Test>]
let ``bad group sizes and anchors are errors`` () =
    let shape = Shape3(2, 2, 1)
    let f = Array.zeroCreate<sbyte> 4

    Assert.That(
        Codec.encodeSequenceGrouped (Codec.defaults 4 Bi Fixed) 2 0 shape [| f; f |]
        |> Result.isError,
        Is.True
    )

    Assert.That(
        Codec.encodeSequenceGrouped (Codec.defaults 4 Uni Fixed) 256 0 shape [| f; f |]
        |> Result.isError,
        Is.True
    )

    Assert.That(
        Codec.encodeGroup (Codec.defaults 4 Bi Fixed) 3 0 shape [| f; f; f |]
        |> Result.isError,
        Is.True
    )

    Assert.That(
        Codec.encodeGroup (Codec.defaults 4 Uni Fixed) 0 0 shape [| f |]
        |> Result.isError,
        Is.True
    )

    Assert.That(
        Codec.encodeGroup (Codec.defaults 4 Bi Fixed) 2 0 shape [| f; f; f; f |]
        |> Result.isOk,
        Is.True
    )
    // encode keeps its fixed group sizes.
    Assert.That(
        Codec.encode (Codec.defaults 4 Bi Fixed) 0 shape [| f; f; f; f |]
        |> Result.isError,
        Is.True
    )
