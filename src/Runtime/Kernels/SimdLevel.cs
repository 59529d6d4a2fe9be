using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tern.Runtime.Kernels;

/// <summary>
/// Widest vector code an optimized kernel may use. Every level computes the same integers; the choice only
/// changes speed, and tests force the narrower levels to exercise every code path on any machine.
/// </summary>
public enum SimdLevel
{
    /// <summary>The widest level this machine accelerates.</summary>
    Auto = 0,
    /// <summary>Scalar loops only (the optimized data layouts, without vectors).</summary>
    None = 1,
    /// <summary>Portable <see cref="Vector128"/> code (software-emulated, but correct, where not accelerated).</summary>
    Vector128 = 2,
    /// <summary>AVX2 (x86 only); falls back to the best narrower level elsewhere.</summary>
    Vector256 = 3,
}

/// <summary>Resolves a requested <see cref="SimdLevel"/> to one this machine can execute.</summary>
public static class SimdLevels
{
    /// <summary>The widest accelerated level on this machine.</summary>
    public static SimdLevel Best { get; } =
        Avx2.IsSupported && Vector256.IsHardwareAccelerated ? SimdLevel.Vector256
        : Vector128.IsHardwareAccelerated ? SimdLevel.Vector128
        : SimdLevel.None;

    /// <summary>Auto becomes <see cref="Best"/>; Vector256 without AVX2 becomes the best narrower level.</summary>
    public static SimdLevel Resolve(SimdLevel requested) => requested switch
    {
        SimdLevel.Auto => Best,
        SimdLevel.Vector256 when !Avx2.IsSupported => Best,
        SimdLevel.None or SimdLevel.Vector128 or SimdLevel.Vector256 => requested,
        _ => throw new ArgumentOutOfRangeException(nameof(requested), requested, "unknown SIMD level"),
    };
}
