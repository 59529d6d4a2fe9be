namespace Tern.Runtime;

/// <summary>
/// Residual add of two int8 tensors of the same shape: a, the current tensor (InputScale, InputZero), and b, the
/// input of the layer Span positions before this one (SkipScale, SkipZero). With one shift S (single rounding):
/// out = clamp(((long)(a - InputZero) * MultiplierA + (long)(b - SkipZero) * MultiplierB + (1L &lt;&lt; (S - 1))) &gt;&gt; S)
/// + OutputZero, ActMin, ActMax), where M_x / 2^S approximates s_x / s_out and the larger of the two multipliers lies
/// in [2^30, 2^31) (both may be below 2^30 only with S = 62, a tiny multiplier). The sum cannot overflow int64:
/// each term is below 2^8 * 2^31.
/// </summary>
public sealed class IntAddLayer : IntLayer
{
    public IntAddLayer(
        string name, Shape3 shape, int span,
        int multiplierA, int multiplierB, int shift,
        int inputZero, int skipZero, int outputZero, int actMin, int actMax,
        float inputScale, float skipScale, float outputScale)
        : base(name, shape, shape)
    {
        Span = span;
        MultiplierA = multiplierA; MultiplierB = multiplierB; Shift = shift;
        InputZero = inputZero; SkipZero = skipZero; OutputZero = outputZero; ActMin = actMin; ActMax = actMax;
        InputScale = inputScale; SkipScale = skipScale; OutputScale = outputScale;
    }

    public override IntLayerKind Kind => IntLayerKind.Add;

    /// <summary>The skip tensor is the input of the layer Span positions before this one (Span &gt;= 1).</summary>
    public int Span { get; }
    public int MultiplierA { get; }
    public int MultiplierB { get; }
    public int Shift { get; }
    public int InputZero { get; }
    public int SkipZero { get; }
    public int OutputZero { get; }
    public int ActMin { get; }
    public int ActMax { get; }
    public float InputScale { get; }
    public float SkipScale { get; }
    public float OutputScale { get; }

    public override int ParameterCount => 0;
    public override long MacCount => Output.Size;

    /// <summary>Two multipliers and the shift, as the device stores them.</summary>
    public override int WeightBytes => 9;

    /// <summary>The layer's own invariants; <see cref="IntModel.Validate"/> checks the span against the model.</summary>
    public override void Validate()
    {
        void Fail(string what) => throw new InvalidDataException($"layer '{Name}' ({Kind}): {what}");
        if (Span < 1) Fail($"span {Span} must be at least 1");
        if (Input != Output) Fail($"output shape {Output} differs from input {Input}");
        foreach (var (what, v) in new[] { ("input", InputScale), ("skip", SkipScale), ("output", OutputScale) })
            if (!(v > 0) || !float.IsFinite(v)) Fail($"{what} scale {v} must be a positive finite number");
        if (Shift < Requantize.MinShift || Shift > Requantize.MaxShift)
            Fail($"shift {Shift} is outside [{Requantize.MinShift}, {Requantize.MaxShift}]");
        if (MultiplierA < 0 || MultiplierB < 0) Fail("multipliers must not be negative");
        if (Math.Max(MultiplierA, MultiplierB) < (1 << 30) && Shift != Requantize.MaxShift)
            Fail($"the larger multiplier {Math.Max(MultiplierA, MultiplierB)} is outside [2^30, 2^31)");
        if (InputZero is < -128 or > 127 || SkipZero is < -128 or > 127 || OutputZero is < -128 or > 127)
            Fail("zero points must lie in [-128, 127]");
        if (ActMin < -128 || ActMax > 127 || ActMin > ActMax) Fail($"activation clamp [{ActMin}, {ActMax}] must lie inside [-128, 127]");
    }

    /// <summary>One output code from a, b (the contract's formula, for the oracle and the reference).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int Apply(int a, int b, int za, int zb, int ma, int mb, int shift, int zOut, int lo, int hi)
    {
        long acc = (long)(a - za) * ma + (long)(b - zb) * mb;
        long v = ((acc + (1L << (shift - 1))) >> shift) + zOut;
        return v < lo ? lo : v > hi ? hi : (int)v;
    }
}
