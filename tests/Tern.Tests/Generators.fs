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

let private convSpec inC outC k stride (pad: Padding) perOut =
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
            Pad = pad
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

let private convOut n k s before after = (n + before + after - k) / s + 1

/// The output shape of a window layer with these kernel, stride and padding (channels given).
let private windowOut (shape: Shape3) k stride (p: Padding) c =
    Shape3(convOut shape.H k stride p.Top p.Bottom, convOut shape.W k stride p.Left p.Right, c)

/// Four paddings in [0, k) whose windows fit the shape (bottom and right raised where needed).
let private anyPadding (shape: Shape3) (k: int) : Gen<Padding> =
    gen {
        let! t = Gen.choose (0, k - 1)
        let! b = Gen.choose (0, k - 1)
        let! l = Gen.choose (0, k - 1)
        let! r = Gen.choose (0, k - 1)

        return {
            Top = t
            Bottom = max b (k - shape.H - t)
            Left = l
            Right = max r (k - shape.W - l)
        }
    }

/// One block appended to a model with the given current shape: a layer (maybe with BN and activation). With
/// geometry, a convolution's padding is asymmetric one time in four and a pool is padded (any kernel 2-3, stride
/// 1-2) one time in three; without, the draws are exactly those of the symmetric generator (pinned seeds).
let private block (geometry: bool) (shape: Shape3) : Gen<Layer list * Shape3> =
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

            let! pad =
                if geometry && kind < 2 then
                    Gen.frequency [ 3, Gen.constant (Padding.symmetric pad pad); 1, anyPadding shape k ]
                else
                    Gen.constant (Padding.symmetric pad pad)

            match kind with
            | 0 ->
                let! outC = Gen.choose (1, 6)
                let! c = convSpec shape.C outC k stride pad (k * k * shape.C)
                return! withBnAct [ Conv2d c ] (windowOut shape k stride pad outC)
            | 1 ->
                let! c = convSpec shape.C shape.C k stride pad (k * k)
                return! withBnAct [ DepthwiseConv2d c ] (windowOut shape k stride pad shape.C)
            | _ ->
                let! outC = Gen.choose (1, 6)
                let! c = convSpec shape.C outC 1 1 Padding.none shape.C
                return! withBnAct [ Pointwise c ] (Shape3(shape.H, shape.W, outC))
        }

    let pool =
        gen {
            let! isMax = Gen.elements [ true; false ]

            let! padded =
                if geometry then
                    Gen.frequency [ 2, Gen.constant false; 1, Gen.constant true ]
                else
                    Gen.constant false

            let! k, stride, pad =
                if padded then
                    gen {
                        let! k = Gen.choose (2, 3)
                        let! stride = Gen.choose (1, 2)
                        let! pad = anyPadding shape k
                        return k, stride, pad
                    }
                else
                    Gen.constant (2, 2, Padding.none)

            let p = {
                KernelH = k
                KernelW = k
                StrideH = stride
                StrideW = stride
                Pad = pad
            }

            return [ (if isMax then MaxPool p else AvgPool p) ], windowOut shape k stride pad shape.C
        }

    if shape.H >= 2 && shape.W >= 2 then
        Gen.frequency [ 3, convLike; 1, pool ]
    else
        convLike

/// A small valid float model: 1-3 blocks, then optionally global pooling or flatten, and a dense layer; with
/// geometry, asymmetric convolution padding and padded pools now and then.
let smallModelWith (geometry: bool) : Gen<Model> =
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
                    let! layers, next = block geometry shape
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

/// Small valid float models, now and then with asymmetric convolution padding and padded pools.
let smallModel: Gen<Model> = smallModelWith true

/// A seeded list of calibration-like inputs in [0, 1).
let inputs (seed: int) (count: int) (shape: Shape3) : Tensor list =
    Lower.randomCalibration seed count shape

/// Pieces of JSON strings that stress storage and escaping: quotes, backslashes, SQL, non-ASCII, a surrogate pair.
let private textPieces = [
    "a"
    "run"
    "\""
    "\\"
    "'"
    "; DROP TABLE runs; --"
    "é"
    "日本"
    "🙂"
    "\n"
    " "
]

/// Short strings made of textPieces.
let jsonText: Gen<string> =
    Gen.listOfLength 3 (Gen.elements textPieces)
    |> Gen.map (String.concat "")
    |> fun g -> Gen.sized (fun n -> Gen.resize (min n 6) g)

/// Any JSON value (null included), nested up to `depth` levels.
let rec jsonValue (depth: int) : Gen<System.Text.Json.Nodes.JsonNode> =
    let leaf =
        Gen.oneof [
            jsonText
            |> Gen.map (fun s -> System.Text.Json.Nodes.JsonValue.Create s :> System.Text.Json.Nodes.JsonNode)
            Gen.choose (-1_000_000, 1_000_000)
            |> Gen.map (fun i -> System.Text.Json.Nodes.JsonValue.Create(int64 i * 4099L) :> _)
            ArbMap.defaults
            |> ArbMap.generate<NormalFloat>
            |> Gen.map (fun f -> System.Text.Json.Nodes.JsonValue.Create f.Get :> _)
            Gen.elements [ true; false ]
            |> Gen.map (fun b -> System.Text.Json.Nodes.JsonValue.Create b :> _)
            Gen.constant null
        ]

    if depth <= 0 then
        leaf
    else
        Gen.frequency [
            4, leaf
            1,
            Gen.listOfLength 3 (jsonValue (depth - 1))
            |> Gen.map (fun xs -> System.Text.Json.Nodes.JsonArray(List.toArray xs) :> _)
            1, jsonObject (depth - 1) |> Gen.map (fun o -> o :> _)
        ]

/// A JSON object with distinct keys.
and jsonObject (depth: int) : Gen<System.Text.Json.Nodes.JsonObject> =
    gen {
        let! n = Gen.choose (0, 5)
        let! keys = Gen.listOfLength n jsonText
        let! values = Gen.listOfLength n (jsonValue depth)
        let o = System.Text.Json.Nodes.JsonObject()

        for k, v in List.zip keys values do
            o[k] <- v

        return o
    }

/// A hil report as `tern hil` writes it (the keys the history reads), with random numbers, an optional accuracy
/// and optional per-layer work (`layers`, as hil --profile adds them).
let hilReport: Gen<System.Text.Json.Nodes.JsonObject> =
    gen {
        let! median = Gen.choose (1_000, 5_000_000)
        let! spread = Gen.choose (0, 500)

        let! accuracy =
            Gen.optionOf (Gen.choose (0, 1000) |> Gen.map (fun a -> float a / 1000.0))

        let! mismatches = Gen.frequency [ 4, Gen.constant 0; 1, Gen.choose (1, 5) ]
        let! flash = Gen.choose (1_000, 100_000)
        let! ram = Gen.choose (1_000, 100_000)
        let! model = Gen.elements [ "aa11"; "bb22" ]
        let! layerWork = Gen.optionOf (Gen.listOfLength 4 (Gen.choose (1, 1_000_000)))
        let o = System.Text.Json.Nodes.JsonObject()

        let v (x: 'a) =
            System.Text.Json.Nodes.JsonValue.Create<'a> x :> System.Text.Json.Nodes.JsonNode

        o["board"] <- v "qemu-mps2-an386"
        o["kernels"] <- v "dsp"
        o["model_hash"] <- v model
        o["samples"] <- v 100
        o["mismatches"] <- v mismatches
        o["work_unit"] <- v "instructions"
        let work = System.Text.Json.Nodes.JsonObject()
        work["min"] <- v (int64 (median - spread))
        work["median"] <- v (int64 median)
        work["max"] <- v (int64 (median + spread))
        o["instructions_per_inference"] <- work

        o["accuracy"] <-
            match accuracy with
            | Some a -> v a
            | None -> null

        o["flash_bytes"] <- v (int64 flash)
        o["ram_bytes"] <- v (int64 ram)
        o["arena_bytes"] <- v 12288

        match layerWork with
        | Some ws ->
            o["layers"] <-
                System.Text.Json.Nodes.JsonArray(
                    ws
                    |> List.mapi (fun i w ->
                        let l = System.Text.Json.Nodes.JsonObject()
                        l["index"] <- v i
                        l["name"] <- v $"layer{i}"
                        l["kind"] <- v (if i = 3 then "dense" else "conv2d")
                        l["instructions"] <- v (int64 w)
                        l :> System.Text.Json.Nodes.JsonNode)
                    |> List.toArray
                )
        | None -> ()

        return o
    }

/// Every parameter and running statistic of a model (conv/dense weight and bias, BatchNorm gamma, beta, mean and
/// variance), in layer order: what two trainings must agree on to have trained alike.
let parameterArrays (m: Model) : float32[] list =
    m.Layers
    |> List.collect (function
        | Conv2d c
        | DepthwiseConv2d c
        | Pointwise c -> [ c.Weight; c.Bias ]
        | Dense d -> [ d.Weight; d.Bias ]
        | BatchNorm b -> [ b.Gamma; b.Beta; b.Mean; b.Var ]
        | _ -> [])
