using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Runtime.Kernels;

/// <summary>
/// Inner loops shared by the optimized kernels. Every routine has a body per <see cref="SimdLevel"/>; all
/// bodies compute the same integers (int32 sums wrap identically in any order, so lane order is free).
/// </summary>
internal static unsafe class VectorOps
{
    /// <summary>Rounds a length up to a multiple of 16, the widest int16 vector, so dot products have no tail.</summary>
    public static int PadTo16(int n) => (n + 15) & ~15;

    /// <summary>dst[i] = src[i] - zero as int16, for i in [0, n).</summary>
    public static void WidenSubtract(sbyte* src, short* dst, int n, int zero, SimdLevel level)
    {
        int i = 0;
        if (level >= SimdLevel.Vector128 && n >= 16)
        {
            var z = Vector128.Create((short)zero);
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector128.Widen(Vector128.Load(src + i));
                (lo - z).Store(dst + i);
                (hi - z).Store(dst + i + 8);
            }
        }
        for (; i < n; i++) dst[i] = (short)(src[i] - zero);
    }

    /// <summary>Four sbytes sign-extended to four int32 lanes, with portable operations only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> LoadWiden4(sbyte* p)
    {
        var bytes = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<int>(p)).AsSByte();
        return Vector128.WidenLower(Vector128.WidenLower(bytes));
    }

    /// <summary>Sum of a[i] * b[i] for i in [0, n), n a multiple of 8, int32 wrapping.</summary>
    public static int DotS16(short* a, short* b, int n, SimdLevel level)
    {
        int i = 0;
        if (level == SimdLevel.Vector256)
        {
            // vpmaddwd: each pair of products is at most 2 * 255 * 127, far inside int32.
            var acc = Vector256<int>.Zero;
            for (; i + 16 <= n; i += 16)
                acc = Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i)));
            var acc128 = Sse2.Add(acc.GetLower(), acc.GetUpper());
            if (i < n)
            {
                acc128 = Sse2.Add(acc128, Sse2.MultiplyAddAdjacent(Sse2.LoadVector128(a + i), Sse2.LoadVector128(b + i)));
                i += 8;
            }
            return Vector128.Sum(acc128);
        }
        if (level == SimdLevel.Vector128)
        {
            var acc = Vector128<int>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var (al, ah) = Vector128.Widen(Vector128.Load(a + i));
                var (bl, bh) = Vector128.Widen(Vector128.Load(b + i));
                acc += al * bl + ah * bh;
            }
            return Vector128.Sum(acc);
        }
        int s = 0;
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>acc[i] += x[i] * w[i] for i in [0, n) on int32 lanes.</summary>
    public static void MultiplyAccumulate(sbyte* x, int zero, int* w, int* acc, int n, SimdLevel level)
    {
        int i = 0;
        if (level == SimdLevel.Vector256)
        {
            var z = Vector256.Create(zero);
            for (; i + 8 <= n; i += 8)
            {
                var v = Avx2.Subtract(Avx2.ConvertToVector256Int32(x + i), z);
                Avx2.Add(Avx.LoadVector256(acc + i), Avx2.MultiplyLow(v, Avx.LoadVector256(w + i))).Store(acc + i);
            }
        }
        else if (level == SimdLevel.Vector128)
        {
            var z = Vector128.Create(zero);
            for (; i + 4 <= n; i += 4)
            {
                var v = LoadWiden4(x + i) - z;
                (Vector128.Load(acc + i) + v * Vector128.Load(w + i)).Store(acc + i);
            }
        }
        for (; i < n; i++) acc[i] += (x[i] - zero) * w[i];
    }

    /// <summary>acc[i] += x[i] for i in [0, n) (sbyte widened to int32).</summary>
    public static void Accumulate(sbyte* x, int* acc, int n, SimdLevel level)
    {
        int i = 0;
        if (level == SimdLevel.Vector256)
        {
            for (; i + 8 <= n; i += 8)
                Avx2.Add(Avx.LoadVector256(acc + i), Avx2.ConvertToVector256Int32(x + i)).Store(acc + i);
        }
        else if (level == SimdLevel.Vector128)
        {
            for (; i + 4 <= n; i += 4)
                (Vector128.Load(acc + i) + LoadWiden4(x + i)).Store(acc + i);
        }
        for (; i < n; i++) acc[i] += x[i];
    }
}
