/// Hardware-in-the-loop tests on the emulated boards: smoke runs on both QEMU boards, the nucleo firmware
/// build, and the faults the rig must survive. Ignored (naming the packages) without the ARM toolchain.
module Tern.Tests.HilTests

open System
open System.Diagnostics
open System.IO
open NUnit.Framework
open Tern.Core
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

let private inputs (model: IntModel) (seed: int) (n: int) =
    Lower.randomCalibration seed n model.Input
    |> List.map (Lower.quantizeInput model)
    |> List.toArray

[<NonParallelizable>]
type HilTests() =
    let cache =
        Path.Combine(Path.GetTempPath(), "tern-hil-tests-" + string Environment.ProcessId)

    let ternary = lowered LowerOptions.Ternary 1

    let options boardName kernels model n =
        hilOptions cache (board boardName) kernels "ternary" model (inputs model 5 n)

    /// A firmware of the given model started in QEMU, with a protocol client on its UART.
    let session (model: IntModel) (f: DeviceClient -> QemuInstance -> unit) =
        let fw = Firmware.build cache (board "qemu-mps2-an386") Dsp model
        use qemu = Qemu.start "mps2-an386" 0 fw.Elf
        use client = new DeviceClient(Transport.Open($"unix:{qemu.SocketPath}"))
        client.ReplyTimeout <- TimeSpan.FromSeconds 10.0
        client.Hello(TimeSpan.FromMilliseconds 250.0, 40) |> ignore
        f client qemu

    [<OneTimeSetUp>]
    member _.Setup() =
        Directory.CreateDirectory cache |> ignore

    [<OneTimeTearDown>]
    member _.TearDown() = EmulatedBoard.removeCache cache

    [<Test>]
    member _.``every importable ONNX fixture, lowered to int8 and to ternary, is bit-exact on the board``() =
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

                Assert.That(r.Mismatches, Is.EqualTo 0, $"{name} ({weights})")
                Assert.That(r.Samples, Is.EqualTo 4, $"{name} ({weights})")

    [<Test>]
    member _.``a filter-pruned ternary model is bit-exact on the board``() =
        requireToolchain ()
        // Seed 001's plain stack on a small map, 70 % of every layer's filters removed by the low-frequency
        // criterion, BN re-estimated, lowered to ternary.
        let m = Architectures.plainFor (Shape3(16, 16, 1)) [ "a"; "b"; "c" ] 3
        let calibration = Lower.randomCalibration 3 16 m.Input

        let pruned =
            match StudyPrune.prune PruneCriteria.LowFrequency 0.7 calibration m with
            | Ok p -> p
            | Error e -> failwith e

        Assert.That(Model.totalParams pruned, Is.LessThan(Model.totalParams m / 5))

        let im =
            match Lower.lower LowerOptions.Ternary calibration pruned with
            | Ok im -> im
            | Error e -> failwith e

        let r = Hil.run (options "qemu-mps2-an386" Dsp im 8)
        Assert.That(r.Mismatches, Is.EqualTo 0)
        Assert.That(r.Samples, Is.EqualTo 8)

    [<Test>]
    member _.``a searched residual model (blocks dropped, weights pruned, channels repacked) is bit-exact on the board``
        ()
        =
        requireToolchain ()
        let m = Architectures.blocksFor (Shape3(32, 32, 1)) [ "a"; "b"; "c" ] 4
        let calibration = Lower.randomCalibration 4 16 m.Input
        let kept = StudySearch.retainBlocks 2 m
        let sparse = StudySearch.applyMasks (PruneCriteria.unstructuredMasks 0.6 kept) kept

        let repacked, _ =
            Surgery.repack 0.05 calibration (Surgery.reestimateBatchNorm calibration sparse)

        Assert.That((Model.residualBlocks repacked).Length, Is.EqualTo 2)

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

            Assert.That(r.Mismatches, Is.EqualTo 0)

    [<Test>]
    member _.``asymmetric convolution padding and zero-padded max and average pools are bit-exact on the board``() =
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

            Assert.That(ModelFile.intVersion im, Is.EqualTo 3us, "the model needs format version 3")

            for kernels in [ Dsp; Reference ] do
                let r =
                    Hil.run {
                        options "qemu-mps2-an386" kernels im 8 with
                            Weights = weights
                    }

                Assert.That(r.Mismatches, Is.EqualTo 0, $"{weights}, {kernels.Name} kernels")
                Assert.That(r.Samples, Is.EqualTo 8)

    [<Test>]
    member _.``mps2-an386 with DSP kernels is bit-exact and reports its cost``() =
        requireToolchain ()
        let r = Hil.run (options "qemu-mps2-an386" Dsp ternary 12)
        Assert.That(r.Mismatches, Is.EqualTo 0)
        Assert.That(r.Samples, Is.EqualTo 12)
        Assert.That(r.WorkUnit, Is.EqualTo "instructions")
        Assert.That(r.Work.Min, Is.GreaterThan 100_000L)
        Assert.That(r.Work.Min, Is.LessThanOrEqualTo r.Work.Median)
        Assert.That(r.Work.Median, Is.LessThanOrEqualTo r.Work.Max)
        Assert.That(r.FlashBytes, Is.GreaterThan 0L)
        Assert.That(r.RamBytes, Is.GreaterThan(int64 r.ArenaBytes))
        Assert.That(r.LinkBytesPerSecond, Is.GreaterThan 1000.0)

    [<Test>]
    member _.``netduinoplus2 (STM32 registers) is bit-exact too``() =
        requireToolchain ()
        let r = Hil.run (options "qemu-netduinoplus2" Dsp ternary 8)
        Assert.That(r.Mismatches, Is.EqualTo 0)
        Assert.That(r.Board, Is.EqualTo "qemu-netduinoplus2")

    [<Test>]
    member _.``reference kernels and an int8 model are bit-exact, and DSP needs fewer instructions``() =
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

        Assert.That(reference.Mismatches + dsp.Mismatches, Is.EqualTo 0)
        TestContext.Out.WriteLine($"int8 instructions: reference {reference.Work.Median}, dsp {dsp.Work.Median}")
        Assert.That(float reference.Work.Median / float dsp.Work.Median, Is.GreaterThan 1.5)

    [<Test>]
    member _.``the nucleo-f446re firmware builds and fits the chip``() =
        requireToolchain ()
        let b = board "nucleo-f446re"
        let fw = Firmware.build cache b Dsp ternary
        Assert.That(fw.FlashBytes, Is.LessThan b.FlashBytes)
        Assert.That(fw.RamBytes, Is.LessThan b.RamBytes)

    [<Test>]
    member _.``a second build of the same firmware comes from the cache``() =
        requireToolchain ()
        let b = board "qemu-mps2-an386"
        let first = Firmware.build cache b Reference ternary
        let second = Firmware.build cache b Reference ternary
        Assert.That(second.Cached, Is.True)
        Assert.That(second.Hash, Is.EqualTo first.Hash)

    [<Test>]
    member _.``every layer the device reports equals the host's``() =
        requireToolchain ()

        session ternary (fun client _ ->
            let x = (inputs ternary 9 1)[0]
            let r = client.Infer x
            let expected = Runner(ternary, KernelMode.Scalar).RunLayers x

            for i in 0 .. ternary.Layers.Length - 1 do
                Assert.That(box (client.Layer i), Is.EqualTo(box expected[i]), $"layer {i}")

            Assert.That(box r.Output, Is.EqualTo(box expected[expected.Length - 1])))

    [<Test>]
    member _.``QEMU killed mid-run is a clear error naming the sample, within 5 s``() =
        requireToolchain ()
        // Build first so that the clock below measures only the failure.
        Firmware.build cache (board "qemu-mps2-an386") Dsp ternary |> ignore
        let sw = Stopwatch()

        let kill n =
            if n = 3 then
                sw.Start()

                Proc.run
                    "pkill"
                    [ "-KILL"; "-f"; $"tern-qemu-{Environment.ProcessId}-" ]
                    None
                    (TimeSpan.FromSeconds 5.0)
                |> ignore

        let ex =
            Assert.Throws<HilFailure>(fun () ->
                Hil.run {
                    options "qemu-mps2-an386" Dsp ternary 10 with
                        Progress = kill
                }
                |> ignore)

        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds 5.0))
        Assert.That(ex.Data0, Does.Contain "sample 3")

    [<Test>]
    member _.``a firmware with another model is refused``() =
        requireToolchain ()
        let other = lowered LowerOptions.Ternary 2
        let fw = Firmware.build cache (board "qemu-mps2-an386") Dsp other

        let ex =
            Assert.Throws<HilFailure>(fun () ->
                Hil.run {
                    options "qemu-mps2-an386" Dsp ternary 2 with
                        Firmware = Some fw.Elf
                }
                |> ignore)

        Assert.That(ex.Data0, Does.Contain("refused").And.Contain(fw.ModelHash))

    [<Test>]
    member _.``a board that never answers times out saying what was tried``() =
        requireToolchain ()
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
        Assert.That(built.ExitCode, Is.EqualTo 0, built.Stderr)

        let ex =
            Assert.Throws<HilFailure>(fun () ->
                Hil.run {
                    options "qemu-mps2-an386" Dsp ternary 1 with
                        Firmware = Some elf
                        HelloTimeout = TimeSpan.FromSeconds 2.0
                }
                |> ignore)

        Assert.That(ex.Data0, Does.Contain("HELLO").And.Contain("qemu-mps2-an386"))

    [<Test>]
    member _.``an input of the wrong size is rejected on the host, and by the device if sent anyway``() =
        requireToolchain ()

        let ex =
            Assert.Throws<HilFailure>(fun () ->
                Hil.run {
                    options "qemu-mps2-an386" Dsp ternary 1 with
                        Inputs = [| Array.zeroCreate 100 |]
                }
                |> ignore)

        Assert.That(ex.Data0, Does.Contain "100 bytes")

        session ternary (fun client _ ->
            let e =
                Assert.Throws<DeviceErrorException>(fun () -> client.Infer(Array.zeroCreate 100) |> ignore)

            Assert.That(e.Code, Is.EqualTo ErrorCode.BadInputSize)
            Assert.That(e.Detail, Is.EqualTo(uint ternary.Input.Size))
            // The device is still in service afterwards.
            Assert.That(client.Infer((inputs ternary 3 1)[0]).Output.Length, Is.EqualTo ternary.Output.Size))

    [<Test>]
    member _.``garbage and a partial frame on the line: the device resynchronises``() =
        requireToolchain ()
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
        Assert.That(info.BoardName, Is.EqualTo "qemu-mps2-an386")
        let x = (inputs ternary 4 1)[0]
        Assert.That(box (client.Infer(x).Output), Is.EqualTo(box (Runner(ternary, KernelMode.Scalar).Run x)))

    [<Test>]
    member _.``QEMU dies with the host process, however the host dies``() =
        requireToolchain ()
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

        Assert.That(qemuRunning (), Is.True, "QEMU never started")
        host.Kill() // SIGKILL: no handler of the host runs
        host.WaitForExit()
        sw.Restart()

        while qemuRunning () && sw.Elapsed < TimeSpan.FromSeconds 5.0 do
            Threading.Thread.Sleep 100

        Assert.That(qemuRunning (), Is.False, "QEMU outlived its host by 5 s")

    [<Test>]
    member _.``split 2 on mps2-an386: the device's encoder equals the host's on every frame (bi, an intra tail)``() =
        requireToolchain ()

        let codec = {
            Codec.defaults 4 Bi Huffman with
                Quant = MinMaxAffine
        }
        // 7 frames: two bi groups of 3, then a tail of 1 coded intra at the end of the stream.
        let r, s =
            Hil.runSplit (options "qemu-mps2-an386" Dsp ternary 7) { Split = 2; Codec = codec }

        TestContext.Out.WriteLine(Report.renderSplit r s)
        Assert.That(r.Mismatches, Is.EqualTo 0)
        Assert.That(s.Mismatches, Is.EqualTo 0)
        Assert.That(s.Groups, Is.EqualTo 3)
        Assert.That(s.Feature, Is.EqualTo ternary.Layers[1].Output)
        Assert.That(s.WireBytesPerFrame, Is.GreaterThan 26.0)
        Assert.That(s.WireBytesPerFrame, Is.LessThan(float s.Int8BytesPerFrame))
        Assert.That(s.EncoderWork.Median, Is.GreaterThan 0L)
        Assert.That(r.Work.Median, Is.GreaterThan 0L)
        Assert.That(s.Top1Agreement, Is.InRange(0.0, 1.0))
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
            Assert.That(json.ContainsKey key, key)

    [<Test>]
    member _.``split protocol: errors before and after SPLIT, and a stream longer than one frame comes in pieces``() =
        requireToolchain ()

        let fw =
            Firmware.buildWith cache (board "qemu-mps2-an386") Dsp ternary ternary.Layers[0].Output.Size

        use qemu = Qemu.start "mps2-an386" 0 fw.Elf
        use client = new DeviceClient(Transport.Open($"unix:{qemu.SocketPath}"))
        client.ReplyTimeout <- TimeSpan.FromSeconds 10.0
        client.Hello(TimeSpan.FromMilliseconds 250.0, 40) |> ignore
        let x = inputs ternary 9 3

        let code (f: unit -> unit) =
            Assert.Throws<DeviceErrorException>(fun () -> f ()).Code

        Assert.That(code (fun () -> client.InferSplit x[0] |> ignore), Is.EqualTo ErrorCode.NoSplit)
        let feature = ternary.Layers[0].Output
        let z = Hil.outputZero ternary 0
        let intra8 = Codec.defaults 8 Intra Fixed
        let bytes = CodecVectors.optionBytes intra8

        Assert.That(
            code (fun () -> client.Split(ternary.Layers.Length + 1, feature, z, bytes) |> ignore),
            Is.EqualTo ErrorCode.BadSplit
        )

        Assert.That(
            code (fun () -> client.Split(1, Shape3(1, 1, 1), z, bytes) |> ignore),
            Is.EqualTo ErrorCode.BadSplit
        )

        let bad = Array.copy bytes
        bad[0] <- 9uy // 9 bits
        Assert.That(code (fun () -> client.Split(1, feature, z, bad) |> ignore), Is.EqualTo ErrorCode.BadSplit)
        let ready = client.Split(1, feature, z, bytes)
        Assert.That(int ready.FeatureBytes, Is.EqualTo feature.Size)
        Assert.That(ready.GroupSize, Is.EqualTo 1uy)
        // 8-bit fixed intra of 8192 codes: 8218 bytes, more than one FEATURES frame holds.
        let runner = new Runner(ternary, KernelMode.Scalar)

        for input in x do
            let f = client.InferSplit input
            Assert.That(f.Frames, Is.EqualTo 1uy)
            Assert.That(int f.Total, Is.GreaterThan(Wire.MaxBody - FeaturesMessage.PrefixBytes))

            let expected =
                match Codec.encode intra8 z feature [| runner.RunPrefix(input, 1) |] with
                | Ok e -> e.Stream
                | Error e -> failwith e

            Assert.That(f.Piece = expected, "the device stream differs from Codec.encode")

        // nothing held: the end of the stream codes nothing
        let tail = client.InferSplit [||]
        Assert.That((tail.Frames, tail.Total), Is.EqualTo((0uy, 0u)))

        Assert.That(
            code (fun () -> client.Request(StreamMessage(0u, 1us), MessageType.StreamData) |> ignore),
            Is.EqualTo ErrorCode.BadRange
        )
