using System.Runtime.InteropServices;

namespace Tern.Runtime.Protocol;

/// <summary>
/// INFER_SPLIT (host to device): the int8 input tensor (HWC) of the next frame of the stream; the device runs layers
/// 0..K-1 and keeps the feature map until its group is complete. An empty body ends the stream: the frames still held
/// are coded as one intra stream (Codec.encodeSequence's shorter last group).
/// </summary>
public sealed record InferSplitMessage(sbyte[] Input) : IMessage
{
    public MessageType Type => MessageType.InferSplit;

    public byte[] EncodeBody() => MemoryMarshal.AsBytes(Input.AsSpan()).ToArray();

    public static InferSplitMessage Parse(ReadOnlySpan<byte> body) => new(MemoryMarshal.Cast<byte, sbyte>(body).ToArray());

    public bool Equals(InferSplitMessage? other) => other is not null && Input.AsSpan().SequenceEqual(other.Input);

    public override int GetHashCode() => Input.Length;
}
