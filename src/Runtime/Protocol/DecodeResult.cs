namespace Tern.Runtime.Protocol;

/// <summary>What one step of the frame decoder produced.</summary>
public enum DecodeStatus
{
    /// <summary>No complete frame yet.</summary>
    NeedMore,

    /// <summary>A valid frame ended: <see cref="DecodeResult.Packet"/> holds it.</summary>
    Frame,

    /// <summary>A frame was rejected: <see cref="DecodeResult.Error"/> says why.</summary>
    Error,
}

/// <summary>
/// The outcome of feeding the decoder: need more, a packet, or a rejection with its reason, detail and the sequence
/// number of the rejected frame (<see cref="Wire.UnknownSequence"/> unless its CRC verified).
/// </summary>
public readonly record struct DecodeResult(DecodeStatus Status, Packet? Packet, ErrorCode Error, uint Detail, ushort Sequence)
{
    public static readonly DecodeResult NeedMore = new(DecodeStatus.NeedMore, null, ErrorCode.None, 0, 0);

    public static DecodeResult Ok(Packet packet) => new(DecodeStatus.Frame, packet, ErrorCode.None, 0, packet.Sequence);

    public static DecodeResult Fail(ErrorCode error, uint detail, ushort sequence = Wire.UnknownSequence) =>
        new(DecodeStatus.Error, null, error, detail, sequence);

    public override string ToString() => Status switch
    {
        DecodeStatus.Frame => $"frame {Packet}",
        DecodeStatus.Error => $"error {Error} detail {Detail} seq {(Sequence == Wire.UnknownSequence ? "unknown" : Sequence.ToString())}",
        _ => "need more",
    };
}
