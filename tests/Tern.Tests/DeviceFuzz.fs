/// libFuzzer on the device's protocol code (hil/fuzz, see the README there): each target built with clang under
/// ASan and UBSan, seeded with frames the host's C# protocol writes, and run for a number of seconds. FuzzTests runs
/// it briefly in the test suite; `dotnet fsi build.fsx fuzz` runs it for a chosen time through the same tests.
/// Builds, corpora, logs and any crashing input stay in artifacts/fuzz/, so a finding can be replayed by hand.
module Tern.Tests.DeviceFuzz

open System
open System.IO
open System.Runtime.InteropServices
open System.Text.RegularExpressions
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Protocol
open Tern.Rig

/// The two targets: the frame decoder (frame_fuzz.c) and the firmware's message handler (handler_fuzz.c).
type Target =
    | Frame
    | Handler

    member t.Name =
        match t with
        | Frame -> "frame"
        | Handler -> "handler"

/// What one run did.
type Outcome = {
    Target: Target
    /// Seconds libFuzzer ran (at most the time asked for; less when it found something).
    Seconds: float
    Executions: int64
    PerSecond: int64
    /// Coverage edges (libFuzzer's "cov") and corpus size at the end.
    Edges: int
    Corpus: int
    /// The inputs libFuzzer left for a crash, leak, timeout or out-of-memory, with its exit code; empty when clean.
    Findings: string list
    ExitCode: int
    Log: string
}

/// The repository root: the first folder above the test program that holds build.fsx and hil/fuzz.
let root () : string = Fixtures.above "build.fsx"

/// artifacts/fuzz of the repository.
let artifacts () : string =
    Path.Combine(root (), "artifacts", "fuzz")

/// Seconds per target: $TERN_FUZZ_SECONDS when set, else `fallback`.
let seconds (fallback: int) : int =
    match Environment.GetEnvironmentVariable "TERN_FUZZ_SECONDS" with
    | null
    | "" -> fallback
    | s ->
        match Int32.TryParse s with
        | true, v when v > 0 -> v
        | _ -> failwith $"TERN_FUZZ_SECONDS must be a positive whole number of seconds, got '{s}'"

/// clang, once it and its libFuzzer runtime are there (else skipped, or failed under CI, naming the packages).
let clang () : string =
    let clang = ToolRequirement.find "clang" "clang"

    let arch =
        if RuntimeInformation.OSArchitecture = Architecture.Arm64 then
            "aarch64"
        else
            "x86_64"

    let ask (args: string list) =
        (Proc.run clang args None (TimeSpan.FromSeconds 30.0)).Stdout.Trim()

    // Debian packages the runtime per LLVM version: clang 14 (Debian 12) -> libclang-rt-14-dev.
    let major = Regex.Match(ask [ "--version" ], @"clang version (\d+)").Groups[1].Value

    ToolRequirement.require [
        ask [ $"-print-file-name=libclang_rt.fuzzer-{arch}.a" ], $"libclang-rt-{major}-dev"
    ]

    clang

/// The handler target's model: the default architecture on 8x8x1 inputs, 3 classes, ternary (about 2,800 MACs, so
/// INFER, LAYER and PROFILE keep the fuzzer fast; its first layer's 4x4x8 map takes the codec's 4x4 motion blocks).
let model () : IntModel =
    let m = Architectures.defaultFor (Shape3(8, 8, 1)) [ "a"; "b"; "c" ] 1

    match Lower.lower LowerOptions.Ternary (Lower.randomCalibration 1 8 m.Input) m with
    | Ok im -> im
    | Error e -> failwith e

/// frame_fuzz.c's first input byte: the firmware's buffer, a 16-byte one, and the flag that makes every CRC right.
let private fullBuffer = 8uy
let private smallBuffer = 2uy
let private repairCrcs = 0x80uy

/// One handler script item for a message: a valid frame (tag 0), type, u16 body length, body.
let private item (m: IMessage) : byte[] =
    let b = m.EncodeBody()
    Array.append [| 0uy; byte m.Type; byte b.Length; byte (b.Length >>> 8) |] b

/// Requests a host sends in a session with `m`: HELLO, INFER, LAYER of every layer (its size, pieces, ranges one
/// byte past the end) and of a layer too many, PROFILE (in range and not), then split mode at every layer for each
/// prediction and entropy coder.
let private sessions (m: IntModel) : (string * IMessage list) list =
    let rnd = Random 20261206

    let input () =
        Array.init m.Input.Size (fun _ -> sbyte (rnd.Next(-128, 128)))

    let n = m.Layers.Length

    let plain = [
        "hello", [ HelloMessage() :> IMessage ]
        "infer",
        [
            HelloMessage() :> IMessage
            InferMessage(input ())
            for i in 0 .. n - 1 do
                let size = m.Layers[i].Output.Size
                LayerMessage(uint16 i, 0u, 0us)
                LayerMessage(uint16 i, 0u, uint16 size)
                // the second half, then one byte too many and an offset one past the end
                LayerMessage(uint16 i, uint32 (size / 2), uint16 (size - size / 2))
                LayerMessage(uint16 i, uint32 (size / 2), uint16 (size - size / 2 + 1))
                LayerMessage(uint16 i, uint32 (size + 1), 0us)
            LayerMessage(uint16 n, 0u, 0us)
            for r in [ 0; 1; 4; 4096; 4097 ] do
                ProfileMessage(uint16 r)
        ]
    ]

    let split = [
        for k in 1..n do
            for prediction in [ Intra; Uni; Bi ] do
                for entropy in [ Fixed; Zvc; Huffman; Rle ] do
                    let options = CodecOptionBytes.ofOptions (Codec.defaults 4 prediction entropy)
                    let frames = Codec.groupSize prediction

                    $"split-{k}-{prediction}-{entropy}",
                    [
                        SplitMessage(uint16 k, m.Layers[k - 1].Output, -128y, options) :> IMessage
                        for _ in 1..frames do
                            InferSplitMessage(input ())
                        StreamMessage(0u, 16us)
                        InferSplitMessage(input ())
                        InferSplitMessage([||])
                        StreamMessage(0u, 0us)
                    ]
    ]

    plain @ split

/// Writes the seeds of a target into `dir`, one file each.
let private writeSeeds (target: Target) (m: IntModel) (dir: string) =
    if Directory.Exists dir then
        Directory.Delete(dir, true)

    Directory.CreateDirectory dir |> ignore
    let rnd = Random 7

    let bytes n =
        Array.init n (fun i -> if i % 7 = 0 then 0uy else byte (rnd.Next 256))

    let framed (messages: IMessage list) =
        messages |> List.mapi (fun s msg -> Frame.Encode(msg, uint16 s)) |> Array.concat

    let seeds =
        match target with
        | Frame ->
            // frames of many sizes as they are; sessions with every CRC made right, so that mutants keep theirs
            [
                for n in [ 0; 1; 2; 243; 244; 253; 254; 255; 508; 1000; Wire.MaxBody ] ->
                    $"infer-{n}",
                    Array.append [| fullBuffer |] (Frame.Encode(MessageType.Infer, uint16 n, ReadOnlySpan(bytes n)))
                // runs without a zero around the COBS block size: full 0xFF blocks
                for n in [ 253; 254; 255; 508; 1000 ] ->
                    $"run-{n}",
                    Array.append
                        [| fullBuffer |]
                        (Frame.Encode(MessageType.LayerData, 9us, ReadOnlySpan(Array.create n 0x5Auy)))
            ]
            @ [
                for name, messages in sessions m -> name, Array.append [| fullBuffer ||| repairCrcs |] (framed messages)
            ]
            |> List.append [
                // a frame larger than a 16-byte receiver, then one that fits
                "small-buffer",
                Array.concat [
                    [| smallBuffer |]
                    Frame.Encode(MessageType.Infer, 1us, ReadOnlySpan(bytes 40))
                    Frame.Encode(MessageType.Layer, 2us, ReadOnlySpan(bytes 6))
                ]
            ]
        | Handler ->
            [
                for name, messages in sessions m -> name, messages |> List.map item |> Array.concat
            ]
            @ [
                // an oversize frame, a packet of another version, garbage before a HELLO
                "oversize", Array.append [| 0uy; 2uy; 1uy; 0x20uy |] (bytes (Wire.MaxBody + 1))
                "version", [| 0x80uy; 2uy; 0uy; 1uy; 0uy; 0uy |]
                "garbage", Array.append [| 0x45uy; 1uy; 2uy; 0uy; 3uy; 0xFFuy; 9uy |] (item (HelloMessage()))
            ]

    for name, data in seeds do
        File.WriteAllBytes(Path.Combine(dir, name), data)

/// Compiles with clang; fails with the command and its output.
let private compile (clang: string) (args: string list) =
    let r = Proc.run clang args None (TimeSpan.FromMinutes 5.0)

    if r.ExitCode <> 0 then
        failwith $"clang failed:\n{Proc.show clang args}\n{r.Stdout}{r.Stderr}"

/// Builds a target into `dir`; returns the program.
let build (clang: string) (target: Target) (m: IntModel) (dir: string) : string =
    let hil = Path.Combine(root (), "hil")

    let src (parts: string list) =
        Path.Combine(hil :: parts |> Array.ofList)

    Directory.CreateDirectory dir |> ignore
    let exe = Path.Combine(dir, $"{target.Name}_fuzz")

    let common = [
        "-std=c99"
        "-g"
        "-O1"
        "-Wall"
        "-Wextra"
        "-Werror"
        "-fno-sanitize-recover=all"
        "-I"
        src [ "firmware" ]
    ]

    let fuzzer = "-fsanitize=fuzzer,address,undefined"

    match target with
    | Frame ->
        compile
            clang
            (common
             @ [
                 fuzzer
                 src [ "firmware"; "tern_proto.c" ]
                 src [ "fuzz"; "frame_fuzz.c" ]
                 "-o"
                 exe
             ])
    | Handler ->
        let emitted =
            Emit.model
                {
                    CommandLine = "DeviceFuzz.build"
                    Prefix = Emit.firmwarePrefix
                }
                m
                (ModelFile.hash (ModelFile.serializeInt m))

        File.WriteAllText(Path.Combine(dir, emitted.Prefix + ".h"), emitted.Header)
        File.WriteAllText(Path.Combine(dir, emitted.Prefix + ".c"), emitted.Source)
        // split mode with buffers for the largest layer output: every split point is served
        let feature = m.Layers |> Array.map (fun l -> l.Output.Size) |> Array.max

        let flags =
            common
            @ [
                "-I"
                dir
                "-I"
                src [ "include" ]
                "-DTERN_KERNELS_DSP=0"
                $"-DTERN_SPLIT_FEATURE_BYTES={feature}"
            ]

        // The model and kernels without coverage feedback (ten times faster; the fuzzer steers the protocol, not the
        // arithmetic), still under ASan and UBSan.
        let objects =
            (Directory.GetFiles(src [ "kernels" ], "*.c") |> Array.sort |> List.ofArray)
            @ [ Path.Combine(dir, emitted.Prefix + ".c") ]
            |> List.map (fun c ->
                let o = Path.Combine(dir, Path.GetFileNameWithoutExtension c + ".o")
                compile clang (flags @ [ "-fsanitize=address,undefined"; "-c"; c; "-o"; o ])
                o)

        compile
            clang
            (flags
             @ [
                 fuzzer
                 src [ "fuzz"; "handler_fuzz.c" ]
                 src [ "firmware"; "tern_proto.c" ]
                 src [ "codec"; "tern_codec.c" ]
             ]
             @ objects
             @ [ "-o"; exe ])

    exe

/// The last number a libFuzzer line of this form gave (0 if none).
let private lastNumber (pattern: string) (log: string) : int64 =
    match Regex.Matches(log, pattern) |> Seq.tryLast with
    | Some m -> Int64.Parse m.Groups[1].Value
    | None -> 0L

/// Builds a target and runs it for `seconds`, from the corpus in artifacts/fuzz/corpus/<target> (kept between runs)
/// and fresh seeds; a crashing input is left as artifacts/fuzz/<target>-crash-<sha1> (or leak-, timeout-, oom-).
let run (clang: string) (target: Target) (seconds: int) : Outcome =
    let out = artifacts ()
    let m = model ()
    let exe = build clang target m (Path.Combine(out, "build", target.Name))
    let seeds = Path.Combine(out, "seeds", target.Name)
    writeSeeds target m seeds
    let corpus = Path.Combine(out, "corpus", target.Name)
    Directory.CreateDirectory corpus |> ignore
    let prefix = $"{target.Name}-"

    let left () =
        Directory.GetFiles(out, prefix + "*") |> Set.ofArray

    let before = left ()

    let clock = Diagnostics.Stopwatch.StartNew()

    let r =
        Proc.run
            exe
            [
                $"-max_total_time={seconds}"
                "-print_final_stats=1"
                // frames up to MAX_BODY and past it (OVERSIZE)
                "-max_len=9000"
                // one input that takes this long is a hang: a finding
                "-timeout=25"
                $"-artifact_prefix={Path.Combine(out, prefix)}"
                corpus
                seeds
            ]
            None
            (TimeSpan.FromSeconds(float seconds + 300.0))

    let log = r.Stdout + r.Stderr
    File.WriteAllText(Path.Combine(out, target.Name + ".log"), log)

    let findings = Set.difference (left ()) before |> Set.toList

    {
        Target = target
        Seconds = clock.Elapsed.TotalSeconds
        Executions = lastNumber @"stat::number_of_executed_units:\s*(\d+)" log
        PerSecond = lastNumber @"stat::average_exec_per_sec:\s*(\d+)" log
        Edges = int (lastNumber @"cov: (\d+)" log)
        Corpus = int (lastNumber @"corp: (\d+)/" log)
        Findings = findings
        ExitCode = (if r.TimedOut then -1 else r.ExitCode)
        Log = log
    }

/// One line per run: what ran, how much, and the finding if any.
let summary (o: Outcome) : string =
    let head =
        $"{o.Target.Name}: {o.Executions:N0} executions in {o.Seconds:F0} s ({o.PerSecond:N0}/s), {o.Edges} edges, corpus {o.Corpus}"

    if o.ExitCode = 0 && o.Findings.IsEmpty then
        head + ", no finding"
    else
        let inputs =
            if o.Findings.IsEmpty then
                "no input left"
            else
                String.Join(", ", o.Findings)

        let exe =
            Path.Combine(artifacts (), "build", o.Target.Name, o.Target.Name + "_fuzz")

        $"{head}, FINDING (exit code {o.ExitCode}): {inputs}; replay with {exe} INPUT"
