namespace Tern.Runtime.Protocol;

/// <summary>
/// Incremental frame receiver: push bytes one at a time (or a chunk), get frames or rejections with their reason.
/// COBS is undone on the fly into a buffer of 10 + <see cref="MaxBody"/> bytes that is never overrun: a longer packet
/// is rejected as OVERSIZE the moment it would overflow, and the rest of it is skipped to the next zero. An empty
/// frame (two zeros in a row) is ignored, so a sender may lead with a zero to flush a partial frame. Mirrors
/// tern_frame_decoder_push in hil/firmware/tern_proto.c state for state.
/// </summary>
public sealed class FrameDecoder
{
    private readonly byte[] buffer;
    private int length;      // decoded bytes so far
    private int encoded;     // encoded bytes of this frame so far
    private int left;        // data bytes left in the current COBS block
    private byte code;       // code byte of the current block
    private bool skipping;   // after OVERSIZE, until the next zero

    /// <summary>A decoder accepting bodies up to <paramref name="maxBody"/> bytes.</summary>
    public FrameDecoder(int maxBody = Wire.MaxBody)
    {
        if (maxBody < 0 || maxBody > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(maxBody), maxBody, "must be in 0..65535");
        MaxBody = maxBody;
        buffer = new byte[Wire.Overhead + maxBody];
    }

    /// <summary>The largest body this decoder accepts (the OVERSIZE detail).</summary>
    public int MaxBody { get; }

    /// <summary>Forgets any partial frame.</summary>
    public void Reset()
    {
        length = encoded = left = 0;
        code = 0;
        skipping = false;
    }

    /// <summary>Consumes one byte.</summary>
    public DecodeResult Push(byte b)
    {
        if (b == Wire.Delimiter)
        {
            if (skipping || encoded == 0)
            {
                Reset();
                return DecodeResult.NeedMore;
            }
            var result = left != 0 ? DecodeResult.Fail(ErrorCode.BadCobs, 0) : Frame.Check(buffer.AsSpan(0, length));
            Reset();
            return result;
        }
        if (skipping) return DecodeResult.NeedMore;
        encoded++;
        if (left == 0)
        {
            // A new block: the previous one (if any, and not a full 0xFF block) stood for a zero.
            if (encoded > 1 && code != 0xFF && !Append(0)) return Overflow();
            code = b;
            left = b - 1;
            return DecodeResult.NeedMore;
        }
        left--;
        return Append(b) ? DecodeResult.NeedMore : Overflow();
    }

    /// <summary>Consumes a chunk, adding every frame and rejection (not the need-more steps) to <paramref name="results"/>.</summary>
    public void Feed(ReadOnlySpan<byte> data, List<DecodeResult> results)
    {
        foreach (byte b in data)
        {
            var r = Push(b);
            if (r.Status != DecodeStatus.NeedMore) results.Add(r);
        }
    }

    private bool Append(byte b)
    {
        if (length == buffer.Length) return false;
        buffer[length++] = b;
        return true;
    }

    private DecodeResult Overflow()
    {
        Reset();
        skipping = true;
        return DecodeResult.Fail(ErrorCode.Oversize, (uint)MaxBody);
    }
}
