namespace Tern.Runtime;

/// <summary>
/// Conv, Depthwise, Pointwise or Dense with int8 or ternary weights, int32 bias and per-output-channel
/// dyadic requantization: out = clamp(((long)acc * M[c] + (1L &lt;&lt; (S[c] - 1))) &gt;&gt; S[c]) + OutputZero, ActMin, ActMax)
/// where acc = Bias[c] + sum (in - InputZero) * w. Padding positions contribute nothing (they hold real zero).
/// Padding is four-sided: top and left shift the windows (window (oy, ox) starts at row oy * StrideH - PadTop,
/// column ox * StrideW - PadLeft); bottom and right only add windows at the far edges (see <see cref="ConvOut(int, int, int, int, int)"/>).
/// </summary>
public sealed class IntConvLayer : IntLayer
{
    /// <summary>A layer with four-sided padding.</summary>
    public IntConvLayer(
        string name, IntLayerKind kind, Shape3 input, Shape3 output,
        int kernelH, int kernelW, int strideH, int strideW, int padTop, int padBottom, int padLeft, int padRight,
        WeightKind weightKind, sbyte[]? int8Weights, PackedTernary? ternaryWeights,
        int[] bias, int[] multiplier, int[] shift,
        int inputZero, int outputZero, int actMin, int actMax,
        float inputScale, float outputScale, float[] weightScale)
        : base(name, input, output)
    {
        if (kind is not (IntLayerKind.Conv or IntLayerKind.Depthwise or IntLayerKind.Pointwise or IntLayerKind.Dense))
            throw new ArgumentException($"{kind} is not a convolution-like layer", nameof(kind));
        LayerKind = kind;
        KernelH = kernelH; KernelW = kernelW; StrideH = strideH; StrideW = strideW;
        PadTop = padTop; PadBottom = padBottom; PadLeft = padLeft; PadRight = padRight;
        WeightKind = weightKind;
        Int8Weights = int8Weights;
        TernaryWeights = ternaryWeights;
        Bias = bias; Multiplier = multiplier; Shift = shift;
        InputZero = inputZero; OutputZero = outputZero; ActMin = actMin; ActMax = actMax;
        InputScale = inputScale; OutputScale = outputScale; WeightScale = weightScale;
    }

    /// <summary>A layer with symmetric padding: padH above and below, padW left and right.</summary>
    public IntConvLayer(
        string name, IntLayerKind kind, Shape3 input, Shape3 output,
        int kernelH, int kernelW, int strideH, int strideW, int padH, int padW,
        WeightKind weightKind, sbyte[]? int8Weights, PackedTernary? ternaryWeights,
        int[] bias, int[] multiplier, int[] shift,
        int inputZero, int outputZero, int actMin, int actMax,
        float inputScale, float outputScale, float[] weightScale)
        : this(name, kind, input, output, kernelH, kernelW, strideH, strideW, padH, padH, padW, padW,
            weightKind, int8Weights, ternaryWeights, bias, multiplier, shift,
            inputZero, outputZero, actMin, actMax, inputScale, outputScale, weightScale)
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

    /// <summary>Whether bottom equals top and right equals left (what model file versions 1 and 2 can hold).</summary>
    public bool HasSymmetricPadding => PadTop == PadBottom && PadLeft == PadRight;
    public WeightKind WeightKind { get; }

    /// <summary>OutChannels rows of FanIn weights (int8 kind only).</summary>
    public sbyte[]? Int8Weights { get; }

    /// <summary>OutChannels rows of FanIn weights (ternary kind only).</summary>
    public PackedTernary? TernaryWeights { get; }

    public int[] Bias { get; }
    public int[] Multiplier { get; }
    public int[] Shift { get; }
    public int InputZero { get; }
    public int OutputZero { get; }
    public int ActMin { get; }
    public int ActMax { get; }

    /// <summary>Real scales, kept for inspection and dequantization; kernels never read them.</summary>
    public float InputScale { get; }
    public float OutputScale { get; }
    public float[] WeightScale { get; }

    public int OutChannels => Output.C;

    /// <summary>Weights per output channel.</summary>
    public int FanIn => FanInOf(LayerKind, Input, KernelH, KernelW);

    /// <summary>Weights per output channel of a conv-like layer of this kind on this input.</summary>
    public static int FanInOf(IntLayerKind kind, Shape3 input, int kernelH, int kernelW) => checked((int)FanInInt64(kind, input, kernelH, kernelW));

    /// <summary>Weights per output channel without overflow, for the checks that refuse oversized layers.</summary>
    public static long FanInInt64(IntLayerKind kind, Shape3 input, int kernelH, int kernelW) => kind switch
    {
        IntLayerKind.Depthwise => (long)kernelH * kernelW,
        IntLayerKind.Dense => input.SizeInt64,
        _ => (long)kernelH * kernelW * input.C,
    };

    /// <summary>The output shape a conv-like layer of this kind and geometry gives (depthwise keeps the channels).</summary>
    public static Shape3 OutputShapeOf(IntLayerKind kind, Shape3 input, int kernelH, int kernelW, int strideH, int strideW,
        int padTop, int padBottom, int padLeft, int padRight, int outChannels) => kind switch
    {
        IntLayerKind.Dense => new Shape3(1, 1, outChannels),
        _ => new Shape3(ConvOut(input.H, kernelH, strideH, padTop, padBottom), ConvOut(input.W, kernelW, strideW, padLeft, padRight),
            kind == IntLayerKind.Depthwise ? input.C : outChannels),
    };

    /// <summary>As the four-sided overload, with padH above and below and padW left and right.</summary>
    public static Shape3 OutputShapeOf(IntLayerKind kind, Shape3 input, int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, int outChannels) =>
        OutputShapeOf(kind, input, kernelH, kernelW, strideH, strideW, padH, padH, padW, padW, outChannels);

    public override int ParameterCount => OutChannels * FanIn + OutChannels;

    public override long MacCount => (long)Output.Size * FanIn;

    public override int WeightBytes =>
        (WeightKind == WeightKind.Int8 ? OutChannels * FanIn : OutChannels * PackedTernary.BytesPerRow(FanIn))
        + OutChannels * 4 /* bias */ + OutChannels * 4 /* M */ + OutChannels /* S */;

    /// <summary>sbyte view of the int8 weights; throws if the layer is ternary.</summary>
    public ReadOnlySpan<sbyte> Int8 => Int8Weights ?? throw new InvalidOperationException($"{Name}: weights are ternary");

    public override void Validate()
    {
        void Fail(string what) => throw new InvalidDataException($"layer '{Name}' ({Kind}): {what}");
        if (KernelH < 1 || KernelW < 1) Fail($"kernel {KernelH}x{KernelW} must be at least 1x1");
        if (StrideH < 1 || StrideW < 1) Fail($"stride {StrideH}x{StrideW} must be at least 1");
        PaddingChecks.Validate(PadTop, PadBottom, PadLeft, PadRight, KernelH, KernelW, Fail);
        if (Input.H < 1 || Input.W < 1 || Input.C < 1) Fail($"input shape {Input} is empty");
        var expected = OutputShapeOf(LayerKind, Input, KernelH, KernelW, StrideH, StrideW, PadTop, PadBottom, PadLeft, PadRight, Output.C);
        if (expected != Output || Output.C < 1 || Output.H < 1 || Output.W < 1) Fail($"output shape {Output} does not follow from input {Input} (expected {expected})");
        bool padded = PadTop != 0 || PadBottom != 0 || PadLeft != 0 || PadRight != 0;
        if (LayerKind == IntLayerKind.Pointwise && (KernelH != 1 || KernelW != 1 || padded)) Fail("pointwise must be 1x1 without padding");
        if (LayerKind == IntLayerKind.Dense && (KernelH != 1 || KernelW != 1 || StrideH != 1 || StrideW != 1 || padded)) Fail("dense must have unit kernel, stride and no padding");
        int n = OutChannels;
        // Checked in 64 bits first: n * FanIn past int.MaxValue once wrapped to a small count that passed.
        long weights = n * FanInInt64(LayerKind, Input, KernelH, KernelW);
        if (weights > Array.MaxLength) Fail($"{n} x {FanInInt64(LayerKind, Input, KernelH, KernelW)} weights exceed the {Array.MaxLength} an array can hold");
        if (!float.IsFinite(InputScale) || !float.IsFinite(OutputScale)) Fail($"scales {InputScale} (input) and {OutputScale} (output) must be finite");
        foreach (var s in WeightScale) if (!float.IsFinite(s)) Fail($"weight scale {s} must be finite");
        if (WeightKind == WeightKind.Int8)
        {
            if (Int8Weights is null) Fail("int8 weights are missing");
            if (Int8Weights!.Length != n * FanIn) Fail($"{Int8Weights.Length} int8 weights, expected {n} x {FanIn}");
            foreach (var w in Int8Weights) if (w == sbyte.MinValue) Fail("int8 weight -128 is outside the symmetric range [-127, 127]");
        }
        else if (WeightKind == WeightKind.Ternary)
        {
            if (TernaryWeights is null) Fail("ternary weights are missing");
            if (TernaryWeights!.Rows != n || TernaryWeights.RowLength != FanIn) Fail($"ternary weights are {TernaryWeights.Rows} x {TernaryWeights.RowLength}, expected {n} x {FanIn}");
            TernaryWeights.Validate();
        }
        else Fail($"unknown weight kind {(int)WeightKind}");
        if (Bias.Length != n || Multiplier.Length != n || Shift.Length != n || WeightScale.Length != n) Fail($"bias/M/S/scale lengths must equal {n} output channels");
        for (int c = 0; c < n; c++)
            Requantize.ValidateMultiplier(Multiplier[c], Shift[c], $"layer '{Name}' channel {c}");
        if (InputZero is < -128 or > 127 || OutputZero is < -128 or > 127) Fail("zero points must lie in [-128, 127]");
        if (ActMin < -128 || ActMax > 127 || ActMin > ActMax) Fail($"activation clamp [{ActMin}, {ActMax}] must lie inside [-128, 127]");
    }

    /// <summary>Output length of a convolution or pooling window along one axis with padBefore elements of padding
    /// before the input and padAfter after it: windows of the padded axis, 0 when not even one fits.</summary>
    public static int ConvOut(int input, int kernel, int stride, int padBefore, int padAfter)
    {
        // In 64 bits: paddings and kernels read from a file may sum past int.MaxValue (capped; Validate refuses it).
        long span = (long)input + padBefore + padAfter - kernel;
        return span < 0 ? 0 : (int)Math.Min(span / stride + 1, int.MaxValue);
    }

    /// <summary>Output length along one axis with the same padding on both sides.</summary>
    public static int ConvOut(int input, int kernel, int stride, int pad) => ConvOut(input, kernel, stride, pad, pad);
}
