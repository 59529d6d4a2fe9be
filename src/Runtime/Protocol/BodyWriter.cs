using System.Buffers.Binary;
using System.Text;

namespace Tern.Runtime.Protocol;

/// <summary>Builds a message body field by field (little-endian).</summary>
internal sealed class BodyWriter
{
    private readonly List<byte> bytes = new();

    public BodyWriter U8(byte v)
    {
        bytes.Add(v);
        return this;
    }

    public BodyWriter U16(ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        bytes.AddRange(b);
        return this;
    }

    public BodyWriter U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        bytes.AddRange(b);
        return this;
    }

    public BodyWriter Bytes(ReadOnlySpan<byte> v)
    {
        bytes.AddRange(v);
        return this;
    }

    public BodyWriter SBytes(ReadOnlySpan<sbyte> v) => Bytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v));

    /// <summary>A u8 length and the ASCII bytes of a name (at most 255 characters, all ASCII).</summary>
    public BodyWriter Name(string v)
    {
        if (v.Length > 255 || v.Any(c => c > 0x7F)) throw new ArgumentException($"name '{v}' is not ASCII of at most 255 characters");
        return U8((byte)v.Length).Bytes(Encoding.ASCII.GetBytes(v));
    }

    public byte[] ToArray() => bytes.ToArray();
}
