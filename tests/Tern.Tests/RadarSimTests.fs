module Tern.Tests.RadarSimTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open MathNet.Numerics
open Tern.Core
open Tern.Runtime

module private Gens =
    /// (data set seed, subject index, class, sample index): one simulated recording.
    let recordings =
        gen {
            let! seed = Gen.choose (0, 1_000_000)
            let! subject = Gen.choose (0, 40)
            let! cls = Gen.choose (0, RadarSim.classes.Length - 1)
            let! index = Gen.choose (0, 100)
            return seed, subject, cls, index
        }
        |> Arb.fromGen

    /// Radial speeds in m/s inside the unambiguous band of the default config (|v| < 6.2 m/s).
    let speeds =
        Gen.choose (-560, 560) |> Gen.map (fun cm -> float cm / 100.0) |> Arb.fromGen

let private cfg = RadarSim.defaultConfig

let private tempDir () =
    Path.Combine(Path.GetTempPath(), "tern-radar-" + Guid.NewGuid().ToString("N"))

let private savedBytes (d: Dataset) =
    let dir = tempDir ()

    try
        Dataset.save dir d

        [ "samples.f32"; "labels.u8"; "subjects.u16"; "dataset.json" ]
        |> List.map (fun f -> File.ReadAllBytes(Path.Combine(dir, f)))
    finally
        if Directory.Exists dir then
            Directory.Delete(dir, true)

/// Mean distance in rows from zero Doppler, weighted by the pixels above half scale.
let private dopplerSpread (s: float32[]) =
    let mutable weight = 0.0
    let mutable acc = 0.0

    for h in 0 .. RadarSim.size - 1 do
        for w in 0 .. RadarSim.size - 1 do
            let v = float s[h * RadarSim.size + w]

            if v > 0.5 then
                weight <- weight + v
                acc <- acc + v * float (abs (h - RadarSim.size / 2))

    acc / weight

// Six subjects, six recordings of each class: shared by the statistical tests below.
let private study = lazy (RadarSim.synth cfg 6 6 7)

let private ``classes are the radar architecture's, in its order`` () =
    Expect.isTrue (RadarSim.classes = Architectures.radarClasses) "the radar architecture's classes"

let private ``the default config gives exactly 64 frames and covers a jogger's speed`` () =
    let n = RadarSim.samplesPerRecording cfg
    Expect.equal ((n - cfg.Window) / cfg.Hop + 1) 64 "frames per recording"
    Expect.isGreaterThan (RadarSim.speedOfDoppler cfg (cfg.SampleRateHz / 2.0)) 6.0 "the fastest speed seen (m/s)"
    Expect.equal RadarSim.shape (Shape3(64, 64, 1)) "the sample shape"

let private ``the same seed gives identical bytes and another seed different ones`` () =
    let a = savedBytes (RadarSim.synth cfg 2 1 42)
    let b = savedBytes (RadarSim.synth cfg 2 1 42)
    let c = savedBytes (RadarSim.synth cfg 2 1 43)
    Expect.isTrue (b = a) "same seed, same bytes"
    Expect.isFalse (c.Head = a.Head) "another seed, other samples"

let private ``synth equals sequential sampling with the per-sample seeds, whatever the thread schedule`` () =
    let seed, subjects, perClass = 5, 2, 2
    let d = RadarSim.synth cfg subjects perClass seed
    let mutable i = 0

    for s in 0 .. subjects - 1 do
        let person = RadarSim.subject seed s

        for c in 0 .. RadarSim.classes.Length - 1 do
            for k in 0 .. perClass - 1 do
                let alone = RadarSim.sample cfg person c (Random(RadarSim.sampleSeed seed s c k))
                Expect.isTrue (d.Samples[i] = alone) $"sample {i}"
                i <- i + 1

let private ``labels and subjects are as requested and balanced`` () =
    let subjects, perClass = 3, 2
    let d = RadarSim.synth cfg subjects perClass 11
    let nc = RadarSim.classes.Length
    Expect.equal (Dataset.validate d) (Ok()) "the data set is valid"
    Expect.equal d.Shape RadarSim.shape "the data set's shape"
    Expect.equal d.Samples.Length (subjects * nc * perClass) "the sample count"
    Expect.stringContains d.Source "seed 11" "the source names the seed"

    for s in 0 .. subjects - 1 do
        for c in 0 .. nc - 1 do
            let count =
                Array.zip d.Subjects d.Labels
                |> Array.filter (fun (s', c') -> s' = s && c' = c)
                |> Array.length

            Expect.equal count perClass $"subject {s}, class {c}"

let private ``subjects differ from each other and are reproducible`` () =
    let a = RadarSim.subject 3 0
    Expect.equal (RadarSim.subject 3 0) a "the same subject again"
    Expect.notEqual (RadarSim.subject 3 1).HeightM a.HeightM "another subject of the same seed"
    Expect.notEqual (RadarSim.subject 4 0).HeightM a.HeightM "the same subject of another seed"

let private ``every sample is 64x64x1, finite, in [0, 1] and peaks at 1`` () =
    Prop.forAll Gens.recordings (fun (seed, s, c, k) ->
        let x =
            RadarSim.sample cfg (RadarSim.subject seed s) c (Random(RadarSim.sampleSeed seed s c k))

        (x.Length = RadarSim.shape.Size
         && x |> Array.forall (fun v -> Single.IsFinite v && v >= 0.0f && v <= 1.0f)
         && Array.max x = 1.0f)
        |> Prop.classify true RadarSim.classes[c])

let private ``a point moving at constant radial speed shows at f_d = 2 v f_c / c, approaching above zero`` () =
    Prop.forAll Gens.speeds (fun v ->
        // v > 0 approaches: the range shrinks.
        let n = RadarSim.samplesPerRecording cfg

        let signal =
            Array.init n (fun i ->
                let ph = RadarSim.phase cfg (8.0 - v * float i / cfg.SampleRateHz)
                Complex32(float32 (cos ph), float32 (sin ph)))

        let spec = RadarSim.spectrogram cfg signal
        let fd = 2.0 * v * cfg.CarrierHz / RadarSim.speedOfLight
        let rowHz = cfg.SampleRateHz / float RadarSim.size

        let expected =
            RadarSim.size / 2 + int (Math.Round(fd / rowHz, MidpointRounding.AwayFromZero))

        let rows =
            Array.init RadarSim.size (fun w ->
                Array.init RadarSim.size (fun h -> spec[h * RadarSim.size + w]) |> Tensor.argmax)

        (rows |> Array.forall (fun h -> abs (h - expected) <= 1)
         && (v < 0.2 || rows |> Array.forall (fun h -> h > RadarSim.size / 2))
         && (v > -0.2 || rows |> Array.forall (fun h -> h < RadarSim.size / 2)))
        |> Prop.classify (v > 0.0) "approaching"
        |> Prop.classify (v < 0.0) "receding"
        |> Prop.classify (abs v > 4.0) "faster than 4 m/s")

let private ``dopplerHz and speedOfDoppler agree with the tone's row`` () =
    Expect.equal (RadarSim.dopplerHz cfg 32) 0.0 "the middle row is 0 Hz"
    Expect.equal (RadarSim.dopplerHz cfg 33) (cfg.SampleRateHz / 64.0) "one row above the middle"

    Expect.floatClose
        { absolute = 1e-9; relative = 0.0 }
        (RadarSim.speedOfDoppler cfg (2.0 * 1.5 * cfg.CarrierHz / RadarSim.speedOfLight))
        1.5
        "the speed of 1.5 m/s's Doppler shift"

let private ``class means differ in Doppler spread while subjects vary within a class`` () =
    let d = study.Force()

    let stats c =
        let sp = [|
            for i in 0 .. d.Samples.Length - 1 do
                if d.Labels[i] = c then
                    dopplerSpread d.Samples[i]
        |]

        let m = Array.average sp
        m, sqrt (sp |> Array.averageBy (fun x -> (x - m) * (x - m)))

    let all = Array.init RadarSim.classes.Length stats
    let jogging, jumping, situp = fst all[0], fst all[1], fst all[2]
    Expect.isGreaterThan jogging (2.0 * jumping) "jogging sweeps far wider than jumping"
    Expect.isGreaterThan jumping situp "jumping sweeps wider than sit-ups"

    for c in 0 .. all.Length - 1 do
        let m, sd = all[c]
        Expect.isGreaterThan (sd / m) 0.15 $"{RadarSim.classes[c]}: spread {m:F2} +- {sd:F2}"

let private ``a nearest-class-mean classifier on held-out subjects beats chance but is not perfect`` () =
    let d = study.Force()
    let heldOut i = d.Subjects[i] >= 4
    let n = d.Samples.Length

    let means =
        Array.init RadarSim.classes.Length (fun c ->
            let idx = [|
                for i in 0 .. n - 1 do
                    if not (heldOut i) && d.Labels[i] = c then
                        i
            |]

            Array.init RadarSim.shape.Size (fun p -> idx |> Array.averageBy (fun i -> d.Samples[i][p])))

    let dist (x: float32[]) (m: float32[]) =
        Array.fold2 (fun a (u: float32) v -> a + (u - v) * (u - v)) 0.0f x m

    let tested = [|
        for i in 0 .. n - 1 do
            if heldOut i then
                i
    |]

    let correct =
        tested
        |> Array.filter (fun i ->
            Array.init means.Length (fun c -> -(dist d.Samples[i] means[c]))
            |> Tensor.argmax
                =
                d.Labels[i])
        |> Array.length

    let accuracy = float correct / float tested.Length
    printfn $"nearest class mean, held-out subjects: {accuracy:P1} of {tested.Length}"
    Expect.isGreaterThan accuracy 0.3 "well above chance (20 %)"
    Expect.isLessThan accuracy 1.0 "not trivially separable"

let private ``a bad config is refused with the field named`` () =
    let ex =
        Expect.throwsC (fun () -> RadarSim.checkConfig { cfg with FftSize = 100 }) id

    Expect.isTrue (ex.GetType() = typeof<ArgumentException>) $"an ArgumentException, not {ex.GetType().Name}"
    Expect.stringContains ex.Message "FftSize" "the message names the field"

[<Tests>]
let tests =
    testList "RadarSimTests" [
        testCase
            "classes are the radar architecture's, in its order"
            ``classes are the radar architecture's, in its order``
        testCase
            "the default config gives exactly 64 frames and covers a jogger's speed"
            ``the default config gives exactly 64 frames and covers a jogger's speed``
        testCase
            "the same seed gives identical bytes and another seed different ones"
            ``the same seed gives identical bytes and another seed different ones``
        testCase
            "synth equals sequential sampling with the per-sample seeds, whatever the thread schedule"
            ``synth equals sequential sampling with the per-sample seeds, whatever the thread schedule``
        testCase
            "labels and subjects are as requested and balanced"
            ``labels and subjects are as requested and balanced``
        testCase
            "subjects differ from each other and are reproducible"
            ``subjects differ from each other and are reproducible``
        testPropertyWithConfig
            (Properties.tests 15)
            "every sample is 64x64x1, finite, in [0, 1] and peaks at 1"
            ``every sample is 64x64x1, finite, in [0, 1] and peaks at 1``
        testPropertyWithConfig
            (Properties.tests 40)
            "a point moving at constant radial speed shows at f_d = 2 v f_c / c, approaching above zero"
            ``a point moving at constant radial speed shows at f_d = 2 v f_c / c, approaching above zero``
        testCase
            "dopplerHz and speedOfDoppler agree with the tone's row"
            ``dopplerHz and speedOfDoppler agree with the tone's row``
        testCase
            "class means differ in Doppler spread while subjects vary within a class"
            ``class means differ in Doppler spread while subjects vary within a class``
        testCase
            "a nearest-class-mean classifier on held-out subjects beats chance but is not perfect"
            ``a nearest-class-mean classifier on held-out subjects beats chance but is not perfect``
        testCase "a bad config is refused with the field named" ``a bad config is refused with the field named``
    ]
