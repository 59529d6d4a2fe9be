using System.Runtime.CompilerServices;

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
        ConvLoops.Scalar(layer, ConvGeometry.Of(layer), input, output, new TernaryMac(layer.TernaryWeights!));
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
        KernelChecks.Buffers(p.Layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        fixed (int* plusP = p.Plus)
        fixed (int* minusP = p.Minus)
            ConvLoops.Optimized(p.Layer, p.Geometry, p.FanInPadded, p.Simd, input, output, scratch, new MaskChannels(p, plusP, minusP));
    }

    /// <summary>ConvT2's part of the shared loops: an int32 patch, and per pixel one masked sum per output channel.</summary>
    private readonly struct MaskChannels : IConvChannels<int>
    {
        private readonly int* _plus, _minus;
        private readonly int[] _bias, _mult, _shift;
        private readonly int _padded, _outC, _zOut, _lo, _hi;
        private readonly SimdLevel _level;

        public MaskChannels(Prepared p, int* plus, int* minus)
        {
            var layer = p.Layer;
            _plus = plus;
            _minus = minus;
            (_level, _padded, _outC) = (p.Simd, p.FanInPadded, p.Geometry.OutC);
            (_bias, _mult, _shift) = (layer.Bias, layer.Multiplier, layer.Shift);
            (_zOut, _lo, _hi) = (layer.OutputZero, layer.ActMin, layer.ActMax);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Gather(sbyte* src, int* dst, int n, int zero, SimdLevel level) =>
            VectorOps.WidenSubtract(src, dst, n, zero, level);

        public sbyte* Channels(int* patch, sbyte* o)
        {
            for (int oc = 0; oc < _outC; oc++)
            {
                int acc = _bias[oc] + VectorOps.TernaryDot(patch, _plus + oc * _padded, _minus + oc * _padded, _padded, _level);
                *o++ = (sbyte)Requantize.Apply(acc, _mult[oc], _shift[oc], _zOut, _lo, _hi);
            }
            return o;
        }
    }
}
