using System.Buffers;
using System.Diagnostics;
using Tern.Runtime.Transports;

namespace Tern.Runtime.Protocol;

/// <summary>
/// The host side of a session with a device over a transport. One request at a time: each request gets the next
/// sequence number (0xFFFF is never used) and is answered by the frame carrying that number, either the expected reply
/// or an ERROR, which becomes <see cref="DeviceErrorException"/>. Garbage, corrupt frames and stale replies (other
/// sequence numbers) are skipped and counted, so the client resynchronises by itself. Every wait has a deadline;
/// a vanished peer is a <see cref="TransportClosedException"/>. Reads frames straight off the transport's pipe,
/// consuming only the bytes it decoded. Counts wire bytes both ways for link throughput. Not thread-safe.
/// </summary>
public sealed class DeviceClient : IDisposable
{
    private readonly bool ownsTransport;
    private readonly FrameDecoder decoder = new();
    private ushort nextSequence = 1;

    /// <summary>A client over <paramref name="transport"/>; disposes it with the client unless told not to.</summary>
    public DeviceClient(ITransport transport, bool ownsTransport = true)
    {
        Transport = transport;
        this.ownsTransport = ownsTransport;
    }

    public ITransport Transport { get; }

    /// <summary>How long a request waits for its reply (inference on a slow device can take a while).</summary>
    public TimeSpan ReplyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The device's INFO, once <see cref="Hello(TimeSpan, int)"/> succeeded.</summary>
    public InfoMessage? Info { get; private set; }

    /// <summary>Bytes written to the transport.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Bytes read from the transport (garbage included).</summary>
    public long BytesReceived { get; private set; }

    /// <summary>Frames the decoder rejected (garbage, truncation, corruption).</summary>
    public long FramesRejected { get; private set; }

    /// <summary>Valid frames that answered no pending request (stale replies, unsolicited frames) and were skipped.</summary>
    public long FramesSkipped { get; private set; }

    /// <summary>The last ERROR the device sent about a frame it could not identify (sequence 0xFFFF), if any.</summary>
    public ErrorMessage? LastUnidentifiedError { get; private set; }

    /// <summary>The largest LAYER piece: MAX_BODY of device and host, less the LAYER_DATA prefix.</summary>
    public int MaxPiece => Math.Min(decoder.MaxBody, (int)Math.Min(Info?.MaxBody ?? Wire.MaxBody, int.MaxValue)) - LayerDataMessage.PrefixBytes;

    /// <summary>
    /// Sends HELLO up to <paramref name="attempts"/> times, <paramref name="attemptTimeout"/> apart, and returns the
    /// first INFO answering any of them, skipping garbage and partial frames (a QEMU pty loses and delays early bytes).
    /// </summary>
    public InfoMessage Hello(TimeSpan attemptTimeout, int attempts)
    {
        if (attempts < 1) throw new ArgumentOutOfRangeException(nameof(attempts), attempts, "must be at least 1");
        var sent = new HashSet<ushort>();
        var clock = Stopwatch.StartNew();
        for (int attempt = 1; attempt <= attempts; attempt++)
        {
            ushort seq = Send(new HelloMessage());
            sent.Add(seq);
            try
            {
                var packet = Await(p => sent.Contains(p.Sequence) && p.Type is MessageType.Info or MessageType.Error,
                    Deadline(attemptTimeout), $"INFO for HELLO (attempt {attempt} of {attempts})");
                var reply = Message.Parse(packet);
                if (reply is ErrorMessage e) throw new DeviceErrorException(e.Code, e.Detail, packet.Sequence, $"HELLO seq {packet.Sequence}");
                Info = (InfoMessage)reply;
                return Info;
            }
            catch (TimeoutException)
            {
                // Lost or late: send again; a late INFO for an earlier attempt is still accepted.
            }
        }
        throw new TimeoutException(
            $"{Transport.Endpoint}: no INFO for {attempts} HELLOs in {clock.Elapsed.TotalSeconds:0.0} s " +
            $"({BytesReceived} bytes received, {FramesRejected} frames rejected)");
    }

    /// <summary>Hello with 20 attempts 250 ms apart (5 s).</summary>
    public InfoMessage Hello() => Hello(TimeSpan.FromMilliseconds(250), 20);

    /// <summary>Runs one inference: INFER with the int8 input (HWC), returns RESULT (work ticks and output).</summary>
    public ResultMessage Infer(sbyte[] input)
    {
        if (input.Length > Wire.MaxBody) throw new ArgumentException($"input of {input.Length} bytes exceeds MAX_BODY {Wire.MaxBody}", nameof(input));
        return (ResultMessage)Request(new InferMessage(input), MessageType.Result);
    }

    /// <summary>The whole output of layer <paramref name="index"/> of the last inference, fetched in pieces.</summary>
    public sbyte[] Layer(int index)
    {
        // A zero-byte piece tells the total without risking BAD_RANGE.
        var first = LayerPiece(index, 0, 0);
        if (first.Total > int.MaxValue) throw new ProtocolException(ErrorCode.BadRange, first.Total, $"layer {index} claims {first.Total} bytes");
        var data = new sbyte[first.Total];
        int offset = 0, piece = MaxPiece;
        if (piece <= 0 && data.Length > 0) throw new InvalidOperationException($"MAX_BODY {Info?.MaxBody} leaves no room for layer data");
        while (offset < data.Length)
        {
            int count = Math.Min(piece, data.Length - offset);
            var part = LayerPiece(index, (uint)offset, count);
            if (part.Total != first.Total)
                throw new ProtocolException(ErrorCode.BadRange, part.Total, $"layer {index} total changed from {first.Total} to {part.Total} between pieces");
            part.Data.CopyTo(data, offset);
            offset += count;
        }
        return data;
    }

    /// <summary>One LAYER request: <paramref name="count"/> bytes at <paramref name="offset"/> of layer <paramref name="index"/>'s output.</summary>
    public LayerDataMessage LayerPiece(int index, uint offset, int count)
    {
        if (index is < 0 or > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(index), index, "must fit u16");
        if (count < 0 || count > Math.Max(0, MaxPiece)) throw new ArgumentOutOfRangeException(nameof(count), count, $"must be in 0..{MaxPiece}");
        var reply = (LayerDataMessage)Request(new LayerMessage((ushort)index, offset, (ushort)count), MessageType.LayerData);
        if (reply.Index != index || reply.Offset != offset || reply.Data.Length != count)
            throw new ProtocolException(ErrorCode.BadBody, (uint)(LayerDataMessage.PrefixBytes + count),
                $"LAYER_DATA answers layer {reply.Index} offset {reply.Offset} with {reply.Data.Length} bytes; asked layer {index} offset {offset} count {count}");
        return reply;
    }

    /// <summary>
    /// Times every prefix of layers on the last inference's input, <paramref name="repeats"/> runs each (PROFILE);
    /// checks that the reply covers the device's layers with the repeats asked.
    /// </summary>
    public ProfileDataMessage Profile(int repeats)
    {
        var request = new ProfileMessage((ushort)Math.Clamp(repeats, 0, ushort.MaxValue));
        if (request.Repeats != repeats || !request.InRange) throw new ArgumentOutOfRangeException(nameof(repeats), repeats, $"must be in 1..{ProfileMessage.MaxRepeats}");
        var reply = (ProfileDataMessage)Request(request, MessageType.ProfileData);
        if (reply.Repeats != repeats || (Info is { } info && reply.PrefixTicks.Length != info.LayerCount))
            throw new ProtocolException(ErrorCode.BadBody, (uint)(ProfileDataMessage.PrefixBytes + 4 * reply.PrefixTicks.Length),
                $"PROFILE_DATA answers {reply.Repeats} repeats of {reply.PrefixTicks.Length} layers; asked {repeats} repeats of {Info?.LayerCount} layers");
        return reply;
    }

    /// <summary>Configures split inference (SPLIT): the device will run layers 0..split-1 and code their output.</summary>
    public SplitReadyMessage Split(int split, Shape3 feature, int zeroPoint, byte[] codecOptions)
    {
        if (split is < 1 or > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(split), split, "must be in 1..65535");
        if (zeroPoint is < -128 or > 127) throw new ArgumentOutOfRangeException(nameof(zeroPoint), zeroPoint, "must be an int8");
        var reply = (SplitReadyMessage)Request(new SplitMessage((ushort)split, feature, (sbyte)zeroPoint, codecOptions), MessageType.SplitReady);
        if (reply.Split != split)
            throw new ProtocolException(ErrorCode.BadBody, reply.Split, $"SPLIT_READY answers split {reply.Split}, asked {split}");
        return reply;
    }

    /// <summary>
    /// One frame of the split stream (INFER_SPLIT); an empty input ends the stream. Returns FEATURES with the whole
    /// stream in <see cref="FeaturesMessage.Piece"/> (fetched with STREAM when it did not fit one frame).
    /// </summary>
    public FeaturesMessage InferSplit(sbyte[] input)
    {
        if (input.Length > Wire.MaxBody) throw new ArgumentException($"input of {input.Length} bytes exceeds MAX_BODY {Wire.MaxBody}", nameof(input));
        var first = (FeaturesMessage)Request(new InferSplitMessage(input), MessageType.Features);
        if (first.Piece.Length == first.Total) return first;
        if (first.Total > int.MaxValue) throw new ProtocolException(ErrorCode.BadRange, first.Total, $"stream claims {first.Total} bytes");
        var stream = new byte[first.Total];
        first.Piece.CopyTo(stream, 0);
        int offset = first.Piece.Length;
        int piece = Math.Min(decoder.MaxBody, (int)Math.Min(Info?.MaxBody ?? Wire.MaxBody, int.MaxValue)) - StreamDataMessage.PrefixBytes;
        piece = Math.Min(piece, ushort.MaxValue);
        while (offset < stream.Length)
        {
            int count = Math.Min(piece, stream.Length - offset);
            var part = (StreamDataMessage)Request(new StreamMessage((uint)offset, (ushort)count), MessageType.StreamData);
            if (part.Total != first.Total || part.Offset != offset || part.Data.Length != count)
                throw new ProtocolException(ErrorCode.BadBody, (uint)(StreamDataMessage.PrefixBytes + count),
                    $"STREAM_DATA answers offset {part.Offset} with {part.Data.Length} of {part.Total} bytes; asked offset {offset} count {count} of {first.Total}");
            part.Data.CopyTo(stream, offset);
            offset += count;
        }
        return first with { Piece = stream };
    }

    /// <summary>Sends a request and returns its parsed reply of type <paramref name="replyType"/>.</summary>
    public IMessage Request(IMessage request, MessageType replyType)
    {
        ushort seq = Send(request);
        string what = $"{request.Type} seq {seq}";
        var packet = Await(p => p.Sequence == seq, Deadline(ReplyTimeout), $"{replyType} for {what}");
        if (packet.Type == MessageType.Error)
        {
            var e = ErrorMessage.Parse(packet.Body);
            throw new DeviceErrorException(e.Code, e.Detail, seq, what);
        }
        if (packet.Type != replyType)
            throw new ProtocolException(ErrorCode.BadType, (byte)packet.Type, $"device answered {what} with {packet.Type}, expected {replyType}");
        return Message.Parse(packet);
    }

    private ushort Send(IMessage message)
    {
        ushort seq = nextSequence;
        nextSequence = (ushort)(nextSequence == Wire.UnknownSequence - 1 ? 0 : nextSequence + 1);
        var frame = Frame.Encode(message, seq);
        // A leading zero ends whatever partial frame the device holds (the device ignores empty frames).
        var wire = new byte[frame.Length + 1];
        frame.CopyTo(wire, 1);
        Transport.Write(wire);
        BytesSent += wire.Length;
        return seq;
    }

    private static long Deadline(TimeSpan timeout) => Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);

    /// <summary>
    /// Decodes the bytes in the transport's pipe, waiting for more until a frame matches, skipping and counting
    /// everything else; the bytes after the matching frame stay in the pipe for the next request.
    /// </summary>
    private Packet Await(Func<Packet, bool> match, long deadline, string awaiting)
    {
        while (true)
        {
            // Past the deadline, bytes already in the pipe are still decoded (a zero wait takes only those).
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            ReadOnlySequence<byte> data;
            try
            {
                data = Transport.Receive(left > TimeSpan.Zero ? left : TimeSpan.Zero, awaiting);
            }
            catch (TimeoutException e)
            {
                string what = left > TimeSpan.Zero ? e.Message : $"{Transport.Endpoint}: timed out awaiting {awaiting}";
                throw new TimeoutException(what + UnidentifiedNote(), e);
            }
            catch (TransportClosedException e)
            {
                throw new TransportClosedException(e.Endpoint, $"{e.Reason}; {BytesSent} bytes sent, {BytesReceived} received", e);
            }
            var (found, used) = Decode(data, match);
            BytesReceived += used;
            Transport.Pipe.Input.AdvanceTo(data.GetPosition(used));
            if (found is not null) return found;
        }
    }

    /// <summary>Pushes bytes through the decoder up to the end of the first matching frame; returns it and the bytes used.</summary>
    private (Packet? Found, long Used) Decode(ReadOnlySequence<byte> data, Func<Packet, bool> match)
    {
        long used = 0;
        foreach (var segment in data)
        {
            foreach (byte b in segment.Span)
            {
                used++;
                var r = decoder.Push(b);
                if (r.Status == DecodeStatus.Error) FramesRejected++;
                if (r.Status != DecodeStatus.Frame) continue;
                var p = r.Packet!;
                if (match(p)) return (p, used);
                if (p.Type == MessageType.Error && p.Sequence == Wire.UnknownSequence)
                    LastUnidentifiedError = TryParseError(p);
                FramesSkipped++;
            }
        }
        return (null, used);
    }

    private static ErrorMessage? TryParseError(Packet p)
    {
        try
        {
            return ErrorMessage.Parse(p.Body);
        }
        catch (ProtocolException)
        {
            return null;
        }
    }

    private string UnidentifiedNote() =>
        LastUnidentifiedError is { } e ? $" (the device reported {e} for a frame it could not identify)" : "";

    public void Dispose()
    {
        if (ownsTransport) Transport.Dispose();
    }
}
