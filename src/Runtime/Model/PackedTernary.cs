namespace Tern.Runtime;

/// <summary>
/// Ternary weights packed 2 bits per weight. This is the single definition of the layout, shared by
/// C# and the device C code:
/// <list type="bullet">
/// <item>code 0b00 = 0, 0b01 = +1, 0b10 = -1; 0b11 is invalid and rejected on load, never read as 0;</item>
/// <item>a matrix is stored row by row (one row per output channel), each row starting on a byte boundary;</item>
/// <item>weight j of a row sits in byte j / 4 of the row, bits 2*(j % 4) .. 2*(j % 4) + 1 (least significant first);</item>
/// <item>padding codes after the last weight of a row are 0b00.</item>
/// </list>
/// </summary>
public sealed class PackedTernary
{
    public const int CodeZero = 0b00;
    public const int CodePlus = 0b01;
    public const int CodeMinus = 0b10;
    public const int CodeInvalid = 0b11;

    public PackedTernary(int rows, int rowLength, byte[] data)
    {
        if (rows < 0 || rowLength < 0) throw new ArgumentOutOfRangeException(nameof(rows));
        if (data.Length != rows * BytesPerRow(rowLength))
            throw new InvalidDataException($"packed ternary data has {data.Length} bytes, expected {rows} rows x {BytesPerRow(rowLength)} bytes");
        Rows = rows;
        RowLength = rowLength;
        Data = data;
    }

    public int Rows { get; }
    public int RowLength { get; }
    public byte[] Data { get; }
    public int RowBytes => BytesPerRow(RowLength);

    public static int BytesPerRow(int rowLength) => (rowLength + 3) / 4;

    /// <summary>Packs values in {-1, 0, +1}, given row by row; throws on any other value.</summary>
    public static PackedTernary Pack(int rows, int rowLength, ReadOnlySpan<sbyte> values)
    {
        if (values.Length != rows * rowLength) throw new ArgumentException($"{values.Length} values, expected {rows} x {rowLength}");
        int rb = BytesPerRow(rowLength);
        var data = new byte[rows * rb];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < rowLength; j++)
            {
                int code = values[r * rowLength + j] switch
                {
                    0 => CodeZero,
                    1 => CodePlus,
                    -1 => CodeMinus,
                    var v => throw new ArgumentException($"value {v} at row {r}, column {j} is not ternary"),
                };
                data[r * rb + j / 4] |= (byte)(code << (2 * (j % 4)));
            }
        return new PackedTernary(rows, rowLength, data);
    }

    /// <summary>The weight at (row, column) as -1, 0 or +1.</summary>
    public int Get(int row, int column)
    {
        int code = (Data[row * RowBytes + column / 4] >> (2 * (column % 4))) & 3;
        return code switch
        {
            CodeZero => 0,
            CodePlus => 1,
            CodeMinus => -1,
            _ => throw new InvalidDataException($"invalid ternary code 0b11 at row {row}, column {column}"),
        };
    }

    /// <summary>All weights, row by row, as sbyte values in {-1, 0, +1}.</summary>
    public sbyte[] Unpack()
    {
        var result = new sbyte[Rows * RowLength];
        for (int r = 0; r < Rows; r++)
            for (int j = 0; j < RowLength; j++)
                result[r * RowLength + j] = (sbyte)Get(r, j);
        return result;
    }

    /// <summary>Rejects the invalid code anywhere and non-zero padding; the message names row and column.</summary>
    public void Validate()
    {
        int rb = RowBytes;
        for (int r = 0; r < Rows; r++)
            for (int j = 0; j < rb * 4; j++)
            {
                int code = (Data[r * rb + j / 4] >> (2 * (j % 4))) & 3;
                if (code == CodeInvalid)
                    throw new InvalidDataException($"invalid ternary code 0b11 at row {r}, column {j}");
                if (j >= RowLength && code != CodeZero)
                    throw new InvalidDataException($"non-zero padding code in row {r} after column {RowLength - 1}");
            }
    }
}
