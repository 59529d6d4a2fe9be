using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Tern.Runtime.Protocol;

/// <summary>Reads a message body field by field; running short or leaving bytes over is a BAD_BODY <see cref="ProtocolException"/>.</summary>
internal ref struct BodyReader
{
    private readonly ReadOnlySpan<byte> body;
    private readonly MessageType type;
    private int pos;

    public BodyReader(ReadOnlySpan<byte> body, MessageType type)
    {
        this.body = body;
        this.type = type;
        pos = 0;
    }

    private ReadOnlySpan<byte> Take(int n, string field)
    {
        if (n < 0 || pos + n > body.Length)
            throw new ProtocolException(ErrorCode.BadBody, (uint)(pos + Math.Max(n, 0)),
                $"{type} body of {body.Length} bytes ends inside {field} (needs {pos + n})");
        var s = body.Slice(pos, n);
        pos += n;
        return s;
    }

    public byte U8(string field) => Take(1, field)[0];
    public ushort U16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field));
    public uint U32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));
    public byte[] Bytes(int n, string field) => Take(n, field).ToArray();
    public sbyte[] SBytes(int n, string field) => MemoryMarshal.Cast<byte, sbyte>(Take(n, field)).ToArray();
    public string Name(string field) => Encoding.ASCII.GetString(Take(U8(field), field));

    /// <summary>Checks that nothing is left over.</summary>
    public void End()
    {
        if (pos != body.Length)
            throw new ProtocolException(ErrorCode.BadBody, (uint)pos, $"{type} body has {body.Length} bytes, expected {pos}");
    }
}
