using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Runtime.Kernels;

/// <summary>
/// <see cref="Requantize.Apply"/> for 8 channels at once with AVX2, bit-identical to the scalar formula:
/// the 64-bit products come from vpmuldq on even and odd lanes, the flooring shift is done as
/// ((x ^ sign) &gt;&gt;&gt; S) ^ sign (exact for an arithmetic shift), and before the int32 clamp the 64-bit value is
/// pinned to [-512, 512], which cannot change the result because |lo - zOut| and |hi - zOut| are at most 255.
/// Constants are laid out once per layer, in blocks of 8 channels (padding channels get M = 0, S = 1).
/// A helper of the optimized kernels, not a twin: the twin of tern_requantize is <see cref="Requantize"/> (hil/README.md);
/// the C _dsp bodies' own prepared form is tk_rq.
/// </summary>
internal sealed class RequantizeBlocks
{
    private readonly int[] m;
    private readonly long[] roundEven, roundOdd;
    private readonly ulong[] shiftEven, shiftOdd;

    public RequantizeBlocks(int[] multiplier, int[] shift)
    {
        int blocks = (multiplier.Length + 7) / 8;
        m = new int[blocks * 8];
        roundEven = new long[blocks * 4];
        roundOdd = new long[blocks * 4];
        shiftEven = new ulong[blocks * 4];
        shiftOdd = new ulong[blocks * 4];
        for (int c = 0; c < blocks * 8; c++)
        {
            int s = c < shift.Length ? shift[c] : 1;
            m[c] = c < multiplier.Length ? multiplier[c] : 0;
            (c % 2 == 0 ? roundEven : roundOdd)[c / 2] = 1L << (s - 1);
            (c % 2 == 0 ? shiftEven : shiftOdd)[c / 2] = (ulong)s;
        }
    }

    /// <summary>Requantized codes of channels 8 * block .. 8 * block + 7 as int32 lanes in [lo, hi].</summary>
    public Vector256<int> Apply(int block, Vector256<int> acc, Vector256<int> zOut, Vector256<int> lo, Vector256<int> hi)
    {
        var mv = Vector256.Create(m, block * 8);
        var even = Shift(Avx2.Add(Avx2.Multiply(acc, mv), Vector256.Create(roundEven, block * 4)), Vector256.Create(shiftEven, block * 4));
        var odd = Shift(
            Avx2.Add(Avx2.Multiply(Avx2.ShiftRightLogical(acc.AsInt64(), 32).AsInt32(), Avx2.ShiftRightLogical(mv.AsInt64(), 32).AsInt32()),
                Vector256.Create(roundOdd, block * 4)),
            Vector256.Create(shiftOdd, block * 4));
        // Each int64 now fits in 32 bits; odd lanes move to the high halves.
        var v = Avx2.Blend(even.AsInt32(), Avx2.ShiftLeftLogical(odd, 32).AsInt32(), 0b1010_1010);
        return Avx2.Min(Avx2.Max(Avx2.Add(v, zOut), lo), hi);
    }

    /// <summary>Flooring shift of int64 lanes by per-lane counts, then pinned to [-512, 512].</summary>
    private static Vector256<long> Shift(Vector256<long> x, Vector256<ulong> s)
    {
        var sign = Avx2.CompareGreaterThan(Vector256<long>.Zero, x);
        var y = Avx2.Xor(Avx2.ShiftRightLogicalVariable(Avx2.Xor(x, sign), s), sign);
        var big = Vector256.Create(512L);
        var small = Vector256.Create(-512L);
        y = Avx2.BlendVariable(y, big, Avx2.CompareGreaterThan(y, big));
        return Avx2.BlendVariable(y, small, Avx2.CompareGreaterThan(small, y));
    }

    /// <summary>Stores n (at most 8) int32 lanes holding int8 codes as sbytes.</summary>
    public static unsafe void Store(Vector256<int> codes, sbyte* dst, int n)
    {
        var bytes = Vector256.Narrow(Vector256.Narrow(codes, codes), Vector256<short>.Zero);
        if (n == 8) { *(long*)dst = bytes.AsInt64().ToScalar(); return; }
        long packed = bytes.AsInt64().ToScalar();
        for (int k = 0; k < n; k++) dst[k] = (sbyte)(packed >> (8 * k));
    }
}
