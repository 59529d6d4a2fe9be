using System.Net.Sockets;

namespace Tern.Runtime.Transports;

/// <summary>A transport over a connected stream socket (TCP or Unix); also wraps an accepted socket, e.g. a test's fake device.</summary>
public class SocketTransport : ITransport
{
    private readonly Socket socket;

    /// <summary>Takes ownership of a connected stream socket; <paramref name="endpoint"/> names it in messages.</summary>
    public SocketTransport(Socket connected, string endpoint)
    {
        socket = connected;
        Endpoint = endpoint;
    }

    public string Endpoint { get; }

    /// <summary>How long a write may block before it fails with <see cref="TimeoutException"/>.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public void Write(ReadOnlySpan<byte> data)
    {
        socket.SendTimeout = (int)Math.Clamp(WriteTimeout.TotalMilliseconds, 1, int.MaxValue);
        while (!data.IsEmpty)
        {
            int n = socket.Send(data, SocketFlags.None, out var err);
            if (err == SocketError.Success)
            {
                data = data[n..];
                continue;
            }
            if (err == SocketError.Interrupted) continue;
            if (err is SocketError.TimedOut or SocketError.WouldBlock)
                throw new TimeoutException($"{Endpoint}: write of {data.Length} bytes blocked for {WriteTimeout.TotalMilliseconds:0} ms");
            throw Fail(err, "writing");
        }
    }

    public int Read(Span<byte> buffer, TimeSpan timeout, string awaiting = "data")
    {
        if (buffer.IsEmpty) throw new ArgumentException("read buffer is empty", nameof(buffer));
        var deadline = Deadline.After(timeout);
        while (true)
        {
            // Poll is true when data is ready and also when the peer closed or reset: Receive then says which.
            // Poll takes at most int.MaxValue microseconds: wait in slices of a minute at most.
            var slice = deadline.Remaining < TimeSpan.FromMinutes(1) ? deadline.Remaining : TimeSpan.FromMinutes(1);
            if (!socket.Poll(slice, SelectMode.SelectRead))
            {
                if (deadline.Passed) throw Deadline.Expired(Endpoint, timeout, awaiting);
                continue;
            }
            int n = socket.Receive(buffer, SocketFlags.None, out var err);
            if (err == SocketError.Success)
                return n > 0 ? n : throw new TransportClosedException(Endpoint, $"end of file while awaiting {awaiting}");
            if (err is SocketError.Interrupted or SocketError.WouldBlock) continue;
            throw Fail(err, $"awaiting {awaiting}");
        }
    }

    private Exception Fail(SocketError err, string doing) => err switch
    {
        SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or SocketError.NotConnected
            or SocketError.Disconnecting or SocketError.NetworkReset or SocketError.OperationAborted
            => new TransportClosedException(Endpoint, $"{err} while {doing}", new SocketException((int)err)),
        _ => new IOException($"{Endpoint}: socket error {err} while {doing}", new SocketException((int)err)),
    };

    public void Dispose()
    {
        socket.Dispose();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => Endpoint;

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
