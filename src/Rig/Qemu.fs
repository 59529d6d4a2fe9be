namespace Tern.Rig

open System
open System.Diagnostics
open System.IO
open System.Text

/// QEMU's last words, short enough for a failure message: its own messages first ("qemu-system-arm: ...",
/// "qemu: fatal: Lockup ..."; a fatal error's register dump after them can run to 30 lines), then its last lines.
module QemuLastWords =
    let private keepLast = 3

    let ofOutput (output: string) : string =
        let lines =
            output.Split('\n')
            |> Array.map (fun l -> l.TrimEnd())
            |> Array.filter (fun l -> l <> "")

        let own =
            lines
            |> Array.filter (fun l -> l.StartsWith("qemu", StringComparison.Ordinal))
            |> Array.truncate 5

        let last =
            lines
            |> Array.skip (max 0 (lines.Length - keepLast))
            |> Array.filter (fun l -> not (Array.contains l own))

        let elided =
            if own.Length + last.Length < lines.Length && last.Length > 0 then
                [| "..." |]
            else
                [||]

        let shown = Array.concat [ own; elided; last ]
        String.Join(" | ", shown)

/// A QEMU process serving one firmware, its UART on a Unix socket. Disposing it kills QEMU; a watchdog
/// shell around QEMU also kills it when this process dies, however it dies.
type QemuInstance(proc: Process, socketPath: string, commandLine: string, stderr: StringBuilder) =
    /// The Unix socket QEMU listens on for the firmware's UART.
    member _.SocketPath = socketPath
    member _.CommandLine = commandLine
    member _.HasExited = proc.HasExited

    /// Why QEMU is gone, if it is: its exit code and last words.
    member _.ExitDescription =
        if proc.HasExited then
            let err = lock stderr (fun () -> stderr.ToString())
            let words = QemuLastWords.ofOutput err
            let tail = if words = "" then "" else $": {words}"
            Some $"QEMU exited with code {proc.ExitCode}{tail}"
        else
            None

    /// Why QEMU is gone, waiting up to timeout for it to die and for its stderr to be read to the end (a refused
    /// connection can come a moment before QEMU's exit).
    member this.WaitExitDescription(timeout: TimeSpan) : string option =
        try
            // The parameterless wait also drains the redirected streams; the timed one bounds it.
            if proc.WaitForExit(int timeout.TotalMilliseconds) then
                Threading.Tasks.Task.Run(fun () -> proc.WaitForExit()).Wait(timeout) |> ignore
        with _ ->
            ()

        this.ExitDescription

    /// Kills QEMU (and its watchdog) now.
    member _.Kill() =
        try
            if not proc.HasExited then
                proc.Kill true
                proc.WaitForExit 5000 |> ignore
        with _ ->
            ()

    interface IDisposable with
        member this.Dispose() =
            this.Kill()

            try
                File.Delete socketPath
            with _ ->
                ()

[<RequireQualifiedAccess>]
module Qemu =
    let private program = "qemu-system-arm"

    /// QEMU's arguments for a machine and a firmware, serial ports aside: no display or monitor, guest time
    /// counted in instructions, semihosting on the host (the firmware's exit code and console).
    let firmwareArguments (machine: string) (elf: string) : string list = [
        "-M"
        machine
        "-display"
        "none"
        "-monitor"
        "none"
        // One instruction = 1 ns of guest time: timers count instructions exactly (notes/hil.md).
        "-icount"
        "shift=0"
        "-semihosting-config"
        "enable=on,target=native"
        "-kernel"
        elf
    ]

    /// QEMU's arguments for a machine, a firmware and the UART on a Unix socket.
    let arguments (machine: string) (serialIndex: int) (elf: string) (socketPath: string) : string list =
        // The firmware's UART is QEMU's serial port number serialIndex; the ones before it go nowhere.
        let unused = List.replicate serialIndex [ "-serial"; "null" ] |> List.concat

        firmwareArguments machine elf
        @ unused
        @ [ "-serial"; $"unix:{socketPath},server,nowait" ]

    // Whether a Unix socket at path accepts connections. QEMU creates the file at bind(), a moment before listen():
    // a client that connects in between is refused (seen under load). Linux lists listening sockets in
    // /proc/net/unix with the flag __SO_ACCEPTCON (0x10000); elsewhere the file's existence has to do.
    let private listening (path: string) : bool =
        try
            File.ReadLines "/proc/net/unix"
            |> Seq.exists (fun line ->
                let f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)

                f.Length >= 8
                && f[f.Length - 1] = path
                && (Convert.ToInt32(f[3], 16) &&& 0x10000) <> 0)
        with _ ->
            File.Exists path

    /// Starts QEMU for a firmware; waits until its UART socket listens.
    let start (machine: string) (serialIndex: int) (elf: string) : QemuInstance =
        if (Proc.which program).IsNone then
            failwith
                "qemu-system-arm is not installed (Debian: apt-get install --no-install-recommends qemu-system-arm)"

        let socketPath =
            Path.Combine(Path.GetTempPath(), $"tern-qemu-{Environment.ProcessId}-{Guid.NewGuid():N}.sock")

        let qemuArgs = arguments machine serialIndex elf socketPath
        // The watchdog: QEMU runs as a child of a shell that kills it once this process is gone.
        let script =
            "qemu-system-arm \"$@\" & q=$!; trap 'kill $q 2>/dev/null' EXIT INT TERM; "
            + $"while kill -0 {Environment.ProcessId} 2>/dev/null && kill -0 $q 2>/dev/null; do sleep 0.2; done; "
            + "kill $q 2>/dev/null; wait $q"

        let psi = ProcessStartInfo("/bin/sh")

        for a in [ "-c"; script; "tern-qemu" ] @ qemuArgs do
            psi.ArgumentList.Add a

        psi.RedirectStandardError <- true
        psi.RedirectStandardOutput <- true
        psi.RedirectStandardInput <- true
        psi.UseShellExecute <- false
        let stderr = StringBuilder()
        let proc = Process.Start psi

        proc.ErrorDataReceived.Add(fun e ->
            if not (isNull e.Data) then
                lock stderr (fun () -> stderr.AppendLine e.Data |> ignore))

        proc.OutputDataReceived.Add(fun e ->
            if not (isNull e.Data) then
                lock stderr (fun () -> stderr.AppendLine e.Data |> ignore))

        proc.BeginErrorReadLine()
        proc.BeginOutputReadLine()

        let instance =
            new QemuInstance(proc, socketPath, Proc.show program qemuArgs, stderr)

        let sw = Stopwatch.StartNew()

        while not (listening socketPath)
              && not proc.HasExited
              && sw.Elapsed < TimeSpan.FromSeconds 10.0 do
            Threading.Thread.Sleep 20

        if not (listening socketPath) then
            let why =
                instance.WaitExitDescription(TimeSpan.FromSeconds 2.0)
                |> Option.defaultValue "no UART socket after 10 s"

            (instance :> IDisposable).Dispose()
            failwith $"QEMU did not start ({Proc.show program qemuArgs}): {why}"

        instance
