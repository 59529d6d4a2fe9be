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

    /// Smallest N-bit code.
    member q.QMin =
        match q.Range with
        | AffineCodes -> -(1 <<< (q.Bits - 1))
        | SymmetricCodes -> -((1 <<< (q.Bits - 1)) - 1)

    /// Largest N-bit code.
    member q.QMax = (1 <<< (q.Bits - 1)) - 1

    /// Number of codes; a stream symbol is q_N - QMin.
    member q.Alphabet = q.QMax - q.QMin + 1

    /// The symbol of real 0 (ZVC's zero symbol).
    member q.ZeroSymbol = q.Zero - q.QMin

/// The codec's quantizer: N-bit codes from int8 codes, as tables (256 entries in, 2^N out).
[<RequireQualifiedAccess>]
module CodecQuant =

    /// Integer a / step rounded half away from zero (step >= 1), as Quantize.roundHalfAway would.
    let divRound (a: int) (step: int) : int =
        if a >= 0 then
            (a + step / 2) / step
        else
            -((-a + step / 2) / step)

    let private check (bits: int) (zeroPoint: int) =
        if bits < 2 || bits > 8 then
            invalidArg "bits" $"the codec quantizes to 2..8 bits, got {bits}"

        if zeroPoint < -128 || zeroPoint > 127 then
            invalidArg "zeroPoint" $"int8 zero point {zeroPoint} outside -128..127"

    /// Seed 004 eqs. 3.14-3.15: Step = 2^(8-N) (s_N = s_8 2^(8-N)), Zero = round(z_8 / 2^(8-N)) (clamped), affine codes.
    let fromInt8 (bits: int) (zeroPoint: int) : CodecQuant =
        check bits zeroPoint
        let step = 1 <<< (8 - bits)

        {
            Bits = bits
            Range = AffineCodes
            Step = step
            Center = zeroPoint
            // z_8 = 127 rounds to 2^(N-1), one past the top code: clamped (then z_8 itself still maps to it).
            Zero = min ((1 <<< (bits - 1)) - 1) (divRound zeroPoint step)
        }

    /// Min-max over the int8 codes (lo, hi); affine: the smallest Step covering [min lo z8, max hi z8] with 2^N codes.
    let minMaxAffine (bits: int) (zeroPoint: int) (lo: int) (hi: int) : CodecQuant =
        check bits zeroPoint
        let lo = min lo zeroPoint
        let hi = max hi zeroPoint
        let levels = (1 <<< bits) - 1
        let step = max 1 ((hi - lo + levels - 1) / levels)
        let qmin = -(1 <<< (bits - 1))

        {
            Bits = bits
            Range = AffineCodes
            Step = step
            Center = zeroPoint
            // lo maps to qmin exactly (divRound is odd), so hi lands at most one step above qmax: clamped.
            Zero = qmin + divRound (zeroPoint - lo) step
        }

    /// Min-max over the int8 codes (lo, hi); symmetric: Step covers max |code - z8| with 2^(N-1)-1 codes.
    let minMaxSymmetric (bits: int) (zeroPoint: int) (lo: int) (hi: int) : CodecQuant =
        check bits zeroPoint
        let m = max (abs (lo - zeroPoint)) (abs (hi - zeroPoint))
        let levels = (1 <<< (bits - 1)) - 1

        {
            Bits = bits
            Range = SymmetricCodes
            Step = max 1 ((m + levels - 1) / levels)
            Center = zeroPoint
            Zero = 0
        }

    /// Parameters for the source, observing the given int8 frames for the min-max sources.
    let choose (source: QuantSource) (bits: int) (zeroPoint: int) (frames: sbyte[] seq) : CodecQuant =
        let observe () =
            let mutable lo = 127
            let mutable hi = -128

            for f in frames do
                for v in f do
                    lo <- min lo (int v)
                    hi <- max hi (int v)

            if lo > hi then (zeroPoint, zeroPoint) else (lo, hi)

        match source with
        | FromInt8 -> fromInt8 bits zeroPoint
        | MinMaxAffine -> observe () ||> minMaxAffine bits zeroPoint
        | MinMaxSymmetric -> observe () ||> minMaxSymmetric bits zeroPoint

    /// The N-bit code of an int8 code.
    let quantize (q: CodecQuant) (code: int) : int =
        max q.QMin (min q.QMax (divRound (code - q.Center) q.Step + q.Zero))

    /// The int8 code an N-bit code stands for.
    let dequantize (q: CodecQuant) (codeN: int) : int =
        max -128 (min 127 (q.Center + q.Step * (codeN - q.Zero)))

    /// Symbol (q_N - QMin) of each int8 code, indexed by code + 128.
    let symbolTable (q: CodecQuant) : int[] =
        Array.init 256 (fun i -> quantize q (i - 128) - q.QMin)

    /// int8 code of each symbol.
    let codeTable (q: CodecQuant) : sbyte[] =
        Array.init q.Alphabet (fun s -> sbyte (dequantize q (s + q.QMin)))
