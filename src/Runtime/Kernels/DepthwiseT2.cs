using System.Runtime.CompilerServices;
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
        DepthwiseLoops.Scalar(layer, ConvGeometry.Of(layer), input, output, new TernaryMac(layer.TernaryWeights!));
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
            if (Simd == SimdLevel.Vector256) Requantizer = new RequantizeBlocks(layer.Multiplier, layer.Shift);
            int taps = layer.KernelH * layer.KernelW, channels = Geometry.OutC;
            Plus = new int[taps * channels];
            Minus = new int[taps * channels];
            for (int c = 0; c < channels; c++)
                VectorOps.TernaryMasks(layer.TernaryWeights!, c, Plus, Minus, c, channels);
        }

        public IntConvLayer Layer { get; }
        internal RequantizeBlocks? Requantizer { get; }
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
        KernelChecks.Buffers(p.Layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        fixed (int* plusP = p.Plus)
        fixed (int* minusP = p.Minus)
            DepthwiseLoops.Optimized(p.Layer, p.Geometry, p.Simd, p.Requantizer, input, output, scratch, new MaskTap(plusP, minusP));
    }

    /// <summary>DepthwiseT2's part of the shared loops: all-ones masks in (kh, kw, c) order, no multiplies.</summary>
    private readonly struct MaskTap(int* plus, int* minus) : IDepthwiseTap
    {
        private readonly int* _plus = plus, _minus = minus;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<int> Block(Vector256<int> acc, Vector256<int> x, int offset) =>
            Avx2.Add(acc, Avx2.Subtract(Avx2.And(x, Avx.LoadVector256(_plus + offset)), Avx2.And(x, Avx.LoadVector256(_minus + offset))));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(sbyte* x, int zero, int offset, int* acc, int n, SimdLevel level) =>
            VectorOps.TernaryAccumulate(x, zero, _plus + offset, _minus + offset, acc, n, level);
    }
}
