using System.Runtime.CompilerServices;
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
        ConvLoops.Scalar(layer, g, input, output, new Int8Mac(layer.Int8Weights!, g.FanIn));
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
                Requantizer = new RequantizeBlocks(layer.Multiplier, layer.Shift);
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
        internal RequantizeBlocks? Requantizer { get; }

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
        KernelChecks.Buffers(p.Layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        fixed (short* wP = p.Weights)
            ConvLoops.Optimized(p.Layer, p.Geometry, p.FanInPadded, p.Simd, input, output, scratch, new Int16Channels(p, wP));
    }

    /// <summary>ConvS8's part of the shared loops: an int16 patch, and per pixel one dot product per output channel.</summary>
    private readonly struct Int16Channels : IConvChannels
    {
        private readonly Prepared _p;
        private readonly short* _weights;
        private readonly int[] _bias, _mult, _shift;
        private readonly int _padded, _outC, _zOut, _lo, _hi;
        private readonly SimdLevel _level;

        public Int16Channels(Prepared p, short* weights)
        {
            var layer = p.Layer;
            _weights = weights;
            (_p, _level, _padded, _outC) = (p, p.Simd, p.FanInPadded, p.Geometry.OutC);
            (_bias, _mult, _shift) = (layer.Bias, layer.Multiplier, layer.Shift);
            (_zOut, _lo, _hi) = (layer.OutputZero, layer.ActMin, layer.ActMax);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Gather(sbyte* src, short* dst, int n, int zero, SimdLevel level) =>
            VectorOps.WidenSubtract(src, dst, n, zero, level);

        public sbyte* Channels(short* patch, sbyte* o)
        {
            if (_level == SimdLevel.Vector256)
                return ChannelBlocks(_p, patch, _weights, o);
            short* w = _weights;
            for (int oc = 0; oc < _outC; oc++, w += _padded)
            {
                int acc = _bias[oc] + VectorOps.DotS16(patch, w, _padded, _level);
                *o++ = (sbyte)Requantize.Apply(acc, _mult[oc], _shift[oc], _zOut, _lo, _hi);
            }
            return o;
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
                RequantizeBlocks.Store(rq.Apply(b, acc, zOut, lo, hi), o, Math.Min(8, outC - b * 8));
                o += Math.Min(8, outC - b * 8);
            }
        }
        return o;
    }
}
