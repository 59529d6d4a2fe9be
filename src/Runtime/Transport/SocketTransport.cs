using System.Net.Sockets;

namespace Tern.Runtime.Transports;

/// <summary>A transport over a connected stream socket (TCP or Unix); also wraps an accepted socket, e.g. a test's peer.</summary>
public class SocketTransport : StreamTransport
{
    /// <summary>Takes ownership of a connected stream socket; <paramref name="endpoint"/> names it in messages.</summary>
    public SocketTransport(Socket connected, string endpoint)
        : base(new NetworkStream(connected, ownsSocket: true), endpoint)
    {
    }

    /// <summary>Connects a socket within a timeout; failure is <see cref="TransportClosedException"/>, slowness <see cref="TimeoutException"/>.</summary>
    protected static Socket Connect(Socket socket, System.Net.EndPoint remote, string endpoint, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            socket.ConnectAsync(remote, cts.Token).AsTask().GetAwaiter().GetResult();
            return socket;
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            throw new TimeoutException($"{endpoint}: connect did not complete within {timeout.TotalMilliseconds:0} ms");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new TransportClosedException(endpoint, $"connect failed: {e.SocketErrorCode}", e);
        }
    }
}
