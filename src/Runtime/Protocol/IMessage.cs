namespace Tern.Runtime.Protocol;

/// <summary>A protocol message: its type and its body bytes.</summary>
public interface IMessage
{
    MessageType Type { get; }

    /// <summary>The body as it goes on the wire (little-endian integers).</summary>
    byte[] EncodeBody();
}
