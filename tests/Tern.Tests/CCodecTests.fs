module Tern.Tests.CCodecTests

open System
open System.Diagnostics
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

/// Generators and the C build for this file only.
module private C =

    /// The source tree: the first ancestor of the test binary holding hil/codec/tern_codec.c and src/Core (the
    /// copy of hil/ next to the binaries would hide a stale committed header).
    let root: Lazy<string> = lazy (Fixtures.above "tests/Tern.Tests/CodecVectors.fs")

    let hil (parts: string list) : string =
        Path.Combine(Array.ofList (root.Value :: "hil" :: parts))

    /// Runs a program with a deadline (killed after it); exit code and all output.
    let run (exe: string) (args: string list) (timeout: TimeSpan) : int * string =
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

    let dir: Lazy<string> = lazy (Scratch.folder "tern-ccodec")

    /// codec_test built once with ASan and UBSan (None when gcc is missing).
    let binary: Lazy<Result<string, string>> =
        lazy
            (match Tern.Rig.Proc.which "gcc" with
             | None -> Error "gcc is not installed"
             | Some gcc ->
                 let exe = Path.Combine(dir.Value, "codec_test")

                 let code, out =
                     run
                         gcc
                         [
                             "-std=c99"
                             "-O1"
                             "-Wall"
                             "-Wextra"
                             "-Werror"
                             "-fsanitize=address,undefined"
                             "-fno-sanitize-recover=all"
                             "-g"
                             "-I" + hil [ "include" ]
                             "-I" + hil [ "tests" ]
                             hil [ "codec"; "tern_codec.c" ]
                             hil [ "tests"; "codec_test.c" ]
                             "-o"
                             exe
                         ]
                         (TimeSpan.FromSeconds 120.0)

                 if code <> 0 then Error $"gcc failed:\n{out}" else Ok exe)

    let requireBinary () : string =
        ToolRequirement.require [ "gcc", "gcc" ]

        match binary.Value with
        | Ok exe -> exe
        | Error e -> failtest e

    /// One random group for the harness.
    type Group = {
        Options: CodecOptions
        ZeroPoint: int
        Shape: Shape3
        Frames: sbyte[][]
    }

    let options: Gen<CodecOptions> = CodecTests.CodecGen.optionsWithin 9 16

    /// Moving scenes (as the shared vectors), uniform noise, or constant maps; zero points at the edges too.
    let group: Gen<Group> =
        gen {
            let! o = options
            let! h = Gen.choose (1, 16)
            let! w = Gen.choose (1, 16)
            let! c = Gen.choose (1, 8)
            let! z = Gen.oneof [ Gen.elements [ -128; 127; 0 ]; Gen.choose (-128, 127) ]
            let! kind = Gen.choose (0, 5)
            let! seed = Gen.choose (0, Int32.MaxValue)

            let! intraFrames = Gen.choose (1, 4)

            let n =
                match o.Prediction with
                | Intra -> intraFrames
                | p -> Codec.groupSize p

            let shape = Shape3(h, w, c)
            let rng = Random(seed)

            let frames =
                match kind with
                | 0 -> Array.init n (fun _ -> Array.init shape.Size (fun _ -> sbyte (rng.Next(-128, 128))))
                | 1 -> Array.init n (fun _ -> Array.create shape.Size (sbyte z))
                | _ -> CodecVectors.scene rng shape n z

            return {
                Options = o
                ZeroPoint = z
                Shape = shape
                Frames = frames
            }
        }

    /// Runs the harness on groups; the C status and stream of each.
    let harness (exe: string) (groups: Group[]) : (int * byte[])[] =
        let id = Guid.NewGuid().ToString("N")
        let input = Path.Combine(dir.Value, $"in-{id}.bin")
        let output = Path.Combine(dir.Value, $"out-{id}.bin")

        do
            use f = File.Create input

            for g in groups do
                let ob = CodecOptionBytes.ofOptions g.Options
                f.Write(ob, 0, ob.Length)
                f.WriteByte(byte (sbyte g.ZeroPoint))

                for d in [ g.Shape.H; g.Shape.W; g.Shape.C ] do
                    f.WriteByte(byte d)
                    f.WriteByte(byte (d >>> 8))

                f.WriteByte(byte g.Frames.Length)

                for fr in g.Frames do
                    let fb = Array.map byte fr
                    f.Write(fb, 0, fb.Length)

        let code, out = run exe [ "--harness"; input; output ] (TimeSpan.FromSeconds 60.0)
        Expect.equal code 0 out
        let bytes = File.ReadAllBytes output
        File.Delete input
        File.Delete output
        let mutable pos = 0

        [|
            for _ in groups do
                let status = BitConverter.ToInt32(bytes, pos)
                let n = BitConverter.ToInt32(bytes, pos + 4)
                yield status, bytes[pos + 8 .. pos + 8 + n - 1]
                pos <- pos + 8 + n
        |]

open C

/// The committed header equals the generator's output (TERN_UPDATE_VECTORS=1 rewrites it).
let private ``tern_codec_vectors.h is up to date with the F# encoder`` () =
    let path = Path.Combine(root.Value, CodecVectors.headerPath)
    let text = CodecVectors.header CodecVectors.defaultSeed CodecVectors.defaultCount

    if Environment.GetEnvironmentVariable "TERN_UPDATE_VECTORS" = "1" then
        File.WriteAllText(path, text)

    Expect.isTrue (File.Exists path) $"{CodecVectors.headerPath} is missing: run with TERN_UPDATE_VECTORS=1"
    Expect.isTrue (File.ReadAllText path = text) $"{CodecVectors.headerPath} is stale: run with TERN_UPDATE_VECTORS=1"

let private ``the shared vectors cover every prediction, coder, quantizer, search, cost and the residual`` () =
    let cs = CodecVectors.cases CodecVectors.defaultSeed CodecVectors.defaultCount
    let has f = cs |> List.exists f

    for p in [ Intra; Uni; Bi ] do
        for e in [ Fixed; Zvc; Huffman; Rle ] do
            Expect.isTrue (has (fun c -> c.Options.Prediction = p && c.Options.Entropy = e)) $"{p} {e}"

    for q in [ FromInt8; MinMaxAffine; MinMaxSymmetric ] do
        Expect.isTrue (has (fun c -> c.Options.Quant = q)) $"{q}"

    for s in [ ThreeStep; FullSearch ] do
        Expect.isTrue (has (fun c -> c.Options.Prediction <> Intra && c.Options.Motion.Search = s)) $"{s}"

    for k in [ Sad; Mad; Mse ] do
        Expect.isTrue (has (fun c -> c.Options.Prediction <> Intra && c.Options.Motion.Cost = k)) $"{k}"

    Expect.isTrue (has (fun c -> c.Options.Residual)) "residual"
    Expect.isTrue (has (fun c -> c.Frames.Length > 1 && c.Options.Prediction = Intra)) "multi-frame intra"
    // the Huffman limit is exercised: an unlimited tree would be deeper than 15
    let _, fib =
        CodecVectors.histograms CodecVectors.defaultSeed
        |> List.find (fun (n, _) -> n.StartsWith "fibonacci 30")

    Expect.isGreaterThan
        (Array.max (CodecEntropy.huffmanLengths 64 fib))
        15
        "an unlimited Huffman tree of fibonacci 30 is deeper than 15"

    Expect.equal (Array.max (CodecEntropy.huffmanLengths 15 fib)) 15 "limited to 15, the longest code is 15"

/// codec_test's report of the shared vectors: it ran every case and block cost, and none failed.
let private expectEveryVector (out: string) =
    Expect.stringContains out $"cases: {CodecVectors.defaultCount + 1}" "the harness ran every shared case"

    Expect.stringContains
        out
        $"blocks: {(CodecVectors.blockCosts CodecVectors.defaultSeed).Length}"
        "the harness ran every shared block cost"

    Expect.stringContains out "failures: 0" "the harness reports no failure"

let private ``C encoder under ASan and UBSan: every shared stream byte for byte, Huffman lengths equal`` () =
    let exe = requireBinary ()
    let code, out = run exe [] (TimeSpan.FromSeconds 60.0)
    printfn "%s" out
    Expect.equal code 0 out
    expectEveryVector out

/// The host build runs the plain loop as tern_block_sad_s8; on the Cortex-M4 (__ARM_FEATURE_SIMD32, from the
/// board's -mcpu) it is the USADA8 body, so codec_test runs on the board too.
let private ``on qemu mps2-an386 (USADA8 body): every shared block cost and stream byte for byte`` () =
    let gcc, qemu = TestFirmware.toolchain ()
    let an386 = TestFirmware.board (hil []) "qemu-mps2-an386"
    let elf = Path.Combine(dir.Value, "codec_test_qemu.elf")

    let code, out =
        TestFirmware.build
            gcc
            an386
            [ "-I" + hil [ "include" ]; "-I" + hil [ "tests" ] ]
            [ hil [ "codec"; "tern_codec.c" ]; hil [ "tests"; "codec_test.c" ] ]
            elf

    Expect.equal code 0 $"arm-none-eabi-gcc failed:\n{out}"
    // the test is void if the board build fell back to the plain loop
    let objdump = Path.Combine(Path.GetDirectoryName gcc, "arm-none-eabi-objdump")
    let code, disassembly = TestFirmware.run objdump [ "-d"; elf ] 60_000
    Expect.equal code 0 disassembly
    Expect.stringContains disassembly "usada8" "the firmware holds the USADA8 body"
    let code, out = TestFirmware.runOnQemu qemu an386 elf
    printfn "%s" out
    Expect.equal code 0 $"codec_test under QEMU:\n{out}"
    expectEveryVector out

/// The C# side of the block-cost twins: the shared cases (codec_test runs them through tern_block_sad_s8 / _ssd_s8
/// and their _ref bodies) give the recorded costs in both C# bodies, at every SIMD level.
let private ``C# block costs give the shared vectors' costs in both bodies`` () =
    let cases = CodecVectors.blockCosts CodecVectors.defaultSeed

    for c in cases do
        let aStart, bStart, stride, rowLength, rows =
            c.AStart, c.BStart, c.Stride, c.RowLength, c.Rows

        Expect.equal
            (Codec.BlockSadS8.Scalar(ReadOnlySpan c.A, aStart, ReadOnlySpan c.B, bStart, stride, rowLength, rows))
            c.Sad
            $"{c.Name}: SAD Scalar"

        Expect.equal
            (Codec.BlockSsdS8.Scalar(ReadOnlySpan c.A, aStart, ReadOnlySpan c.B, bStart, stride, rowLength, rows))
            c.Ssd
            $"{c.Name}: SSD Scalar"

        Expect.equal
            (Codec.BlockSsdS8.Optimized(ReadOnlySpan c.A, aStart, ReadOnlySpan c.B, bStart, stride, rowLength, rows))
            c.Ssd
            $"{c.Name}: SSD Optimized"

        for level in
            [
                Kernels.SimdLevel.None
                Kernels.SimdLevel.Vector128
                Kernels.SimdLevel.Vector256
            ] do
            Expect.equal
                (Codec.BlockSadS8.Optimized(
                    ReadOnlySpan c.A,
                    aStart,
                    ReadOnlySpan c.B,
                    bStart,
                    stride,
                    rowLength,
                    rows,
                    level
                ))
                c.Sad
                $"{c.Name}: SAD Optimized {level}"

/// Random groups through the harness: the C stream equals Codec.encode's, and invalid options fail in both.
let private ``C encoder equals the F# encoder on random groups`` () =
    let exe = requireBinary ()

    Prop.forAll (Arb.fromGen (Gen.arrayOfLength 25 group)) (fun groups ->
        let results = harness exe groups

        for g, (status, stream) in Array.zip groups results do
            match Codec.encode g.Options g.ZeroPoint g.Shape g.Frames with
            | Ok e ->
                Expect.equal status 0 $"C status for %A{g.Options} {g.Shape}"

                if stream <> e.Stream then
                    failtest
                        $"%A{g.Options} z={g.ZeroPoint} {g.Shape}: C {Convert.ToHexString stream}\nF# {Convert.ToHexString e.Stream}"
            | Error why -> Expect.notEqual status 0 $"F# refused ({why}); C accepted"

        let predictions =
            groups |> Array.map (fun g -> g.Options.Prediction) |> Array.distinct

        true |> Prop.collect $"{predictions.Length} predictions in the batch")

let private ``tern_codec.c builds for Cortex-M4 with arm-none-eabi-gcc -Os -Werror`` () =
    let gcc =
        ToolRequirement.find "arm-none-eabi-gcc" "gcc-arm-none-eabi libnewlib-arm-none-eabi"

    let obj = Path.Combine(dir.Value, "tern_codec.o")

    let code, out =
        run
            gcc
            [
                "-mcpu=cortex-m4"
                "-mthumb"
                "-std=c99"
                "-Os"
                "-ffreestanding"
                "-Wall"
                "-Wextra"
                "-Werror"
                "-c"
                "-I" + hil [ "include" ]
                hil [ "codec"; "tern_codec.c" ]
                "-o"
                obj
            ]
            (TimeSpan.FromSeconds 60.0)

    Expect.equal code 0 out

[<Tests>]
let tests =
    testList "CCodecTests" [
        testCase
            "tern_codec_vectors.h is up to date with the F# encoder"
            ``tern_codec_vectors.h is up to date with the F# encoder``
        testCase
            "the shared vectors cover every prediction, coder, quantizer, search, cost and the residual"
            ``the shared vectors cover every prediction, coder, quantizer, search, cost and the residual``
        testCase
            "C encoder under ASan and UBSan: every shared stream byte for byte, Huffman lengths equal"
            ``C encoder under ASan and UBSan: every shared stream byte for byte, Huffman lengths equal``
        testCase
            "on qemu mps2-an386 (USADA8 body): every shared block cost and stream byte for byte"
            ``on qemu mps2-an386 (USADA8 body): every shared block cost and stream byte for byte``
        testCase
            "C# block costs give the shared vectors' costs in both bodies"
            ``C# block costs give the shared vectors' costs in both bodies``
        testPropertyWithConfig
            (Properties.tests 12)
            "C encoder equals the F# encoder on random groups"
            ``C encoder equals the F# encoder on random groups``
        testCase
            "tern_codec.c builds for Cortex-M4 with arm-none-eabi-gcc -Os -Werror"
            ``tern_codec.c builds for Cortex-M4 with arm-none-eabi-gcc -Os -Werror``
    ]
