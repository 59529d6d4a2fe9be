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
    /// Float samples (HWC, the model's input size); the rig quantizes them on the model's input grid.
    Inputs: float32[][]
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

/// Split inference on the device: layers 0..Split-1 and the feature-map encoder run there, the rest on the host.
type SplitOptions = {
    /// K: the device runs layers 0..K-1 and sends layer K-1's output as a codec stream.
    Split: int
    Codec: CodecOptions
}

/// A HIL run that could not finish: the message names the sample (if any) and the cause.
exception HilFailure of string

/// The serial port of a real board cannot be opened or reached: a user mistake (a wrong --port, the board or its
/// bridge not there), told apart from a failure of the run.
exception HilBadPort of string

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

    /// Where a device's output departs from the host's, if it does. With search, the layers are compared in order
    /// (hostLayers and deviceLayer give each layer's output) so the divergence names the first layer and element that
    /// differ, pointing at a kernel rather than at the logits; without search, or if every layer agrees, it names the
    /// element of the output.
    let divergence
        (sample: int)
        (names: string[])
        (device: sbyte[])
        (host: sbyte[])
        (hostLayers: unit -> sbyte[][])
        (deviceLayer: int -> sbyte[])
        (search: bool)
        : Divergence option =
        let at (xs: sbyte[]) e = if e < xs.Length then int xs[e] else 0

        match firstDifference device host with
        | None -> None
        | Some element ->
            let layerDiff =
                if search then
                    let h = hostLayers ()

                    seq { 0 .. names.Length - 1 }
                    |> Seq.tryPick (fun l ->
                        let d = deviceLayer l

                        firstDifference d h[l]
                        |> Option.map (fun e -> (l, names[l]), e, at d e, at h[l] e))
                else
                    None

            match layerDiff with
            | Some(layer, e, d, h) ->
                Some {
                    Sample = sample
                    Layer = Some layer
                    Element = e
                    Device = d
                    Host = h
                }
            | None ->
                Some {
                    Sample = sample
                    Layer = None
                    Element = element
                    Device = at device element
                    Host = at host element
                }

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

    /// The firmware started (QEMU) or flashed, a client that passed the handshake, then body; everything is
    /// closed on every path. body gets the client, the device's INFO and a describer of failures.
    let private session
        (o: HilOptions)
        (firmware: FirmwareImage)
        (body: DeviceClient -> InfoMessage -> (exn -> string) -> 'a)
        : 'a =
        let qemu, transport =
            match o.Board.Run with
            | Qemu(machine, serial) ->
                let q =
                    try
                        Qemu.start machine serial firmware.Elf
                    with Failure msg ->
                        raise (HilFailure msg)

                try
                    Some q, Transport.Open($"unix:{q.SocketPath}")
                with e ->
                    // QEMU dies before the client connects when the firmware cannot run (another board's ELF
                    // locks up at once): its own last words say why, the refused connection does not.
                    let why =
                        q.WaitExitDescription(TimeSpan.FromSeconds 2.0)
                        |> Option.defaultValue "QEMU still runs"

                    (q :> IDisposable).Dispose()
                    raise (HilFailure $"{o.Board.Name}: cannot reach the firmware's UART ({e.Message}); {why}")
            | OpenOcd(config, port) ->
                if not o.NoFlash then
                    flashOpenOcd config firmware.Elf

                let spec, which =
                    match o.Port with
                    | Some p -> p, $"--port {p}"
                    | None -> port, $"port {port} (board {o.Board.Name}'s default; give --port)"

                try
                    None, Transport.Open spec
                with
                | :? TimeoutException as e -> raise (HilFailure $"{which}: {e.Message}")
                | :? FormatException
                | :? TransportClosedException
                | :? IO.IOException
                | :? UnauthorizedAccessException
                | :? Net.Sockets.SocketException as e ->
                    let reason =
                        match e.InnerException with
                        | :? Net.Sockets.SocketException as s -> $"connect failed: {s.SocketErrorCode}"
                        | _ -> e.Message

                    raise (HilBadPort $"{which}: cannot open it: {reason}")

        let cause (e: exn) =
            // A firmware that cannot run makes QEMU die while the client talks: wait a moment for its last words.
            let q =
                qemu |> Option.bind (fun q -> q.WaitExitDescription(TimeSpan.FromSeconds 1.0))

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

            body client info cause
        finally
            transport.Dispose()
            qemu |> Option.iter (fun q -> (q :> IDisposable).Dispose())

    /// Work ticks in the device's unit: instructions = ticks * 1e9 / f (QEMU -icount); cycles = ticks * clock / f.
    let private toWork (info: InfoMessage) (ticks: uint32) : int64 =
        let perSecond =
            if info.WorkUnit = WorkUnit.Instructions then
                1e9
            else
                float info.CoreClockHz

        int64 (Math.Round(float ticks * perSecond / float info.TicksPerSecond, MidpointRounding.AwayFromZero))

    let private checkInputs (o: HilOptions) =
        let inputSize = o.Model.Input.Size

        o.Inputs
        |> Array.iteri (fun i x ->
            if x.Length <> inputSize then
                raise (HilFailure $"input {i} has {x.Length} values; the model takes {inputSize} ({o.Model.Input})"))

    /// The int8 codes the device receives: the float inputs on the model's input grid.
    let private quantized (o: HilOptions) : sbyte[][] =
        checkInputs o
        Lower.quantizeSamples o.Model o.Inputs

    /// Profiles the layers on the device: the input of the sample whose work is the run's median goes to the
    /// device again, then PROFILE times every prefix of layers on it; the firmware's ELF says what flash each owns.
    let private profileLayers
        (o: HilOptions)
        (inputs: sbyte[][])
        (firmware: FirmwareImage)
        (client: DeviceClient)
        (info: InfoMessage)
        (cause: exn -> string)
        (work: int64 list)
        : ProfileReport =
        let median = Report.median work
        let sample = work |> List.findIndex (fun w -> w = median)
        let wpt = Profile.workPerTick info.WorkUnit info.CoreClockHz info.TicksPerSecond
        let repeats = Profile.repeats wpt median
        let before = client.ReplyTimeout

        let data =
            try
                try
                    client.Infer inputs[sample] |> ignore
                    // R runs of every prefix: about R x layers / 2 inferences
                    client.ReplyTimeout <- max before (TimeSpan.FromMinutes 5.0)
                    client.Profile repeats
                with e ->
                    raise (HilFailure $"profiling sample {sample}: {cause e}")
            finally
                client.ReplyTimeout <- before

        let map =
            try
                FirmwareMap.read firmware.Elf o.Model
            with e ->
                raise (HilFailure $"reading {firmware.Elf}: {e.Message}")

        Profile.build o.Model info.WorkUnit o.Board.ClockHz wpt data map sample median

    /// Streams every input to a device that passed the handshake (info) and compares its output with the C#
    /// runtime bit for bit, searching the layers for the first divergence; with profile, also each layer's cost.
    /// cause describes a failure of the link.
    /// The report a whole or a split run ends with, from what the run counted and timed.
    let private summary
        (o: HilOptions)
        (firmware: FirmwareImage)
        (info: InfoMessage)
        (samples: int)
        (mismatched: Collections.Generic.List<int>)
        (first: Divergence option)
        (work: Collections.Generic.List<int64>)
        (accuracy: float)
        (bytes: int64)
        (elapsed: float)
        (outputs: sbyte[][])
        : HilReport = {
        Board = o.Board.Name
        Kernels = o.Kernels.Name
        Weights = o.Weights
        ModelHash = firmware.ModelHash
        FirmwareHash = hex info.FirmwareHash
        Samples = samples
        Mismatches = mismatched.Count
        MismatchedSamples = List.ofSeq mismatched
        FirstDivergence = first
        WorkUnit =
            (if info.WorkUnit = WorkUnit.Instructions then
                 "instructions"
             else
                 "cycles")
        Work = Report.workStats (List.ofSeq work)
        Accuracy = o.Labels |> Option.map (fun _ -> accuracy)
        FlashBytes = firmware.FlashBytes
        RamBytes = firmware.RamBytes
        ArenaBytes = firmware.ArenaBytes
        LinkBytesPerSecond = (if elapsed > 0.0 then float bytes / elapsed else 0.0)
        ElapsedSeconds = elapsed
        FirmwareCached = firmware.Cached
        Outputs = outputs
    }

    let runOn
        (o: HilOptions)
        (firmware: FirmwareImage)
        (profile: bool)
        (client: DeviceClient)
        (info: InfoMessage)
        (cause: exn -> string)
        : HilReport * ProfileReport option =
        let inputs = quantized o
        let host = new Runner(o.Model, KernelMode.Optimized)
        let names = o.Model.Layers |> Seq.map (fun l -> l.Name) |> Array.ofSeq
        let work = Collections.Generic.List<int64>()
        let outputs = Array.zeroCreate<sbyte[]> inputs.Length
        let mismatched = Collections.Generic.List<int>()
        let mutable first: Divergence option = None
        let mutable correct = 0
        let sw = Stopwatch.StartNew()
        let bytes0 = client.BytesSent + client.BytesReceived

        for i in 0 .. inputs.Length - 1 do
            let input = inputs[i]
            let expected = host.Run input

            let output, ticks =
                try
                    let r = client.Infer input
                    r.Output, r.Ticks
                with e ->
                    raise (HilFailure $"sample {i}: {cause e}")

            work.Add(toWork info ticks)
            outputs[i] <- output

            match o.Labels with
            | Some labels when Runner.Argmax(ReadOnlySpan<sbyte> output) = labels[i] -> correct <- correct + 1
            | _ -> ()

            match
                divergence
                    i
                    names
                    output
                    expected
                    (fun () -> host.RunLayers input)
                    (fun l ->
                        try
                            client.Layer l
                        with e ->
                            raise (HilFailure $"sample {i}: fetching layer outputs failed: {cause e}"))
                    (first.IsNone)
            with
            | None -> ()
            | Some d ->
                mismatched.Add i

                if first.IsNone then
                    first <- Some d

            o.Progress(i + 1)

        let elapsed = sw.Elapsed.TotalSeconds
        let bytes = client.BytesSent + client.BytesReceived - bytes0

        let layers =
            if profile && work.Count > 0 then
                Some(profileLayers o inputs firmware client info cause (List.ofSeq work))
            else
                None

        summary
            o
            firmware
            info
            inputs.Length
            mismatched
            first
            work
            (float correct / float inputs.Length)
            bytes
            elapsed
            outputs,
        layers

    /// Builds the firmware, starts or flashes the board, checks the handshake and streams every input,
    /// comparing the device's output with the C# runtime bit for bit; with profile, also each layer's cost.
    let runProfiled (o: HilOptions) (profile: bool) : HilReport * ProfileReport option =
        checkInputs o

        let firmware =
            try
                match o.Firmware with
                | Some elf -> Firmware.ofElf o.Board o.Kernels o.Model elf
                | None -> Firmware.build o.Cache o.Board o.Kernels o.Model
            with e ->
                raise (HilFailure e.Message)

        session o firmware (fun client info cause -> runOn o firmware profile client info cause)

    /// Builds the firmware, starts or flashes the board, checks the handshake and streams every input,
    /// comparing the device's output with the C# runtime bit for bit.
    let run (o: HilOptions) : HilReport = fst (runProfiled o false)

    /// Split inference: streams the inputs in order; the device runs layers 0..K-1 and encodes their output (groups
    /// of the prediction, the last shorter group intra), the host compares each stream with its own encoder's on its
    /// own prefix output, decodes it, finishes with the C# runtime and compares with unsplit inference.
    let runSplit (o: HilOptions) (split: SplitOptions) : HilReport * SplitReport =
        let inputs = quantized o
        let layers = o.Model.Layers.Length

        if split.Split < 1 || split.Split > layers then
            raise (HilFailure $"--split {split.Split}: must be in 1..{layers} (the model has {layers} layers)")

        if not (o.Model.CanSplitAt split.Split) then
            raise (
                HilFailure $"--split {split.Split}: inside a residual block, whose add still needs the block's input"
            )

        let k = split.Split
        let feature = o.Model.Layers[k - 1].Output
        let zero = snd (Lower.outputGrid o.Model (k - 1))
        let codec = split.Codec
        let group = Codec.groupSize codec.Prediction

        match Codec.encode codec zero feature (Array.init group (fun _ -> Array.zeroCreate feature.Size)) with
        | Error e -> raise (HilFailure $"codec settings for {feature}: {e}")
        | Ok _ -> ()

        let firmware =
            try
                match o.Firmware with
                | Some elf -> Firmware.ofElf o.Board o.Kernels o.Model elf
                | None -> Firmware.buildWith o.Cache o.Board o.Kernels o.Model feature.Size
            with e ->
                raise (HilFailure e.Message)

        session o firmware (fun client info cause ->
            let ready =
                try
                    client.Split(k, feature, zero, CodecOptionBytes.ofOptions codec)
                with e ->
                    raise (
                        HilFailure
                            $"the device refused split {k} ({feature}, {codec.Prediction} {codec.Entropy} N={codec.Bits}): {cause e}"
                    )

            if int ready.FeatureBytes <> feature.Size || int ready.GroupSize <> group then
                raise (
                    HilFailure
                        $"the device's split {k} has {ready.FeatureBytes}-byte features in groups of {ready.GroupSize}; the host expects {feature.Size} in groups of {group}"
                )

            let host = new Runner(o.Model, KernelMode.Optimized)
            let n = inputs.Length
            let prefixWork = Collections.Generic.List<int64>()
            let encoderWork = Collections.Generic.List<int64>()
            let mismatched = Collections.Generic.List<int>()
            let streamBytes = ref 0L
            let groups = ref 0
            let mutable first: Divergence option = None
            let mutable agree = 0
            let mutable maxDiff = 0
            let mutable correct = 0
            let mutable correctUnsplit = 0
            let outputs = Array.zeroCreate<sbyte[]> n
            // Frames of the current group: index, host prefix output, unsplit logits.
            let pending = Collections.Generic.List<int * sbyte[] * sbyte[]>()
            let sw = Stopwatch.StartNew()
            let bytes0 = client.BytesSent + client.BytesReceived

            let finishGroup (f: FeaturesMessage) =
                let frames = pending.ToArray()
                pending.Clear()

                if int f.Frames <> frames.Length then
                    raise (HilFailure $"the device coded {f.Frames} frames; the host holds {frames.Length}")

                groups.Value <- groups.Value + 1
                streamBytes.Value <- streamBytes.Value + int64 f.Piece.Length
                let perFrame = toWork info f.EncoderTicks / int64 frames.Length

                for _ in frames do
                    encoderWork.Add perFrame

                let options =
                    if frames.Length = group then
                        codec
                    else
                        {
                            codec with
                                Prediction = Intra
                                Residual = false
                        }

                let hostStream =
                    match Codec.encode options zero feature (frames |> Array.map (fun (_, x, _) -> x)) with
                    | Ok e -> e.Stream
                    | Error e -> raise (HilFailure $"host encoder: {e}")

                let same = hostStream = f.Piece

                if not same then
                    for i, _, _ in frames do
                        mismatched.Add i

                    if first.IsNone then
                        let i0, _, _ = frames[0]
                        let e = firstDifference (Array.map sbyte f.Piece) (Array.map sbyte hostStream)
                        let element = defaultArg e 0

                        let at (xs: byte[]) =
                            if element < xs.Length then int xs[element] else -1

                        first <-
                            Some {
                                Sample = i0
                                Layer = Some(k - 1, $"{o.Model.Layers[k - 1].Name} (codec stream byte)")
                                Element = element
                                Device = at f.Piece
                                Host = at hostStream
                            }

                // The host finishes on the device's stream (whatever it holds, if it decodes).
                let decoded =
                    match Codec.decode f.Piece with
                    | Ok d -> d.Frames
                    | Error e ->
                        raise (
                            HilFailure
                                $"sample {(let i, _, _ = frames[0] in i)}: the device's stream does not decode: {Codec.describe e}"
                        )

                frames
                |> Array.iteri (fun j (i, _, unsplit) ->
                    let out = host.RunSuffix(k, ReadOnlySpan<sbyte> decoded[j])
                    let top = Runner.Argmax(ReadOnlySpan<sbyte> out)
                    outputs[i] <- out

                    if top = Runner.Argmax(ReadOnlySpan<sbyte> unsplit) then
                        agree <- agree + 1

                    for c in 0 .. out.Length - 1 do
                        maxDiff <- max maxDiff (abs (int out[c] - int unsplit[c]))

                    match o.Labels with
                    | Some labels ->
                        if top = labels[i] then
                            correct <- correct + 1

                        if Runner.Argmax(ReadOnlySpan<sbyte> unsplit) = labels[i] then
                            correctUnsplit <- correctUnsplit + 1
                    | None -> ())

            for i in 0 .. n - 1 do
                let input = inputs[i]
                let prefix = host.RunPrefix(input, k)
                let unsplit = host.Run input
                pending.Add((i, prefix, unsplit))

                let f =
                    try
                        client.InferSplit input
                    with e ->
                        raise (HilFailure $"sample {i}: {cause e}")

                prefixWork.Add(toWork info f.InferTicks)

                if f.Frames > 0uy then
                    finishGroup f
                elif pending.Count >= group then
                    raise (HilFailure $"sample {i}: the device coded nothing after a whole group")

                o.Progress(i + 1)

            // End of the stream: the device codes what it still holds.
            let tail =
                try
                    client.InferSplit [||]
                with e ->
                    raise (HilFailure $"end of stream: {cause e}")

            if tail.Frames > 0uy || pending.Count > 0 then
                finishGroup tail

            let elapsed = sw.Elapsed.TotalSeconds
            let bytes = client.BytesSent + client.BytesReceived - bytes0

            let frac (x: int) =
                if n > 0 then float x / float n else 0.0

            let report =
                summary o firmware info n mismatched first prefixWork (frac correct) bytes elapsed outputs

            let splitReport = {
                Split = k
                Layer = o.Model.Layers[k - 1].Name
                Feature = feature
                Codec = codec
                Groups = groups.Value
                Mismatches = mismatched.Count
                WireBytesPerFrame = (if n > 0 then float streamBytes.Value / float n else 0.0)
                LinkBytesPerFrame = (if n > 0 then float bytes / float n else 0.0)
                Int8BytesPerFrame = feature.Size
                Top1Agreement = frac agree
                MaxOutputDifference = maxDiff
                EncoderWork = Report.workStats (List.ofSeq encoderWork)
                UnsplitAccuracy = o.Labels |> Option.map (fun _ -> frac correctUnsplit)
            }

            report, splitReport)
