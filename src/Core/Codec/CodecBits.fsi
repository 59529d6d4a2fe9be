namespace Tern.Core

/// Bits one stream section takes: its table (Huffman code lengths, RLE run width) and its coded symbols.
type SectionBits = {
    Table: int
    Payload: int
} with

    /// Table plus payload.
    member Total: int

    /// A section that takes no bits.
    static member Zero: SectionBits

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
type BitWriter =

    new: unit -> BitWriter

    /// Pads with zero bits to the next byte boundary; returns the number of padding bits.
    member Align: unit -> int

    /// The bytes written (the pending bits too, which must be whole bytes: call after Align).
    member ToArray: unit -> byte[]

    /// Writes the low `width` bits of value (0 <= width <= 32), most significant first.
    member Write: value: uint32 * width: int -> unit

    /// Bits written so far.
    member BitCount: int

/// Raw MSB-first bit access for the decoders' hot loops.
[<RequireQualifiedAccess>]
module Bits =

    /// The `width` bits (0 <= width <= 24) at absolute bit position pos of data; bits past the end read as 0.
    val inline peek: data: byte[] -> pos: int -> width: int -> int

/// MSB-first bit reader over data[startByte ..], refusing to read at or beyond endBit (absolute bit index).
[<Sealed>]
type BitReader =

    new: data: byte[] * startByte: int * endBit: int -> BitReader

    /// The next `width` bits (0 <= width <= 24) without consuming them; bits past the data read as 0.
    member Peek: width: int -> int

    /// Reads `width` bits (0 <= width <= 24) as an unsigned number; raises Overrun past endBit.
    member Read: width: int * section: string -> int

    /// Moves to absolute bit position p; raises Overrun (for `section`) past endBit.
    member Seek: p: int * section: string -> unit

    /// Consumes `width` bits; raises Overrun (for `section`) past endBit.
    member Skip: width: int * section: string -> unit

    /// The bytes read.
    member Data: byte[]

    /// The absolute bit index reading stops at.
    member End: int

    /// The absolute bit position of the next bit.
    member Position: int

    /// Bits left before endBit.
    member Remaining: int
