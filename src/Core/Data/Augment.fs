namespace Tern.Core

open System
open System.Globalization
open Tern.Runtime

/// Label-preserving changes to the training samples, drawn afresh every epoch from the training seed. The IMU
/// steps fit raw windows (1 x W x C, time along W, channels in x, y, z triples of vector sensors: acceleration,
/// then angular rate); the masks fit
/// spectrograms (H frequency bins x W frames x C); time-shift fits every sample.
type Augmentation =
    | NoAugmentation
    /// Roll each sample circularly along W (time in every data set of Tern) by a uniformly drawn offset: an
    /// activity is the same activity whichever instant its window starts at.
    | TimeShift
    /// Turn every x, y, z triple of every time step (channels 0..2, 3..5, ...) by one rotation per sample (uniform
    /// axis, angle uniform in +-maxDegrees): the phone sits a little differently in every pocket, and its
    /// accelerometer and gyroscope turn with it.
    | Rotate of maxDegrees: float
    /// Multiply the whole sample by one factor uniform in [1 - spread, 1 + spread]: sensors differ in gain,
    /// people in vigour.
    | Scale of spread: float
    /// Add independent Gaussian noise of standard deviation sigma (in the data's units; imports map full scale to
    /// 1, so 0.01 is 1 % of full scale) to every value.
    | Jitter of sigma: float
    /// Resample time along a smooth random monotone curve (end points fixed, linear interpolation): the same
    /// movement done a little faster here, slower there. Strength is the log-speed's standard deviation.
    | Warp of strength: float
    /// Set a band of up to maxFrames consecutive frames (all bins) to the sample's per-channel mean.
    | TimeMask of maxFrames: int
    /// Set a band of up to maxBins consecutive frequency bins (all frames) to the sample's per-channel mean.
    | FreqMask of maxBins: int
    /// The steps in order, each with its own draws (Augment.compose builds it flat, without none).
    | Compose of Augmentation list

/// Training-time augmentation of HWC samples: each step a pure function of the shape, its draws and the sample.
[<RequireQualifiedAccess>]
module Augment =

    let private checkSize (shape: Shape3) (x: float32[]) =
        if x.Length <> shape.Size then
            invalidArg "x" $"sample has {x.Length} values, shape {shape} has {shape.Size}"

    /// The sample rolled circularly along W by offset columns: column w of the result is column (w + offset) mod W.
    let timeShift (shape: Shape3) (offset: int) (x: float32[]) : float32[] =
        checkSize shape x
        let w = shape.W
        let s = ((offset % w) + w) % w
        let y = Array.zeroCreate<float32> x.Length
        let row = w * shape.C

        for h in 0 .. shape.H - 1 do
            let b = h * row
            // Columns s..W-1 move to the front, columns 0..s-1 to the back (C values per column).
            Array.blit x (b + s * shape.C) y b ((w - s) * shape.C)
            Array.blit x b y (b + (w - s) * shape.C) (s * shape.C)

        y

    /// Every whole x, y, z triple (channels 0..2, 3..5, ...) of every position turned by angle radians about the unit
    /// axis (Rodrigues' formula); channels after the last whole triple untouched. Needs C >= 3.
    let rotate (shape: Shape3) (axis: float * float * float) (angle: float) (x: float32[]) : float32[] =
        checkSize shape x

        if shape.C < 3 then
            invalidArg "shape" $"rotation needs x, y, z channels; shape {shape} has {shape.C}"

        let kx, ky, kz = axis
        let c, s = cos angle, sin angle
        let t = 1.0 - c
        // Row-major rotation matrix; at angle 0 it is exactly the identity (c = 1, s = 0, t = 0).
        let r00, r01, r02 = c + t * kx * kx, t * kx * ky - s * kz, t * kx * kz + s * ky
        let r10, r11, r12 = t * kx * ky + s * kz, c + t * ky * ky, t * ky * kz - s * kx
        let r20, r21, r22 = t * kx * kz - s * ky, t * ky * kz + s * kx, c + t * kz * kz
        let y = Array.copy x

        for p in 0 .. shape.H * shape.W - 1 do
            for triple in 0 .. shape.C / 3 - 1 do
                let i = p * shape.C + 3 * triple
                let a, b, d = float x[i], float x[i + 1], float x[i + 2]
                y[i] <- float32 (r00 * a + r01 * b + r02 * d)
                y[i + 1] <- float32 (r10 * a + r11 * b + r12 * d)
                y[i + 2] <- float32 (r20 * a + r21 * b + r22 * d)

        y

    /// Every value multiplied by factor.
    let scale (shape: Shape3) (factor: float) (x: float32[]) : float32[] =
        checkSize shape x
        x |> Array.map (fun v -> float32 (float v * factor))

    /// noise added value by value (one draw per value).
    let jitter (shape: Shape3) (noise: float[]) (x: float32[]) : float32[] =
        checkSize shape x

        if noise.Length <> x.Length then
            invalidArg "noise" $"{noise.Length} noise values for a sample of {x.Length}"

        Array.init x.Length (fun i -> float32 (float x[i] + noise[i]))

    /// Each row resampled along W at a monotone time curve: speeds (all > 0, at least one) are the curve's slopes
    /// at evenly spaced knots, interpolated linearly between them and scaled so that time runs from column 0 to
    /// column W-1; values between two columns are interpolated linearly. Equal speeds give the sample itself.
    let warp (shape: Shape3) (speeds: float[]) (x: float32[]) : float32[] =
        checkSize shape x

        if
            speeds.Length = 0
            || speeds |> Array.exists (fun v -> not (v > 0.0) || Double.IsInfinity v)
        then
            invalidArg "speeds" "warp needs at least one positive, finite speed"

        let w = shape.W
        let last = w - 1

        // The slope between columns j and j + 1, read off the knots at the step's middle.
        let slope j =
            if speeds.Length = 1 then
                speeds[0]
            else
                let p = (float j + 0.5) / float (max last 1) * float (speeds.Length - 1)
                let k = min (int p) (speeds.Length - 2)
                let f = p - float k
                speeds[k] + f * (speeds[k + 1] - speeds[k])

        let cum = Array.zeroCreate<float> w

        for j in 1..last do
            cum[j] <- cum[j - 1] + slope (j - 1)

        // Multiplying before dividing keeps equal speeds exact (cum[j] = j * speed); the last column is pinned.
        let at j =
            if j = last then
                float last
            else
                min (float last) (max 0.0 (cum[j] * float last / cum[last]))

        let times = Array.init w at
        let y = Array.zeroCreate<float32> x.Length

        for h in 0 .. shape.H - 1 do
            for j in 0..last do
                let t = times[j]
                let i0 = min (int (floor t)) last
                let i1 = min (i0 + 1) last
                let f = t - float i0

                for c in 0 .. shape.C - 1 do
                    let a = float x[(h * w + i0) * shape.C + c]
                    let b = float x[(h * w + i1) * shape.C + c]
                    y[(h * w + j) * shape.C + c] <- if f = 0.0 then float32 a else float32 (a + f * (b - a))

        y

    /// The mean of every channel over the sample's H x W positions.
    let private channelMeans (shape: Shape3) (x: float32[]) : float32[] =
        let sums = Array.zeroCreate<float> shape.C

        for i in 0 .. x.Length - 1 do
            sums[i % shape.C] <- sums[i % shape.C] + float x[i]

        sums |> Array.map (fun s -> float32 (s / float (shape.H * shape.W)))

    // Rows h0..h0+rows-1 by columns w0..w0+cols-1 (every channel) set to the sample's per-channel mean.
    let private fillWithMeans (shape: Shape3) (h0: int) (rows: int) (w0: int) (cols: int) (x: float32[]) : float32[] =
        let mean = channelMeans shape x
        let y = Array.copy x

        for h in h0 .. h0 + rows - 1 do
            for j in w0 .. w0 + cols - 1 do
                for c in 0 .. shape.C - 1 do
                    y[(h * shape.W + j) * shape.C + c] <- mean[c]

        y

    /// Columns start..start+width-1 (every row) set to the sample's per-channel mean: the mean rather than 0,
    /// because it leaves the sample's level (and so the activation ranges 8-bit calibration sees) where it was and
    /// means the same on data scaled to [0, 1] and on data centred on 0.
    let timeMask (shape: Shape3) (start: int) (width: int) (x: float32[]) : float32[] =
        checkSize shape x

        if start < 0 || width < 0 || start + width > shape.W then
            invalidArg "width" $"frames {start}..{start + width - 1} outside 0..{shape.W - 1}"

        fillWithMeans shape 0 shape.H start width x

    /// Rows start..start+height-1 (every column) set to the sample's per-channel mean (see timeMask).
    let freqMask (shape: Shape3) (start: int) (height: int) (x: float32[]) : float32[] =
        checkSize shape x

        if start < 0 || height < 0 || start + height > shape.H then
            invalidArg "height" $"bins {start}..{start + height - 1} outside 0..{shape.H - 1}"

        fillWithMeans shape start height 0 shape.W x

    /// The steps in order, flattened, without none: no step is NoAugmentation, one step is itself.
    let compose (steps: Augmentation list) : Augmentation =
        let rec flat a =
            match a with
            | NoAugmentation -> []
            | Compose xs -> List.collect flat xs
            | step -> [ step ]

        match List.collect flat steps with
        | [] -> NoAugmentation
        | [ one ] -> one
        | many -> Compose many

    /// The IMU steps at their default strengths: rotate 15 degrees, scale 0.9..1.1, jitter 0.01, warp 0.2.
    let imu: Augmentation = Compose [ Rotate 15.0; Scale 0.1; Jitter 0.01; Warp 0.2 ]

    /// The spectrogram masks at their default widths: up to 4 frames, up to 3 bins.
    let spec: Augmentation = Compose [ TimeMask 4; FreqMask 3 ]

    /// Why a step does not fit samples of this shape, if it does not.
    let rec fits (a: Augmentation) (shape: Shape3) : Result<unit, string> =
        let raw = shape.H = 1

        match a with
        | NoAugmentation
        | TimeShift -> Ok()
        | Rotate _
        | Scale _
        | Jitter _
        | Warp _ when not raw ->
            Error
                $"the IMU steps (rotate, scale, jitter, warp; preset imu) fit raw windows (1 x W x C); the data's samples are {shape.H} x {shape.W} x {shape.C}, a spectrogram: use time-mask, freq-mask or spec"
        | Rotate _ when shape.C < 3 ->
            Error
                $"rotate turns the x, y, z channel triples of raw windows; the data's samples have {shape.C} channel(s)"
        | TimeMask _
        | FreqMask _ when raw ->
            Error
                $"the masks (time-mask, freq-mask; preset spec) fit spectrograms (bins x frames x C); the data's samples are 1 x {shape.W} x {shape.C}, raw windows: use rotate, scale, jitter, warp or imu"
        | Compose steps ->
            steps
            |> List.fold (fun acc s -> acc |> Result.bind (fun () -> fits s shape)) (Ok())
        | _ -> Ok()

    // A standard normal draw (Box-Muller; 1 - NextDouble() is in (0, 1], so the log is finite).
    let private gaussian (rng: Random) : float =
        let u1 = 1.0 - rng.NextDouble()
        let u2 = rng.NextDouble()
        sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2)

    // Knots of the warp's speed curve: few enough that it is smooth over a window.
    let private warpKnots = 4

    /// Applies an augmentation with draws from rng; NoAugmentation returns the sample itself and draws nothing.
    /// A step that does not fit the shape (Augment.fits) is an invalid argument.
    let rec apply (a: Augmentation) (shape: Shape3) (rng: Random) (x: float32[]) : float32[] =
        match a with
        | NoAugmentation -> x
        | TimeShift -> timeShift shape (rng.Next shape.W) x
        | Compose steps -> steps |> List.fold (fun y s -> apply s shape rng y) x
        | step ->
            match fits step shape with
            | Error e -> invalidArg "a" e
            | Ok() ->
                match step with
                | Rotate maxDegrees ->
                    // Uniform on the sphere: z uniform in [-1, 1], longitude uniform.
                    let z = 2.0 * rng.NextDouble() - 1.0
                    let phi = 2.0 * Math.PI * rng.NextDouble()
                    let r = sqrt (max 0.0 (1.0 - z * z))
                    let angle = (2.0 * rng.NextDouble() - 1.0) * maxDegrees * Math.PI / 180.0
                    rotate shape (r * cos phi, r * sin phi, z) angle x
                | Scale spread -> scale shape (1.0 + spread * (2.0 * rng.NextDouble() - 1.0)) x
                | Jitter sigma -> jitter shape (Array.init x.Length (fun _ -> sigma * gaussian rng)) x
                | Warp strength -> warp shape (Array.init warpKnots (fun _ -> exp (strength * gaussian rng))) x
                | TimeMask maxFrames ->
                    let width = rng.Next(min maxFrames shape.W + 1)
                    timeMask shape (rng.Next(shape.W - width + 1)) width x
                | FreqMask maxBins ->
                    let height = rng.Next(min maxBins shape.H + 1)
                    freqMask shape (rng.Next(shape.H - height + 1)) height x
                | NoAugmentation
                | TimeShift
                | Compose _ -> x

    let private num (v: float) =
        v.ToString("R", CultureInfo.InvariantCulture)

    // A step's name with its parameter when it is not the default.
    let private stepName (a: Augmentation) : string =
        match a with
        | NoAugmentation -> "none"
        | TimeShift -> "time-shift"
        | Rotate 15.0 -> "rotate"
        | Rotate d -> $"rotate={num d}"
        | Scale 0.1 -> "scale"
        | Scale s -> $"scale={num s}"
        | Jitter 0.01 -> "jitter"
        | Jitter s -> $"jitter={num s}"
        | Warp 0.2 -> "warp"
        | Warp s -> $"warp={num s}"
        | TimeMask 4 -> "time-mask"
        | TimeMask t -> $"time-mask={t}"
        | FreqMask 3 -> "freq-mask"
        | FreqMask f -> $"freq-mask={f}"
        | Compose _ -> invalidArg "a" "a composition is not a step"

    /// The name parse reads: none, time-shift, a step (rotate, scale, jitter, warp, time-mask, freq-mask; with
    /// =value when its parameter is not the default), a preset (imu, spec) or a comma list of them.
    let name (a: Augmentation) : string =
        match compose [ a ] with
        | Compose _ when a = imu -> "imu"
        | Compose _ when a = spec -> "spec"
        | Compose steps -> steps |> List.map stepName |> String.concat ","
        | one -> stepName one

    let private expected =
        "none, time-shift, rotate, scale, jitter, warp, time-mask, freq-mask, the presets imu or spec, or a comma "
        + "list of them, e.g. rotate,scale=0.2"

    // One item of a comma list: a step with an optional =value, or a preset.
    let private parseItem (item: string) : Result<Augmentation, string> =
        let key, value =
            match item.IndexOf '=' with
            | -1 -> item, None
            | i -> item.Substring(0, i).Trim(), Some(item.Substring(i + 1).Trim())

        let real lo hi (make: float -> Augmentation) (fallback: float) =
            match value with
            | None -> Ok(make fallback)
            | Some v ->
                match Double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture) with
                | true, x when x >= lo && x <= hi -> Ok(make x)
                | _ -> Error $"{key}={v}: expected a number in [{num lo}, {num hi}]"

        let count (make: int -> Augmentation) (fallback: int) =
            match value with
            | None -> Ok(make fallback)
            | Some v ->
                match Int32.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture) with
                | true, n -> Ok(make n)
                | _ -> Error $"{key}={v}: expected a whole number >= 0"

        let plain (a: Augmentation) =
            match value with
            | None -> Ok a
            | Some v -> Error $"{key}={v}: {key} takes no value"

        match key with
        | "none" -> plain NoAugmentation
        | "time-shift" -> plain TimeShift
        | "imu" -> plain imu
        | "spec" -> plain spec
        | "rotate" -> real 0.0 180.0 Rotate 15.0
        | "scale" -> real 0.0 0.99 Scale 0.1
        | "jitter" -> real 0.0 1.0 Jitter 0.01
        | "warp" -> real 0.0 1.0 Warp 0.2
        | "time-mask" -> count TimeMask 4
        | "freq-mask" -> count FreqMask 3
        | other -> Error $"unknown augmentation '{other}' (expected {expected})"

    /// Parses a command-line name (see name); presets and lists are flattened into one composition.
    let parse (text: string) : Result<Augmentation, string> =
        let items =
            text.Trim().ToLowerInvariant().Split(',') |> Array.map (fun s -> s.Trim())

        if items |> Array.exists String.IsNullOrEmpty then
            Error $"'{text}': an empty name in the list (expected {expected})"
        else
            items
            |> Array.fold
                (fun acc item -> acc |> Result.bind (fun xs -> parseItem item |> Result.map (fun a -> a :: xs)))
                (Ok [])
            |> Result.map (List.rev >> compose)
