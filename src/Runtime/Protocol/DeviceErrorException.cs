namespace Tern.Runtime.Protocol;

/// <summary>The device answered a request with an ERROR frame.</summary>
public sealed class DeviceErrorException : Exception
{
    public DeviceErrorException(ErrorCode code, uint detail, ushort sequence, string request)
        : base($"device rejected {request}: {Describe(code, detail)}")
    {
        Code = code;
        Detail = detail;
        Sequence = sequence;
    }

    public ErrorCode Code { get; }
    public uint Detail { get; }

    /// <summary>The sequence number the ERROR carried (<see cref="Wire.UnknownSequence"/> if the device could not read it).</summary>
    public ushort Sequence { get; }

    /// <summary>An error code and its detail in words, e.g. "BadInputSize (expected size 784)".</summary>
    public static string Describe(ErrorCode code, uint detail) => code switch
    {
        ErrorCode.TooShort => $"{code} ({detail} bytes seen)",
        ErrorCode.BadVersion => $"{code} (version {detail} seen)",
        ErrorCode.BadLength => $"{code} (length field {detail})",
        ErrorCode.Oversize => $"{code} (device MAX_BODY {detail})",
        ErrorCode.BadType => $"{code} (type 0x{detail:X2})",
        ErrorCode.BadInputSize => $"{code} (expected size {detail})",
        ErrorCode.BadLayer => $"{code} (layer count {detail})",
        ErrorCode.BadRange => $"{code} (layer output has {detail} bytes)",
        ErrorCode.BadBody => $"{code} (expected body size {detail})",
        _ when Enum.IsDefined(code) => $"{code} (detail {detail})",
        _ => $"unknown error code {(byte)code} (detail {detail})",
    };
}
