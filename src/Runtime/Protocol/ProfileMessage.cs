namespace Tern.Runtime.Protocol;

/// <summary>
/// PROFILE (host to device): u16 repeats R. The device times R back-to-back runs of every prefix of layers (0..k)
/// on the last input and answers PROFILE_DATA; the host's differences give each layer's work.
/// </summary>
public sealed record ProfileMessage(ushort Repeats) : IMessage
{
    /// <summary>The body size of PROFILE.</summary>
    public const int BodyBytes = 2;

    /// <summary>The most repeats a device accepts (more is BAD_REPEATS with this as detail).</summary>
    public const int MaxRepeats = 4096;

    public MessageType Type => MessageType.Profile;

    /// <summary>Whether a device takes these repeats (else it answers BAD_REPEATS with <see cref="MaxRepeats"/>).</summary>
    public bool InRange => Repeats is >= 1 and <= MaxRepeats;

    public byte[] EncodeBody() => new BodyWriter().U16(Repeats).ToArray();

    /// <summary>Parses a PROFILE body; a body not of 2 bytes is BAD_BODY with detail 2.</summary>
    public static ProfileMessage Parse(ReadOnlySpan<byte> body)
    {
        if (body.Length != BodyBytes) throw new ProtocolException(ErrorCode.BadBody, BodyBytes, $"PROFILE body has {body.Length} bytes, expected {BodyBytes}");
        var r = new BodyReader(body, MessageType.Profile);
        var m = new ProfileMessage(r.U16("repeats"));
        r.End();
        return m;
    }
}
