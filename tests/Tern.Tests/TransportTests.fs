module Tern.Tests.TransportTests

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Threading
open NUnit.Framework
open Tern.Runtime
open Tern.Runtime.Protocol
open Tern.Runtime.Transports

/// A connected (client, server) pair of transports over loopback; the server side is an accepted socket.
let private socketPair (kind: TransportKind) (dir: string) : ITransport * ITransport =
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
        let path = Path.Combine(dir, $"s{Guid.NewGuid():N}".Substring(0, 12) + ".sock")

        use listener =
            new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)

        listener.Bind(UnixDomainSocketEndPoint path)
        listener.Listen 1
        let client = Transport.Open("unix:" + path, TimeSpan.FromSeconds 2.0)
        client, new SocketTransport(listener.Accept(), "test-server") :> ITransport

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

let private allBytes = Array.init 256 byte

/// A fake device speaking protocol v1 over a transport on its own thread: a 2x2x3 input, a 1x1x4 output and
/// three layers whose outputs are functions of the last input.
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

    member this.Run() =
        let decoder = FrameDecoder(maxBody)
        let buf = Array.zeroCreate<byte> 1024

        try
            while running do
                let n =
                    try
                        transport.Read(Span buf, TimeSpan.FromMilliseconds 50.0, "requests")
                    with :? TimeoutException ->
                        0

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

    member _.Stop() =
        running <- false
        transport.Dispose()

/// Runs a fake device on a Unix socket for the duration of `body`, which gets a client connected to it.
let private withDevice (dir: string) (maxBody: int) (setup: FakeDevice -> unit) (body: DeviceClient -> unit) =
    let client, server = socketPair TransportKind.Unix dir
    let device = FakeDevice(server, maxBody)
    setup device
    let thread = Thread(device.Run, IsBackground = true)
    thread.Start()
    use c = new DeviceClient(client)

    try
        body c
    finally
        device.Stop()
        thread.Join(TimeSpan.FromSeconds 5.0) |> ignore

[<NonParallelizable>]
type TransportTests() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-tr-" + Guid.NewGuid().ToString("N").Substring(0, 8))

    [<OneTimeSetUp>]
    member _.Setup() = Directory.CreateDirectory dir |> ignore

    [<OneTimeTearDown>]
    member _.Teardown() =
        if Directory.Exists dir then
            Directory.Delete(dir, true)

    // ---- specs ----

    [<TestCase("tty:/dev/ttyACM0", "Tty", "/dev/ttyACM0", 0, 115200)>]
    [<TestCase("tty:/dev/ttyACM0@921600", "Tty", "/dev/ttyACM0", 0, 921600)>]
    [<TestCase("/dev/pts/3", "Tty", "/dev/pts/3", 0, 115200)>]
    [<TestCase("/dev/ttyUSB1@9600", "Tty", "/dev/ttyUSB1", 0, 9600)>]
    [<TestCase("tcp:127.0.0.1:4444", "Tcp", "127.0.0.1", 4444, 0)>]
    [<TestCase("tcp:localhost:1", "Tcp", "localhost", 1, 0)>]
    [<TestCase("tcp:[::1]:65535", "Tcp", "::1", 65535, 0)>]
    [<TestCase("unix:/tmp/qemu serial.sock", "Unix", "/tmp/qemu serial.sock", 0, 0)>]
    member _.``transport specs parse``(spec: string, kind: string, target: string, port: int, baud: int) =
        let s = TransportSpec.Parse spec
        Assert.That((string s.Kind, s.Target, s.Port, s.Baud), Is.EqualTo((kind, target, port, baud)))
        Assert.That(TransportSpec.Parse(string s), Is.EqualTo s, "the canonical form parses back")

    [<TestCase("")>]
    [<TestCase("serial:/dev/ttyACM0")>]
    [<TestCase("tcp:host")>]
    [<TestCase("tcp::80")>]
    [<TestCase("tcp:host:0")>]
    [<TestCase("tcp:host:70000")>]
    [<TestCase("tcp:host:port")>]
    [<TestCase("unix:")>]
    [<TestCase("tty:@115200")>]
    [<TestCase("tty:/dev/ttyACM0@fast")>]
    [<TestCase("ttyACM0")>]
    member _.``bad transport specs are refused with the accepted forms``(spec: string) =
        let e = Assert.Throws<FormatException>(fun () -> TransportSpec.Parse spec |> ignore)
        Assert.That(e.Message, Does.Contain "tcp:HOST:PORT")

    // ---- sockets ----

    [<TestCase(TransportKind.Tcp)>]
    [<TestCase(TransportKind.Unix)>]
    member _.``every byte value passes both ways``(kind: TransportKind) =
        let client, server = socketPair kind dir
        use client = client
        use server = server
        client.Write(ReadOnlySpan allBytes)
        Assert.That(readExactly server 256 (TimeSpan.FromSeconds 2.0), Is.EqualTo(box allBytes))
        let back = Array.rev allBytes
        server.Write(ReadOnlySpan back)
        Assert.That(readExactly client 256 (TimeSpan.FromSeconds 2.0), Is.EqualTo(box back))

    [<TestCase(TransportKind.Tcp)>]
    [<TestCase(TransportKind.Unix)>]
    member _.``a peer closing mid-read is reported at once``(kind: TransportKind) =
        let client, server = socketPair kind dir
        use client = client
        let closer = Threading.Tasks.Task.Delay(150).ContinueWith(fun _ -> server.Dispose())
        let sw = Stopwatch.StartNew()

        let e =
            Assert.Throws<TransportClosedException>(fun () ->
                client.Read(Span(Array.zeroCreate 16), TimeSpan.FromSeconds 5.0, "a reply")
                |> ignore)

        closer.Wait()
        Assert.That(sw.ElapsedMilliseconds, Is.LessThan 650L, "reported within 500 ms of the close")
        Assert.That(e.Message, Does.Contain client.Endpoint)
        Assert.That(e.Endpoint, Is.EqualTo client.Endpoint)

    [<TestCase(TransportKind.Tcp)>]
    [<TestCase(TransportKind.Unix)>]
    member _.``a read with nothing arriving times out at its deadline``(kind: TransportKind) =
        let client, server = socketPair kind dir
        use client = client
        use server = server
        let sw = Stopwatch.StartNew()

        let e =
            Assert.Throws<TimeoutException>(fun () ->
                client.Read(Span(Array.zeroCreate 16), TimeSpan.FromMilliseconds 200.0, "the INFO reply")
                |> ignore)

        Assert.That(sw.ElapsedMilliseconds, Is.InRange(190L, 900L))
        Assert.That(e.Message, Does.Contain "the INFO reply")
        Assert.That(e.Message, Does.Contain client.Endpoint)

    [<Test>]
    member _.``connecting to nobody is a transport-closed error naming the endpoint``() =
        let port =
            use l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            l.Bind(IPEndPoint(IPAddress.Loopback, 0))
            (l.LocalEndPoint :?> IPEndPoint).Port

        let e =
            Assert.Throws<TransportClosedException>(fun () -> Transport.Open($"tcp:127.0.0.1:{port}") |> ignore)

        Assert.That(e.Endpoint, Is.EqualTo $"tcp:127.0.0.1:{port}")
        let missing = Path.Combine(dir, "none.sock")

        Assert.Throws<TransportClosedException>(fun () -> Transport.Open("unix:" + missing) |> ignore)
        |> ignore

    // ---- tty over a socat pty pair ----

    [<Test>]
    member _.``tty: raw mode passes every byte both ways, and a vanished peer is reported at once``() =
        let socat = ToolRequirement.find "socat" "socat"

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

            Assert.That(File.Exists a && File.Exists b, Is.True, "socat made no ptys")
            use ta = Transport.Open("tty:" + a)
            use tb = Transport.Open($"tty:{b}@115200")
            Assert.That(ta.Endpoint, Is.EqualTo $"tty:{a}@115200")
            // 0x0A, 0x0D, 0x03, 0x04, 0x11, 0x13 and 0x00 are what a cooked tty would mangle.
            let payload =
                Array.concat [ allBytes; [| 0x0Auy; 0x0Duy; 0x03uy; 0x11uy; 0x13uy; 0x04uy; 0x00uy |] ]

            ta.Write(ReadOnlySpan payload)
            Assert.That(readExactly tb payload.Length (TimeSpan.FromSeconds 3.0), Is.EqualTo(box payload))
            let back = Array.rev payload
            tb.Write(ReadOnlySpan back)
            Assert.That(readExactly ta back.Length (TimeSpan.FromSeconds 3.0), Is.EqualTo(box back))
            let t0 = Stopwatch.StartNew()

            Assert.Throws<TimeoutException>(fun () ->
                ta.Read(Span(Array.zeroCreate 8), TimeSpan.FromMilliseconds 150.0, "nothing")
                |> ignore)
            |> ignore

            Assert.That(t0.ElapsedMilliseconds, Is.InRange(140L, 900L))
            p.Kill true
            p.WaitForExit()
            let t1 = Stopwatch.StartNew()

            let e =
                Assert.Throws<TransportClosedException>(fun () ->
                    ta.Read(Span(Array.zeroCreate 8), TimeSpan.FromSeconds 5.0, "a reply") |> ignore)

            Assert.That(t1.ElapsedMilliseconds, Is.LessThan 1000L)
            Assert.That(e.Message, Does.Contain a)
        finally
            if not p.HasExited then
                p.Kill true
                p.WaitForExit()

            p.Dispose()

    // ---- DeviceClient against a fake device ----

    [<Test>]
    member _.``hello skips garbage, a stale reply and a lost HELLO, and returns INFO``() =
        withDevice dir 8192 (fun d -> d.Garbage <- true) (fun c ->
            let info = c.Hello(TimeSpan.FromMilliseconds 150.0, 20)
            Assert.That(info.EncodeBody(), Is.EqualTo(box ((FakeDevice.Info 8192).EncodeBody())))
            Assert.That(c.Info, Is.SameAs info)
            Assert.That(c.FramesRejected, Is.GreaterThanOrEqualTo 1L)
            Assert.That(c.FramesSkipped, Is.GreaterThanOrEqualTo 2L, "the stale INFO and the unidentified ERROR")
            Assert.That(c.LastUnidentifiedError, Is.EqualTo(ErrorMessage(ErrorCode.BadCrc, 0u)))
            // The session works after the noise.
            let input = Array.init 12 (fun i -> sbyte (i * 10 - 60))
            Assert.That(c.Infer(input).Output, Is.EqualTo(box (FakeDevice.Output input))))

    [<Test>]
    member _.``infer and layers in pieces; bytes are counted``() =
        withDevice dir 64 ignore (fun c ->
            c.Hello() |> ignore
            let input = Array.init 12 (fun i -> sbyte (i * 11 - 70))
            let r = c.Infer input
            Assert.That(r.Output, Is.EqualTo(box (FakeDevice.Output input)))
            Assert.That(r.Ticks, Is.EqualTo(uint32 (Array.sumBy int input &&& 0xFFFF)))
            Assert.That(c.MaxPiece, Is.EqualTo 54)
            let sent0, recv0 = c.BytesSent, c.BytesReceived

            for i, total in [ 0, 50; 1, 300; 2, 4 ] do
                Assert.That(c.Layer i, Is.EqualTo(box (FakeDevice.LayerOutput input i total)), $"layer {i}")

            // 300 bytes in 54-byte pieces: a probe and 6 pieces.
            Assert.That(c.BytesSent - sent0, Is.GreaterThan 0L)
            Assert.That(c.BytesReceived - recv0, Is.GreaterThan 354L)
            Assert.That(c.FramesRejected, Is.EqualTo 0L))

    [<Test>]
    member _.``device ERROR frames become DeviceErrorException with code and detail``() =
        withDevice dir 8192 ignore (fun c ->
            c.Hello() |> ignore

            let code (f: unit -> obj) =
                let e = Assert.Throws<DeviceErrorException>(fun () -> f () |> ignore)
                e.Code, e.Detail

            Assert.That(code (fun () -> c.Layer 0), Is.EqualTo((ErrorCode.NoInference, 0u)))
            Assert.That(code (fun () -> c.Infer(Array.zeroCreate 5)), Is.EqualTo((ErrorCode.BadInputSize, 12u)))
            c.Infer(Array.zeroCreate 12) |> ignore
            Assert.That(code (fun () -> c.Layer 5), Is.EqualTo((ErrorCode.BadLayer, 3u)))
            Assert.That(code (fun () -> c.LayerPiece(0, 40u, 20)), Is.EqualTo((ErrorCode.BadRange, 50u)))

            Assert.That(
                code (fun () -> c.Request(ResultMessage(0u, [||]), MessageType.Info)),
                Is.EqualTo((ErrorCode.BadType, 0x82u))
            )

            let e =
                Assert.Throws<DeviceErrorException>(fun () -> c.Infer(Array.zeroCreate 1) |> ignore)

            Assert.That(e.Message, Does.Contain "expected size 12")
            // The session still works.
            Assert.That(c.Layer 2, Has.Length.EqualTo 4))

    [<Test>]
    member _.``a device vanishing mid-request is reported within a second``() =
        withDevice dir 8192 (fun d -> d.VanishOn <- Some MessageType.Infer) (fun c ->
            c.Hello() |> ignore
            c.ReplyTimeout <- TimeSpan.FromSeconds 10.0
            let sw = Stopwatch.StartNew()

            let e =
                Assert.Throws<TransportClosedException>(fun () -> c.Infer(Array.zeroCreate 12) |> ignore)

            Assert.That(sw.ElapsedMilliseconds, Is.LessThan 1000L)
            Assert.That(e.Message, Does.Contain "unix:"))

    [<Test>]
    member _.``a device that does not answer times out naming the request``() =
        withDevice dir 8192 (fun d -> d.IgnoreType <- Some MessageType.Infer) (fun c ->
            c.Hello() |> ignore
            c.ReplyTimeout <- TimeSpan.FromMilliseconds 300.0
            let sw = Stopwatch.StartNew()

            let e =
                Assert.Throws<TimeoutException>(fun () -> c.Infer(Array.zeroCreate 12) |> ignore)

            Assert.That(sw.ElapsedMilliseconds, Is.InRange(290L, 1500L))
            Assert.That(e.Message, Does.Contain "Result for Infer seq"))

    [<Test>]
    member _.``hello gives up with a timeout when nobody answers``() =
        withDevice dir 8192 (fun d -> d.IgnoreType <- Some MessageType.Hello) (fun c ->
            let sw = Stopwatch.StartNew()

            let e =
                Assert.Throws<TimeoutException>(fun () -> c.Hello(TimeSpan.FromMilliseconds 50.0, 4) |> ignore)

            Assert.That(sw.ElapsedMilliseconds, Is.InRange(190L, 1500L))
            Assert.That(e.Message, Does.Contain "no INFO for 4 HELLOs"))
