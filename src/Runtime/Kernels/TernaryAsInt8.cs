namespace Tern.Runtime.Kernels;

/// <summary>A ternary layer's twin with the same weights as int8 -1, 0, +1: what the host's optimized ternary bodies run.</summary>
internal static class TernaryAsInt8
{
    public static IntConvLayer Layer(IntConvLayer t) =>
        new(t.Name, t.Kind, t.Input, t.Output, t.KernelH, t.KernelW, t.StrideH, t.StrideW,
            t.PadTop, t.PadBottom, t.PadLeft, t.PadRight,
            WeightKind.Int8, t.TernaryWeights!.Unpack(), null,
            t.Bias, t.Multiplier, t.Shift, t.InputZero, t.OutputZero, t.ActMin, t.ActMax,
            t.InputScale, t.OutputScale, t.WeightScale);
}
