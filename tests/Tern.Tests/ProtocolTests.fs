module Tern.Tests.ProtocolTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Runtime.Protocol

/// Generators for protocol tests (also used by ProtoCTests to write the shared vectors).
module ProtoGen =

    /// Bytes biased toward 0x00 and 0xFF, the values COBS treats specially.
    let byteGen: Gen<byte> =
        Gen.frequency [
            3, Gen.constant 0uy
            1, Gen.constant 0xFFuy
            8, Gen.choose (1, 255) |> Gen.map byte
        ]

    /// Lengths clustered around the COBS block size (254) and its multiples.
    let lengthGen: Gen<int> =
        Gen.frequency [
            6, Gen.choose (0, 40)
            2, Gen.choose (250, 260)
            1, Gen.choose (504, 512)
            1, Gen.choose (0, 2000)
        ]

    /// Byte arrays; a third of them are long non-zero runs (the 0xFF-block case).
    let bytesGen: Gen<byte[]> =
        Gen.frequency [
            2, lengthGen |> Gen.bind (fun n -> Gen.arrayOfLength n byteGen)
            1,
            lengthGen
            |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.choose (1, 255) |> Gen.map byte))
        ]

    let sbytesOf (n: int) : Gen<sbyte[]> =
        Gen.arrayOfLength n (Gen.choose (-128, 127) |> Gen.map sbyte)

    let private u16 = Gen.choose (0, 65535) |> Gen.map uint16

    let private u32 =
        Gen.oneof [
            Gen.elements [ 0u; 1u; 255u; 65536u; UInt32.MaxValue ]
            Gen.choose (0, Int32.MaxValue) |> Gen.map uint32
        ]

    let private smallBody: Gen<int> =
        Gen.frequency [
            4, Gen.choose (0, 64)
            2, Gen.choose (250, 600)
            1, Gen.choose (0, Wire.MaxBody - 10)
        ]

    let private name (maxLen: int) : Gen<string> =
        Gen.choose (0, maxLen)
        |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.choose (32, 126) |> Gen.map char))
        |> Gen.map String

    let private shape: Gen<Shape3> =
        let d = Gen.frequency [ 5, Gen.choose (0, 64); 1, Gen.constant 65535 ]
        Gen.map3 (fun h w c -> Shape3(h, w, c)) d d d

    let info: Gen<InfoMessage> =
        gen {
            let! board = name 40
            let! clock = u32
            let! unit = Gen.elements [ WorkUnit.Instructions; WorkUnit.Cycles ]
            let! tps = u32
            let! fw = Gen.arrayOfLength 32 byteGen
            let! mh = Gen.arrayOfLength 32 byteGen
            let! arena = u32
            let! input = shape
            let! output = shape
            let! layers = u16
            let! kernels = Gen.elements [ "reference"; "dsp"; "" ]
            let! maxBody = u32
            return InfoMessage(1uy, board, clock, unit, tps, fw, mh, arena, input, output, layers, kernels, maxBody)
        }

    /// Any message of the protocol, with bodies that fit MAX_BODY.
    let message: Gen<IMessage> =
        Gen.oneof [
            Gen.constant (HelloMessage() :> IMessage)
            info |> Gen.map (fun m -> m :> IMessage)
            smallBody |> Gen.bind sbytesOf |> Gen.map (fun x -> InferMessage x :> IMessage)
            Gen.map2
                (fun t o -> ResultMessage(t, o) :> IMessage)
                u32
                (smallBody |> Gen.map (fun n -> max 0 (n - 8)) |> Gen.bind sbytesOf)
            Gen.map3 (fun i o c -> LayerMessage(i, o, c) :> IMessage) u16 u32 u16
            gen {
                let! i = u16
                let! t = u32
                let! o = u32
                let! d = smallBody |> Gen.bind sbytesOf
                return LayerDataMessage(i, t, o, d) :> IMessage
            }
            Gen.map2
                (fun c d -> ErrorMessage(LanguagePrimitives.EnumOfValue<byte, ErrorCode> c, d) :> IMessage)
                (Gen.choose (1, 15) |> Gen.map byte)
                u32
            // split inference
            gen {
                let! k = u16
                let! s = shape
                let! z = Gen.choose (-128, 127)
                let! o = Gen.arrayOfLength SplitMessage.OptionBytes byteGen
                return SplitMessage(k, s, sbyte z, o) :> IMessage
            }
            gen {
                let! k = u16
                let! f = u32
                let! g = Gen.elements [ 1uy; 2uy; 3uy ]
                let! w = u32
                let! c = u32
                return SplitReadyMessage(k, f, g, w, c) :> IMessage
            }
            smallBody
            |> Gen.bind sbytesOf
            |> Gen.map (fun x -> InferSplitMessage x :> IMessage)
            gen {
                let! a = u32
                let! b = u32
                let! frames = Gen.elements [ 0uy; 1uy; 2uy; 3uy ]

                let! piece =
                    smallBody
                    |> Gen.map (fun n -> max 0 (n - FeaturesMessage.PrefixBytes))
                    |> Gen.bind (fun n -> Gen.arrayOfLength n byteGen)

                let! extra = Gen.elements [ 0u; 1u; 100000u ]
                return FeaturesMessage(a, b, frames, uint32 piece.Length + extra, piece) :> IMessage
            }
            Gen.map2 (fun o c -> StreamMessage(o, c) :> IMessage) u32 u16
            gen {
                let! t = u32
                let! o = u32

                let! d =
                    smallBody
                    |> Gen.map (fun n -> max 0 (n - StreamDataMessage.PrefixBytes))
                    |> Gen.bind (fun n -> Gen.arrayOfLength n byteGen)

                return StreamDataMessage(t, o, d) :> IMessage
            }
            Gen.elements [ 0us; 1us; 164us; 4096us; 4097us; 65535us ]
            |> Gen.map (fun r -> ProfileMessage r :> IMessage)
            gen {
                let! n = Gen.frequency [ 4, Gen.choose (0, 12); 1, Gen.choose (0, 200) ]
                let! r = u16
                let! b = u32
                let! t = Gen.arrayOfLength n u32
                return ProfileDataMessage(r, b, t) :> IMessage
            }
        ]

    /// A message with a sequence number (0xFFFF included: it is legal on the wire).
    let sequenced: Gen<IMessage * uint16> = Gen.map2 (fun m s -> m, s) message u16

    /// Split points: chunk lengths covering `total` bytes: byte by byte, all at once, or random cuts.
    let chunksOf (total: int) : Gen<int list> =
        let rec go left acc =
            if left <= 0 then
                Gen.constant (List.rev acc)
            else
                Gen.frequency [ 3, Gen.choose (1, min left 7); 1, Gen.choose (1, left) ]
                |> Gen.bind (fun n -> go (left - n) (n :: acc))

        Gen.frequency [
            1, Gen.constant (List.replicate total 1)
            1, Gen.constant (if total > 0 then [ total ] else [])
            4, go total []
        ]

/// A packet with any header fields and a correct CRC (for crafting frames the encoder refuses to build).
let rawPacket (version: byte) (typ: byte) (seq: uint16) (lengthField: uint16) (body: byte[]) : byte[] =
    let p = Array.zeroCreate<byte>(Wire.Overhead + body.Length)
    p[0] <- version
    p[1] <- typ
    p[2] <- byte seq
    p[3] <- byte (seq >>> 8)
    p[4] <- byte lengthField
    p[5] <- byte (lengthField >>> 8)
    Array.blit body 0 p Wire.HeaderBytes body.Length
    let n = Wire.HeaderBytes + body.Length
    let crc = Crc32.Compute(ReadOnlySpan(p, 0, n))

    for k in 0..3 do
        p[n + k] <- byte (crc >>> (8 * k))

    p

/// Every frame and rejection the decoder yields for a byte stream.
let decodeAll (decoder: FrameDecoder) (bytes: byte[]) : DecodeResult list =
    let results = Collections.Generic.List<DecodeResult>()
    decoder.Feed(ReadOnlySpan bytes, results)
    List.ofSeq results

let private isFramingError (r: DecodeResult) =
    r.Status = DecodeStatus.Error
    && r.Error >= ErrorCode.BadCobs
    && r.Error <= ErrorCode.Oversize

let private frames (rs: DecodeResult list) =
    rs |> List.filter (fun r -> r.Status = DecodeStatus.Frame)

// ---- COBS ----

let private ``COBS round-trips any bytes and its encoding has no zero`` () =
    Prop.forAll (Arb.fromGen ProtoGen.bytesGen) (fun data ->
        let enc = Cobs.Encode(ReadOnlySpan data)
        let dec = Array.zeroCreate<byte> data.Length
        let n = Cobs.Decode(ReadOnlySpan enc, Span dec)

        (n = data.Length
         && dec = data
         && not (Array.contains 0uy enc)
         && enc.Length <= Cobs.MaxEncodedLength data.Length)
        |> Prop.classify (Array.contains 0uy data) "has zeros"
        |> Prop.classify (data.Length >= 254 && not (Array.contains 0uy data)) "254+ non-zero run"
        |> Prop.classify (data.Length = 0) "empty")

let private ``COBS forms: a 254-byte run ends with 0x01, the short form also decodes, bad input is refused`` () =
    let run = Array.create 254 7uy
    let enc = Cobs.Encode(ReadOnlySpan run)
    Expect.equal enc.Length 256 "a 254-byte run encodes to 256 bytes"
    Expect.equal (enc[0], enc[255]) (0xFFuy, 0x01uy) "a full block, then a block of no data"
    let dec = Array.zeroCreate<byte> 300
    Expect.equal (Cobs.Decode(ReadOnlySpan(enc, 0, 255), Span dec)) 254 "the short form decodes"
    Expect.equal (Cobs.Decode(ReadOnlySpan [| 5uy; 1uy; 2uy |], Span dec)) -1 "truncated block"
    Expect.equal (Cobs.Decode(ReadOnlySpan [| 4uy; 1uy; 2uy |], Span dec)) -1 "a block one byte short"
    Expect.equal (Cobs.Decode(ReadOnlySpan [| 3uy; 1uy; 2uy |], Span dec)) 2 "the block complete"
    Expect.equal (Cobs.Decode(ReadOnlySpan [| 3uy; 0uy; 2uy |], Span dec)) -1 "zero inside"
    Expect.equal (Cobs.Decode(ReadOnlySpan [| 3uy; 1uy; 2uy |], Span(dec, 0, 1))) -1 "too small"

// ---- frames and messages ----

let private ``any message round-trips through a frame, bit for bit`` () =
    Prop.forAll (Arb.fromGen ProtoGen.sequenced) (fun (msg, seq) ->
        let wire = Frame.Encode(msg, seq)
        let rs = decodeAll (FrameDecoder()) wire

        match rs with
        | [ r ] when r.Status = DecodeStatus.Frame ->
            let p = r.Packet
            let back = Message.Parse p

            (p.Type = msg.Type
             && p.Sequence = seq
             && back.GetType() = msg.GetType()
             && Frame.Encode(back, seq) = wire
             && wire[wire.Length - 1] = 0uy
             && not (Array.contains 0uy wire[.. wire.Length - 2]))
            |> Prop.collect msg.Type
        | other -> false |> Prop.label $"decoded as %A{other}")

let private ``the decoder yields the same frames however the stream is split`` () =
    let streamGen =
        gen {
            let! msgs =
                Gen.choose (1, 6) |> Gen.bind (fun n -> Gen.listOfLength n ProtoGen.sequenced)

            let! leadingZeros = Gen.listOfLength msgs.Length (Gen.choose (0, 2))

            let stream =
                List.zip msgs leadingZeros
                |> List.collect (fun ((m, s), z) -> List.replicate z 0uy @ List.ofArray (Frame.Encode(m, s)))
                |> Array.ofList

            let! chunks = ProtoGen.chunksOf stream.Length
            return msgs, stream, chunks
        }

    Prop.forAll (Arb.fromGen streamGen) (fun (msgs, stream, chunks) ->
        let d = FrameDecoder()
        let results = Collections.Generic.List<DecodeResult>()
        let mutable at = 0

        for n in chunks do
            d.Feed(ReadOnlySpan(stream, at, n), results)
            at <- at + n

        let got =
            results
            |> Seq.map (fun r -> r.Status, r.Packet.Type, r.Packet.Sequence, r.Packet.Body)
            |> List.ofSeq

        let expected =
            msgs |> List.map (fun (m, s) -> DecodeStatus.Frame, m.Type, s, m.EncodeBody())

        (got = expected)
        |> Prop.classify (chunks.Length = stream.Length) "byte by byte"
        |> Prop.classify (chunks.Length = 1) "one chunk")

let private ``each framing error has its reason, detail and sequence`` () =
    let check (wire: byte[]) (code: ErrorCode) (detail: uint32) (seq: uint16) =
        match decodeAll (FrameDecoder()) wire with
        | [ r ] ->
            Expect.equal (r.Status, r.Error, r.Detail, r.Sequence) (DecodeStatus.Error, code, detail, seq) (string code)
        | rs -> failtest $"{code}: got %A{rs}"

    check (Frame.Delimit(ReadOnlySpan(rawPacket 2uy 1uy 77us 0us [||]))) ErrorCode.BadVersion 2u 77us
    check (Frame.Delimit(ReadOnlySpan(rawPacket 1uy 1uy 78us 3us [| 1uy; 2uy |]))) ErrorCode.BadLength 3u 78us
    let corrupt = rawPacket 1uy 1uy 79us 0us [||]
    corrupt[2] <- corrupt[2] ^^^ 1uy
    check (Frame.Delimit(ReadOnlySpan corrupt)) ErrorCode.BadCrc 0u Wire.UnknownSequence
    check (Frame.Delimit(ReadOnlySpan(corrupt, 0, 9))) ErrorCode.TooShort 9u Wire.UnknownSequence
    check [| 1uy; 0uy |] ErrorCode.TooShort 0u Wire.UnknownSequence
    check [| 5uy; 1uy; 0uy |] ErrorCode.BadCobs 0u Wire.UnknownSequence

    let big =
        rawPacket 1uy 2uy 5us (uint16 (Wire.MaxBody + 1)) (Array.create (Wire.MaxBody + 1) 9uy)

    check (Frame.Delimit(ReadOnlySpan big)) ErrorCode.Oversize (uint32 Wire.MaxBody) Wire.UnknownSequence
    // Empty frames are ignored.
    Expect.isEmpty (decodeAll (FrameDecoder()) [| 0uy; 0uy; 0uy |]) "empty frames yield nothing"

/// The boundaries one byte either side: a length field one below, at or one above the body's length (CRC right), and
/// a frame cut one byte inside its last COBS block, which is BAD_COBS (not a shorter packet checked as if whole).
let private ``frame boundaries one byte either side: length field and last COBS block`` () =
    let arb =
        gen {
            let! n = Gen.choose (0, 300)
            let! body = Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte)
            let! delta = Gen.elements [ -1; 0; 1 ]
            let! seq = Gen.choose (0, 65534) |> Gen.map uint16
            return body, delta, seq
        }
        |> Arb.fromGen

    Prop.forAll arb (fun (body, delta, seq) ->
        let field = body.Length + delta

        let lengthOk =
            if field < 0 then
                true
            else
                match
                    decodeAll (FrameDecoder()) (Frame.Delimit(ReadOnlySpan(rawPacket 1uy 3uy seq (uint16 field) body)))
                with
                | [ r ] when delta = 0 -> r.Status = DecodeStatus.Frame && r.Packet.Body = body
                | [ r ] ->
                    r.Status = DecodeStatus.Error
                    && r.Error = ErrorCode.BadLength
                    && r.Detail = uint32 field
                    && r.Sequence = seq
                | _ -> false

        // The last block of the encoding: its code byte says how many data bytes follow it.
        let wire =
            Frame.Delimit(ReadOnlySpan(rawPacket 1uy 3uy seq (uint16 body.Length) body))

        let encoded = wire[.. wire.Length - 2]

        let rec lastBlock i =
            if i + int encoded[i] >= encoded.Length then
                i
            else
                lastBlock (i + int encoded[i])

        let last = lastBlock 0

        let cutOk =
            if encoded[last] < 2uy then
                true
            else
                let cut = Array.append encoded[.. encoded.Length - 2] [| 0uy |]

                match decodeAll (FrameDecoder()) cut with
                | [ r ] -> r.Status = DecodeStatus.Error && r.Error = ErrorCode.BadCobs
                | _ -> false

        lengthOk && cutOk)

let private ``the largest body decodes; OVERSIZE is reported before the delimiter and the next frame decodes`` () =
    let d = FrameDecoder(100)

    let over =
        Frame.Delimit(ReadOnlySpan(rawPacket 1uy 2uy 5us 101us (Array.create 101 9uy)))

    let errors = over |> Array.map (fun b -> d.Push(b).Status = DecodeStatus.Error)
    Expect.equal (errors |> Array.filter id |> Array.length) 1 "one OVERSIZE for the oversize frame"
    Expect.isLessThan (Array.findIndex id errors) (over.Length - 1) "OVERSIZE is reported before the delimiter"
    let ok = Frame.Encode(MessageType.Infer, 6us, ReadOnlySpan(Array.create 100 3uy))
    let rs = decodeAll d ok
    Expect.equal (rs |> List.map (fun r -> r.Status)) [ DecodeStatus.Frame ] "the next frame decodes"
    Expect.equal rs.Head.Packet.Body.Length 100 "the largest body decodes whole"

let private ``malformed bodies are BAD_BODY or BAD_TYPE`` () =
    let code (f: unit -> obj) =
        let e = Expect.throwsC (fun () -> f () |> ignore) id

        match e with
        | :? ProtocolException as e -> e.Code, e.Detail
        | other -> failtest $"expected a ProtocolException, got {other.GetType().Name}: {other.Message}"

    Expect.equal
        (code (fun () -> LayerMessage.Parse(ReadOnlySpan(Array.zeroCreate 7))))
        (ErrorCode.BadBody, 8u)
        "LAYER of 7 bytes"

    Expect.equal
        (code (fun () -> HelloMessage.Parse(ReadOnlySpan [| 1uy |])))
        (ErrorCode.BadBody, 0u)
        "HELLO with a body"

    Expect.equal
        (code (fun () -> ErrorMessage.Parse(ReadOnlySpan [| 1uy |])) |> fst)
        ErrorCode.BadBody
        "ERROR of 1 byte"

    Expect.equal
        (code (fun () -> ResultMessage.Parse(ReadOnlySpan [| 0uy; 0uy; 0uy; 0uy; 5uy; 0uy; 0uy; 0uy; 1uy |]))
         |> fst)
        ErrorCode.BadBody
        "RESULT claiming 5 output bytes, carrying 1"

    Expect.equal
        (code (fun () -> SplitMessage.Parse(ReadOnlySpan(Array.zeroCreate 17))))
        (ErrorCode.BadBody, 18u)
        "SPLIT of 17 bytes"

    Expect.equal
        (code (fun () -> StreamMessage.Parse(ReadOnlySpan(Array.zeroCreate 7))))
        (ErrorCode.BadBody, 6u)
        "STREAM of 7 bytes"

    // FEATURES claiming fewer stream bytes than it carries
    Expect.equal
        (code (fun () -> FeaturesMessage.Parse(ReadOnlySpan(Array.append (Array.zeroCreate 13) [| 1uy |])))
         |> fst)
        ErrorCode.BadBody
        "FEATURES claiming fewer stream bytes than it carries"

    Expect.equal
        (code (fun () -> SplitReadyMessage.Parse(ReadOnlySpan(Array.zeroCreate 14)))
         |> fst)
        ErrorCode.BadBody
        "SPLIT_READY of 14 bytes"

    Expect.equal
        (code (fun () -> ProfileMessage.Parse(ReadOnlySpan(Array.zeroCreate 3))))
        (ErrorCode.BadBody, 2u)
        "PROFILE of 3 bytes"

    // PROFILE_DATA whose layer count (2) wants 8 + 8 bytes
    Expect.equal
        (code (fun () -> ProfileDataMessage.Parse(ReadOnlySpan(Array.append [| 2uy; 0uy |] (Array.zeroCreate 10))))
         |> fst)
        ErrorCode.BadBody
        "PROFILE_DATA whose layer count wants more bytes"

    Expect.equal
        (code (fun () -> Message.Parse(LanguagePrimitives.EnumOfValue<byte, MessageType> 0x44uy, ReadOnlySpan.Empty)))
        (ErrorCode.BadType, 0x44u)
        "an unknown message type"

let private ``PROFILE_DATA parses exactly the bodies of 8 + 4 n bytes, n its layer count`` () =
    let bodyGen =
        Gen.frequency [
            3,
            gen {
                let! n = Gen.choose (0, 20)
                let! extra = Gen.elements [ -5; -4; -1; 0; 0; 0; 1; 4 ]

                let! rest =
                    Gen.arrayOfLength (max 0 (6 + 4 * n + extra)) (Gen.choose (0, 255) |> Gen.map byte)

                return Array.append [| byte n; 0uy |] rest
            }
            1,
            Gen.choose (0, 40)
            |> Gen.bind (fun k -> Gen.arrayOfLength k (Gen.choose (0, 255) |> Gen.map byte))
        ]

    Prop.forAll (Arb.fromGen bodyGen) (fun body ->
        let fits =
            body.Length >= 8 && body.Length = 8 + 4 * int (BitConverter.ToUInt16(body, 0))

        try
            let m = ProfileDataMessage.Parse(ReadOnlySpan body)

            fits
            && m.EncodeBody() = body
            && m.PrefixTicks.Length = int (BitConverter.ToUInt16(body, 0))
        with :? ProtocolException as e ->
            not fits && e.Code = ErrorCode.BadBody
        |> Prop.classify fits "fits")

/// Bytes that reach the device end of a line within a short wait (0 when none).
let private arriving (device: Tern.Runtime.Transports.ITransport) : int =
    try
        Tern.Runtime.Transports.TransportIO.Read(device, Span(Array.zeroCreate 64), TimeSpan.FromMilliseconds 100.0)
    with :? TimeoutException ->
        0

let private ``PROFILE repeats: 1 to 4096 are in range, and the client refuses others before sending`` () =
    for r, ok in [ 0us, false; 1us, true; 4096us, true; 4097us, false; 65535us, false ] do
        Expect.equal (ProfileMessage(r).InRange) ok $"repeats {r}"

    // A device that never answers: the client must refuse before anything goes on the line.
    let host, device = FakeLine.pair "silent"
    use device = device
    use client = new DeviceClient(host)

    for r in [ 0; -1; 4097; 65536 + 5 ] do
        Expect.throwsT<ArgumentOutOfRangeException> (fun () -> client.Profile r |> ignore) $"PROFILE {r} is refused"

    Expect.equal (arriving device) 0 "nothing was written to the line"

// ---- fuzz ----

/// A valid frame, then damage of one kind.
type private Damage =
    | Garbage of byte[]
    | Truncate of int
    | Flip of (int * int) list
    | Zeros of int list

let private ``fuzz: damaged frames are rejected with a reason and a valid frame after them still decodes`` () =
    let caseGen =
        gen {
            let! msg, seq = ProtoGen.sequenced
            let wire = Frame.Encode(msg, seq)
            let body = wire.Length - 1

            let! damage =
                Gen.oneof [
                    Gen.choose (0, 600)
                    |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte))
                    |> Gen.map Garbage
                    Gen.choose (1, body - 1) |> Gen.map Truncate
                    Gen.listOfLength 3 (Gen.map2 (fun i b -> i, b) (Gen.choose (0, body - 1)) (Gen.choose (0, 7)))
                    |> Gen.bind (fun l -> Gen.choose (1, 3) |> Gen.map (fun k -> List.take k l))
                    |> Gen.map Flip
                    Gen.choose (1, 3)
                    |> Gen.bind (fun k -> Gen.listOfLength k (Gen.choose (0, body - 1)))
                    |> Gen.map Zeros
                ]

            let! next, nextSeq = ProtoGen.sequenced
            return wire, damage, Frame.Encode(next, nextSeq)
        }

    Prop.forAll (Arb.fromGen caseGen) (fun (wire, damage, next) ->
        let bad =
            match damage with
            | Garbage g -> Array.append g [| 0uy |]
            | Truncate n -> Array.append wire[.. n - 1] [| 0uy |]
            | Flip flips ->
                let w = Array.copy wire

                for i, b in flips do
                    w[i] <- w[i] ^^^ (1uy <<< b)

                w
            | Zeros at ->
                let w = Array.copy wire

                for i in at do
                    w[i] <- 0uy

                w

        let d = FrameDecoder()
        let rs = decodeAll d bad
        let after = decodeAll d next
        let changed = bad <> wire

        let mustReject =
            changed
            && (match damage with
                | Garbage _ -> false
                | _ -> true)

        let ok =
            List.forall (fun (r: DecodeResult) -> r.Status = DecodeStatus.Frame || isFramingError r) rs
            && (not changed || (frames rs).IsEmpty)
            && (not mustReject || not rs.IsEmpty)
            && (match after with
                | [ r ] -> r.Status = DecodeStatus.Frame
                | _ -> false)

        let kind =
            match damage with
            | Garbage _ -> "garbage"
            | Truncate _ -> "truncate"
            | Flip _ -> "flip"
            | Zeros _ -> "zeros"

        ok
        |> Prop.classify true kind
        |> Prop.collect (
            rs
            |> List.tryFind (fun r -> r.Status = DecodeStatus.Error)
            |> Option.map (fun r -> string r.Error)
            |> Option.defaultValue "no error"
        ))

let private ``fuzz: oversize frames give one OVERSIZE with MAX_BODY, never an overrun, then resynchronise`` () =
    let caseGen =
        gen {
            let! maxBody = Gen.elements [ 0; 1; 54; 300; Wire.MaxBody ]
            let! extra = Gen.choose (1, 600)
            let! body = Gen.arrayOfLength (maxBody + extra) ProtoGen.byteGen

            let! next =
                Gen.choose (0, maxBody)
                |> Gen.bind (fun n -> Gen.arrayOfLength n ProtoGen.byteGen)

            return maxBody, body, next
        }

    Prop.forAll (Arb.fromGen caseGen) (fun (maxBody, body, next) ->
        let d = FrameDecoder(maxBody)

        let over =
            Frame.Delimit(ReadOnlySpan(rawPacket 1uy 2uy 1us (uint16 body.Length) body))

        let rs = decodeAll d over
        let after = decodeAll d (Frame.Encode(MessageType.Infer, 2us, ReadOnlySpan next))

        (match rs, after with
         | [ r ], [ a ] ->
             r.Error = ErrorCode.Oversize
             && r.Detail = uint32 maxBody
             && a.Status = DecodeStatus.Frame
             && a.Packet.Body = next
         | _ -> false)
        |> Prop.collect maxBody)

[<Tests>]
let tests =
    testList "ProtocolTests" [
        testPropertyWithConfig
            (Properties.tests 300)
            "COBS round-trips any bytes and its encoding has no zero"
            ``COBS round-trips any bytes and its encoding has no zero``
        testCase
            "COBS forms: a 254-byte run ends with 0x01, the short form also decodes, bad input is refused"
            ``COBS forms: a 254-byte run ends with 0x01, the short form also decodes, bad input is refused``
        testPropertyWithConfig
            (Properties.tests 300)
            "any message round-trips through a frame, bit for bit"
            ``any message round-trips through a frame, bit for bit``
        testPropertyWithConfig
            (Properties.tests 200)
            "the decoder yields the same frames however the stream is split"
            ``the decoder yields the same frames however the stream is split``
        testCase
            "each framing error has its reason, detail and sequence"
            ``each framing error has its reason, detail and sequence``
        testPropertyWithConfig
            (Properties.tests 300)
            "frame boundaries one byte either side: length field and last COBS block"
            ``frame boundaries one byte either side: length field and last COBS block``
        testCase
            "the largest body decodes; OVERSIZE is reported before the delimiter and the next frame decodes"
            ``the largest body decodes; OVERSIZE is reported before the delimiter and the next frame decodes``
        testCase "malformed bodies are BAD_BODY or BAD_TYPE" ``malformed bodies are BAD_BODY or BAD_TYPE``
        testPropertyWithConfig
            (Properties.tests 300)
            "PROFILE_DATA parses exactly the bodies of 8 + 4 n bytes, n its layer count"
            ``PROFILE_DATA parses exactly the bodies of 8 + 4 n bytes, n its layer count``
        testCase
            "PROFILE repeats: 1 to 4096 are in range, and the client refuses others before sending"
            ``PROFILE repeats: 1 to 4096 are in range, and the client refuses others before sending``
        testPropertyWithConfig
            (Properties.tests 400)
            "fuzz: damaged frames are rejected with a reason and a valid frame after them still decodes"
            ``fuzz: damaged frames are rejected with a reason and a valid frame after them still decodes``
        testPropertyWithConfig
            (Properties.tests 100)
            "fuzz: oversize frames give one OVERSIZE with MAX_BODY, never an overrun, then resynchronise"
            ``fuzz: oversize frames give one OVERSIZE with MAX_BODY, never an overrun, then resynchronise``
    ]
