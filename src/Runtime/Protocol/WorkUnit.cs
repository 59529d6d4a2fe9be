namespace Tern.Runtime.Protocol;

/// <summary>What the device's work ticks count.</summary>
public enum WorkUnit : byte
{
    /// <summary>Instructions: QEMU with -icount shift=0 (instructions = ticks * 10^9 / ticks per second).</summary>
    Instructions = 0,

    /// <summary>Core cycles on silicon (cycles = ticks * core clock / ticks per second).</summary>
    Cycles = 1,
}
