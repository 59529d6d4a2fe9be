using System.Runtime.Intrinsics;

namespace Tern.Runtime.Kernels;

/// <summary>
/// Residual add of two int8 tensors with one rounding (see <see cref="IntAddLayer"/>):
/// out = clamp((((a - za) * Ma + (b - zb) * Mb + 2^(S-1)) &gt;&gt; S) + zOut, lo, hi) in int64.
/// The output may be the skip tensor itself (the memory plan adds in place): every element is read before it is
/// written, in both bodies.
/// </summary>
public static unsafe class AddS8
{
    private const string Name = nameof(AddS8);

    private static void Check(IntAddLayer layer, int inputLength, int skipLength, int outputLength)
    {
        KernelChecks.Buffers(layer, inputLength, outputLength, Name);
        if (skipLength != layer.Input.Size)
            throw new ArgumentException($"{Name}: skip has {skipLength} elements, layer '{layer.Name}' expects {layer.Input.Size}");
    }

    /// <summary>The oracle: the formula element by element.</summary>
    public static void Scalar(IntAddLayer layer, ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> skip, Span<sbyte> output)
    {
        Check(layer, input.Length, skip.Length, output.Length);
        for (int i = 0; i < output.Length; i++)
            output[i] = (sbyte)IntAddLayer.Apply(input[i], skip[i], layer.InputZero, layer.SkipZero,
                layer.MultiplierA, layer.MultiplierB, layer.Shift, layer.OutputZero, layer.ActMin, layer.ActMax);
    }

    /// <summary>The layer with its resolved SIMD level and, for the scalar level, the two product tables.</summary>
    public sealed class Prepared
    {
        internal Prepared(IntAddLayer layer, SimdLevel simd)
        {
            Layer = layer;
            Simd = SimdLevels.Resolve(simd);
            // (code - z) * M for every code, the rounding half folded into a's table: two loads and an add per element.
            TableA = new long[256];
            TableB = new long[256];
            for (int q = -128; q < 128; q++)
            {
                TableA[q + 128] = (long)(q - layer.InputZero) * layer.MultiplierA + (1L << (layer.Shift - 1));
                TableB[q + 128] = (long)(q - layer.SkipZero) * layer.MultiplierB;
            }
        }

        public IntAddLayer Layer { get; }
        public SimdLevel Simd { get; }
        internal long[] TableA { get; }
        internal long[] TableB { get; }
    }

    /// <summary>Prepares a layer for the optimized body.</summary>
    public static Prepared Prepare(IntAddLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>Optimized body: 16 (Vector128) or 32 (Vector256) elements widened to int64 lanes at once; the tail and
    /// the scalar level use the product tables.</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> skip, Span<sbyte> output)
    {
        var l = p.Layer;
        Check(l, input.Length, skip.Length, output.Length);
        int n = output.Length;
        fixed (sbyte* a = input)
        fixed (sbyte* b = skip)
        fixed (sbyte* o = output)
        fixed (long* ta = p.TableA)
        fixed (long* tb = p.TableB)
        {
            int i = 0;
            if (p.Simd == SimdLevel.Vector256)
                for (; i + 32 <= n; i += 32)
                    Add256(l, Vector256.Load(a + i), Vector256.Load(b + i)).Store(o + i);
            if (p.Simd >= SimdLevel.Vector128)
                for (; i + 16 <= n; i += 16)
                    Add128(l, Vector128.Load(a + i), Vector128.Load(b + i)).Store(o + i);
            int s = l.Shift, z = l.OutputZero, lo = l.ActMin, hi = l.ActMax;
            for (; i < n; i++)
            {
                long v = ((ta[a[i] + 128] + tb[b[i] + 128]) >> s) + z;
                o[i] = (sbyte)(v < lo ? lo : v > hi ? hi : v);
            }
        }
    }

    private static Vector128<sbyte> Add128(IntAddLayer l, Vector128<sbyte> a, Vector128<sbyte> b)
    {
        var (a0, a1) = Vector128.Widen(a);
        var (b0, b1) = Vector128.Widen(b);
        var r0 = Vector128.Narrow(Lanes128(l, a0, b0, 0), Lanes128(l, a0, b0, 1));
        var r1 = Vector128.Narrow(Lanes128(l, a1, b1, 0), Lanes128(l, a1, b1, 1));
        return Vector128.Narrow(r0, r1);
    }

    // Eight int16 lanes (half = which four) through the formula in int64, clamped, as int32 lanes.
    private static Vector128<int> Lanes128(IntAddLayer l, Vector128<short> a, Vector128<short> b, int half)
    {
        var a32 = half == 0 ? Vector128.WidenLower(a) : Vector128.WidenUpper(a);
        var b32 = half == 0 ? Vector128.WidenLower(b) : Vector128.WidenUpper(b);
        var lo = Formula128(l, Vector128.WidenLower(a32), Vector128.WidenLower(b32));
        var hi = Formula128(l, Vector128.WidenUpper(a32), Vector128.WidenUpper(b32));
        return Vector128.Narrow(lo, hi);
    }

    private static Vector128<long> Formula128(IntAddLayer l, Vector128<long> a, Vector128<long> b)
    {
        var acc = (a - Vector128.Create((long)l.InputZero)) * l.MultiplierA
            + (b - Vector128.Create((long)l.SkipZero)) * l.MultiplierB
            + Vector128.Create(1L << (l.Shift - 1));
        var v = Vector128.ShiftRightArithmetic(acc, l.Shift) + Vector128.Create((long)l.OutputZero);
        return Vector128.Min(Vector128.Max(v, Vector128.Create((long)l.ActMin)), Vector128.Create((long)l.ActMax));
    }

    private static Vector256<sbyte> Add256(IntAddLayer l, Vector256<sbyte> a, Vector256<sbyte> b)
    {
        var (a0, a1) = Vector256.Widen(a);
        var (b0, b1) = Vector256.Widen(b);
        var r0 = Vector256.Narrow(Lanes256(l, a0, b0, 0), Lanes256(l, a0, b0, 1));
        var r1 = Vector256.Narrow(Lanes256(l, a1, b1, 0), Lanes256(l, a1, b1, 1));
        return Vector256.Narrow(r0, r1);
    }

    private static Vector256<int> Lanes256(IntAddLayer l, Vector256<short> a, Vector256<short> b, int half)
    {
        var a32 = half == 0 ? Vector256.WidenLower(a) : Vector256.WidenUpper(a);
        var b32 = half == 0 ? Vector256.WidenLower(b) : Vector256.WidenUpper(b);
        var lo = Formula256(l, Vector256.WidenLower(a32), Vector256.WidenLower(b32));
        var hi = Formula256(l, Vector256.WidenUpper(a32), Vector256.WidenUpper(b32));
        return Vector256.Narrow(lo, hi);
    }

    private static Vector256<long> Formula256(IntAddLayer l, Vector256<long> a, Vector256<long> b)
    {
        var acc = (a - Vector256.Create((long)l.InputZero)) * l.MultiplierA
            + (b - Vector256.Create((long)l.SkipZero)) * l.MultiplierB
            + Vector256.Create(1L << (l.Shift - 1));
        var v = Vector256.ShiftRightArithmetic(acc, l.Shift) + Vector256.Create((long)l.OutputZero);
        return Vector256.Min(Vector256.Max(v, Vector256.Create((long)l.ActMin)), Vector256.Create((long)l.ActMax));
    }
}
