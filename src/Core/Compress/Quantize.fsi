namespace Tern.Core

/// How an affine grid is placed around zero.
type QuantMode =

    /// z = 0 and a grid symmetric about 0 (codes -(2^(b-1)-1) .. 2^(b-1)-1); used for int8 weights.
    | Symmetric

    /// Full signed range -2^(b-1) .. 2^(b-1)-1 with a zero point; used for int8 activations.
    | Asymmetric

/// Real value = Scale * (q - ZeroPoint), q in [QMin, QMax].
type QParams = {
    Scale: float
    ZeroPoint: int
    QMin: int
    QMax: int
    Bits: int
}

/// How the ternarization threshold delta is chosen.
type TernaryThreshold =

    /// delta = ratio * mean |w| (TWN uses 0.7).
    | ThresholdRatio of float

    /// delta given directly.
    | ThresholdValue of float

/// Whether ternary scales (and thresholds) are shared by a layer or computed per output channel.
type AlphaMode =
    | AlphaPerLayer
    | AlphaPerChannel

/// Ternary weights: real w = Alpha[row] * Codes[i]. Alpha/Threshold have one entry per row (repeated for per-layer).
type Ternarized = {
    Codes: sbyte[]
    Alpha: float[]
    Threshold: float[]
}

/// Pure quantizers of the project: affine (min-max), ternary (TWN), dyadic multipliers, gamma-QUANT.
///
/// Conventions (the integer contract in arithmetic.md):
/// - quantize x = clamp(roundHalfAway(x / s) + z, QMin, QMax). The zero point is added after rounding
///   (as TFLite does); since z is an integer this equals seed 004's round(x/s + z) except at ties whose
///   sign flips, where rounding half away from zero must see the sign of x itself.
/// - Codes are signed. Seed 004 writes the symmetric case with unsigned codes and z = 128; that is the
///   same kind of grid shifted by 128 (q_unsigned = q + 128). We use the restricted range
///   [-(2^(b-1)-1), 2^(b-1)-1] so the grid is exactly symmetric and z = 0, as the contract wants for weights.
[<RequireQualifiedAccess>]
module Quantize =

    /// The default TWN threshold: delta = 0.7 * mean |w|.
    /// Public for the tests only.
    val defaultThreshold: TernaryThreshold

    /// Rounds half away from zero (0.5 -> 1, -0.5 -> -1, 2.5 -> 3), never banker's rounding.
    val roundHalfAway: x: float -> float

    /// Min-max observer: (min, max) of the values, (0, 0) for none; non-finite values are rejected.
    val minMax: values: float32 seq -> float * float

    /// Affine parameters for [xmin, xmax] at the given bits and mode (see the module comment for the grids).
    val affine: bits: int -> mode: QuantMode -> xmin: float -> xmax: float -> QParams

    /// Per-row (output channel) affine parameters of row-major values, each from its row's min-max.
    val perChannel: bits: int -> mode: QuantMode -> rows: int -> values: float32[] -> QParams[]

    /// clamp(roundHalfAway(x / s) + z, QMin, QMax); NaN is rejected.
    val quantize: p: QParams -> x: float -> int

    /// s * (q - z).
    /// Public for the tests only.
    val dequantize: p: QParams -> q: int -> float

    /// Parameters for the same data at `bits` derived from parameters at p.Bits (seed 004 eqs. 3.14/3.15):
    /// s_N = s_b * 2^(b-N), z_N = roundHalfAway(z_b * 2^(N-b)), same mode (read from QMin = -QMax or not).
    /// Public for the tests only.
    val deriveBits: p: QParams -> bits: int -> QParams

    /// The ternary threshold delta of these weights: ratio * mean |w|, or the given value.
    /// Public for the tests only.
    val ternaryThresholdOf: threshold: TernaryThreshold -> values: float32[] -> float

    /// TWN ternarization: t = +1 if w > delta, -1 if w < -delta, else 0; alpha = mean |w| over t <> 0 (0 if none).
    /// For a fixed pattern T that alpha is the exact minimiser of ||W - alpha T||^2 = sum w^2 - 2 alpha sum |w| + alpha^2 |T|.
    val ternarize: threshold: TernaryThreshold -> mode: AlphaMode -> rows: int -> values: float32[] -> Ternarized

    /// The real weights alpha[row] * t of a ternarization, row-major.
    val ternaryValues: t: Ternarized -> float[]

    /// Dyadic form (M, S) of a real multiplier m ~= M / 2^S, M in [2^30, 2^31), S in [1, 62] (arithmetic.md).
    /// Relative error at most 2^-31. A multiplier below 2^-32 cannot reach M >= 2^30 with S <= 62: then S = 62
    /// and M = roundHalfAway(m * 2^62), possibly below 2^30 or 0 (Requantize.ValidateMultiplier allows it).
    val dyadic: m: float -> int * int

    /// clamp(((int64 acc * m + 2^(s-1)) >>> s) + zOut, lo, hi): the contract's single-rounding requantization.
    /// Public for the tests only.
    val requantize: acc: int -> m: int -> s: int -> zOut: int -> lo: int -> hi: int -> int

    /// gamma-QUANT (seed 002, eq. 7), a learnable non-linear N-bit ADC for data normalised to [-1, 1]:
    /// Q(x) = roundHalfAway((sign(x - mu) * (|x - mu| + eps)^gamma + 1) / 2 * (2^N - 1)), clamped to [0, 2^N - 1].
    ///
    /// eps (seed: 1e-3) keeps the slope finite at x = mu for gamma < 1. With eps > 0 the curve jumps by
    /// eps^gamma at x = mu (still non-decreasing in x); at x = mu itself sign(0) = 0, so the value is exactly
    /// the midpoint (2^N - 1) / 2. With eps = 0, gamma = 1 and mu = 0 it is the linear quantizer exactly.
    [<RequireQualifiedAccess>]
    module Gamma =

        /// The continuous quantizer before rounding: (sign(x-mu) * (|x-mu| + eps)^gamma + 1) / 2 * (2^N - 1).
        val value: bits: int -> gamma: float -> mu: float -> eps: float -> x: float -> float

        /// The N-bit code: roundHalfAway(value) clamped to [0, 2^N - 1].
        val quantize: bits: int -> gamma: float -> mu: float -> eps: float -> x: float -> int

        /// (d value/dx, d value/dgamma, d value/dmu); the straight-through estimator passes the rounding.
        /// At x = mu: the slope both pieces share there (infinite if eps = 0 and gamma < 1) and dgamma = 0.
        val gradient: bits: int -> gamma: float -> mu: float -> eps: float -> x: float -> float * float * float

        /// The seed's linear N-bit baseline on [-1, 1]: roundHalfAway((x + 1) / 2 * (2^N - 1)) clamped.
        val linear: bits: int -> x: float -> int
