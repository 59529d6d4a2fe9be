namespace Tern.Runtime.Kernels;

/// <summary>
/// Depthwise convolution (multiplier 1) with ternary packed weights, one (kh, kw) row per channel:
/// acc = bias[c] + sum_{t=+1} (q_in - z_in) - sum_{t=-1} (q_in - z_in) over in-bounds taps, then
/// <see cref="Requantize.Apply"/>. The optimized body is DepthwiseS8's on the weights expanded (see <see cref="Prepared"/>).
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

    /// <summary>The weights expanded once per model to -1, 0, +1 for <see cref="DepthwiseS8"/>'s body (see <see cref="ConvT2.Prepared"/>: on the host a multiply is no dearer than a mask).</summary>
    public sealed class Prepared
    {
        internal Prepared(IntConvLayer layer, SimdLevel simd)
        {
            if (layer.WeightKind != WeightKind.Ternary || layer.Kind != IntLayerKind.Depthwise)
                throw new ArgumentException($"{Name}: layer '{layer.Name}' is {layer.Kind} with {layer.WeightKind} weights", nameof(layer));
            Layer = layer;
            Int8 = DepthwiseS8.Prepare(TernaryAsInt8.Layer(layer), simd);
        }

        public IntConvLayer Layer { get; }
        public SimdLevel Simd => Int8.Simd;
        internal DepthwiseS8.Prepared Int8 { get; }

        /// <summary>int32 elements of scratch (the int8 body's).</summary>
        public int ScratchLength => Int8.ScratchLength;
    }

    /// <summary>Prepares a layer for the optimized body; do it once per model.</summary>
    public static Prepared Prepare(IntConvLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>Optimized body; allocates its scratch (tests, one-off calls).</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output) =>
        Optimized(p, input, output, new int[p.ScratchLength]);

    /// <summary>Optimized body: <see cref="DepthwiseS8"/>'s on the expanded weights.</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<int> scratch)
    {
        KernelChecks.Buffers(p.Layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        DepthwiseS8.Optimized(p.Int8, input, output, scratch);
    }
}
