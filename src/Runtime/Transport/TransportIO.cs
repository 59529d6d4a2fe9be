using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Tern.Runtime.Transports;

/// <summary>
/// Reads and writes on a transport's pipe with deadlines, and what a failing line means, in one place: the end of
/// the stream, a reset connection or a vanished device is <see cref="TransportClosedException"/>, a deadline passed is
/// <see cref="TimeoutException"/>, both naming the endpoint.
/// </summary>
public static class TransportIO
{
    /// <summary>How long a write may wait for room in the line before it fails with <see cref="TimeoutException"/>.</summary>
    public static readonly TimeSpan DefaultWriteTimeout = TimeSpan.FromSeconds(10);

    // errno values (Linux) that mean the device went away; System.IO reports errno as the IOException's HResult.
    private const int EIO = 5, ENXIO = 6, ENODEV = 19, EPIPE = 32;

    /// <summary>
    /// Waits until unread bytes are in the pipe or <paramref name="timeout"/> has passed, and returns all of them
    /// (at least one) without consuming them: call <c>Pipe.Input.AdvanceTo</c> with what was used before receiving
    /// again. Bytes that arrived before the peer vanished come first. <paramref name="awaiting"/> says in the timeout's
    /// message what the caller was waiting for.
    /// </summary>
    public static ReadOnlySequence<byte> Receive(this ITransport transport, TimeSpan timeout, string awaiting = "data")
    {
        var deadline = Deadline.After(timeout);
        var reader = transport.Pipe.Input;
        while (true)
        {
            ReadResult result;
            using (var expiry = new CancellationTokenSource(deadline.Remaining))
            {
                try
                {
                    if (!reader.TryRead(out result)) result = Wait(reader.ReadAsync(expiry.Token));
                }
                catch (OperationCanceledException) when (expiry.IsCancellationRequested)
                {
                    throw Deadline.Expired(transport.Endpoint, timeout, awaiting);
                }
                catch (Exception e) when (Fault(transport.Endpoint, e, $"awaiting {awaiting}") is { } fault)
                {
                    throw fault;
                }
            }
            if (!result.Buffer.IsEmpty) return result.Buffer;
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) throw new TransportClosedException(transport.Endpoint, $"end of file while awaiting {awaiting}");
            if (deadline.Passed) throw Deadline.Expired(transport.Endpoint, timeout, awaiting);
        }
    }

    /// <summary>
    /// Waits until at least one byte has arrived or <paramref name="timeout"/> has passed, then consumes and returns
    /// the bytes read (at least one, at most the buffer's length).
    /// </summary>
    public static int Read(this ITransport transport, Span<byte> buffer, TimeSpan timeout, string awaiting = "data")
    {
        if (buffer.IsEmpty) throw new ArgumentException("read buffer is empty", nameof(buffer));
        var data = transport.Receive(timeout, awaiting);
        int n = (int)Math.Min(buffer.Length, data.Length);
        data.Slice(0, n).CopyTo(buffer);
        transport.Pipe.Input.AdvanceTo(data.GetPosition(n));
        return n;
    }

    /// <summary>Writes all of <paramref name="data"/> and flushes it toward the device.</summary>
    public static void Write(this ITransport transport, ReadOnlySpan<byte> data, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultWriteTimeout;
        var writer = transport.Pipe.Output;
        FlushResult result;
        using (var expiry = new CancellationTokenSource(limit))
        {
            try
            {
                writer.Write(data);
                result = Wait(writer.FlushAsync(expiry.Token));
            }
            catch (OperationCanceledException) when (expiry.IsCancellationRequested)
            {
                throw new TimeoutException($"{transport.Endpoint}: write of {data.Length} bytes blocked for {limit.TotalMilliseconds:0} ms");
            }
            catch (Exception e) when (Fault(transport.Endpoint, e, "writing") is { } fault)
            {
                throw fault;
            }
        }
        if (result.IsCompleted) throw new TransportClosedException(transport.Endpoint, "the line took no more bytes while writing");
    }

    private static T Wait<T>(ValueTask<T> pending) => pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();

    /// <summary>What a failure of the line means for the caller; null leaves the exception as it is.</summary>
    private static Exception? Fault(string endpoint, Exception e, string doing)
    {
        switch (e)
        {
            case TransportClosedException or TimeoutException:
                return null;
            case ObjectDisposedException:
                // The stream under the pipe was closed under it (a serial port reports a hang-up so).
                return new TransportClosedException(endpoint, $"the line closed while {doing}", e);
            case InvalidOperationException:
                // The pipe was completed: this side disposed the transport.
                return new ObjectDisposedException(endpoint, $"{endpoint}: the transport is closed ({doing})");
        }
        if ((e as SocketException ?? e.InnerException as SocketException) is { } s)
        {
            return s.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown
                or SocketError.NotConnected or SocketError.Disconnecting or SocketError.NetworkReset or SocketError.OperationAborted
                ? new TransportClosedException(endpoint, $"{s.SocketErrorCode} while {doing}", e)
                : new IOException($"{endpoint}: socket error {s.SocketErrorCode} while {doing}", e);
        }
        if (e is IOException io)
        {
            return io.HResult is EIO or ENXIO or ENODEV or EPIPE
                ? new TransportClosedException(endpoint, $"{io.Message} while {doing}", e)
                : new IOException($"{endpoint}: {io.Message} while {doing}", e);
        }
        return null;
    }
}
