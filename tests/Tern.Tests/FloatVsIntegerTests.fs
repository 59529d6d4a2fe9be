module Tern.Tests.FloatVsIntegerTests

open System
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Tests.Assertions

/// A tiny float model: 3 inputs, a dense layer to 3 classes with mixed-sign weights.
let private tiny: Model = {
    Name = "tiny"
    Input = Shape3(1, 1, 3)
    Layers = [
        Dense {
            Inputs = 3
            Outputs = 3
            Weight = [| 0.9f; -0.4f; 0.2f; -0.3f; 0.8f; 0.1f; 0.25f; 0.3f; -0.7f |]
            Bias = [| 0.05f; -0.1f; 0.0f |]
        }
    ]
    Classes = [ "x"; "y"; "z" ]
    Meta = Map.empty
}

let private samples =
    let rng = Random(3)
    Array.init 40 (fun _ -> Array.init 3 (fun _ -> float32 (rng.NextDouble())))

let private lowered () =
    let calibration = samples |> Array.map (Tensor.ofArray tiny.Input) |> Array.toList
    ok (Lower.lower LowerOptions.Int8 calibration tiny)

[<Test>]
let ``a worked example: L2r and cosine over all logits, top-1 per sample`` () =
    let f = [| [| 1.0f; 0.0f |]; [| 0.0f; 2.0f |] |]
    let q = [| [| 1.0f; 0.0f |]; [| 0.0f; 1.0f |] |]
    let r = FloatVsInteger.compare f q
    Assert.That(r.Samples, Is.EqualTo 2)
    Assert.That(r.Top1Agreement, Is.EqualTo 1.0)
    // ||q - f|| = 1, ||f|| = sqrt 5; f.q = 3, ||q|| = sqrt 2.
    Assert.That(r.L2r, Is.EqualTo(1.0 / sqrt 5.0).Within(1e-12))
    Assert.That(r.Cosine, Is.EqualTo(3.0 / (sqrt 5.0 * sqrt 2.0)).Within(1e-12))
    // Taken per sample and averaged, the cosine would be 1 and L2r 0.25: the flattened figures differ.
    let flipped = FloatVsInteger.compare f [| [| 0.0f; 1.0f |]; [| 0.0f; 2.0f |] |]
    Assert.That(flipped.Top1Agreement, Is.EqualTo 0.5)

[<Property(MaxTest = 200)>]
let ``identical logits agree fully; scaled ones keep the cosine and give L2r |c - 1|`` () =
    let logits =
        gen {
            let! n = Gen.choose (1, 8)
            let! k = Gen.choose (1, 5)
            let value = Gen.choose (-1000, 1000) |> Gen.map (fun i -> float32 i / 100.0f)
            let! xs = Gen.arrayOfLength n (Gen.arrayOfLength k value)
            let! c = Gen.choose (1, 40) |> Gen.map (fun i -> float32 i / 10.0f)
            return xs, c
        }
        |> Arb.fromGen

    Prop.forAll logits (fun (xs, c) ->
        let same = FloatVsInteger.compare xs xs

        let scaled =
            FloatVsInteger.compare xs (xs |> Array.map (Array.map (fun v -> v * c)))

        let zero = xs |> Array.forall (Array.forall ((=) 0.0f))

        (same.Top1Agreement = 1.0
         && same.L2r = 0.0
         && abs (same.Cosine - 1.0) < 1e-9
         && (zero || abs (scaled.Cosine - 1.0) < 1e-6)
         && (zero || abs (scaled.L2r - abs (float c - 1.0)) < 1e-6))
        |> Prop.classify zero "all zero")

[<Test>]
let ``a lowered tiny model's figures equal a direct computation from dequantized outputs`` () =
    let im = lowered ()
    let runner = new Runner(im, KernelMode.Scalar)

    let outputs =
        samples
        |> Array.map (fun x -> runner.Run(Lower.quantizeInput im (Tensor.ofArray im.Input x)))

    let r = FloatVsInteger.ofOutputs tiny im samples outputs

    // Directly: the float model's logits by hand (W x + b), the integer ones as scale * (q - zero).
    let d =
        match tiny.Layers with
        | [ Dense d ] -> d
        | _ -> failwith "tiny is one dense layer"

    let floatOf (x: float32[]) =
        Array.init 3 (fun o ->
            float d.Bias[o]
            + Seq.sum (seq { for i in 0..2 -> float d.Weight[o * 3 + i] * float x[i] }))

    let scale, zero = Lower.outputParams im
    let f = samples |> Array.map floatOf |> Array.concat

    let q =
        outputs
        |> Array.map (Array.map (fun v -> scale * float (int v - zero)))
        |> Array.concat

    Assert.That(r.L2r, Is.EqualTo(LogitOracle.l2r f q).Within(1e-5))
    Assert.That(r.Cosine, Is.EqualTo(LogitOracle.cosine f q).Within(1e-6))
    Assert.That(r.Top1Agreement, Is.EqualTo(float (LogitOracle.agreeing 3 f q) / float samples.Length))
    // int8 logits of a well-calibrated dense layer stay close to the float ones.
    Assert.That(r.L2r, Is.LessThan 0.05)
    Assert.That(r.Cosine, Is.GreaterThan 0.99)

[<Test>]
let ``the parent must match the recorded hash, the input and the classes`` () =
    let im = lowered ()
    Assert.That(FloatVsInteger.checkParent tiny "abc" im, eq (Ok(): Result<unit, string>))

    let withParent =
        IntModel(
            im.Name,
            im.Input,
            im.InputScale,
            im.InputZero,
            im.Layers,
            im.ClassNames,
            Metadata = readOnlyDict [ FloatVsInteger.parentKey, "abc" ]
        )

    Assert.That(FloatVsInteger.checkParent tiny "ABC" withParent, eq (Ok(): Result<unit, string>))
    Assert.That(err (FloatVsInteger.checkParent tiny "abd" withParent), Does.Contain "abc")

    Assert.That(
        err (
            FloatVsInteger.checkParent
                {
                    tiny with
                        Classes = [ "x"; "y"; "w" ]
                }
                "abc"
                withParent
        ),
        Does.Contain "classes"
    )

    Assert.That(
        err (FloatVsInteger.checkParent { tiny with Input = Shape3(3, 1, 1) } "abc" withParent),
        Does.Contain "input"
    )
