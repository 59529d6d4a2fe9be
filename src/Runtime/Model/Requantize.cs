namespace Tern.Runtime;

/// <summary>
/// The requantization of the integer contract (single rounding, ties toward +infinity):
/// out = clamp(((long)acc * M + (1L &lt;&lt; (S - 1))) &gt;&gt; S) + zOut, lo, hi), M in [2^30, 2^31), S in [1, 62].
/// M below 2^30 is allowed only with S = 62 (a multiplier too small for full precision).
/// </summary>
public static class Requantize
{
    public const int MinShift = 1;
    public const int MaxShift = 62;

    /// <summary>Requantizes one accumulator to an int8 code in [lo, hi].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int Apply(int acc, int multiplier, int shift, int outputZero, int lo, int hi)
    {
        long scaled = ((long)acc * multiplier + (1L << (shift - 1))) >> shift;
        long v = scaled + outputZero;
        return v < lo ? lo : v > hi ? hi : (int)v;
    }

    /// <summary>Throws <see cref="InvalidDataException"/> if (M, S) breaks the contract.</summary>
    public static void ValidateMultiplier(int multiplier, int shift, string where)
    {
        if (shift < MinShift || shift > MaxShift)
            throw new InvalidDataException($"{where}: shift {shift} is outside [{MinShift}, {MaxShift}]");
        if (multiplier < 0 || (multiplier < (1 << 30) && shift != MaxShift))
            throw new InvalidDataException($"{where}: multiplier {multiplier} is outside [2^30, 2^31)");
    }
}
