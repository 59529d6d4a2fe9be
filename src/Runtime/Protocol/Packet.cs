namespace Tern.Runtime.Protocol;

/// <summary>A packet that passed the framing checks (COBS, size, CRC, version, length): its type, sequence and body.</summary>
public sealed record Packet(MessageType Type, ushort Sequence, byte[] Body)
{
    public override string ToString() => $"{Type} seq {Sequence} ({Body.Length} body bytes)";
}
