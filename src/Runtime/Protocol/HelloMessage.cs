namespace Tern.Runtime.Protocol;

/// <summary>HELLO (host to device): empty body; the device answers INFO.</summary>
public sealed record HelloMessage : IMessage
{
    public MessageType Type => MessageType.Hello;

    public byte[] EncodeBody() => [];

    public static HelloMessage Parse(ReadOnlySpan<byte> body)
    {
        new BodyReader(body, MessageType.Hello).End();
        return new HelloMessage();
    }
}
