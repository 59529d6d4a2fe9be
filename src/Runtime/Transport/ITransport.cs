namespace Tern.Runtime.Transports;

/// <summary>
/// A byte stream to a device. Every read has a timeout; a peer that vanishes is reported at once by
/// <see cref="TransportClosedException"/>, a timeout by <see cref="TimeoutException"/> naming the endpoint and what
/// was awaited. Not thread-safe; Dispose closes the stream.
/// </summary>
public interface ITransport : IDisposable
{
    /// <summary>The endpoint as a transport spec (what <see cref="Transport.Open(string, TimeSpan?)"/> accepts).</summary>
    string Endpoint { get; }

    /// <summary>Writes all of <paramref name="data"/> (looping over partial writes).</summary>
    void Write(ReadOnlySpan<byte> data);

    /// <summary>
    /// Waits until at least one byte has arrived or <paramref name="timeout"/> has passed, then returns the bytes
    /// read (at least one, at most the buffer's length). <paramref name="awaiting"/> says in the timeout's message
    /// what the caller was waiting for.
    /// </summary>
    int Read(Span<byte> buffer, TimeSpan timeout, string awaiting = "data");
}
