using System.Diagnostics;

namespace Tern.Runtime.Transports;

/// <summary>A point in monotonic time; reads loop until it passes.</summary>
internal readonly struct Deadline
{
    private readonly long at;

    private Deadline(long at) => this.at = at;

    public static Deadline After(TimeSpan timeout)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "must not be negative");
        if (timeout == Timeout.InfiniteTimeSpan || timeout > TimeSpan.FromDays(1)) return new Deadline(long.MaxValue);
        return new Deadline(Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency));
    }

    public TimeSpan Remaining
    {
        get
        {
            if (at == long.MaxValue) return TimeSpan.FromDays(1);
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Milliseconds left, rounded up so a wait does not wake just before the deadline.</summary>
    public int RemainingMilliseconds => (int)Math.Min(int.MaxValue, Math.Ceiling(Remaining.TotalMilliseconds));

    public bool Passed => Stopwatch.GetTimestamp() >= at;

    /// <summary>The timeout exception for a read that saw nothing.</summary>
    public static TimeoutException Expired(string endpoint, TimeSpan timeout, string awaiting) =>
        new($"{endpoint}: nothing received within {timeout.TotalMilliseconds:0} ms while awaiting {awaiting}");
}
