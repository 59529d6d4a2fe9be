/// What the tests that build firmware or run it on an emulated board share: skipping (naming the Debian packages;
/// failing under CI) when a tool is missing, a board by name, a small ternary model, HIL options with the tests' defaults, and removing
/// the firmware cache.
module Tern.Tests.EmulatedBoard

open System
open System.IO
open Tern.Runtime
open Tern.Core
open Tern.Rig

/// Skips the test (fails it under CI) when a program is not on PATH, naming the Debian packages to install
/// (program, package): see ToolRequirement.
let require (tools: (string * string) list) : unit = ToolRequirement.require tools

/// The ARM compiler and its C library: a firmware built, not run.
let requireCompiler () =
    require [ "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi" ]

/// The ARM compiler and QEMU: a firmware built and run on the emulated board.
let requireToolchain () =
    require [
        "arm-none-eabi-gcc", "gcc-arm-none-eabi"
        "qemu-system-arm", "qemu-system-arm"
    ]

/// A board of the repository's boards/ by name.
let board (name: string) : Board =
    match Boards.find name with
    | Ok b -> b
    | Error e -> failwith e

/// The default architecture lowered to ternary weights, calibrated on 8 random inputs drawn with `seed`.
let ternaryModel (seed: int) : IntModel =
    let m = Architectures.defaultModel 1

    match Lower.lower LowerOptions.Ternary (Lower.randomCalibration seed 8 m.Input) m with
    | Ok im -> im
    | Error e -> failwith e

/// A HIL run of unlabelled inputs on a firmware built into `cache`: no serial port, no prebuilt firmware, HELLO
/// within 10 s, no progress.
let hilOptions
    (cache: string)
    (board: Board)
    (kernels: DeviceKernels)
    (weights: string)
    (model: IntModel)
    (inputs: float32[][])
    : HilOptions = {
    Board = board
    Model = model
    Weights = weights
    Kernels = kernels
    Inputs = inputs
    Labels = None
    Port = None
    Cache = cache
    Firmware = None
    NoFlash = false
    HelloTimeout = TimeSpan.FromSeconds 10.0
    Progress = ignore
}

/// Removes a fixture's firmware cache; one already gone (or never made, the test ignored) is no failure.
let removeCache (cache: string) : unit =
    try
        Directory.Delete(cache, true)
    with _ ->
        ()
