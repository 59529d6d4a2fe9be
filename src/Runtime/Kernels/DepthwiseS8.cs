using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Runtime.Kernels;

/// <summary>
/// Depthwise convolution (multiplier 1) with int8 weights, one (kh, kw) row per channel:
/// acc = bias[c] + sum (q_in[iy, ix, c] - z_in) * w[c, ky, kx] over in-bounds taps, then <see cref="Requantize.Apply"/>.
/// </summary>
public static unsafe class DepthwiseS8
{
    private const string Name = nameof(DepthwiseS8);

    /// <summary>The oracle: plain loops straight from the integer contract.</summary>
    public static void Scalar(IntConvLayer layer, ReadOnlySpan<sbyte> input, Span<sbyte> output)
    {
        KernelChecks.Conv(layer, WeightKind.Int8, depthwise: true, input.Length, output.Length, Name);
        DepthwiseLoops.Scalar(layer, ConvGeometry.Of(layer), input, output, new Int8Mac(layer.Int8Weights!, layer.KernelH * layer.KernelW));
    }

    /// <summary>Weights transposed once per model to (kh, kw, c) int32, so each tap is a contiguous vector over channels.</summary>
    public sealed class Prepared
    {
        internal Prepared(IntConvLayer layer, SimdLevel simd)
        {
            if (layer.WeightKind != WeightKind.Int8 || layer.Kind != IntLayerKind.Depthwise)
                throw new ArgumentException($"{Name}: layer '{layer.Name}' is {layer.Kind} with {layer.WeightKind} weights", nameof(layer));
            Layer = layer;
            Simd = SimdLevels.Resolve(simd);
            Geometry = ConvGeometry.Of(layer);
            if (Simd == SimdLevel.Vector256) Requantizer = new RequantizeBlocks(layer.Multiplier, layer.Shift);
            int taps = layer.KernelH * layer.KernelW, channels = Geometry.OutC;
            Weights = new int[taps * channels];
            var w = layer.Int8;
            for (int c = 0; c < channels; c++)
                for (int t = 0; t < taps; t++)
                    Weights[t * channels + c] = w[c * taps + t];
        }

        public IntConvLayer Layer { get; }
        internal RequantizeBlocks? Requantizer { get; }
        public SimdLevel Simd { get; }
        internal ConvGeometry Geometry { get; }
        internal int[] Weights { get; }

        /// <summary>int32 elements of scratch (one accumulator per channel).</summary>
        public int ScratchLength => Geometry.OutC;
    }

    /// <summary>Prepares a layer for the optimized body; do it once per model.</summary>
    public static Prepared Prepare(IntConvLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>Optimized body; allocates its scratch (tests, one-off calls).</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output) =>
        Optimized(p, input, output, new int[p.ScratchLength]);

    /// <summary>Optimized body: per output pixel, int32 accumulators over all channels at once, tap by tap.</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<int> scratch)
    {
        KernelChecks.Buffers(p.Layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        fixed (int* wP = p.Weights)
            DepthwiseLoops.Optimized(p.Layer, p.Geometry, p.Simd, p.Requantizer, input, output, scratch, new WeightTap(wP));
    }

    /// <summary>DepthwiseS8's part of the shared loops: int32 weights in (kh, kw, c) order, multiplied in.</summary>
    private readonly struct WeightTap(int* weights) : IDepthwiseTap
    {
        private readonly int* _w = weights;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<int> Block(Vector256<int> acc, Vector256<int> x, int offset) =>
            Avx2.Add(acc, Avx2.MultiplyLow(x, Avx.LoadVector256(_w + offset)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(sbyte* x, int zero, int offset, int* acc, int n, SimdLevel level) =>
            VectorOps.MultiplyAccumulate(x, zero, _w + offset, acc, n, level);
    }
}
