namespace Tern.Runtime;

/// <summary>
/// The rule every padded layer follows: each side's padding lies in [0, kernel) along its axis, so every window
/// holds at least one real element and the padded positions (real zero) never fill a window alone.
/// </summary>
internal static class PaddingChecks
{
    public static void Validate(int top, int bottom, int left, int right, int kernelH, int kernelW, Action<string> fail)
    {
        if (top < 0 || bottom < 0 || left < 0 || right < 0 || top >= kernelH || bottom >= kernelH || left >= kernelW || right >= kernelW)
            fail($"padding {top},{bottom},{left},{right} (top, bottom, left, right) must lie in [0, kernel) for kernel {kernelH}x{kernelW}");
    }
}
