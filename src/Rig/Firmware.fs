namespace Tern.Rig

open System
open System.IO
open System.Security.Cryptography
open System.Text
open Tern.Core
open Tern.Runtime

/// Which device kernel bodies a firmware is built with.
type DeviceKernels =
    | Reference
    | Dsp

    member k.Name =
        match k with
        | Reference -> "reference"
        | Dsp -> "dsp"

/// A built firmware image and what it costs.
type FirmwareImage = {
    Elf: string
    Board: Board
    Kernels: DeviceKernels
    /// SHA-256 over every source, flag and the emitted model: the firmware's identity and cache key.
    Hash: string
    ModelHash: string
    FlashBytes: int64
    RamBytes: int64
    ArenaBytes: int
    Cached: bool
}

[<RequireQualifiedAccess>]
module Firmware =
    let private compiler = "arm-none-eabi-gcc"

    /// The default cache folder: $XDG_CACHE_HOME/tern or ~/.cache/tern.
    let defaultCache () : string =
        match Environment.GetEnvironmentVariable "XDG_CACHE_HOME" with
        | null
        | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".cache", "tern")
        | x -> Path.Combine(x, "tern")

    /// Flash (text + data) and static RAM (data + bss) of an ELF, from arm-none-eabi-size.
    let sizes (elf: string) : int64 * int64 =
        let r = Proc.run "arm-none-eabi-size" [ "-A"; elf ] None (TimeSpan.FromSeconds 30.0)

        if r.ExitCode <> 0 then
            failwith $"arm-none-eabi-size failed on {elf}: {r.Stderr}"

        let sections =
            r.Stdout.Split('\n')
            |> Array.choose (fun line ->
                match line.Split([| ' '; '\t' |], StringSplitOptions.RemoveEmptyEntries) with
                | [| name; size; _ |] when name.StartsWith "." ->
                    match Int64.TryParse size with
                    | true, v -> Some(name, v)
                    | _ -> None
                | _ -> None)
            |> Map.ofArray

        let get n =
            sections |> Map.tryFind n |> Option.defaultValue 0L

        get ".text" + get ".ARM.exidx" + get ".data", get ".data" + get ".bss"

    /// Every C source of the firmware except the board's and the model.
    let private firmwareSources (hil: string) =
        [
            Path.Combine(hil, "firmware", "main.c")
            Path.Combine(hil, "firmware", "tern_proto.c")
        ]
        @ (Directory.GetFiles(Path.Combine(hil, "kernels"), "*.c")
           |> Array.sort
           |> Array.toList)

    /// A firmware built elsewhere (e.g. flashed by hand): its sizes from the ELF; its identity from the device.
    let ofElf (board: Board) (kernels: DeviceKernels) (model: IntModel) (elf: string) : FirmwareImage =
        if not (File.Exists elf) then
            failwith $"firmware {elf} does not exist"

        let flash, ram = sizes elf

        {
            Elf = Path.GetFullPath elf
            Board = board
            Kernels = kernels
            Hash = ""
            ModelHash = ModelFile.hash (ModelFile.serializeInt model)
            FlashBytes = flash
            RamBytes = ram
            ArenaBytes = Tern.Runtime.Engine.MemoryPlan.Create(model).ArenaBytes
            Cached = true
        }

    /// The header folders of a build, after the folder of the emitted model.
    let private includes (hil: string) = [
        Path.Combine(hil, "include")
        Path.Combine(hil, "firmware")
        Path.Combine(hil, "boards", "common")
    ]

    /// What a build takes: the emitted model, its hash, the C sources (the model's aside) and the flags.
    let private plan (hil: string) (board: Board) (kernels: DeviceKernels) (model: IntModel) (splitFeatureBytes: int) =
        let modelHash = ModelFile.hash (ModelFile.serializeInt model)

        let emitted =
            Emit.model
                {
                    CommandLine = $"tern hil --board {board.Name} --kernels {kernels.Name}"
                    Prefix = Emit.firmwarePrefix
                }
                model
                modelHash

        let sources =
            firmwareSources hil
            @ (if splitFeatureBytes > 0 then
                   [ Path.Combine(hil, "codec", "tern_codec.c") ]
               else
                   [])
            @ board.Sources

        let flags =
            board.CFlags
            @ [
                "-O2"
                "-std=c99"
                "-ffunction-sections"
                "-fdata-sections"
                // gcc's pre-allocation scheduler spills registers in unrolled DSP code (notes/kernels.md).
                "-fno-schedule-insns"
                // DWARF for FirmwareMap (which code each layer owns, inlined or not); gcc's code is the same with or
                // without it. Version 4: the ELF reader does not take version 5.
                "-gdwarf-4"
                "-Wall"
                "-Wextra"
                $"-DTERN_KERNELS_DSP={if kernels = Dsp then 1 else 0}"
                $"-DTERN_SPLIT_FEATURE_BYTES={max 0 splitFeatureBytes}"
            ]
            @ (board.Defines |> List.map (fun (k, v) -> $"-D{k}={v}"))

        emitted, modelHash, sources, flags

    /// The key over the files gcc lists for the build (the emitted model written to a scratch folder to be listed).
    let private keyOf (hil: string) (board: Board) emitted sources flags : FirmwareKey =
        let scratch = Directory.CreateTempSubdirectory "tern-firmware-key-"

        try
            let generated = scratch.FullName
            File.WriteAllText(Path.Combine(generated, emitted.Prefix + ".h"), emitted.Header)
            let modelSource = Path.Combine(generated, emitted.Prefix + ".c")
            File.WriteAllText(modelSource, emitted.Source)

            FirmwareKey.compute compiler hil generated flags (generated :: includes hil) (sources @ [ modelSource ]) [
                board.LinkerScript
            ]
        finally
            scratch.Delete true

    /// The firmware's key and the files it covers, for the device sources in the folder `hil` (needs the compiler).
    let key
        (hil: string)
        (board: Board)
        (kernels: DeviceKernels)
        (model: IntModel)
        (splitFeatureBytes: int)
        : FirmwareKey =
        let emitted, _, sources, flags = plan hil board kernels model splitFeatureBytes
        keyOf hil board emitted sources flags

    /// Builds (or takes from the cache) the firmware for a board, an integer model and a kernel set; with
    /// splitFeatureBytes > 0 it also serves split inference (SPLIT, INFER_SPLIT, STREAM) with buffers for feature
    /// maps of up to that many bytes and the feature-map encoder (hil/codec). The whole model is always linked in and
    /// the split point is chosen at run time: the default model's whole split firmware is 25.6 KB of flash (18.0 KB
    /// without split mode), against 4 MB on QEMU and 512 KB on the Nucleo, so leaving out the layers after K would
    /// save a few KB at most, while one image serves every K whose feature map fits the buffers.
    let buildWith
        (cache: string)
        (board: Board)
        (kernels: DeviceKernels)
        (model: IntModel)
        (splitFeatureBytes: int)
        : FirmwareImage =
        if kernels = Dsp && not board.Dsp then
            failwith $"board {board.Name} has no DSP extension; use --kernels reference"

        if (Proc.which compiler).IsNone then
            failwith
                "arm-none-eabi-gcc is not installed (Debian: apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi)"

        let hil = Boards.hilRoot ()

        let emitted, modelHash, sources, flags =
            plan hil board kernels model splitFeatureBytes

        let key = (keyOf hil board emitted sources flags).Key
        let entry = Path.Combine(cache, "firmware", board.Name, key.Substring(0, 16))

        let buildInto (work: string) =
            File.WriteAllText(Path.Combine(work, emitted.Prefix + ".h"), emitted.Header)
            File.WriteAllText(Path.Combine(work, emitted.Prefix + ".c"), emitted.Source)

            let hashBytes =
                Convert.FromHexString key
                |> Array.map (fun b -> $"0x{b:x2}")
                |> fun a -> String.Join(", ", a)

            File.WriteAllText(
                Path.Combine(work, "firmware_id.c"),
                $"/* Generated by Tern: the firmware's identity (SHA-256 of its sources, flags and model). */\n#include <stdint.h>\nconst uint8_t tern_firmware_hash[32] = {{ {hashBytes} }};\n"
            )

            let args =
                flags
                @ [
                    // the emitted tern_model.h first: a stale copy of the old hand-written one may linger in hil/include
                    "-I"
                    work
                ]
                @ (includes hil |> List.collect (fun d -> [ "-I"; d ]))
                @ [
                    "-nostartfiles"
                    "--specs=nano.specs"
                    "--specs=nosys.specs"
                    "-Wl,--gc-sections"
                    "-Wl,-Map=" + Path.Combine(work, "firmware.map")
                    "-T"
                    board.LinkerScript
                    "-o"
                    Path.Combine(work, FirmwareCache.elfName)
                ]
                @ sources
                @ [
                    Path.Combine(work, emitted.Prefix + ".c")
                    Path.Combine(work, "firmware_id.c")
                ]

            let r = Proc.run compiler args None (TimeSpan.FromMinutes 5.0)

            if r.ExitCode <> 0 then
                failwith $"firmware build failed for {board.Name}:\n{Proc.show compiler args}\n{r.Stderr}"

        let elf, cached =
            FirmwareCache.getOrBuild entry (fun why -> Console.Error.WriteLine("tern: " + why)) buildInto

        let flash, ram = sizes elf

        {
            Elf = elf
            Board = board
            Kernels = kernels
            Hash = key
            ModelHash = modelHash
            FlashBytes = flash
            RamBytes = ram
            ArenaBytes = emitted.ArenaBytes
            Cached = cached
        }

    /// Builds (or takes from the cache) the firmware for a board, an integer model and a kernel set (no split mode).
    let build (cache: string) (board: Board) (kernels: DeviceKernels) (model: IntModel) : FirmwareImage =
        buildWith cache board kernels model 0
