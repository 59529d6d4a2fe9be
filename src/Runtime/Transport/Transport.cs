namespace Tern.Runtime.Transports;

/// <summary>Opens a transport from a spec string.</summary>
public static class Transport
{
    /// <summary>The baud rate of a tty spec without one.</summary>
    public const int DefaultBaud = 115200;

    /// <summary>How long a TCP or Unix connect may take unless told otherwise.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Opens <c>tty:/dev/ttyACM0[@115200]</c>, <c>tcp:host:port</c>, <c>unix:/path</c> or a bare <c>/dev/...</c> path.</summary>
    public static ITransport Open(string spec, TimeSpan? connectTimeout = null) => Open(TransportSpec.Parse(spec), connectTimeout);

    /// <summary>Opens a parsed spec.</summary>
    public static ITransport Open(TransportSpec spec, TimeSpan? connectTimeout = null) => spec.Kind switch
    {
        TransportKind.Tty => new TtyTransport(spec.Target, spec.Baud),
        TransportKind.Tcp => new TcpTransport(spec.Target, spec.Port, connectTimeout),
        TransportKind.Unix => new UnixSocketTransport(spec.Target, connectTimeout),
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Kind, "unknown transport kind"),
    };
}
