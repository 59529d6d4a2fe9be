module Tern.Tests.ModelTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core

/// Random valid float models, built layer by layer from the running shape. Shared by this file,
/// FoldTests and ModelFileTests (kept here rather than in Generators.fs, which belongs to the lead).
module FloatGen =
    /// A float in [lo, hi] on a grid of a million steps.
    let value (lo: float32) (hi: float32) : Gen<float32> =
        Gen.choose (0, 1_000_000)
        |> Gen.map (fun i -> lo + (hi - lo) * float32 i / 1.0e6f)

    let values (n: int) (lo: float32) (hi: float32) : Gen<float32[]> = Gen.arrayOfLength n (value lo hi)

    let isLinear (l: Layer) =
        match l with
        | Conv2d _
        | DepthwiseConv2d _
        | Pointwise _
        | Dense _ -> true
        | _ -> false

    // Kernel and padding before and after along one axis, so that the kernel fits and each padding stays below the
    // kernel size; asymmetric now and then.
    let private axis (size: int) : Gen<int * (int * int)> =
        gen {
            let! before = Gen.choose (0, 1)
            let! after = Gen.frequency [ 3, Gen.constant before; 1, Gen.choose (0, 1) ]
            let! k = Gen.choose (max before after + 1, min 3 (size + before + after))
            return k, (before, after)
        }

    let private padding (ph: int * int) (pw: int * int) : Padding = {
        Top = fst ph
        Bottom = snd ph
        Left = fst pw
        Right = snd pw
    }

    let private convSpec (s: Shape3) (depthwise: bool) (pointwise: bool) : Gen<ConvSpec> =
        gen {
            let! kh, ph = if pointwise then Gen.constant (1, (0, 0)) else axis s.H
            let! kw, pw = if pointwise then Gen.constant (1, (0, 0)) else axis s.W
            let! sh = Gen.choose (1, 2)
            let! sw = Gen.choose (1, 2)
            let! outC = if depthwise then Gen.constant s.C else Gen.choose (1, 4)
            let perOut = if depthwise then kh * kw else kh * kw * s.C
            let! w = values (outC * perOut) -1.0f 1.0f
            let! b = values outC -0.5f 0.5f

            return {
                InChannels = s.C
                OutChannels = outC
                KernelH = kh
                KernelW = kw
                StrideH = sh
                StrideW = sw
                Pad = padding ph pw
                Weight = w
                Bias = b
            }
        }

    /// A BatchNorm with positive variance and gamma of either sign.
    let batchNorm (channels: int) : Gen<BatchNormSpec> =
        gen {
            let! g = values channels -2.0f 2.0f
            let! b = values channels -1.0f 1.0f
            let! m = values channels -1.0f 1.0f
            let! v = values channels 0.05f 2.0f

            return {
                Gamma = g
                Beta = b
                Mean = m
                Var = v
                Eps = 1.0e-5f
            }
        }

    let private pool (s: Shape3) : Gen<PoolSpec> =
        gen {
            let! padded = Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ]

            let! kh, ph =
                if padded then
                    axis s.H
                else
                    Gen.choose (1, min 3 s.H) |> Gen.map (fun k -> k, (0, 0))

            let! kw, pw =
                if padded then
                    axis s.W
                else
                    Gen.choose (1, min 3 s.W) |> Gen.map (fun k -> k, (0, 0))

            let! sh = Gen.choose (1, 2)
            let! sw = Gen.choose (1, 2)

            return {
                KernelH = kh
                KernelW = kw
                StrideH = sh
                StrideW = sw
                Pad = padding ph pw
            }
        }

    let private dense (s: Shape3) : Gen<DenseSpec> =
        gen {
            let! outs = Gen.choose (1, 5)
            let! w = values (s.Size * outs) -0.5f 0.5f
            let! b = values outs -0.5f 0.5f

            return {
                Inputs = s.Size
                Outputs = outs
                Weight = w
                Bias = b
            }
        }

    /// One layer that accepts the shape; BatchNorm is likely right after a linear layer.
    let layer (s: Shape3) (afterLinear: bool) : Gen<Layer> =
        Gen.frequency [
            3, convSpec s false false |> Gen.map Conv2d
            2, convSpec s true false |> Gen.map DepthwiseConv2d
            2, convSpec s false true |> Gen.map Pointwise
            (if afterLinear then 8 else 1), batchNorm s.C |> Gen.map BatchNorm
            1, Gen.constant ReLU
            1, Gen.constant ReLU6
            1, pool s |> Gen.map MaxPool
            1, pool s |> Gen.map AvgPool
            1, Gen.constant GlobalAvgPool
            1, Gen.constant Flatten
            (if s.Size <= 200 then 2 else 0), dense s |> Gen.map Dense
        ]

    let rec private layers (s: Shape3) (n: int) (afterLinear: bool) : Gen<Layer list> =
        if n = 0 then
            Gen.constant []
        else
            gen {
                let! l = layer s afterLinear

                let next =
                    match Model.outputShape s l with
                    | Ok next -> next
                    | Error e -> failwith $"generator made an invalid layer: {e}"

                let! rest = layers next (n - 1) (isLinear l)
                return l :: rest
            }

    /// A valid model with up to maxLayers layers on a small input.
    let model (maxLayers: int) : Gen<Model> =
        gen {
            let! h = Gen.choose (1, 7)
            let! w = Gen.choose (1, 7)
            let! c = Gen.choose (1, 3)
            let! n = Gen.choose (0, maxLayers)
            let! ls = layers (Shape3(h, w, c)) n false
            let! name = Gen.elements [ "m"; "kws-ds"; "ünïcode ✓"; "" ]

            let outC =
                (List.last (
                    Model.shapes {
                        Name = name
                        Input = Shape3(h, w, c)
                        Layers = ls
                        Classes = []
                        Meta = Map.empty
                    }
                ))
                    .C

            let! meta =
                Gen.elements [
                    Map.empty
                    Map [ "source.file", "net.onnx"; "source.opset", "13" ]
                    Map [ "note", "ünïcode ✓"; "", "" ]
                ]

            return {
                Name = name
                Input = Shape3(h, w, c)
                Layers = ls
                Classes = List.init outC (sprintf "class%d")
                Meta = meta
            }
        }

    /// A model paired with a random input of its input shape.
    let modelAndInput (maxLayers: int) : Gen<Model * Tensor> =
        gen {
            let! m = model maxLayers
            let! x = values m.Input.Size -1.0f 1.0f
            return m, Tensor.ofArray m.Input x
        }

let private conv3 inC outC : ConvSpec = {
    InChannels = inC
    OutChannels = outC
    KernelH = 3
    KernelW = 3
    StrideH = 2
    StrideW = 2
    Pad = Padding.symmetric 1 1
    Weight = Array.zeroCreate (9 * inC * outC)
    Bias = Array.zeroCreate outC
}

let private small = {
    Name = "small"
    Input = Shape3(8, 6, 2)
    Layers = [
        Conv2d(conv3 2 4)
        ReLU
        MaxPool {
            KernelH = 2
            KernelW = 2
            StrideH = 2
            StrideW = 2
            Pad = Padding.none
        }
        Flatten
        Dense {
            Inputs = 2 * 1 * 4
            Outputs = 3
            Weight = Array.zeroCreate 24
            Bias = Array.zeroCreate 3
        }
    ]
    Classes = [ "a"; "b"; "c" ]
    Meta = Map.empty
}

let private ``outputShape follows the convolution and pooling formulas`` () =
    Expect.equal
        (Model.outputShape (Shape3(8, 6, 2)) (Conv2d(conv3 2 4)))
        (Ok(Shape3(4, 3, 4)))
        "a stride-2 3x3 convolution"

    let pool =
        MaxPool {
            KernelH = 2
            KernelW = 3
            StrideH = 2
            StrideW = 1
            Pad = Padding.none
        }

    Expect.equal (Model.outputShape (Shape3(5, 5, 3)) pool) (Ok(Shape3(2, 3, 3))) "a 2x3 max pool, strides 2 and 1"

    Expect.isTrue
        (Model.outputShape
            (Shape3(2, 2, 3))
            (MaxPool {
                KernelH = 3
                KernelW = 1
                StrideH = 1
                StrideW = 1
                Pad = Padding.none
            })
         |> Result.isError)
        "a pool window taller than its input is an error"

let private ``describe, paramCount, macCount and peak activation bytes of a small model`` () =
    let infos = Model.describe small

    Expect.equal
        (infos |> List.map (fun i -> i.Name))
        [ "conv2d_0"; "relu_1"; "maxpool_2"; "flatten_3"; "dense_4" ]
        "layer names"

    Expect.equal
        (infos |> List.map (fun i -> i.OutputShape))
        [
            Shape3(4, 3, 4)
            Shape3(4, 3, 4)
            Shape3(2, 1, 4)
            Shape3(1, 1, 8)
            Shape3(1, 1, 3)
        ]
        "output shapes"

    Expect.equal (Model.totalParams small) (72 + 4 + 24 + 3) "parameters"
    Expect.equal infos[0].Macs (48L * 18L) "MACs of the conv"
    Expect.equal infos[4].Macs 24L "MACs of the dense layer"
    // Largest input + output: the conv (96 in + 48 out) at 1 byte per element.
    Expect.equal (Model.peakActivationBytes 1 small) (96 + 48) "peak activation bytes"

let private ``validate names the layer with mismatched channels`` () =
    let bad = {
        small with
            Layers = [ Conv2d(conv3 3 4) ]
    }

    match Model.validate bad with
    | Ok() -> failtest "a 3-channel conv on a 2-channel input must be rejected"
    | Error e ->
        Expect.stringContains e "layer 0 (conv2d)" "the error names the layer"
        Expect.stringContains e "3 input channels" "the error names the channel count"

    let badBias = {
        small with
            Layers = [
                Conv2d {
                    conv3 2 4 with
                        Bias = Array.zeroCreate 3
                }
            ]
    }

    Expect.isTrue (Model.validate badBias |> Result.isError) "a bias of the wrong length is rejected"

let private ``run rejects an input of the wrong shape and an invalid model`` () =
    let ex =
        Expect.throwsC (fun () -> Forward.run small (Tensor.zeros (Shape3(6, 8, 2))) |> ignore) id

    Expect.isTrue (ex.GetType() = typeof<System.ArgumentException>) $"an ArgumentException, not {ex.GetType().Name}"
    Expect.stringContains ex.Message "expects input 8x6x2" "the message names the expected shape"

    let bad = {
        small with
            Layers = [ Conv2d(conv3 3 4) ]
    }

    let ex2 =
        Expect.throwsC (fun () -> Forward.run bad (Tensor.zeros bad.Input) |> ignore) id

    Expect.isTrue (ex2.GetType() = typeof<System.ArgumentException>) $"an ArgumentException, not {ex2.GetType().Name}"
    Expect.stringContains ex2.Message "layer 0 (conv2d)" "the message names the bad layer"

let private ``activations has one tensor per layer, shapes follow Model.shapes, and the last is run's output`` () =
    Prop.forAll (Arb.fromGen (FloatGen.modelAndInput 6)) (fun (m, x) ->
        let acts = Forward.activations m x
        let expectedShapes = Model.shapes m |> List.tail
        let out = Forward.run m x

        let lastOk =
            match List.tryLast acts with
            | Some a -> a = out
            | None -> out = x

        (List.length acts = List.length m.Layers
         && (acts |> List.map (fun a -> a.Shape)) = expectedShapes
         && acts |> List.forall (fun a -> a.Data.Length = a.Shape.Size)
         && lastOk)
        |> Prop.classify (List.isEmpty m.Layers) "no layers"
        |> Prop.classify
            (m.Layers
             |> List.exists (function
                 | Dense _ -> true
                 | _ -> false))
            "has dense")

[<Tests>]
let tests =
    testList "ModelTests" [
        testCase
            "outputShape follows the convolution and pooling formulas"
            ``outputShape follows the convolution and pooling formulas``
        testCase
            "describe, paramCount, macCount and peak activation bytes of a small model"
            ``describe, paramCount, macCount and peak activation bytes of a small model``
        testCase
            "validate names the layer with mismatched channels"
            ``validate names the layer with mismatched channels``
        testCase
            "run rejects an input of the wrong shape and an invalid model"
            ``run rejects an input of the wrong shape and an invalid model``
        testPropertyWithConfig
            (Properties.tests 60)
            "activations has one tensor per layer, shapes follow Model.shapes, and the last is run's output"
            ``activations has one tensor per layer, shapes follow Model.shapes, and the last is run's output``
    ]
