namespace Tern.Runtime.Protocol;

/// <summary>
/// The host's one CRC-32 (protocol frames and codec streams): IEEE 802.3, reflected polynomial 0xEDB88320,
/// init and final xor 0xFFFFFFFF; "123456789" gives 0xCBF43926. System.IO.Hashing computes it (the device keeps its C).
/// </summary>
public static class Crc32
{
    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => System.IO.Hashing.Crc32.HashToUInt32(data);
}
