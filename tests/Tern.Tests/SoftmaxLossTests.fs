module Tern.Tests.SoftmaxLossTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// Generators and helpers of this file only.
module private LossGen =
    /// Logits of 2 to 6 classes in [-4, 4] (quarter steps), a label, a second set of logits (a teacher's), a
    /// smoothing in [0, 0.5], a temperature in [0.5, 8] and a blend weight in [0, 1].
    type Case = {
        Z: float[]
        Label: int
        Teacher: float[]
        Smoothing: float
        Temperature: float
        Weight: float
    }

    let case: Arbitrary<Case> =
        gen {
            let! k = Gen.choose (2, 6)

            let logits =
                Gen.arrayOfLength k (Gen.choose (-16, 16) |> Gen.map (fun v -> float v / 4.0))

            let! z = logits
            let! t = logits
            let! label = Gen.choose (0, k - 1)
            let! e = Gen.choose (0, 50)
            let! temp = Gen.choose (1, 16)
            let! a = Gen.choose (0, 10)

            return {
                Z = z
                Label = label
                Teacher = t
                Smoothing = float e / 100.0
                Temperature = float temp / 2.0
                Weight = float a / 10.0
            }
        }
        |> Arb.fromGen

    /// Central differences of f at z, coordinate by coordinate.
    let numericGradient (f: float[] -> float) (z: float[]) : float[] =
        let h = 1e-5

        Array.init z.Length (fun j ->
            let up = Array.copy z
            let down = Array.copy z
            up[j] <- up[j] + h
            down[j] <- down[j] - h
            (f up - f down) / (2.0 * h))

    let close (a: float[]) (b: float[]) =
        Array.forall2 (fun (x: float) y -> abs (x - y) <= 1e-6 + 1e-6 * abs y) a b

    /// A loss's analytic gradient at z agrees with its central differences.
    let gradientMatches (loss: float[] -> float * float[]) (z: float[]) : Property =
        let _, grad = loss z
        let numeric = numericGradient (loss >> fst) z
        close grad numeric |> Prop.label $"analytic %A{grad} numeric %A{numeric}"

open LossGen

[<Tests>]
let tests =
    testList "SoftmaxLossTests" [
        testPropertyWithConfig (Properties.tests 200) "Smoothing 0 is exactly the plain cross-entropy and its gradient"
        <| fun () ->
            Prop.forAll case (fun c ->
                let loss, grad = SoftmaxLoss.crossEntropy 0.0 c.Z c.Label
                let mx = Array.max c.Z
                let sum = c.Z |> Array.sumBy (fun v -> exp (v - mx))

                let plainGrad =
                    c.Z
                    |> Array.mapi (fun j v -> exp (v - mx) / sum - (if j = c.Label then 1.0 else 0.0))

                loss = mx + log sum - c.Z[c.Label] && grad = plainGrad)

        testPropertyWithConfig
            (Properties.tests 200)
            "The smoothed cross-entropy's gradient matches central differences"
        <| fun () ->
            Prop.forAll case (fun c -> gradientMatches (fun z -> SoftmaxLoss.crossEntropy c.Smoothing z c.Label) c.Z)

        testPropertyWithConfig
            (Properties.tests 200)
            "The smoothed loss is least at the smoothed target, no longer at one-hot"
        <| fun () ->
            Prop.forAll case (fun c ->
                let k = c.Z.Length
                let e = max 0.05 c.Smoothing

                let target =
                    Array.init k (fun j -> (if j = c.Label then 1.0 - e else 0.0) + e / float k)

                // Logits whose softmax is the smoothed target: the gradient p - y vanishes there.
                let best = target |> Array.map log

                let lossAt z =
                    fst (SoftmaxLoss.crossEntropy e z c.Label)

                let _, g = SoftmaxLoss.crossEntropy e best c.Label
                let stationary = g |> Array.forall (fun v -> abs v < 1e-12)
                // Moving towards one-hot (a wider margin for the label) costs loss, and so does any step (convexity).
                let wider = best |> Array.mapi (fun j v -> if j = c.Label then v + 1.0 else v)

                let moved = Array.init k (fun j -> best[j] + c.Teacher[j] / 8.0)

                (stationary |> Prop.label $"gradient at the target {g}")
                .&. (lossAt wider > lossAt best |> Prop.label "wider margin")
                .&. (lossAt moved >= lossAt best - 1e-12 |> Prop.label "a step away"))

        testPropertyWithConfig (Properties.tests 200) "Distillation's gradient matches central differences"
        <| fun () ->
            Prop.forAll case (fun c ->
                gradientMatches (fun z -> SoftmaxLoss.distillation c.Temperature z c.Teacher) c.Z)

        testPropertyWithConfig (Properties.tests 200) "The blended loss's gradient matches central differences"
        <| fun () ->
            Prop.forAll case (fun c ->
                let d = {
                    Temperature = c.Temperature
                    Weight = c.Weight
                }

                gradientMatches (fun z -> SoftmaxLoss.sample c.Smoothing (Some(d, c.Teacher)) z c.Label) c.Z)

        testPropertyWithConfig
            (Properties.tests 200)
            "KL is never negative and is zero for a teacher equal to the student"
        <| fun () ->
            Prop.forAll case (fun c ->
                let kd, _ = SoftmaxLoss.distillation c.Temperature c.Z c.Teacher
                let self, g = SoftmaxLoss.distillation c.Temperature c.Z (Array.copy c.Z)

                (kd >= -1e-12 |> Prop.label $"KL {kd}")
                .&. ((self = 0.0 && g |> Array.forall (fun v -> v = 0.0))
                     |> Prop.label $"self {self} {g}"))

        testPropertyWithConfig
            (Properties.tests 200)
            "Weight 0 is exactly the cross-entropy, weight 1 exactly distillation"
        <| fun () ->
            Prop.forAll case (fun c ->
                let d w =
                    Some(
                        {
                            Temperature = c.Temperature
                            Weight = w
                        },
                        c.Teacher
                    )

                let plain = SoftmaxLoss.crossEntropy c.Smoothing c.Z c.Label
                let soft = SoftmaxLoss.distillation c.Temperature c.Z c.Teacher
                let l0, g0 = SoftmaxLoss.sample c.Smoothing (d 0.0) c.Z c.Label
                let l1, g1 = SoftmaxLoss.sample c.Smoothing (d 1.0) c.Z c.Label
                (l0, g0) = plain && (l1, g1) = soft)

        testCase "T^2 KL and T (p - q) on a hand-computed case"
        <| fun () ->
            // T = 2, student logits (0, 0): p = (1/2, 1/2); teacher (2 ln 3, 0): q = (3/4, 1/4).
            let t = 2.0
            let loss, grad = SoftmaxLoss.distillation t [| 0.0; 0.0 |] [| t * log 3.0; 0.0 |]
            let kl = 0.75 * log (0.75 / 0.5) + 0.25 * log (0.25 / 0.5)
            Expect.floatClose Accuracy.veryHigh loss (t * t * kl) "T^2 KL"
            Expect.floatClose Accuracy.veryHigh grad[0] (t * (0.5 - 0.75)) "T (p0 - q0)"
            Expect.floatClose Accuracy.veryHigh grad[1] (t * (0.5 - 0.25)) "T (p1 - q1)"

        testPropertyWithConfig
            (Properties.tests 100)
            "At high temperature T^2 KL tends to half the mean squared difference of the centred logits"
        <| fun () ->
            // Hinton et al.: in the high-temperature limit distillation matches logits; the T^2 makes the limit finite.
            Prop.forAll case (fun c ->
                let k = float c.Z.Length
                let diff = Array.map2 (-) c.Z c.Teacher
                let mean = Array.average diff
                let expected = (diff |> Array.sumBy (fun d -> (d - mean) ** 2.0)) / (2.0 * k)
                let loss, _ = SoftmaxLoss.distillation 1000.0 c.Z c.Teacher

                abs (loss - expected) <= 1e-2 * expected + 1e-6
                |> Prop.label $"T^2 KL {loss} vs {expected}")

        testCase "Settings outside their ranges are refused"
        <| fun () ->
            let bad (e: float) (d: Distillation option) =
                Expect.throwsT<ArgumentException> (fun () -> SoftmaxLoss.check e d) $"smoothing {e}, {d}"

            bad -0.1 None
            bad 1.0 None
            bad nan None

            bad
                0.0
                (Some {
                    SoftmaxLoss.defaultDistillation with
                        Temperature = 0.0
                })

            bad
                0.0
                (Some {
                    SoftmaxLoss.defaultDistillation with
                        Weight = 1.5
                })

            SoftmaxLoss.check 0.1 (Some SoftmaxLoss.defaultDistillation)
    ]
