using System.IO.Pipelines;

namespace Tern.Runtime.Transports;

/// <summary>
/// A byte line to a device, handed to the protocol as one duplex pipe. Reads and writes go through
/// <see cref="TransportIO"/>: every read has a deadline; a peer that vanishes is reported at once by
/// <see cref="TransportClosedException"/>, a timeout by <see cref="TimeoutException"/> naming the endpoint and what was
/// awaited. Not thread-safe; Dispose closes the line.
/// </summary>
public interface ITransport : IDisposable
{
    /// <summary>The endpoint as a transport spec (what <see cref="Transport.Open(string, TimeSpan?)"/> accepts).</summary>
    string Endpoint { get; }

    /// <summary>The line: bytes from the device come out of Input, bytes written to Output go to the device.</summary>
    IDuplexPipe Pipe { get; }
}
