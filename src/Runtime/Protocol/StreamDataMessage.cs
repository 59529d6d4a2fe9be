namespace Tern.Runtime.Protocol;

/// <summary>STREAM_DATA (device to host): u32 total bytes of the last stream, u32 offset, the bytes.</summary>
public sealed record StreamDataMessage(uint Total, uint Offset, byte[] Data) : IMessage
{
    /// <summary>Body bytes before the data.</summary>
    public const int PrefixBytes = 8;

    public MessageType Type => MessageType.StreamData;

    public byte[] EncodeBody() => new BodyWriter().U32(Total).U32(Offset).Bytes(Data).ToArray();

    public static StreamDataMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new BodyReader(body, MessageType.StreamData);
        uint total = r.U32("total");
        uint offset = r.U32("offset");
        return new StreamDataMessage(total, offset, r.Bytes(body.Length - PrefixBytes, "data"));
    }

    public bool Equals(StreamDataMessage? other) =>
        other is not null && Total == other.Total && Offset == other.Offset && Data.AsSpan().SequenceEqual(other.Data);

    public override int GetHashCode() => HashCode.Combine(Total, Offset, Data.Length);
}
