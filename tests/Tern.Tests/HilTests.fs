/// Hardware-in-the-loop tests on the emulated boards: smoke runs on both QEMU boards, the nucleo firmware
/// build, and the faults the rig must survive. Ignored (naming the packages) without the ARM toolchain.
module Tern.Tests.HilTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Tern.Core
open Tern.Studies
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Runtime.Protocol
open Tern.Runtime.Transports
open Tern.Rig
open Tern.Tests.EmulatedBoard

let private lowered (options: LowerOptions) (seed: int) =
    let m = Architectures.defaultModel seed

    match Lower.lower options (Lower.randomCalibration seed 16 m.Input) m with
    | Ok im -> im
    | Error e -> failwith e

/// n float inputs; the rig quantizes them.
let private inputs (model: IntModel) (seed: int) (n: int) =
    Lower.randomCalibration seed n model.Input
    |> List.map (fun t -> t.Data)
    |> List.toArray

/// The int8 codes of `inputs`, for tests that talk to the device directly.
let private codes (model: IntModel) (seed: int) (n: int) =
    Lower.quantizeSamples model (inputs model seed n)

/// The tests' state, made on first use: a firmware cache (a scratch folder, removed after the run) and the default
/// model lowered to ternary.
let private fixture =
    lazy (Scratch.folder "tern-hil-tests", lowered LowerOptions.Ternary 1)

let private options boardName kernels model n =
    hilOptions (fst fixture.Value) (board boardName) kernels "ternary" model (inputs model 5 n)

/// A firmware of the given model started in QEMU, with a protocol client on its UART.
let private session (model: IntModel) (f: DeviceClient -> QemuInstance -> unit) =
    let fw = Firmware.build (fst fixture.Value) (board "qemu-mps2-an386") Dsp model
    use qemu = Qemu.start "mps2-an386" 0 fw.Elf
    use client = new DeviceClient(Transport.Open($"unix:{qemu.SocketPath}"))
    client.ReplyTimeout <- TimeSpan.FromSeconds 10.0
    client.Hello(TimeSpan.FromMilliseconds 250.0, 40) |> ignore
    f client qemu

/// The exception `f` throws, which must be a 'T exactly (as NUnit's Assert.Throws).
let private throws<'T when 'T :> exn> (f: unit -> unit) : 'T =
    let e = Expect.throwsC f id
    Expect.equal (e.GetType()) typeof<'T> $"throws {typeof<'T>.Name}"
    e :?> 'T

let private ``every importable ONNX fixture, lowered to int8 and to ternary, is bit-exact on the board`` () =
    requireToolchain ()
    // PyTorch exports (tests/fixtures/onnx): asymmetric and pool padding, 1xK kernels, residual adds, a BatchNorm
    // before the dense layer.
    let names = [
        "inverted_residual"
        "imu_1d"
        "asymmetric_pad"
        "batchnorm_kept"
        "matmul_add"
        "resnet_basic"
        "opset10_dropout"
    ]

    for name in names do
        let m =
            match OnnxImport.import $"{name}.onnx" (OnnxImportTests.fixture $"{name}.onnx") None with
            | Ok imported -> imported.Model
            | Error e -> failwith $"{name}: {e}"

        for options', weights in [ LowerOptions.Int8, "int8"; LowerOptions.Ternary, "ternary" ] do
            let im =
                match Lower.lower options' (Lower.randomCalibration 7 16 m.Input) m with
                | Ok im -> im
                | Error e -> failwith $"{name} ({weights}): {e}"

            let r =
                Hil.run {
                    options "qemu-mps2-an386" Dsp im 4 with
                        Weights = weights
                }

            Expect.equal r.Mismatches 0 $"{name} ({weights})"
            Expect.equal r.Samples 4 $"{name} ({weights})"

let private ``a filter-pruned ternary model is bit-exact on the board`` () =
    requireToolchain ()
    // Seed 001's plain stack on a small map, 70 % of every layer's filters removed by the low-frequency
    // criterion, BN re-estimated, lowered to ternary.
    let m = Architectures.plainFor (Shape3(16, 16, 1)) [ "a"; "b"; "c" ] 3
    let calibration = Lower.randomCalibration 3 16 m.Input

    let pruned =
        match
            Pipeline.prune
                {
                    Criterion = PruneCriteria.LowFrequency
                    Ratio = 0.7
                }
                calibration
                m
        with
        | Ok p -> p
        | Error e -> failwith e

    Expect.isLessThan
        (Model.totalParams pruned)
        (Model.totalParams m / 5)
        "the pruned model has under a fifth of the parameters"

    let im =
        match Lower.lower LowerOptions.Ternary calibration pruned with
        | Ok im -> im
        | Error e -> failwith e

    let r = Hil.run (options "qemu-mps2-an386" Dsp im 8)
    Expect.equal r.Mismatches 0 "no mismatch"
    Expect.equal r.Samples 8 "every sample run"

let private ``a searched residual model (blocks dropped, weights pruned, channels repacked) is bit-exact on the board``
    ()
    =
    requireToolchain ()
    let m = Architectures.blocksFor (Shape3(32, 32, 1)) [ "a"; "b"; "c" ] 4
    let calibration = Lower.randomCalibration 4 16 m.Input
    let kept = StudySearch.retainBlocks 2 m
    let sparse = StudySearch.applyMasks (PruneCriteria.unstructuredMasks 0.6 kept) kept

    let repacked, _ =
        Surgery.repack 0.05 calibration (Surgery.reestimateBatchNorm calibration sparse)

    Expect.equal ((Model.residualBlocks repacked).Length) 2 "two blocks kept"

    for options' in [ LowerOptions.Ternary; LowerOptions.Int8 ] do
        let im =
            match Lower.lower options' calibration repacked with
            | Ok im -> im
            | Error e -> failwith e

        let r =
            Hil.run {
                options "qemu-mps2-an386" Dsp im 6 with
                    Weights =
                        (if options' = LowerOptions.Ternary then
                             "ternary"
                         else
                             "int8")
            }

        Expect.equal r.Mismatches 0 "no mismatch, ternary or int8"

let private ``asymmetric convolution padding and zero-padded max and average pools are bit-exact on the board`` () =
    requireToolchain ()
    let rng = Random 12

    let pad t b l r = {
        Top = t
        Bottom = b
        Left = l
        Right = r
    }

    let withBias (c: ConvSpec) = {
        c with
            Bias = Array.init c.OutChannels (fun _ -> float32 (rng.NextDouble() - 0.3) * 0.2f)
    }

    let conv inC outC k stride p =
        Conv2d(
            withBias {
                Architectures.conv rng inC outC k stride 0 with
                    Pad = p
            }
        )

    let pool k stride p = {
        KernelH = k
        KernelW = k
        StrideH = stride
        StrideW = stride
        Pad = p
    }

    // 16x16x1: an even kernel padded 'same' (bottom and right only), a max pool over the padding after a ReLU,
    // a depthwise and a strided conv padded unevenly, average pools counting their padding (3x3 around, then
    // 2x2 over the bottom and right edges).
    let m = {
        Name = "padded"
        Input = Shape3(16, 16, 1)
        Classes = [ "a"; "b"; "c" ]
        Meta = Map.empty
        Layers = [
            conv 1 4 2 1 (pad 0 1 0 1) // 16x16x4
            BatchNorm(Architectures.batchNorm 4)
            ReLU
            MaxPool(pool 3 2 (pad 1 1 1 1)) // 8x8x4
            DepthwiseConv2d(
                withBias {
                    Architectures.depthwise rng 4 3 1 0 with
                        Pad = pad 1 0 0 1
                }
            ) // 7x7x4
            ReLU
            conv 4 8 3 2 (pad 0 2 1 1) // 4x4x8
            BatchNorm(Architectures.batchNorm 8)
            ReLU
            AvgPool(pool 3 1 (pad 1 1 1 1)) // 4x4x8
            AvgPool(pool 2 2 (pad 0 1 0 1)) // 2x2x8
            Flatten
            Dense(Architectures.dense rng 32 3)
        ]
    }

    let calibration = Lower.randomCalibration 12 16 m.Input

    for lowering, weights in [ LowerOptions.Int8, "int8"; LowerOptions.Ternary, "ternary" ] do
        let im =
            match Lower.lower lowering calibration m with
            | Ok im -> im
            | Error e -> failwith e

        Expect.equal (ModelFile.intVersion im) 3us "the model needs format version 3"

        for kernels in [ Dsp; Reference ] do
            let r =
                Hil.run {
                    options "qemu-mps2-an386" kernels im 8 with
                        Weights = weights
                }

            Expect.equal r.Mismatches 0 $"{weights}, {kernels.Name} kernels"
            Expect.equal r.Samples 8 $"{weights}, {kernels.Name} kernels: every sample run"

let private ``mps2-an386 with DSP kernels is bit-exact and reports its cost`` () =
    requireToolchain ()
    let _, ternary = fixture.Force()
    let r = Hil.run (options "qemu-mps2-an386" Dsp ternary 12)
    Expect.equal r.Mismatches 0 "no mismatch"
    Expect.equal r.Samples 12 "every sample run"
    Expect.equal r.WorkUnit "instructions" "work in instructions"
    Expect.isGreaterThan r.Work.Min 100_000L "an inference takes over 100 k instructions"
    Expect.isLessThanOrEqual r.Work.Min r.Work.Median "min <= median"
    Expect.isLessThanOrEqual r.Work.Median r.Work.Max "median <= max"
    Expect.isGreaterThan r.FlashBytes 0L "flash used"
    Expect.isGreaterThan r.RamBytes (int64 r.ArenaBytes) "RAM beyond the arena"
    // Wall time on a loaded machine says nothing about the link: the rate must only be measured (positive, finite).
    Expect.isTrue
        (r.LinkBytesPerSecond > 0.0 && Double.IsFinite r.LinkBytesPerSecond)
        $"the link rate is measured: {r.LinkBytesPerSecond}"

let private ``netduinoplus2 (STM32 registers) is bit-exact too`` () =
    requireToolchain ()
    let _, ternary = fixture.Force()
    let r = Hil.run (options "qemu-netduinoplus2" Dsp ternary 8)
    Expect.equal r.Mismatches 0 "no mismatch"
    Expect.equal r.Board "qemu-netduinoplus2" "the report names the board"

let private ``reference kernels and an int8 model are bit-exact, and DSP needs fewer instructions`` () =
    requireToolchain ()
    let int8 = lowered LowerOptions.Int8 1

    let reference =
        Hil.run {
            options "qemu-mps2-an386" Reference int8 6 with
                Weights = "int8"
        }

    let dsp =
        Hil.run {
            options "qemu-mps2-an386" Dsp int8 6 with
                Weights = "int8"
        }

    Expect.equal (reference.Mismatches + dsp.Mismatches) 0 "no mismatch with either kernels"
    printfn $"int8 instructions: reference {reference.Work.Median}, dsp {dsp.Work.Median}"

    Expect.isGreaterThan
        (float reference.Work.Median / float dsp.Work.Median)
        1.5
        "DSP needs 1.5x fewer instructions than reference"

let private ``the nucleo-f446re firmware builds and fits the chip`` () =
    requireToolchain ()
    let cache, ternary = fixture.Force()
    let b = board "nucleo-f446re"
    let fw = Firmware.build cache b Dsp ternary
    Expect.isLessThan fw.FlashBytes b.FlashBytes "firmware flash within the chip's"
    Expect.isLessThan fw.RamBytes b.RamBytes "firmware RAM within the chip's"

let private ``a second build of the same firmware comes from the cache`` () =
    requireToolchain ()
    let cache, ternary = fixture.Force()
    let b = board "qemu-mps2-an386"
    let first = Firmware.build cache b Reference ternary
    let second = Firmware.build cache b Reference ternary
    Expect.isTrue second.Cached "the second build is cached"
    Expect.equal second.Hash first.Hash "the same firmware hash"

let private ``every layer the device reports equals the host's`` () =
    requireToolchain ()
    let _, ternary = fixture.Force()

    session ternary (fun client _ ->
        let x = (codes ternary 9 1)[0]
        let r = client.Infer x
        let expected = Runner(ternary, KernelMode.Scalar).RunLayers x

        for i in 0 .. ternary.Layers.Length - 1 do
            Expect.equal (client.Layer i) (expected[i]) $"layer {i}"

        Expect.equal r.Output (expected[expected.Length - 1]) "the output equals the host's last layer")

let private ``QEMU killed mid-run is a clear error naming the sample, within 5 s`` () =
    requireToolchain ()
    let cache, ternary = fixture.Force()
    // Build first so that the clock below measures only the failure.
    Firmware.build cache (board "qemu-mps2-an386") Dsp ternary |> ignore
    let sw = Stopwatch()

    let kill n =
        if n = 3 then
            sw.Start()

            Proc.run "pkill" [ "-KILL"; "-f"; $"tern-qemu-{Environment.ProcessId}-" ] None (TimeSpan.FromSeconds 5.0)
            |> ignore

    let ex =
        throws<HilFailure>(fun () ->
            Hil.run {
                options "qemu-mps2-an386" Dsp ternary 10 with
                    Progress = kill
            }
            |> ignore)

    Expect.isLessThan sw.Elapsed (TimeSpan.FromSeconds 5.0) "QEMU killed: the failure within 5 s"
    Expect.stringContains ex.Data0 "sample 3" "the error names the sample"

let private ``a firmware with another model is refused`` () =
    requireToolchain ()
    let cache, ternary = fixture.Force()
    let other = lowered LowerOptions.Ternary 2
    let fw = Firmware.build cache (board "qemu-mps2-an386") Dsp other

    let ex =
        throws<HilFailure>(fun () ->
            Hil.run {
                options "qemu-mps2-an386" Dsp ternary 2 with
                    Firmware = Some fw.Elf
            }
            |> ignore)

    Expect.stringContains ex.Data0 "refused" "the error says the firmware is refused"
    Expect.stringContains ex.Data0 fw.ModelHash "the error names the firmware's model"

let private ``a board that never answers times out saying what was tried`` () =
    requireToolchain ()
    let cache, ternary = fixture.Force()
    let b = board "qemu-mps2-an386"
    let dir = Path.Combine(cache, "silent")
    Directory.CreateDirectory dir |> ignore
    let src = Path.Combine(dir, "silent.c")
    File.WriteAllText(src, "#include \"tern_board.h\"\nint main(void) { board_init(); for (;;) { } }\n")
    let elf = Path.Combine(dir, "silent.elf")
    let hil = Boards.hilRoot ()

    let args =
        b.CFlags
        @ [
            "-O2"
            "-nostartfiles"
            "--specs=nosys.specs"
            "-I"
            Path.Combine(hil, "include")
            "-I"
            Path.Combine(hil, "boards", "common")
            "-T"
            b.LinkerScript
            "-o"
            elf
            src
        ]
        @ b.Sources

    let built = Proc.run "arm-none-eabi-gcc" args None (TimeSpan.FromMinutes 1.0)
    Expect.equal built.ExitCode 0 built.Stderr

    let ex =
        throws<HilFailure>(fun () ->
            Hil.run {
                options "qemu-mps2-an386" Dsp ternary 1 with
                    Firmware = Some elf
                    HelloTimeout = TimeSpan.FromSeconds 2.0
            }
            |> ignore)

    Expect.stringContains ex.Data0 "HELLO" "the error names what was tried"
    Expect.stringContains ex.Data0 "qemu-mps2-an386" "the error names the board"

let private ``an input of the wrong size is rejected on the host, and by the device if sent anyway`` () =
    requireToolchain ()
    let _, ternary = fixture.Force()

    let ex =
        throws<HilFailure>(fun () ->
            Hil.run {
                options "qemu-mps2-an386" Dsp ternary 1 with
                    Inputs = [| Array.zeroCreate<float32> 100 |]
            }
            |> ignore)

    Expect.stringContains ex.Data0 "100 values" "the error names the input's size"

    session ternary (fun client _ ->
        let e =
            throws<DeviceErrorException>(fun () -> client.Infer(Array.zeroCreate 100) |> ignore)

        Expect.equal e.Code ErrorCode.BadInputSize "the device's error code"
        Expect.equal e.Detail (uint ternary.Input.Size) "the device's expected size"
        // The device is still in service afterwards.
        Expect.equal
            (client.Infer((codes ternary 3 1)[0]).Output.Length)
            ternary.Output.Size
            "the device still infers afterwards")

let private ``garbage and a partial frame on the line: the device resynchronises`` () =
    requireToolchain ()
    let cache, ternary = fixture.Force()
    let b = board "qemu-mps2-an386"
    let fw = Firmware.build cache b Dsp ternary
    use qemu = Qemu.start "mps2-an386" 0 fw.Elf
    let transport = Transport.Open($"unix:{qemu.SocketPath}")
    let rng = Random(7)
    let garbage = Array.init 3000 (fun _ -> byte (rng.Next(1, 256)))
    transport.Write(ReadOnlySpan garbage)
    // Half of a valid INFER frame, then silence: the device must drop it at the next delimiter.
    let frame = Frame.Encode(InferMessage(Array.zeroCreate ternary.Input.Size), 9us)
    transport.Write(ReadOnlySpan(frame, 0, frame.Length / 2))
    use client = new DeviceClient(transport)
    client.ReplyTimeout <- TimeSpan.FromSeconds 10.0
    let info = client.Hello(TimeSpan.FromMilliseconds 250.0, 40)
    Expect.equal info.BoardName "qemu-mps2-an386" "the device resynchronised and answers HELLO"
    let x = (codes ternary 4 1)[0]
    Expect.equal (client.Infer(x).Output) (Runner(ternary, KernelMode.Scalar).Run x) "its output equals the host's"

let private ``QEMU dies with the host process, however the host dies`` () =
    requireToolchain ()
    let cache, _ = fixture.Force()
    // The firmware `tern hil --model default` will ask for, so that QEMU starts without a compile first.
    Firmware.build cache (board "qemu-mps2-an386") Dsp (Tern.Cli.DefaultModel.load ())
    |> ignore

    let tern = Path.Combine(AppContext.BaseDirectory, "tern.dll")
    let psi = ProcessStartInfo("dotnet")

    for a in [ tern; "hil"; "--model"; "default"; "--samples"; "300"; "--cache"; cache ] do
        psi.ArgumentList.Add a

    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use host = Process.Start psi

    let qemuRunning () =
        let r =
            Proc.run "pgrep" [ "-f"; $"qemu-system-arm.*tern-qemu-{host.Id}-" ] None (TimeSpan.FromSeconds 5.0)

        r.ExitCode = 0

    let sw = Stopwatch.StartNew()

    while not (qemuRunning ()) && sw.Elapsed < TimeSpan.FromSeconds 60.0 do
        Threading.Thread.Sleep 100

    Expect.isTrue (qemuRunning ()) "QEMU never started"
    host.Kill() // SIGKILL: no handler of the host runs
    host.WaitForExit()
    sw.Restart()

    while qemuRunning () && sw.Elapsed < TimeSpan.FromSeconds 5.0 do
        Threading.Thread.Sleep 100

    Expect.isFalse (qemuRunning ()) "QEMU outlived its host by 5 s"

let private ``split 2 on mps2-an386: the device's encoder equals the host's on every frame (bi, an intra tail)`` () =
    requireToolchain ()
    let _, ternary = fixture.Force()

    let codec = {
        Codec.defaults 4 Bi Huffman with
            Quant = MinMaxAffine
    }
    // 7 frames: two bi groups of 3, then a tail of 1 coded intra at the end of the stream.
    let r, s =
        Hil.runSplit (options "qemu-mps2-an386" Dsp ternary 7) { Split = 2; Codec = codec }

    printfn "%s" (Report.renderSplit r s)
    Expect.equal r.Mismatches 0 "the whole run: no mismatch"
    Expect.equal s.Mismatches 0 "the split streams: no mismatch"
    Expect.equal s.Groups 3 "7 frames in 3 groups"
    Expect.equal s.Feature (ternary.Layers[1].Output) "the feature map after layer 1"
    Expect.isGreaterThan s.WireBytesPerFrame 26.0 "more than the header and CRC per frame"
    Expect.isLessThan s.WireBytesPerFrame (float s.Int8BytesPerFrame) "fewer bytes than int8 features"
    Expect.isGreaterThan s.EncoderWork.Median 0L "encoder work measured"
    Expect.isGreaterThan r.Work.Median 0L "inference work measured"
    Expect.isGreaterThanOrEqual s.Top1Agreement 0.0 "top-1 agreement at least 0"
    Expect.isLessThanOrEqual s.Top1Agreement 1.0 "top-1 agreement at most 1"
    let json = (Report.splitJson r s).AsObject()

    for key in
        [
            "split"
            "mismatches"
            "wire_bytes_per_frame"
            "top1_agreement"
            "max_output_difference"
            "encoder_instructions_per_frame"
            "codec"
        ] do
        Expect.isTrue (json.ContainsKey key) key

let private ``split protocol: errors before and after SPLIT, and a stream longer than one frame comes in pieces`` () =
    requireToolchain ()
    let cache, ternary = fixture.Force()

    let fw =
        Firmware.buildWith cache (board "qemu-mps2-an386") Dsp ternary ternary.Layers[0].Output.Size

    use qemu = Qemu.start "mps2-an386" 0 fw.Elf
    use client = new DeviceClient(Transport.Open($"unix:{qemu.SocketPath}"))
    client.ReplyTimeout <- TimeSpan.FromSeconds 10.0
    client.Hello(TimeSpan.FromMilliseconds 250.0, 40) |> ignore
    let x = codes ternary 9 3

    let code (f: unit -> unit) = (throws<DeviceErrorException> f).Code

    Expect.equal (code (fun () -> client.InferSplit x[0] |> ignore)) ErrorCode.NoSplit "INFER_SPLIT before SPLIT"
    let feature = ternary.Layers[0].Output
    let z = snd (Lower.outputGrid ternary 0)
    let intra8 = Codec.defaults 8 Intra Fixed
    let bytes = CodecOptionBytes.ofOptions intra8

    Expect.equal
        (code (fun () -> client.Split(ternary.Layers.Length + 1, feature, z, bytes) |> ignore))
        ErrorCode.BadSplit
        "a split past the last layer"

    Expect.equal
        (code (fun () -> client.Split(1, Shape3(1, 1, 1), z, bytes) |> ignore))
        ErrorCode.BadSplit
        "a feature shape that is not the layer's"

    let bad = Array.copy bytes
    bad[0] <- 9uy // 9 bits
    Expect.equal (code (fun () -> client.Split(1, feature, z, bad) |> ignore)) ErrorCode.BadSplit "9 bits"
    let ready = client.Split(1, feature, z, bytes)
    Expect.equal (int ready.FeatureBytes) feature.Size "the feature bytes"
    Expect.equal ready.GroupSize 1uy "intra: groups of 1"
    // 8-bit fixed intra of 8192 codes: 8218 bytes, more than one FEATURES frame holds.
    let runner = new Runner(ternary, KernelMode.Scalar)

    for input in x do
        let f = client.InferSplit input
        Expect.equal f.Frames 1uy "one group per frame"

        Expect.isGreaterThan
            (int f.Total)
            (Wire.MaxBody - FeaturesMessage.PrefixBytes)
            "the stream is longer than one frame holds"

        let expected =
            match Codec.encode intra8 z feature [| runner.RunPrefix(input, 1) |] with
            | Ok e -> e.Stream
            | Error e -> failwith e

        Expect.isTrue (f.Piece = expected) "the device stream differs from Codec.encode"

    // nothing held: the end of the stream codes nothing
    let tail = client.InferSplit [||]
    Expect.equal (tail.Frames, tail.Total) (0uy, 0u) "the end of the stream codes nothing"

    Expect.equal
        (code (fun () -> client.Request(StreamMessage(0u, 1us), MessageType.StreamData) |> ignore))
        ErrorCode.BadRange
        "a stream range out of range"

[<Tests>]
let tests =
    testSequenced
    <| testList "HilTests" [
        testCase
            "every importable ONNX fixture, lowered to int8 and to ternary, is bit-exact on the board"
            ``every importable ONNX fixture, lowered to int8 and to ternary, is bit-exact on the board``
        testCase
            "a filter-pruned ternary model is bit-exact on the board"
            ``a filter-pruned ternary model is bit-exact on the board``
        testCase
            "a searched residual model (blocks dropped, weights pruned, channels repacked) is bit-exact on the board"
            ``a searched residual model (blocks dropped, weights pruned, channels repacked) is bit-exact on the board``
        testCase
            "asymmetric convolution padding and zero-padded max and average pools are bit-exact on the board"
            ``asymmetric convolution padding and zero-padded max and average pools are bit-exact on the board``
        testCase
            "mps2-an386 with DSP kernels is bit-exact and reports its cost"
            ``mps2-an386 with DSP kernels is bit-exact and reports its cost``
        testCase "netduinoplus2 (STM32 registers) is bit-exact too" ``netduinoplus2 (STM32 registers) is bit-exact too``
        testCase
            "reference kernels and an int8 model are bit-exact, and DSP needs fewer instructions"
            ``reference kernels and an int8 model are bit-exact, and DSP needs fewer instructions``
        testCase
            "the nucleo-f446re firmware builds and fits the chip"
            ``the nucleo-f446re firmware builds and fits the chip``
        testCase
            "a second build of the same firmware comes from the cache"
            ``a second build of the same firmware comes from the cache``
        testCase "every layer the device reports equals the host's" ``every layer the device reports equals the host's``
        testCase
            "QEMU killed mid-run is a clear error naming the sample, within 5 s"
            ``QEMU killed mid-run is a clear error naming the sample, within 5 s``
        testCase "a firmware with another model is refused" ``a firmware with another model is refused``
        testCase
            "a board that never answers times out saying what was tried"
            ``a board that never answers times out saying what was tried``
        testCase
            "an input of the wrong size is rejected on the host, and by the device if sent anyway"
            ``an input of the wrong size is rejected on the host, and by the device if sent anyway``
        testCase
            "garbage and a partial frame on the line: the device resynchronises"
            ``garbage and a partial frame on the line: the device resynchronises``
        testCase
            "QEMU dies with the host process, however the host dies"
            ``QEMU dies with the host process, however the host dies``
        testCase
            "split 2 on mps2-an386: the device's encoder equals the host's on every frame (bi, an intra tail)"
            ``split 2 on mps2-an386: the device's encoder equals the host's on every frame (bi, an intra tail)``
        testCase
            "split protocol: errors before and after SPLIT, and a stream longer than one frame comes in pieces"
            ``split protocol: errors before and after SPLIT, and a stream longer than one frame comes in pieces``
    ]
