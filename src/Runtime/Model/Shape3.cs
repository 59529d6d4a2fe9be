namespace Tern.Runtime;

/// <summary>Shape of an activation tensor, stored height-major, channels last (HWC).</summary>
public readonly record struct Shape3(int H, int W, int C)
{
    /// <summary>Number of elements.</summary>
    public int Size => H * W * C;

    public override string ToString() => $"{H}x{W}x{C}";
}
