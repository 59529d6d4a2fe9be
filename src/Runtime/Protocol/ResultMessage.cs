namespace Tern.Runtime.Protocol;

/// <summary>RESULT (device to host): u32 work ticks of the inference, u32 N, N bytes of int8 output.</summary>
public sealed record ResultMessage(uint Ticks, sbyte[] Output) : IMessage
{
    public MessageType Type => MessageType.Result;

    public byte[] EncodeBody() => new BodyWriter().U32(Ticks).U32((uint)Output.Length).SBytes(Output).ToArray();

    public static ResultMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new BodyReader(body, MessageType.Result);
        uint ticks = r.U32("ticks");
        uint n = r.U32("output length");
        if (n > (uint)body.Length) throw new ProtocolException(ErrorCode.BadBody, 8 + n, $"RESULT claims {n} output bytes in a {body.Length}-byte body");
        var output = r.SBytes((int)n, "output");
        r.End();
        return new ResultMessage(ticks, output);
    }
}
