namespace Tern.Runtime.Transports;

/// <summary>The peer vanished: end of file, EIO on a tty, connection reset or refused. Names the endpoint.</summary>
public sealed class TransportClosedException : IOException
{
    public TransportClosedException(string endpoint, string reason, Exception? inner = null)
        : base($"{endpoint}: peer vanished ({reason})", inner)
    {
        Endpoint = endpoint;
        Reason = reason;
    }

    /// <summary>The transport spec of the endpoint, e.g. "tty:/dev/ttyACM0@115200".</summary>
    public string Endpoint { get; }

    /// <summary>What was seen, e.g. "end of file" or "EIO while reading".</summary>
    public string Reason { get; }
}
