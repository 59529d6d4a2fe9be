module Tern.Tests.OptimTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// One Adam step from fresh state: the optimiser's settings, the learning rate, the gradient and the start values.
type private FirstStep = {
    Beta1: float
    Beta2: float
    Rate: float
    Grad: float32[]
    Start: float32[]
}

/// 10^x for x uniform in [lo, hi] (steps of 1/1000 of a decade).
let private decades (lo: int) (hi: int) : Gen<float> =
    Gen.choose (lo * 1000, hi * 1000)
    |> Gen.map (fun k -> Math.Pow(10.0, float k / 1000.0))

/// Settings as used in practice (beta1 0.5..0.99, beta2 0.9..0.9999), rates 1e-5..1 and gradients of either sign
/// from 1e-3 to 1e3, far above eps, so eps changes the step by less than 1e-5 of it.
let private firstStep: Gen<FirstStep> =
    gen {
        let! b1 = Gen.choose (500, 990) |> Gen.map (fun k -> float k / 1000.0)
        let! b2 = Gen.choose (9000, 9999) |> Gen.map (fun k -> float k / 10000.0)
        let! rate = decades -5 0
        let! n = Gen.choose (1, 12)

        let! grad =
            Gen.arrayOfLength
                n
                (Gen.map2
                    (fun (s: bool) m -> float32 (if s then m else -m))
                    (Gen.elements [ true; false ])
                    (decades -3 3))

        let! start =
            Gen.arrayOfLength n (Gen.choose (-1000, 1000) |> Gen.map (fun k -> float32 k / 1000.0f))

        return {
            Beta1 = b1
            Beta2 = b2
            Rate = rate
            Grad = grad
            Start = start
        }
    }

[<Tests>]
let tests =
    testList "OptimTests" [
        // With bias correction, m / c1 = g and v / c2 = g^2 after one step, so each value moves by rate * sign(g) (less
        // eps's share); without it the step is rate * (1 - beta1) / sqrt(1 - beta2), ten times smaller or more here.
        testPropertyWithConfig
            (Properties.tests 300)
            "Adam's first step moves each value by the learning rate against the gradient's sign"
        <| fun () ->
            Prop.forAll (Arb.fromGen firstStep) (fun s ->
                let values = Array.copy s.Start
                let state = Optim.newState values.Length
                Optim.update (Adam(s.Rate, s.Beta1, s.Beta2, 1e-8)) s.Rate 0.0 None state values s.Grad

                Array.zip3 s.Start s.Grad values
                |> Array.forall (fun (v0: float32, g: float32, v1: float32) ->
                    let moved = float v1 - float v0
                    let expected = -s.Rate * float (sign g)
                    // float32 rounding of the stored values, plus eps's share of the step
                    let tolerance = 1e-6 * (abs (float v0) + s.Rate) + s.Rate * 1e-5
                    abs (moved - expected) <= tolerance)
                |> Prop.label $"values %A{values} from %A{s.Start}, gradient %A{s.Grad}")
    ]
