namespace Tern.Runtime.Protocol;

/// <summary>STREAM (host to device): u32 offset, u16 count of bytes of the last coded stream.</summary>
public sealed record StreamMessage(uint Offset, ushort Count) : IMessage
{
    /// <summary>The body size of STREAM.</summary>
    public const int BodyBytes = 6;

    public MessageType Type => MessageType.Stream;

    public byte[] EncodeBody() => new BodyWriter().U32(Offset).U16(Count).ToArray();

    /// <summary>Parses a STREAM body; a body not of 6 bytes is BAD_BODY with detail 6.</summary>
    public static StreamMessage Parse(ReadOnlySpan<byte> body)
    {
        if (body.Length != BodyBytes) throw new ProtocolException(ErrorCode.BadBody, BodyBytes, $"STREAM body has {body.Length} bytes, expected {BodyBytes}");
        var r = new BodyReader(body, MessageType.Stream);
        var m = new StreamMessage(r.U32("offset"), r.U16("count"));
        r.End();
        return m;
    }
}
