using System.Runtime.InteropServices;

namespace Tern.Runtime.Kernels;

/// <summary>
/// Convolution with ternary packed weights (see <see cref="PackedTernary"/>): Conv, Pointwise and Dense.
/// acc = bias[oc] + sum_{t=+1} (q_in - z_in) - sum_{t=-1} (q_in - z_in) over in-bounds taps, then
/// <see cref="Requantize.Apply"/>. The optimized body is ConvS8's on the weights expanded to int16 (see <see cref="Prepared"/>).
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

    /// <summary>
    /// The weights expanded once per model to int16 -1, 0, +1 in <see cref="ConvS8"/>'s layout: on the host, one
    /// multiply-add instruction (vpmaddwd) takes 16 weights a step whatever their values, where sign masks took
    /// four instructions per 8 (two ANDs, a subtract, an add on int32 lanes), so the ternary layer runs on the int8
    /// body. Bit-identical: every product is x, -x or 0, summed in int32 like the oracle.
    /// </summary>
    public sealed class Prepared
    {
        internal Prepared(IntConvLayer layer, SimdLevel simd)
        {
            if (layer.WeightKind != WeightKind.Ternary || layer.Kind == IntLayerKind.Depthwise)
                throw new ArgumentException($"{Name}: layer '{layer.Name}' is {layer.Kind} with {layer.WeightKind} weights", nameof(layer));
            Layer = layer;
            Int8 = ConvS8.Prepare(TernaryAsInt8.Layer(layer), simd);
        }

        public IntConvLayer Layer { get; }
        public SimdLevel Simd => Int8.Simd;
        internal ConvS8.Prepared Int8 { get; }

        /// <summary>int32 elements of scratch that <see cref="Optimized(Prepared, ReadOnlySpan{sbyte}, Span{sbyte}, Span{int})"/> needs (the int8 body's int16 patch).</summary>
        public int ScratchLength => (Int8.ScratchLength + 1) / 2;
    }

    /// <summary>Prepares a layer for <see cref="Optimized(Prepared, ReadOnlySpan{sbyte}, Span{sbyte}, Span{int})"/>; do it once per model.</summary>
    public static Prepared Prepare(IntConvLayer layer, SimdLevel simd = SimdLevel.Auto) => new(layer, simd);

    /// <summary>Optimized body; allocates its scratch (tests, one-off calls).</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output) =>
        Optimized(p, input, output, new int[p.ScratchLength]);

    /// <summary>Optimized body: <see cref="ConvS8"/>'s on the expanded weights, its int16 patch in <paramref name="scratch"/>.</summary>
    public static void Optimized(Prepared p, ReadOnlySpan<sbyte> input, Span<sbyte> output, Span<int> scratch)
    {
        KernelChecks.Buffers(p.Layer, input.Length, output.Length, Name);
        KernelChecks.Scratch(scratch.Length, p.ScratchLength, Name);
        ConvS8.Optimized(p.Int8, input, output, MemoryMarshal.Cast<int, short>(scratch));
    }
}
