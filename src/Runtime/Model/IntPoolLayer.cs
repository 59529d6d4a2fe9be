namespace Tern.Runtime;

/// <summary>
/// MaxPool, AvgPool or GlobalAvgPool on int8 codes, without padding. MaxPool keeps scale and zero point.
/// AvgPool sums (in - InputZero) over the window and requantizes with M / 2^S, which approximates
/// InputScale / (OutputScale * window), then adds OutputZero and clamps to [ActMin, ActMax].
/// </summary>
public sealed class IntPoolLayer : IntLayer
{
    public IntPoolLayer(
        string name, IntLayerKind kind, Shape3 input, Shape3 output,
        int kernelH, int kernelW, int strideH, int strideW,
        int multiplier, int shift, int inputZero, int outputZero, int actMin, int actMax,
        float inputScale, float outputScale)
        : base(name, input, output)
    {
        if (kind is not (IntLayerKind.MaxPool or IntLayerKind.AvgPool or IntLayerKind.GlobalAvgPool))
            throw new ArgumentException($"{kind} is not a pooling layer", nameof(kind));
        LayerKind = kind;
        KernelH = kernelH; KernelW = kernelW; StrideH = strideH; StrideW = strideW;
        Multiplier = multiplier; Shift = shift;
        InputZero = inputZero; OutputZero = outputZero; ActMin = actMin; ActMax = actMax;
        InputScale = inputScale; OutputScale = outputScale;
    }

    private IntLayerKind LayerKind { get; }
    public override IntLayerKind Kind => LayerKind;
    public int KernelH { get; }
    public int KernelW { get; }
    public int StrideH { get; }
    public int StrideW { get; }
    public int Multiplier { get; }
    public int Shift { get; }
    public int InputZero { get; }
    public int OutputZero { get; }
    public int ActMin { get; }
    public int ActMax { get; }
    public float InputScale { get; }
    public float OutputScale { get; }

    public override int ParameterCount => 0;
    public override long MacCount => (long)Output.Size * KernelH * KernelW;
    public override int WeightBytes => LayerKind == IntLayerKind.MaxPool ? 0 : 5;

    public override void Validate()
    {
        void Fail(string what) => throw new InvalidDataException($"layer '{Name}' ({Kind}): {what}");
        if (KernelH < 1 || KernelW < 1 || StrideH < 1 || StrideW < 1) Fail("kernel and stride must be at least 1");
        if (LayerKind == IntLayerKind.GlobalAvgPool && (KernelH != Input.H || KernelW != Input.W)) Fail("global pooling window must cover the input plane");
        var expected = new Shape3(IntConvLayer.ConvOut(Input.H, KernelH, StrideH, 0), IntConvLayer.ConvOut(Input.W, KernelW, StrideW, 0), Input.C);
        if (KernelH > Input.H || KernelW > Input.W || expected != Output) Fail($"output shape {Output} does not follow from input {Input}");
        if (LayerKind != IntLayerKind.MaxPool)
            Requantize.ValidateMultiplier(Multiplier, Shift, $"layer '{Name}'");
        if (InputZero is < -128 or > 127 || OutputZero is < -128 or > 127) Fail("zero points must lie in [-128, 127]");
        if (ActMin < -128 || ActMax > 127 || ActMin > ActMax) Fail($"activation clamp [{ActMin}, {ActMax}] must lie inside [-128, 127]");
    }
}
