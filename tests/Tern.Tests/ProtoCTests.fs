module Tern.Tests.ProtoCTests

open System
open System.Diagnostics
open System.IO
open Expecto
open FsCheck.FSharp
open Tern.Runtime.Protocol
open Tern.Tests.ProtocolTests

/// One shared vector: the wire bytes of a frame and what decoding it must give.
type private Vector =
    | Valid of MessageType * uint16 * byte[] * byte[]
    | Invalid of ErrorCode * uint32 * uint16 * byte[]

/// The repository root: the first parent of the test directory holding hil/firmware/tern_proto.c.
let private repoRoot () : string =
    Fixtures.above "hil/firmware/tern_proto.c"

/// Runs a program to completion within a timeout (killing it otherwise); returns exit code and output.
let private run (exe: string) (args: string list) (timeout: TimeSpan) : int * string =
    let psi = ProcessStartInfo(exe, args)
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()

    if not (p.WaitForExit timeout) then
        p.Kill true
        p.WaitForExit()
        failtest $"{Path.GetFileName exe} did not finish within {timeout.TotalSeconds} s"

    p.ExitCode, out.Result + err.Result

/// Whether the last COBS block of an encoding carries data (so dropping the last byte leaves it one byte short).
let private lastBlockHasData (enc: byte[]) : bool =
    let rec last at =
        let next = at + int enc[at]
        if next >= enc.Length then at else last next

    enc[last 0] > 1uy

/// One case of the one-shot COBS decoder: encoded bytes, destination capacity, the expected outcome (None, BadCobs
/// or Oversize) and the decoded bytes.
type private CobsCase = {
    Encoded: byte[]
    Capacity: int
    Code: ErrorCode
    Decoded: byte[]
}

/// One-shot COBS cases, the outcome stated, not computed: a block of each size (code 1 to 255) exact, one byte
/// short, two short, one byte long (a final empty block, or a code claiming data that never comes), after a valid
/// block; destinations exactly the decoded size and one byte short; encodings of runs around the block size.
let private cobsCases () : CobsCase list =
    let ok (enc: byte[]) (dec: byte[]) = {
        Encoded = enc
        Capacity = dec.Length
        Code = ErrorCode.None
        Decoded = dec
    }

    let bad (enc: byte[]) = {
        Encoded = enc
        Capacity = 600
        Code = ErrorCode.BadCobs
        Decoded = [||]
    }

    let roomy (c: CobsCase) = {
        c with
            Capacity = c.Decoded.Length + 64
    }

    let tight (c: CobsCase) = {
        c with
            Capacity = c.Decoded.Length - 1
            Code = ErrorCode.Oversize
            Decoded = [||]
    }

    let withCapacities (c: CobsCase) =
        [ c; roomy c ] @ (if c.Decoded.Length > 0 then [ tight c ] else [])

    [
        for c in [ 1; 2; 3; 4; 127; 253; 254; 255 ] do
            let data = Array.init (c - 1) (fun i -> byte (1 + (i * 7 + c) % 255))
            let block = Array.append [| byte c |] data
            yield! withCapacities (ok block data)
            // one byte long: a final empty block stands for a zero after a short block, for nothing after 0xFF
            let zero = if c = 255 then [||] else [| 0uy |]
            yield! withCapacities (ok (Array.append block [| 1uy |]) (Array.append data zero))
            bad (Array.append block [| 2uy |])
            bad (Array.append block [| 0uy |])

            if c >= 2 then
                bad block[.. block.Length - 2]
                bad (Array.append [| 2uy; 9uy |] block[.. block.Length - 2])

            if c >= 3 then
                bad block[.. block.Length - 3]
        bad [| 0uy |]
        bad [| 3uy; 0uy; 2uy |]
        for n in [ 0; 1; 253; 254; 255; 508; 509; 1000 ] do
            for pattern in 0..2 do
                let data =
                    Array.init n (fun i ->
                        match pattern with
                        | 0 -> byte (1 + i % 255)
                        | 1 -> if i % 300 = 299 then 0uy else 0x5Auy
                        | _ -> if i % 3 = 0 then 0uy else byte i)

                yield! withCapacities (ok (Cobs.Encode(ReadOnlySpan data)) data)
    ]

/// Writes the COBS cases in the TERNCOB1 format proto_test.c reads (little-endian): magic, u32 count, then per case
/// u32 encoded length, encoded bytes, u32 capacity, u8 expected code, u32 decoded length, decoded bytes.
let private writeCobsVectors (path: string) (cases: CobsCase list) =
    use w = new BinaryWriter(File.Create path)
    w.Write("TERNCOB1"B)
    w.Write(uint32 cases.Length)

    for c in cases do
        w.Write(uint32 c.Encoded.Length)
        w.Write c.Encoded
        w.Write(uint32 c.Capacity)
        w.Write(byte c.Code)
        w.Write(uint32 c.Decoded.Length)
        w.Write c.Decoded

/// Frames from the C# encoder: messages of every type at sizes around the COBS block and MAX_BODY, random
/// messages from a fixed seed, and crafted bad frames with their exact rejection.
let private vectors () : Vector list =
    let valid (t: MessageType) (s: uint16) (body: byte[]) =
        Valid(t, s, body, Frame.Encode(t, s, ReadOnlySpan body))

    let rnd = Random 20261121

    let bytes n =
        Array.init n (fun i -> if i % 5 = 0 then 0uy else byte (rnd.Next 256))

    let sized =
        [
            0
            1
            2
            243
            244
            245
            253
            254
            255
            498
            508
            509
            1000
            Wire.MaxBody - 1
            Wire.MaxBody
        ]
        |> List.map (fun n -> valid MessageType.Infer (uint16 n) (bytes n))

    let runs =
        [ 244; 254; 500 ]
        |> List.map (fun n -> valid MessageType.LayerData 9us (Array.create n 0x5Auy))

    let messages =
        ProtoGen.sequenced
        |> Gen.sampleWithSeed (FsCheck.Rnd(7UL)) 20 120
        |> Array.map (fun (m, s) -> valid m.Type s (m.EncodeBody()))
        |> List.ofArray

    let bad code detail seq (packet: byte[]) =
        Invalid(code, detail, seq, Frame.Delimit(ReadOnlySpan packet))

    let corrupt = rawPacket 1uy 2uy 31us 3us [| 1uy; 2uy; 3uy |]
    corrupt[7] <- corrupt[7] ^^^ 0x10uy
    let unknown = Tern.Runtime.Protocol.Wire.UnknownSequence

    let invalid = [
        bad ErrorCode.BadVersion 0u 40us (rawPacket 0uy 1uy 40us 0us [||])
        bad ErrorCode.BadVersion 2u 41us (rawPacket 2uy 1uy 41us 0us [||])
        bad ErrorCode.BadLength 4u 42us (rawPacket 1uy 2uy 42us 4us [| 1uy; 2uy; 3uy |])
        bad ErrorCode.BadLength 65535u 43us (rawPacket 1uy 2uy 43us 65535us [||])
        bad ErrorCode.BadCrc 0u unknown corrupt
        for n in 0..9 do
            bad ErrorCode.TooShort (uint32 n) unknown (Array.create n 1uy)
        Invalid(ErrorCode.BadCobs, 0u, unknown, [| 3uy; 1uy; 0uy |])
        Invalid(ErrorCode.BadCobs, 0u, unknown, [| 0xFFuy; 1uy; 2uy; 0uy |])
        bad
            ErrorCode.Oversize
            (uint32 Wire.MaxBody)
            unknown
            (rawPacket 1uy 2uy 44us (uint16 (Wire.MaxBody + 1)) (bytes (Wire.MaxBody + 1)))
    ]

    // Frames one byte either side of a valid one: the encoding less its last byte (a final block one byte short),
    // or with a final empty block (an extra zero at the end of the packet), at small and at MAX_BODY size.
    let edges = [
        for n in [ 3; 250; Wire.MaxBody ] do
            let packet =
                [ 60us .. 90us ]
                |> List.map (fun s -> Frame.EncodePacket(MessageType.Infer, s, ReadOnlySpan(bytes n)))
                |> List.find (fun p -> lastBlockHasData (Cobs.Encode(ReadOnlySpan p)))

            let enc = Cobs.Encode(ReadOnlySpan packet)
            Invalid(ErrorCode.BadCobs, 0u, unknown, Array.append enc[.. enc.Length - 2] [| 0uy |])

            if n = Wire.MaxBody then
                Invalid(ErrorCode.Oversize, uint32 Wire.MaxBody, unknown, Array.append enc [| 1uy; 0uy |])
            else
                Invalid(ErrorCode.BadCrc, 0u, unknown, Array.append enc [| 1uy; 0uy |])
    ]

    sized @ runs @ messages @ invalid @ edges

/// Writes the vectors in the TERNVEC1 format proto_test.c reads (little-endian): magic, u32 count, then per
/// vector u8 expected code (0 = valid frame), u8 type, u16 sequence, u32 detail, u32 body length, body,
/// u32 wire length, wire bytes.
let private writeVectors (path: string) (vs: Vector list) =
    use w = new BinaryWriter(File.Create path)
    w.Write("TERNVEC1"B)
    w.Write(uint32 vs.Length)

    for v in vs do
        let code, typ, seq, detail, body, wire =
            match v with
            | Valid(t, s, b, wire) -> 0uy, byte t, s, 0u, b, wire
            | Invalid(c, d, s, wire) -> byte c, 0uy, s, d, [||], wire

        w.Write code
        w.Write typ
        w.Write(seq: uint16)
        w.Write(detail: uint32)
        w.Write(uint32 body.Length)
        w.Write body
        w.Write(uint32 wire.Length)
        w.Write wire

/// PROFILE cases for proto_test.c in the TERNPRF1 format: PROFILE bodies with the C# verdict (ProfileMessage.Parse,
/// then InRange), and PROFILE_DATA fields with the first 8 bytes the C# encoder writes.
let private writeProfileVectors (path: string) : int =
    let rnd = Random 2026
    use w = new BinaryWriter(File.Create path)
    let edges = [ 0; 1; 2; 163; 164; 4095; 4096; 4097; 32768; 65535 ]

    let bodies = [
        for r in edges -> BitConverter.GetBytes(uint16 r)
        for _ in 1..200 -> Array.init (rnd.Next 6) (fun _ -> byte (rnd.Next 256))
    ]

    let heads = [
        for _ in 1..50 ->
            ProfileDataMessage(
                uint16 (rnd.Next 65536),
                uint32 (rnd.NextInt64(1L <<< 32)),
                Array.zeroCreate (rnd.Next 40)
            )
    ]

    w.Write("TERNPRF1"B)
    w.Write(uint32 (bodies.Length + heads.Length))

    for body in bodies do
        let code, detail, repeats =
            try
                let m = ProfileMessage.Parse(ReadOnlySpan body)

                if m.InRange then
                    ErrorCode.None, 0u, m.Repeats
                else
                    ErrorCode.BadRepeats, uint32 ProfileMessage.MaxRepeats, 0us
            with :? ProtocolException as e ->
                e.Code, e.Detail, 0us

        w.Write 0uy
        w.Write(uint32 body.Length)
        w.Write body
        w.Write(byte code)
        w.Write(detail: uint32)
        w.Write(repeats: uint16)

    for m in heads do
        w.Write 1uy
        w.Write(uint16 m.PrefixTicks.Length)
        w.Write m.Repeats
        w.Write m.BaseTicks
        w.Write(m.EncodeBody()[.. ProfileDataMessage.PrefixBytes - 1])

    bodies.Length + heads.Length

/// The folder the tests build and write vectors into (made on first use).
let private folder = lazy (Scratch.folder "tern-proto-c")

[<Tests>]
let tests =
    testSequenced
    <| testList "ProtoCTests" [
        testCase "C# decodes its own vectors as the C test expects"
        <| fun () ->
            for v in vectors () do
                match
                    v,
                    decodeAll
                        (FrameDecoder())
                        (match v with
                         | Valid(_, _, _, w)
                         | Invalid(_, _, _, w) -> w)
                with
                | Valid(t, s, b, _), [ r ] ->
                    Expect.equal
                        (r.Status, r.Packet.Type, r.Packet.Sequence, r.Packet.Body)
                        (DecodeStatus.Frame, t, s, b)
                        $"%A{v}: status, type, sequence and body"
                | Invalid(c, d, s, _), [ r ] ->
                    Expect.equal
                        (r.Status, r.Error, r.Detail, r.Sequence)
                        (DecodeStatus.Error, c, d, s)
                        $"%A{v}: status, error, detail and sequence"
                | _, rs -> failtest $"%A{v}: got %A{rs}"

        testCase "the one-shot COBS decoder gives each shared case its stated outcome"
        <| fun () ->
            for c in cobsCases () do
                let dst = Array.zeroCreate<byte> c.Capacity
                let n = Cobs.Decode(ReadOnlySpan c.Encoded, Span dst)
                let case = $"%A{c.Encoded} into {c.Capacity} bytes"

                if c.Code = ErrorCode.None then
                    Expect.equal n c.Decoded.Length case
                    Expect.equal dst[.. n - 1] c.Decoded case
                else
                    Expect.equal n -1 case

        testCase "tern_proto.c under ASan and UBSan decodes and re-encodes the C# vectors and survives the fuzz"
        <| fun () ->
            let gcc = ToolRequirement.find "gcc" "gcc"

            let dir = folder.Value
            let root = repoRoot ()
            let vecPath = Path.Combine(dir, "vectors.bin")
            let vs = vectors ()
            writeVectors vecPath vs
            let exe = Path.Combine(dir, "proto_test")

            let code, out =
                run
                    gcc
                    [
                        "-std=c99"
                        "-Wall"
                        "-Wextra"
                        "-Werror"
                        "-fsanitize=address,undefined"
                        "-fno-sanitize-recover=all"
                        "-g"
                        "-I" + Path.Combine(root, "hil", "firmware")
                        Path.Combine(root, "hil", "firmware", "tern_proto.c")
                        Path.Combine(root, "hil", "tests", "proto_test.c")
                        "-o"
                        exe
                    ]
                    (TimeSpan.FromSeconds 60.0)

            Expect.equal code 0 $"gcc failed:\n{out}"
            let profilePath = Path.Combine(dir, "profile.bin")
            let profiles = writeProfileVectors profilePath

            let cobsPath = Path.Combine(dir, "cobs.bin")
            let cobs = cobsCases ()
            writeCobsVectors cobsPath cobs

            let code, out =
                run exe [ vecPath; "8000000"; profilePath; cobsPath ] (TimeSpan.FromSeconds 30.0)

            printfn "%s" out
            Expect.equal code 0 out
            Expect.stringContains out $"vectors: {vs.Length}" "the C test read every vector"
            Expect.stringContains out $"profile vectors: {profiles}" "the C test read every profile vector"
            Expect.stringContains out $"cobs vectors: {cobs.Length}" "the C test read every COBS case"
            Expect.stringContains out " 0 failures" "the C test's failures"

        testCase "tern_proto.c builds for Cortex-M4 with arm-none-eabi-gcc -Os -Werror"
        <| fun () ->
            let gcc =
                ToolRequirement.find "arm-none-eabi-gcc" "gcc-arm-none-eabi libnewlib-arm-none-eabi"

            let dir = folder.Value
            let root = repoRoot ()

            let code, out =
                run
                    gcc
                    [
                        "-std=c99"
                        "-mcpu=cortex-m4"
                        "-mthumb"
                        "-Os"
                        "-ffreestanding"
                        "-Wall"
                        "-Wextra"
                        "-Werror"
                        "-c"
                        Path.Combine(root, "hil", "firmware", "tern_proto.c")
                        "-o"
                        Path.Combine(dir, "tern_proto.o")
                    ]
                    (TimeSpan.FromSeconds 60.0)

            Expect.equal code 0 $"arm-none-eabi-gcc failed:\n{out}"
            Expect.isTrue (File.Exists(Path.Combine(dir, "tern_proto.o"))) "the object file is written"
    ]
