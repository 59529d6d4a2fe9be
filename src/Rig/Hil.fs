namespace Tern.Rig

open System
open System.Diagnostics
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Runtime.Protocol
open Tern.Runtime.Transports

/// What a HIL run needs.
type HilOptions = {
    Board: Board
    Model: IntModel
    /// "int8" or "ternary" (for the report).
    Weights: string
    Kernels: DeviceKernels
    Inputs: sbyte[][]
    Labels: int[] option
    /// Serial port of a real board (tty path, tcp:host:port, unix:path); QEMU boards ignore it.
    Port: string option
    Cache: string
    /// Use this firmware instead of building one (the device must then run the same model).
    Firmware: string option
    /// Skip flashing a real board (it already runs the firmware, e.g. flashed on another machine).
    NoFlash: bool
    /// How long the handshake may take (HELLO is retried until then).
    HelloTimeout: TimeSpan
    /// Called after each sample with the number done so far.
    Progress: int -> unit
}

/// A HIL run that could not finish: the message names the sample (if any) and the cause.
exception HilFailure of string

[<RequireQualifiedAccess>]
module Hil =
    let private hex (b: byte[]) =
        Convert.ToHexString(b).ToLowerInvariant()

    /// The first index where two outputs differ.
    let firstDifference (device: sbyte[]) (host: sbyte[]) : int option =
        if device.Length <> host.Length then
            Some(min device.Length host.Length)
        else
            Seq.zip device host |> Seq.tryFindIndex (fun (a, b) -> a <> b)

    /// Flashes a real board with openocd.
    let private flashOpenOcd (config: string) (elf: string) =
        match Proc.which "openocd" with
        | None ->
            raise (HilFailure "openocd is not installed (Debian: apt-get install --no-install-recommends openocd)")
        | Some _ ->
            let args = [ "-f"; config; "-c"; $"program {elf} verify reset exit" ]
            let r = Proc.run "openocd" args None (TimeSpan.FromMinutes 2.0)

            if r.ExitCode <> 0 then
                let command = Proc.show "openocd" args
                raise (HilFailure $"flashing failed: {command}\n{r.Stderr}")

    /// Builds the firmware, starts or flashes the board, checks the handshake and streams every input,
    /// comparing the device's output with the C# runtime bit for bit.
    let run (o: HilOptions) : HilReport =
        let inputSize = o.Model.Input.Size

        o.Inputs
        |> Array.iteri (fun i x ->
            if x.Length <> inputSize then
                raise (HilFailure $"input {i} has {x.Length} bytes; the model takes {inputSize} ({o.Model.Input})"))

        let firmware =
            try
                match o.Firmware with
                | Some elf -> Firmware.ofElf o.Board o.Kernels o.Model elf
                | None -> Firmware.build o.Cache o.Board o.Kernels o.Model
            with e ->
                raise (HilFailure e.Message)

        let qemu, transport =
            match o.Board.Run with
            | Qemu(machine, serial) ->
                let q = Qemu.start machine serial firmware.Elf
                let t = Transport.Open($"unix:{q.SocketPath}")
                Some q, t
            | OpenOcd(config, port) ->
                if not o.NoFlash then
                    flashOpenOcd config firmware.Elf

                None, Transport.Open(defaultArg o.Port port)

        let cause (e: exn) =
            let q = qemu |> Option.bind (fun q -> q.ExitDescription)

            match q with
            | Some why -> $"{e.Message} ({why})"
            | None -> e.Message

        try
            // The finally below owns the transport (it also closes it when the handshake never starts).
            use client = new DeviceClient(transport, false)

            let info =
                try
                    // QEMU and USB serial ports may lose the first bytes: retry HELLO in short attempts.
                    let attempts = max 1 (int (o.HelloTimeout.TotalMilliseconds / 250.0))
                    client.Hello(TimeSpan.FromMilliseconds 250.0, attempts)
                with e ->
                    raise (
                        HilFailure
                            $"no answer from {o.Board.Name} to HELLO within {o.HelloTimeout.TotalSeconds:F0} s: {cause e}"
                    )

            if hex info.ModelHash <> firmware.ModelHash then
                raise (
                    HilFailure
                        $"refused: the firmware on {o.Board.Name} runs model {hex info.ModelHash}, expected {firmware.ModelHash}"
                )

            let host = new Runner(o.Model, KernelMode.Optimized)
            let work = Collections.Generic.List<int64>()
            let mismatched = Collections.Generic.List<int>()
            let mutable first: Divergence option = None
            let mutable correct = 0
            let sw = Stopwatch.StartNew()
            let bytes0 = client.BytesSent + client.BytesReceived

            let toWork (ticks: uint32) =
                // instructions = ticks * 1e9 / f (QEMU -icount); cycles = ticks * clock / f (silicon)
                let perSecond =
                    if info.WorkUnit = WorkUnit.Instructions then
                        1e9
                    else
                        float info.CoreClockHz

                int64 (Math.Round(float ticks * perSecond / float info.TicksPerSecond))

            for i in 0 .. o.Inputs.Length - 1 do
                let input = o.Inputs[i]
                let expected = host.Run input

                let output, ticks =
                    try
                        let r = client.Infer input
                        r.Output, r.Ticks
                    with e ->
                        raise (HilFailure $"sample {i}: {cause e}")

                work.Add(toWork ticks)

                match o.Labels with
                | Some labels when Runner.Argmax(ReadOnlySpan<sbyte> output) = labels[i] -> correct <- correct + 1
                | _ -> ()

                match firstDifference output expected with
                | None -> ()
                | Some element ->
                    mismatched.Add i

                    if first.IsNone then
                        // Find the first layer that differs, so the report points at a kernel, not at the logits.
                        let hostLayers = host.RunLayers input

                        let layerDiff =
                            try
                                seq { 0 .. o.Model.Layers.Length - 1 }
                                |> Seq.tryPick (fun l ->
                                    let d = client.Layer l

                                    let h = hostLayers[l]
                                    let at (xs: sbyte[]) e = if e < xs.Length then int xs[e] else 0

                                    firstDifference d h
                                    |> Option.map (fun e -> (l, o.Model.Layers[l].Name), e, at d e, at h e))
                            with e ->
                                raise (HilFailure $"sample {i}: fetching layer outputs failed: {cause e}")

                        first <-
                            match layerDiff with
                            | Some(layer, e, d, h) ->
                                Some {
                                    Sample = i
                                    Layer = Some layer
                                    Element = e
                                    Device = d
                                    Host = h
                                }
                            | None ->
                                Some {
                                    Sample = i
                                    Layer = None
                                    Element = element
                                    Device = (if element < output.Length then int output[element] else 0)
                                    Host =
                                        (if element < expected.Length then
                                             int expected[element]
                                         else
                                             0)
                                }

                o.Progress(i + 1)

            let elapsed = sw.Elapsed.TotalSeconds
            let bytes = client.BytesSent + client.BytesReceived - bytes0

            {
                Board = o.Board.Name
                Kernels = o.Kernels.Name
                Weights = o.Weights
                ModelHash = firmware.ModelHash
                FirmwareHash = hex info.FirmwareHash
                Samples = o.Inputs.Length
                Mismatches = mismatched.Count
                MismatchedSamples = List.ofSeq mismatched
                FirstDivergence = first
                WorkUnit =
                    (if info.WorkUnit = WorkUnit.Instructions then
                         "instructions"
                     else
                         "cycles")
                Work = Report.workStats (List.ofSeq work)
                Accuracy = o.Labels |> Option.map (fun _ -> float correct / float o.Inputs.Length)
                FlashBytes = firmware.FlashBytes
                RamBytes = firmware.RamBytes
                ArenaBytes = firmware.ArenaBytes
                LinkBytesPerSecond = (if elapsed > 0.0 then float bytes / elapsed else 0.0)
                ElapsedSeconds = elapsed
                FirmwareCached = firmware.Cached
            }
        finally
            transport.Dispose()
            qemu |> Option.iter (fun q -> (q :> IDisposable).Dispose())
