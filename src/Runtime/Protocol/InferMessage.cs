using System.Runtime.InteropServices;

namespace Tern.Runtime.Protocol;

/// <summary>INFER (host to device): the int8 input tensor, HWC.</summary>
public sealed record InferMessage(sbyte[] Input) : IMessage
{
    public MessageType Type => MessageType.Infer;

    public byte[] EncodeBody() => MemoryMarshal.AsBytes(Input.AsSpan()).ToArray();

    public static InferMessage Parse(ReadOnlySpan<byte> body) => new(MemoryMarshal.Cast<byte, sbyte>(body).ToArray());
}
