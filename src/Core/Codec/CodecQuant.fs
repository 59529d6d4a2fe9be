namespace Tern.Core

type QuantSource =
    | FromInt8
    | MinMaxAffine
    | MinMaxSymmetric

type CodeRange =
    | AffineCodes
    | SymmetricCodes

type CodecQuant = {
    Bits: int
    Range: CodeRange
    Step: int
    Center: int
    Zero: int
} with

    member q.QMin =
        match q.Range with
        | AffineCodes -> -(1 <<< (q.Bits - 1))
        | SymmetricCodes -> -((1 <<< (q.Bits - 1)) - 1)

    member q.QMax = (1 <<< (q.Bits - 1)) - 1

    member q.Alphabet = q.QMax - q.QMin + 1

    member q.ZeroSymbol = q.Zero - q.QMin

[<RequireQualifiedAccess>]
module CodecQuant =

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

    let quantize (q: CodecQuant) (code: int) : int =
        max q.QMin (min q.QMax (divRound (code - q.Center) q.Step + q.Zero))

    let dequantize (q: CodecQuant) (codeN: int) : int =
        max -128 (min 127 (q.Center + q.Step * (codeN - q.Zero)))

    let symbolTable (q: CodecQuant) : int[] =
        Array.init 256 (fun i -> quantize q (i - 128) - q.QMin)

    let codeTable (q: CodecQuant) : sbyte[] =
        Array.init q.Alphabet (fun s -> sbyte (dequantize q (s + q.QMin)))
