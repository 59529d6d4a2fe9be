using System.Globalization;

namespace Tern.Runtime.Transports;

/// <summary>The kind of a transport endpoint.</summary>
public enum TransportKind
{
    Tty,
    Tcp,
    Unix,
}

/// <summary>
/// A parsed transport spec: <c>tty:/dev/ttyACM0[@115200]</c>, <c>tcp:host:port</c> (IPv6 as <c>tcp:[::1]:port</c>),
/// <c>unix:/path</c>, or a bare <c>/dev/...</c> path (a tty). <see cref="Port"/> is 0 unless TCP; <see cref="Baud"/> 0 unless tty.
/// </summary>
public sealed record TransportSpec(TransportKind Kind, string Target, int Port, int Baud)
{
    private const string Forms = "expected tty:/dev/NAME[@BAUD], tcp:HOST:PORT, unix:PATH or a /dev/ path";

    /// <summary>Parses a spec; throws <see cref="FormatException"/> naming the accepted forms.</summary>
    public static TransportSpec Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var s = spec.Trim();
        if (s.StartsWith("tty:", StringComparison.Ordinal)) return Tty(s[4..], spec);
        if (s.StartsWith("/dev/", StringComparison.Ordinal)) return Tty(s, spec);
        if (s.StartsWith("unix:", StringComparison.Ordinal))
            return s.Length > 5 ? new TransportSpec(TransportKind.Unix, s[5..], 0, 0) : throw Bad(spec, "the socket path is empty");
        if (s.StartsWith("tcp:", StringComparison.Ordinal))
        {
            var rest = s[4..];
            int colon = rest.LastIndexOf(':');
            if (colon <= 0) throw Bad(spec, "the port is missing");
            var host = rest[..colon];
            if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
            if (host.Length == 0) throw Bad(spec, "the host is empty");
            if (!int.TryParse(rest[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
                throw Bad(spec, "the port must be a number in 1..65535");
            return new TransportSpec(TransportKind.Tcp, host, port, 0);
        }
        throw Bad(spec, "unknown kind");
    }

    private static TransportSpec Tty(string rest, string spec)
    {
        int baud = Transport.DefaultBaud;
        int at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            if (!int.TryParse(rest[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out baud) || baud <= 0)
                throw Bad(spec, "the baud rate must be a positive number");
            rest = rest[..at];
        }
        return rest.Length > 0 ? new TransportSpec(TransportKind.Tty, rest, 0, baud) : throw Bad(spec, "the device path is empty");
    }

    private static FormatException Bad(string spec, string why) => new($"bad transport '{spec}': {why}; {Forms}");

    /// <summary>The canonical spec (what the transport's Endpoint reports).</summary>
    public override string ToString() => Kind switch
    {
        TransportKind.Tty => $"tty:{Target}@{Baud}",
        TransportKind.Tcp => Target.Contains(':') ? $"tcp:[{Target}]:{Port}" : $"tcp:{Target}:{Port}",
        _ => $"unix:{Target}",
    };
}
