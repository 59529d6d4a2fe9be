namespace Tern.Runtime.Kernels;

/// <summary>
/// The window geometry a convolution kernel walks. Dense is the convolution whose input is 1x1xN
/// (N = the HWC-flattened input), so the same loops serve Conv, Pointwise and Dense.
/// Window (oy, ox) starts at input row oy * StrideH - PadTop and column ox * StrideW - PadLeft; bottom and right
/// padding only show in OutH and OutW, so a kernel that bounds-checks every tap against InH and InW handles them.
/// </summary>
internal readonly record struct ConvGeometry(
    int InH, int InW, int InC, int OutH, int OutW, int OutC,
    int KernelH, int KernelW, int StrideH, int StrideW, int PadTop, int PadLeft)
{
    public static ConvGeometry Of(IntConvLayer l) => l.Kind == IntLayerKind.Dense
        ? new ConvGeometry(1, 1, l.Input.Size, 1, 1, l.Output.C, 1, 1, 1, 1, 0, 0)
        : new ConvGeometry(l.Input.H, l.Input.W, l.Input.C, l.Output.H, l.Output.W, l.Output.C,
            l.KernelH, l.KernelW, l.StrideH, l.StrideW, l.PadTop, l.PadLeft);

    public static ConvGeometry Of(IntPoolLayer l) =>
        new(l.Input.H, l.Input.W, l.Input.C, l.Output.H, l.Output.W, l.Output.C,
            l.KernelH, l.KernelW, l.StrideH, l.StrideW, l.PadTop, l.PadLeft);

    public int FanIn => KernelH * KernelW * InC;
}

/// <summary>Argument checks shared by every kernel entry point, so a bad call fails before any pointer is touched.</summary>
internal static class KernelChecks
{
    public static void Conv(IntConvLayer layer, WeightKind weights, bool depthwise, int inputLength, int outputLength, string kernel)
    {
        if (layer.WeightKind != weights)
            throw new ArgumentException($"{kernel}: layer '{layer.Name}' has {layer.WeightKind} weights", nameof(layer));
        if ((layer.Kind == IntLayerKind.Depthwise) != depthwise)
            throw new ArgumentException($"{kernel}: layer '{layer.Name}' is {layer.Kind}", nameof(layer));
        Buffers(layer, inputLength, outputLength, kernel);
    }

    public static void Pool(IntPoolLayer layer, bool max, int inputLength, int outputLength, string kernel)
    {
        if ((layer.Kind == IntLayerKind.MaxPool) != max)
            throw new ArgumentException($"{kernel}: layer '{layer.Name}' is {layer.Kind}", nameof(layer));
        Buffers(layer, inputLength, outputLength, kernel);
    }

    public static void Buffers(IntLayer layer, int inputLength, int outputLength, string kernel)
    {
        if (inputLength != layer.Input.Size)
            throw new ArgumentException($"{kernel}: input has {inputLength} elements, layer '{layer.Name}' expects {layer.Input.Size}");
        if (outputLength != layer.Output.Size)
            throw new ArgumentException($"{kernel}: output has {outputLength} elements, layer '{layer.Name}' expects {layer.Output.Size}");
    }

    public static void Scratch(int length, int needed, string kernel)
    {
        if (length < needed)
            throw new ArgumentException($"{kernel}: scratch has {length} elements, needs {needed}");
    }
}
