namespace Tern.Runtime.Protocol;

/// <summary>ERROR (device to host): u8 error code, u32 detail.</summary>
public sealed record ErrorMessage(ErrorCode Code, uint Detail) : IMessage
{
    /// <summary>The body size of ERROR.</summary>
    public const int BodyBytes = 5;

    public MessageType Type => MessageType.Error;

    public byte[] EncodeBody() => new BodyWriter().U8((byte)Code).U32(Detail).ToArray();

    public static ErrorMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new BodyReader(body, MessageType.Error);
        var m = new ErrorMessage((ErrorCode)r.U8("code"), r.U32("detail"));
        r.End();
        return m;
    }

    public override string ToString() => $"ERROR {DeviceErrorException.Describe(Code, Detail)}";
}
