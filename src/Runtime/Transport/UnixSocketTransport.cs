using System.Net.Sockets;

namespace Tern.Runtime.Transports;

/// <summary>A Unix stream socket connection (e.g. QEMU's -serial unix:PATH,server,nowait).</summary>
public sealed class UnixSocketTransport : SocketTransport
{
    public UnixSocketTransport(string path, TimeSpan? connectTimeout = null)
        : base(Open(path, connectTimeout ?? Transport.DefaultConnectTimeout), "unix:" + path)
    {
        Path = path;
    }

    public string Path { get; }

    private static Socket Open(string path, TimeSpan timeout)
    {
        if (string.IsNullOrEmpty(path)) throw new ArgumentException("socket path is empty", nameof(path));
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        return Connect(s, new UnixDomainSocketEndPoint(path), "unix:" + path, timeout);
    }
}
