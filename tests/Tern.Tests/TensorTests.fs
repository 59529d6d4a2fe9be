module Tern.Tests.TensorTests

open Expecto
open Tern.Runtime
open Tern.Core

let private conv kh kw ph pw inC outC (weight: float32[]) : ConvSpec = {
    InChannels = inC
    OutChannels = outC
    KernelH = kh
    KernelW = kw
    StrideH = 1
    StrideW = 1
    Pad = Padding.symmetric ph pw
    Weight = weight
    Bias = Array.zeroCreate outC
}

/// NUnit's EqualTo(...).Within(t) on float32 arrays: the same length and every element within t.
let private closeWithin (t: float) (actual: float32[]) (expected: float32[]) (message: string) =
    Expect.equal actual.Length expected.Length $"{message}: length"

    for i in 0 .. actual.Length - 1 do
        Expect.floatClose { absolute = t; relative = 0.0 } (float actual[i]) (float expected[i]) $"{message}: [{i}]"

let private ramp (shape: Shape3) : Tensor =
    Tensor.ofArray shape (Array.init shape.Size (fun i -> float32 (i + 1)))

let private ``ofArray rejects data of the wrong length and index is HWC`` () =
    Expect.throwsT<System.ArgumentException>
        (fun () -> Tensor.ofArray (Shape3(2, 2, 2)) (Array.zeroCreate 7) |> ignore)
        "ofArray with 7 values for 8 cells"

    let s = Shape3(2, 3, 4)
    Expect.equal (Tensor.index s 1 2 3) (s.Size - 1) "index of the last cell"
    Expect.equal (Tensor.index s 0 1 0) 4 "index of (0, 1, 0)"
    Expect.equal (Tensor.index s 1 0 0) 12 "index of (1, 0, 0)"

let private ``argmax returns the first maximum and maxAbsDiff the largest gap`` () =
    Expect.equal (Tensor.argmax [| 1.0f; 3.0f; 2.0f; 3.0f |]) 1 "argmax is the first maximum"
    let a = Tensor.ofArray (Shape3(1, 1, 3)) [| 1.0f; 2.0f; 3.0f |]
    let b = Tensor.ofArray (Shape3(1, 1, 3)) [| 1.5f; 2.0f; 1.0f |]
    Expect.equal (Tensor.maxAbsDiff a b) 2.0f "maxAbsDiff is the largest gap"

let private ``conv with a one-hot kernel is a shift with zero fill`` () =
    // 3x3 kernel whose only 1 sits at (kh=0, kw=1): output (h, w) reads input (h-1, w) with padding 1.
    let w = Array.zeroCreate<float32> 9
    w[0 * 3 + 1] <- 1.0f
    let x = ramp (Shape3(4, 5, 1))
    let y = Forward.layer (Conv2d(conv 3 3 1 1 1 1 w)) x
    Expect.equal y.Shape (Shape3(4, 5, 1)) "padding 1 keeps the shape"

    for h in 0..3 do
        for wi in 0..4 do
            let expected = if h = 0 then 0.0f else Tensor.get x (h - 1) wi 0
            Expect.equal (Tensor.get y h wi 0) expected $"at {h},{wi}"

/// Output (h, w) of a stride-s, pad-1 3x3 layer whose kernel is one-hot at (kh, kw) reads input (h*s - 1 + kh, w*s - 1 + kw).
let private shifted (x: Tensor) s h w kh kw c =
    let ih, iw = h * s - 1 + kh, w * s - 1 + kw

    if ih < 0 || iw < 0 || ih >= x.Shape.H || iw >= x.Shape.W then
        0.0f
    else
        Tensor.get x ih iw c

let private ``conv weights are (kh, kw, ic) per output channel and depthwise weights (kh, kw) per channel`` () =
    let x = ramp (Shape3(5, 6, 2))

    for s in [ 1; 2 ] do
        // Conv: output 0 picks (kh 1, kw 2, ic 1), output 1 picks (kh 2, kw 0, ic 0).
        let w = Array.zeroCreate<float32>(2 * 18)
        w[0 * 18 + (1 * 3 + 2) * 2 + 1] <- 1.0f
        w[1 * 18 + (2 * 3 + 0) * 2 + 0] <- 1.0f

        let y =
            Forward.layer
                (Conv2d {
                    conv 3 3 1 1 2 2 w with
                        StrideH = s
                        StrideW = s
                })
                x
        // Depthwise: channel 0 picks (kh 0, kw 1), channel 1 picks (kh 2, kw 2).
        let dw = Array.zeroCreate<float32>(2 * 9)
        dw[0 * 9 + 0 * 3 + 1] <- 1.0f
        dw[1 * 9 + 2 * 3 + 2] <- 1.0f

        let d =
            Forward.layer
                (DepthwiseConv2d {
                    conv 3 3 1 1 2 2 dw with
                        StrideH = s
                        StrideW = s
                })
                x

        Expect.equal y.Shape (Shape3((5 - 1) / s + 1, (6 - 1) / s + 1, 2)) $"output shape at stride {s}"

        for h in 0 .. y.Shape.H - 1 do
            for wi in 0 .. y.Shape.W - 1 do
                Expect.equal (Tensor.get y h wi 0) (shifted x s h wi 1 2 1) $"conv output 0 at {h},{wi}, stride {s}"
                Expect.equal (Tensor.get y h wi 1) (shifted x s h wi 2 0 0) $"conv output 1 at {h},{wi}, stride {s}"

                Expect.equal
                    (Tensor.get d h wi 0)
                    (shifted x s h wi 0 1 0)
                    $"depthwise channel 0 at {h},{wi}, stride {s}"

                Expect.equal
                    (Tensor.get d h wi 1)
                    (shifted x s h wi 2 2 1)
                    $"depthwise channel 1 at {h},{wi}, stride {s}"

let private ``zero padding: 3x3 sum of ones counts the in-bounds neighbours`` () =
    let x = Tensor.ofArray (Shape3(3, 3, 1)) (Array.create 9 1.0f)
    let y = Forward.layer (Conv2d(conv 3 3 1 1 1 1 (Array.create 9 1.0f))) x
    Expect.equal y.Data [| 4.0f; 6.0f; 4.0f; 6.0f; 9.0f; 6.0f; 4.0f; 6.0f; 4.0f |] "in-bounds neighbour counts"

let private ``a 1x1 convolution equals a dense layer applied to every pixel`` () =
    let rng = System.Random 7
    let inC, outC = 3, 4

    let spec = {
        conv 1 1 0 0 inC outC (Array.init (inC * outC) (fun _ -> float32 (rng.NextDouble() - 0.5))) with
            Bias = [| 0.1f; -0.2f; 0.3f; 0.0f |]
    }

    let x = Tensor.random rng -1.0f 1.0f (Shape3(3, 2, inC))
    let y = Forward.layer (Pointwise spec) x

    let dense =
        Dense {
            Inputs = inC
            Outputs = outC
            Weight = spec.Weight
            Bias = spec.Bias
        }

    for h in 0..2 do
        for w in 0..1 do
            let pixel =
                Tensor.ofArray (Shape3(1, 1, inC)) (Array.init inC (fun c -> Tensor.get x h w c))

            let expected = Forward.layer dense pixel
            let got = Array.init outC (fun c -> Tensor.get y h w c)
            closeWithin 1e-6 got expected.Data $"pixel {h},{w}"

let private ``depthwise convolution keeps channels apart`` () =
    // Channel 0 kernel doubles, channel 1 kernel negates (1x1 kernels).
    let spec = {
        conv 1 1 0 0 2 2 [| 2.0f; -1.0f |] with
            Bias = [| 0.5f; 0.0f |]
    }

    let x = ramp (Shape3(2, 2, 2))
    let y = Forward.layer (DepthwiseConv2d spec) x

    let expected =
        x.Data |> Array.mapi (fun i v -> if i % 2 = 0 then 2.0f * v + 0.5f else -v)

    Expect.equal y.Data expected "each channel through its own kernel"

let private ``pools: average of a constant is the constant, max picks the window maximum, global averages the plane``
    ()
    =
    let p = {
        KernelH = 2
        KernelW = 2
        StrideH = 2
        StrideW = 2
        Pad = Padding.none
    }

    let c =
        Forward.layer (AvgPool p) (Tensor.ofArray (Shape3(5, 4, 2)) (Array.create 40 1.25f))

    Expect.equal c.Shape (Shape3(2, 2, 2)) "2x2 pooling of 5x4 without padding"
    Expect.isTrue (c.Data |> Array.forall ((=) 1.25f)) "the average of a constant is the constant"
    let m = Forward.layer (MaxPool p) (ramp (Shape3(4, 4, 1)))
    Expect.equal m.Data [| 6.0f; 8.0f; 14.0f; 16.0f |] "max pooling picks the window maxima"
    let g = Forward.layer GlobalAvgPool (ramp (Shape3(2, 2, 2)))
    Expect.equal g.Shape (Shape3(1, 1, 2)) "global pooling leaves one pixel"
    Expect.equal g.Data [| 4.0f; 5.0f |] "global pooling averages each plane"

let private ``relu, relu6 and batchnorm follow their formulas`` () =
    let x = Tensor.ofArray (Shape3(1, 2, 2)) [| -1.0f; 3.0f; 7.0f; 0.5f |]
    Expect.equal (Forward.layer ReLU x).Data [| 0.0f; 3.0f; 7.0f; 0.5f |] "relu"
    Expect.equal (Forward.layer ReLU6 x).Data [| 0.0f; 3.0f; 6.0f; 0.5f |] "relu6"

    let bn = {
        Gamma = [| 2.0f; 1.0f |]
        Beta = [| 1.0f; 0.0f |]
        Mean = [| 1.0f; 0.5f |]
        Var = [| 3.0f; 0.0f |]
        Eps = 1.0f
    }
    // channel 0: 2*(x-1)/2+1 = x; channel 1: (x-0.5)/1.
    closeWithin 1e-6 (Forward.layer (BatchNorm bn) x).Data [| -1.0f; 2.5f; 7.0f; 0.0f |] "batchnorm"

let private ``flatten keeps the HWC order and dense after flatten is a dot product`` () =
    let x = ramp (Shape3(2, 2, 3))
    let f = Forward.layer Flatten x
    Expect.equal f.Shape (Shape3(1, 1, 12)) "flatten shape"
    Expect.equal f.Data x.Data "flatten keeps the HWC order"
    Expect.equal (Tensor.get f 0 0 (Tensor.index x.Shape 1 0 2)) (Tensor.get x 1 0 2) "flattened (1, 0, 2)"

    let w = Array.init 24 (fun i -> float32 (i % 5) - 2.0f)

    let d =
        Dense {
            Inputs = 12
            Outputs = 2
            Weight = w
            Bias = [| 1.0f; -1.0f |]
        }

    let y = Forward.layer d f

    let manual o =
        Array.fold2 (fun acc a b -> acc + a * b) (if o = 0 then 1.0f else -1.0f) w[o * 12 .. o * 12 + 11] x.Data

    Expect.equal y.Data [| manual 0; manual 1 |] "dense after flatten is a dot product"
    // Dense also reads an unflattened tensor in HWC order.
    Expect.equal (Forward.layer d x).Data y.Data "dense reads an unflattened tensor in HWC order"

let private ``layer rejects a tensor of the wrong shape with a clear message`` () =
    let ex =
        Expect.throwsC
            (fun () ->
                Forward.layer (Conv2d(conv 1 1 0 0 3 1 (Array.zeroCreate 3))) (ramp (Shape3(2, 2, 2)))
                |> ignore)
            id

    Expect.isTrue (ex.GetType() = typeof<System.ArgumentException>) $"an ArgumentException, not {ex.GetType().Name}"
    Expect.stringContains ex.Message "expects 3 input channels, receives 2" "the message names both channel counts"

[<Tests>]
let tests =
    testList "TensorTests" [
        testCase
            "ofArray rejects data of the wrong length and index is HWC"
            ``ofArray rejects data of the wrong length and index is HWC``
        testCase
            "argmax returns the first maximum and maxAbsDiff the largest gap"
            ``argmax returns the first maximum and maxAbsDiff the largest gap``
        testCase
            "conv with a one-hot kernel is a shift with zero fill"
            ``conv with a one-hot kernel is a shift with zero fill``
        testCase
            "conv weights are (kh, kw, ic) per output channel and depthwise weights (kh, kw) per channel"
            ``conv weights are (kh, kw, ic) per output channel and depthwise weights (kh, kw) per channel``
        testCase
            "zero padding: 3x3 sum of ones counts the in-bounds neighbours"
            ``zero padding: 3x3 sum of ones counts the in-bounds neighbours``
        testCase
            "a 1x1 convolution equals a dense layer applied to every pixel"
            ``a 1x1 convolution equals a dense layer applied to every pixel``
        testCase "depthwise convolution keeps channels apart" ``depthwise convolution keeps channels apart``
        testCase
            "pools: average of a constant is the constant, max picks the window maximum, global averages the plane"
            ``pools: average of a constant is the constant, max picks the window maximum, global averages the plane``
        testCase "relu, relu6 and batchnorm follow their formulas" ``relu, relu6 and batchnorm follow their formulas``
        testCase
            "flatten keeps the HWC order and dense after flatten is a dot product"
            ``flatten keeps the HWC order and dense after flatten is a dot product``
        testCase
            "layer rejects a tensor of the wrong shape with a clear message"
            ``layer rejects a tensor of the wrong shape with a clear message``
    ]
