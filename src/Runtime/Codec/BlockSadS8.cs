using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tern.Runtime.Kernels;

namespace Tern.Runtime.Codec;

/// <summary>
/// Sum of absolute differences of two int8 blocks, each <c>rows</c> rows of <c>rowLength</c> codes spaced
/// <c>stride</c> apart (an HWC block: rowLength = block width * C, stride = W * C). The motion search's cost.
/// </summary>
public static unsafe class BlockSadS8
{
    private const string Name = nameof(BlockSadS8);

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

    /// <summary>The oracle: plain loops.</summary>
    public static long Scalar(ReadOnlySpan<sbyte> a, int aStart, ReadOnlySpan<sbyte> b, int bStart, int stride, int rowLength, int rows)
    {
        Check(a.Length, aStart, b.Length, bStart, stride, rowLength, rows);
        long total = 0;
        for (int y = 0; y < rows; y++)
            for (int i = 0; i < rowLength; i++)
                total += Math.Abs(a[aStart + y * stride + i] - b[bStart + y * stride + i]);
        return total;
    }

    /// <summary>
    /// Optimized body: codes are biased to unsigned (x ^ 0x80 keeps differences) and summed with PSADBW
    /// (AVX2 32 bytes, SSE2 16 bytes); the portable level uses max - min widened to 16 bits; the tail is scalar.
    /// </summary>
    public static long Optimized(ReadOnlySpan<sbyte> a, int aStart, ReadOnlySpan<sbyte> b, int bStart, int stride, int rowLength, int rows, SimdLevel simd = SimdLevel.Auto)
    {
        Check(a.Length, aStart, b.Length, bStart, stride, rowLength, rows);
        if (rows == 0 || rowLength == 0)
            return 0;
        var level = SimdLevels.Resolve(simd);
        long total = 0;
        fixed (sbyte* pa0 = a)
        fixed (sbyte* pb0 = b)
        {
            var bias256 = Vector256.Create((byte)0x80);
            var bias128 = Vector128.Create((byte)0x80);
            for (int y = 0; y < rows; y++)
            {
                byte* pa = (byte*)(pa0 + aStart + (long)y * stride);
                byte* pb = (byte*)(pb0 + bStart + (long)y * stride);
                int i = 0;
                if (level == SimdLevel.Vector256)
                {
                    var acc = Vector256<ulong>.Zero;
                    for (; i + 32 <= rowLength; i += 32)
                    {
                        var va = Vector256.Load(pa + i) ^ bias256;
                        var vb = Vector256.Load(pb + i) ^ bias256;
                        acc += Avx2.SumAbsoluteDifferences(va, vb).AsUInt64();
                    }
                    total += (long)Vector256.Sum(acc);
                }
                if (level != SimdLevel.None)
                {
                    if (Sse2.IsSupported)
                    {
                        var acc = Vector128<ulong>.Zero;
                        for (; i + 16 <= rowLength; i += 16)
                        {
                            var va = Vector128.Load(pa + i) ^ bias128;
                            var vb = Vector128.Load(pb + i) ^ bias128;
                            acc += Sse2.SumAbsoluteDifferences(va, vb).AsUInt64();
                        }
                        total += (long)Vector128.Sum(acc);
                    }
                    else
                    {
                        // Each 16-bit lane gains at most 2 * 255 per step: flush well before 65535.
                        while (i + 16 <= rowLength)
                        {
                            var acc = Vector128<ushort>.Zero;
                            for (int k = 0; k < 64 && i + 16 <= rowLength; k++, i += 16)
                            {
                                var va = Vector128.Load(pa + i) ^ bias128;
                                var vb = Vector128.Load(pb + i) ^ bias128;
                                var d = Vector128.Max(va, vb) - Vector128.Min(va, vb);
                                var (lo, hi) = Vector128.Widen(d);
                                acc += lo + hi;
                            }
                            var (l32, h32) = Vector128.Widen(acc);
                            total += Vector128.Sum(l32 + h32);
                        }
                    }
                }
                for (; i < rowLength; i++)
                    total += Math.Abs((sbyte)pa[i] - (sbyte)pb[i]);
            }
        }
        return total;
    }
}
