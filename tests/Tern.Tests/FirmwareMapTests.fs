/// Reading a built firmware's ELF (FirmwareMap): each layer's weight arrays, parameters and code, inlined or not,
/// and the code counted once. Needs arm-none-eabi-gcc (ignored without it); QEMU is not needed.
module Tern.Tests.FirmwareMapTests

open System
open System.IO
open NUnit.Framework
open Tern.Core
open Tern.Runtime
open Tern.Rig
open Tern.Tests.EmulatedBoard

let private lower (options: LowerOptions) (m: Model) =
    match Lower.lower options (Lower.randomCalibration 3 8 m.Input) m with
    | Ok im -> im
    | Error e -> failwith e

/// The oracle for the whole accounting, read independently with binutils: the flash of the emitted model (tern_model.c's
/// locals and its driver) and of the kernels (their files' locals and their tern_* globals). Every byte of it must land
/// in exactly one layer or one Shared entry.
let private modelAndKernelFlash (elf: string) : int64 =
    let r =
        Proc.run "arm-none-eabi-readelf" [ "-sW"; elf ] None (TimeSpan.FromSeconds 30.0)

    Assert.That(r.ExitCode, Is.EqualTo 0, r.Stderr)

    let kernelFiles =
        Directory.GetFiles(Path.Combine(Boards.hilRoot (), "kernels"), "*.c")
        |> Array.map Path.GetFileName
        |> Set.ofArray

    let kernelGlobal =
        Text.RegularExpressions.Regex "^tern_(conv|depthwise|avgpool|maxpool|add|requantize)_|^tern_model_run_layers$"

    let mutable file = ""
    let mutable total = 0L

    for line in r.Stdout.Split '\n' do
        match line.Split(' ', StringSplitOptions.RemoveEmptyEntries) with
        | [| num; value; size; kind; bind; _; _; name |] when num.EndsWith ":" && Char.IsDigit num[0] ->
            if kind = "FILE" then
                file <- name
            else
                let bytes =
                    if size.StartsWith "0x" then
                        Convert.ToInt64(size, 16)
                    else
                        int64 size

                let inFlash = Convert.ToUInt32(value, 16) < 0x20000000u // mps2-an386: RAM from 0x20000000

                let ours =
                    if bind = "LOCAL" then
                        file = "tern_model.c" || kernelFiles.Contains file
                    else
                        kernelGlobal.IsMatch name

                if bytes > 0L && inFlash && ours && (kind = "FUNC" || kind = "OBJECT") then
                    total <- total + bytes
        | _ -> ()

    total

let private accounted (map: FirmwareMap) : int64 =
    (map.Layers |> Array.sumBy (fun f -> f.Total))
    + (map.Shared |> List.sumBy (fun s -> s.Bytes))

let private convs (model: IntModel) =
    model.Layers
    |> Array.indexed
    |> Array.choose (fun (i, l) ->
        match l with
        | :? IntConvLayer as c -> Some(i, c)
        | _ -> None)

[<NonParallelizable>]
type FirmwareMapTests() =
    let cache =
        Path.Combine(Path.GetTempPath(), "tern-firmware-map-" + string Environment.ProcessId)

    let ternary = lower LowerOptions.Ternary (Architectures.defaultModel 1)

    [<OneTimeTearDown>]
    member _.TearDown() = EmulatedBoard.removeCache cache

    [<Test>]
    member _.``reference kernels: each conv layer's weight arrays are its WeightBytes, its kernel is its code``() =
        requireCompiler ()
        let fw = Firmware.build cache (board "qemu-mps2-an386") Reference ternary
        let map = FirmwareMap.read fw.Elf ternary
        Assert.That(map.DebugInfo, Is.True)
        Assert.That(map.Layers.Length, Is.EqualTo ternary.Layers.Length)

        for i, c in convs ternary do
            let f = map.Layers[i]
            Assert.That(f.WeightBytes, Is.EqualTo(int64 c.WeightBytes), $"layer {i} ({c.Name}) weights")
            Assert.That(f.ParamBytes, Is.GreaterThan 0L, $"layer {i} params")
            Assert.That(f.Kernel, Does.StartWith "tern_", $"layer {i} kernel")

        // conv and dense both call tern_conv_t2: counted once, for both, and said so
        let shared = map.Shared |> List.find (fun s -> s.Name = "tern_conv_t2")
        Assert.That(shared.Layers.Length, Is.GreaterThan 1)
        Assert.That(shared.Bytes, Is.GreaterThan 0L)

        for i in shared.Layers do
            Assert.That(map.Layers[i].KernelShared, Is.True, $"layer {i}")

        // every byte of the model and its kernels counted once (requantize.c is all inlined here: no entry)
        Assert.That(accounted map, Is.EqualTo(modelAndKernelFlash fw.Elf))
        // flatten is a view: no flash of its own
        let flatten =
            ternary.Layers |> Array.findIndex (fun l -> l.Kind = IntLayerKind.Flatten)

        Assert.That(map.Layers[flatten].Total, Is.EqualTo 0L)

    [<Test>]
    member _.``DSP kernels: ternary layers are baked code, most of it inlined into the driver, found through DWARF``() =
        requireCompiler ()
        let fw = Firmware.build cache (board "qemu-mps2-an386") Dsp ternary
        let map = FirmwareMap.read fw.Elf ternary

        for i, c in convs ternary do
            let f = map.Layers[i]
            Assert.That(f.WeightBytes, Is.EqualTo 0L, $"layer {i}: weights live in code")
            Assert.That(f.Kernel, Is.EqualTo "", $"layer {i}: no kernel linked")
            // a baked layer's code holds at least one instruction per non-zero weight (the weights themselves)
            let nonzero =
                c.TernaryWeights.Unpack() |> Array.filter (fun w -> w <> 0y) |> Array.length

            Assert.That(f.CodeBytes, Is.GreaterThan(int64 nonzero), $"layer {i} ({c.Name}) code")

        // Without DWARF the inlined code is the driver's: the same bytes, moved, nothing lost or counted twice. (A
        // kernel's static helpers, avgpool_s8.c's here, are then not seen at all: only baked layers are compared.)
        let stripped = Path.Combine(cache, "stripped.elf")

        let r =
            Proc.run "arm-none-eabi-objcopy" [ "--strip-debug"; fw.Elf; stripped ] None (TimeSpan.FromSeconds 30.0)

        Assert.That(r.ExitCode, Is.EqualTo 0, r.Stderr)
        let bare = FirmwareMap.read stripped ternary
        Assert.That(bare.DebugInfo, Is.False)

        let driver (m: FirmwareMap) =
            m.Shared
            |> List.filter (fun s -> s.Name.StartsWith "model driver")
            |> List.sumBy (fun s -> s.Bytes)

        let moved =
            Array.map2
                (fun (a: LayerFlash) (b: LayerFlash) -> if a.Kernel = "" then a.CodeBytes - b.CodeBytes else 0L)
                map.Layers
                bare.Layers
            |> Array.sum

        Assert.That(moved, Is.GreaterThan 0L, "some layer code was inlined")
        Assert.That(driver bare - driver map, Is.EqualTo moved)
        Assert.That(accounted map, Is.EqualTo(modelAndKernelFlash fw.Elf))

        for i in 0 .. ternary.Layers.Length - 1 do
            Assert.That(bare.Layers[i].CodeBytes, Is.LessThanOrEqualTo map.Layers[i].CodeBytes, $"layer {i}")

    [<Test>]
    member _.``a residual int8 model on DSP kernels: weights of every conv, the add's parameters, shared kernels once``
        ()
        =
        requireCompiler ()

        let int8 =
            lower LowerOptions.Int8 (Architectures.blocksFor (Shape3(16, 16, 1)) [ "a"; "b" ] 2)

        let fw = Firmware.build cache (board "qemu-mps2-an386") Dsp int8
        let map = FirmwareMap.read fw.Elf int8

        for i, c in convs int8 do
            Assert.That(map.Layers[i].WeightBytes, Is.EqualTo(int64 c.WeightBytes), $"layer {i} ({c.Name})")

        for i, l in Array.indexed int8.Layers do
            if l.Kind = IntLayerKind.Add then
                Assert.That(map.Layers[i].ParamBytes, Is.GreaterThan 0L, $"add {i}")
                Assert.That(map.Layers[i].Kernel, Is.EqualTo "tern_add_s8")

        // every kernel is counted once: in its only layer or in Shared
        let kernels =
            map.Layers
            |> Array.map (fun f -> f.Kernel)
            |> Array.filter ((<>) "")
            |> Array.distinct

        for k in kernels do
            let users = map.Layers |> Array.filter (fun f -> f.Kernel = k)
            let inShared = map.Shared |> List.filter (fun s -> s.Name = k)

            if users.Length > 1 then
                Assert.That(inShared.Length, Is.EqualTo 1, k)
                Assert.That(users |> Array.forall (fun f -> f.KernelShared), Is.True, k)
            else
                Assert.That(inShared, Is.Empty, k)

        Assert.That(accounted map, Is.EqualTo(modelAndKernelFlash fw.Elf))
