namespace Tern.Runtime.Protocol;

/// <summary>The type byte of a packet. Replies are the request's type with bit 7 set, except ERROR.</summary>
public enum MessageType : byte
{
    Hello = 0x01,
    Infer = 0x02,
    Layer = 0x03,
    Split = 0x04,
    InferSplit = 0x05,
    Stream = 0x06,
    Profile = 0x07,
    Error = 0x7F,
    Info = 0x81,
    Result = 0x82,
    LayerData = 0x83,
    SplitReady = 0x84,
    Features = 0x85,
    StreamData = 0x86,
    ProfileData = 0x87,
}
