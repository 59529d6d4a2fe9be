namespace Tern.Runtime.Protocol;

/// <summary>
/// SPLIT (host to device): configures split inference. u16 split K (the device runs layers 0..K-1), u16 x 3 the
/// shape of layer K-1's output (H, W, C), i8 its zero point, then the codec options as 9 bytes in tern_codec.h order:
/// bits, quantizer source, prediction, entropy, residual, block, range, search, cost. Resets the frame group.
/// </summary>
public sealed record SplitMessage(ushort Split, Shape3 Feature, sbyte ZeroPoint, byte[] Options) : IMessage
{
    /// <summary>The body size of SPLIT.</summary>
    public const int BodyBytes = 18;

    /// <summary>Bytes of the codec options.</summary>
    public const int OptionBytes = 9;

    public MessageType Type => MessageType.Split;

    public byte[] EncodeBody()
    {
        if (Options.Length != OptionBytes) throw new ArgumentException($"SPLIT carries {OptionBytes} option bytes, got {Options.Length}");
        return new BodyWriter().U16(Split).U16((ushort)Feature.H).U16((ushort)Feature.W).U16((ushort)Feature.C)
            .U8((byte)ZeroPoint).Bytes(Options).ToArray();
    }

    /// <summary>Parses a SPLIT body; a body not of 18 bytes is BAD_BODY with detail 18.</summary>
    public static SplitMessage Parse(ReadOnlySpan<byte> body)
    {
        if (body.Length != BodyBytes) throw new ProtocolException(ErrorCode.BadBody, BodyBytes, $"SPLIT body has {body.Length} bytes, expected {BodyBytes}");
        var r = new BodyReader(body, MessageType.Split);
        ushort k = r.U16("split");
        var shape = new Shape3(r.U16("H"), r.U16("W"), r.U16("C"));
        sbyte z = (sbyte)r.U8("zero point");
        var options = r.Bytes(OptionBytes, "options");
        r.End();
        return new SplitMessage(k, shape, z, options);
    }

    public bool Equals(SplitMessage? other) =>
        other is not null && Split == other.Split && Feature == other.Feature && ZeroPoint == other.ZeroPoint && Options.AsSpan().SequenceEqual(other.Options);

    public override int GetHashCode() => HashCode.Combine(Split, Feature, ZeroPoint, Options.Length);
}
