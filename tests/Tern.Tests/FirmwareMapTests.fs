/// Reading a built firmware's ELF (FirmwareMap): each layer's weight arrays, parameters and code, inlined or not,
/// and the code counted once. Needs arm-none-eabi-gcc (ignored without it); QEMU is not needed.
module Tern.Tests.FirmwareMapTests

open System
open System.IO
open Expecto
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

    Expect.equal r.ExitCode 0 r.Stderr

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

/// The firmware cache the tests share and the ternary default model (built once, on first use).
let private fixture =
    lazy (Scratch.folder "tern-firmware-map", lower LowerOptions.Ternary (Architectures.defaultModel 1))

[<Tests>]
let tests =
    testSequenced
    <| testList "FirmwareMapTests" [
        testCase "reference kernels: each conv layer's weight arrays are its WeightBytes, its kernel is its code"
        <| fun () ->
            requireCompiler ()
            let cache, ternary = fixture.Force()
            let fw = Firmware.build cache (board "qemu-mps2-an386") Reference ternary
            let map = FirmwareMap.read fw.Elf ternary
            Expect.isTrue map.DebugInfo "the ELF has debug information"
            Expect.equal map.Layers.Length ternary.Layers.Length "one entry per layer"

            for i, c in convs ternary do
                let f = map.Layers[i]
                Expect.equal f.WeightBytes (int64 c.WeightBytes) $"layer {i} ({c.Name}) weights"
                Expect.isGreaterThan f.ParamBytes 0L $"layer {i} params"
                Expect.stringStarts f.Kernel "tern_" $"layer {i} kernel"

            // conv and dense both call tern_conv_t2: counted once, for both, and said so
            let shared = map.Shared |> List.find (fun s -> s.Name = "tern_conv_t2")
            Expect.isGreaterThan shared.Layers.Length 1 "tern_conv_t2 serves several layers"
            Expect.isGreaterThan shared.Bytes 0L "tern_conv_t2's bytes"

            for i in shared.Layers do
                Expect.isTrue map.Layers[i].KernelShared $"layer {i}"

            // every byte of the model and its kernels counted once (requantize.c is all inlined here: no entry)
            Expect.equal (accounted map) (modelAndKernelFlash fw.Elf) "every byte counted once"
            // flatten is a view: no flash of its own
            let flatten =
                ternary.Layers |> Array.findIndex (fun l -> l.Kind = IntLayerKind.Flatten)

            Expect.equal map.Layers[flatten].Total 0L "flatten has no flash"

        testCase "DSP kernels: ternary layers are baked code, most of it inlined into the driver, found through DWARF"
        <| fun () ->
            requireCompiler ()
            let cache, ternary = fixture.Force()
            let fw = Firmware.build cache (board "qemu-mps2-an386") Dsp ternary
            let map = FirmwareMap.read fw.Elf ternary

            for i, c in convs ternary do
                let f = map.Layers[i]
                Expect.equal f.WeightBytes 0L $"layer {i}: weights live in code"
                Expect.equal f.Kernel "" $"layer {i}: no kernel linked"
                // a baked layer's code holds at least one instruction per non-zero weight (the weights themselves)
                let nonzero =
                    c.TernaryWeights.Unpack() |> Array.filter (fun w -> w <> 0y) |> Array.length

                Expect.isGreaterThan f.CodeBytes (int64 nonzero) $"layer {i} ({c.Name}) code"

            // Without DWARF the inlined code is the driver's: the same bytes, moved, nothing lost or counted twice. (A
            // kernel's static helpers, avgpool_s8.c's here, are then not seen at all: only baked layers are compared.)
            let stripped = Path.Combine(cache, "stripped.elf")

            let r =
                Proc.run "arm-none-eabi-objcopy" [ "--strip-debug"; fw.Elf; stripped ] None (TimeSpan.FromSeconds 30.0)

            Expect.equal r.ExitCode 0 r.Stderr
            let bare = FirmwareMap.read stripped ternary
            Expect.isFalse bare.DebugInfo "the stripped ELF has no debug information"

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

            Expect.isGreaterThan moved 0L "some layer code was inlined"
            Expect.equal (driver bare - driver map) moved "the inlined code moves to the driver"
            Expect.equal (accounted map) (modelAndKernelFlash fw.Elf) "every byte counted once"

            for i in 0 .. ternary.Layers.Length - 1 do
                Expect.isLessThanOrEqual bare.Layers[i].CodeBytes map.Layers[i].CodeBytes $"layer {i}"

        testCase
            "a residual int8 model on DSP kernels: weights of every conv, the add's parameters, shared kernels once"
        <| fun () ->
            requireCompiler ()
            let cache, _ = fixture.Force()

            let int8 =
                lower LowerOptions.Int8 (Architectures.blocksFor (Shape3(16, 16, 1)) [ "a"; "b" ] 2)

            let fw = Firmware.build cache (board "qemu-mps2-an386") Dsp int8
            let map = FirmwareMap.read fw.Elf int8

            for i, c in convs int8 do
                Expect.equal map.Layers[i].WeightBytes (int64 c.WeightBytes) $"layer {i} ({c.Name})"

            for i, l in Array.indexed int8.Layers do
                if l.Kind = IntLayerKind.Add then
                    Expect.isGreaterThan map.Layers[i].ParamBytes 0L $"add {i}"
                    Expect.equal map.Layers[i].Kernel "tern_add_s8" $"add {i}: its kernel"

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
                    Expect.equal inShared.Length 1 k
                    Expect.isTrue (users |> Array.forall (fun f -> f.KernelShared)) k
                else
                    Expect.isEmpty inShared k

            Expect.equal (accounted map) (modelAndKernelFlash fw.Elf) "every byte counted once"
    ]
