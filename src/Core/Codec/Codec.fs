namespace Tern.Core

open System
open Tern.Runtime

type Prediction =
    | Intra
    | Uni
    | Bi

type CodecOptions = {
    Bits: int
    Quant: QuantSource
    Prediction: Prediction
    Motion: MotionParams
    Entropy: Entropy
    Residual: bool
}

type BitReport = {
    Header: int
    Anchor: SectionBits
    Vectors: SectionBits
    Residual: SectionBits
    Padding: int
    Checksum: int
    Total: int
}

type Encoded = {
    Stream: byte[]
    Reconstruction: sbyte[][]
    Vectors: MotionVector[][]
    Quant: CodecQuant
    Bits: BitReport
}

type Decoded = {
    Shape: Shape3
    Frames: sbyte[][]
    Anchor: int
    Predicted: bool
    Vectors: MotionVector[][]
    Quant: CodecQuant
    Bits: BitReport
}

[<RequireQualifiedAccess>]
module Codec =

    /// Stream format version written and read.
    let version: int = 1

    let headerBytes: int = 22

    let checksumBytes: int = 4

    let private magic0 = 0x54uy // 'T'
    let private magic1 = 0x43uy // 'C'

    let groupSize (prediction: Prediction) : int =
        match prediction with
        | Intra -> 1
        | Uni -> 2
        | Bi -> 3

    /// Index of the anchor within a group.
    let anchorIndex (prediction: Prediction) : int =
        match prediction with
        | Intra
        | Uni -> 0
        | Bi -> 1

    let defaults (bits: int) (prediction: Prediction) (entropy: Entropy) : CodecOptions = {
        Bits = bits
        Quant = FromInt8
        Prediction = prediction
        Motion = {
            Block = 4
            Range = 7
            Search = ThreeStep
            Cost = Sad
        }
        Entropy = entropy
        Residual = false
    }

    /// H W C in 64 bits (Shape3.Size is 32-bit and would overflow on a hostile header).
    let private elements (shape: Shape3) =
        int64 shape.H * int64 shape.W * int64 shape.C

    let rawFloatBits (shape: Shape3) (frames: int) : int64 = 32L * elements shape * int64 frames

    let int8Bits (shape: Shape3) (frames: int) : int64 = 8L * elements shape * int64 frames

    let private entropyCode (e: Entropy) =
        match e with
        | Fixed -> 0
        | Zvc -> 1
        | Huffman -> 2
        | Rle -> 3

    let private entropyOf (code: int) =
        match code with
        | 0 -> Fixed
        | 1 -> Zvc
        | 2 -> Huffman
        | _ -> Rle

    /// Residual symbols: clamp(divRound(cur - pred, Step), -2^N, 2^N) + 2^N, alphabet 2^(N+1) + 1
    /// (with Step = 2^(8-N) every int8 difference, up to +-255, fits).
    let private residualAlphabet (q: CodecQuant) = (1 <<< (q.Bits + 1)) + 1

    let private addResidual (q: CodecQuant) (pred: sbyte[]) (symbols: int[]) =
        let half = 1 <<< q.Bits
        Array.init pred.Length (fun i -> sbyte (max -128 (min 127 (int pred[i] + q.Step * (symbols[i] - half)))))

    let private maxElements = 1 <<< 26

    let private checkOptions (o: CodecOptions) (anchor: int) (shape: Shape3) (frames: sbyte[][]) =
        if o.Bits < 2 || o.Bits > 8 then
            Error $"bits must be 2..8, got {o.Bits}"
        elif
            shape.H < 1
            || shape.W < 1
            || shape.C < 1
            || shape.H > 65535
            || shape.W > 65535
            || shape.C > 65535
        then
            Error $"shape {shape} must have every dimension in 1..65535"
        elif frames.Length < 1 || frames.Length > 255 then
            Error $"a group holds 1..255 frames, got {frames.Length}"
        elif elements shape * int64 frames.Length > int64 maxElements then
            Error $"{frames.Length} frames of {shape} exceed {maxElements} elements"
        elif frames |> Array.exists (fun f -> f.Length <> shape.Size) then
            Error $"every frame must hold {shape.Size} codes"
        elif o.Prediction <> Intra && frames.Length < 2 then
            Error $"{o.Prediction} prediction needs at least 2 frames, got {frames.Length}"
        elif o.Prediction <> Intra && (anchor < 0 || anchor >= frames.Length) then
            Error $"anchor {anchor} outside the group of {frames.Length} frames"
        elif o.Prediction <> Intra && (o.Motion.Block < 1 || o.Motion.Block > 255) then
            Error $"block size must be 1..255, got {o.Motion.Block}"
        elif o.Prediction <> Intra && (o.Motion.Range < 1 || o.Motion.Range > 127) then
            Error $"search range must be 1..127, got {o.Motion.Range}"
        elif o.Prediction = Intra && o.Residual then
            Error "a residual needs a predicted frame"
        else
            Ok()

    let encodeGroup
        (options: CodecOptions)
        (anchor: int)
        (zeroPoint: int)
        (shape: Shape3)
        (frames: sbyte[][])
        : Result<Encoded, string> =
        let anchor = if options.Prediction = Intra then 0 else anchor

        match checkOptions options anchor shape frames with
        | Error e -> Error e
        | Ok() when zeroPoint < -128 || zeroPoint > 127 -> Error $"zero point {zeroPoint} outside -128..127"
        | Ok() ->
            let predicted = options.Prediction <> Intra
            let quantized = if predicted then [| frames[anchor] |] else frames
            let q = CodecQuant.choose options.Quant options.Bits zeroPoint quantized
            let toSymbol = CodecQuant.symbolTable q
            let toCode = CodecQuant.codeTable q

            let anchorSymbols =
                quantized
                |> Array.collect (fun f -> f |> Array.map (fun v -> toSymbol[int v + 128]))

            let rebuilt = anchorSymbols |> Array.map (fun s -> toCode[s])
            let recon = Array.create frames.Length [||]
            let vectors = Array.create frames.Length [||]
            let residuals = ResizeArray<int[]>()

            if predicted then
                recon[anchor] <- rebuilt

                for i in 0 .. frames.Length - 1 do
                    if i <> anchor then
                        let v, _ = CodecMotion.estimate options.Motion shape frames[i] rebuilt
                        let pred = CodecMotion.compensate shape options.Motion.Block rebuilt v
                        vectors[i] <- v

                        if options.Residual then
                            let half = 1 <<< q.Bits

                            let cur = frames[i]

                            let r =
                                Array.init shape.Size (fun k ->
                                    let d = CodecQuant.divRound (int cur[k] - int pred[k]) q.Step
                                    max -half (min half d) + half)

                            residuals.Add r
                            recon[i] <- addResidual q pred r
                        else
                            recon[i] <- pred
            else
                for i in 0 .. frames.Length - 1 do
                    recon[i] <- Array.sub rebuilt (i * shape.Size) shape.Size

            let w = BitWriter()
            w.Write(uint32 magic0, 8)
            w.Write(uint32 magic1, 8)
            w.Write(uint32 version, 8)

            let flags =
                ((if predicted then 1 else 0) <<< 6)
                ||| (entropyCode options.Entropy <<< 4)
                ||| ((if options.Residual then 1 else 0) <<< 3)
                ||| ((if q.Range = SymmetricCodes then 1 else 0) <<< 2)

            w.Write(uint32 flags, 8)
            w.Write(0u, 32) // total length, patched below
            w.Write(uint32 shape.H, 16)
            w.Write(uint32 shape.W, 16)
            w.Write(uint32 shape.C, 16)
            w.Write(uint32 q.Bits, 8)
            w.Write(uint32 q.Step, 8)
            w.Write(uint32 (byte (sbyte q.Center)), 8)
            w.Write(uint32 (byte (sbyte q.Zero)), 8)
            w.Write(uint32 frames.Length, 8)
            w.Write(uint32 anchor, 8)
            w.Write(uint32 (if predicted then options.Motion.Block else 0), 8)
            w.Write(uint32 (if predicted then options.Motion.Range else 0), 8)
            let header = w.BitCount

            let anchorBits =
                CodecEntropy.write w options.Entropy q.Alphabet q.ZeroSymbol anchorSymbols

            let vectorBits =
                if predicted then
                    let p = options.Motion.Range

                    let symbols =
                        vectors
                        |> Array.collect (fun vs -> vs |> Array.collect (fun v -> [| v.Dy + p; v.Dx + p |]))

                    CodecEntropy.write w options.Entropy (2 * p + 1) p symbols
                else
                    SectionBits.Zero

            let residualBits =
                if options.Residual then
                    CodecEntropy.write
                        w
                        options.Entropy
                        (residualAlphabet q)
                        (1 <<< q.Bits)
                        (residuals |> Seq.concat |> Array.ofSeq)
                else
                    SectionBits.Zero

            let padding = w.Align()
            let body = w.ToArray()
            let total = body.Length + checksumBytes
            let stream = Array.zeroCreate total
            Array.blit body 0 stream 0 body.Length
            Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(stream, 4, 4), uint32 total)
            let crc = Protocol.Crc32.Compute(ReadOnlySpan(stream, 0, body.Length))
            Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(stream, body.Length, 4), crc)

            Ok {
                Stream = stream
                Reconstruction = recon
                Vectors = vectors
                Quant = q
                Bits = {
                    Header = header
                    Anchor = anchorBits
                    Vectors = vectorBits
                    Residual = residualBits
                    Padding = padding
                    Checksum = 8 * checksumBytes
                    Total = 8 * total
                }
            }

    let encode (options: CodecOptions) (zeroPoint: int) (shape: Shape3) (frames: sbyte[][]) : Result<Encoded, string> =
        if options.Prediction <> Intra && frames.Length <> groupSize options.Prediction then
            Error
                $"{options.Prediction} prediction codes groups of {groupSize options.Prediction} frames, got {frames.Length}"
        else
            encodeGroup options (anchorIndex options.Prediction) zeroPoint shape frames

    let groupAnchor (prediction: Prediction) (frames: int) : int =
        match prediction with
        | Intra
        | Uni -> 0
        | Bi -> frames / 2

    let payloadBits (bits: BitReport) : int =
        bits.Anchor.Total + bits.Vectors.Total + bits.Residual.Total

    let encodeSequenceGrouped
        (options: CodecOptions)
        (groupFrames: int)
        (zeroPoint: int)
        (shape: Shape3)
        (frames: sbyte[][])
        : Result<Encoded list, string> =
        if groupFrames < groupSize options.Prediction || groupFrames > 255 then
            Error $"groups of {groupFrames} frames: {options.Prediction} needs {groupSize options.Prediction}..255"
        else
            let groups =
                frames
                |> Array.chunkBySize groupFrames
                |> Array.map (fun g ->
                    if g.Length >= groupSize options.Prediction then
                        encodeGroup options (groupAnchor options.Prediction g.Length) zeroPoint shape g
                    else
                        encode
                            {
                                options with
                                    Prediction = Intra
                                    Residual = false
                            }
                            zeroPoint
                            shape
                            g)

            match
                groups
                |> Array.tryPick (fun r ->
                    match r with
                    | Error e -> Some e
                    | Ok _ -> None)
            with
            | Some e -> Error e
            | None ->
                Ok [
                    for r in groups do
                        match r with
                        | Ok e -> e
                        | Error _ -> ()
                ]

    let encodeSequence
        (options: CodecOptions)
        (zeroPoint: int)
        (shape: Shape3)
        (frames: sbyte[][])
        : Result<Encoded list, string> =
        encodeSequenceGrouped options (groupSize options.Prediction) zeroPoint shape frames

    let describe (e: CodecError) : string =
        match e with
        | Truncated(needed, available) -> $"truncated stream: {available} bytes, {needed} needed"
        | BadMagic -> "not a Tern codec stream (magic is not \"TC\")"
        | UnsupportedVersion v -> $"unsupported codec stream version {v} (this decoder reads {version})"
        | TrailingBytes(declared, available) -> $"{available - declared} bytes after the declared {declared}"
        | BadChecksum(stored, computed) -> $"CRC-32 mismatch: stored {stored:X8}, computed {computed:X8}"
        | BadHeader reason -> $"bad header: {reason}"
        | BadTable(section, reason) -> $"bad table in the {section} section: {reason}"
        | BadSymbol(section, reason) -> $"bad symbol in the {section} section: {reason}"
        | BadVector(frame, block) -> $"motion vector of frame {frame}, block {block} points outside the anchor"
        | Overrun section -> $"the {section} section reads past the end of the payload"
        | BadPadding -> "non-zero padding bits"

    let private header (reason: string) = raise (CodecFailure(BadHeader reason))

    let private decodeChecked (stream: byte[]) : Decoded =
        if stream.Length < headerBytes + checksumBytes then
            raise (CodecFailure(Truncated(headerBytes + checksumBytes, stream.Length)))

        if stream[0] <> magic0 || stream[1] <> magic1 then
            raise (CodecFailure BadMagic)

        if int stream[2] <> version then
            raise (CodecFailure(UnsupportedVersion(int stream[2])))

        let declared =
            Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(stream, 4, 4))

        if declared > uint32 stream.Length then
            raise (CodecFailure(Truncated(int (min declared (uint32 Int32.MaxValue)), stream.Length)))

        let declared = int declared

        if declared < stream.Length then
            raise (CodecFailure(TrailingBytes(declared, stream.Length)))

        let body = declared - checksumBytes

        let stored =
            Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(stream, body, 4))

        let computed = Protocol.Crc32.Compute(ReadOnlySpan(stream, 0, body))

        if stored <> computed then
            raise (CodecFailure(BadChecksum(stored, computed)))

        let flags = int stream[3]

        let u16 i =
            (int stream[i] <<< 8) ||| int stream[i + 1]

        let shape = Shape3(u16 8, u16 10, u16 12)
        let bits = int stream[14]
        let step = int stream[15]
        let center = int (sbyte stream[16])
        let zero = int (sbyte stream[17])
        let count = int stream[18]
        let anchor = int stream[19]
        let block = int stream[20]
        let range = int stream[21]
        let mode = flags >>> 6
        let entropy = entropyOf ((flags >>> 4) &&& 3)
        let residual = (flags >>> 3) &&& 1 = 1

        let codes =
            if (flags >>> 2) &&& 1 = 1 then
                SymmetricCodes
            else
                AffineCodes

        if mode > 1 then
            header $"prediction mode {mode}"

        if flags &&& 3 <> 0 then
            header "reserved flag bits set"

        let predicted = mode = 1

        if shape.H < 1 || shape.W < 1 || shape.C < 1 then
            header $"shape {shape}"

        if bits < 2 || bits > 8 then
            header $"bits {bits}"

        if step < 1 then
            header "step 0"

        if count < 1 then
            header "no frames"

        if elements shape * int64 count > int64 maxElements then
            header $"{count} frames of {shape} exceed {maxElements} elements"

        let q = {
            Bits = bits
            Range = codes
            Step = step
            Center = center
            Zero = zero
        }

        if zero < q.QMin || zero > q.QMax then
            header $"zero point {zero} outside {q.QMin}..{q.QMax}"

        if predicted then
            if count < 2 || anchor >= count then
                header $"anchor {anchor} of {count} frames"

            if block < 1 || range < 1 then
                header $"block {block}, range {range}"
        else
            if anchor <> 0 || block <> 0 || range <> 0 then
                header "intra stream with anchor, block or range set"

            if residual then
                header "intra stream with a residual"

        let r = BitReader(stream, headerBytes, body * 8)
        let quantizedFrames = if predicted then 1 else count
        let start = r.Position

        let anchorSymbols =
            CodecEntropy.read r entropy q.Alphabet q.ZeroSymbol (quantizedFrames * shape.Size) "anchor"

        let anchorBits = r.Position - start
        let toCode = CodecQuant.codeTable q
        let rebuilt = anchorSymbols |> Array.map (fun s -> toCode[s])
        let frames = Array.create count [||]
        let vectors = Array.create count [||]
        let mutable vectorBits = 0
        let mutable residualBits = 0

        if predicted then
            frames[anchor] <- rebuilt
            let nb = CodecMotion.blockCount shape block
            let start = r.Position

            let symbols =
                CodecEntropy.read r entropy (2 * range + 1) range (2 * nb * (count - 1)) "vectors"

            vectorBits <- r.Position - start
            let _, cols = CodecMotion.blockGrid shape block

            for i in 0 .. count - 1 do
                if i <> anchor then
                    // The j-th predicted frame's vectors start at symbol 2 nb j.
                    let first = 2 * nb * (if i < anchor then i else i - 1)

                    vectors[i] <-
                        Array.init nb (fun b ->
                            let v = {
                                Dy = symbols[first + 2 * b] - range
                                Dx = symbols[first + 2 * b + 1] - range
                            }

                            let by = (b / cols) * block
                            let bx = (b % cols) * block
                            let bh = min block (shape.H - by)
                            let bw = min block (shape.W - bx)

                            if not (CodecMotion.isValid shape range by bx bh bw v) then
                                raise (CodecFailure(BadVector(i, b)))

                            v)

            let preds = [|
                for i in 0 .. count - 1 do
                    if i <> anchor then
                        i, CodecMotion.compensate shape block rebuilt vectors[i]
            |]

            if residual then
                let start = r.Position

                let symbols =
                    CodecEntropy.read r entropy (residualAlphabet q) (1 <<< bits) ((count - 1) * shape.Size) "residual"

                residualBits <- r.Position - start

                preds
                |> Array.iteri (fun j (i, pred) ->
                    frames[i] <- addResidual q pred (Array.sub symbols (j * shape.Size) shape.Size))
            else
                for i, pred in preds do
                    frames[i] <- pred
        else
            for i in 0 .. count - 1 do
                frames[i] <- Array.sub rebuilt (i * shape.Size) shape.Size

        let padding = r.Remaining

        if padding >= 8 || r.Peek padding <> 0 then
            raise (CodecFailure BadPadding)

        // Table bits are fixed by the coder and alphabet, so the payload is the rest of each section.
        let split (section: int) (alphabet: int) =
            let table =
                match entropy with
                | Huffman -> 4 * alphabet
                | Rle -> 4
                | Fixed
                | Zvc -> 0

            if section = 0 then
                SectionBits.Zero
            else
                {
                    Table = table
                    Payload = section - table
                }

        {
            Shape = shape
            Frames = frames
            Anchor = anchor
            Predicted = predicted
            Vectors = vectors
            Quant = q
            Bits = {
                Header = 8 * headerBytes
                Anchor = split anchorBits q.Alphabet
                Vectors = split vectorBits (2 * range + 1)
                Residual = split residualBits (residualAlphabet q)
                Padding = padding
                Checksum = 8 * checksumBytes
                Total = 8 * declared
            }
        }

    let decode (stream: byte[]) : Result<Decoded, CodecError> =
        try
            Ok(decodeChecked stream)
        with CodecFailure e ->
            Error e
