namespace Tern.Core

open System
open System.Threading.Tasks
open MathNet.Numerics
open MathNet.Numerics.IntegralTransforms
open Tern.Runtime

/// A continuous-wave radar micro-Doppler simulator: a person as 13 point scatterers with articulated
/// kinematics for five activities, a CW return with static clutter and white noise, and an STFT
/// spectrogram cut to 64 Doppler bins x 64 time frames. Deterministic by seed.
///
/// Conventions (the tests pin them):
/// - baseband return s(t) = sum_k a_k exp(-j 4 pi f_c R_k(t) / c), so a scatterer that approaches the
///   radar (R decreasing) has a POSITIVE Doppler frequency f_d = 2 v f_c / c;
/// - a sample is HWC = 64 x 64 x 1 with H = Doppler and W = time: row h holds the Doppler bin centred at
///   (h - 32) * fs / 64 Hz (row 0 = -fs/2, row 32 = zero Doppler, row 63 = +31/64 fs), column 0 is the
///   earliest frame;
/// - values are log power normalised per sample: 1 at the sample's peak, 0 at or below peak - DynamicRangeDb.
[<RequireQualifiedAccess>]
module RadarSim =
    /// Speed of light in m/s.
    let speedOfLight: float = 299_792_458.0

    /// Side of the square output: 64 Doppler bins and 64 time frames.
    let size: int = 64

    /// The shape of one sample: H = Doppler bins, W = time frames, C = 1.
    let shape: Shape3 = Shape3(size, size, 1)

    /// Class names in label order; equal to Architectures.radarClasses (which compiles after this file).
    let classes: string list = [ "jogging"; "jumping"; "situp"; "waving"; "other" ]

    /// Subjects that `tern data synth` makes when not told otherwise (5-fold splits by subject stay balanced).
    let defaultSubjects: int = 12

    /// Samples per class and subject that `tern data synth` makes when not told otherwise.
    let defaultPerClass: int = 40

    /// Radar, noise and STFT settings.
    type Config = {
        /// Carrier frequency in Hz.
        CarrierHz: float
        /// Complex baseband sample rate in Hz; the unambiguous radial speed is c * fs / (4 f_c).
        SampleRateHz: float
        /// Length of one recording in seconds.
        DurationS: float
        /// Hann window length in samples.
        Window: int
        /// STFT hop in samples.
        Hop: int
        /// FFT length (window zero-padded); a multiple of 64, grouped down to 64 Doppler bins.
        FftSize: int
        /// Per-sample signal-to-noise ratio range in dB (body power over noise power in the full band).
        SnrDb: float * float
        /// Per-sample static clutter power range in dB, relative to the body's power.
        ClutterDb: float * float
        /// Number of static clutter scatterers.
        ClutterScatterers: int
        /// Log-magnitude span mapped onto [0, 1]; anything lower is clipped to 0.
        DynamicRangeDb: float
    }

    /// 24 GHz carrier, fs = 2 kHz (|v| up to c fs / 4 f_c = 6.2 m/s: a jogger's torso and limbs, only the
    /// fastest feet alias), 3 s recordings, Hann 128 / hop 93 / FFT 128 giving exactly 64 frames of 64 ms;
    /// Doppler rows of 31.25 Hz (0.195 m/s).
    let defaultConfig: Config = {
        CarrierHz = 24.0e9
        SampleRateHz = 2000.0
        DurationS = 3.0
        Window = 128
        Hop = 93
        FftSize = 128
        SnrDb = (10.0, 30.0)
        ClutterDb = (-10.0, 10.0)
        ClutterScatterers = 4
        DynamicRangeDb = 40.0
    }

    /// One simulated person and recording session; every field is drawn from the data set seed.
    type SubjectParams = {
        /// Subject id (tagged on every sample).
        Id: int
        /// Body height in m; segment lengths follow standard proportions of it.
        HeightM: float
        /// Multipliers on the proportional arm, leg and trunk lengths.
        ArmScale: float
        LegScale: float
        TorsoScale: float
        /// Jogging and walking speeds in m/s (they overlap at the slow end of jogging).
        JogSpeed: float
        WalkSpeed: float
        /// Jogging cadence in steps per second; walking uses WalkStepHz.
        JogStepHz: float
        WalkStepHz: float
        /// Habitual heading relative to the line of sight in degrees (0 = facing the radar).
        AspectDeg: float
        /// Distance to the radar for activities in place, in m.
        RangeM: float
        /// Radar mounting height in m for this subject's session.
        RadarHeightM: float
        /// Amplitude reflectivity of the 13 scatterers (head, chest, pelvis, upper arms L/R,
        /// forearms L/R, thighs L/R, shins L/R, feet L/R).
        Reflectivity: float[]
        /// Jumping: jumps per second, jump height in m, and how often the subject does jumping jacks
        /// (arms sideways) rather than jumps with a forward arm swing.
        JumpHz: float
        JumpHeightM: float
        JackBias: float
        /// Sit-ups per second and the trunk angle reached at the top (degrees from vertical, negative = back).
        SitupHz: float
        SitupTopDeg: float
        /// Waving: frequency, shoulder swing amplitude (deg), plane of the wave (0 = forward, 90 = sideways)
        /// and hand (true = right).
        WaveHz: float
        WaveAmpDeg: float
        WavePlaneDeg: float
        WaveRight: bool
    }

    let private deg = Math.PI / 180.0
    let private parts = 13

    // Base amplitude reflectivity per scatterer, roughly following the body part's area.
    let private baseReflectivity = [| 0.35; 1.0; 0.7; 0.3; 0.3; 0.25; 0.25; 0.5; 0.5; 0.35; 0.35; 0.2; 0.2 |]

    /// Checks the STFT settings; fails with a message naming the bad field.
    let checkConfig (cfg: Config) : unit =
        if cfg.FftSize < size || cfg.FftSize % size <> 0 then
            invalidArg "cfg" $"FftSize {cfg.FftSize} must be a positive multiple of {size}"

        if cfg.Window < 2 || cfg.Window > cfg.FftSize then
            invalidArg "cfg" $"Window {cfg.Window} must be in 2..FftSize ({cfg.FftSize})"

        if cfg.Hop < 1 then
            invalidArg "cfg" $"Hop {cfg.Hop} must be positive"

        if cfg.SampleRateHz <= 0.0 || cfg.CarrierHz <= 0.0 || cfg.DurationS <= 0.0 then
            invalidArg "cfg" "carrier, sample rate and duration must be positive"

    /// Samples in one recording.
    let samplesPerRecording (cfg: Config) : int =
        int (Math.Round(cfg.DurationS * cfg.SampleRateHz, MidpointRounding.AwayFromZero))

    /// Centre frequency in Hz of Doppler row h (positive = approaching).
    let dopplerHz (cfg: Config) (h: int) : float =
        float (h - size / 2) * cfg.SampleRateHz / float size

    /// Radial speed in m/s (positive = approaching) whose Doppler frequency is f_d = 2 v f_c / c.
    let speedOfDoppler (cfg: Config) (hz: float) : float =
        hz * speedOfLight / (2.0 * cfg.CarrierHz)

    /// Phase in radians of the return from a scatterer at the given range: -4 pi f_c R / c.
    let phase (cfg: Config) (rangeM: float) : float =
        -4.0 * Math.PI * cfg.CarrierHz * rangeM / speedOfLight

    /// Log-power spectrogram of a complex baseband signal: Hann-windowed STFT, zero Doppler moved to
    /// row 32, FFT bins grouped to 64 rows, frames resampled to 64 columns, normalised to [0, 1].
    let spectrogram (cfg: Config) (signal: Complex32[]) : float32[] =
        checkConfig cfg
        let frames = (signal.Length - cfg.Window) / cfg.Hop + 1

        if signal.Length < cfg.Window then
            invalidArg "signal" $"{signal.Length} samples is shorter than one window ({cfg.Window})"

        let f = cfg.FftSize
        let k = f / size
        // Periodic Hann: the STFT standard; its overlap sums stay flat at the usual hops.
        let window =
            Array.init cfg.Window (fun i -> float32 (0.5 - 0.5 * cos (2.0 * Math.PI * float i / float cfg.Window)))

        let power = Array.zeroCreate<float>(frames * size)
        let buf = Array.zeroCreate<Complex32> f

        let inline pow (j: int) =
            let c = buf[((j % f) + f) % f]
            float c.Real * float c.Real + float c.Imaginary * float c.Imaginary

        for fr in 0 .. frames - 1 do
            Array.Clear buf
            let start = fr * cfg.Hop

            for i in 0 .. cfg.Window - 1 do
                buf[i] <- signal[start + i] * window[i]

            Fourier.Forward(buf, FourierOptions.Matlab)

            // Row h is centred on FFT bin (h - 32) * k: that both fftshifts (negative frequencies sit at
            // the top of the unshifted FFT) and keeps zero Doppler in the middle of row 32. For even k the
            // two bins half-way between rows count half to each, so every bin weighs the same in total.
            for h in 0 .. size - 1 do
                let centre = (h - size / 2) * k
                let mutable acc = 0.0

                if k % 2 = 1 then
                    for d in -(k - 1) / 2 .. (k - 1) / 2 do
                        acc <- acc + pow (centre + d)
                else
                    for d in -k / 2 .. k / 2 do
                        let w = if abs d = k / 2 then 0.5 else 1.0
                        acc <- acc + w * pow (centre + d)

                power[fr * size + h] <- acc

        let db = Array.zeroCreate<float>(size * size)

        for h in 0 .. size - 1 do
            for w in 0 .. size - 1 do
                // Linear interpolation over frames when the STFT does not give exactly 64 of them.
                let p =
                    if frames = size then
                        power[w * size + h]
                    elif frames = 1 then
                        power[h]
                    else
                        let x = float w * float (frames - 1) / float (size - 1)
                        let i0 = min (int x) (frames - 2)
                        let a = x - float i0
                        (1.0 - a) * power[i0 * size + h] + a * power[(i0 + 1) * size + h]

                db[h * size + w] <- 10.0 * log10 (max p 1e-30)

        let top = Array.max db
        let floor = top - cfg.DynamicRangeDb

        db
        |> Array.map (fun v -> float32 (Math.Clamp((v - floor) / cfg.DynamicRangeDb, 0.0, 1.0)))

    // ---------------------------------------------------------------- seeds and random draws

    // SplitMix64 finaliser: decorrelates nearby seeds so (seed, subject, class, index) tuples that differ
    // by one still give unrelated generators.
    let private mix (x: uint64) : uint64 =
        let mutable z = x + 0x9E3779B97F4A7C15UL
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z ^^^ (z >>> 31)

    let private seedOf (xs: int list) : int =
        let h = xs |> List.fold (fun acc x -> mix (acc ^^^ uint64 (uint32 x))) 0x5EEDUL
        int (h &&& 0x7FFFFFFFUL)

    /// The generator seed of one sample, from the data set seed, subject, class and index within them.
    let sampleSeed (seed: int) (subject: int) (cls: int) (index: int) : int = seedOf [ seed; subject; cls; index ]

    let private uniform (rng: Random) (lo: float) (hi: float) = lo + (hi - lo) * rng.NextDouble()

    let private gauss (rng: Random) =
        // Box-Muller; 1 - u keeps the logarithm finite.
        let u = 1.0 - rng.NextDouble()
        let v = rng.NextDouble()
        sqrt (-2.0 * log u) * cos (2.0 * Math.PI * v)

    // Both Box-Muller outputs: the noise needs two normals per sample, so this halves the logarithms.
    let private gaussPair (rng: Random) : struct (float * float) =
        let r = sqrt (-2.0 * log (1.0 - rng.NextDouble()))
        let struct (s, c) = Math.SinCos(2.0 * Math.PI * rng.NextDouble())
        struct (r * c, r * s)

    /// The parameters of subject `index` in the data set with this seed.
    let subject (seed: int) (index: int) : SubjectParams =
        let rng = Random(seedOf [ seed; index; 0x5B ])
        let u lo hi = uniform rng lo hi
        let height = u 1.50 1.95
        let jog = u 1.9 3.3

        {
            Id = index
            HeightM = height
            ArmScale = u 0.92 1.08
            LegScale = u 0.93 1.07
            TorsoScale = u 0.92 1.08
            JogSpeed = jog
            WalkSpeed = u 0.7 1.6
            JogStepHz = u 2.6 3.2
            WalkStepHz = u 1.6 2.1
            AspectDeg = u -30.0 30.0
            RangeM = u 3.0 7.0
            RadarHeightM = u 0.8 1.5
            Reflectivity = baseReflectivity |> Array.map (fun a -> a * exp (0.25 * gauss rng))
            JumpHz = u 1.2 2.4
            JumpHeightM = u 0.15 0.35
            JackBias = u 0.1 0.9
            SitupHz = u 0.3 0.6
            SitupTopDeg = u -30.0 -5.0
            WaveHz = u 1.8 3.5
            WaveAmpDeg = u 25.0 45.0
            WavePlaneDeg = u 0.0 45.0
            WaveRight = rng.NextDouble() < 0.8
        }

    // ---------------------------------------------------------------- body model

    // Joint angles and pelvis position at one instant, in the person's own frame (x forward, y left,
    // z up, origin on the ground at the start). Angles in radians.
    type private Pose = {
        mutable X: float
        mutable Y: float
        mutable Z: float
        /// Rotation of the whole body about the vertical through the pelvis (turning on the spot).
        mutable Yaw: float
        /// Trunk pitch from vertical, positive = leaning forward; arms and head move with the trunk.
        mutable Trunk: float
        /// Hip angles from the downward vertical, positive = thigh forward; knee flexion >= 0 bends back.
        mutable HipL: float
        mutable HipR: float
        mutable KneeL: float
        mutable KneeR: float
        /// Upper-arm elevation from the trunk's downward axis, azimuth (0 = forward, 90 deg = outwards),
        /// elbow flexion (bends the forearm further along the same plane).
        mutable ArmL: float
        mutable ArmR: float
        mutable ArmAzL: float
        mutable ArmAzR: float
        mutable ElbowL: float
        mutable ElbowR: float
    }

    type private Body = {
        Thigh: float
        Shin: float
        Ankle: float
        Foot: float
        Trunk: float
        Neck: float
        UpperArm: float
        Forearm: float
        ShoulderHalf: float
        HipHalf: float
        /// Pelvis height standing with straight legs.
        Stand: float
    }

    let private bodyOf (s: SubjectParams) : Body =
        let h = s.HeightM
        let thigh = 0.245 * h * s.LegScale
        let shin = 0.246 * h * s.LegScale
        let ankle = 0.039 * h

        {
            Thigh = thigh
            Shin = shin
            Ankle = ankle
            Foot = 0.06 * h
            Trunk = 0.29 * h * s.TorsoScale
            Neck = 0.11 * h
            UpperArm = 0.186 * h * s.ArmScale
            Forearm = 0.25 * h * s.ArmScale
            ShoulderHalf = 0.13 * h
            HipHalf = 0.09 * h
            Stand = ankle + thigh + shin
        }

    // Where the person stands and faces (world frame: radar at the origin looking along +x, z up).
    type private Placement = {
        BaseX: float
        BaseY: float
        Heading: float
        RadarZ: float
    }

    // World positions of the 13 scatterers for a pose (written into px, py, pz).
    let private place (b: Body) (pl: Placement) (p: Pose) (px: float[]) (py: float[]) (pz: float[]) =
        let ch, sh = cos pl.Heading, sin pl.Heading
        let heading = pl.Heading + p.Yaw
        let cb, sb = cos heading, sin heading
        let ox = pl.BaseX + p.X * ch - p.Y * sh
        let oy = pl.BaseY + p.X * sh + p.Y * ch
        let oz = p.Z
        let ct, st = cos p.Trunk, sin p.Trunk

        // Body-frame offset (forward a, left l, up u) from the pelvis to the world.
        let inline put (i: int) (a: float) (l: float) (u: float) =
            px[i] <- ox + a * cb - l * sb
            py[i] <- oy + a * sb + l * cb
            pz[i] <- oz + u

        // Trunk-frame offset: pitched by the trunk angle about the left axis.
        let inline putT (i: int) (a: float) (l: float) (u: float) =
            put i (a * ct + u * st) l (-a * st + u * ct)

        putT 0 0.0 0.0 (b.Trunk + b.Neck)
        putT 1 0.0 0.0 (0.6 * b.Trunk)
        put 2 0.0 0.0 0.0

        let arm (side: float) (iUpper: int) (iFore: int) (el: float) (az: float) (elbow: float) =
            let se, ce = sin el, cos el
            let ca, sa = cos az, sin az
            let dx, dy, dz = se * ca, side * se * sa, -ce
            let sl = side * b.ShoulderHalf
            let half = 0.5 * b.UpperArm
            putT iUpper (half * dx) (sl + half * dy) (b.Trunk + half * dz)
            let e2 = el + elbow
            let se2, ce2 = sin e2, cos e2
            let ex, ey, ez = b.UpperArm * dx, sl + b.UpperArm * dy, b.Trunk + b.UpperArm * dz
            let f = 0.55 * b.Forearm
            putT iFore (ex + f * se2 * ca) (ey + f * side * se2 * sa) (ez - f * ce2)

        arm 1.0 3 5 p.ArmL p.ArmAzL p.ElbowL
        arm -1.0 4 6 p.ArmR p.ArmAzR p.ElbowR

        let leg (side: float) (iThigh: int) (iShin: int) (iFoot: int) (hip: float) (knee: float) =
            let l = side * b.HipHalf
            let sh, ch = sin hip, cos hip
            put iThigh (0.5 * b.Thigh * sh) l (-0.5 * b.Thigh * ch)
            let kx, kz = b.Thigh * sh, -b.Thigh * ch
            let s2, c2 = sin (hip - knee), cos (hip - knee)
            put iShin (kx + 0.5 * b.Shin * s2) l (kz - 0.5 * b.Shin * c2)
            let ax, az = kx + b.Shin * s2, kz - b.Shin * c2
            put iFoot (ax + b.Foot * c2) l (az + b.Foot * s2 - 0.5 * b.Ankle)

        leg 1.0 7 9 11 p.HipL p.KneeL
        leg -1.0 8 10 12 p.HipR p.KneeR

    let private newPose () : Pose = {
        X = 0.0
        Y = 0.0
        Z = 0.0
        Yaw = 0.0
        Trunk = 0.0
        HipL = 0.0
        HipR = 0.0
        KneeL = 0.0
        KneeR = 0.0
        ArmL = 0.0
        ArmR = 0.0
        ArmAzL = 0.0
        ArmAzR = 0.0
        ElbowL = 0.0
        ElbowR = 0.0
    }

    // A gait (jogging, walking, stepping on the spot): legs and arms swing in opposition at half the
    // step rate, the pelvis bobs at the step rate, the body moves forward at `speed`.
    type private Gait = {
        Speed: float
        StepHz: float
        HipAmp: float
        KneeBase: float
        KneeAmp: float
        ArmAmp: float
        Elbow: float
        Bounce: float
        Lean: float
        Phase: float
    }

    let private gait (b: Body) (g: Gait) (p: Pose) (t: float) =
        let th = Math.PI * g.StepHz * t + g.Phase
        let s, c = sin th, cos th
        p.X <- g.Speed * t
        p.Z <- b.Stand * cos (0.5 * g.HipAmp) - g.Bounce * 0.5 * (1.0 + cos (2.0 * th))
        p.Trunk <- g.Lean + 2.0 * deg * sin (2.0 * th)
        p.HipL <- 5.0 * deg + g.HipAmp * s
        p.HipR <- 5.0 * deg - g.HipAmp * s
        // The knee flexes most in mid-swing, when the hip swings forward (cos > 0 for the left leg).
        let swingL = 0.5 + 0.5 * c
        let swingR = 0.5 - 0.5 * c
        p.KneeL <- g.KneeBase + g.KneeAmp * swingL * swingL
        p.KneeR <- g.KneeBase + g.KneeAmp * swingR * swingR
        p.ArmL <- -g.ArmAmp * s
        p.ArmR <- g.ArmAmp * s
        p.ArmAzL <- 10.0 * deg
        p.ArmAzR <- 10.0 * deg
        p.ElbowL <- g.Elbow + 0.15 * g.Elbow * c
        p.ElbowR <- g.Elbow - 0.15 * g.Elbow * c

    let private standStill (b: Body) (p: Pose) (t: float) (swayHz: float) (phase: float) =
        p.X <- 0.012 * sin (2.0 * Math.PI * swayHz * t + phase)
        p.Y <- 0.008 * sin (2.0 * Math.PI * 0.7 * swayHz * t + 2.0 * phase)
        p.Z <- b.Stand
        p.Trunk <- 2.0 * deg
        p.HipL <- 0.0
        p.HipR <- 0.0
        p.KneeL <- 3.0 * deg
        p.KneeR <- 3.0 * deg
        p.ArmL <- 6.0 * deg
        p.ArmR <- 6.0 * deg
        p.ArmAzL <- 15.0 * deg
        p.ArmAzR <- 15.0 * deg
        p.ElbowL <- 10.0 * deg
        p.ElbowR <- 10.0 * deg

    let private raisedCos (x: float) = 0.5 - 0.5 * cos (2.0 * Math.PI * x)

    // The motion of one recording: where the person is, and a function setting the pose at time t.
    type private Motion = {
        Placement: Placement
        Animate: Pose -> float -> unit
    }

    let private motionOf (cfg: Config) (s: SubjectParams) (cls: int) (rng: Random) : Motion =
        let b = bodyOf s
        let u lo hi = uniform rng lo hi

        let jit (x: float) (rel: float) =
            x * (1.0 + rel * (2.0 * rng.NextDouble() - 1.0))

        let duration = cfg.DurationS
        let radarZ = s.RadarHeightM
        let offAxis = u -15.0 15.0 * deg
        let aspect = (s.AspectDeg + 12.0 * gauss rng) * deg
        let phase0 = u 0.0 (2.0 * Math.PI)

        // Somewhere in front of the radar, facing it turned by the aspect angle.
        let inPlace (facingAway: bool) =
            let r = jit s.RangeM 0.1

            {
                BaseX = r * cos offAxis
                BaseY = r * sin offAxis
                Heading = offAxis + Math.PI + aspect + (if facingAway then Math.PI else 0.0)
                RadarZ = radarZ
            }

        // A straight path towards or away from the radar that stays at least 2 m from it.
        let moving (speed: float) =
            let approach = rng.NextDouble() < 0.5
            let path = speed * duration * abs (cos aspect)

            let r = if approach then 2.0 + path + u 0.0 4.0 else 2.0 + u 0.0 4.0

            {
                BaseX = r * cos offAxis
                BaseY = r * sin offAxis
                Heading = offAxis + aspect + (if approach then Math.PI else 0.0)
                RadarZ = radarZ
            }

        let walk () =
            let g = {
                Speed = jit s.WalkSpeed 0.1
                StepHz = jit s.WalkStepHz 0.06
                HipAmp = u 18.0 25.0 * deg
                KneeBase = 5.0 * deg
                KneeAmp = u 45.0 60.0 * deg
                ArmAmp = u 10.0 25.0 * deg
                Elbow = u 10.0 30.0 * deg
                Bounce = u 0.02 0.04
                Lean = u 2.0 5.0 * deg
                Phase = phase0
            }

            {
                Placement = moving g.Speed
                Animate = fun p t -> gait b g p t
            }

        match cls with
        | 0 ->
            let g = {
                Speed = jit s.JogSpeed 0.08
                StepHz = jit s.JogStepHz 0.05
                HipAmp = u 28.0 38.0 * deg
                KneeBase = u 20.0 30.0 * deg
                KneeAmp = u 65.0 90.0 * deg
                ArmAmp = u 25.0 45.0 * deg
                Elbow = u 80.0 100.0 * deg
                Bounce = u 0.05 0.08
                Lean = u 8.0 14.0 * deg
                Phase = phase0
            }

            {
                Placement = moving g.Speed
                Animate = fun p t -> gait b g p t
            }
        | 1 ->
            let hz = jit s.JumpHz 0.08
            let height = jit s.JumpHeightM 0.15
            let flight = u 0.4 0.55
            let crouch = u 0.10 0.25
            let jacks = rng.NextDouble() < s.JackBias
            let armAz = if jacks then u 75.0 90.0 * deg else u 0.0 20.0 * deg

            {
                Placement = inPlace false
                Animate =
                    fun p t ->
                        let cyc = hz * t + phase0 / (2.0 * Math.PI)
                        let x = cyc - Math.Floor cyc

                        let lift, bend =
                            if x < flight then
                                let q = x / flight
                                4.0 * height * q * (1.0 - q), 0.0
                            else
                                0.0, sin (Math.PI * (x - flight) / (1.0 - flight))

                        p.X <- 0.0
                        p.Y <- 0.0
                        p.Z <- b.Stand - crouch * bend + lift
                        p.Trunk <- (5.0 + 15.0 * bend) * deg
                        p.HipL <- (4.0 + 40.0 * bend) * deg
                        p.HipR <- p.HipL
                        p.KneeL <- (8.0 + 70.0 * bend) * deg
                        p.KneeR <- p.KneeL

                        let arm =
                            if jacks then
                                (15.0 + 140.0 * raisedCos x) * deg
                            else
                                (-25.0 + 150.0 * raisedCos (x - 0.1)) * deg

                        p.ArmL <- arm
                        p.ArmR <- arm
                        p.ArmAzL <- armAz
                        p.ArmAzR <- armAz
                        p.ElbowL <- 15.0 * deg
                        p.ElbowR <- 15.0 * deg
            }
        | 2 ->
            let hz = jit s.SitupHz 0.1
            let top = (s.SitupTopDeg + u -5.0 5.0) * deg
            let low = u -88.0 -80.0 * deg
            // Hands behind the head, crossed on the chest, or reaching for the knees.
            let style = rng.Next 3

            let armEl, armAz, elbow =
                match style with
                | 0 -> 150.0 * deg, 60.0 * deg, 120.0 * deg
                | 1 -> 35.0 * deg, 60.0 * deg, 100.0 * deg
                | _ -> 90.0 * deg, 5.0 * deg, 10.0 * deg

            {
                Placement = inPlace (rng.NextDouble() < 0.5)
                Animate =
                    fun p t ->
                        let q = raisedCos (hz * t + phase0 / (2.0 * Math.PI))
                        p.X <- 0.0
                        p.Y <- 0.0
                        p.Z <- 0.10 + 0.02 * q
                        p.Trunk <- low + (top - low) * q
                        p.HipL <- (125.0 - 8.0 * q) * deg
                        p.HipR <- p.HipL
                        p.KneeL <- 110.0 * deg
                        p.KneeR <- p.KneeL
                        p.ArmL <- armEl
                        p.ArmR <- armEl
                        p.ArmAzL <- armAz
                        p.ArmAzR <- armAz
                        p.ElbowL <- elbow
                        p.ElbowR <- elbow
            }
        | 3 ->
            let hz = jit s.WaveHz 0.1
            let amp = jit s.WaveAmpDeg 0.2 * deg
            let plane = Math.Clamp(s.WavePlaneDeg + u -10.0 10.0, 0.0, 55.0) * deg
            let raised = u 110.0 160.0 * deg
            let elbowAmp = u 15.0 40.0 * deg
            let lag = u 0.0 1.5
            let both = rng.NextDouble() < 0.15
            let sway = u 0.2 0.5

            {
                Placement = inPlace false
                Animate =
                    fun p t ->
                        standStill b p t sway phase0
                        let w = 2.0 * Math.PI * hz * t + phase0
                        let el = raised + amp * sin w
                        let elbow = 30.0 * deg + elbowAmp * sin (w + lag)

                        if s.WaveRight || both then
                            p.ArmR <- el
                            p.ArmAzR <- plane
                            p.ElbowR <- elbow

                        if not s.WaveRight || both then
                            p.ArmL <- el
                            p.ArmAzL <- plane
                            p.ElbowL <- elbow
            }
        | 4 ->
            match rng.Next 3 with
            | 0 -> walk ()
            | 1 ->
                // Standing idle: swaying, one arm drifting a little (adjusting a sleeve, scratching). Larger, faster
                // arm gestures were dropped: they read as waving or sit-ups too often for the high 90s.
                let hz = u 0.1 0.3
                let reach = u 10.0 30.0 * deg
                let az = u 0.0 90.0 * deg
                let elbow = u 10.0 60.0 * deg
                let right = rng.NextDouble() < 0.5
                let sway = u 0.2 0.5

                {
                    Placement = inPlace false
                    Animate =
                        fun p t ->
                            standStill b p t sway phase0
                            let el = 10.0 * deg + reach * raisedCos (hz * t + phase0 / (2.0 * Math.PI))

                            if right then
                                p.ArmR <- el
                                p.ArmAzR <- az
                                p.ElbowR <- elbow
                            else
                                p.ArmL <- el
                                p.ArmAzL <- az
                                p.ElbowL <- elbow
                }
            | _ ->
                // Turning on the spot while stepping. (Bending down was dropped: it looked like a sit-up to the
                // radar so often that no model could reach the high 90s the default data is meant for.)
                let rate = u 0.8 2.5 * (if rng.NextDouble() < 0.5 then 1.0 else -1.0)

                let g = {
                    Speed = 0.0
                    StepHz = u 1.6 2.0
                    HipAmp = u 8.0 14.0 * deg
                    KneeBase = 5.0 * deg
                    KneeAmp = u 20.0 30.0 * deg
                    ArmAmp = u 5.0 15.0 * deg
                    Elbow = u 10.0 20.0 * deg
                    Bounce = 0.01
                    Lean = 2.0 * deg
                    Phase = phase0
                }

                {
                    Placement = inPlace false
                    Animate =
                        fun p t ->
                            gait b g p t
                            p.Yaw <- rate * t
                }
        | _ -> invalidArg "cls" $"class {cls} is not one of 0..{classes.Length - 1}"

    /// The complex baseband return of one recording (body + static clutter + white noise).
    let echo (cfg: Config) (subject: SubjectParams) (cls: int) (rng: Random) : Complex32[] =
        checkConfig cfg
        let motion = motionOf cfg subject cls rng
        let b = bodyOf subject
        let pl = motion.Placement
        let n = samplesPerRecording cfg
        let refl = subject.Reflectivity |> Array.map (fun a -> a * exp (0.1 * gauss rng))
        let snr = uniform rng (fst cfg.SnrDb) (snd cfg.SnrDb)
        let clutterDb = uniform rng (fst cfg.ClutterDb) (snd cfg.ClutterDb)
        let pose = newPose ()
        let px = Array.zeroCreate<float> parts
        let py = Array.zeroCreate<float> parts
        let pz = Array.zeroCreate<float> parts
        let re = Array.zeroCreate<float> n
        let im = Array.zeroCreate<float> n
        let k4 = 4.0 * Math.PI * cfg.CarrierHz / speedOfLight
        // Amplitudes fall as R^-2 (power as R^-4), referred to 3 m so typical values stay near 1.
        let rRef2 = 9.0
        // The body moves slowly next to the carrier phase, so poses are computed every `step` samples
        // and ranges interpolated linearly between them (at fs = 2 kHz a 2 ms step errs by < 0.1 mm even
        // for a foot accelerating at 200 m/s^2); within a step each phasor then rotates by a constant.
        let step = 4
        let knots = (n + step - 1) / step + 1
        let ranges = Array.zeroCreate<float>(knots * parts)

        for j in 0 .. knots - 1 do
            motion.Animate pose (float (j * step) / cfg.SampleRateHz)
            place b pl pose px py pz

            for k in 0 .. parts - 1 do
                let dz = pz[k] - pl.RadarZ
                ranges[j * parts + k] <- sqrt (px[k] * px[k] + py[k] * py[k] + dz * dz)

        for j in 0 .. knots - 2 do
            let first = j * step
            let last = min n (first + step) - 1

            for k in 0 .. parts - 1 do
                let r0 = ranges[j * parts + k]
                let r1 = ranges[(j + 1) * parts + k]
                let a = refl[k] * rRef2 / (r0 * r0)
                let struct (s0, c0) = Math.SinCos(-k4 * r0)
                let struct (ds, dc) = Math.SinCos(-k4 * (r1 - r0) / float step)
                let mutable c = a * c0
                let mutable s = a * s0

                for i in first..last do
                    re[i] <- re[i] + c
                    im[i] <- im[i] + s
                    let c' = c * dc - s * ds
                    s <- c * ds + s * dc
                    c <- c'

        let mutable bodyPower = 0.0

        for i in 0 .. n - 1 do
            bodyPower <- bodyPower + re[i] * re[i] + im[i] * im[i]

        bodyPower <- bodyPower / float n

        // Static clutter: a few fixed reflectors (walls, furniture) with random phases; together at zero Doppler.
        let m = max 0 cfg.ClutterScatterers

        if m > 0 then
            let weights = Array.init m (fun _ -> rng.NextDouble() + 0.1)
            let total = Array.sum (weights |> Array.map (fun w -> w * w))
            let scale = sqrt (bodyPower * Math.Pow(10.0, clutterDb / 10.0) / total)
            let mutable cr = 0.0
            let mutable ci = 0.0

            for w in weights do
                let ph = 2.0 * Math.PI * rng.NextDouble()
                cr <- cr + scale * w * cos ph
                ci <- ci + scale * w * sin ph

            for i in 0 .. n - 1 do
                re[i] <- re[i] + cr
                im[i] <- im[i] + ci

        // Circular complex white noise at the drawn SNR over the whole band.
        let sigma = sqrt (bodyPower / Math.Pow(10.0, snr / 10.0) / 2.0)

        Array.init n (fun i ->
            let struct (g1, g2) = gaussPair rng
            Complex32(float32 (re[i] + sigma * g1), float32 (im[i] + sigma * g2)))

    /// One 64x64x1 spectrogram (HWC, H = Doppler, W = time, values in [0, 1]) of a subject doing class `cls`.
    let sample (cfg: Config) (subject: SubjectParams) (cls: int) (rng: Random) : float32[] =
        spectrogram cfg (echo cfg subject cls rng)

    /// The data set's source line: what made it, with which settings, and its licence.
    let source (cfg: Config) (subjects: int) (perClass: int) (seed: int) : string =
        let ghz = cfg.CarrierHz / 1e9

        $"Tern synthetic CW radar micro-Doppler, seed {seed}, {subjects} subjects x {perClass} per class; "
        + $"{ghz:G4} GHz carrier, fs {cfg.SampleRateHz:G6} Hz, {cfg.DurationS:G4} s, Hann {cfg.Window} / hop {cfg.Hop} / FFT {cfg.FftSize}, "
        + $"SNR {fst cfg.SnrDb:G3}..{snd cfg.SnrDb:G3} dB; simulated, no recorded data, free to use"

    /// A simulated data set: subjects 0..subjects-1, each with perClass samples of every class
    /// (subject-major, then class, then index); identical for a seed whatever the thread count.
    let synth (cfg: Config) (subjects: int) (perClass: int) (seed: int) : Dataset =
        checkConfig cfg

        if subjects < 1 || subjects > 65536 then
            invalidArg "subjects" $"{subjects} subjects; need 1..65536"

        if perClass < 1 then
            invalidArg "perClass" $"{perClass} samples per class; need at least 1"

        let nc = classes.Length
        let people = Array.init subjects (subject seed)
        let n = subjects * nc * perClass
        let samples = Array.zeroCreate<float32[]> n

        // Each sample has its own generator seeded from (seed, subject, class, index), so the schedule
        // of the parallel loop cannot change any value.
        Parallel.For(
            0,
            n,
            fun i ->
                let s = i / (nc * perClass)
                let c = (i / perClass) % nc
                let k = i % perClass
                samples[i] <- sample cfg people[s] c (Random(sampleSeed seed s c k))
        )
        |> ignore

        {
            Shape = shape
            Classes = classes
            Samples = samples
            Labels = Array.init n (fun i -> (i / perClass) % nc)
            Subjects = Array.init n (fun i -> i / (nc * perClass))
            SubjectNames = []
            Source = source cfg subjects perClass seed
            Augment = TimeShift
        }

    // ---------------------------------------------------------------- streams of overlapping windows

    /// Overlapping windows cut from long recordings (one per subject and class), in time order per stream.
    type RadarStream = {
        /// The windows as a data set (subject-major, then class, then window index), each a normal sample.
        Data: Dataset
        /// Stream id of each window (subject * classes + class); a stream's windows are consecutive.
        Streams: int[]
        /// STFT frames between the starts of consecutive windows (= columns window t+1 is shifted by).
        HopFrames: int
    }

    /// Baseband samples of a recording long enough for `windows` windows every `hopFrames` STFT frames.
    let streamSamples (cfg: Config) (windows: int) (hopFrames: int) : int =
        samplesPerRecording cfg + (windows - 1) * hopFrames * cfg.Hop

    /// Window t of a long recording: the spectrogram of the samples from t * hopFrames * Hop on, exactly as
    /// `spectrogram` makes a normal recording (so each window is normalised on its own, like every sample).
    let streamWindow (cfg: Config) (signal: Complex32[]) (hopFrames: int) (t: int) : float32[] =
        let n = samplesPerRecording cfg
        let start = t * hopFrames * cfg.Hop

        if start + n > signal.Length then
            invalidArg "t" $"window {t} ends at sample {start + n}, past the recording's {signal.Length}"

        spectrogram cfg signal[start .. start + n - 1]

    /// The long recording of one stream (its own generator, distinct from every `synth` sample's).
    let streamEcho (cfg: Config) (person: SubjectParams) (cls: int) (windows: int) (hopFrames: int) (seed: int) =
        let n = streamSamples cfg windows hopFrames
        // DurationS fixes the sample count; n / fs rounds back to exactly n.
        let long = {
            cfg with
                DurationS = float n / cfg.SampleRateHz
        }

        echo long person cls (Random(seedOf [ seed; person.Id; cls; 0x57 ]))

    /// Streams of consecutive overlapping windows: per subject and class one recording cut into `windows`
    /// 64x64 spectrograms, each `hopFrames` STFT frames after the previous one (so window t+1 is window t
    /// shifted left by hopFrames columns, up to the per-window normalisation). Deterministic by seed.
    let stream (cfg: Config) (subjects: int) (windows: int) (hopFrames: int) (seed: int) : RadarStream =
        checkConfig cfg

        if subjects < 1 || subjects > 65536 then
            invalidArg "subjects" $"{subjects} subjects; need 1..65536"

        if windows < 1 then
            invalidArg "windows" $"{windows} windows per stream; need at least 1"

        if hopFrames < 1 then
            invalidArg "hopFrames" $"hop of {hopFrames} frames; need at least 1"

        let nc = classes.Length
        let people = Array.init subjects (subject seed)
        let streams = subjects * nc
        let samples = Array.zeroCreate<float32[]>(streams * windows)

        Parallel.For(
            0,
            streams,
            fun s ->
                let signal = streamEcho cfg people[s / nc] (s % nc) windows hopFrames seed

                for t in 0 .. windows - 1 do
                    samples[s * windows + t] <- streamWindow cfg signal hopFrames t
        )
        |> ignore

        let n = samples.Length
        let seconds = float (streamSamples cfg windows hopFrames) / cfg.SampleRateHz

        {
            Data = {
                Shape = shape
                Classes = classes
                Samples = samples
                Labels = Array.init n (fun i -> (i / windows) % nc)
                Subjects = Array.init n (fun i -> i / (windows * nc))
                SubjectNames = []
                Source =
                    source cfg subjects 1 seed
                    + $"; streams of {windows} windows every {hopFrames} STFT frames ({seconds:G4} s recordings)"
                Augment = TimeShift
            }
            Streams = Array.init n (fun i -> i / windows)
            HopFrames = hopFrames
        }
