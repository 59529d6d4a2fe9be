namespace Tern.Runtime.Protocol;

/// <summary>Turns a packet into its message.</summary>
public static class Message
{
    /// <summary>Parses the body by the packet's type; an unknown type is BAD_TYPE, a malformed body BAD_BODY (<see cref="ProtocolException"/>).</summary>
    public static IMessage Parse(Packet packet) => Parse(packet.Type, packet.Body);

    /// <inheritdoc cref="Parse(Packet)"/>
    public static IMessage Parse(MessageType type, ReadOnlySpan<byte> body) => type switch
    {
        MessageType.Hello => HelloMessage.Parse(body),
        MessageType.Info => InfoMessage.Parse(body),
        MessageType.Infer => InferMessage.Parse(body),
        MessageType.Result => ResultMessage.Parse(body),
        MessageType.Layer => LayerMessage.Parse(body),
        MessageType.LayerData => LayerDataMessage.Parse(body),
        MessageType.Split => SplitMessage.Parse(body),
        MessageType.SplitReady => SplitReadyMessage.Parse(body),
        MessageType.InferSplit => InferSplitMessage.Parse(body),
        MessageType.Features => FeaturesMessage.Parse(body),
        MessageType.Stream => StreamMessage.Parse(body),
        MessageType.StreamData => StreamDataMessage.Parse(body),
        MessageType.Profile => ProfileMessage.Parse(body),
        MessageType.ProfileData => ProfileDataMessage.Parse(body),
        MessageType.Error => ErrorMessage.Parse(body),
        _ => throw new ProtocolException(ErrorCode.BadType, (byte)type, $"unknown message type 0x{(byte)type:X2}"),
    };
}
