using System.Runtime.CompilerServices;

namespace Tern.Runtime.Kernels;

/// <summary>
/// The multiply-accumulate of one weight in the scalar oracles: the only line in which the int8 and the ternary
/// oracles of a convolution differ. The shared loops (<see cref="ConvLoops"/>, <see cref="DepthwiseLoops"/>) take
/// it as a struct type argument, so the JIT compiles one specialised copy per kind with the call inlined.
/// </summary>
internal interface IWeightMac
{
    /// <summary>acc + x * w[row, j] (int32, wrapping).</summary>
    int Mac(int acc, int row, int j, int x);
}

/// <summary>int8 weights, one row of <c>rowLength</c> per output channel.</summary>
internal readonly struct Int8Mac(sbyte[] weights, int rowLength) : IWeightMac
{
    private readonly sbyte[] _w = weights;
    private readonly int _rowLength = rowLength;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Mac(int acc, int row, int j, int x) => acc + x * _w[row * _rowLength + j];
}

/// <summary>Ternary weights decoded as they go: +1 adds x, -1 subtracts it, 0 leaves acc alone.</summary>
internal readonly struct TernaryMac(PackedTernary weights) : IWeightMac
{
    private readonly PackedTernary _w = weights;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Mac(int acc, int row, int j, int x)
    {
        int t = _w.Get(row, j);
        return t > 0 ? acc + x : t < 0 ? acc - x : acc;
    }
}
