/// hil's --port and --firmware, checked before any work: a wrong form, a missing device, socket or file, or a
/// file that is not an ARM ELF is the user's mistake (exit 2 naming the option), not a failure of the run.
module Tern.Cli.HilOptionChecks

open System
open System.IO
open Tern.Runtime.Transports
open Tern.Cli.Args

/// --port: its form (tty, tcp, unix), and for a tty or a Unix socket that the path exists and is no folder.
let port (spec: string) : unit =
    let parsed =
        try
            TransportSpec.Parse spec
        with :? FormatException as e ->
            raise (BadInput $"--port {spec}: {e.Message}")

    let what =
        match parsed.Kind with
        | TransportKind.Tty -> Some "serial device"
        | TransportKind.Unix -> Some "Unix socket"
        | _ -> None

    what
    |> Option.iter (fun what ->
        if Directory.Exists parsed.Target then
            raise (BadInput $"--port {spec}: {parsed.Target} is a folder, not a {what}")
        elif not (File.Exists parsed.Target) then
            raise (BadInput $"--port {spec}: no {what} {parsed.Target} (is the board plugged in, its bridge running?)"))

// ELF header: magic 7F 'E' 'L' 'F', class 1 (32-bit) at 4, e_machine (little-endian) at 18; 40 is ARM.
let private elfMagic = [| 0x7Fuy; byte 'E'; byte 'L'; byte 'F' |]
let private emArm = 40us

/// --firmware: an existing 32-bit ARM ELF file (the board it was built for is QEMU's or the board's to tell).
let firmware (path: string) : unit =
    if Directory.Exists path then
        raise (BadInput $"--firmware {path}: a folder, not a firmware ELF")

    if not (File.Exists path) then
        raise (BadInput $"--firmware {path}: file not found")

    let header =
        try
            use f = File.OpenRead path
            let b = Array.zeroCreate<byte> 20
            let n = f.ReadAtLeast(b.AsSpan(), b.Length, false)
            b[.. n - 1]
        with
        | :? IOException
        | :? UnauthorizedAccessException as e -> raise (BadInput $"--firmware {path}: {e.Message}")

    let isArmElf =
        header.Length = 20
        && header[..3] = elfMagic
        && header[4] = 1uy
        && BitConverter.ToUInt16(header, 18) = emArm

    if not isArmElf then
        raise (BadInput $"--firmware {path}: not a 32-bit ARM ELF file")
