using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Runtime.Kernels;

/// <summary>
/// Convolution with int8 weights: Conv, Pointwise (a 1x1 conv) and Dense (a conv whose input is 1x1xN).
/// acc = bias[oc] + sum (q_in - z_in) * w[oc, ky, kx, ic] over in-bounds taps (padding contributes nothing),
/// then <see cref="Requantize.Apply"/>. Activations HWC int8; weights one row per output channel.
/// </summary>
public static unsafe class ConvS8
{
    private const string Name = nameof(ConvS8);

    /// <summary>The oracle: plain loops straight from the integer contract.</summary>
    public static void Scalar(IntConvLayer layer, ReadOnlySpan<sbyte> input, Span<sbyte> output)
    {
        KernelChecks.Conv(layer, WeightKind.Int8, depthwise: false, input.Length, output.Length, Name);
        var g = ConvGeometry.Of(layer);
        var w = layer.Int8;
        int fanIn = g.FanIn;
        for (int oy = 0; oy < g.OutH; oy++)
            for (int ox = 0; ox < g.OutW; ox++)
                for (int oc = 0; oc < g.OutC; oc++)
                {
                    int acc = layer.Bias[oc];
                    for (int ky = 0; ky < g.KernelH; ky++)
                    {
                        int iy = oy * g.StrideH - g.PadTop + ky;
                        if (iy < 0 || iy >= g.InH) continue;
                        for (int kx = 0; kx < g.KernelW; kx++)
                        {
                            int ix = ox * g.StrideW - g.PadLeft + kx;
                            if (ix < 0 || ix >= g.InW) continue;
                            for (int ic = 0; ic < g.InC; ic++)
                                acc += (input[(iy * g.InW + ix) * g.InC + ic] - layer.InputZero)
                                       * w[oc * fanIn + (ky * g.KernelW + kx) * g.InC + ic];
                        }
                    }
                    output[(oy * g.OutW + ox) * g.OutC + oc] = (sbyte)Requantize.Apply(
                        acc, layer.Multiplier[oc], layer.Shift[oc], layer.OutputZero, layer.ActMin, layer.ActMax);
                }
    }

    /// <summary>Weights widened to int16 once per model, each row zero-padded to a multiple of 16.</summary>
    public sealed class Prepared
    {
        internal Prepared(IntConvLayer layer, SimdLevel simd)
        {
            if (layer.WeightKind != WeightKind.Int8 || layer.Kind == IntLayerKind.Depthwise)
                throw new ArgumentException($"{Name}: layer '{layer.Name}' is {layer.Kind} with {layer.WeightKind} weights", nameof(layer));
            Layer = layer;
            Simd = SimdLevels.Resolve(simd);
            Geometry = ConvGeometry.Of(layer);
            FanInPadded = VectorOps.PadTo16(Geometry.FanIn);
            var w = layer.Int8;
            int fanIn = Geometry.FanIn, outC = Geometry.OutC;
            if (Simd == SimdLevel.Vector256)
            {
                // Blocks of 8 output channels; for each pair of patch positions (2q, 2q + 1) the 16 int16
                // weights (oc0: w[2q], w[2q+1], oc1: ...), so one vpmaddwd against the broadcast pair adds a
                // pair of products to all 8 channel accumulators at once, with no horizontal sums.
                Blocks = (outC + 7) / 8;
                Pairs = (fanIn + 1) / 2;
                Weights = new short[Blocks * Pairs * 16];
                for (int oc = 0; oc < outC; oc++)
                    for (int j = 0; j < fanIn; j++)
                        Weights[(oc / 8 * Pairs + j / 2) * 16 + oc % 8 * 2 + j % 2] = w[oc * fanIn + j];
                BlockBias = new int[Blocks * 8];
                layer.Bias.CopyTo(BlockBias, 0);
                Requantizer = new Requantize8(layer.Multiplier, layer.Shift);
            }
            else
            {
                Weights = new short[outC * FanInPadded];
                for (int oc = 0; oc < outC; oc++)
                    for (int j = 0; j < fanIn; j++)
                        Weights[oc * FanInPadded + j] = w[oc * fanIn + j];
                BlockBias = layer.Bias;
            }
        }

        public IntConvLayer Layer { get; }
        public SimdLevel Simd { get; }
        internal ConvGeometry Geometry { get; }
        internal int FanInPadded { get; }
        /// <summary>Vector256: channel-blocked pair layout (see the constructor); otherwise one padded row per channel.</summary>
        internal short[] Weights { get; }
        internal int Blocks { get; }
        internal int Pairs { get; }
        internal int[] BlockBias { get; }
        internal Requantize8? Requantizer { get; }

        /// <summary>int16 elements of scratch that <see cref="Optimized(Prepared, ReadOnlySpan{sbyte}, Span{sbyte}, Span{short})"/> needs.</summary>
        public int ScratchLength => FanInPadded;
    }

    /// <summary>Prepares a layer for <see cref="Optimized(Prepared, ReadOnlySpan{sbyte}, Span{sbyte}, Span{short})"/>; do it once per model.</summary>
    public static Prepared Prepare(IntConvLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>Optimized body; allocates its scratch (tests, one-off calls).</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output) =>
        Optimized(p, input, output, new short[p.ScratchLength]);

    /// <summary>
    /// Optimized body: each output pixel's patch is gathered once as int16 (q_in - z_in, 0 for padding),
    /// then every output channel is one int16 dot product with the pre-widened weights.
    /// </summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<short> scratch)
    {
        var layer = p.Layer;
        KernelChecks.Buffers(layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        var g = p.Geometry;
        var level = p.Simd;
        int padded = p.FanInPadded, zIn = layer.InputZero, zOut = layer.OutputZero, lo = layer.ActMin, hi = layer.ActMax;
        int rowLen = g.KernelW * g.InC;
        int[] bias = layer.Bias, mult = layer.Multiplier, shift = layer.Shift;
        fixed (sbyte* inP = input)
        fixed (sbyte* outP = output)
        fixed (short* patch = scratch)
        fixed (short* wP = p.Weights)
        {
            new Span<short>(patch + g.FanIn, padded - g.FanIn).Clear();
            sbyte* o = outP;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                int iy0 = oy * g.StrideH - g.PadTop;
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    int ix0 = ox * g.StrideW - g.PadLeft;
                    bool rowInside = ix0 >= 0 && ix0 + g.KernelW <= g.InW;
                    short* d = patch;
                    for (int ky = 0; ky < g.KernelH; ky++, d += rowLen)
                    {
                        int iy = iy0 + ky;
                        if (iy < 0 || iy >= g.InH) { new Span<short>(d, rowLen).Clear(); continue; }
                        sbyte* src = inP + (iy * g.InW + ix0) * g.InC;
                        // HWC: a kernel row fully inside the image is one contiguous run of KernelW * InC codes.
                        if (rowInside) { VectorOps.WidenSubtract(src, d, rowLen, zIn, level); continue; }
                        for (int kx = 0; kx < g.KernelW; kx++)
                        {
                            int ix = ix0 + kx;
                            if (ix < 0 || ix >= g.InW) new Span<short>(d + kx * g.InC, g.InC).Clear();
                            else VectorOps.WidenSubtract(src + kx * g.InC, d + kx * g.InC, g.InC, zIn, level);
                        }
                    }
                    if (level == SimdLevel.Vector256)
                    {
                        o = ChannelBlocks(p, patch, wP, o);
                        continue;
                    }
                    short* w = wP;
                    for (int oc = 0; oc < g.OutC; oc++, w += padded)
                    {
                        int acc = bias[oc] + VectorOps.DotS16(patch, w, padded, level);
                        *o++ = (sbyte)Requantize.Apply(acc, mult[oc], shift[oc], zOut, lo, hi);
                    }
                }
            }
        }
    }

    /// <summary>All output channels of one pixel, 8 at a time (AVX2), from the patch and the pair-layout weights.</summary>
    private static sbyte* ChannelBlocks(Prepared p, short* patch, short* weights, sbyte* o)
    {
        var layer = p.Layer;
        int pairs = p.Pairs, outC = p.Geometry.OutC;
        var rq = p.Requantizer!;
        var zOut = Vector256.Create(layer.OutputZero);
        var lo = Vector256.Create(layer.ActMin);
        var hi = Vector256.Create(layer.ActMax);
        int* patchPairs = (int*)patch;
        fixed (int* biasP = p.BlockBias)
        {
            for (int b = 0; b < p.Blocks; b++)
            {
                var acc = Avx.LoadVector256(biasP + b * 8);
                short* wb = weights + b * pairs * 16;
                for (int q = 0; q < pairs; q++)
                    acc = Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Vector256.Create(patchPairs[q]).AsInt16(), Avx.LoadVector256(wb + q * 16)));
                Requantize8.Store(rq.Apply(b, acc, zOut, lo, hi), o, Math.Min(8, outC - b * 8));
                o += Math.Min(8, outC - b * 8);
            }
        }
        return o;
    }
}
