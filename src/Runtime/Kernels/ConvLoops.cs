namespace Tern.Runtime.Kernels;

/// <summary>
/// What the optimized Conv body does per output pixel once its patch is gathered: <see cref="ConvS8"/> widens the
/// patch to int16 for multiply-add instructions (<see cref="ConvT2"/> runs it on its weights expanded to int16).
/// </summary>
internal unsafe interface IConvChannels
{
    /// <summary>dst[i] = src[i] - zero for i in [0, n), widened to int16.</summary>
    void Gather(sbyte* src, short* dst, int n, int zero, SimdLevel level);

    /// <summary>Every output channel of one pixel from its patch, requantized and stored from <c>o</c>; returns the next output.</summary>
    sbyte* Channels(short* patch, sbyte* o);
}

/// <summary>
/// The loops of Conv, Pointwise and Dense: the oracles of ConvS8 and ConvT2 differ only in the multiply-accumulate,
/// passed as a struct so each kernel gets its own specialised, inlined copy; the optimized loops take the per-pixel
/// part the same way.
/// </summary>
internal static unsafe class ConvLoops
{
    /// <summary>The oracle's loops straight from the integer contract: every in-bounds tap, then requantize.</summary>
    public static void Scalar<TMac>(IntConvLayer layer, ConvGeometry g, ReadOnlySpan<sbyte> input, Span<sbyte> output, TMac mac)
        where TMac : struct, IWeightMac
    {
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
                                acc = mac.Mac(acc, oc, (ky * g.KernelW + kx) * g.InC + ic,
                                    input[(iy * g.InW + ix) * g.InC + ic] - layer.InputZero);
                        }
                    }
                    output[(oy * g.OutW + ox) * g.OutC + oc] = (sbyte)Requantize.Apply(
                        acc, layer.Multiplier[oc], layer.Shift[oc], layer.OutputZero, layer.ActMin, layer.ActMax);
                }
    }

    /// <summary>
    /// The optimized loops: each output pixel's patch is gathered once (q_in - z_in, 0 for padding, the row
    /// zero-padded to <paramref name="padded"/> elements), then <paramref name="channels"/> computes every output channel from it.
    /// </summary>
    public static void Optimized<TChannels>(IntConvLayer layer, ConvGeometry g, int padded, SimdLevel level,
        ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<short> scratch, TChannels channels)
        where TChannels : struct, IConvChannels
    {
        int zIn = layer.InputZero;
        int rowLen = g.KernelW * g.InC;
        fixed (sbyte* inP = input)
        fixed (sbyte* outP = output)
        fixed (short* patch = scratch)
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
                        if (rowInside) { channels.Gather(src, d, rowLen, zIn, level); continue; }
                        for (int kx = 0; kx < g.KernelW; kx++)
                        {
                            int ix = ix0 + kx;
                            if (ix < 0 || ix >= g.InW) new Span<short>(d + kx * g.InC, g.InC).Clear();
                            else channels.Gather(src + kx * g.InC, d + kx * g.InC, g.InC, zIn, level);
                        }
                    }
                    o = channels.Channels(patch, o);
                }
            }
        }
    }
}
