namespace Tern.Core

/// How a section's symbols (integers 0 .. alphabet-1) are written.
type Entropy =

    /// Each symbol in ceil(log2 alphabet) bits.
    | Fixed

    /// Zero-value compression: one mask bit per symbol (1 = not the zero symbol), then the non-zero symbols fixed-width.
    | Zvc

    /// Canonical Huffman, code lengths (4 bits per alphabet entry) in the stream, at most 15 bits per code.
    | Huffman

    /// Run-length: a 4-bit run width R, then (symbol fixed-width, run length - 1 in R bits) pairs.
    | Rle

/// Entropy coders of the feature-map codec. Every coder writes to a BitWriter and reports its bits; every
/// decoder reads exactly the bits the encoder wrote and raises CodecFailure on anything invalid.
[<RequireQualifiedAccess>]
module CodecEntropy =

    /// The longest Huffman code (so a small C decoder can use 16-bit codes).
    val maxCodeLength: int

    /// Huffman code lengths for symbol counts: optimal, then limited to maxLength; 0 for an absent symbol.
    /// Deterministic: leaves are taken in (count, symbol) order and, at equal weight, a leaf before an
    /// internal node; the length histogram is limited as in JPEG (Annex K.3); lengths are then handed out
    /// shortest first in (count descending, symbol ascending) order. A single used symbol gets length 1.
    val huffmanLengths: maxLength: int -> counts: int[] -> int[]

    /// Canonical codes for code lengths: symbols in (length, symbol) order get consecutive codes.
    /// Public for the tests only.
    val canonicalCodes: lengths: int[] -> int[]

    /// Writes symbols (each in 0 .. alphabet-1) with the coder; `zero` is ZVC's zero symbol. Returns its bits.
    val write: w: BitWriter -> coder: Entropy -> alphabet: int -> zero: int -> symbols: int[] -> SectionBits

    /// Reads `count` symbols written by `write` with the same coder, alphabet and zero symbol; raises CodecFailure.
    val read: r: BitReader -> coder: Entropy -> alphabet: int -> zero: int -> count: int -> section: string -> int[]

    /// The symbols alone as a zero-padded byte[], with their bits (for tests and studies of a coder).
    /// Public for the tests only.
    val encodeSymbols: coder: Entropy -> alphabet: int -> zero: int -> symbols: int[] -> byte[] * SectionBits

    /// Decodes `count` symbols from encodeSymbols' bytes; the padding must be zero bits.
    /// Public for the tests only.
    val decodeSymbols:
        coder: Entropy -> alphabet: int -> zero: int -> count: int -> bytes: byte[] -> Result<int[], CodecError>
