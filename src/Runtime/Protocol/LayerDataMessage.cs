namespace Tern.Runtime.Protocol;

/// <summary>LAYER_DATA (device to host): u16 layer index, u32 total bytes of the layer's output, u32 offset, the bytes.</summary>
public sealed record LayerDataMessage(ushort Index, uint Total, uint Offset, sbyte[] Data) : IMessage
{
    /// <summary>Body bytes before the data: so a piece carries at most MAX_BODY - 10 bytes.</summary>
    public const int PrefixBytes = 10;

    public MessageType Type => MessageType.LayerData;

    public byte[] EncodeBody() => new BodyWriter().U16(Index).U32(Total).U32(Offset).SBytes(Data).ToArray();

    public static LayerDataMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new BodyReader(body, MessageType.LayerData);
        ushort index = r.U16("index");
        uint total = r.U32("total");
        uint offset = r.U32("offset");
        return new LayerDataMessage(index, total, offset, r.SBytes(body.Length - PrefixBytes, "data"));
    }
}
