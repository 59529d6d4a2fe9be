namespace Tern.Runtime.Protocol;

/// <summary>
/// CRC-32 of IEEE 802.3 (reflected polynomial 0xEDB88320, init 0xFFFFFFFF, final xor 0xFFFFFFFF), table driven.
/// CRC of the ASCII bytes "123456789" is 0xCBF43926.
/// </summary>
public static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xFFFFFFFFu, data);

    /// <summary>Advances a running (not yet inverted) CRC state over more bytes; start from 0xFFFFFFFF, finish with ~.</summary>
    public static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        var table = Table;
        foreach (byte b in data) state = table[(state ^ b) & 0xFF] ^ (state >> 8);
        return state;
    }
}
