namespace Tern.Runtime;

/// <summary>Shape of an activation tensor, stored height-major, channels last (HWC).</summary>
public readonly record struct Shape3(int H, int W, int C)
{
    /// <summary>Number of elements; throws <see cref="OverflowException"/> past int.MaxValue (validation refuses
    /// such shapes first, naming the layer or file: <see cref="SizeInt64"/>).</summary>
    public int Size => checked(H * W * C);

    /// <summary>Number of elements without overflow, for the checks that refuse oversized shapes.</summary>
    public long SizeInt64 => (long)H * W * C;

    public override string ToString() => $"{H}x{W}x{C}";
}
