using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Runtime.Kernels;

/// <summary>
/// What the optimized Depthwise body does with one tap over a run of channels: <see cref="DepthwiseS8"/> multiplies by
/// int32 weights (<see cref="DepthwiseT2"/> runs it on its weights expanded). <c>offset</c> is
/// tap * channels + the first channel, an index into the (kh, kw, c) weight layout.
/// </summary>
internal unsafe interface IDepthwiseTap
{
    /// <summary>acc + x (*) w[offset .. offset + 8) for 8 channels (AVX2).</summary>
    Vector256<int> Block(Vector256<int> acc, Vector256<int> x, int offset);

    /// <summary>acc[i] += (x[i] - zero) (*) w[offset + i] for i in [0, n).</summary>
    void Run(sbyte* x, int zero, int offset, int* acc, int n, SimdLevel level);
}

/// <summary>
/// The loops of Depthwise: the oracles of DepthwiseS8 and DepthwiseT2 differ only in the multiply-accumulate, passed
/// as a struct so each kernel gets its own specialised, inlined copy; the optimized loops take the tap the same way.
/// </summary>
internal static unsafe class DepthwiseLoops
{
    /// <summary>The oracle's loops straight from the integer contract: every in-bounds tap, then requantize.</summary>
    public static void Scalar<TMac>(IntConvLayer layer, ConvGeometry g, ReadOnlySpan<sbyte> input, Span<sbyte> output, TMac mac)
        where TMac : struct, IWeightMac
    {
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
                            acc = mac.Mac(acc, c, ky * g.KernelW + kx, input[(iy * g.InW + ix) * g.InC + c] - layer.InputZero);
                        }
                    }
                    output[(oy * g.OutW + ox) * g.OutC + c] = (sbyte)Requantize.Apply(
                        acc, layer.Multiplier[c], layer.Shift[c], layer.OutputZero, layer.ActMin, layer.ActMax);
                }
    }

    /// <summary>The optimized loops: per output pixel, int32 accumulators over all channels at once, tap by tap.</summary>
    public static void Optimized<TTap>(IntConvLayer layer, ConvGeometry g, SimdLevel level, RequantizeBlocks? rq,
        ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<int> scratch, TTap tap)
        where TTap : struct, IDepthwiseTap
    {
        int channels = g.OutC, zIn = layer.InputZero, zOut = layer.OutputZero, lo = layer.ActMin, hi = layer.ActMax;
        int[] bias = layer.Bias, mult = layer.Multiplier, shift = layer.Shift;
        var acc = scratch[..channels];
        int first = level == SimdLevel.Vector256 ? channels / 8 * 8 : 0, rest = channels - first;
        var z8 = Vector256.Create(zIn);
        var (zOut8, lo8, hi8) = (Vector256.Create(zOut), Vector256.Create(lo), Vector256.Create(hi));
        fixed (int* biasP = bias)
        fixed (sbyte* inP = input)
        fixed (sbyte* outP = output)
        fixed (int* accP = acc)
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
                                var x = Avx2.Subtract(Avx2.ConvertToVector256Int32(inP + (iy * g.InW + ix) * channels + c0), z8);
                                acc8 = tap.Block(acc8, x, (ky * g.KernelW + kx) * channels + c0);
                            }
                        }
                        RequantizeBlocks.Store(rq!.Apply(c0 / 8, acc8, zOut8, lo8, hi8), o + c0, 8);
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
                                tap.Run(inP + (iy * g.InW + ix) * channels + first, zIn,
                                    (ky * g.KernelW + kx) * channels + first, accP + first, rest, level);
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
