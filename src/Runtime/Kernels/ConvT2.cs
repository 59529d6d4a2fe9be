namespace Tern.Runtime.Kernels;

/// <summary>
/// Convolution with ternary packed weights (see <see cref="PackedTernary"/>): Conv, Pointwise and Dense.
/// acc = bias[oc] + sum_{t=+1} (q_in - z_in) - sum_{t=-1} (q_in - z_in) over in-bounds taps, then
/// <see cref="Requantize.Apply"/>. The optimized body has no multiplies, only and/add/subtract.
/// </summary>
public static unsafe class ConvT2
{
    private const string Name = nameof(ConvT2);

    /// <summary>The oracle: plain loops straight from the integer contract, decoding each weight as it goes.</summary>
    public static void Scalar(IntConvLayer layer, ReadOnlySpan<sbyte> input, Span<sbyte> output)
    {
        KernelChecks.Conv(layer, WeightKind.Ternary, depthwise: false, input.Length, output.Length, Name);
        var g = ConvGeometry.Of(layer);
        var w = layer.TernaryWeights!;
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
                            {
                                int t = w.Get(oc, (ky * g.KernelW + kx) * g.InC + ic);
                                int x = input[(iy * g.InW + ix) * g.InC + ic] - layer.InputZero;
                                if (t > 0) acc += x;
                                else if (t < 0) acc -= x;
                            }
                        }
                    }
                    output[(oy * g.OutW + ox) * g.OutC + oc] = (sbyte)Requantize.Apply(
                        acc, layer.Multiplier[oc], layer.Shift[oc], layer.OutputZero, layer.ActMin, layer.ActMax);
                }
    }

    /// <summary>Weights expanded once per model into int32 all-ones masks (+1 and -1), rows padded to a multiple of 8.</summary>
    public sealed class Prepared
    {
        internal Prepared(IntConvLayer layer, SimdLevel simd)
        {
            if (layer.WeightKind != WeightKind.Ternary || layer.Kind == IntLayerKind.Depthwise)
                throw new ArgumentException($"{Name}: layer '{layer.Name}' is {layer.Kind} with {layer.WeightKind} weights", nameof(layer));
            Layer = layer;
            Simd = SimdLevels.Resolve(simd);
            Geometry = ConvGeometry.Of(layer);
            FanInPadded = (Geometry.FanIn + 7) & ~7;
            Plus = new int[Geometry.OutC * FanInPadded];
            Minus = new int[Geometry.OutC * FanInPadded];
            for (int oc = 0; oc < Geometry.OutC; oc++)
                VectorOps.TernaryMasks(layer.TernaryWeights!, oc, Plus, Minus, oc * FanInPadded, 1);
        }

        public IntConvLayer Layer { get; }
        public SimdLevel Simd { get; }
        internal ConvGeometry Geometry { get; }
        internal int FanInPadded { get; }
        internal int[] Plus { get; }
        internal int[] Minus { get; }

        /// <summary>int32 elements of scratch that <see cref="Optimized(Prepared, ReadOnlySpan{sbyte}, Span{sbyte}, Span{int})"/> needs.</summary>
        public int ScratchLength => FanInPadded;
    }

    /// <summary>Prepares a layer for <see cref="Optimized(Prepared, ReadOnlySpan{sbyte}, Span{sbyte}, Span{int})"/>; do it once per model.</summary>
    public static Prepared Prepare(IntConvLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>Optimized body; allocates its scratch (tests, one-off calls).</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output) =>
        Optimized(p, input, output, new int[p.ScratchLength]);

    /// <summary>
    /// Optimized body: each output pixel's patch is gathered once as int32 (q_in - z_in, 0 for padding),
    /// then every output channel sums (x &amp; plus) - (x &amp; minus) over the patch.
    /// </summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<int> scratch)
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
        fixed (int* patch = scratch)
        fixed (int* plusP = p.Plus)
        fixed (int* minusP = p.Minus)
        {
            new Span<int>(patch + g.FanIn, padded - g.FanIn).Clear();
            sbyte* o = outP;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                int iy0 = oy * g.StrideH - g.PadTop;
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    int ix0 = ox * g.StrideW - g.PadLeft;
                    bool rowInside = ix0 >= 0 && ix0 + g.KernelW <= g.InW;
                    int* d = patch;
                    for (int ky = 0; ky < g.KernelH; ky++, d += rowLen)
                    {
                        int iy = iy0 + ky;
                        if (iy < 0 || iy >= g.InH) { new Span<int>(d, rowLen).Clear(); continue; }
                        sbyte* src = inP + (iy * g.InW + ix0) * g.InC;
                        // HWC: a kernel row fully inside the image is one contiguous run of KernelW * InC codes.
                        if (rowInside) { VectorOps.WidenSubtract(src, d, rowLen, zIn, level); continue; }
                        for (int kx = 0; kx < g.KernelW; kx++)
                        {
                            int ix = ix0 + kx;
                            if (ix < 0 || ix >= g.InW) new Span<int>(d + kx * g.InC, g.InC).Clear();
                            else VectorOps.WidenSubtract(src + kx * g.InC, d + kx * g.InC, g.InC, zIn, level);
                        }
                    }
                    for (int oc = 0; oc < g.OutC; oc++)
                    {
                        int acc = bias[oc] + VectorOps.TernaryDot(patch, plusP + oc * padded, minusP + oc * padded, padded, level);
                        *o++ = (sbyte)Requantize.Apply(acc, mult[oc], shift[oc], zOut, lo, hi);
                    }
                }
            }
        }
    }
}
