namespace Tern.Runtime.Protocol;

/// <summary>Constants of protocol version 1 (docs/protocol.md).</summary>
public static class Wire
{
    /// <summary>The protocol version carried in every packet header.</summary>
    public const byte Version = 1;

    /// <summary>Largest body the protocol allows (a receiver may allow less; INFO reports the device's).</summary>
    public const int MaxBody = 8192;

    /// <summary>Bytes before the body: version, type, sequence (u16), body length (u16).</summary>
    public const int HeaderBytes = 6;

    /// <summary>Bytes of the CRC-32 after the body.</summary>
    public const int CrcBytes = 4;

    /// <summary>Header plus CRC: the smallest valid packet.</summary>
    public const int Overhead = HeaderBytes + CrcBytes;

    /// <summary>The sequence number of an ERROR about a frame whose header could not be trusted.</summary>
    public const ushort UnknownSequence = 0xFFFF;

    /// <summary>The frame delimiter.</summary>
    public const byte Delimiter = 0;
}
