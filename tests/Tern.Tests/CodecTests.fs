module Tern.Tests.CodecTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

/// Codec option generators shared with CCodecTests.
module CodecGen =
    /// Any valid codec options with motion blocks up to maxBlock and search ranges up to maxRange.
    let optionsWithin (maxBlock: int) (maxRange: int) : Gen<CodecOptions> =
        gen {
            let! bits = Gen.choose (2, 8)
            let! quant = Gen.elements [ FromInt8; MinMaxAffine; MinMaxSymmetric ]
            let! prediction = Gen.elements [ Intra; Uni; Bi ]
            let! block = Gen.choose (1, maxBlock)
            let! range = Gen.choose (1, maxRange)
            let! search = Gen.elements [ ThreeStep; FullSearch ]
            let! cost = Gen.elements [ Sad; Mad; Mse ]
            let! entropy = Gen.elements [ Fixed; Zvc; Huffman; Rle ]

            let! residual =
                if prediction = Intra then
                    Gen.constant false
                else
                    Gen.elements [ true; false ]

            return {
                Bits = bits
                Quant = quant
                Prediction = prediction
                Motion = {
                    Block = block
                    Range = range
                    Search = search
                    Cost = cost
                }
                Entropy = entropy
                Residual = residual
            }
        }

/// Generators for this file only.
module private G =

    let shape: Gen<Shape3> =
        gen {
            let! h = Gen.choose (1, 14)
            let! w = Gen.choose (1, 14)
            let! c = Gen.choose (1, 6)
            return Shape3(h, w, c)
        }

    let options: Gen<CodecOptions> = CodecGen.optionsWithin 6 8

    /// ReLU-like feature maps: a smooth random canvas (floored at the zero point) seen through a moving
    /// window, plus noise; or plain random codes.
    let frames (shape: Shape3) (count: int) (zero: int) : Gen<sbyte[][]> =
        let smooth =
            gen {
                let! blobs =
                    Gen.listOfLength 4 (Gen.zip3 (Gen.choose (0, 30)) (Gen.choose (0, 30)) (Gen.choose (-150, 250)))

                let! vy = Gen.choose (-2, 2)
                let! vx = Gen.choose (-2, 2)
                let! noise = Gen.arrayOfLength (count * shape.Size) (Gen.choose (-3, 3))

                return
                    Array.init count (fun t ->
                        Array.init shape.Size (fun i ->
                            let c = i % shape.C
                            let x = (i / shape.C) % shape.W + 8 + vx * t
                            let y = i / (shape.C * shape.W) + 8 + vy * t

                            let v =
                                blobs
                                |> List.sumBy (fun (by, bx, a) ->
                                    let d2 = (y - by) * (y - by) + (x - bx) * (x - bx)
                                    a * (c + 1) / (1 + d2 / 8))

                            sbyte (max zero (min 127 (zero + v / 4 + noise[t * shape.Size + i])))))
            }

        let random =
            Gen.arrayOfLength count (Gen.arrayOfLength shape.Size (Gen.choose (-128, 127) |> Gen.map sbyte))

        Gen.frequency [ 3, smooth; 1, random ]

    /// Options, zero point, shape and a group of frames that suits the options.
    let group: Gen<CodecOptions * int * Shape3 * sbyte[][]> =
        gen {
            let! o = options
            let! zero = Gen.frequency [ 2, Gen.constant -128; 1, Gen.choose (-128, 127) ]
            let! shape = shape

            let! count =
                if o.Prediction = Intra then
                    Gen.choose (1, 3)
                else
                    Gen.constant (Codec.groupSize o.Prediction)

            let! frames = frames shape count zero
            return o, zero, shape, frames
        }

let private encodeOk o zero shape frames =
    match Codec.encode o zero shape frames with
    | Ok e -> e
    | Error e -> failwith e

let private sumBits (b: BitReport) =
    b.Header
    + b.Anchor.Total
    + b.Vectors.Total
    + b.Residual.Total
    + b.Padding
    + b.Checksum

let private ``decode (encode x) is exactly the encoder's own reconstruction, with the same bit report`` () =
    Prop.forAll (Arb.fromGen G.group) (fun (o, zero, shape, frames) ->
        let e = encodeOk o zero shape frames

        match Codec.decode e.Stream with
        | Error err -> failwith (Codec.describe err)
        | Ok d ->
            (d.Frames = e.Reconstruction
             && d.Vectors = e.Vectors
             && d.Quant = e.Quant
             && d.Bits = e.Bits
             && e.Bits.Total = 8 * e.Stream.Length
             && sumBits e.Bits = e.Bits.Total
             && d.Shape = shape)
            |> Prop.collect o.Prediction
            |> Prop.classify o.Residual "residual"
            |> Prop.classify
                (e.Vectors |> Array.exists (Array.exists (fun v -> v.Dy <> 0 || v.Dx <> 0)))
                "non-zero motion")

let private ``any changed byte is rejected`` () =
    let gen =
        gen {
            let! o, zero, shape, frames = G.group
            let! position = Gen.choose (0, Int32.MaxValue)
            let! flip = Gen.choose (1, 255)
            return o, zero, shape, frames, position, flip
        }

    Prop.forAll (Arb.fromGen gen) (fun (o, zero, shape, frames, position, flip) ->
        let e = encodeOk o zero shape frames
        let bad = Array.copy e.Stream
        let i = position % bad.Length
        bad[i] <- bad[i] ^^^ byte flip

        match Codec.decode bad with
        | Ok _ -> false |> Prop.label "accepted"
        | Error err -> Codec.describe err <> "" |> Prop.collect ((sprintf "%A" err).Split(' ')[0]))

let private ``a truncated or extended stream is rejected`` () =
    let gen =
        gen {
            let! o, zero, shape, frames = G.group
            let! cut = Gen.choose (0, Int32.MaxValue)
            return o, zero, shape, frames, cut
        }

    Prop.forAll (Arb.fromGen gen) (fun (o, zero, shape, frames, cut) ->
        let e = encodeOk o zero shape frames
        let n = cut % e.Stream.Length

        let truncated =
            match Codec.decode (Array.sub e.Stream 0 n) with
            | Error(Truncated _) -> true
            | _ -> false

        let extended =
            match Codec.decode (Array.append e.Stream [| 0uy |]) with
            | Error(TrailingBytes _) -> true
            | _ -> false

        truncated && extended)

let private ``malformed but well-checksummed headers are rejected with a reason`` () =
    let shape = Shape3(4, 4, 2)

    let frames =
        Array.init 3 (fun t -> Array.init shape.Size (fun i -> sbyte ((i * 7 + t) % 50)))

    let e = encodeOk (Codec.defaults 4 Bi Huffman) -128 shape frames

    let reseal (edit: byte[] -> unit) =
        let s = Array.copy e.Stream
        edit s
        let body = s.Length - Codec.checksumBytes
        let crc = Protocol.Crc32.Compute(ReadOnlySpan(s, 0, body))
        Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(s, body, 4), crc)
        Codec.decode s

    let isHeader r =
        match r with
        | Error(BadHeader _) -> true
        | _ -> false

    Expect.isTrue (reseal (fun s -> s[14] <- 9uy) |> isHeader) "bits 9"
    Expect.isTrue (reseal (fun s -> s[15] <- 0uy) |> isHeader) "step 0"
    Expect.isTrue (reseal (fun s -> s[19] <- 3uy) |> isHeader) "anchor past the frames"
    Expect.isTrue (reseal (fun s -> s[3] <- s[3] ||| 1uy) |> isHeader) "reserved flag"
    Expect.isTrue (reseal (fun s -> s[3] <- 0xC0uy) |> isHeader) "prediction mode 3"
    Expect.isTrue (reseal (fun s -> s[21] <- 0uy) |> isHeader) "range 0"
    Expect.isTrue (reseal (fun s -> s[0] <- 0uy) = Error BadMagic) "magic 0"
    Expect.isTrue (reseal (fun s -> s[2] <- 2uy) = Error(UnsupportedVersion 2)) "version 2"

let private ``an out-of-range motion vector is rejected`` () =
    // Fixed coding of 1x1 blocks with range 1 on a 1x1 map: the only valid vector is (0, 0).
    let shape = Shape3(1, 1, 1)

    let o = {
        Codec.defaults 8 Uni Fixed with
            Motion = {
                Block = 1
                Range = 1
                Search = FullSearch
                Cost = Sad
            }
    }

    let e = encodeOk o 0 shape [| [| 5y |]; [| 6y |] |]
    // Header 22 bytes, anchor symbol 5 - QMin = 133 in 8 bits, vectors (1, 1) in 2 + 2 bits: 0101.
    Expect.equal (e.Stream[22]) 133uy "anchor symbol 5 - QMin"
    Expect.equal (e.Stream[23]) 0b0101_0000uy "vectors (1, 1) in 2 + 2 bits"
    let s = Array.copy e.Stream
    s[23] <- 0b1001_0000uy
    let body = s.Length - Codec.checksumBytes

    Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(
        Span(s, body, 4),
        Protocol.Crc32.Compute(ReadOnlySpan(s, 0, body))
    )

    Expect.isTrue (Codec.decode s = Error(BadVector(1, 0))) "a vector out of range is rejected"

let private ``the header is laid out as docs/codec.md says`` () =
    let shape = Shape3(3, 5, 260)
    let frames = Array.init 2 (fun _ -> Array.zeroCreate shape.Size)

    let e =
        encodeOk
            {
                Codec.defaults 4 Uni Huffman with
                    Residual = true
            }
            -7
            shape
            frames

    let s = e.Stream
    let expected = [| 0x54uy; 0x43uy; 1uy; 0b0110_1000uy |]
    Expect.equal (s[0..3]) expected "magic, version, flags"

    Expect.equal
        (Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(s, 4, 4)))
        (uint32 s.Length)
        "total length"

    Expect.equal (s[8..13]) [| 0uy; 3uy; 0uy; 5uy; 1uy; 4uy |] "shape"
    // N = 4, step 16, center -7, zero round(-7 / 16) = 0, 2 frames, anchor 0, block 4, range 7.
    Expect.equal
        (s[14..21])
        [| 4uy; 16uy; 0xF9uy; 0uy; 2uy; 0uy; 4uy; 7uy |]
        "N, step, center, zero, frames, anchor, block, range"

    Expect.equal e.Bits.Header (8 * Codec.headerBytes) "header bits"
    Expect.equal e.Bits.Anchor.Table (4 * 16) "anchor table bits"
    Expect.equal e.Bits.Vectors.Table (4 * 15) "vectors table bits"
    Expect.equal e.Bits.Residual.Table (4 * 33) "residual table bits"

let private ``intra at 8 bits from the int8 parameters is lossless`` () =
    let shape = Shape3(5, 3, 4)

    let frames =
        Array.init 3 (fun t -> Array.init shape.Size (fun i -> sbyte ((i * 37 + t * 11) % 256 - 128)))

    for entropy in [ Fixed; Zvc; Huffman; Rle ] do
        let e = encodeOk (Codec.defaults 8 Intra entropy) 12 shape frames
        Expect.isTrue (e.Reconstruction = frames) $"{entropy}: the reconstruction equals the input"

let private ``a residual brings predicted frames within half a step of the input`` () =
    let shape = Shape3(8, 8, 3)
    let rng = Random 5

    let frames =
        Array.init 3 (fun _ -> Array.init shape.Size (fun _ -> sbyte (rng.Next(-128, 128))))

    let o = {
        Codec.defaults 6 Bi Huffman with
            Residual = true
    }

    let e = encodeOk o -128 shape frames

    for i in [ 0; 2 ] do
        let worst =
            Array.map2 (fun (a: sbyte) (b: sbyte) -> abs (int a - int b)) frames[i] e.Reconstruction[i]
            |> Array.max

        Expect.isLessThanOrEqual worst (e.Quant.Step / 2) $"frame {i}: worst error within half a step"

let private ``bidirectional TSS with Huffman at 4 bits compresses a moving smooth map well beyond uniform`` () =
    // Not the accuracy study (a later task), only a sanity check that the methods compose as intended.
    let shape = Shape3(16, 16, 8)

    let frame t =
        Array.init shape.Size (fun i ->
            let c = i % shape.C
            let x = (i / shape.C) % shape.W + t
            let y = i / (shape.C * shape.W)
            let v = 120.0 * Math.Sin(float x / 5.0 + float c) * Math.Cos(float y / 7.0)
            sbyte (max -128 (min 127 (int (Quantize.roundHalfAway v)))))

    let frames = Array.init 3 frame

    let ratio (e: Encoded) =
        float (Codec.int8Bits shape 3) / float e.Bits.Total

    let bi = encodeOk (Codec.defaults 4 Bi Huffman) -128 shape frames
    let uniform = encodeOk (Codec.defaults 4 Intra Fixed) -128 shape frames
    Expect.isLessThan (ratio uniform) 2.0 "uniform 4 bits compresses less than 2x"
    Expect.isGreaterThan (ratio bi) (2.0 * ratio uniform) "bidirectional compresses more than twice as well as uniform"

let private ``every error is described`` () =
    let all = [
        Truncated(26, 3)
        BadMagic
        UnsupportedVersion 9
        TrailingBytes(30, 31)
        BadChecksum(1u, 2u)
        BadHeader "x"
        BadTable("anchor", "x")
        BadSymbol("anchor", "x")
        BadVector(0, 1)
        Overrun "anchor"
        BadPadding
    ]

    for e in all do
        Expect.isNotEmpty (Codec.describe e) $"{e} is described"

let private ``encode refuses groups that do not fit the method`` () =
    let shape = Shape3(2, 2, 1)
    let f = Array.zeroCreate 4
    Expect.isTrue (Codec.encode (Codec.defaults 4 Bi Fixed) 0 shape [| f; f |] |> Result.isError) "Bi needs 3 frames"
    Expect.isTrue (Codec.encode (Codec.defaults 9 Intra Fixed) 0 shape [| f |] |> Result.isError) "9 bits"

    Expect.isTrue
        (Codec.encode (Codec.defaults 4 Intra Fixed) 0 shape [| Array.zeroCreate 3 |]
         |> Result.isError)
        "a frame of the wrong size"

    Expect.isTrue
        (Codec.encode
            {
                Codec.defaults 4 Intra Fixed with
                    Residual = true
            }
            0
            shape
            [| f |]
         |> Result.isError)
        "a residual with intra"

let private ``a sequence is cut into groups, the short tail coded intra`` () =
    let shape = Shape3(4, 4, 2)

    let frames =
        Array.init 7 (fun t -> Array.init shape.Size (fun i -> sbyte ((i * 5 + t) % 60 - 128)))

    match Codec.encodeSequence (Codec.defaults 4 Bi Huffman) -128 shape frames with
    | Error e -> failtest e
    | Ok groups ->
        Expect.equal groups.Length 3 "7 frames make 3 groups"

        let decoded =
            groups
            |> List.collect (fun g ->
                match Codec.decode g.Stream with
                | Ok d -> List.ofArray d.Frames
                | Error e -> failwith (Codec.describe e))

        Expect.equal decoded.Length 7 "every frame decoded"
        Expect.equal (groups[2].Stream[3] >>> 6) 0uy "the tail is intra"
        Expect.equal (groups[2].Reconstruction.Length) 1 "the tail is one frame"
        Expect.isLessThan (Codec.payloadBits groups[0].Bits) (groups[0].Bits.Total) "payload bits below the total"

let private ``a small bidirectional Huffman stream has the header docs/codec.md spells out and the expected vectors``
    ()
    =
    // 4x4x2 maps sliding one column per frame, 4 bits, 2x2 blocks, range 1, TSS, SAD, zero point -128.
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

    let e = encodeOk o -128 shape frames

    // Worked out from docs/codec.md: predicted (1 << 6) | Huffman (2 << 4); Step = 2^(8-4) = 16; Center = z8 = -128;
    // Zero = min(7, divRound(-128, 16)) = -8; F = 3 frames, anchor 1, B = 2, p = 1. The payload bytes are the C
    // encoder's business: CodecVectors ships this stream as a shared vector (CCodecTests).
    let header =
        Array.concat [
            [| 0x54uy; 0x43uy; 1uy; 0x60uy |]
            BitConverter.GetBytes(uint32 e.Stream.Length) |> Array.rev
            [|
                0uy
                4uy
                0uy
                4uy
                0uy
                2uy
                4uy
                16uy
                0x80uy
                0xF8uy
                3uy
                1uy
                2uy
                1uy
            |]
        ]

    Expect.equal e.Stream[.. Codec.headerBytes - 1] header "the header, field by field"

    Expect.equal
        (e.Vectors[0])
        ([| (0, 0); (0, -1); (-1, 0); (0, -1) |]
         |> Array.map (fun (y, x) -> { Dy = y; Dx = x }))
        "the first frame's vectors"

let private ``a 2x2 intra fixed-width stream is the bytes docs/codec.md spells out`` () =
    let e =
        encodeOk (Codec.defaults 4 Intra Fixed) 0 (Shape3(2, 2, 1)) [| [| 0y; 17y; -40y; 127y |] |]

    // By hand from docs/codec.md. N = 4 from int8 codes with z8 = 0: Step = 16, Zero = 0, codes -8 .. 7.
    // qN = clamp(divRound(q8, 16), -8, 7): 0 -> 0, 17 -> 1, -40 -> -3, 127 -> 8, clamped to 7; the symbols
    // qN + 8 = 8, 9, 5, 15 in 4 bits each are 0x89 0x5F. Header: "TC", version 1, flags 0 (intra, fixed, affine),
    // length 22 + 2 + 4 = 28, H W C = 2 2 1, N 4, Step 16, Center 0, Zero 0, F 1, anchor 0, B 0, p 0.
    let body = [|
        0x54uy
        0x43uy
        1uy
        0uy
        0uy
        0uy
        0uy
        28uy
        0uy
        2uy
        0uy
        2uy
        0uy
        1uy
        4uy
        16uy
        0uy
        0uy
        1uy
        0uy
        0uy
        0uy
        0x89uy
        0x5Fuy
    |]

    // The CRC-32 (IEEE) of everything before it, big-endian; Crc32Tests pins Crc32 to the standard check value.
    let crc = Protocol.Crc32.Compute(ReadOnlySpan body)
    let expected = Array.append body (BitConverter.GetBytes crc |> Array.rev)
    Expect.equal e.Stream expected "the stream"

let private ``a checksummed header with a huge shape is rejected, not allocated`` () =
    let shape = Shape3(2, 2, 1)
    let e = encodeOk (Codec.defaults 4 Intra Fixed) 0 shape [| Array.zeroCreate 4 |]
    let s = Array.copy e.Stream
    // H = W = C = 65535: 2^48 codes, overflowing a 32-bit size.
    for i in 8..13 do
        s[i] <- 0xFFuy

    let body = s.Length - Codec.checksumBytes

    Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(
        Span(s, body, 4),
        Protocol.Crc32.Compute(ReadOnlySpan(s, 0, body))
    )

    match Codec.decode s with
    | Error(BadHeader _) -> ()
    | other -> failtest $"{other}"

let private ``a resealed stream with scrambled payload bytes is decoded or rejected, never thrown on`` () =
    let gen =
        gen {
            let! o, zero, shape, frames = G.group

            let! edits =
                Gen.listOfLength 4 (Gen.zip (Gen.choose (0, Int32.MaxValue)) (Gen.choose (0, 255)))

            return o, zero, shape, frames, edits
        }

    Prop.forAll (Arb.fromGen gen) (fun (o, zero, shape, frames, edits) ->
        let e = encodeOk o zero shape frames
        let s = Array.copy e.Stream
        let body = s.Length - Codec.checksumBytes

        if body > Codec.headerBytes then
            for position, value in edits do
                s[Codec.headerBytes + position % (body - Codec.headerBytes)] <- byte value

        Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(
            Span(s, body, 4),
            Protocol.Crc32.Compute(ReadOnlySpan(s, 0, body))
        )

        match Codec.decode s with
        | Ok d -> d.Frames.Length = frames.Length |> Prop.classify true "still decodes"
        | Error err -> Codec.describe err <> "" |> Prop.classify true "rejected")

[<Tests>]
let tests =
    testList "CodecTests" [
        testPropertyWithConfig
            (Properties.tests 300)
            "decode (encode x) is exactly the encoder's own reconstruction, with the same bit report"
            ``decode (encode x) is exactly the encoder's own reconstruction, with the same bit report``
        testPropertyWithConfig (Properties.tests 100) "any changed byte is rejected" ``any changed byte is rejected``
        testPropertyWithConfig
            (Properties.tests 100)
            "a truncated or extended stream is rejected"
            ``a truncated or extended stream is rejected``
        testCase
            "malformed but well-checksummed headers are rejected with a reason"
            ``malformed but well-checksummed headers are rejected with a reason``
        testCase "an out-of-range motion vector is rejected" ``an out-of-range motion vector is rejected``
        testCase "the header is laid out as docs/codec.md says" ``the header is laid out as docs/codec.md says``
        testCase
            "intra at 8 bits from the int8 parameters is lossless"
            ``intra at 8 bits from the int8 parameters is lossless``
        testCase
            "a residual brings predicted frames within half a step of the input"
            ``a residual brings predicted frames within half a step of the input``
        testCase
            "bidirectional TSS with Huffman at 4 bits compresses a moving smooth map well beyond uniform"
            ``bidirectional TSS with Huffman at 4 bits compresses a moving smooth map well beyond uniform``
        testCase "every error is described" ``every error is described``
        testCase "encode refuses groups that do not fit the method" ``encode refuses groups that do not fit the method``
        testCase
            "a sequence is cut into groups, the short tail coded intra"
            ``a sequence is cut into groups, the short tail coded intra``
        testCase
            "a 2x2 intra fixed-width stream is the bytes docs/codec.md spells out"
            ``a 2x2 intra fixed-width stream is the bytes docs/codec.md spells out``
        testCase
            "a small bidirectional Huffman stream has the header docs/codec.md spells out and the expected vectors"
            ``a small bidirectional Huffman stream has the header docs/codec.md spells out and the expected vectors``
        testCase
            "a checksummed header with a huge shape is rejected, not allocated"
            ``a checksummed header with a huge shape is rejected, not allocated``
        testPropertyWithConfig
            (Properties.tests 200)
            "a resealed stream with scrambled payload bytes is decoded or rejected, never thrown on"
            ``a resealed stream with scrambled payload bytes is decoded or rejected, never thrown on``
    ]
