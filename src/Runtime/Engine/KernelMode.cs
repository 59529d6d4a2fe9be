namespace Tern.Runtime.Engine;

/// <summary>Which body of each kernel a <see cref="Runner"/> calls. Both compute the same integers.</summary>
public enum KernelMode
{
    /// <summary>The plain-loop oracles.</summary>
    Scalar = 0,
    /// <summary>Prepared weights, vectorized inner loops.</summary>
    Optimized = 1,
}
