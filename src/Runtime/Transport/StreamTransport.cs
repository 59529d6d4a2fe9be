using System.IO.Pipelines;
using Nerdbank.Streams;

namespace Tern.Runtime.Transports;

/// <summary>
/// A transport over any full-duplex stream (a socket's, a serial port's, one end of an in-process pair): Nerdbank's
/// UsePipe pumps it into the one duplex pipe the protocol reads and writes. The stream's end is the pipe's end.
/// </summary>
public class StreamTransport : ITransport
{
    private readonly Stream stream;
    private readonly IDisposable? owner;
    private readonly CancellationTokenSource pumps = new();
    private bool disposed;

    /// <summary>
    /// Takes ownership of <paramref name="stream"/> (and of <paramref name="owner"/>, e.g. the serial port or socket
    /// behind it); <paramref name="endpoint"/> names the line in messages.
    /// </summary>
    public StreamTransport(Stream stream, string endpoint, IDisposable? owner = null)
    {
        this.stream = stream;
        this.owner = owner;
        Endpoint = endpoint;
        Pipe = stream.UsePipe(cancellationToken: pumps.Token);
    }

    public string Endpoint { get; }

    public IDuplexPipe Pipe { get; }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposed || !disposing) return;
        disposed = true;
        Pipe.Input.Complete();
        Pipe.Output.Complete();
        pumps.Cancel();
        stream.Dispose();
        owner?.Dispose();
        pumps.Dispose();
    }

    public override string ToString() => Endpoint;
}
