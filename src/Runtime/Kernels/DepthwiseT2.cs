using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Runtime.Kernels;

/// <summary>
/// Depthwise convolution (multiplier 1) with ternary packed weights, one (kh, kw) row per channel:
/// acc = bias[c] + sum_{t=+1} (q_in - z_in) - sum_{t=-1} (q_in - z_in) over in-bounds taps, then
/// <see cref="Requantize.Apply"/>. The optimized body has no multiplies.
/// </summary>
public static unsafe class DepthwiseT2
{
    private const string Name = nameof(DepthwiseT2);

    /// <summary>The oracle: plain loops straight from the integer contract, decoding each weight as it goes.</summary>
    public static void Scalar(IntConvLayer layer, ReadOnlySpan<sbyte> input, Span<sbyte> output)
    {
        KernelChecks.Conv(layer, WeightKind.Ternary, depthwise: true, input.Length, output.Length, Name);
        var g = ConvGeometry.Of(layer);
        var w = layer.TernaryWeights!;
        for (int oy = 0; oy < g.OutH; oy++)
            for (int ox = 0; ox < g.OutW; ox++)
                for (int c = 0; c < g.OutC; c++)
                {
                    int acc = layer.Bias[c];
                    for (int ky = 0; ky < g.KernelH; ky++)
                    {
                        int iy = oy * g.StrideH - g.PadTop + ky;
                        if (iy < 0 || iy >= g.InH) continue;
                        for (int kx = 0; kx < g.KernelW; kx++)
                        {
                            int ix = ox * g.StrideW - g.PadLeft + kx;
                            if (ix < 0 || ix >= g.InW) continue;
                            int t = w.Get(c, ky * g.KernelW + kx);
                            int x = input[(iy * g.InW + ix) * g.InC + c] - layer.InputZero;
                            if (t > 0) acc += x;
                            else if (t < 0) acc -= x;
                        }
                    }
                    output[(oy * g.OutW + ox) * g.OutC + c] = (sbyte)Requantize.Apply(
                        acc, layer.Multiplier[c], layer.Shift[c], layer.OutputZero, layer.ActMin, layer.ActMax);
                }
    }

    /// <summary>Weights expanded once per model into int32 all-ones masks in (kh, kw, c) order.</summary>
    public sealed class Prepared
    {
        internal Prepared(IntConvLayer layer, SimdLevel simd)
        {
            if (layer.WeightKind != WeightKind.Ternary || layer.Kind != IntLayerKind.Depthwise)
                throw new ArgumentException($"{Name}: layer '{layer.Name}' is {layer.Kind} with {layer.WeightKind} weights", nameof(layer));
            Layer = layer;
            Simd = SimdLevels.Resolve(simd);
            Geometry = ConvGeometry.Of(layer);
            if (Simd == SimdLevel.Vector256) Requantizer = new Requantize8(layer.Multiplier, layer.Shift);
            int taps = layer.KernelH * layer.KernelW, channels = Geometry.OutC;
            Plus = new int[taps * channels];
            Minus = new int[taps * channels];
            for (int c = 0; c < channels; c++)
                VectorOps.TernaryMasks(layer.TernaryWeights!, c, Plus, Minus, c, channels);
        }

        public IntConvLayer Layer { get; }
        internal Requantize8? Requantizer { get; }
        public SimdLevel Simd { get; }
        internal ConvGeometry Geometry { get; }
        internal int[] Plus { get; }
        internal int[] Minus { get; }

        /// <summary>int32 elements of scratch (one accumulator per channel).</summary>
        public int ScratchLength => Geometry.OutC;
    }

    /// <summary>Prepares a layer for the optimized body; do it once per model.</summary>
    public static Prepared Prepare(IntConvLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>Optimized body; allocates its scratch (tests, one-off calls).</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output) =>
        Optimized(p, input, output, new int[p.ScratchLength]);

    /// <summary>Optimized body: per output pixel, int32 accumulators over all channels, adding (x &amp; plus) - (x &amp; minus) tap by tap.</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<int> scratch)
    {
        var layer = p.Layer;
        KernelChecks.Buffers(layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        var g = p.Geometry;
        var level = p.Simd;
        int channels = g.OutC, zIn = layer.InputZero, zOut = layer.OutputZero, lo = layer.ActMin, hi = layer.ActMax;
        int[] bias = layer.Bias, mult = layer.Multiplier, shift = layer.Shift;
        var acc = scratch[..channels];
        int first = level == SimdLevel.Vector256 ? channels / 8 * 8 : 0, rest = channels - first;
        var z8 = Vector256.Create(zIn);
        var (zOut8, lo8, hi8) = (Vector256.Create(zOut), Vector256.Create(lo), Vector256.Create(hi));
        var rq = p.Requantizer;
        fixed (int* biasP = bias)
        fixed (sbyte* inP = input)
        fixed (sbyte* outP = output)
        fixed (int* accP = acc)
        fixed (int* plusP = p.Plus)
        fixed (int* minusP = p.Minus)
        {
            sbyte* o = outP;
            for (int oy = 0; oy < g.OutH; oy++)
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    // AVX2: whole blocks of 8 channels keep their accumulators in a register across all taps.
                    for (int c0 = 0; c0 < first; c0 += 8)
                    {
                        var acc8 = Avx.LoadVector256(biasP + c0);
                        for (int ky = 0; ky < g.KernelH; ky++)
                        {
                            int iy = oy * g.StrideH - g.PadTop + ky;
                            if (iy < 0 || iy >= g.InH) continue;
                            for (int kx = 0; kx < g.KernelW; kx++)
                            {
                                int ix = ox * g.StrideW - g.PadLeft + kx;
                                if (ix < 0 || ix >= g.InW) continue;
                                int tap = (ky * g.KernelW + kx) * channels;
                                var x = Avx2.Subtract(Avx2.ConvertToVector256Int32(inP + (iy * g.InW + ix) * channels + c0), z8);
                                acc8 = Avx2.Add(acc8, Avx2.Subtract(Avx2.And(x, Avx.LoadVector256(plusP + tap + c0)), Avx2.And(x, Avx.LoadVector256(minusP + tap + c0))));
                            }
                        }
                        Requantize8.Store(rq!.Apply(c0 / 8, acc8, zOut8, lo8, hi8), o + c0, 8);
                    }
                    // Leftover channels (all of them below AVX2) accumulate in scratch, tap by tap.
                    if (rest > 0)
                    {
                        bias.AsSpan(first).CopyTo(acc[first..]);
                        for (int ky = 0; ky < g.KernelH; ky++)
                        {
                            int iy = oy * g.StrideH - g.PadTop + ky;
                            if (iy < 0 || iy >= g.InH) continue;
                            for (int kx = 0; kx < g.KernelW; kx++)
                            {
                                int ix = ox * g.StrideW - g.PadLeft + kx;
                                if (ix < 0 || ix >= g.InW) continue;
                                int tap = (ky * g.KernelW + kx) * channels + first;
                                VectorOps.TernaryAccumulate(inP + (iy * g.InW + ix) * channels + first, zIn,
                                    plusP + tap, minusP + tap, accP + first, rest, level);
                            }
                        }
                    }
                    for (int c = first; c < channels; c++)
                        o[c] = (sbyte)Requantize.Apply(accP[c], mult[c], shift[c], zOut, lo, hi);
                    o += channels;
                }
        }
    }
}
