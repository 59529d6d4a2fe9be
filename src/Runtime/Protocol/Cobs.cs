namespace Tern.Runtime.Protocol;

/// <summary>
/// Consistent Overhead Byte Stuffing. The encoding has no zero byte. A block is a code byte c (1..255) and c - 1
/// data bytes; a block with c &lt; 255 stands for its data followed by a zero, except the last block of the
/// packet. The encoder always ends with the last block's code byte, so 254 non-zero bytes encode to 0xFF, the
/// bytes, 0x01 (the C encoder does the same, byte for byte); decoders also accept the form without that 0x01.
/// </summary>
public static class Cobs
{
    /// <summary>The largest encoded length of <paramref name="length"/> input bytes: n + n / 254 + 1.</summary>
    public static int MaxEncodedLength(int length) => length + length / 254 + 1;

    /// <summary>Encodes <paramref name="source"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    /// <exception cref="ArgumentException">The destination is shorter than <see cref="MaxEncodedLength"/>.</exception>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (destination.Length < MaxEncodedLength(source.Length))
            throw new ArgumentException($"destination has {destination.Length} bytes, COBS needs {MaxEncodedLength(source.Length)}", nameof(destination));
        int codeAt = 0, o = 1;
        byte code = 1;
        foreach (byte b in source)
        {
            if (b == 0)
            {
                destination[codeAt] = code;
                codeAt = o++;
                code = 1;
                continue;
            }
            destination[o++] = b;
            if (++code == 0xFF)
            {
                destination[codeAt] = code;
                codeAt = o++;
                code = 1;
            }
        }
        destination[codeAt] = code;
        return o;
    }

    /// <summary>Encodes into a new array.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> source)
    {
        var dst = new byte[MaxEncodedLength(source.Length)];
        int n = Encode(source, dst);
        return n == dst.Length ? dst : dst[..n];
    }

    /// <summary>
    /// Decodes <paramref name="source"/> (no delimiter) into <paramref name="destination"/>. Returns the bytes written,
    /// or -1 if the encoding is invalid (a zero byte, or the data ends inside a block) or does not fit.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int i = 0, o = 0;
        while (i < source.Length)
        {
            byte code = source[i++];
            if (code == 0) return -1;
            int run = code - 1;
            if (i + run > source.Length || o + run > destination.Length) return -1;
            for (int k = 0; k < run; k++)
            {
                byte b = source[i++];
                if (b == 0) return -1;
                destination[o++] = b;
            }
            if (code != 0xFF && i < source.Length)
            {
                if (o >= destination.Length) return -1;
                destination[o++] = 0;
            }
        }
        return o;
    }
}
