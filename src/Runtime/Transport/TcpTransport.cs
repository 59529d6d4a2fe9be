using System.Net;
using System.Net.Sockets;

namespace Tern.Runtime.Transports;

/// <summary>A TCP connection to host:port (e.g. QEMU's -serial tcp:127.0.0.1:PORT,server,nowait).</summary>
public sealed class TcpTransport : SocketTransport
{
    public TcpTransport(string host, int port, TimeSpan? connectTimeout = null)
        : base(Open(host, port, connectTimeout ?? Transport.DefaultConnectTimeout), Name(host, port))
    {
        Host = host;
        Port = port;
    }

    public string Host { get; }
    public int Port { get; }

    private static string Name(string host, int port) => host.Contains(':') ? $"tcp:[{host}]:{port}" : $"tcp:{host}:{port}";

    private static Socket Open(string host, int port, TimeSpan timeout)
    {
        if (port is < 1 or > 65535) throw new ArgumentOutOfRangeException(nameof(port), port, "must be in 1..65535");
        EndPoint remote = IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port);
        var s = ip is not null ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) : new Socket(SocketType.Stream, ProtocolType.Tcp);
        s.NoDelay = true; // request frames are small: do not hold them back
        return Connect(s, remote, Name(host, port), timeout);
    }
}
