using System.Buffers.Binary;

namespace Tern.Runtime.Protocol;

/// <summary>Builds packets and frames (COBS(packet) 0x00) and checks decoded packets, as docs/protocol.md defines.</summary>
public static class Frame
{
    /// <summary>The packet bytes: header, body, CRC-32 of header and body.</summary>
    public static byte[] EncodePacket(MessageType type, ushort sequence, ReadOnlySpan<byte> body)
    {
        if (body.Length > ushort.MaxValue) throw new ArgumentException($"body of {body.Length} bytes does not fit the u16 length field", nameof(body));
        var p = new byte[Wire.Overhead + body.Length];
        p[0] = Wire.Version;
        p[1] = (byte)type;
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(2), sequence);
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(4), (ushort)body.Length);
        body.CopyTo(p.AsSpan(Wire.HeaderBytes));
        int n = Wire.HeaderBytes + body.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(n), Crc32.Compute(p.AsSpan(0, n)));
        return p;
    }

    /// <summary>The wire bytes of a frame: COBS of the packet, then the zero delimiter.</summary>
    /// <exception cref="ArgumentException">The body exceeds <see cref="Wire.MaxBody"/>.</exception>
    public static byte[] Encode(MessageType type, ushort sequence, ReadOnlySpan<byte> body)
    {
        if (body.Length > Wire.MaxBody) throw new ArgumentException($"body of {body.Length} bytes exceeds MAX_BODY {Wire.MaxBody}", nameof(body));
        return Delimit(EncodePacket(type, sequence, body));
    }

    /// <summary>The wire bytes of a message.</summary>
    public static byte[] Encode(IMessage message, ushort sequence) => Encode(message.Type, sequence, message.EncodeBody());

    /// <summary>COBS-encodes any packet bytes and appends the delimiter (no checks: tests use it to build bad frames).</summary>
    public static byte[] Delimit(ReadOnlySpan<byte> packet)
    {
        var wire = new byte[Cobs.MaxEncodedLength(packet.Length) + 1];
        int n = Cobs.Encode(packet, wire);
        wire[n] = Wire.Delimiter;
        return n + 1 == wire.Length ? wire : wire[..(n + 1)];
    }

    /// <summary>
    /// Checks a decoded packet, in this order: size (TOO_SHORT), CRC (BAD_CRC), version (BAD_VERSION), length field
    /// (BAD_LENGTH). Errors before the CRC verified carry <see cref="Wire.UnknownSequence"/>, later ones the packet's.
    /// </summary>
    public static DecodeResult Check(ReadOnlySpan<byte> packet)
    {
        int n = packet.Length;
        if (n < Wire.Overhead) return DecodeResult.Fail(ErrorCode.TooShort, (uint)n);
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(packet[(n - Wire.CrcBytes)..]);
        if (crc != Crc32.Compute(packet[..(n - Wire.CrcBytes)])) return DecodeResult.Fail(ErrorCode.BadCrc, 0);
        ushort seq = BinaryPrimitives.ReadUInt16LittleEndian(packet[2..]);
        if (packet[0] != Wire.Version) return DecodeResult.Fail(ErrorCode.BadVersion, packet[0], seq);
        int length = BinaryPrimitives.ReadUInt16LittleEndian(packet[4..]);
        if (length != n - Wire.Overhead) return DecodeResult.Fail(ErrorCode.BadLength, (uint)length, seq);
        return DecodeResult.Ok(new Packet((MessageType)packet[1], seq, packet.Slice(Wire.HeaderBytes, length).ToArray()));
    }
}
