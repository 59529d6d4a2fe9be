using System.Runtime.Intrinsics;

namespace Tern.Runtime.Kernels;

/// <summary>
/// Max pooling on int8 codes (scale and zero point unchanged): out = clamp(max over window, ActMin, ActMax), where a
/// padded position of the window holds the input zero point (real zero).
/// </summary>
public static unsafe class MaxPoolS8
{
    private const string Name = nameof(MaxPoolS8);

    /// <summary>The oracle: plain loops.</summary>
    public static void Scalar(IntPoolLayer layer, ReadOnlySpan<sbyte> input, Span<sbyte> output)
    {
        KernelChecks.Pool(layer, max: true, input.Length, output.Length, Name);
        var g = ConvGeometry.Of(layer);
        for (int oy = 0; oy < g.OutH; oy++)
            for (int ox = 0; ox < g.OutW; ox++)
                for (int c = 0; c < g.OutC; c++)
                {
                    int m = sbyte.MinValue;
                    for (int ky = 0; ky < g.KernelH; ky++)
                        for (int kx = 0; kx < g.KernelW; kx++)
                        {
                            int iy = oy * g.StrideH - g.PadTop + ky, ix = ox * g.StrideW - g.PadLeft + kx;
                            bool inside = iy >= 0 && iy < g.InH && ix >= 0 && ix < g.InW;
                            m = Math.Max(m, inside ? input[(iy * g.InW + ix) * g.InC + c] : layer.InputZero);
                        }
                    output[(oy * g.OutW + ox) * g.OutC + c] = (sbyte)Math.Clamp(m, layer.ActMin, layer.ActMax);
                }
    }

    /// <summary>The layer with its resolved SIMD level (max pooling has no weights to prepare).</summary>
    public sealed class Prepared
    {
        internal Prepared(IntPoolLayer layer, SimdLevel simd)
        {
            if (layer.Kind != IntLayerKind.MaxPool)
                throw new ArgumentException($"{Name}: layer '{layer.Name}' is {layer.Kind}", nameof(layer));
            Layer = layer;
            Simd = SimdLevels.Resolve(simd);
            Geometry = ConvGeometry.Of(layer);
        }

        public IntPoolLayer Layer { get; }
        public SimdLevel Simd { get; }
        internal ConvGeometry Geometry { get; }
    }

    /// <summary>Prepares a layer for the optimized body.</summary>
    public static Prepared Prepare(IntPoolLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>
    /// Optimized body: per output pixel, the first tap is copied, then maxed tap by tap over all channels at once. A
    /// window over the padding starts from the input zero point instead and maxes only its in-bounds taps.
    /// </summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output)
    {
        var layer = p.Layer;
        KernelChecks.Buffers(layer, input.Length, output.Length, Name);
        var g = p.Geometry;
        var level = p.Simd;
        int channels = g.OutC;
        sbyte lo = (sbyte)layer.ActMin, hi = (sbyte)layer.ActMax;
        fixed (sbyte* inP = input)
        fixed (sbyte* outP = output)
        {
            sbyte* o = outP;
            sbyte zero = (sbyte)layer.InputZero;
            for (int oy = 0; oy < g.OutH; oy++)
            {
                int iy0 = oy * g.StrideH - g.PadTop;
                int ky0 = Math.Max(0, -iy0), ky1 = Math.Min(g.KernelH, g.InH - iy0);
                for (int ox = 0; ox < g.OutW; ox++, o += channels)
                {
                    int ix0 = ox * g.StrideW - g.PadLeft;
                    int kx0 = Math.Max(0, -ix0), kx1 = Math.Min(g.KernelW, g.InW - ix0);
                    sbyte* corner = inP + (iy0 * g.InW + ix0) * channels;
                    if (ky0 == 0 && ky1 == g.KernelH && kx0 == 0 && kx1 == g.KernelW)
                    {
                        new ReadOnlySpan<sbyte>(corner, channels).CopyTo(new Span<sbyte>(o, channels));
                        for (int ky = 0; ky < g.KernelH; ky++)
                            for (int kx = ky == 0 ? 1 : 0; kx < g.KernelW; kx++)
                                MaxInto(o, corner + (ky * g.InW + kx) * channels, channels, level);
                    }
                    else
                    {
                        new Span<sbyte>(o, channels).Fill(zero);
                        for (int ky = ky0; ky < ky1; ky++)
                            for (int kx = kx0; kx < kx1; kx++)
                                MaxInto(o, corner + (ky * g.InW + kx) * channels, channels, level);
                    }
                    Clamp(o, channels, lo, hi, level);
                }
            }
        }
    }

    private static void MaxInto(sbyte* dst, sbyte* src, int n, SimdLevel level)
    {
        int i = 0;
        if (level == SimdLevel.Vector256)
            for (; i + 32 <= n; i += 32)
                Vector256.Max(Vector256.Load(dst + i), Vector256.Load(src + i)).Store(dst + i);
        if (level >= SimdLevel.Vector128)
            for (; i + 16 <= n; i += 16)
                Vector128.Max(Vector128.Load(dst + i), Vector128.Load(src + i)).Store(dst + i);
        for (; i < n; i++)
            if (src[i] > dst[i]) dst[i] = src[i];
    }

    private static void Clamp(sbyte* dst, int n, sbyte lo, sbyte hi, SimdLevel level)
    {
        int i = 0;
        if (level >= SimdLevel.Vector128)
        {
            var vlo = Vector128.Create(lo);
            var vhi = Vector128.Create(hi);
            for (; i + 16 <= n; i += 16)
                Vector128.Min(Vector128.Max(Vector128.Load(dst + i), vlo), vhi).Store(dst + i);
        }
        for (; i < n; i++)
            dst[i] = dst[i] < lo ? lo : dst[i] > hi ? hi : dst[i];
    }
}
