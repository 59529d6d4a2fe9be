module Tern.Tests.QuantizeTests

open System
open System.Numerics
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// Generators for this file only.
module private G =

    /// Uniform double in [lo, hi] with 53 bits of randomness.
    let floatIn (lo: float) (hi: float) : Gen<float> =
        Gen.choose64 (0L, 1L <<< 53)
        |> Gen.map (fun k -> lo + (hi - lo) * (float k / 9007199254740992.0))

    let bits: Gen<int> = Gen.choose (2, 16)
    let mode: Gen<QuantMode> = Gen.elements [ Symmetric; Asymmetric ]
    let magnitude: Gen<float> = Gen.elements [ 1e-6; 1e-3; 0.1; 1.0; 6.0; 100.0; 1e5 ]

    /// Calibration ranges: straddling zero, one-sided, a single point, all zeros.
    let range: Gen<float * float> =
        gen {
            let! m = magnitude
            let! a = floatIn 0.0 m
            let! b = floatIn 0.0 m

            return!
                Gen.frequency [
                    6, Gen.constant (-a, b)
                    2, Gen.constant (min a b, max a b)
                    2, Gen.constant (-(max a b), -(min a b))
                    1, Gen.constant (a, a)
                    1, Gen.constant (0.0, 0.0)
                ]
        }

    /// Parameters from a random calibration range.
    let qparams: Gen<QParams * float * float> =
        gen {
            let! b = bits
            let! md = mode
            let! lo, hi = range
            return (Quantize.affine b md lo hi, lo, hi)
        }

    /// Points of interest for p: uniform in [lo, hi], endpoints, 0, exact rounding ties of the grid.
    let pointIn (p: QParams) (lo: float) (hi: float) : Gen<float> =
        Gen.frequency [
            6, floatIn lo hi
            1, Gen.elements [ lo; hi; 0.0 ]
            2,
            Gen.choose (p.QMin, p.QMax - 1)
            |> Gen.map (fun q -> p.Scale * (float (q - p.ZeroPoint) + 0.5))
            |> Gen.map (fun x -> max lo (min hi x))
        ]

    /// Anything, including far outside the grid.
    let anyPoint (p: QParams) (lo: float) (hi: float) : Gen<float> =
        let span = max (hi - lo) p.Scale

        Gen.frequency [
            3, pointIn p lo hi
            3, floatIn (lo - 3.0 * span) (hi + 3.0 * span)
            1, Gen.elements [ -1e300; 1e300; Double.NegativeInfinity; Double.PositiveInfinity ]
        ]

    /// Weights: roughly bell-shaped rows with exact zeros sprinkled in.
    let weights (rows: int) (cols: int) : Gen<float32[]> =
        gen {
            let! m = magnitude

            let one =
                Gen.frequency [
                    8,
                    Gen.map3
                        (fun a b c -> float32 ((a + b + c - 1.5) * m))
                        (floatIn 0.0 1.0)
                        (floatIn 0.0 1.0)
                        (floatIn 0.0 1.0)
                    1, Gen.constant 0.0f
                ]

            return! Gen.arrayOfLength (rows * cols) one
        }

    let shape: Gen<int * int> =
        Gen.map2 (fun r c -> (r, c)) (Gen.choose (1, 8)) (Gen.choose (1, 40))

    /// Thresholds: the TWN default, other ratios, or a value equal to some |w| (exact ties).
    let threshold (values: float32[]) : Gen<TernaryThreshold> =
        Gen.frequency [
            3, Gen.constant Quantize.defaultThreshold
            2, floatIn 0.0 2.0 |> Gen.map ThresholdRatio
            2,
            Gen.elements (Array.toList values)
            |> Gen.map (fun w -> ThresholdValue(abs (float w)))
        ]

    /// A ternarization case: rows, cols, weights, threshold, alpha mode.
    let ternaryCase: Gen<int * int * float32[] * TernaryThreshold * AlphaMode> =
        gen {
            let! rows, cols = shape
            let! w = weights rows cols
            let! t = threshold w
            let! md = Gen.elements [ AlphaPerLayer; AlphaPerChannel ]
            return (rows, cols, w, t, md)
        }

    /// gamma-QUANT parameters: bits, gamma, mu, eps.
    let gammaParams: Gen<int * float * float * float> =
        gen {
            let! b = Gen.choose (1, 12)
            let! g = Gen.frequency [ 1, Gen.constant 1.0; 4, floatIn 0.1 4.0 ]
            let! mu = Gen.frequency [ 1, Gen.constant 0.0; 3, floatIn -0.5 0.5 ]

            let! eps =
                Gen.frequency [ 2, Gen.constant 0.0; 2, Gen.constant 1e-3; 1, floatIn 0.0 0.1 ]

            return (b, g, mu, eps)
        }

    /// Real multipliers: log-uniform over 1e-9 .. 1e3, plus powers of two and values that round M up.
    let multiplier: Gen<float> =
        Gen.frequency [
            6, floatIn -9.0 3.0 |> Gen.map (fun e -> Math.Pow(10.0, e))
            1, Gen.choose (-29, 9) |> Gen.map (fun e -> Math.ScaleB(1.0, e))
            1,
            Gen.choose (-29, 9)
            |> Gen.map (fun e -> Math.ScaleB(2.0 - Math.ScaleB(1.0, -40), e))
            1,
            Gen.choose (-29, 9)
            |> Gen.map (fun e -> Math.ScaleB(1.0 + Math.ScaleB(1.0, -31), e))
        ]

    let int32Full: Gen<int> =
        Gen.choose64 (int64 Int32.MinValue, int64 Int32.MaxValue) |> Gen.map int

    let acc: Gen<int> =
        Gen.frequency [
            4, int32Full
            3, Gen.choose (-100000, 100000)
            2, Gen.elements [ Int32.MinValue; Int32.MinValue + 1; Int32.MaxValue; -1; 0; 1 ]
        ]

    /// A valid (M, S): M in [2^30, 2^31) with any S, or a small M with S = 62.
    let dyadicPair: Gen<int * int> =
        Gen.frequency [
            4, Gen.map2 (fun m s -> (m, s)) (Gen.choose (1 <<< 30, Int32.MaxValue)) (Gen.choose (1, 62))
            2, Gen.map2 (fun m s -> (m, s)) (Gen.elements [ 1 <<< 30; Int32.MaxValue ]) (Gen.choose (1, 62))
            1, Gen.choose (0, (1 <<< 30) - 1) |> Gen.map (fun m -> (m, 62))
        ]

    /// (acc, (M, S)) with acc * M = 2^(S-1) mod 2^S: an exact rounding tie. With M = o * 2^j (o odd) this
    /// needs acc = 2^(S-1-j) * o^-1 mod 2^(S-j); the inverse of odd o mod 2^n is o^(2^(n-1) - 1).
    let tie: Gen<int * (int * int)> =
        gen {
            let! j = Gen.choose (0, 30)
            let! s = Gen.choose (j + 1, min 62 (j + 31))

            let! o =
                Gen.choose ((1 <<< (30 - j)) / 2, (1 <<< (31 - j)) / 2 - 1)
                |> Gen.map (fun k -> 2 * k + 1)

            let o = if j = 30 then 1 else o
            let n = s - j
            let modulus = BigInteger.Pow(BigInteger 2, n)

            let inv =
                BigInteger.ModPow(BigInteger o, BigInteger.Pow(BigInteger 2, max 0 (n - 1)) - BigInteger.One, modulus)

            let acc0 =
                int64 (BigInteger.Remainder(BigInteger.Pow(BigInteger 2, n - 1) * inv, modulus))

            let p = 1L <<< n
            let! t = Gen.choose64 (-(2147483648L / p), (2147483647L - acc0) / p)
            return (int (acc0 + t * p), (o <<< j, s))
        }

    /// Output zero point and clamp bounds: int8 activations, a random sub-range, or unclamped.
    let outRange: Gen<int * int * int> =
        gen {
            let! z = Gen.choose (-128, 127)

            return!
                Gen.frequency [
                    3, Gen.constant (z, -128, 127)
                    1, Gen.map2 (fun a b -> (z, min a b, max a b)) (Gen.choose (-128, 127)) (Gen.choose (-128, 127))
                    3, Gen.constant (z, Int32.MinValue, Int32.MaxValue)
                ]
        }

// ---------- helpers ----------

let private expectedRange (bits: int) (mode: QuantMode) =
    let half = 1 <<< (bits - 1)

    match mode with
    | Symmetric -> (-(half - 1), half - 1)
    | Asymmetric -> (-half, half - 1)

let private modeOf (p: QParams) =
    if p.QMin = -p.QMax then Symmetric else Asymmetric

/// Float slack for grid arithmetic at this scale.
let private slack (p: QParams) (x: float) =
    1e-12 * (abs x + p.Scale * float (p.QMax - p.QMin))

/// Exact value of a finite double as numerator / 2^k (k >= 0).
let private exactDouble (x: float) : BigInteger * int =
    let bits = BitConverter.DoubleToInt64Bits x
    let negative = bits < 0L
    let expField = int ((bits >>> 52) &&& 0x7FFL)
    let frac = bits &&& 0xFFFFFFFFFFFFFL

    let mant, e =
        if expField = 0 then
            (frac, -1074)
        else
            (frac ||| (1L <<< 52), expField - 1075)

    let n = BigInteger mant
    let n, k = if e >= 0 then (n <<< e, 0) else (n, -e)
    ((if negative then -n else n), k)

/// floor(a / 2^s) on exact integers, independent of BigInteger's shift semantics.
let private floorDivPow2 (a: BigInteger) (s: int) : BigInteger =
    let d = BigInteger.Pow(BigInteger 2, s)
    let q = BigInteger.Divide(a, d)

    if a.Sign < 0 && not (BigInteger.Remainder(a, d)).IsZero then
        q - BigInteger.One
    else
        q

/// The contract's requantization on exact integers.
let private requantizeExact (acc: int) (m: int) (s: int) (z: int) (lo: int) (hi: int) : int =
    let v =
        floorDivPow2 (BigInteger acc * BigInteger m + BigInteger.Pow(BigInteger 2, s - 1)) s
        + BigInteger z

    if v < BigInteger lo then lo
    elif v > BigInteger hi then hi
    else int v

// ---------- roundHalfAway ----------

let private ``roundHalfAway rounds ties away from zero`` (x: float, expected: float) =
    Expect.equal (Quantize.roundHalfAway x) expected $"roundHalfAway %.17g{x}"

let private ``roundHalfAway differs from banker's rounding on even ties`` () =
    Expect.equal (Math.Round 2.5) 2.0 "the default this module must avoid"
    Expect.equal (Quantize.roundHalfAway 2.5) 3.0 "roundHalfAway 2.5"
    Expect.equal (Quantize.roundHalfAway -4.5) -5.0 "roundHalfAway -4.5"

let private ``roundHalfAway is the nearest integer, odd-symmetric, ties outward`` () =
    let x =
        Gen.frequency [
            3, G.floatIn -1e6 1e6
            2, Gen.choose (-1000, 1000) |> Gen.map (fun k -> float k + 0.5)
        ]

    Prop.forAll (Arb.fromGen x) (fun x ->
        let r = Quantize.roundHalfAway x
        let tie = abs (x - Math.Floor x) = 0.5

        (r = Math.Floor r
         && abs (r - x) <= 0.5
         && Quantize.roundHalfAway -x = -r
         && (not tie || abs r > abs x))
        |> Prop.classify tie "tie")

// ---------- affine ----------

let private ``minMax is the observed range, (0, 0) when empty, and rejects non-finite`` () =
    Expect.equal (Quantize.minMax [ 3.0f; -1.5f; 2.0f ]) (-1.5, 3.0) "the observed range"
    Expect.equal (Quantize.minMax Seq.empty) (0.0, 0.0) "the range of nothing"

    Expect.throwsT<ArgumentException> (fun () -> Quantize.minMax [ 1.0f; Single.NaN ] |> ignore) "minMax of a NaN"

    Expect.throwsT<ArgumentException>
        (fun () -> Quantize.minMax [ Single.PositiveInfinity ] |> ignore)
        "minMax of an infinity"

let private ``affine has the contract's code range, a positive scale and an in-range zero point`` () =
    Prop.forAll (Arb.fromGen G.qparams) (fun (p, lo, hi) ->
        let md = modeOf p
        let qmin, qmax = expectedRange p.Bits md

        (p.QMin = qmin
         && p.QMax = qmax
         && p.Scale > 0.0
         && Double.IsFinite p.Scale
         && p.ZeroPoint >= p.QMin
         && p.ZeroPoint <= p.QMax
         && (md = Asymmetric || p.ZeroPoint = 0))
        |> Prop.classify (p.ZeroPoint = p.QMin && md = Asymmetric) "zero point at QMin"
        |> Prop.classify (p.ZeroPoint = p.QMax && md = Asymmetric) "zero point at QMax"
        |> Prop.classify (lo = 0.0 && hi = 0.0) "degenerate range")

let private ``affine of an all-zero range uses a usable scale`` () =
    for md in [ Symmetric; Asymmetric ] do
        let p = Quantize.affine 8 md 0.0 0.0
        Expect.equal p.Scale 1.0 $"{md}: the scale of an all-zero range"
        Expect.equal (Quantize.quantize p 0.0) p.ZeroPoint $"{md}: 0.0 quantizes to the zero point"

    Expect.throwsT<ArgumentException>
        (fun () -> Quantize.affine 8 Asymmetric 1.0 -1.0 |> ignore)
        "affine of a reversed range"

    Expect.throwsT<ArgumentException>
        (fun () -> Quantize.affine 1 Symmetric -1.0 1.0 |> ignore)
        "affine of 1 bit, symmetric"

    Expect.throwsT<ArgumentException>
        (fun () -> Quantize.affine 8 Symmetric Double.NaN 1.0 |> ignore)
        "affine of a NaN bound"

let private ``affine int8 examples`` () =
    // Asymmetric [-1, 3]: s = 4/255, z = -128 - round(-63.75) = -64.
    let a = Quantize.affine 8 Asymmetric -1.0 3.0
    Expect.equal a.Scale (4.0 / 255.0) "asymmetric scale"
    Expect.equal a.ZeroPoint -64 "asymmetric zero point"
    // Symmetric weights in [-0.5, 1.27]: s = 1.27/127, codes [-127, 127].
    let s = Quantize.affine 8 Symmetric -0.5 1.27
    Expect.equal (s.QMin, s.QMax, s.ZeroPoint) (-127, 127, 0) "symmetric codes and zero point"
    Expect.equal (Quantize.quantize s 1.27) 127 "the top of the range"
    Expect.equal (Quantize.quantize s -1.27) -127 "the mirror of the top"

let private ``affine round trip is within half a step inside the calibrated range`` () =
    let case =
        gen {
            let! p, lo, hi = G.qparams
            let! x = G.pointIn p lo hi
            return (p, x)
        }

    Prop.forAll (Arb.fromGen case) (fun (p, x) ->
        let q = Quantize.quantize p x
        let err = abs (Quantize.dequantize p q - x)

        (q >= p.QMin && q <= p.QMax && err <= p.Scale / 2.0 + slack p x)
        |> Prop.label $"q = {q}, error {err}, s = {p.Scale}"
        |> Prop.classify (q = p.QMin || q = p.QMax) "at a grid edge"
        |> Prop.classify (abs (err - p.Scale / 2.0) <= slack p x) "rounding tie")

let private ``affine clamps to the grid edges outside it`` () =
    let case =
        gen {
            let! p, lo, hi = G.qparams
            let! x = G.anyPoint p lo hi
            return (p, x)
        }

    Prop.forAll (Arb.fromGen case) (fun (p, x) ->
        let q = Quantize.quantize p x
        let top = Quantize.dequantize p p.QMax
        let bottom = Quantize.dequantize p p.QMin
        let nearest = max bottom (min top x)

        (q >= p.QMin
         && q <= p.QMax
         && (x < top || q = p.QMax)
         && (x > bottom || q = p.QMin)
         && abs (Quantize.dequantize p q - nearest) <= p.Scale / 2.0 + slack p nearest)
        |> Prop.classify (x > top) "above the grid"
        |> Prop.classify (x < bottom) "below the grid")

let private ``affine quantize is monotone`` () =
    let case =
        gen {
            let! p, lo, hi = G.qparams
            let! a = G.anyPoint p lo hi
            let! b = G.anyPoint p lo hi
            return (p, min a b, max a b)
        }

    Prop.forAll (Arb.fromGen case) (fun (p, a, b) ->
        let qa = Quantize.quantize p a
        let qb = Quantize.quantize p b
        qa <= qb |> Prop.classify (qa = qb) "same code")

let private ``affine represents 0.0 exactly`` () =
    Prop.forAll (Arb.fromGen G.qparams) (fun (p, _, _) ->
        let q = Quantize.quantize p 0.0
        q = p.ZeroPoint && Quantize.dequantize p q = 0.0)

let private ``perChannel equals affine applied row by row`` () =
    let case =
        gen {
            let! rows, cols = G.shape
            let! w = G.weights rows cols
            let! b = G.bits
            let! md = G.mode
            return (rows, cols, w, b, md)
        }

    Prop.forAll (Arb.fromGen case) (fun (rows, cols, w, b, md) ->
        let ps = Quantize.perChannel b md rows w

        ps.Length = rows
        && Array.forall
            id
            (Array.init rows (fun r ->
                let row = w[r * cols .. r * cols + cols - 1]
                let lo, hi = Quantize.minMax row
                ps[r] = Quantize.affine b md lo hi)))

// ---------- deriveBits ----------

/// s_derived / s_direct when both come from the same range: 2^(b-N) * spanN / spanB.
let private expectedRatio (md: QuantMode) (fromBits: int) (toBits: int) =
    let span bits =
        let qmin, qmax = expectedRange bits md

        float (
            match md with
            | Symmetric -> qmax
            | Asymmetric -> qmax - qmin
        )

    Math.ScaleB(span toBits / span fromBits, fromBits - toBits)

let private ``deriveBits agrees with a direct min-max at the lower bit width`` () =
    let case =
        gen {
            let! rows, cols = G.shape
            let! w = G.weights rows cols
            let! fromBits = Gen.frequency [ 3, Gen.constant 8; 1, Gen.choose (3, 16) ]
            let! toBits = Gen.choose (2, fromBits)
            let! md = G.mode
            return (w, fromBits, toBits, md)
        }

    Prop.forAll (Arb.fromGen case) (fun (w, fromBits, toBits, md) ->
        let lo, hi = Quantize.minMax w
        let derived = Quantize.deriveBits (Quantize.affine fromBits md lo hi) toBits
        let direct = Quantize.affine toBits md lo hi
        let degenerate = lo = 0.0 && hi = 0.0
        let ratio = derived.Scale / direct.Scale
        let expected = expectedRatio md fromBits toBits

        let bound =
            if md = Asymmetric then
                1.0 - Math.ScaleB(1.0, -toBits)
            else
                1.0 - Math.ScaleB(1.0, 1 - toBits)

        ((derived.QMin, derived.QMax) = (direct.QMin, direct.QMax)
         && derived.Bits = toBits
         && abs (derived.ZeroPoint - direct.ZeroPoint) <= 1
         && (degenerate
             || (abs (ratio - expected) <= 1e-12
                 && ratio >= bound - 1e-12
                 && ratio <= 1.0 + 1e-12)))
        |> Prop.label $"z {derived.ZeroPoint} vs {direct.ZeroPoint}, ratio {ratio} (expected {expected})"
        |> Prop.classify (derived.ZeroPoint <> direct.ZeroPoint) "zero points differ by one"
        |> Prop.classify (toBits = fromBits) "same width")

let private ``deriveBits to the same width is the identity`` () =
    Prop.forAll (Arb.fromGen G.qparams) (fun (p, _, _) -> Quantize.deriveBits p p.Bits = p)

let private ``deriveBits widens the step for fewer bits`` () =
    let p8 = Quantize.affine 8 Asymmetric -1.0 3.0 // s = 4/255, z = -64
    let p4 = Quantize.deriveBits p8 4
    Expect.equal p4.Scale (4.0 / 255.0 * 16.0) "4-bit scale"
    Expect.equal p4.ZeroPoint -4 "4-bit zero point"
    Expect.equal (p4.QMin, p4.QMax, p4.Bits) (-8, 7, 4) "4-bit codes"

// ---------- ternary ----------

let private ``ternarize codes follow the threshold rule`` () =
    Prop.forAll (Arb.fromGen G.ternaryCase) (fun (rows, cols, w, th, md) ->
        let t = Quantize.ternarize th md rows w

        let mutable ok =
            t.Codes.Length = w.Length && t.Alpha.Length = rows && t.Threshold.Length = rows

        let mutable ties = false

        for i in 0 .. w.Length - 1 do
            let delta = t.Threshold[i / cols]
            let c = t.Codes[i]
            let v = float w[i]

            if abs v = delta then
                ties <- true

            ok <-
                ok
                && (c = 0y || c = 1y || c = -1y)
                && ((abs v > delta) = (c <> 0y))
                && (c = 0y || sign c = sign v)

        ok |> Prop.classify ties "a weight exactly at the threshold" |> Prop.collect md)

/// ||W - alpha T||^2 over a segment.
let private sqError (w: float32[]) (codes: sbyte[]) (start: int) (len: int) (alpha: float) =
    let mutable acc = 0.0

    for i in start .. start + len - 1 do
        let d = float w[i] - alpha * float codes[i]
        acc <- acc + d * d

    acc

let private ``ternarize alpha minimises the error for its pattern`` () =
    Prop.forAll (Arb.fromGen G.ternaryCase) (fun (rows, cols, w, th, md) ->
        let t = Quantize.ternarize th md rows w

        let segments =
            match md with
            | AlphaPerChannel -> [ for r in 0 .. rows - 1 -> (r * cols, cols, t.Alpha[r]) ]
            | AlphaPerLayer -> [ (0, w.Length, t.Alpha[0]) ]

        let ok =
            segments
            |> List.forall (fun (start, len, alpha) ->
                // Closed form: alpha = sum w t / sum t^2 (0 for an empty pattern).
                let mutable wt = 0.0
                let mutable tt = 0.0

                for i in start .. start + len - 1 do
                    wt <- wt + float w[i] * float t.Codes[i]
                    tt <- tt + float t.Codes[i] * float t.Codes[i]

                let closed = if tt = 0.0 then 0.0 else wt / tt
                let e0 = sqError w t.Codes start len alpha
                let h = 1e-3 * max alpha 1e-9
                let tol = 1e-12 * (e0 + 1e-30)

                abs (alpha - closed) <= 1e-12 * closed
                && alpha >= 0.0
                && e0 <= sqError w t.Codes start len (alpha + h) + tol
                && e0 <= sqError w t.Codes start len (alpha - h) + tol)

        let empty = t.Codes |> Array.forall (fun c -> c = 0y)
        ok |> Prop.classify empty "empty pattern" |> Prop.collect md)

let private ``ternarize default threshold is 0.7 times mean absolute weight`` () =
    let case =
        gen {
            let! rows, cols = G.shape
            let! w = G.weights rows cols
            return (rows, cols, w)
        }

    Prop.forAll (Arb.fromGen case) (fun (rows, cols, w) ->
        let meanAbs (xs: float32[]) =
            xs |> Array.averageBy (fun x -> abs (float x))

        let close a b = abs (a - b) <= 1e-12 * (abs b + 1e-300)
        let layer = Quantize.ternarize Quantize.defaultThreshold AlphaPerLayer rows w
        let channel = Quantize.ternarize Quantize.defaultThreshold AlphaPerChannel rows w

        Quantize.defaultThreshold = ThresholdRatio 0.7
        && close (Quantize.ternaryThresholdOf Quantize.defaultThreshold w) (0.7 * meanAbs w)
        && layer.Threshold |> Array.forall (fun d -> close d (0.7 * meanAbs w))
        && Array.forall
            id
            (Array.init rows (fun r -> close channel.Threshold[r] (0.7 * meanAbs w[r * cols .. r * cols + cols - 1]))))

let private ``ternarize per channel is per row, per layer is the whole layer`` () =
    Prop.forAll (Arb.fromGen G.ternaryCase) (fun (rows, cols, w, th, _) ->
        let channel = Quantize.ternarize th AlphaPerChannel rows w
        let layer = Quantize.ternarize th AlphaPerLayer rows w
        let whole = Quantize.ternarize th AlphaPerLayer 1 w

        let rowsAgree =
            Array.init rows (fun r ->
                let one = Quantize.ternarize th AlphaPerChannel 1 w[r * cols .. r * cols + cols - 1]

                one.Codes = channel.Codes[r * cols .. r * cols + cols - 1]
                && one.Alpha[0] = channel.Alpha[r]
                && one.Threshold[0] = channel.Threshold[r])
            |> Array.forall id

        let layerAgrees =
            layer.Codes = whole.Codes
            && layer.Alpha |> Array.forall ((=) whole.Alpha[0])
            && layer.Threshold |> Array.forall ((=) whole.Threshold[0])

        let values = Quantize.ternaryValues channel

        let valuesAgree =
            Array.forall
                id
                (Array.init w.Length (fun i -> values[i] = channel.Alpha[i / cols] * float channel.Codes[i]))

        (rowsAgree && layerAgrees && valuesAgree)
        |> Prop.classify (channel.Codes <> layer.Codes) "modes give different codes")

let private ``ternarize examples and empty patterns`` () =
    let w = [| 0.9f; -0.1f; -0.8f; 0.05f; 0.0f; 0.0f; 0.0f; 0.0f |]
    let t = Quantize.ternarize (ThresholdValue 0.5) AlphaPerChannel 2 w
    Expect.equal t.Codes [| 1y; 0y; -1y; 0y; 0y; 0y; 0y; 0y |] "codes at threshold 0.5"

    Expect.floatClose
        { absolute = 1e-15; relative = 0.0 }
        t.Alpha[0]
        (Math.Abs(float 0.9f + float 0.8f) / 2.0)
        "alpha of row 0"

    Expect.equal t.Alpha[1] 0.0 "an all-zero row has an empty pattern and alpha 0"
    // A threshold above every weight empties the pattern too.
    let big = Quantize.ternarize (ThresholdValue 10.0) AlphaPerLayer 2 w
    Expect.equal big.Alpha [| 0.0; 0.0 |] "a threshold above every weight: alpha 0"

    Expect.throwsT<ArgumentException>
        (fun () -> Quantize.ternarize (ThresholdRatio -1.0) AlphaPerLayer 1 w |> ignore)
        "a negative threshold ratio"

    Expect.throwsT<ArgumentException>
        (fun () -> Quantize.ternarize Quantize.defaultThreshold AlphaPerLayer 3 w |> ignore)
        "8 weights in 3 rows"

// ---------- gamma-QUANT ----------

let private ``gamma codes lie in 0 .. 2^N - 1`` () =
    let case =
        Gen.zip G.gammaParams (Gen.frequency [ 4, G.floatIn -1.5 1.5; 1, Gen.elements [ -1e9; 1e9; -1.0; 1.0 ] ])

    Prop.forAll (Arb.fromGen case) (fun ((b, g, mu, eps), x) ->
        let q = Quantize.Gamma.quantize b g mu eps x
        let top = (1 <<< b) - 1

        (q >= 0 && q <= top)
        |> Prop.classify (q = 0) "code 0"
        |> Prop.classify (q = top) "top code")

let private ``gamma with gamma = 1, mu = 0, eps = 0 is the linear quantizer exactly`` () =
    let case =
        gen {
            let! b = Gen.choose (1, 16)
            let levels = float ((1 <<< b) - 1)

            let! x =
                Gen.frequency [
                    4, G.floatIn -1.2 1.2
                    // Points whose code is an exact tie: (x + 1) / 2 * L = k + 1/2.
                    2,
                    Gen.choose (0, (1 <<< b) - 2)
                    |> Gen.map (fun k -> (float k + 0.5) / levels * 2.0 - 1.0)
                    1, Gen.elements [ -1.0; 0.0; -0.0; 1.0 ]
                ]

            return (b, x)
        }

    Prop.forAll (Arb.fromGen case) (fun (b, x) ->
        let v = Quantize.Gamma.value b 1.0 0.0 0.0 x
        let frac = v - Math.Floor v

        (Quantize.Gamma.quantize b 1.0 0.0 0.0 x = Quantize.Gamma.linear b x
         && v = (x + 1.0) / 2.0 * float ((1 <<< b) - 1))
        |> Prop.classify (frac = 0.5) "tie")

let private ``gamma is monotone in x`` () =
    let case =
        gen {
            let! ((_, _, mu, _) as ps) = G.gammaParams
            let point = Gen.frequency [ 5, G.floatIn -1.5 1.5; 1, Gen.constant mu ]
            let! a = point
            let! b = point
            return (ps, min a b, max a b)
        }

    Prop.forAll (Arb.fromGen case) (fun ((b, g, mu, eps), x1, x2) ->
        (Quantize.Gamma.value b g mu eps x1 <= Quantize.Gamma.value b g mu eps x2
         && Quantize.Gamma.quantize b g mu eps x1 <= Quantize.Gamma.quantize b g mu eps x2)
        |> Prop.classify (x1 < mu && mu < x2) "across mu"
        |> Prop.classify (x1 = mu || x2 = mu) "at mu")

let private ``gamma gradient matches central differences away from mu`` () =
    let case =
        gen {
            let! ((_, _, mu, _) as ps) = G.gammaParams
            let! side = Gen.elements [ -1.0; 1.0 ]
            let! dist = G.floatIn 0.01 1.0
            return (ps, mu + side * dist)
        }

    Prop.forAll (Arb.fromGen case) (fun ((b, g, mu, eps), x) ->
        let f x g mu = Quantize.Gamma.value b g mu eps x
        let h = 1e-6
        let fdx = (f (x + h) g mu - f (x - h) g mu) / (2.0 * h)
        let fdg = (f x (g + h) mu - f x (g - h) mu) / (2.0 * h)
        let fdmu = (f x g (mu + h) - f x g (mu - h)) / (2.0 * h)
        let dx, dg, dmu = Quantize.Gamma.gradient b g mu eps x

        let close a e =
            abs (a - e) <= 1e-5 * (abs e + float (1 <<< b))

        (close dx fdx && close dg fdg && close dmu fdmu)
        |> Prop.label $"analytic ({dx}, {dg}, {dmu}) vs numeric ({fdx}, {fdg}, {fdmu})")

let private ``gamma at x = mu is the midpoint, with a jump when eps > 0`` () =
    let b, g, mu, eps = 4, 0.5, 0.2, 1e-3
    let mid = 15.0 / 2.0
    Expect.equal (Quantize.Gamma.value b g mu eps mu) mid "the value at mu"
    let left = Quantize.Gamma.value b g mu eps (mu - 1e-12)
    let right = Quantize.Gamma.value b g mu eps (mu + 1e-12)
    Expect.isTrue (left < mid && mid < right) "mu lies in the jump"
    // The jump is eps^gamma in the normalised domain, times (2^N - 1) / 2 in codes.
    Expect.floatClose { absolute = 1e-6; relative = 0.0 } (right - left) (Math.Pow(eps, g) * 15.0) "the jump"
    // eps = 0 closes the gap.
    Expect.equal (Quantize.Gamma.value b g mu 0.0 mu) mid "eps = 0: the value at mu"
    Expect.equal (Quantize.Gamma.linear 2 -1.0) 0 "linear of -1"
    Expect.equal (Quantize.Gamma.linear 2 1.0) 3 "linear of 1"
    Expect.equal (Quantize.Gamma.linear 2 0.0) 2 "1.5 rounds away from zero"

// ---------- dyadic and requantize ----------

let private ``dyadic M and S are in range with relative error at most 2^-31 (exact)`` () =
    Prop.forAll (Arb.fromGen G.multiplier) (fun m ->
        let mm, s = Quantize.dyadic m
        let n, k = exactDouble m
        // |M/2^S - n/2^k| <= 2^-31 * n/2^k  <=>  |M 2^k - n 2^S| * 2^31 <= n 2^S
        let lhs =
            BigInteger.Abs(
                BigInteger mm * BigInteger.Pow(BigInteger 2, k)
                - n * BigInteger.Pow(BigInteger 2, s)
            )

        let rhs = n * BigInteger.Pow(BigInteger 2, s)

        (mm >= (1 <<< 30)
         && s >= 1
         && s <= 62
         && lhs * BigInteger.Pow(BigInteger 2, 31) <= rhs)
        |> Prop.label $"m = {m:R} -> ({mm}, {s})"
        |> Prop.classify (mm = (1 <<< 30)) "M = 2^30"
        |> Prop.classify (lhs.IsZero) "exact")

let private ``dyadic edge cases`` () =
    Expect.equal (Quantize.dyadic 1.0) (1 <<< 30, 30) "dyadic 1"
    Expect.equal (Quantize.dyadic 0.5) (1 <<< 30, 31) "dyadic 0.5"
    // Rounds up to 2^31: halve M, decrement S.
    Expect.equal (Quantize.dyadic (2.0 - Math.ScaleB(1.0, -40))) (1 <<< 30, 29) "dyadic just below 2"
    Expect.equal (Quantize.dyadic (Math.ScaleB(1.0, -32))) (1 <<< 30, 62) "dyadic 2^-32"
    // Below 2^-32: S is capped at 62 and M falls below 2^30, even to 0.
    Expect.equal (Quantize.dyadic (Math.ScaleB(1.0, -40))) (1 <<< 22, 62) "dyadic 2^-40"
    Expect.equal (Quantize.dyadic 1e-30) (0, 62) "dyadic 1e-30"

    for m, s in
        [
            Quantize.dyadic (Math.ScaleB(1.0, -40))
            Quantize.dyadic 1e-30
            Quantize.dyadic 0.37
        ] do
        Tern.Runtime.Requantize.ValidateMultiplier(m, s, "test")

    Expect.equal (Quantize.dyadic (1073741823.0)) (Int32.MaxValue - 1, 1) "dyadic 2^30 - 1"

    for bad in
        [
            0.0
            -0.5
            Double.NaN
            Double.PositiveInfinity
            1073741823.75
            Math.ScaleB(1.0, 30)
        ] do
        Expect.throwsT<ArgumentException> (fun () -> Quantize.dyadic bad |> ignore) $"dyadic %.17g{bad}"

let private ``requantize equals exact rational rounding and the runtime bit for bit`` () =
    let case =
        Gen.zip (Gen.frequency [ 3, Gen.zip G.acc G.dyadicPair; 1, G.tie ]) G.outRange
        |> Gen.map (fun ((acc, ms), out) -> (acc, ms, out))

    Prop.forAll (Arb.fromGen case) (fun (acc, (m, s), (z, lo, hi)) ->
        let got = Quantize.requantize acc m s z lo hi
        let exact = requantizeExact acc m s z lo hi
        let runtime = Tern.Runtime.Requantize.Apply(acc, m, s, z, lo, hi)

        let remainder =
            BigInteger.Remainder(BigInteger.Abs(BigInteger acc * BigInteger m), BigInteger.Pow(BigInteger 2, s))

        (got = exact && got = runtime)
        |> Prop.label $"got {got}, exact {exact}, runtime {runtime}"
        |> Prop.classify (remainder = BigInteger.Pow(BigInteger 2, s - 1)) "tie"
        |> Prop.classify (got = lo || got = hi) "clamped"
        |> Prop.classify (acc = Int32.MinValue || acc = Int32.MaxValue) "extreme acc")

let private ``requantize ties go toward +infinity`` () =
    // M / 2^S = 1/2: 3 * 1/2 = 1.5 -> 2, -3 * 1/2 = -1.5 -> -1 (floor of x + 1/2).
    let half = 1 <<< 30
    Expect.equal (Quantize.requantize 3 half 31 0 Int32.MinValue Int32.MaxValue) 2 "1.5 -> 2"
    Expect.equal (Quantize.requantize -3 half 31 0 Int32.MinValue Int32.MaxValue) -1 "-1.5 -> -1"
    Expect.equal (Quantize.requantize -3 half 31 5 -128 127) 4 "-1.5 + 5 -> 4"

    Expect.throwsT<ArgumentException> (fun () -> Quantize.requantize 1 half 0 0 -128 127 |> ignore) "a shift of 0"

let private ``requantize with dyadic m approximates acc * m`` () =
    let case = Gen.zip G.multiplier (Gen.choose (-1000000, 1000000))

    Prop.forAll (Arb.fromGen case) (fun (m, acc) ->
        let mm, s = Quantize.dyadic m
        let out = Quantize.requantize acc mm s 0 Int32.MinValue Int32.MaxValue
        let exact = float acc * m
        // Rounding (1/2) plus the dyadic error (|acc| m 2^-31), plus float error of acc * m.
        let bound = 0.5 + abs exact * (Math.ScaleB(1.0, -31) + 1e-15)

        abs (float out - exact) <= bound
        || (s = 62
            && abs (float out - exact) <= 0.5 + float (abs acc) * Math.ScaleB(1.0, -63)))

let private ``invalid arguments are rejected with ArgumentException`` () =
    let p = Quantize.affine 8 Asymmetric -1.0 1.0

    let throws (f: unit -> 'a) =
        Expect.throwsT<ArgumentException> (fun () -> f () |> ignore) "an invalid argument"

    throws (fun () -> Quantize.quantize p Double.NaN)
    throws (fun () -> Quantize.perChannel 8 Symmetric 3 [| 1.0f; 2.0f |])
    throws (fun () -> Quantize.deriveBits { p with QMin = 0 } 4)
    throws (fun () -> Quantize.ternaryThresholdOf (ThresholdValue Double.NaN) [| 1.0f |])
    throws (fun () -> Quantize.ternarize Quantize.defaultThreshold AlphaPerLayer 1 [| Single.NaN |])
    throws (fun () -> Quantize.Gamma.value 4 0.0 0.0 0.0 0.5)
    throws (fun () -> Quantize.Gamma.value 4 1.0 0.0 -1.0 0.5)
    throws (fun () -> Quantize.Gamma.quantize 0 1.0 0.0 0.0 0.5)
    throws (fun () -> Quantize.Gamma.quantize 4 1.0 0.0 0.0 Double.NaN)
    throws (fun () -> Quantize.Gamma.linear 4 Double.NaN)

    Expect.equal
        (Quantize.ternaryThresholdOf (ThresholdValue 0.25) [| 1.0f; -3.0f |])
        0.25
        "a threshold value is itself"

[<Tests>]
let tests =
    testList "QuantizeTests" [
        testList "roundHalfAway rounds ties away from zero" [
            for x, expected in
                [
                    0.5, 1.0
                    -0.5, -1.0
                    1.5, 2.0
                    2.5, 3.0
                    -2.5, -3.0
                    2.4999999999999996, 2.0
                    0.49999999999999994, 0.0
                    -0.0, 0.0
                    4503599627370497.0, 4503599627370497.0
                ] ->
                testCase $"%.17g{x} -> %.17g{expected}"
                <| fun () -> ``roundHalfAway rounds ties away from zero`` (x, expected)
        ]
        testCase
            "roundHalfAway differs from banker's rounding on even ties"
            ``roundHalfAway differs from banker's rounding on even ties``
        testProperty
            "roundHalfAway is the nearest integer, odd-symmetric, ties outward"
            ``roundHalfAway is the nearest integer, odd-symmetric, ties outward``
        testCase
            "minMax is the observed range, (0, 0) when empty, and rejects non-finite"
            ``minMax is the observed range, (0, 0) when empty, and rejects non-finite``
        testProperty
            "affine has the contract's code range, a positive scale and an in-range zero point"
            ``affine has the contract's code range, a positive scale and an in-range zero point``
        testCase "affine of an all-zero range uses a usable scale" ``affine of an all-zero range uses a usable scale``
        testCase "affine int8 examples" ``affine int8 examples``
        testPropertyWithConfig
            (Properties.tests 300)
            "affine round trip is within half a step inside the calibrated range"
            ``affine round trip is within half a step inside the calibrated range``
        testPropertyWithConfig
            (Properties.tests 300)
            "affine clamps to the grid edges outside it"
            ``affine clamps to the grid edges outside it``
        testPropertyWithConfig (Properties.tests 300) "affine quantize is monotone" ``affine quantize is monotone``
        testProperty "affine represents 0.0 exactly" ``affine represents 0.0 exactly``
        testPropertyWithConfig
            (Properties.tests 200)
            "perChannel equals affine applied row by row"
            ``perChannel equals affine applied row by row``
        testPropertyWithConfig
            (Properties.tests 300)
            "deriveBits agrees with a direct min-max at the lower bit width"
            ``deriveBits agrees with a direct min-max at the lower bit width``
        testProperty "deriveBits to the same width is the identity" ``deriveBits to the same width is the identity``
        testCase "deriveBits widens the step for fewer bits" ``deriveBits widens the step for fewer bits``
        testPropertyWithConfig
            (Properties.tests 200)
            "ternarize codes follow the threshold rule"
            ``ternarize codes follow the threshold rule``
        testPropertyWithConfig
            (Properties.tests 200)
            "ternarize alpha minimises the error for its pattern"
            ``ternarize alpha minimises the error for its pattern``
        testPropertyWithConfig
            (Properties.tests 200)
            "ternarize default threshold is 0.7 times mean absolute weight"
            ``ternarize default threshold is 0.7 times mean absolute weight``
        testPropertyWithConfig
            (Properties.tests 200)
            "ternarize per channel is per row, per layer is the whole layer"
            ``ternarize per channel is per row, per layer is the whole layer``
        testCase "ternarize examples and empty patterns" ``ternarize examples and empty patterns``
        testPropertyWithConfig
            (Properties.tests 300)
            "gamma codes lie in 0 .. 2^N - 1"
            ``gamma codes lie in 0 .. 2^N - 1``
        testPropertyWithConfig
            (Properties.tests 500)
            "gamma with gamma = 1, mu = 0, eps = 0 is the linear quantizer exactly"
            ``gamma with gamma = 1, mu = 0, eps = 0 is the linear quantizer exactly``
        testPropertyWithConfig (Properties.tests 300) "gamma is monotone in x" ``gamma is monotone in x``
        testPropertyWithConfig
            (Properties.tests 300)
            "gamma gradient matches central differences away from mu"
            ``gamma gradient matches central differences away from mu``
        testCase
            "gamma at x = mu is the midpoint, with a jump when eps > 0"
            ``gamma at x = mu is the midpoint, with a jump when eps > 0``
        testPropertyWithConfig
            (Properties.tests 1000)
            "dyadic M and S are in range with relative error at most 2^-31 (exact)"
            ``dyadic M and S are in range with relative error at most 2^-31 (exact)``
        testCase "dyadic edge cases" ``dyadic edge cases``
        testPropertyWithConfig
            (Properties.tests 1000)
            "requantize equals exact rational rounding and the runtime bit for bit"
            ``requantize equals exact rational rounding and the runtime bit for bit``
        testCase "requantize ties go toward +infinity" ``requantize ties go toward +infinity``
        testPropertyWithConfig
            (Properties.tests 500)
            "requantize with dyadic m approximates acc * m"
            ``requantize with dyadic m approximates acc * m``
        testCase
            "invalid arguments are rejected with ArgumentException"
            ``invalid arguments are rejected with ArgumentException``
    ]
