/// Generators shared by several test files: small random float models and inputs.
module Tern.Tests.Generators

open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

let private floats n (scale: float) =
    Gen.arrayOfLength
        n
        (Gen.choose (-1000, 1000)
         |> Gen.map (fun i -> float32 (float i / 1000.0 * scale)))

let private convSpec inC outC k stride pad perOut =
    gen {
        let! w = floats (outC * perOut) 0.8
        let! b = floats outC 0.3

        return {
            InChannels = inC
            OutChannels = outC
            KernelH = k
            KernelW = k
            StrideH = stride
            StrideW = stride
            Pad = Padding.symmetric pad pad
            Weight = w
            Bias = b
        }
    }

let private batchNorm c =
    gen {
        let! gamma =
            Gen.arrayOfLength c (Gen.choose (50, 200) |> Gen.map (fun i -> float32 i / 100.0f))

        let! beta = floats c 0.5
        let! mean = floats c 0.5

        let! var =
            Gen.arrayOfLength c (Gen.choose (20, 300) |> Gen.map (fun i -> float32 i / 100.0f))

        return
            BatchNorm {
                Gamma = gamma
                Beta = beta
                Mean = mean
                Var = var
                Eps = 1e-5f
            }
    }

let private convOut n k s p = (n + 2 * p - k) / s + 1

/// One block appended to a model with the given current shape: a layer (maybe with BN and activation).
let private block (shape: Shape3) : Gen<Layer list * Shape3> =
    let withBnAct (layers: Layer list) (outShape: Shape3) =
        gen {
            let! bn = Gen.elements [ true; false ]
            let! act = Gen.elements [ Some ReLU; Some ReLU6; None ]
            let! bnLayer = batchNorm outShape.C
            let extra = (if bn then [ bnLayer ] else []) @ Option.toList act
            return layers @ extra, outShape
        }

    let convLike =
        gen {
            let! k = Gen.choose (1, min 3 (min shape.H shape.W))
            let! stride = Gen.choose (1, 2)
            let! pad = Gen.choose (0, k - 1)
            let! kind = Gen.elements [ 0; 1; 2 ]

            match kind with
            | 0 ->
                let! outC = Gen.choose (1, 6)
                let! c = convSpec shape.C outC k stride pad (k * k * shape.C)

                return!
                    withBnAct [ Conv2d c ] (Shape3(convOut shape.H k stride pad, convOut shape.W k stride pad, outC))
            | 1 ->
                let! c = convSpec shape.C shape.C k stride pad (k * k)

                return!
                    withBnAct
                        [ DepthwiseConv2d c ]
                        (Shape3(convOut shape.H k stride pad, convOut shape.W k stride pad, shape.C))
            | _ ->
                let! outC = Gen.choose (1, 6)
                let! c = convSpec shape.C outC 1 1 0 shape.C
                return! withBnAct [ Pointwise c ] (Shape3(shape.H, shape.W, outC))
        }

    let pool =
        gen {
            let! isMax = Gen.elements [ true; false ]

            let p = {
                KernelH = 2
                KernelW = 2
                StrideH = 2
                StrideW = 2
                Pad = Padding.none
            }

            return
                [ (if isMax then MaxPool p else AvgPool p) ],
                Shape3(convOut shape.H 2 2 0, convOut shape.W 2 2 0, shape.C)
        }

    if shape.H >= 2 && shape.W >= 2 then
        Gen.frequency [ 3, convLike; 1, pool ]
    else
        convLike

/// A small valid float model: 1-3 blocks, then optionally global pooling or flatten, and a dense layer.
let smallModel: Gen<Model> =
    gen {
        let! h = Gen.choose (3, 10)
        let! w = Gen.choose (3, 10)
        let! c = Gen.choose (1, 3)
        let! n = Gen.choose (1, 3)

        let rec blocks i shape acc =
            gen {
                if i = 0 then
                    return acc, shape
                else
                    let! layers, next = block shape
                    return! blocks (i - 1) next (acc @ layers)
            }

        let! layers, shape = blocks n (Shape3(h, w, c)) []
        let! head = Gen.elements [ 0; 1; 2 ]
        let! outputs = Gen.choose (2, 5)

        let tail, flat =
            match head with
            | 0 -> [ GlobalAvgPool ], shape.C
            | 1 -> [ Flatten ], shape.Size
            | _ -> [], 0

        let! dense =
            if flat > 0 then
                gen {
                    let! wts = floats (flat * outputs) 0.5
                    let! b = floats outputs 0.2

                    return [
                        Dense {
                            Inputs = flat
                            Outputs = outputs
                            Weight = wts
                            Bias = b
                        }
                    ]
                }
            else
                Gen.constant []

        return {
            Name = "random"
            Input = Shape3(h, w, c)
            Layers = layers @ tail @ dense
            Classes = List.init (if flat > 0 then outputs else 0) (fun i -> $"c{i}")
            Meta = Map.empty
        }
    }

/// A seeded list of calibration-like inputs in [0, 1).
let inputs (seed: int) (count: int) (shape: Shape3) : Tensor list =
    Lower.randomCalibration seed count shape

/// FNV-1a over the bits of every parameter and running statistic, in layer order (pinned training fingerprints).
let fingerprint (m: Model) : uint64 =
    let mutable h = 14695981039346656037UL

    for l in m.Layers do
        let arrays =
            match l with
            | Conv2d c
            | DepthwiseConv2d c
            | Pointwise c -> [ c.Weight; c.Bias ]
            | Dense d -> [ d.Weight; d.Bias ]
            | BatchNorm b -> [ b.Gamma; b.Beta; b.Mean; b.Var ]
            | _ -> []

        for a in arrays do
            for v in a do
                h <-
                    (h ^^^ uint64 (uint32 (System.BitConverter.SingleToInt32Bits v)))
                    * 1099511628211UL

    h
