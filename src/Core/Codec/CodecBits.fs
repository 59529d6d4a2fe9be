namespace Tern.Core

open System

/// Bits one stream section takes: its table (Huffman code lengths, RLE run width) and its coded symbols.
type SectionBits = {
    Table: int
    Payload: int
} with

    /// Table plus payload.
    member s.Total = s.Table + s.Payload

    /// A section that takes no bits.
    static member Zero = { Table = 0; Payload = 0 }

/// Why a feature-map bitstream was rejected; every failure of the decoder is one of these.
type CodecError =
    /// Fewer bytes than the fixed header or than the length the header declares.
    | Truncated of needed: int * available: int
    /// The first two bytes are not "TC".
    | BadMagic
    /// A version this decoder does not read.
    | UnsupportedVersion of int
    /// More bytes than the header declares.
    | TrailingBytes of declared: int * available: int
    /// The CRC-32 over the stream does not match the stored one.
    | BadChecksum of stored: uint32 * computed: uint32
    /// A header field is out of its range.
    | BadHeader of string
    /// A section's table (Huffman code lengths, RLE run width) is invalid.
    | BadTable of section: string * reason: string
    /// A coded symbol is invalid (no such Huffman code, symbol outside the alphabet, run past the end).
    | BadSymbol of section: string * reason: string
    /// A motion vector points outside the anchor.
    | BadVector of frame: int * block: int
    /// A section reads past the end of the payload.
    | Overrun of section: string
    /// The padding bits before the checksum are not zero.
    | BadPadding

/// Raised inside the decoder's stages and turned into a Result at its entry point.
exception CodecFailure of CodecError

/// MSB-first bit writer: the first bit written is bit 7 of byte 0.
[<Sealed>]
type BitWriter() =
    let mutable buffer: byte[] = Array.zeroCreate 256
    let mutable length = 0
    // Pending bits, right-aligned; fewer than 32 between calls, flushed 32 at a time.
    let mutable acc = 0UL
    let mutable pending = 0

    let ensure (extra: int) =
        if length + extra > buffer.Length then
            Array.Resize(&buffer, max (buffer.Length * 2) (length + extra))

    /// Writes the low `width` bits of value (0 <= width <= 32), most significant first.
    member _.Write(value: uint32, width: int) =
        if width > 0 then
            acc <- (acc <<< width) ||| (uint64 value &&& ((1UL <<< width) - 1UL))
            pending <- pending + width

            if pending >= 32 then
                pending <- pending - 32
                ensure 4
                Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(buffer, length, 4), uint32 (acc >>> pending))
                length <- length + 4
                acc <- acc &&& ((1UL <<< pending) - 1UL)

    /// Bits written so far.
    member _.BitCount: int = length * 8 + pending

    /// Pads with zero bits to the next byte boundary; returns the number of padding bits.
    member this.Align() : int =
        let pad = (8 - pending % 8) % 8
        this.Write(0u, pad)
        pad

    /// The bytes written (the pending bits too, which must be whole bytes: call after Align).
    member _.ToArray() : byte[] =
        if pending % 8 <> 0 then
            invalidOp "BitWriter.ToArray before Align"

        let out = Array.zeroCreate (length + pending / 8)
        Array.blit buffer 0 out 0 length

        for k in 0 .. pending / 8 - 1 do
            out[length + k] <- byte (acc >>> (pending - 8 * (k + 1)))

        out

/// Raw MSB-first bit access for the decoders' hot loops.
[<RequireQualifiedAccess>]
module Bits =

    /// The `width` bits (0 <= width <= 24) at absolute bit position pos of data; bits past the end read as 0.
    let inline peek (data: byte[]) (pos: int) (width: int) : int =
        let i = pos >>> 3

        let w =
            if i + 4 <= data.Length then
                Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(data, i, 4))
            else
                let inline at k =
                    if k < data.Length then uint32 data[k] else 0u

                (at i <<< 24) ||| (at (i + 1) <<< 16) ||| (at (i + 2) <<< 8) ||| at (i + 3)

        if width = 0 then
            0
        else
            int ((w <<< (pos &&& 7)) >>> (32 - width))

/// MSB-first bit reader over data[startByte ..], refusing to read at or beyond endBit (absolute bit index).
[<Sealed>]
type BitReader(data: byte[], startByte: int, endBit: int) =
    let mutable pos = startByte * 8

    /// The absolute bit position of the next bit.
    member _.Position: int = pos

    /// Bits left before endBit.
    member _.Remaining: int = endBit - pos

    /// The next `width` bits (0 <= width <= 24) without consuming them; bits past the data read as 0.
    member _.Peek(width: int) : int = Bits.peek data pos width

    /// The bytes read.
    member _.Data: byte[] = data

    /// The absolute bit index reading stops at.
    member _.End: int = endBit

    /// Moves to absolute bit position p; raises Overrun (for `section`) past endBit.
    member _.Seek(p: int, section: string) =
        if p > endBit then
            raise (CodecFailure(Overrun section))

        pos <- p

    /// Consumes `width` bits; raises Overrun (for `section`) past endBit.
    member _.Skip(width: int, section: string) =
        if pos + width > endBit then
            raise (CodecFailure(Overrun section))

        pos <- pos + width

    /// Reads `width` bits (0 <= width <= 24) as an unsigned number; raises Overrun past endBit.
    member this.Read(width: int, section: string) : int =
        let v = this.Peek width
        this.Skip(width, section)
        v
