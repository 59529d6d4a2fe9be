namespace Tern.Runtime.Codec;

/// <summary>
/// Sum of squared differences of two int8 blocks laid out as in <see cref="BlockSadS8"/> (the MSE cost
/// without its constant divisor, so candidates of one block rank the same).
/// </summary>
public static unsafe class BlockSsdS8
{
    private const string Name = nameof(BlockSsdS8);

    /// <summary>The oracle: plain loops with index checks.</summary>
    public static long Scalar(ReadOnlySpan<sbyte> a, int aStart, ReadOnlySpan<sbyte> b, int bStart, int stride, int rowLength, int rows)
    {
        Check(a.Length, aStart, b.Length, bStart, stride, rowLength, rows);
        long total = 0;
        for (int y = 0; y < rows; y++)
            for (int i = 0; i < rowLength; i++)
            {
                int d = a[aStart + y * stride + i] - b[bStart + y * stride + i];
                total += d * d;
            }
        return total;
    }

    /// <summary>Optimized body: the same loops on pointers, one check up front.</summary>
    public static long Optimized(ReadOnlySpan<sbyte> a, int aStart, ReadOnlySpan<sbyte> b, int bStart, int stride, int rowLength, int rows)
    {
        Check(a.Length, aStart, b.Length, bStart, stride, rowLength, rows);
        if (rows == 0 || rowLength == 0)
            return 0;
        long total = 0;
        fixed (sbyte* pa0 = a)
        fixed (sbyte* pb0 = b)
        {
            for (int y = 0; y < rows; y++)
            {
                sbyte* pa = pa0 + aStart + (long)y * stride;
                sbyte* pb = pb0 + bStart + (long)y * stride;
                long row = 0;
                for (int i = 0; i < rowLength; i++)
                {
                    int d = pa[i] - pb[i];
                    row += d * d;
                }
                total += row;
            }
        }
        return total;
    }

    private static void Check(int aLength, int aStart, int bLength, int bStart, int stride, int rowLength, int rows)
    {
        if (rows < 0 || rowLength < 0)
            throw new ArgumentOutOfRangeException(nameof(rows), $"{Name}: {rows} rows of {rowLength}");
        if (rows == 0 || rowLength == 0)
            return;
        if (rows > 1 && stride < rowLength)
            throw new ArgumentOutOfRangeException(nameof(stride), $"{Name}: stride {stride} < row length {rowLength}");
        long span = (long)(rows - 1) * stride + rowLength;
        if (aStart < 0 || aStart + span > aLength)
            throw new ArgumentOutOfRangeException(nameof(aStart), $"{Name}: block at {aStart} (span {span}) outside {aLength}");
        if (bStart < 0 || bStart + span > bLength)
            throw new ArgumentOutOfRangeException(nameof(bStart), $"{Name}: block at {bStart} (span {span}) outside {bLength}");
    }
}
