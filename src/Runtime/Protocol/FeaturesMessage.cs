namespace Tern.Runtime.Protocol;

/// <summary>
/// FEATURES (device to host), the answer to INFER_SPLIT: u32 work ticks of layers 0..K-1, u32 work ticks of the
/// encoder (0 when nothing was coded), u8 frames in the stream (0 while the group is incomplete), u32 total stream
/// bytes, then the stream's first bytes (all of it when it fits; the rest comes with STREAM).
/// </summary>
public sealed record FeaturesMessage(uint InferTicks, uint EncoderTicks, byte Frames, uint Total, byte[] Piece) : IMessage
{
    /// <summary>Body bytes before the stream.</summary>
    public const int PrefixBytes = 13;

    public MessageType Type => MessageType.Features;

    public byte[] EncodeBody() => new BodyWriter().U32(InferTicks).U32(EncoderTicks).U8(Frames).U32(Total).Bytes(Piece).ToArray();

    public static FeaturesMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new BodyReader(body, MessageType.Features);
        uint infer = r.U32("inference ticks");
        uint encoder = r.U32("encoder ticks");
        byte frames = r.U8("frames");
        uint total = r.U32("total");
        var piece = r.Bytes(body.Length - PrefixBytes, "stream");
        if (piece.Length > total) throw new ProtocolException(ErrorCode.BadBody, PrefixBytes + total, $"FEATURES carries {piece.Length} bytes of a {total}-byte stream");
        return new FeaturesMessage(infer, encoder, frames, total, piece);
    }

    public bool Equals(FeaturesMessage? other) =>
        other is not null && InferTicks == other.InferTicks && EncoderTicks == other.EncoderTicks && Frames == other.Frames
        && Total == other.Total && Piece.AsSpan().SequenceEqual(other.Piece);

    public override int GetHashCode() => HashCode.Combine(InferTicks, EncoderTicks, Frames, Total);
}
