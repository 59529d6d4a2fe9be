module Tern.Tests.GammaQuantTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core

/// Generators and helpers of this file only.
module private GammaGen =
    /// A learned stage (global or per-axis) with parameters in the ranges training keeps them in.
    let stage: Gen<InputStage> =
        gen {
            let! perAxis = Gen.elements [ false; true ]
            let! bits = Gen.choose (1, 8)
            let! channels = Gen.choose (1, 4)
            let n = if perAxis then channels else 1

            let! gammas =
                Gen.arrayOfLength n (Gen.choose (20, 250) |> Gen.map (fun g -> float g / 100.0))

            let! mus =
                Gen.arrayOfLength n (Gen.choose (-50, 50) |> Gen.map (fun m -> float m / 100.0))

            let s =
                GammaQuant.create (if perAxis then GammaPerAxis else GammaGlobal) bits channels

            return { s with Gamma = gammas; Mu = mus }
        }

    /// Values in [-1, 1] on a fine grid, some exactly at the ends.
    let value: Gen<float32> =
        Gen.frequency [
            8, Gen.choose (-10000, 10000) |> Gen.map (fun v -> float32 v / 10000.0f)
            1, Gen.elements [ -1.0f; 1.0f; 0.0f ]
        ]

    /// A stage, a sample of W x C values and an upstream gradient per value.
    let case: Arbitrary<InputStage * float32[] * float32[]> =
        gen {
            let! s = stage
            let! w = Gen.choose (1, 6)
            let! x = Gen.arrayOfLength (w * s.Channels) value

            let! up =
                Gen.arrayOfLength (w * s.Channels) (Gen.choose (-100, 100) |> Gen.map (fun v -> float32 v / 100.0f))

            return s, x, up
        }
        |> Arb.fromGen

    let slot (s: InputStage) (i: int) =
        if s.Method = GammaPerAxis then i % s.Channels else 0

    /// True when value i sits where the continuous forward has a kink or a jump (x = mu, or the clamp edge),
    /// so a finite difference there measures the kink, not the gradient.
    let nearKink (s: InputStage) (x: float32[]) (i: int) =
        let k = slot s i
        let d = abs (float x[i] - s.Mu[k])
        let p = Math.Pow(d + s.Eps, s.Gamma[k])
        d < 1e-2 || abs (p - 1.0) < 1e-3

    /// sum_i up_i * continuous_i: the scalar whose gradient the stage's backward pass returns.
    let objective (s: InputStage) (x: float32[]) (up: float32[]) =
        Array.fold2 (fun acc c u -> acc + c * float u) 0.0 (GammaQuant.continuous s x) up

    /// A learnable 3-class set of 1 x 16 x 3 windows: each class shakes one axis, gravity sits on z.
    let tinyData (seed: int) (subjects: int) (perClass: int) : Dataset =
        let rng = Random(seed)
        let w = 16

        let samples, labels, ids =
            [|
                for s in 0 .. subjects - 1 do
                    for c in 0..2 do
                        for _ in 1..perClass do
                            let phase = rng.NextDouble() * 6.28

                            let x =
                                Array.init (w * 3) (fun i ->
                                    let t, ch = i / 3, i % 3
                                    let shake = if ch = c then 0.25 * sin (phase + float t * 0.9) else 0.0
                                    let gravity = if ch = 2 then 0.5 else 0.0
                                    float32 (shake + gravity + 0.03 * (rng.NextDouble() - 0.5)))

                            yield x, c, s
            |]
            |> Array.unzip3

        {
            Shape = Shape3(1, w, 3)
            Classes = [ "x"; "y"; "z" ]
            Samples = samples
            Labels = labels
            Subjects = ids
            SubjectNames = []
            Source = "test"
            Augment = NoAugmentation
        }

    let trainConfig (seed: int) (threads: int) = {
        GammaQuant.defaultConfig with
            Train = {
                GammaQuant.defaultConfig.Train with
                    Epochs = 6
                    BatchSize = 16
                    Patience = None
                    Seed = seed
                    Threads = threads
            }
    }

    let fitTiny (m: InputMethod) (seed: int) (threads: int) =
        let d = tinyData 3 2 12
        let model = Architectures.rawFor d.Shape d.Classes seed
        GammaQuant.fit (trainConfig seed threads) model (GammaQuant.create m 2 3) (d.Samples, d.Labels) None ignore

    let weights (m: Model) = Generators.parameterArrays m

/// Expects `x` in [lo, hi].
let private inRange (lo: float) (hi: float) (x: float) (what: string) =
    Expect.isTrue (x >= lo && x <= hi) $"{what}: {x} not in [{lo}, {hi}]"

[<Tests>]
let tests =
    testList "GammaQuantTests" [
        testPropertyWithConfig
            (Properties.tests 200)
            "the stage's gradient to gamma and mu matches finite differences of the continuous forward"
        <| fun () ->
            Prop.forAll GammaGen.case (fun (s, x, up) ->
                // Values at a kink contribute a one-sided slope: leave them out of both sides of the comparison.
                let keep = Array.init x.Length (fun i -> not (GammaGen.nearKink s x i))
                let up = Array.mapi (fun i u -> if keep[i] then u else 0.0f) up
                let dg, dm = GammaQuant.gradient s [| x |] [| up |]
                let h = 1e-6

                let fd (bump: InputStage -> int -> float -> InputStage) k =
                    (GammaGen.objective (bump s k h) x up - GammaGen.objective (bump s k -h) x up)
                    / (2.0 * h)

                let withGamma (s: InputStage) k e = {
                    s with
                        Gamma = s.Gamma |> Array.mapi (fun j g -> if j = k then g + e else g)
                }

                let withMu (s: InputStage) k e = {
                    s with
                        Mu = s.Mu |> Array.mapi (fun j m -> if j = k then m + e else m)
                }

                let clamped =
                    GammaQuant.continuous s x |> Array.exists (fun c -> c <= -1.0 || c >= 1.0)

                let ok =
                    [ 0 .. s.Gamma.Length - 1 ]
                    |> List.forall (fun k ->
                        let close (a: float) (b: float) =
                            abs (a - b) <= 1e-4 * (1.0 + abs a + abs b)

                        close dg[k] (fd withGamma k) && close dm[k] (fd withMu k))

                ok
                |> Prop.classify clamped "some values clamped"
                |> Prop.classify (s.Method = GammaPerAxis) "per-axis"
                |> Prop.classify (s.Gamma |> Array.exists (fun g -> g < 1.0)) "gamma < 1")

        testPropertyWithConfig
            (Properties.tests 200)
            "per-axis with equal axes is the global stage, and its gradient sums to the global one"
        <| fun () ->
            Prop.forAll GammaGen.case (fun (s, x, up) ->
                let g = {
                    s with
                        Method = GammaGlobal
                        Gamma = [| s.Gamma[0] |]
                        Mu = [| s.Mu[0] |]
                }

                let p = {
                    s with
                        Method = GammaPerAxis
                        Gamma = Array.create s.Channels s.Gamma[0]
                        Mu = Array.create s.Channels s.Mu[0]
                }

                let dgG, dmG = GammaQuant.gradient g [| x |] [| up |]
                let dgP, dmP = GammaQuant.gradient p [| x |] [| up |]

                GammaQuant.apply g x = GammaQuant.apply p x
                && abs (dgG[0] - Array.sum dgP) <= 1e-9 * (1.0 + abs dgG[0])
                && abs (dmG[0] - Array.sum dmP) <= 1e-9 * (1.0 + abs dmG[0]))

        testPropertyWithConfig
            (Properties.tests 300)
            "the linear method is Quantize's linear quantizer mapped back to [-1, 1]"
        <| fun () ->
            let arb =
                gen {
                    let! bits = Gen.choose (1, 16)
                    let! x = Gen.arrayOfLength 6 GammaGen.value
                    return bits, x
                }
                |> Arb.fromGen

            Prop.forAll arb (fun (bits, x) ->
                let s = GammaQuant.create LinearInput bits 3
                let l = float ((1 <<< bits) - 1)

                let expected =
                    x
                    |> Array.map (fun v -> float32 (float (Quantize.Gamma.linear bits (float v)) / l * 2.0 - 1.0))

                let codes = x |> Array.mapi (fun i v -> GammaQuant.code s i (float v))

                (GammaQuant.apply s x = expected
                 && codes = (x |> Array.map (fun v -> Quantize.Gamma.linear bits (float v))))
                |> Prop.classify (bits <= 2) "2 bits or fewer")

        testCase "a fresh stage has the seed's initial values and only learned methods have parameters"
        <| fun () ->
            let g = GammaQuant.create GammaPerAxis 2 3
            Expect.equal g.Gamma [| 0.4; 0.4; 0.4 |] "per-axis gamma starts at 0.4"
            Expect.equal g.Mu [| 0.0; 0.0; 0.0 |] "per-axis mu starts at 0"
            Expect.equal g.Eps 1e-3 "eps"
            Expect.equal (GammaQuant.create GammaGlobal 4 3).Gamma.Length 1 "global: one gamma"
            Expect.isEmpty (GammaQuant.create LinearInput 4 3).Gamma "linear: no gamma"

            Expect.equal
                (GammaQuant.apply (GammaQuant.create RawInput 0 3) [| 0.123f |])
                [| 0.123f |]
                "raw passes values through"

            Expect.throwsT<ArgumentException>
                (fun () -> GammaQuant.create LinearInput 17 3 |> ignore)
                "17 bits are refused"

            Expect.throwsT<ArgumentException>
                (fun () -> GammaQuant.create GammaGlobal 0 3 |> ignore)
                "0 bits are refused"

        testCase "joint training on a tiny learnable set lowers the loss, moves gamma and is deterministic by seed"
        <| fun () ->
            let a = GammaGen.fitTiny GammaPerAxis 4 1
            let b = GammaGen.fitTiny GammaPerAxis 4 2
            let first, last = a.History.Head, List.last a.History
            Expect.isLessThan last.TrainLoss (first.TrainLoss * 0.8) "the loss falls by a fifth"
            Expect.isTrue (a.Stage.Gamma |> Array.exists (fun g -> abs (g - 0.4) > 1e-3)) "gamma moves"

            for g in a.Stage.Gamma do
                inRange 0.05 4.0 g "gamma"

            for m in a.Stage.Mu do
                inRange -1.0 1.0 m "mu"

            // One thread or two: the same bits.
            Expect.equal b.Stage.Gamma a.Stage.Gamma "gamma on 2 threads and on 1"
            Expect.equal b.Stage.Mu a.Stage.Mu "mu on 2 threads and on 1"
            Expect.equal (GammaGen.weights b.Model) (GammaGen.weights a.Model) "weights on 2 threads and on 1"
            let c = GammaGen.fitTiny GammaPerAxis 5 2
            Expect.notEqual (GammaGen.weights c.Model) (GammaGen.weights a.Model) "another seed, other weights"

        testCase "early stopping keeps the best epoch's network and stage"
        <| fun () ->
            let d = GammaGen.tinyData 8 3 6
            let train = d.Samples[..35], d.Labels[..35]
            let valid = d.Samples[36..], d.Labels[36..]
            let cfg = GammaGen.trainConfig 2 2

            let cfg = {
                cfg with
                    Train = {
                        cfg.Train with
                            Patience = Some 2
                            Epochs = 8
                    }
            }

            let r =
                GammaQuant.fit
                    cfg
                    (Architectures.rawFor d.Shape d.Classes 2)
                    (GammaQuant.create GammaGlobal 2 3)
                    train
                    (Some valid)
                    ignore

            let best = r.History[r.BestEpoch - 1]
            Expect.equal r.Stage.Gamma best.Gamma "the best epoch's gamma"
            Expect.equal r.Stage.Mu best.Mu "the best epoch's mu"
            let bestLoss = r.History |> List.choose _.ValidLoss |> List.min
            Expect.equal best.ValidLoss (Some bestLoss) "the best epoch has the least validation loss"
    ]
