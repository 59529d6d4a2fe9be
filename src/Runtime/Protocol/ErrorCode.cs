namespace Tern.Runtime.Protocol;

/// <summary>Why a frame or request was rejected; the code carried by an ERROR message.</summary>
public enum ErrorCode : byte
{
    /// <summary>Not an error (never sent).</summary>
    None = 0,

    /// <summary>The COBS encoding is invalid (the frame ended inside a block).</summary>
    BadCobs = 1,

    /// <summary>Fewer than 10 packet bytes between delimiters (detail: the bytes seen).</summary>
    TooShort = 2,

    /// <summary>CRC mismatch.</summary>
    BadCrc = 3,

    /// <summary>Version is not 1 (detail: the version seen).</summary>
    BadVersion = 4,

    /// <summary>The length field disagrees with the packet size (detail: the length field).</summary>
    BadLength = 5,

    /// <summary>The packet exceeds the receiver's buffer (detail: the receiver's MAX_BODY).</summary>
    Oversize = 6,

    /// <summary>Unknown or unexpected message type (detail: the type).</summary>
    BadType = 7,

    /// <summary>INFER body length is not the model's input size (detail: the expected size).</summary>
    BadInputSize = 8,

    /// <summary>LAYER before any INFER.</summary>
    NoInference = 9,

    /// <summary>Layer index out of range (detail: the layer count).</summary>
    BadLayer = 10,

    /// <summary>LAYER offset/count outside the layer's output (detail: the total bytes).</summary>
    BadRange = 11,

    /// <summary>A body of the wrong size for its type (detail: the expected size).</summary>
    BadBody = 12,

    /// <summary>INFER_SPLIT or STREAM before a SPLIT was accepted.</summary>
    NoSplit = 13,

    /// <summary>A SPLIT field is invalid (detail: the field's byte offset in the SPLIT body).</summary>
    BadSplit = 14,

    /// <summary>The device's split buffers are too small (detail: the bytes needed).</summary>
    NoRoom = 15,

    /// <summary>PROFILE repeats outside 1..<see cref="ProfileMessage.MaxRepeats"/> (detail: that maximum).</summary>
    BadRepeats = 16,
}
