module Tern.Tests.TransportTests

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Threading
open Expecto
open Tern.Runtime
open Tern.Runtime.Protocol
open Tern.Runtime.Transports

/// A path for a Unix socket: short, directly in the temporary folder (socket paths must stay under 108 bytes).
let private socketPath () =
    Path.Combine(Path.GetTempPath(), $"tern-{Guid.NewGuid():N}".Substring(0, 17) + ".sock")

/// A connected (client, server) pair of transports over loopback; the server side is an accepted socket.
let private socketPair (kind: TransportKind) : ITransport * ITransport =
    match kind with
    | TransportKind.Tcp ->
        use listener =
            new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)

        listener.Bind(IPEndPoint(IPAddress.Loopback, 0))
        listener.Listen 1
        let port = (listener.LocalEndPoint :?> IPEndPoint).Port
        let client = Transport.Open($"tcp:127.0.0.1:{port}", TimeSpan.FromSeconds 2.0)
        client, new SocketTransport(listener.Accept(), "test-server") :> ITransport
    | _ ->
        let path = socketPath ()

        use listener =
            new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)

        listener.Bind(UnixDomainSocketEndPoint path)
        listener.Listen 1

        try
            let client = Transport.Open("unix:" + path, TimeSpan.FromSeconds 2.0)
            client, new SocketTransport(listener.Accept(), "test-server") :> ITransport
        finally
            // Connected sockets outlive their name.
            File.Delete path

/// Reads exactly n bytes (looping over partial reads) within the timeout.
let private readExactly (t: ITransport) (n: int) (timeout: TimeSpan) : byte[] =
    let buf = Array.zeroCreate<byte> n
    let sw = Stopwatch.StartNew()
    let mutable got = 0

    while got < n do
        let left = timeout - sw.Elapsed

        got <-
            got
            + t.Read(
                Span(buf, got, n - got),
                (if left > TimeSpan.Zero then
                     left
                 else
                     TimeSpan.FromMilliseconds 1.0),
                $"{n} bytes"
            )

    buf

/// The exception `f` throws, failing the test when it throws none or one of another type.
let private throwsOf<'e when 'e :> exn> (what: string) (f: unit -> unit) : 'e =
    let e = Expect.throwsC f id

    match e with
    | :? 'e as e -> e
    | other -> failtest $"{what}: expected {typeof<'e>.Name}, got {other.GetType().Name}: {other.Message}"

let private allBytes = Array.init 256 byte

/// A fake device speaking protocol v1 over its end of a line: a 2x2x3 input, a 1x1x4 output and three layers whose
/// outputs are functions of the last input.
type private FakeDevice(transport: ITransport, maxBody: int) =
    let inputSize = 12
    let layerSizes = [| 50; 300; 4 |]
    let mutable running = true
    let mutable lastInput: sbyte[] option = None
    let mutable hellos = 0

    static member LayerOutput (input: sbyte[]) (index: int) (total: int) : sbyte[] =
        Array.init total (fun k -> sbyte ((k * 7 + index * 13 + int input[k % input.Length]) % 256))

    static member Output(input: sbyte[]) : sbyte[] = FakeDevice.LayerOutput input 2 4

    static member Info(maxBody: int) : InfoMessage =
        InfoMessage(
            1uy,
            "fake-board",
            25_000_000u,
            WorkUnit.Instructions,
            25_000_000u,
            Array.init 32 byte,
            Array.init 32 (fun i -> byte (255 - i)),
            4096u,
            Shape3(2, 2, 3),
            Shape3(1, 1, 4),
            3us,
            "reference",
            uint32 maxBody
        )

    /// Send garbage, a stale INFO, an unidentified ERROR and drop the first HELLO before answering.
    member val Garbage = false with get, set
    /// Close the connection when this request arrives.
    member val VanishOn: MessageType option = None with get, set
    /// Never answer this request.
    member val IgnoreType: MessageType option = None with get, set

    member private this.Reply (seq: uint16) (m: IMessage) =
        transport.Write(ReadOnlySpan(Frame.Encode(m, seq)))

    member private this.Handle(p: Packet) =
        let err code detail =
            this.Reply p.Sequence (ErrorMessage(code, detail))

        if this.VanishOn = Some p.Type then
            running <- false
            transport.Dispose()
        elif this.IgnoreType = Some p.Type then
            ()
        else
            match p.Type with
            | MessageType.Hello ->
                hellos <- hellos + 1

                if this.Garbage && hellos = 1 then
                    // The first HELLO is "lost"; the line carries noise instead.
                    let noise = [|
                        yield! [| 0x13uy; 0x11uy; 0x42uy; 0x00uy; 0x07uy |]
                        yield! (Frame.Encode(FakeDevice.Info maxBody, 0x7777us))[..8] // a partial frame
                        yield 0uy
                        yield! Frame.Encode(FakeDevice.Info maxBody, 0x7777us) // a stale reply
                        yield! Frame.Encode(ErrorMessage(ErrorCode.BadCrc, 0u), Wire.UnknownSequence)
                        yield! [| 0xFFuy; 0x01uy; 0x02uy |] // no delimiter: merges with the next frame
                    |]

                    transport.Write(ReadOnlySpan noise)
                else
                    this.Reply p.Sequence (FakeDevice.Info maxBody)
            | MessageType.Infer ->
                if p.Body.Length <> inputSize then
                    err ErrorCode.BadInputSize (uint32 inputSize)
                else
                    let input = InferMessage.Parse(ReadOnlySpan p.Body).Input
                    lastInput <- Some input

                    this.Reply
                        p.Sequence
                        (ResultMessage(uint32 (Array.sumBy int input &&& 0xFFFF), FakeDevice.Output input))
            | MessageType.Layer ->
                try
                    let l = LayerMessage.Parse(ReadOnlySpan p.Body)

                    match lastInput with
                    | None -> err ErrorCode.NoInference 0u
                    | Some _ when int l.Index >= layerSizes.Length -> err ErrorCode.BadLayer (uint32 layerSizes.Length)
                    | Some input ->
                        let total = layerSizes[int l.Index]

                        if int64 l.Offset + int64 l.Count > int64 total || int l.Count > maxBody - 10 then
                            err ErrorCode.BadRange (uint32 total)
                        else
                            let data =
                                (FakeDevice.LayerOutput input (int l.Index) total)[int l.Offset .. int l.Offset
                                                                                                   + int l.Count
                                                                                                   - 1]

                            this.Reply p.Sequence (LayerDataMessage(l.Index, uint32 total, l.Offset, data))
                with :? ProtocolException as e ->
                    err e.Code e.Detail
            | t -> err ErrorCode.BadType (uint32 (byte t))

    /// Answers requests until the host closes the line (or the device vanishes).
    member this.Run() =
        let decoder = FrameDecoder(maxBody)
        let buf = Array.zeroCreate<byte> 1024

        try
            while running do
                let n = transport.Read(Span buf, Timeout.InfiniteTimeSpan, "requests")

                for i in 0 .. n - 1 do
                    if running then
                        let r = decoder.Push buf[i]

                        match r.Status with
                        | DecodeStatus.Frame -> this.Handle r.Packet
                        | DecodeStatus.Error -> this.Reply r.Sequence (ErrorMessage(r.Error, r.Detail))
                        | _ -> ()
        with
        | :? TransportClosedException
        | :? ObjectDisposedException
        | :? IOException -> ()

/// The host end's endpoint of the fake device's line.
let private fakeEndpoint = "fake:device"

/// Runs a fake device on an in-process line for the duration of `body`, which gets a client connected to it.
let private withDevice (maxBody: int) (setup: FakeDevice -> unit) (body: DeviceClient -> unit) =
    let host, line = FakeLine.pair fakeEndpoint
    let device = FakeDevice(line, maxBody)
    setup device
    use _ = FakeLine.serve host line device.Run
    use c = new DeviceClient(host, false)
    body c

/// stty's view of a terminal's settings (its `-a` listing).
let private sttySettings (stty: string) (path: string) : string =
    let psi = ProcessStartInfo(stty, [ "-F"; path; "-a" ])
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    out

/// A socat pty pair (two linked paths in a fresh folder) for the duration of `body`, which also gets the socat process.
let private withPtyPair (body: string -> string -> Process -> unit) =
    let socat = ToolRequirement.find "socat" "socat"
    let dir = Scratch.folder "tern-tty"

    let a = Path.Combine(dir, "ttyA")
    let b = Path.Combine(dir, "ttyB")

    let psi =
        ProcessStartInfo(socat, [ "pty,raw,echo=0,link=" + a; "pty,raw,echo=0,link=" + b ])

    psi.RedirectStandardError <- true
    psi.RedirectStandardOutput <- true
    let p = Process.Start psi

    try
        let sw = Stopwatch.StartNew()

        while not (File.Exists a && File.Exists b) && sw.Elapsed < TimeSpan.FromSeconds 5.0 do
            Thread.Sleep 10

        Expect.isTrue (File.Exists a && File.Exists b) "socat made no ptys"
        body a b p
    finally
        if not p.HasExited then
            p.Kill true
            p.WaitForExit()

        p.Dispose()

let private specs = [
    "tty:/dev/ttyACM0", "Tty", "/dev/ttyACM0", 0, 115200
    "tty:/dev/ttyACM0@921600", "Tty", "/dev/ttyACM0", 0, 921600
    "/dev/pts/3", "Tty", "/dev/pts/3", 0, 115200
    "/dev/ttyUSB1@9600", "Tty", "/dev/ttyUSB1", 0, 9600
    "tcp:127.0.0.1:4444", "Tcp", "127.0.0.1", 4444, 0
    "tcp:localhost:1", "Tcp", "localhost", 1, 0
    "tcp:[::1]:65535", "Tcp", "::1", 65535, 0
    "unix:/tmp/qemu serial.sock", "Unix", "/tmp/qemu serial.sock", 0, 0
]

let private badSpecs = [
    ""
    "serial:/dev/ttyACM0"
    "tcp:host"
    "tcp::80"
    "tcp:host:0"
    "tcp:host:70000"
    "tcp:host:port"
    "unix:"
    "tty:@115200"
    "tty:/dev/ttyACM0@fast"
    "ttyACM0"
]

let private socketKinds = [ TransportKind.Tcp; TransportKind.Unix ]

let private dir = lazy (Scratch.folder "tern-tr")

[<Tests>]
let tests =
    testSequenced
    <| testList "TransportTests" [
        // ---- specs ----

        testList "transport specs parse" [
            for spec, kind, target, port, baud in specs ->
                testCase $"{spec}"
                <| fun () ->
                    let s = TransportSpec.Parse spec
                    Expect.equal (string s.Kind, s.Target, s.Port, s.Baud) (kind, target, port, baud) "the parsed parts"
                    Expect.equal (TransportSpec.Parse(string s)) s "the canonical form parses back"
        ]

        testList "bad transport specs are refused with the accepted forms" [
            for spec in badSpecs ->
                testCase $"\"{spec}\""
                <| fun () ->
                    let e =
                        throwsOf<FormatException> spec (fun () -> TransportSpec.Parse spec |> ignore)

                    Expect.stringContains e.Message "tcp:HOST:PORT" "the message names the accepted forms"
        ]

        // ---- sockets ----

        testList "every byte value passes both ways" [
            for kind in socketKinds ->
                testCase $"{kind}"
                <| fun () ->
                    let client, server = socketPair kind
                    use client = client
                    use server = server
                    client.Write(ReadOnlySpan allBytes)

                    Expect.equal
                        (readExactly server 256 (TimeSpan.FromSeconds 2.0))
                        allBytes
                        "the server reads every byte the client wrote"

                    let back = Array.rev allBytes
                    server.Write(ReadOnlySpan back)

                    Expect.equal
                        (readExactly client 256 (TimeSpan.FromSeconds 2.0))
                        back
                        "the client reads every byte the server wrote"
        ]

        testList "a peer closing mid-read is reported at once" [
            for kind in socketKinds ->
                testCase $"{kind}"
                <| fun () ->
                    let client, server = socketPair kind
                    use client = client
                    let closer = Threading.Tasks.Task.Delay(150).ContinueWith(fun _ -> server.Dispose())
                    let sw = Stopwatch.StartNew()

                    let e =
                        throwsOf<TransportClosedException> "a read while the peer closes" (fun () ->
                            client.Read(Span(Array.zeroCreate 16), TimeSpan.FromSeconds 5.0, "a reply")
                            |> ignore)

                    closer.Wait()
                    Expect.isLessThan sw.ElapsedMilliseconds 650L "reported within 500 ms of the close"
                    Expect.stringContains e.Message client.Endpoint "the message names the endpoint"
                    Expect.equal e.Endpoint client.Endpoint "the exception's endpoint"
        ]

        testList "a read with nothing arriving times out at its deadline" [
            for kind in socketKinds ->
                testCase $"{kind}"
                <| fun () ->
                    let client, server = socketPair kind
                    use client = client
                    use server = server
                    let sw = Stopwatch.StartNew()

                    let e =
                        throwsOf<TimeoutException> "a read with nothing arriving" (fun () ->
                            client.Read(Span(Array.zeroCreate 16), TimeSpan.FromMilliseconds 200.0, "the INFO reply")
                            |> ignore)

                    Expect.isGreaterThanOrEqual sw.ElapsedMilliseconds 190L "not before the deadline"
                    Expect.isLessThanOrEqual sw.ElapsedMilliseconds 900L "soon after the deadline"
                    Expect.stringContains e.Message "the INFO reply" "the message names what was awaited"
                    Expect.stringContains e.Message client.Endpoint "the message names the endpoint"
        ]

        testCase "connecting to nobody is a transport-closed error naming the endpoint"
        <| fun () ->
            let port =
                use l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
                l.Bind(IPEndPoint(IPAddress.Loopback, 0))
                (l.LocalEndPoint :?> IPEndPoint).Port

            let e =
                throwsOf<TransportClosedException> "a TCP connect to nobody" (fun () ->
                    Transport.Open($"tcp:127.0.0.1:{port}") |> ignore)

            Expect.equal e.Endpoint $"tcp:127.0.0.1:{port}" "the exception's endpoint"
            let missing = socketPath ()

            throwsOf<TransportClosedException> "a Unix connect to a missing socket" (fun () ->
                Transport.Open("unix:" + missing) |> ignore)
            |> ignore

        // ---- tty over a socat pty pair ----

        testCase "tty: raw mode passes every byte both ways, and a vanished peer is reported at once"
        <| fun () ->
            let stty = ToolRequirement.find "stty" "coreutils"

            withPtyPair (fun a b p ->
                use ta = Transport.Open("tty:" + a)
                use tb = Transport.Open($"tty:{b}@115200")
                Expect.equal ta.Endpoint $"tty:{a}@115200" "the endpoint names the device and its default rate"
                // The settings the port was opened with, as the terminal holds them: raw 8N1 at 115200 baud, no flow
                // control, no newline or carriage-return translation either way, no echo, no signals.
                let settings = sttySettings stty a

                for flag in
                    [
                        "speed 115200 baud"
                        "cs8"
                        "-parenb"
                        "-cstopb"
                        "-crtscts"
                        "-ixon"
                        "-ixoff"
                        "-icrnl"
                        "-inlcr"
                        "-igncr"
                        "-istrip"
                        "-opost"
                        "-icanon"
                        "-isig"
                        "-echo"
                        "min = 1"
                    ] do
                    Expect.isMatch
                        settings
                        $"(^|[\\s;]){Text.RegularExpressions.Regex.Escape flag}([\\s;]|$)"
                        $"stty -a shows {flag}"

                // 0x0A, 0x0D, 0x03, 0x04, 0x11, 0x13 and 0x00 are what a cooked tty would mangle.
                let payload =
                    Array.concat [ allBytes; [| 0x0Auy; 0x0Duy; 0x03uy; 0x11uy; 0x13uy; 0x04uy; 0x00uy |] ]

                ta.Write(ReadOnlySpan payload)

                Expect.equal
                    (readExactly tb payload.Length (TimeSpan.FromSeconds 3.0))
                    payload
                    "every byte arrives unchanged one way"

                let back = Array.rev payload
                tb.Write(ReadOnlySpan back)

                Expect.equal
                    (readExactly ta back.Length (TimeSpan.FromSeconds 3.0))
                    back
                    "every byte arrives unchanged the other way"

                let t0 = Stopwatch.StartNew()

                throwsOf<TimeoutException> "a tty read with nothing arriving" (fun () ->
                    ta.Read(Span(Array.zeroCreate 8), TimeSpan.FromMilliseconds 150.0, "nothing")
                    |> ignore)
                |> ignore

                Expect.isGreaterThanOrEqual t0.ElapsedMilliseconds 140L "the timeout not before its deadline"
                Expect.isLessThanOrEqual t0.ElapsedMilliseconds 900L "the timeout soon after its deadline"
                p.Kill true
                p.WaitForExit()
                let t1 = Stopwatch.StartNew()

                let e =
                    throwsOf<TransportClosedException> "a tty read after the peer vanished" (fun () ->
                        ta.Read(Span(Array.zeroCreate 8), TimeSpan.FromSeconds 5.0, "a reply") |> ignore)

                Expect.isLessThan t1.ElapsedMilliseconds 1000L "the vanished peer reported within a second"
                Expect.stringContains e.Message a "the message names the device")

        testCase
            "tty: a missing device, a folder, a file that is no terminal and an odd baud rate are refused naming the cause"
        <| fun () ->
            let plain = Path.Combine(dir.Value, "plain.txt")
            File.WriteAllText(plain, "not a terminal")

            let refused (spec: string) (cause: string) =
                let e = Expect.throwsC (fun () -> Transport.Open spec |> ignore) id
                Expect.isTrue (e :? IOException) $"{spec}: an IOException, not {e.GetType().Name}: {e.Message}"

                Expect.stringContains
                    e.Message
                    (string (TransportSpec.Parse spec))
                    $"{spec}: the message names the port"

                Expect.stringContains e.Message cause $"{spec}: the message names the cause"

            refused ("tty:" + Path.Combine(dir.Value, "ttyNOPE")) "no such device"
            refused ("tty:" + dir.Value) "a folder, not a terminal"
            refused ("tty:" + plain) "not a terminal"
            refused "tty:/dev/null" "not a terminal"

            withPtyPair (fun a _ _ ->
                refused $"tty:{a}@12345" "baud rate 12345 not supported"
                use t = Transport.Open $"tty:{a}@921600"
                Expect.equal t.Endpoint $"tty:{a}@921600" "a standard rate opens")

        // ---- DeviceClient against a fake device ----

        testCase "hello skips garbage, a stale reply and a lost HELLO, and returns INFO"
        <| fun () ->
            withDevice 8192 (fun d -> d.Garbage <- true) (fun c ->
                let info = c.Hello(TimeSpan.FromMilliseconds 150.0, 20)
                Expect.equal (info.EncodeBody()) ((FakeDevice.Info 8192).EncodeBody()) "the INFO the device sent"
                Expect.isTrue (obj.ReferenceEquals(c.Info, info)) "the client keeps the INFO"
                Expect.isGreaterThanOrEqual c.FramesRejected 1L "the partial frame is rejected"
                Expect.isGreaterThanOrEqual c.FramesSkipped 2L "the stale INFO and the unidentified ERROR"

                Expect.equal
                    c.LastUnidentifiedError
                    (ErrorMessage(ErrorCode.BadCrc, 0u))
                    "the unidentified ERROR is kept"
                // The session works after the noise.
                let input = Array.init 12 (fun i -> sbyte (i * 10 - 60))
                Expect.equal (c.Infer(input).Output) (FakeDevice.Output input) "inference after the noise")

        testCase "infer and layers in pieces; bytes are counted"
        <| fun () ->
            withDevice 64 ignore (fun c ->
                c.Hello() |> ignore
                let input = Array.init 12 (fun i -> sbyte (i * 11 - 70))
                let r = c.Infer input
                Expect.equal r.Output (FakeDevice.Output input) "the output"
                Expect.equal r.Ticks (uint32 (Array.sumBy int input &&& 0xFFFF)) "the ticks"
                Expect.equal c.MaxPiece 54 "MAX_BODY 64 less the LAYER_DATA prefix"
                let sent0, recv0 = c.BytesSent, c.BytesReceived

                for i, total in [ 0, 50; 1, 300; 2, 4 ] do
                    Expect.equal (c.Layer i) (FakeDevice.LayerOutput input i total) $"layer {i}"

                // 300 bytes in 54-byte pieces: a probe and 6 pieces.
                Expect.isGreaterThan (c.BytesSent - sent0) 0L "bytes sent are counted"
                Expect.isGreaterThan (c.BytesReceived - recv0) 354L "bytes received are counted"
                Expect.equal c.FramesRejected 0L "no frame rejected")

        testCase "device ERROR frames become DeviceErrorException with code and detail"
        <| fun () ->
            withDevice 8192 ignore (fun c ->
                c.Hello() |> ignore

                let code (f: unit -> obj) =
                    let e =
                        throwsOf<DeviceErrorException> "a request the device refuses" (fun () -> f () |> ignore)

                    e.Code, e.Detail

                Expect.equal (code (fun () -> c.Layer 0)) (ErrorCode.NoInference, 0u) "LAYER before any inference"

                Expect.equal
                    (code (fun () -> c.Infer(Array.zeroCreate 5)))
                    (ErrorCode.BadInputSize, 12u)
                    "INFER with a wrong input size"

                c.Infer(Array.zeroCreate 12) |> ignore
                Expect.equal (code (fun () -> c.Layer 5)) (ErrorCode.BadLayer, 3u) "LAYER past the last layer"

                Expect.equal
                    (code (fun () -> c.LayerPiece(0, 40u, 20)))
                    (ErrorCode.BadRange, 50u)
                    "a LAYER piece past the layer's end"

                Expect.equal
                    (code (fun () -> c.Request(ResultMessage(0u, [||]), MessageType.Info)))
                    (ErrorCode.BadType, 0x82u)
                    "a request of a type the device does not serve"

                let e =
                    throwsOf<DeviceErrorException> "INFER of one byte" (fun () ->
                        c.Infer(Array.zeroCreate 1) |> ignore)

                Expect.stringContains e.Message "expected size 12" "the message explains the code"
                // The session still works.
                Expect.hasLength (c.Layer 2) 4 "the session still works")

        testCase "bytes after the frame a request awaited stay in the line for the next request"
        <| fun () ->
            let host, device = FakeLine.pair fakeEndpoint
            use device = device
            use c = new DeviceClient(host)
            c.ReplyTimeout <- TimeSpan.FromMilliseconds 500.0
            let input = Array.init 12 (fun i -> sbyte (i * 9 - 50))
            // One write carries the INFO for HELLO (seq 1) and already the RESULT for the INFER to come (seq 2).
            let info = Frame.Encode(FakeDevice.Info 8192, 1us)
            let result = Frame.Encode(ResultMessage(7u, FakeDevice.Output input), 2us)
            device.Write(ReadOnlySpan(Array.append info result))
            Thread.Sleep 100
            c.Hello(TimeSpan.FromSeconds 1.0, 1) |> ignore
            Expect.equal c.BytesReceived (int64 info.Length) "HELLO consumed its INFO and no more"
            Expect.equal (c.Infer(input).Output) (FakeDevice.Output input) "the INFER finds its RESULT already there"

        testCase "a device vanishing mid-request is reported within a second"
        <| fun () ->
            withDevice 8192 (fun d -> d.VanishOn <- Some MessageType.Infer) (fun c ->
                c.Hello() |> ignore
                c.ReplyTimeout <- TimeSpan.FromSeconds 10.0
                let sw = Stopwatch.StartNew()

                let e =
                    throwsOf<TransportClosedException> "INFER to a vanishing device" (fun () ->
                        c.Infer(Array.zeroCreate 12) |> ignore)

                Expect.isLessThan sw.ElapsedMilliseconds 1000L "reported within a second"
                Expect.stringContains e.Message fakeEndpoint "the message names the endpoint")

        testCase "a device that does not answer times out naming the request"
        <| fun () ->
            withDevice 8192 (fun d -> d.IgnoreType <- Some MessageType.Infer) (fun c ->
                c.Hello() |> ignore
                c.ReplyTimeout <- TimeSpan.FromMilliseconds 300.0
                let sw = Stopwatch.StartNew()

                let e =
                    throwsOf<TimeoutException> "INFER nobody answers" (fun () ->
                        c.Infer(Array.zeroCreate 12) |> ignore)

                Expect.isGreaterThanOrEqual sw.ElapsedMilliseconds 290L "not before the reply timeout"
                Expect.isLessThanOrEqual sw.ElapsedMilliseconds 1500L "soon after the reply timeout"
                Expect.stringContains e.Message "Result for Infer seq" "the message names the request")

        testCase "hello gives up with a timeout when nobody answers"
        <| fun () ->
            withDevice 8192 (fun d -> d.IgnoreType <- Some MessageType.Hello) (fun c ->
                let sw = Stopwatch.StartNew()

                let e =
                    throwsOf<TimeoutException> "HELLOs nobody answers" (fun () ->
                        c.Hello(TimeSpan.FromMilliseconds 50.0, 4) |> ignore)

                Expect.isGreaterThanOrEqual sw.ElapsedMilliseconds 190L "not before four attempts"
                Expect.isLessThanOrEqual sw.ElapsedMilliseconds 1500L "soon after four attempts"
                Expect.stringContains e.Message "no INFO for 4 HELLOs" "the message counts the HELLOs")
    ]
