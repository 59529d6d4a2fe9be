namespace Tern.Runtime.Protocol;

/// <summary>
/// A frame that passed the framing checks but whose message is wrong: unknown or unexpected type, a body of the wrong
/// size or content, a reply that does not answer the request. <see cref="Code"/> and <see cref="Detail"/> are what an
/// ERROR reply about it would carry.
/// </summary>
public sealed class ProtocolException : Exception
{
    public ProtocolException(ErrorCode code, uint detail, string message)
        : base(message)
    {
        Code = code;
        Detail = detail;
    }

    public ErrorCode Code { get; }
    public uint Detail { get; }
}
