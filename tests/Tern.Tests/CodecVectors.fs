namespace Tern.Tests

open System
open System.Text
open Tern.Core
open Tern.Runtime

/// Shared test vectors for the C encoder (hil/codec/tern_codec.c): groups of feature maps with every codec option
/// and the F# Codec.encode stream of each, plus Huffman code lengths of crafted histograms and the motion search's
/// block costs (BlockSadS8 / BlockSsdS8, twins of tern_block_sad_s8 / tern_block_ssd_s8). hil/tests/codec_test.c
/// includes the generated header hil/tests/tern_codec_vectors.h. Deterministic by seed.
[<RequireQualifiedAccess>]
module CodecVectors =

    /// One group of frames, its options and the F# stream.
    type Case = {
        Name: string
        Options: CodecOptions
        ZeroPoint: int
        Shape: Shape3
        Frames: sbyte[][]
        Stream: byte[]
    }

    /// Two int8 buffers and one block in each (rows of RowLength codes, Stride apart, from AStart and BStart), with
    /// the C# Scalar costs: the shared vectors of the block-cost twins.
    type BlockCase = {
        Name: string
        A: sbyte[]
        AStart: int
        B: sbyte[]
        BStart: int
        Stride: int
        RowLength: int
        Rows: int
        Sad: int64
        Ssd: int64
    }

    /// The seed and count of the committed header.
    let defaultSeed: int = 4

    /// Cases in the committed header.
    let defaultCount: int = 72

    /// The committed header, relative to the repository root.
    let headerPath: string = "hil/tests/tern_codec_vectors.h"

    /// Frames of a moving scene: a smooth random map shifted by a small step per frame, with noise, and in some
    /// cases many codes at the zero point (ReLU-like maps) so that ZVC and RLE have runs to find.
    let scene (rng: Random) (shape: Shape3) (frames: int) (zeroPoint: int) : sbyte[][] =
        let h, w, c = shape.H, shape.W, shape.C
        let pad = 4 * frames + 4
        let bh, bw = h + 2 * pad, w + 2 * pad
        let freq = 0.2 + rng.NextDouble()
        let phase = Array.init c (fun _ -> rng.NextDouble() * 6.0)
        let amp = 20.0 + rng.NextDouble() * 120.0
        let noise = rng.Next 12
        let sparse = rng.Next 3 = 0

        let baseMap =
            Array.init (bh * bw * c) (fun i ->
                let ch = i % c
                let x = (i / c) % bw
                let y = i / (c * bw)
                amp * sin (freq * float x + phase[ch]) * cos (0.7 * freq * float y + phase[ch]))

        let dy, dx = rng.Next(-2, 3), rng.Next(-2, 3)

        Array.init frames (fun t ->
            Array.init shape.Size (fun i ->
                let ch = i % c
                let x = (i / c) % w + pad + t * dx
                let y = i / (c * w) + pad + t * dy
                let v = baseMap[(y * bw + x) * c + ch] + float (rng.Next(-noise, noise + 1))

                let v =
                    if sparse && v < 0.0 then
                        float zeroPoint
                    else
                        float zeroPoint + v

                sbyte (max -128.0 (min 127.0 (Math.Round(v, MidpointRounding.AwayFromZero))))))

    /// The stream test of CodecTests ("pinned byte for byte") as a case.
    let pinned () : Case =
        let shape = Shape3(4, 4, 2)

        let frames =
            Array.init 3 (fun t ->
                Array.init shape.Size (fun i ->
                    let x = (i / 2) % 4 + t
                    let y = i / 8
                    sbyte (x * 20 + y * 7 + (i % 2) * 30 - 128)))

        let o = {
            Codec.defaults 4 Bi Huffman with
                Motion = {
                    Block = 2
                    Range = 1
                    Search = ThreeStep
                    Cost = Sad
                }
        }

        match Codec.encode o -128 shape frames with
        | Ok e -> {
            Name = "pinned bi huffman 4x4x2"
            Options = o
            ZeroPoint = -128
            Shape = shape
            Frames = frames
            Stream = e.Stream
          }
        | Error e -> failwith e

    /// The pinned case, then count seeded random cases cycling through prediction x entropy (every quantizer,
    /// search, cost, residual, block and range also occur).
    let cases (seed: int) (count: int) : Case list =
        let rng = Random(seed)
        let predictions = [| Intra; Uni; Bi |]
        let entropies = [| Fixed; Zvc; Huffman; Rle |]

        let random i =
            let prediction = predictions[i % 3]
            let entropy = entropies[(i / 3) % 4]
            let quant = [| FromInt8; MinMaxAffine; MinMaxSymmetric |][(i / 12) % 3]
            let bits = rng.Next(2, 9)
            let shape = Shape3(rng.Next(1, 11), rng.Next(1, 11), rng.Next(1, 5))

            let zeroPoint =
                match rng.Next 6 with
                | 0 -> -128
                | 1 -> 127
                | 2 -> 0
                | _ -> rng.Next(-128, 128)

            let o = {
                Bits = bits
                Quant = quant
                Prediction = prediction
                Motion = {
                    Block = rng.Next(1, 6)
                    Range = rng.Next(1, 10)
                    Search = (if rng.Next 2 = 0 then ThreeStep else FullSearch)
                    Cost = [| Sad; Mad; Mse |][rng.Next 3]
                }
                Entropy = entropy
                Residual = prediction <> Intra && rng.Next 3 = 0
            }

            let frames =
                match prediction with
                | Intra -> rng.Next(1, 4)
                | p -> Codec.groupSize p

            let fs = scene rng shape frames zeroPoint

            let residual = if o.Residual then " residual" else ""

            match Codec.encode o zeroPoint shape fs with
            | Ok e -> {
                Name =
                    $"{i} {prediction} {entropy} {quant} N={bits} {shape.H}x{shape.W}x{shape.C} z={zeroPoint} B={o.Motion.Block} p={o.Motion.Range} {o.Motion.Search} {o.Motion.Cost}{residual}"
                Options = o
                ZeroPoint = zeroPoint
                Shape = shape
                Frames = fs
                Stream = e.Stream
              }
            | Error e -> failwith $"case {i}: {e}"

        pinned () :: List.init count random

    /// Histograms for the Huffman code lengths: (name, counts); the C test checks CodecEntropy.huffmanLengths on each.
    let histograms (seed: int) : (string * int[]) list =
        let rng = Random(seed + 1)

        let fibonacci n =
            let a = Array.zeroCreate n
            a[0] <- 1

            if n > 1 then
                a[1] <- 1

            for i in 2 .. n - 1 do
                a[i] <- a[i - 1] + a[i - 2]

            a

        [
            "empty", Array.zeroCreate 16
            "one symbol", Array.init 16 (fun i -> if i = 5 then 9 else 0)
            "two symbols", Array.init 16 (fun i -> if i = 3 || i = 12 then 4 else 0)
            "uniform 16", Array.create 16 7
            "fibonacci 30 (limited to 15 bits)", fibonacci 30
            "fibonacci 24 reversed", Array.rev (fibonacci 24)
            "powers of two 20", Array.init 20 (fun i -> 1 <<< i)
            "ties", Array.init 33 (fun i -> 1 + i % 3)
            "random 256", Array.init 256 (fun _ -> if rng.Next 4 = 0 then 0 else rng.Next(1, 1000))
            "random skewed 513",
            Array.init 513 (fun i ->
                if rng.Next 3 = 0 then
                    0
                else
                    1 + (rng.Next 100000 >>> (i % 17)))
            "fibonacci 40 spread over 513",
            Array.init 513 (fun i ->
                if i % 13 = 0 && i / 13 < 40 then
                    (fibonacci 40)[i / 13]
                else
                    0)
        ]

    /// Block-cost cases: empty blocks, single codes, rows around the 8- and 16-code steps of the USADA8 / SIMD
    /// bodies, extreme codes (|a - b| = 255), identical blocks and random ones, with BlockSadS8 / BlockSsdS8.Scalar.
    let blockCosts (seed: int) : BlockCase list =
        let rng = Random(seed + 2)

        let case name (fill: int -> sbyte) (rowLength: int) (rows: int) (gap: int) =
            let stride = rowLength + gap
            let span = if rows = 0 then 0 else (rows - 1) * stride + rowLength
            let aStart, bStart = rng.Next 4, rng.Next 4
            let a = Array.init (aStart + span + rng.Next 3) (fun _ -> fill 0)
            let b = Array.init (bStart + span + rng.Next 3) (fun _ -> fill 1)

            {
                Name = $"{name} {rows}x{rowLength} stride {stride}"
                A = a
                AStart = aStart
                B = b
                BStart = bStart
                Stride = stride
                RowLength = rowLength
                Rows = rows
                Sad = Codec.BlockSadS8.Scalar(ReadOnlySpan a, aStart, ReadOnlySpan b, bStart, stride, rowLength, rows)
                Ssd = Codec.BlockSsdS8.Scalar(ReadOnlySpan a, aStart, ReadOnlySpan b, bStart, stride, rowLength, rows)
            }

        let random _ = sbyte (rng.Next(-128, 128))
        let extreme side = if side = 0 then 127y else -128y
        let flip side = if side = 0 then -128y else 127y

        [
            case "empty" random 0 3 1
            case "no rows" random 5 0 0
            case "one code" random 1 1 0
            case "extremes" extreme 8 4 8
            case "extremes reversed" flip 33 3 0
            case "equal" (fun _ -> 42y) 16 4 5
            for rowLength in [ 3; 7; 8; 9; 15; 16; 17; 31; 32; 33; 40; 64 ] do
                case "random" random rowLength (1 + rng.Next 6) (rng.Next 9)
        ]

    let private bytesC (sb: StringBuilder) (name: string) (ctype: string) (values: string seq) =
        sb.Append($"static const {ctype} {name}[] = {{") |> ignore
        let mutable k = 0

        for v in values do
            if k % 24 = 0 then
                sb.Append("\n   ") |> ignore

            sb.Append(' ').Append(v).Append(',') |> ignore
            k <- k + 1

        if k = 0 then
            sb.Append(" 0") |> ignore

        sb.Append("\n};\n") |> ignore

    /// The header text: stamped with seed and count, static data for codec_test.c.
    let header (seed: int) (count: int) : string =
        let cs = cases seed count
        let hs = histograms seed
        let bs = blockCosts seed
        let sb = StringBuilder()

        let stamp =
            $"CodecVectors.header seed={seed} cases={cs.Length} histograms={hs.Length} blocks={bs.Length}"

        sb
            .Append(
                "/* Generated by Tern (tests/Tern.Tests/CodecVectors.fs): F# Codec.encode streams for the C encoder.\n"
            )
            .Append($" * {stamp}. Do not edit: regenerate with TERN_UPDATE_VECTORS=1 and the CCodecTests.\n */\n")
            .Append(
                "#ifndef TERN_CODEC_VECTORS_H\n#define TERN_CODEC_VECTORS_H\n\n#include <stdint.h>\n#include \"tern_codec.h\"\n\n"
            )
            .Append("typedef struct {\n    const char *name;\n    tern_codec_options_t options;\n    int zero_point;\n")
            .Append(
                "    tern_codec_shape_t shape;\n    uint32_t frames;\n    const int8_t *input; /* frames one after the other */\n"
            )
            .Append("    const uint8_t *stream;\n    uint32_t stream_len;\n} tcv_case;\n\n")
            .Append(
                "typedef struct {\n    const char *name;\n    uint32_t alphabet;\n    const uint32_t *counts;\n    const uint8_t *lengths;\n} tcv_histogram;\n\n"
            )
            .Append(
                "/* Two blocks (rows of row_length codes, stride apart, from a and b) and the C# BlockSadS8 / BlockSsdS8 costs. */\n"
            )
            .Append(
                "typedef struct {\n    const char *name;\n    const int8_t *a, *b;\n    uint32_t stride, row_length, rows;\n    uint64_t sad, ssd;\n} tcv_block;\n\n"
            )
            .Append($"static const char tcv_stamp[] = \"{stamp}\";\n\n")
        |> ignore

        cs
        |> List.iteri (fun i c ->
            bytesC sb $"tcv_in{i}" "int8_t" (c.Frames |> Seq.concat |> Seq.map string)
            bytesC sb $"tcv_out{i}" "uint8_t" (c.Stream |> Seq.map (fun b -> $"0x{b:x2}")))

        sb.Append("\nstatic const tcv_case tcv_cases[] = {\n") |> ignore

        cs
        |> List.iteri (fun i c ->
            let o =
                CodecOptionBytes.ofOptions c.Options |> Array.map string |> String.concat ", "

            sb.Append(
                $"    {{\"{c.Name}\", {{{o}}}, {c.ZeroPoint}, {{{c.Shape.H}, {c.Shape.W}, {c.Shape.C}}}, {c.Frames.Length}u, tcv_in{i}, tcv_out{i}, {c.Stream.Length}u}},\n"
            )
            |> ignore)

        sb.Append("};\n\n") |> ignore

        hs
        |> List.iteri (fun i (_, counts) ->
            bytesC sb $"tcv_hc{i}" "uint32_t" (counts |> Seq.map (fun v -> $"{v}u"))

            bytesC
                sb
                $"tcv_hl{i}"
                "uint8_t"
                (CodecEntropy.huffmanLengths CodecEntropy.maxCodeLength counts |> Seq.map string))

        sb.Append("\nstatic const tcv_histogram tcv_histograms[] = {\n") |> ignore

        hs
        |> List.iteri (fun i (name, counts) ->
            sb.Append($"    {{\"{name}\", {counts.Length}u, tcv_hc{i}, tcv_hl{i}}},\n")
            |> ignore)

        sb.Append("};\n\n") |> ignore

        bs
        |> List.iteri (fun i b ->
            bytesC sb $"tcv_ba{i}" "int8_t" (b.A |> Seq.map string)
            bytesC sb $"tcv_bb{i}" "int8_t" (b.B |> Seq.map string))

        sb.Append("\nstatic const tcv_block tcv_blocks[] = {\n") |> ignore

        bs
        |> List.iteri (fun i b ->
            sb.Append(
                $"    {{\"{b.Name}\", tcv_ba{i} + {b.AStart}, tcv_bb{i} + {b.BStart}, {b.Stride}u, {b.RowLength}u, {b.Rows}u, {b.Sad}u, {b.Ssd}u}},\n"
            )
            |> ignore)

        sb
            .Append("};\n\n")
            .Append($"#define TCV_CASE_COUNT {cs.Length}u\n#define TCV_HISTOGRAM_COUNT {hs.Length}u\n")
            .Append($"#define TCV_BLOCK_COUNT {bs.Length}u\n\n#endif\n")
            .ToString()
