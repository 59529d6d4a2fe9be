namespace Tern.Runtime.Protocol;

/// <summary>
/// SPLIT_READY (device to host): u16 split K, u32 bytes of one feature map, u8 frames per group (1 intra, 2 uni,
/// 3 bi), u32 work bytes the encoder uses, u32 bytes the device can hold of one stream.
/// </summary>
public sealed record SplitReadyMessage(ushort Split, uint FeatureBytes, byte GroupSize, uint WorkBytes, uint StreamCapacity) : IMessage
{
    /// <summary>The body size of SPLIT_READY.</summary>
    public const int BodyBytes = 15;

    public MessageType Type => MessageType.SplitReady;

    public byte[] EncodeBody() => new BodyWriter().U16(Split).U32(FeatureBytes).U8(GroupSize).U32(WorkBytes).U32(StreamCapacity).ToArray();

    public static SplitReadyMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new BodyReader(body, MessageType.SplitReady);
        var m = new SplitReadyMessage(r.U16("split"), r.U32("feature bytes"), r.U8("group size"), r.U32("work bytes"), r.U32("stream capacity"));
        r.End();
        return m;
    }
}
