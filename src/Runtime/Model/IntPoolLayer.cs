namespace Tern.Runtime;

/// <summary>
/// MaxPool, AvgPool or GlobalAvgPool on int8 codes. MaxPool keeps scale and zero point.
/// AvgPool sums (in - InputZero) over the window and requantizes with M / 2^S, which approximates
/// InputScale / (OutputScale * window), then adds OutputZero and clamps to [ActMin, ActMax].
/// Padding (MaxPool and AvgPool only) is four-sided as in <see cref="IntConvLayer"/> and holds real zero, i.e. the
/// code InputZero: a max takes it into the maximum, an average counts it (adding 0 to the sum, the window's full
/// area to the divisor, like PyTorch's count_include_pad).
/// </summary>
public sealed class IntPoolLayer : IntLayer
{
    /// <summary>A pooling layer with four-sided padding.</summary>
    public IntPoolLayer(
        string name, IntLayerKind kind, Shape3 input, Shape3 output,
        int kernelH, int kernelW, int strideH, int strideW, int padTop, int padBottom, int padLeft, int padRight,
        int multiplier, int shift, int inputZero, int outputZero, int actMin, int actMax,
        float inputScale, float outputScale)
        : base(name, input, output)
    {
        if (kind is not (IntLayerKind.MaxPool or IntLayerKind.AvgPool or IntLayerKind.GlobalAvgPool))
            throw new ArgumentException($"{kind} is not a pooling layer", nameof(kind));
        LayerKind = kind;
        KernelH = kernelH; KernelW = kernelW; StrideH = strideH; StrideW = strideW;
        PadTop = padTop; PadBottom = padBottom; PadLeft = padLeft; PadRight = padRight;
        Multiplier = multiplier; Shift = shift;
        InputZero = inputZero; OutputZero = outputZero; ActMin = actMin; ActMax = actMax;
        InputScale = inputScale; OutputScale = outputScale;
    }

    /// <summary>A pooling layer without padding.</summary>
    public IntPoolLayer(
        string name, IntLayerKind kind, Shape3 input, Shape3 output,
        int kernelH, int kernelW, int strideH, int strideW,
        int multiplier, int shift, int inputZero, int outputZero, int actMin, int actMax,
        float inputScale, float outputScale)
        : this(name, kind, input, output, kernelH, kernelW, strideH, strideW, 0, 0, 0, 0,
            multiplier, shift, inputZero, outputZero, actMin, actMax, inputScale, outputScale)
    {
    }

    private IntLayerKind LayerKind { get; }
    public override IntLayerKind Kind => LayerKind;
    public int KernelH { get; }
    public int KernelW { get; }
    public int StrideH { get; }
    public int StrideW { get; }
    /// <summary>Rows of padding above the input.</summary>
    public int PadTop { get; }
    /// <summary>Rows of padding below the input.</summary>
    public int PadBottom { get; }
    /// <summary>Columns of padding left of the input.</summary>
    public int PadLeft { get; }
    /// <summary>Columns of padding right of the input.</summary>
    public int PadRight { get; }
    public int Multiplier { get; }
    public int Shift { get; }
    public int InputZero { get; }
    public int OutputZero { get; }
    public int ActMin { get; }
    public int ActMax { get; }
    public float InputScale { get; }
    public float OutputScale { get; }

    /// <summary>Whether any side is padded (what model file versions 1 and 2 cannot hold).</summary>
    public bool IsPadded => PadTop != 0 || PadBottom != 0 || PadLeft != 0 || PadRight != 0;

    public override int ParameterCount => 0;
    public override long MacCount => (long)Output.Size * KernelH * KernelW;
    public override int WeightBytes => LayerKind == IntLayerKind.MaxPool ? 0 : 5;

    /// <summary>The output shape a pooling window of this geometry gives on an input (channels unchanged).</summary>
    public static Shape3 OutputShapeOf(Shape3 input, int kernelH, int kernelW, int strideH, int strideW,
        int padTop, int padBottom, int padLeft, int padRight) =>
        new(IntConvLayer.ConvOut(input.H, kernelH, strideH, padTop, padBottom),
            IntConvLayer.ConvOut(input.W, kernelW, strideW, padLeft, padRight), input.C);

    public override void Validate()
    {
        void Fail(string what) => throw new InvalidDataException($"layer '{Name}' ({Kind}): {what}");
        if (KernelH < 1 || KernelW < 1 || StrideH < 1 || StrideW < 1) Fail("kernel and stride must be at least 1");
        PaddingChecks.Validate(PadTop, PadBottom, PadLeft, PadRight, KernelH, KernelW, Fail);
        if (LayerKind == IntLayerKind.GlobalAvgPool && (KernelH != Input.H || KernelW != Input.W || IsPadded))
            Fail("global pooling window must cover the input plane, without padding");
        if (Input.H < 1 || Input.W < 1 || Input.C < 1) Fail($"input shape {Input} is empty");
        var expected = OutputShapeOf(Input, KernelH, KernelW, StrideH, StrideW, PadTop, PadBottom, PadLeft, PadRight);
        if (expected.H < 1 || expected.W < 1 || expected != Output) Fail($"output shape {Output} does not follow from input {Input} (expected {expected})");
        if (LayerKind != IntLayerKind.MaxPool)
            Requantize.ValidateMultiplier(Multiplier, Shift, $"layer '{Name}'");
        if (InputZero is < -128 or > 127 || OutputZero is < -128 or > 127) Fail("zero points must lie in [-128, 127]");
        if (!(InputScale > 0) || !float.IsFinite(InputScale) || !(OutputScale > 0) || !float.IsFinite(OutputScale))
            Fail($"scales {InputScale} (input) and {OutputScale} (output) must be positive finite numbers");
        if (ActMin < -128 || ActMax > 127 || ActMin > ActMax) Fail($"activation clamp [{ActMin}, {ActMax}] must lie inside [-128, 127]");
    }
}
