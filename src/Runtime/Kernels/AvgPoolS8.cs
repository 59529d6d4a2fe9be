namespace Tern.Runtime.Kernels;

/// <summary>
/// Average pooling and global average pooling on int8 codes: acc = sum (q_in - z_in) over the window, then
/// <see cref="Requantize.Apply"/> with the layer's single (M, S) approximating s_in / (s_out * window). A padded
/// position holds real zero: it adds nothing to the sum but counts in the window (count_include_pad).
/// No division anywhere.
/// </summary>
public static unsafe class AvgPoolS8
{
    private const string Name = nameof(AvgPoolS8);

    /// <summary>The oracle: plain loops.</summary>
    public static void Scalar(IntPoolLayer layer, ReadOnlySpan<sbyte> input, Span<sbyte> output)
    {
        KernelChecks.Pool(layer, max: false, input.Length, output.Length, Name);
        var g = ConvGeometry.Of(layer);
        for (int oy = 0; oy < g.OutH; oy++)
            for (int ox = 0; ox < g.OutW; ox++)
                for (int c = 0; c < g.OutC; c++)
                {
                    int acc = 0;
                    for (int ky = 0; ky < g.KernelH; ky++)
                        for (int kx = 0; kx < g.KernelW; kx++)
                        {
                            int iy = oy * g.StrideH - g.PadTop + ky, ix = ox * g.StrideW - g.PadLeft + kx;
                            if (iy >= 0 && iy < g.InH && ix >= 0 && ix < g.InW)
                                acc += input[(iy * g.InW + ix) * g.InC + c] - layer.InputZero;
                        }
                    output[(oy * g.OutW + ox) * g.OutC + c] = (sbyte)Requantize.Apply(
                        acc, layer.Multiplier, layer.Shift, layer.OutputZero, layer.ActMin, layer.ActMax);
                }
    }

    /// <summary>The layer with its resolved SIMD level (average pooling has no weights to prepare).</summary>
    public sealed class Prepared
    {
        internal Prepared(IntPoolLayer layer, SimdLevel simd)
        {
            if (layer.Kind is not (IntLayerKind.AvgPool or IntLayerKind.GlobalAvgPool))
                throw new ArgumentException($"{Name}: layer '{layer.Name}' is {layer.Kind}", nameof(layer));
            Layer = layer;
            Simd = SimdLevels.Resolve(simd);
            Geometry = ConvGeometry.Of(layer);
        }

        public IntPoolLayer Layer { get; }
        public SimdLevel Simd { get; }
        internal ConvGeometry Geometry { get; }

        /// <summary>int32 elements of scratch (one accumulator per channel).</summary>
        public int ScratchLength => Geometry.OutC;
    }

    /// <summary>Prepares a layer for the optimized body.</summary>
    public static Prepared Prepare(IntPoolLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>Optimized body; allocates its scratch (tests, one-off calls).</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output) =>
        Optimized(p, input, output, new int[p.ScratchLength]);

    /// <summary>
    /// Optimized body: per output pixel, raw codes of the in-bounds taps are summed over all channels at once, then
    /// the zero point is removed once per tap summed (sum (q - z) = sum q - n * z exactly, also under int32 wrapping;
    /// padded taps add nothing).
    /// </summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<int> scratch)
    {
        var layer = p.Layer;
        KernelChecks.Buffers(layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        var g = p.Geometry;
        var level = p.Simd;
        int channels = g.OutC, zOut = layer.OutputZero, lo = layer.ActMin, hi = layer.ActMax;
        int m = layer.Multiplier, s = layer.Shift;
        int zIn = layer.InputZero;
        var acc = scratch[..channels];
        fixed (sbyte* inP = input)
        fixed (sbyte* outP = output)
        fixed (int* accP = acc)
        {
            sbyte* o = outP;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                int iy0 = oy * g.StrideH - g.PadTop;
                int ky0 = Math.Max(0, -iy0), ky1 = Math.Min(g.KernelH, g.InH - iy0);
                for (int ox = 0; ox < g.OutW; ox++)
                {
                    int ix0 = ox * g.StrideW - g.PadLeft;
                    int kx0 = Math.Max(0, -ix0), kx1 = Math.Min(g.KernelW, g.InW - ix0);
                    int offset = (ky1 - ky0) * (kx1 - kx0) * zIn;
                    acc.Clear();
                    sbyte* corner = inP + (iy0 * g.InW + ix0) * channels;
                    for (int ky = ky0; ky < ky1; ky++)
                        for (int kx = kx0; kx < kx1; kx++)
                            VectorOps.Accumulate(corner + (ky * g.InW + kx) * channels, accP, channels, level);
                    for (int c = 0; c < channels; c++)
                        *o++ = (sbyte)Requantize.Apply(accP[c] - offset, m, s, zOut, lo, hi);
                }
            }
        }
    }
}
