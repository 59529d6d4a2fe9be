namespace Tern.Core

/// Where the codec's N-bit quantizer parameters come from.
type QuantSource =

    /// Seed 004 eqs. 3.14-3.15 from the int8 parameters: s_N = s_8 * 2^(8-N), z_N = round(z_8 / 2^(8-N)).
    | FromInt8

    /// Min-max observer on the int8 codes, affine: the range [min, max] extended to contain z_8.
    | MinMaxAffine

    /// Min-max observer on the int8 codes, symmetric about z_8, N-bit zero point 0.
    | MinMaxSymmetric

/// Which N-bit code range the quantizer uses.
type CodeRange =

    /// -2^(N-1) .. 2^(N-1)-1 with a zero point.
    | AffineCodes

    /// -(2^(N-1)-1) .. 2^(N-1)-1, zero point 0.
    | SymmetricCodes

/// An integer N-bit requantizer of int8 codes q8 (real = s_8 (q8 - Center)):
/// q_N = clamp(roundHalfAway((q8 - Center) / Step) + Zero, QMin, QMax); back: clamp(Center + Step (q_N - Zero), -128, 127).
/// The real N-bit scale is s_8 * Step; the zero point Zero. Integer only, so a C encoder is bit-exact.
type CodecQuant = {
    Bits: int
    Range: CodeRange

    /// Width of one N-bit step in int8 codes (1 .. 255).
    Step: int

    /// The int8 zero point z_8 (the int8 code of real 0).
    Center: int

    /// The N-bit zero point.
    Zero: int
} with

    /// Number of codes; a stream symbol is q_N - QMin.
    member Alphabet: int

    /// Largest N-bit code.
    member QMax: int

    /// Smallest N-bit code.
    member QMin: int

    /// The symbol of real 0 (ZVC's zero symbol).
    member ZeroSymbol: int

/// The codec's quantizer: N-bit codes from int8 codes, as tables (256 entries in, 2^N out).
[<RequireQualifiedAccess>]
module CodecQuant =

    /// Integer a / step rounded half away from zero (step >= 1), as Quantize.roundHalfAway would.
    val divRound: a: int -> step: int -> int

    /// Seed 004 eqs. 3.14-3.15: Step = 2^(8-N) (s_N = s_8 2^(8-N)), Zero = round(z_8 / 2^(8-N)) (clamped), affine codes.
    /// Public for the tests only.
    val fromInt8: bits: int -> zeroPoint: int -> CodecQuant

    /// Parameters for the source, observing the given int8 frames for the min-max sources.
    val choose: source: QuantSource -> bits: int -> zeroPoint: int -> frames: sbyte[] seq -> CodecQuant

    /// The N-bit code of an int8 code.
    /// Public for the tests only.
    val quantize: q: CodecQuant -> code: int -> int

    /// The int8 code an N-bit code stands for.
    /// Public for the tests only.
    val dequantize: q: CodecQuant -> codeN: int -> int

    /// Symbol (q_N - QMin) of each int8 code, indexed by code + 128.
    val symbolTable: q: CodecQuant -> int[]

    /// int8 code of each symbol.
    val codeTable: q: CodecQuant -> sbyte[]
