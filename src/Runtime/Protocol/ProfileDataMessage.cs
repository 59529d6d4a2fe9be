namespace Tern.Runtime.Protocol;

/// <summary>
/// PROFILE_DATA (device to host): u16 layer count n, u16 repeats R, u32 base ticks (R calls that return at once),
/// then n x u32: the ticks of R runs of layers 0..k for k = 0..n-1. All in INFO's work unit and counter frequency.
/// </summary>
public sealed record ProfileDataMessage(ushort Repeats, uint BaseTicks, uint[] PrefixTicks) : IMessage
{
    /// <summary>Body bytes before the per-prefix ticks.</summary>
    public const int PrefixBytes = 8;

    public MessageType Type => MessageType.ProfileData;

    public byte[] EncodeBody()
    {
        var w = new BodyWriter().U16(checked((ushort)PrefixTicks.Length)).U16(Repeats).U32(BaseTicks);
        foreach (var t in PrefixTicks) w.U32(t);
        return w.ToArray();
    }

    /// <summary>Parses a PROFILE_DATA body; a body whose size disagrees with its layer count is BAD_BODY.</summary>
    public static ProfileDataMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new BodyReader(body, MessageType.ProfileData);
        int n = r.U16("layer count");
        ushort repeats = r.U16("repeats");
        uint baseTicks = r.U32("base ticks");
        var ticks = new uint[n];
        for (int i = 0; i < n; i++) ticks[i] = r.U32($"ticks of layers 0..{i}");
        r.End();
        return new ProfileDataMessage(repeats, baseTicks, ticks);
    }
}
