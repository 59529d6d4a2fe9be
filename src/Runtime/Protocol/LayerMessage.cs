namespace Tern.Runtime.Protocol;

/// <summary>LAYER (host to device): u16 layer index, u32 offset, u16 count of bytes of that layer's last output.</summary>
public sealed record LayerMessage(ushort Index, uint Offset, ushort Count) : IMessage
{
    /// <summary>The body size of LAYER.</summary>
    public const int BodyBytes = 8;

    public MessageType Type => MessageType.Layer;

    public byte[] EncodeBody() => new BodyWriter().U16(Index).U32(Offset).U16(Count).ToArray();

    /// <summary>Parses a LAYER body; a body not of 8 bytes is BAD_BODY with detail 8.</summary>
    public static LayerMessage Parse(ReadOnlySpan<byte> body)
    {
        if (body.Length != BodyBytes) throw new ProtocolException(ErrorCode.BadBody, BodyBytes, $"LAYER body has {body.Length} bytes, expected {BodyBytes}");
        var r = new BodyReader(body, MessageType.Layer);
        var m = new LayerMessage(r.U16("index"), r.U32("offset"), r.U16("count"));
        r.End();
        return m;
    }
}
