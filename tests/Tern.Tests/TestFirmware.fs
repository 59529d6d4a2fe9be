/// C test drivers (hil/tests) built as firmware for a board of hil/boards with -DTERN_TEST_BOARD and run under QEMU,
/// where they print by semihosting and exit with their failure status: what CKernelTests and CCodecTests share.
module Tern.Tests.TestFirmware

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Tern.Rig

/// Runs a program with a deadline; the child is killed on every path. Returns exit code and all output.
let run (exe: string) (args: string list) (timeoutMs: int) : int * string =
    let psi =
        ProcessStartInfo(exe, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    for a in args do
        psi.ArgumentList.Add a

    use p = new Process(StartInfo = psi)
    let out = Text.StringBuilder()
    let gate = obj ()

    let add (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock gate (fun () -> out.Append(e.Data).Append('\n') |> ignore)

    p.OutputDataReceived.Add add
    p.ErrorDataReceived.Add add

    try
        p.Start() |> ignore
        p.BeginOutputReadLine()
        p.BeginErrorReadLine()

        if not (p.WaitForExit timeoutMs) then
            p.Kill true
            p.WaitForExit()
            -1, lock gate (fun () -> out.ToString()) + $"\n(killed after {timeoutMs} ms)"
        else
            p.WaitForExit() // drains the asynchronous readers
            p.ExitCode, lock gate (fun () -> out.ToString())
    finally
        try
            if not p.HasExited then
                p.Kill true
        with _ ->
            ()

/// The warnings-as-errors flags of the C test drivers, natively and on a board.
let strictFlags = [ "-O2"; "-std=c99"; "-Wall"; "-Wextra"; "-Werror" ]

/// What a test firmware needs of a board: from its board.json.
type BoardFiles = {
    /// The folder hil/ the board was read from (its boards/common holds semihost.h).
    Hil: string
    CFlags: string list
    /// The board's own sources (startup, semihosting, peripherals), full paths.
    Sources: string list
    LinkerScript: string
    /// QEMU's -M machine.
    Machine: string
}

/// The board `name` of the hil/ folder `hil` (the source tree's, not the copy beside the test binary).
let board (hil: string) (name: string) : BoardFiles =
    let dir = Path.Combine(hil, "boards", name)
    use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "board.json")))
    let root = doc.RootElement
    let strings (p: string) = [ for e in root.GetProperty(p).EnumerateArray() -> e.GetString() ]
    let full (f: string) = Path.GetFullPath(Path.Combine(dir, f))

    {
        Hil = hil
        CFlags = strings "cflags"
        Sources = strings "sources" |> List.map full
        LinkerScript = full (root.GetProperty("linker_script").GetString())
        Machine = root.GetProperty("run").GetProperty("machine").GetString()
    }

/// The ARM compiler and QEMU (skips, or fails under CI, when either is missing).
let toolchain () : string * string =
    ToolRequirement.find "arm-none-eabi-gcc" "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    ToolRequirement.find "qemu-system-arm" "qemu-system-arm"

/// Builds a test driver's sources (and the board's) into elf with the strict flags plus `flags` (defines,
/// includes). Returns gcc's exit code and output.
let build (gcc: string) (b: BoardFiles) (flags: string list) (sources: string list) (elf: string) : int * string =
    let args =
        b.CFlags
        @ strictFlags
        @ [
            "-ffunction-sections"
            "-fdata-sections"
            "-nostartfiles"
            "-Wl,--gc-sections"
            "-T"
            b.LinkerScript
            "--specs=nano.specs"
            "--specs=nosys.specs"
            "-DTERN_TEST_BOARD"
            "-I" + Path.Combine(b.Hil, "boards", "common")
        ]
        @ flags
        @ sources
        @ b.Sources
        @ [ "-o"; elf ]

    run gcc args 120_000

/// Runs a test firmware under QEMU (instructions counted: -icount shift=0): the driver's exit code and output.
let runOnQemu (qemu: string) (b: BoardFiles) (elf: string) : int * string =
    run qemu (Qemu.firmwareArguments b.Machine elf @ [ "-serial"; "null" ]) 60_000
