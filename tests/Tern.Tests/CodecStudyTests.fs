module Tern.Tests.CodecStudyTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Studies
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

let private ``the study returns every method at every bit depth with consistent ratios and accuracies`` () =
    Prop.forAll (Arb.fromGen G.case) (fun c ->
        let r = G.run c
        let n = r.Frames
        let coded = CodecStudy.methods |> List.filter ((<>) RawFloat)

        Expect.equal
            r.Rows.Length
            (1 + coded.Length * c.Bits.Length)
            "one raw row and one per coded method and bit depth"

        Expect.equal r.Rows.Head.Method RawFloat "the first row is the raw float baseline"
        Expect.equal r.Rows.Head.RatioVsFloat32 1.0 "the baseline's ratio vs float32"
        Expect.equal r.Split 2 "the split after the depthwise layer"
        Expect.equal r.FeatureMap (Shape3(4, 4, 8)) "the feature map at the split"

        for m in coded do
            for b in c.Bits do
                Expect.hasLength
                    (r.Rows |> List.filter (fun x -> x.Method = m && x.Bits = Some b))
                    1
                    $"one row for {m} at {b} bits"

        for row in r.Rows do
            // Both ratios count the same frames, so they differ by exactly float32 / int8 = 4.
            Expect.isTrue (near row.RatioVsFloat32 (4.0 * row.RatioVsInt8)) $"{row}"
            Expect.isTrue (near row.BitsPerFrame (float row.CodedBits / float n)) $"{row}: bits per frame"
            Expect.isTrue (near row.AccuracyDrop (r.BaselineAccuracy - row.Accuracy)) $"{row}: accuracy drop"
            Expect.isGreaterThanOrEqual row.Top1Agreement 0.0 $"{row}: top-1 agreement at least 0"
            Expect.isLessThanOrEqual row.Top1Agreement 1.0 $"{row}: top-1 agreement at most 1"
            // A frame can change correctness only if its top-1 class changed.
            Expect.isLessThanOrEqual
                (abs (row.Accuracy - r.BaselineAccuracy))
                (1.0 - row.Top1Agreement + 1e-12)
                $"{row}: accuracy changes only where top-1 changed"

            let b = row.Breakdown

            if row.Method <> RawFloat then
                Expect.equal
                    (b.Framing + b.Tables + b.Anchor + b.Vectors + b.Residual)
                    row.CodedBits
                    $"{row}: the breakdown sums to the coded bits"
                // Every stream is whole bytes: its 22-byte header and 4-byte CRC at least.
                Expect.equal (row.CodedBits % 8L) 0L $"{row}: whole bytes"

                Expect.isGreaterThanOrEqual
                    row.CodedBits
                    (int64 row.Streams * 8L * 26L)
                    $"{row}: at least a header and CRC per stream"

            // 8-bit intra coding with an affine quantizer is lossless (step 1). A symmetric one has only 127 steps
            // each side of the zero point, so a map spanning more than that from it takes step 2 even at 8 bits.
            let lossless =
                match row.Method, row.Bits with
                | RawFloat, _ -> true
                | Coded(Intra, _), Some 8 -> c.Quant <> MinMaxSymmetric
                | _ -> false

            if lossless then
                Expect.equal row.Top1Agreement 1.0 $"{row}: lossless, so top-1 agrees everywhere"
                Expect.equal row.AccuracyDrop 0.0 $"{row}: lossless, so no accuracy drop"

        true
        |> Prop.classify (c.Windows >= 3) "streams long enough for bi-TSS"
        |> Prop.classify (c.Group.IsSome) "longer groups")

let private ``streams of one window are coded without prediction vectors`` () =
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
        Expect.equal row.Breakdown.Vectors 0L $"{row}: no vectors for one-window streams"

let private ``the default split of the embedded model is after the depthwise layer: 16x16x8`` () =
    let m = Tern.Cli.DefaultModel.load ()
    Expect.equal (SplitPoint.byDefault m) 2 "the embedded model's default split"
    let shape, zero = CodecStudy.featureMap m 2
    Expect.equal shape (Shape3(16, 16, 8)) "the feature map at split 2"
    Expect.isGreaterThanOrEqual zero -128 "zero point at least -128"
    Expect.isLessThanOrEqual zero 127 "zero point at most 127"
    Expect.equal (SplitPoint.byDefault G.model.Value) 2 "the tiny model's default split"

let private ``bad bit depths, splits and shapes are rejected`` () =
    let data, ids = G.streamData 1 1 3 1
    let m = G.model.Value
    let c = CodecStudy.defaultConfig
    Expect.isTrue (CodecStudy.check { c with Bits = [ 9 ] } m data ids |> Result.isError) "9 bits"
    Expect.isTrue (CodecStudy.check { c with Bits = [] } m data ids |> Result.isError) "no bit depth"
    Expect.isTrue (CodecStudy.check { c with Split = Some 0 } m data ids |> Result.isError) "split 0"

    Expect.isTrue
        (CodecStudy.check { c with Split = Some m.Layers.Length } m data ids
         |> Result.isError)
        "split past the last layer"

    Expect.isTrue (CodecStudy.check { c with GroupFrames = Some 2 } m data ids |> Result.isError) "a group of 2"
    Expect.isTrue (CodecStudy.check c m data ids[1..] |> Result.isError) "ids of the wrong length"

    let wrong = { data with Shape = Shape3(8, 32, 1) }
    Expect.isTrue (CodecStudy.check c m wrong ids |> Result.isError) "a dataset of the wrong shape"
    Expect.equal (CodecStudy.check c m data ids) (Ok 2: Result<int, string>) "a good configuration: split 2"

let private ``streamsOf starts a stream wherever the subject or the label changes`` () =
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

    Expect.equal (CodecStudy.streamsOf d) [| 0; 0; 1; 2; 2; 3; 3 |] "streams by subject and label"

let private ``RadarSim.stream is deterministic and shaped as streams of consecutive windows`` () =
    let a = RadarSim.stream RadarSim.defaultConfig 1 3 4 7
    let b = RadarSim.stream RadarSim.defaultConfig 1 3 4 7
    Expect.equal a.Data.Samples b.Data.Samples "same seed, same samples"
    Expect.equal a.Data.Samples.Length (5 * 3) "5 windows of 3 streams"
    Expect.equal a.Streams (Array.init 15 (fun i -> i / 3)) "stream ids"
    Expect.equal a.Data.Labels (Array.init 15 (fun i -> i / 3)) "labels"
    Expect.equal a.Data.Subjects (Array.zeroCreate<int> 15) "subjects"
    Expect.equal (Dataset.validate a.Data) (Ok(): Result<unit, string>) "the dataset validates"
    Expect.equal a.HopFrames 4 "hop in frames"

let private ``consecutive radar windows are the same STFT frames shifted by the hop, up to one offset per window`` () =
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
        Expect.equal signal.Length (RadarSim.streamSamples cfg 2 hop) "samples of the stream"
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

        Expect.isGreaterThan diffs.Length 100 "comparable pixels"
        let spread = Array.max diffs - Array.min diffs
        Expect.isLessThan spread 1e-5 "spread of the differences"
        // The first window is exactly the spectrogram of the recording's first samples.
        Expect.equal
            w0
            (RadarSim.spectrogram cfg signal[0 .. RadarSim.samplesPerRecording cfg - 1])
            "the first window is the first recording's spectrogram"

        true |> Prop.classify (abs diffs[0] > 1e-4) "windows with different peaks")

let private ``encodeSequenceGrouped with the prediction's own group size is encodeSequence`` () =
    Prop.forAll (Arb.fromGen (Gen.zip G.frames (Gen.elements [ Intra; Uni; Bi ]))) (fun ((frames, shape), p) ->
        let o = Codec.defaults 4 p Huffman

        match
            Codec.encodeSequence o -7 shape frames, Codec.encodeSequenceGrouped o (Codec.groupSize p) -7 shape frames
        with
        | Ok a, Ok b ->
            Expect.equal
                (b |> List.map _.Stream)
                (a |> List.map _.Stream)
                "grouped with the prediction's own size equals encodeSequence"

            true
        | a, b -> failwith $"{a} {b}")

let private ``a longer predicted group decodes to its reconstruction with the anchor in the middle (bi) or first (uni)``
    ()
    =
    Prop.forAll (Arb.fromGen (Gen.zip G.frames (Gen.elements [ Uni; Bi ]))) (fun ((frames, shape), p) ->
        let o = Codec.defaults 5 p Zvc

        match Codec.encodeSequenceGrouped o 5 12 shape frames with
        | Error e -> failwith e
        | Ok groups ->
            let sizes = frames |> Array.chunkBySize 5 |> Array.map _.Length
            Expect.equal (groups |> List.map _.Reconstruction.Length |> Array.ofList) sizes "group sizes"

            for g in groups do
                match Codec.decode g.Stream with
                | Error e -> failwith (Codec.describe e)
                | Ok d ->
                    Expect.equal d.Frames g.Reconstruction "decoded frames equal the reconstruction"

                    if d.Predicted then
                        Expect.equal d.Anchor (Codec.groupAnchor p d.Frames.Length) "anchor of a predicted group"
                    else
                        Expect.isLessThan d.Frames.Length (Codec.groupSize p) "an unpredicted group is a short tail"

            true
            |> Prop.classify (frames.Length > 5) "several groups"
            |> Prop.classify (frames.Length % 5 = 1) "an intra tail")

let private ``bad group sizes and anchors are errors`` () =
    let shape = Shape3(2, 2, 1)
    let f = Array.zeroCreate<sbyte> 4

    Expect.isTrue
        (Codec.encodeSequenceGrouped (Codec.defaults 4 Bi Fixed) 2 0 shape [| f; f |]
         |> Result.isError)
        "bi with a group of 2"

    Expect.isTrue
        (Codec.encodeSequenceGrouped (Codec.defaults 4 Uni Fixed) 256 0 shape [| f; f |]
         |> Result.isError)
        "a group of 256"

    Expect.isTrue
        (Codec.encodeGroup (Codec.defaults 4 Bi Fixed) 3 0 shape [| f; f; f |]
         |> Result.isError)
        "bi anchor 3 in a group of 3"

    Expect.isTrue
        (Codec.encodeGroup (Codec.defaults 4 Uni Fixed) 0 0 shape [| f |]
         |> Result.isError)
        "uni group of 1"

    Expect.isTrue
        (Codec.encodeGroup (Codec.defaults 4 Bi Fixed) 2 0 shape [| f; f; f; f |]
         |> Result.isOk)
        "bi of 4 frames anchored at 2"
    // encode keeps its fixed group sizes.
    Expect.isTrue
        (Codec.encode (Codec.defaults 4 Bi Fixed) 0 shape [| f; f; f; f |]
         |> Result.isError)
        "encode keeps its fixed group sizes"

[<Tests>]
let tests =
    testList "CodecStudyTests" [
        testPropertyWithConfig
            (Properties.tests 12)
            "the study returns every method at every bit depth with consistent ratios and accuracies"
            ``the study returns every method at every bit depth with consistent ratios and accuracies``
        testCase
            "streams of one window are coded without prediction vectors"
            ``streams of one window are coded without prediction vectors``
        testCase
            "the default split of the embedded model is after the depthwise layer: 16x16x8"
            ``the default split of the embedded model is after the depthwise layer: 16x16x8``
        testCase "bad bit depths, splits and shapes are rejected" ``bad bit depths, splits and shapes are rejected``
        testCase
            "streamsOf starts a stream wherever the subject or the label changes"
            ``streamsOf starts a stream wherever the subject or the label changes``
        testCase
            "RadarSim.stream is deterministic and shaped as streams of consecutive windows"
            ``RadarSim.stream is deterministic and shaped as streams of consecutive windows``
        testPropertyWithConfig
            (Properties.tests 6)
            "consecutive radar windows are the same STFT frames shifted by the hop, up to one offset per window"
            ``consecutive radar windows are the same STFT frames shifted by the hop, up to one offset per window``
        testPropertyWithConfig
            (Properties.tests 60)
            "encodeSequenceGrouped with the prediction's own group size is encodeSequence"
            ``encodeSequenceGrouped with the prediction's own group size is encodeSequence``
        testPropertyWithConfig
            (Properties.tests 60)
            "a longer predicted group decodes to its reconstruction with the anchor in the middle (bi) or first (uni)"
            ``a longer predicted group decodes to its reconstruction with the anchor in the middle (bi) or first (uni)``
        testCase "bad group sizes and anchors are errors" ``bad group sizes and anchors are errors``
    ]
