module Tern.Tests.FloatVsIntegerTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
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

[<Tests>]
let tests =
    testList "FloatVsIntegerTests" [
        testCase "a worked example: L2r and cosine over all logits, top-1 per sample"
        <| fun () ->
            let f = [| [| 1.0f; 0.0f |]; [| 0.0f; 2.0f |] |]
            let q = [| [| 1.0f; 0.0f |]; [| 0.0f; 1.0f |] |]
            let r = FloatVsInteger.compare f q
            Expect.equal r.Samples 2 "samples"
            Expect.equal r.Top1Agreement 1.0 "top-1 agreement"
            // ||q - f|| = 1, ||f|| = sqrt 5; f.q = 3, ||q|| = sqrt 2.
            Expect.floatClose { absolute = 1e-12; relative = 0.0 } r.L2r (1.0 / sqrt 5.0) "L2r over all logits"

            Expect.floatClose
                { absolute = 1e-12; relative = 0.0 }
                r.Cosine
                (3.0 / (sqrt 5.0 * sqrt 2.0))
                "cosine over all logits"
            // Taken per sample and averaged, the cosine would be 1 and L2r 0.25: the flattened figures differ.
            let flipped = FloatVsInteger.compare f [| [| 0.0f; 1.0f |]; [| 0.0f; 2.0f |] |]
            Expect.equal flipped.Top1Agreement 0.5 "top-1 agreement of the flipped sample"

        testPropertyWithConfig
            (Properties.tests 200)
            "identical logits agree fully; scaled ones keep the cosine and give L2r |c - 1|"
        <| fun () ->
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

        testCase "a lowered tiny model's figures equal a direct computation from dequantized outputs"
        <| fun () ->
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

            Expect.floatClose { absolute = 1e-5; relative = 0.0 } r.L2r (LogitOracle.l2r f q) "L2r against the oracle"

            Expect.floatClose
                { absolute = 1e-6; relative = 0.0 }
                r.Cosine
                (LogitOracle.cosine f q)
                "cosine against the oracle"

            Expect.equal
                r.Top1Agreement
                (float (LogitOracle.agreeing 3 f q) / float samples.Length)
                "top-1 agreement against the oracle"
            // int8 logits of a well-calibrated dense layer stay close to the float ones.
            Expect.isLessThan r.L2r 0.05 "L2r of int8 logits"
            Expect.isGreaterThan r.Cosine 0.99 "cosine of int8 logits"

        testCase "the parent must match the recorded hash, the input and the classes"
        <| fun () ->
            let im = lowered ()

            Expect.equal
                (FloatVsInteger.checkParent tiny "abc" im)
                (Ok(): Result<unit, string>)
                "an unrecorded parent is accepted"

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

            Expect.equal
                (FloatVsInteger.checkParent tiny "ABC" withParent)
                (Ok(): Result<unit, string>)
                "the recorded hash matches in upper case"

            Expect.stringContains
                (err (FloatVsInteger.checkParent tiny "abd" withParent))
                "abc"
                "a wrong hash names the recorded one"

            Expect.stringContains
                (err (
                    FloatVsInteger.checkParent
                        {
                            tiny with
                                Classes = [ "x"; "y"; "w" ]
                        }
                        "abc"
                        withParent
                ))
                "classes"
                "other classes are named as such"

            Expect.stringContains
                (err (FloatVsInteger.checkParent { tiny with Input = Shape3(3, 1, 1) } "abc" withParent))
                "input"
                "another input shape is named as such"
    ]
