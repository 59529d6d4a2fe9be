namespace Tern.Core

open System

type QuantMode =
    | Symmetric
    | Asymmetric

type QParams = {
    Scale: float
    ZeroPoint: int
    QMin: int
    QMax: int
    Bits: int
}

type TernaryThreshold =
    | ThresholdRatio of float
    | ThresholdValue of float

type AlphaMode =
    | AlphaPerLayer
    | AlphaPerChannel

type Ternarized = {
    Codes: sbyte[]
    Alpha: float[]
    Threshold: float[]
}

[<RequireQualifiedAccess>]
module Quantize =

    let defaultThreshold: TernaryThreshold = ThresholdRatio 0.7

    let roundHalfAway (x: float) : float =
        Math.Round(x, MidpointRounding.AwayFromZero)

    let minMax (values: float32 seq) : float * float =
        let mutable lo = Double.PositiveInfinity
        let mutable hi = Double.NegativeInfinity

        for v in values do
            if not (Single.IsFinite v) then
                invalidArg "values" $"min-max observer got a non-finite value {v}"

            let d = float v

            if d < lo then
                lo <- d

            if d > hi then
                hi <- d

        if lo > hi then (0.0, 0.0) else (lo, hi)

    let private checkBits (bits: int) =
        if bits < 2 || bits > 16 then
            invalidArg "bits" $"affine quantization supports 2..16 bits, got {bits}"

    /// Code range of a signed b-bit grid for the mode.
    let codeRange (bits: int) (mode: QuantMode) : int * int =
        checkBits bits
        let half = 1 <<< (bits - 1)

        match mode with
        | Symmetric -> (-(half - 1), half - 1)
        | Asymmetric -> (-half, half - 1)

    /// A scale that is never 0, NaN or infinite: a degenerate (all-zero) range gets 1.0, any scale works there.
    let private usableScale (s: float) =
        if s > 0.0 && Double.IsFinite s then s else 1.0

    let affine (bits: int) (mode: QuantMode) (xmin: float) (xmax: float) : QParams =
        if not (Double.IsFinite xmin && Double.IsFinite xmax) then
            invalidArg "xmin" $"range [{xmin}, {xmax}] is not finite"

        if xmin > xmax then
            invalidArg "xmin" $"empty range: xmin {xmin} > xmax {xmax}"

        let qmin, qmax = codeRange bits mode

        match mode with
        | Symmetric ->
            let s = usableScale (max (abs xmin) (abs xmax) / float qmax)

            {
                Scale = s
                ZeroPoint = 0
                QMin = qmin
                QMax = qmax
                Bits = bits
            }
        | Asymmetric ->
            // The range must contain 0 so that 0.0 (padding, ReLU floor) is an exact code.
            let lo = min xmin 0.0
            let hi = max xmax 0.0
            let s = usableScale ((hi - lo) / float (qmax - qmin))
            // lo <= 0 so lo/s lies in [-(qmax-qmin), 0]; the clamp only absorbs float noise.
            let z = float qmin - roundHalfAway (lo / s)
            let z = int (max (float qmin) (min (float qmax) z))

            {
                Scale = s
                ZeroPoint = z
                QMin = qmin
                QMax = qmax
                Bits = bits
            }

    let private checkRows (rows: int) (length: int) =
        if rows < 1 then
            invalidArg "rows" $"rows must be positive, got {rows}"

        if length % rows <> 0 then
            invalidArg "values" $"{length} values do not split into {rows} equal rows"

    let perChannel (bits: int) (mode: QuantMode) (rows: int) (values: float32[]) : QParams[] =
        checkRows rows values.Length
        let n = values.Length / rows

        Array.init rows (fun r ->
            let lo, hi = minMax (ArraySegment(values, r * n, n))
            affine bits mode lo hi)

    let quantize (p: QParams) (x: float) : int =
        if Double.IsNaN x then
            invalidArg "x" "cannot quantize NaN"

        // Clamp in floating point first: x / s may be far outside the int range.
        let q = roundHalfAway (x / p.Scale) + float p.ZeroPoint
        int (max (float p.QMin) (min (float p.QMax) q))

    let dequantize (p: QParams) (q: int) : float = p.Scale * float (q - p.ZeroPoint)

    // Direction: one N-bit step spans 2^(b-N) b-bit steps (q_b = q_N * 2^(b-N)), so with fewer bits the
    // step must grow by 2^(b-N) and the zero point shrink by it. The extracted seed text prints every
    // exponent with the opposite sign (eq. 3.8 as printed says q_8 = q_N * 2^(N-8), and 3.14 gives
    // s_N = s_8 * 2^(N-8)); read literally that shrinks the step for N < 8, so the N-bit grid would cover
    // only about 2^(2(N-8)) of the data range. We implement the mathematically right direction.
    //
    // Against a direct N-bit min-max the derived scale is slightly smaller (the b-bit span 2^b - 1 is not
    // 2^(b-N) times the N-bit span 2^N - 1): s_N / s_direct = 2^(b-N) * spanN / spanB, which lies in
    // [1 - 2^-N, 1] (asymmetric) or [1 - 2^(1-N), 1] (symmetric), so the extreme values clip by less than
    // one N-bit step. For N <= b the zero points differ by at most 1 (continuous gap < 1 - 2^(N-b), plus
    // three roundings of at most 1/2, 1/2 and 2^(N-b)/2, all < 2, and both are integers). Deriving to
    // more bits than the source (N > b) is allowed but gains no precision.
    let deriveBits (p: QParams) (bits: int) : QParams =
        let mode =
            if p.QMin = -p.QMax then
                Symmetric
            elif p.QMin = -p.QMax - 1 then
                Asymmetric
            else
                invalidArg "p" $"code range [{p.QMin}, {p.QMax}] is neither symmetric nor asymmetric signed"

        let qmin, qmax = codeRange bits mode
        let s = usableScale (Math.ScaleB(p.Scale, p.Bits - bits))
        let z = roundHalfAway (Math.ScaleB(float p.ZeroPoint, bits - p.Bits))
        let z = int (max (float qmin) (min (float qmax) z))

        {
            Scale = s
            ZeroPoint = z
            QMin = qmin
            QMax = qmax
            Bits = bits
        }

    let private meanAbs (values: ArraySegment<float32>) =
        if values.Count = 0 then
            0.0
        else
            let mutable acc = 0.0

            for v in values do
                acc <- acc + abs (float v)

            acc / float values.Count

    let private checkFinite (values: float32[]) =
        for v in values do
            if not (Single.IsFinite v) then
                invalidArg "values" $"ternarization got a non-finite weight {v}"

    let private thresholdOfSegment (threshold: TernaryThreshold) (values: ArraySegment<float32>) =
        match threshold with
        | ThresholdRatio r ->
            if not (r >= 0.0 && Double.IsFinite r) then
                invalidArg "threshold" $"threshold ratio must be finite and >= 0, got {r}"

            r * meanAbs values
        | ThresholdValue v ->
            if not (v >= 0.0 && Double.IsFinite v) then
                invalidArg "threshold" $"threshold value must be finite and >= 0, got {v}"

            v

    let ternaryThresholdOf (threshold: TernaryThreshold) (values: float32[]) : float =
        checkFinite values
        thresholdOfSegment threshold (ArraySegment values)

    let ternarize (threshold: TernaryThreshold) (mode: AlphaMode) (rows: int) (values: float32[]) : Ternarized =
        checkRows rows values.Length
        checkFinite values
        let n = values.Length / rows
        let codes = Array.zeroCreate<sbyte> values.Length

        // Codes of one segment for its delta; returns (sum |w| over t <> 0, count of t <> 0).
        let code (start: int) (len: int) (delta: float) =
            let mutable sum = 0.0
            let mutable count = 0

            for i in start .. start + len - 1 do
                let w = float values[i]

                if w > delta then
                    codes[i] <- 1y
                    sum <- sum + w
                    count <- count + 1
                elif w < -delta then
                    codes[i] <- -1y
                    sum <- sum - w
                    count <- count + 1

            (sum, count)

        let alphaOf (sum: float, count: int) =
            if count = 0 then 0.0 else sum / float count

        match mode with
        | AlphaPerChannel ->
            let deltas =
                Array.init rows (fun r -> thresholdOfSegment threshold (ArraySegment(values, r * n, n)))

            let alphas = Array.init rows (fun r -> alphaOf (code (r * n) n deltas[r]))

            {
                Codes = codes
                Alpha = alphas
                Threshold = deltas
            }
        | AlphaPerLayer ->
            let delta = thresholdOfSegment threshold (ArraySegment values)
            let alpha = alphaOf (code 0 values.Length delta)

            {
                Codes = codes
                Alpha = Array.create rows alpha
                Threshold = Array.create rows delta
            }

    let ternaryValues (t: Ternarized) : float[] =
        let rows = t.Alpha.Length
        let n = if rows = 0 then 0 else t.Codes.Length / rows
        Array.init t.Codes.Length (fun i -> t.Alpha[i / n] * float t.Codes[i])

    let dyadic (m: float) : int * int =
        if not (Double.IsFinite m && m > 0.0) then
            invalidArg "m" $"a requantization multiplier must be finite and > 0, got {m}"

        // 2^30 - 1/4 and above would need S = 0 after rounding M up to 2^31.
        if m >= 1073741823.75 then
            invalidArg "m" $"a requantization multiplier must be below 2^30 - 1/4 (S >= 1), got {m}"

        // m = f * 2^e with f in [1, 2): m * 2^(30 - e) lies in [2^30, 2^31). ILogB and ScaleB are exact.
        let s = 30 - Math.ILogB m

        if s > 62 then
            (int (roundHalfAway (Math.ScaleB(m, 62))), 62)
        else
            let mm = roundHalfAway (Math.ScaleB(m, s))

            if mm >= 2147483648.0 then
                (1 <<< 30, s - 1)
            else
                (int mm, s)

    let requantize (acc: int) (m: int) (s: int) (zOut: int) (lo: int) (hi: int) : int =
        if s < 1 || s > 62 then
            invalidArg "s" $"shift must be in [1, 62], got {s}"

        // |acc * m| <= 2^62 and the rounding term <= 2^61, so int64 cannot overflow.
        let scaled = (int64 acc * int64 m + (1L <<< (s - 1))) >>> s
        let v = scaled + int64 zOut

        if v < int64 lo then lo
        elif v > int64 hi then hi
        else int v

    [<RequireQualifiedAccess>]
    module Gamma =

        let private checkArgs (bits: int) (gamma: float) (eps: float) =
            if bits < 1 || bits > 30 then
                invalidArg "bits" $"gamma-QUANT supports 1..30 bits, got {bits}"

            if not (gamma > 0.0 && Double.IsFinite gamma) then
                invalidArg "gamma" $"gamma must be finite and > 0, got {gamma}"

            if not (eps >= 0.0 && Double.IsFinite eps) then
                invalidArg "eps" $"eps must be finite and >= 0, got {eps}"

        let private levels (bits: int) = float ((1 <<< bits) - 1)

        // The same expression for both quantizers, so that gamma = 1, mu = 0, eps = 0 is bit-identical to linear.
        let private toCode (bits: int) (u: float) = (u + 1.0) / 2.0 * levels bits

        let private clampCode (bits: int) (v: float) =
            if Double.IsNaN v then
                invalidArg "x" "cannot quantize NaN"

            int (max 0.0 (min (levels bits) (roundHalfAway v)))

        let value (bits: int) (gamma: float) (mu: float) (eps: float) (x: float) : float =
            checkArgs bits gamma eps

            let d = x - mu

            if Double.IsNaN d then
                invalidArg "x" $"gamma-QUANT got x - mu = NaN (x = {x}, mu = {mu})"

            let a = abs d + eps
            // pow(a, 1) is a in every libm, but not by any standard; skip it to keep the linear case exact.
            let p = if gamma = 1.0 then a else Math.Pow(a, gamma)
            toCode bits (float (sign d) * p)

        let quantize (bits: int) (gamma: float) (mu: float) (eps: float) (x: float) : int =
            clampCode bits (value bits gamma mu eps x)

        let gradient (bits: int) (gamma: float) (mu: float) (eps: float) (x: float) : float * float * float =
            checkArgs bits gamma eps
            let d = x - mu

            if Double.IsNaN d then
                invalidArg "x" $"gamma-QUANT got x - mu = NaN (x = {x}, mu = {mu})"

            let a = abs d + eps
            let half = levels bits / 2.0
            let dx = half * gamma * Math.Pow(a, gamma - 1.0)

            let dgamma =
                if d = 0.0 then
                    0.0
                else
                    half * float (sign d) * Math.Pow(a, gamma) * Math.Log a

            (dx, dgamma, -dx)

        let linear (bits: int) (x: float) : int =
            checkArgs bits 1.0 0.0
            clampCode bits (toCode bits x)
