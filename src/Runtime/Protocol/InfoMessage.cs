namespace Tern.Runtime.Protocol;

/// <summary>INFO (device to host): what the device is and runs.</summary>
public sealed record InfoMessage(
    byte ProtocolVersion,
    string BoardName,
    uint CoreClockHz,
    WorkUnit WorkUnit,
    uint TicksPerSecond,
    byte[] FirmwareHash,
    byte[] ModelHash,
    uint ArenaBytes,
    Shape3 InputShape,
    Shape3 OutputShape,
    ushort LayerCount,
    string Kernels,
    uint MaxBody) : IMessage
{
    /// <summary>Bytes of each hash (SHA-256).</summary>
    public const int HashBytes = 32;

    public MessageType Type => MessageType.Info;

    public byte[] EncodeBody()
    {
        if (FirmwareHash.Length != HashBytes || ModelHash.Length != HashBytes)
            throw new ArgumentException($"hashes must have {HashBytes} bytes");
        var w = new BodyWriter()
            .U8(ProtocolVersion)
            .Name(BoardName)
            .U32(CoreClockHz)
            .U8((byte)WorkUnit)
            .U32(TicksPerSecond)
            .Bytes(FirmwareHash)
            .Bytes(ModelHash)
            .U32(ArenaBytes);
        Shape(w, InputShape);
        Shape(w, OutputShape);
        return w.U16(LayerCount).Name(Kernels).U32(MaxBody).ToArray();
    }

    private static void Shape(BodyWriter w, Shape3 s)
    {
        foreach (int d in (ReadOnlySpan<int>)[s.H, s.W, s.C])
        {
            if (d is < 0 or > ushort.MaxValue) throw new ArgumentException($"shape {s} does not fit u16 dimensions");
            w.U16((ushort)d);
        }
    }

    public static InfoMessage Parse(ReadOnlySpan<byte> body)
    {
        var r = new BodyReader(body, MessageType.Info);
        var info = new InfoMessage(
            r.U8("protocol version"),
            r.Name("board name"),
            r.U32("core clock"),
            (WorkUnit)r.U8("work unit"),
            r.U32("ticks per second"),
            r.Bytes(HashBytes, "firmware hash"),
            r.Bytes(HashBytes, "model hash"),
            r.U32("arena bytes"),
            new Shape3(r.U16("input H"), r.U16("input W"), r.U16("input C")),
            new Shape3(r.U16("output H"), r.U16("output W"), r.U16("output C")),
            r.U16("layer count"),
            r.Name("kernel set"),
            r.U32("MAX_BODY"));
        r.End();
        return info;
    }
}
