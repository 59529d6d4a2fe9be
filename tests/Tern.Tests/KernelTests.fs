module Tern.Tests.KernelTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Kernels

/// Random layers for kernel and runner tests. Cases are plain records (they print readably when a property
/// fails); `toLayer` turns one into the runtime layer.
module KernelGen =

    /// Everything needed to build one convolution-like layer and an input for it.
    type ConvCase = {
        Kind: IntLayerKind
        Ternary: bool
        In: Shape3
        Out: Shape3
        Kernel: int * int
        Stride: int * int
        Pad: Padding
        /// One row per output channel; values in {-1, 0, +1} when Ternary.
        Weights: sbyte[]
        Bias: int[]
        M: int[]
        S: int[]
        ZIn: int
        ZOut: int
        Lo: int
        Hi: int
    }

    /// Everything needed to build one pooling layer.
    type PoolCase = {
        Kind: IntLayerKind
        In: Shape3
        Kernel: int * int
        Stride: int * int
        Pad: Padding
        M: int
        S: int
        ZIn: int
        ZOut: int
        Lo: int
        Hi: int
    }

    let zeroPoint: Gen<int> =
        Gen.frequency [
            1, Gen.constant -128
            1, Gen.constant 127
            1, Gen.constant 0
            6, Gen.choose (-128, 127)
        ]

    /// Activation clamp: mostly the full range or a fused ReLU, sometimes any [lo, hi].
    let clamp (zOut: int) : Gen<int * int> =
        Gen.frequency [
            3, Gen.constant (-128, 127)
            2, Gen.constant (zOut, 127)
            2,
            gen {
                let! a = Gen.choose (-128, 127)
                let! b = Gen.choose (-128, 127)
                return (min a b, max a b)
            }
        ]

    /// (M, S) with M in [2^30, 2^31); S mostly near the value that maps an accumulator of about 2^bits
    /// to about 2^6, so outputs are spread rather than all clamped; sometimes any S in [1, 62].
    let multiplier (bits: float) : Gen<int * int> =
        gen {
            let! m = Gen.choose (1 <<< 30, Int32.MaxValue)
            let typical = 25 + int (Math.Ceiling bits)

            let! s =
                Gen.frequency [
                    6, Gen.choose (-3, 3) |> Gen.map (fun d -> max 1 (min 62 (typical + d)))
                    1, Gen.choose (1, 62)
                ]

            return (m, s)
        }

    let input (size: int) : Gen<sbyte[]> =
        Gen.frequency [
            8, Gen.arrayOfLength size (Gen.choose (-128, 127) |> Gen.map sbyte)
            1, Gen.elements [ -128y; 127y; 0y ] |> Gen.map (fun v -> Array.create size v)
        ]

    let int8Weights (n: int) : Gen<sbyte[]> =
        Gen.arrayOfLength
            n
            (Gen.frequency [ 8, Gen.choose (-127, 127); 1, Gen.elements [ -127; 127; 0 ] ]
             |> Gen.map sbyte)

    /// Ternary weights with a sparsity drawn per layer, from all non-zero to all zero.
    let ternaryWeights (n: int) : Gen<sbyte[]> =
        gen {
            let! zeroPercent = Gen.elements [ 0; 10; 33; 50; 70; 90; 100 ]

            let weight =
                gen {
                    let! p = Gen.choose (0, 99)
                    let! sign = Gen.elements [ -1y; 1y ]
                    return if p < zeroPercent then 0y else sign
                }

            return! Gen.arrayOfLength n weight
        }

    let bias (n: int) (bits: float) : Gen<int[]> =
        let b = int (Math.Pow(2.0, min 30.0 bits))

        Gen.arrayOfLength
            n
            (Gen.frequency [
                8, Gen.choose (-b, b)
                1, Gen.constant 0
                1, Gen.choose (-(1 <<< 30), 1 <<< 30)
            ])

    /// Paddings before and after an input axis of length n for a kernel k: each in [0, k), equal two times in three
    /// (symmetric), raised after where needed so at least one window fits.
    let padding (n: int) (k: int) : Gen<int * int> =
        gen {
            let! before = Gen.choose (0, k - 1)
            let! asymmetric = Gen.frequency [ 2, Gen.constant false; 1, Gen.constant true ]

            let! after =
                if asymmetric then
                    Gen.choose (0, k - 1)
                else
                    Gen.constant before
            // n >= 1, so this stays below k
            return before, max after (k - n - before)
        }

    /// A window along an input axis of length n: kernel 1..5, paddings (before, after) from `padding`, stride 1..3.
    let private window (n: int) : Gen<int * (int * int) * int> =
        gen {
            let! k = Gen.choose (1, 5)
            let! p = padding n k
            let! s = Gen.choose (1, 3)
            return k, p, s
        }

    let private pad ((top, bottom): int * int) ((left, right): int * int) : Padding = {
        Top = top
        Bottom = bottom
        Left = left
        Right = right
    }

    /// A convolution-like case of the given kind reading a tensor of the given shape and zero point.
    let convOn (kind: IntLayerKind) (ternary: bool) (inS: Shape3) (zIn: int) : Gen<ConvCase> =
        gen {
            let! (kh, ph, sh), (kw, pw, sw) =
                match kind with
                | IntLayerKind.Conv
                | IntLayerKind.Depthwise -> Gen.zip (window inS.H) (window inS.W)
                | IntLayerKind.Pointwise ->
                    Gen.zip (Gen.choose (1, 3)) (Gen.choose (1, 3))
                    |> Gen.map (fun (a, b) -> (1, (0, 0), a), (1, (0, 0), b))
                | _ -> Gen.constant ((1, (0, 0), 1), (1, (0, 0), 1))

            let padding = pad ph pw

            let! outC =
                if kind = IntLayerKind.Depthwise then
                    Gen.constant inS.C
                else
                    Gen.choose (1, 17)

            let outS =
                IntConvLayer.OutputShapeOf(
                    kind,
                    inS,
                    kh,
                    kw,
                    sh,
                    sw,
                    padding.Top,
                    padding.Bottom,
                    padding.Left,
                    padding.Right,
                    outC
                )

            let fanIn = IntConvLayer.FanInOf(kind, inS, kh, kw)

            let! weights =
                if ternary then
                    ternaryWeights (outC * fanIn)
                else
                    int8Weights (outC * fanIn)

            let bits = Math.Log2(74.0 * Math.Sqrt(float fanIn)) + (if ternary then 0.0 else 6.2)
            let! b = bias outC bits
            let! ms = Gen.arrayOfLength outC (multiplier bits)
            let! zOut = zeroPoint
            let! lo, hi = clamp zOut

            return {
                Kind = kind
                Ternary = ternary
                In = inS
                Out = outS
                Kernel = (kh, kw)
                Stride = (sh, sw)
                Pad = padding
                Weights = weights
                Bias = b
                M = Array.map fst ms
                S = Array.map snd ms
                ZIn = zIn
                ZOut = zOut
                Lo = lo
                Hi = hi
            }
        }

    /// A convolution-like case with its own input shape: odd sizes, tiny planes, 1..17 channels (1..40 for depthwise).
    let convCase (kind: IntLayerKind) (ternary: bool) : Gen<ConvCase> =
        gen {
            let! h, w, c =
                match kind with
                | IntLayerKind.Conv ->
                    Gen.map3 (fun a b c -> a, b, c) (Gen.choose (1, 12)) (Gen.choose (1, 12)) (Gen.choose (1, 17))
                | IntLayerKind.Pointwise ->
                    Gen.map3 (fun a b c -> a, b, c) (Gen.choose (1, 9)) (Gen.choose (1, 9)) (Gen.choose (1, 40))
                | IntLayerKind.Depthwise ->
                    Gen.map3 (fun a b c -> a, b, c) (Gen.choose (1, 12)) (Gen.choose (1, 12)) (Gen.choose (1, 40))
                | _ -> Gen.map3 (fun a b c -> a, b, c) (Gen.choose (1, 4)) (Gen.choose (1, 4)) (Gen.choose (1, 20))

            let! zIn = zeroPoint
            return! convOn kind ternary (Shape3(h, w, c)) zIn
        }

    /// A pooling case reading a tensor of the given shape and zero point (GlobalAvgPool's window is the whole plane);
    /// max and average pools are zero-padded half the time, and their windows may then exceed the input.
    let poolOn (kind: IntLayerKind) (inS: Shape3) (zIn: int) : Gen<PoolCase> =
        gen {
            let! padded =
                if kind = IntLayerKind.GlobalAvgPool then
                    Gen.constant false
                else
                    Gen.elements [ false; true ]

            let! kh = Gen.choose (1, if padded then 4 else min 4 inS.H)
            let! kw = Gen.choose (1, if padded then 4 else min 4 inS.W)
            let! sh = Gen.choose (1, 3)
            let! sw = Gen.choose (1, 3)
            let! ph = if padded then padding inS.H kh else Gen.constant (0, 0)
            let! pw = if padded then padding inS.W kw else Gen.constant (0, 0)

            let kh, kw =
                if kind = IntLayerKind.GlobalAvgPool then
                    inS.H, inS.W
                else
                    kh, kw

            let! ms = multiplier (Math.Log2(74.0 * float (kh * kw)))

            let! zOut =
                if kind = IntLayerKind.MaxPool then
                    Gen.constant zIn
                else
                    zeroPoint

            let! lo, hi = clamp zOut

            return {
                Kind = kind
                In = inS
                Kernel = (kh, kw)
                Stride = (sh, sw)
                Pad = pad ph pw
                M = fst ms
                S = snd ms
                ZIn = zIn
                ZOut = zOut
                Lo = lo
                Hi = hi
            }
        }

    /// A pooling case with its own input shape (1..40 channels).
    let poolCase (kind: IntLayerKind) : Gen<PoolCase> =
        gen {
            let! inS =
                Gen.map3 (fun h w c -> Shape3(h, w, c)) (Gen.choose (1, 10)) (Gen.choose (1, 10)) (Gen.choose (1, 40))

            let! zIn = zeroPoint
            return! poolOn kind inS zIn
        }

    let toConv (name: string) (c: ConvCase) : IntConvLayer =
        let (kh, kw), (sh, sw), p = c.Kernel, c.Stride, c.Pad
        let rows = c.Out.C
        let rowLength = c.Weights.Length / rows

        let layer =
            IntConvLayer(
                name,
                c.Kind,
                c.In,
                c.Out,
                kh,
                kw,
                sh,
                sw,
                p.Top,
                p.Bottom,
                p.Left,
                p.Right,
                (if c.Ternary then WeightKind.Ternary else WeightKind.Int8),
                (if c.Ternary then null else c.Weights),
                (if c.Ternary then
                     PackedTernary.Pack(rows, rowLength, ReadOnlySpan c.Weights)
                 else
                     null),
                c.Bias,
                c.M,
                c.S,
                c.ZIn,
                c.ZOut,
                c.Lo,
                c.Hi,
                1.0f,
                1.0f,
                Array.create rows 1.0f
            )

        layer.Validate()
        layer

    let toPool (name: string) (c: PoolCase) : IntPoolLayer =
        let (kh, kw), (sh, sw), p = c.Kernel, c.Stride, c.Pad

        let out =
            IntPoolLayer.OutputShapeOf(c.In, kh, kw, sh, sw, p.Top, p.Bottom, p.Left, p.Right)

        let layer =
            IntPoolLayer(
                name,
                c.Kind,
                c.In,
                out,
                kh,
                kw,
                sh,
                sw,
                p.Top,
                p.Bottom,
                p.Left,
                p.Right,
                c.M,
                c.S,
                c.ZIn,
                c.ZOut,
                c.Lo,
                c.Hi,
                1.0f,
                1.0f
            )

        layer.Validate()
        layer

    /// The SIMD levels every optimized body is run at (Vector256 resolves to the best level without AVX2).
    let levels: SimdLevel list = [ SimdLevel.None; SimdLevel.Vector128; SimdLevel.Vector256 ]

    /// One value from a generator with a fixed seed, for deterministic example tests.
    let sampleOne (seed: uint64) (g: Gen<'a>) : 'a =
        Gen.sampleWithSeed (Rnd seed) 10 1 g |> Array.head

open KernelGen

/// Runs a kernel into buffers poisoned two different ways; an element the kernel forgets to write shows up
/// as a disagreement between the two runs.
let private poisoned (size: int) (kernel: sbyte[] -> unit) : sbyte[] list = [
    for p in [ 90y; -91y ] ->
        let out = Array.create size p
        kernel out
        out
]

/// Reference, scalar and optimized (at every SIMD level) outputs all equal, bit for bit.
let private agree
    (layer: IntLayer)
    (input: sbyte[])
    (scalar: sbyte[] -> sbyte[] -> unit)
    (optimized: SimdLevel -> sbyte[] -> sbyte[] -> unit)
    : Property =
    let expected = IntReference.runLayer layer input
    let size = layer.Output.Size

    let outputs = [
        yield "scalar", poisoned size (scalar input)
        for l in levels -> sprintf "optimized %A" l, poisoned size (optimized l input)
    ]

    let bad =
        outputs
        |> List.filter (fun (_, outs) -> outs |> List.exists (fun o -> o <> expected))

    let lo, hi =
        expected |> Array.fold (fun (lo, hi) v -> min lo v, max hi v) (127y, -128y)

    (List.isEmpty bad)
    |> Prop.label (sprintf "disagree with reference: %A" (List.map fst bad))
    |> Prop.classify (lo = hi) "constant output"
    |> Prop.classify (lo < hi) "varied output"

let private convProperty (kind: IntLayerKind) (ternary: bool) : Property =
    let arb =
        gen {
            let! c = convCase kind ternary
            let! x = input c.In.Size
            return c, x
        }
        |> Arb.fromGen

    Prop.forAll arb (fun (c, x) ->
        let layer = toConv "k" c

        let scalar, optimized =
            match ternary, kind with
            | false, IntLayerKind.Depthwise ->
                (fun (i: sbyte[]) (o: sbyte[]) -> DepthwiseS8.Scalar(layer, ReadOnlySpan i, Span o)),
                (fun l (i: sbyte[]) (o: sbyte[]) ->
                    DepthwiseS8.Optimized(DepthwiseS8.Prepare(layer, l), ReadOnlySpan i, Span o))
            | true, IntLayerKind.Depthwise ->
                (fun i o -> DepthwiseT2.Scalar(layer, ReadOnlySpan i, Span o)),
                (fun l i o -> DepthwiseT2.Optimized(DepthwiseT2.Prepare(layer, l), ReadOnlySpan i, Span o))
            | false, _ ->
                (fun i o -> ConvS8.Scalar(layer, ReadOnlySpan i, Span o)),
                (fun l i o -> ConvS8.Optimized(ConvS8.Prepare(layer, l), ReadOnlySpan i, Span o))
            | true, _ ->
                (fun i o -> ConvT2.Scalar(layer, ReadOnlySpan i, Span o)),
                (fun l i o -> ConvT2.Optimized(ConvT2.Prepare(layer, l), ReadOnlySpan i, Span o))

        agree layer x scalar optimized
        |> Prop.classify (not (Padding.isNone c.Pad)) "padded"
        |> Prop.classify (not (Padding.isSymmetric c.Pad)) "asymmetric padding"
        |> Prop.classify (c.ZIn = -128 || c.ZIn = 127) "input zero at an edge")

let private poolProperty (kind: IntLayerKind) : Property =
    let arb =
        gen {
            let! c = poolCase kind
            let! x = input c.In.Size
            return c, x
        }
        |> Arb.fromGen

    Prop.forAll arb (fun (c, x) ->
        let layer = toPool "p" c

        if kind = IntLayerKind.MaxPool then
            agree layer x (fun i o -> MaxPoolS8.Scalar(layer, ReadOnlySpan i, Span o)) (fun l i o ->
                MaxPoolS8.Optimized(MaxPoolS8.Prepare(layer, l), ReadOnlySpan i, Span o))
        else
            agree layer x (fun i o -> AvgPoolS8.Scalar(layer, ReadOnlySpan i, Span o)) (fun l i o ->
                AvgPoolS8.Optimized(AvgPoolS8.Prepare(layer, l), ReadOnlySpan i, Span o))
        |> Prop.classify layer.IsPadded "padded"
        |> Prop.classify (not (Padding.isSymmetric c.Pad)) "asymmetric padding")

[<Tests>]
let tests =
    testList "KernelTests" [
        testPropertyWithConfig (Properties.tests 150) "ConvS8 conv: optimized = scalar = reference"
        <| fun () -> convProperty IntLayerKind.Conv false

        testPropertyWithConfig (Properties.tests 100) "ConvS8 pointwise: optimized = scalar = reference"
        <| fun () -> convProperty IntLayerKind.Pointwise false

        testPropertyWithConfig (Properties.tests 100) "ConvS8 dense: optimized = scalar = reference"
        <| fun () -> convProperty IntLayerKind.Dense false

        testPropertyWithConfig (Properties.tests 150) "ConvT2 conv: optimized = scalar = reference"
        <| fun () -> convProperty IntLayerKind.Conv true

        testPropertyWithConfig (Properties.tests 100) "ConvT2 pointwise: optimized = scalar = reference"
        <| fun () -> convProperty IntLayerKind.Pointwise true

        testPropertyWithConfig (Properties.tests 100) "ConvT2 dense: optimized = scalar = reference"
        <| fun () -> convProperty IntLayerKind.Dense true

        testPropertyWithConfig (Properties.tests 150) "DepthwiseS8: optimized = scalar = reference"
        <| fun () -> convProperty IntLayerKind.Depthwise false

        testPropertyWithConfig (Properties.tests 150) "DepthwiseT2: optimized = scalar = reference"
        <| fun () -> convProperty IntLayerKind.Depthwise true

        testPropertyWithConfig (Properties.tests 150) "MaxPoolS8: optimized = scalar = reference"
        <| fun () -> poolProperty IntLayerKind.MaxPool

        testPropertyWithConfig (Properties.tests 150) "AvgPoolS8: optimized = scalar = reference"
        <| fun () -> poolProperty IntLayerKind.AvgPool

        testPropertyWithConfig (Properties.tests 100) "AvgPoolS8 global: optimized = scalar = reference"
        <| fun () -> poolProperty IntLayerKind.GlobalAvgPool

        // Accumulators anywhere in int32 (biases from the whole range), any S in [1, 62], any M in [2^30, 2^31):
        // the vectorized requantization must still match the scalar formula bit for bit.
        testPropertyWithConfig (Properties.tests 300) "Requantization extremes: optimized = scalar = reference"
        <| fun () ->
            let arb =
                gen {
                    let! kind =
                        Gen.elements [ IntLayerKind.Dense; IntLayerKind.Depthwise; IntLayerKind.Pointwise ]

                    let! ternary = Gen.elements [ false; true ]
                    let! c = convCase kind ternary
                    let n = c.Out.C

                    let! b =
                        Gen.arrayOfLength
                            n
                            (Gen.frequency [ 3, Gen.choose (Int32.MinValue, Int32.MaxValue); 1, Gen.choose (-300, 300) ])

                    let! m =
                        Gen.arrayOfLength
                            n
                            (Gen.frequency [
                                3, Gen.choose (1 <<< 30, Int32.MaxValue)
                                1, Gen.elements [ 1 <<< 30; Int32.MaxValue ]
                            ])

                    let! sh =
                        Gen.arrayOfLength n (Gen.frequency [ 3, Gen.choose (1, 62); 1, Gen.elements [ 1; 31; 32; 62 ] ])

                    let! x = input c.In.Size
                    return { c with Bias = b; M = m; S = sh }, x
                }
                |> Arb.fromGen

            Prop.forAll arb (fun (c, x) ->
                let layer = toConv "q" c

                let optimized (l: SimdLevel) (i: sbyte[]) (o: sbyte[]) =
                    match c.Kind, c.Ternary with
                    | IntLayerKind.Depthwise, false ->
                        DepthwiseS8.Optimized(DepthwiseS8.Prepare(layer, l), ReadOnlySpan i, Span o)
                    | IntLayerKind.Depthwise, true ->
                        DepthwiseT2.Optimized(DepthwiseT2.Prepare(layer, l), ReadOnlySpan i, Span o)
                    | _, false -> ConvS8.Optimized(ConvS8.Prepare(layer, l), ReadOnlySpan i, Span o)
                    | _, true -> ConvT2.Optimized(ConvT2.Prepare(layer, l), ReadOnlySpan i, Span o)

                let scalar (i: sbyte[]) (o: sbyte[]) =
                    match c.Kind, c.Ternary with
                    | IntLayerKind.Depthwise, false -> DepthwiseS8.Scalar(layer, ReadOnlySpan i, Span o)
                    | IntLayerKind.Depthwise, true -> DepthwiseT2.Scalar(layer, ReadOnlySpan i, Span o)
                    | _, false -> ConvS8.Scalar(layer, ReadOnlySpan i, Span o)
                    | _, true -> ConvT2.Scalar(layer, ReadOnlySpan i, Span o)

                agree layer x scalar optimized
                |> Prop.classify (c.Out.C >= 8) "at least one full block of 8 channels")

        // Every fan-in from 1 to 257 (either side of each vector width) through a dense layer, int8 and ternary.
        testCase "Dense fan-in sweep 1..257 agrees at every SIMD level"
        <| fun () ->
            let rng = Random(20240601)

            for fanIn in 1..257 do
                for ternary in [ false; true ] do
                    let c: ConvCase = sampleOne (uint64 fanIn) (convCase IntLayerKind.Dense ternary)
                    let c: ConvCase = { c with In = Shape3(1, 1, fanIn) }

                    let weights =
                        Array.init (c.Out.C * fanIn) (fun _ ->
                            sbyte (if ternary then rng.Next(-1, 2) else rng.Next(-127, 128)))

                    let c: ConvCase = { c with Weights = weights }
                    let layer = toConv "d" c
                    let x = Array.init fanIn (fun _ -> sbyte (rng.Next(-128, 128)))
                    let expected = IntReference.runLayer layer x

                    for l in levels do
                        let out = Array.create c.Out.C 77y

                        if ternary then
                            ConvT2.Optimized(ConvT2.Prepare(layer, l), ReadOnlySpan x, Span out)
                        else
                            ConvS8.Optimized(ConvS8.Prepare(layer, l), ReadOnlySpan x, Span out)

                        Expect.equal out expected (sprintf "fan-in %d ternary %b level %A" fanIn ternary l)

        // Channel counts 1..40 (either side of 4, 8, 16 and 32 lanes) through depthwise and pooling layers.
        testCase "Channel sweep 1..40 agrees at every SIMD level"
        <| fun () ->
            let rng = Random(7)

            for channels in 1..40 do
                let c: ConvCase =
                    sampleOne (uint64 channels) (convCase IntLayerKind.Depthwise (channels % 2 = 0))

                let inS = Shape3(5, 4, channels)

                let stride = 1 + channels % 3

                let c: ConvCase = {
                    c with
                        In = inS
                        Kernel = (3, 3)
                        Stride = (stride, 1)
                        Pad = Padding.symmetric 1 1
                        Out = Shape3(IntConvLayer.ConvOut(5, 3, stride, 1), IntConvLayer.ConvOut(4, 3, 1, 1), channels)
                        Weights =
                            Array.init (channels * 9) (fun _ ->
                                sbyte (
                                    if channels % 2 = 0 then
                                        rng.Next(-1, 2)
                                    else
                                        rng.Next(-127, 128)
                                ))
                        Bias = Array.init channels (fun _ -> rng.Next(-5000, 5000))
                        M = Array.create channels (1 <<< 30)
                        S = Array.create channels 34
                }

                let dw = toConv "dw" c
                let pc0: PoolCase = sampleOne (uint64 channels) (poolCase IntLayerKind.MaxPool)

                let pc = {
                    pc0 with
                        In = inS
                        Kernel = (2, 3)
                        Stride = (1, 2)
                        // every third channel count pads the pools on all four sides differently
                        Pad =
                            if channels % 3 = 0 then
                                {
                                    Top = 1
                                    Bottom = 0
                                    Left = 0
                                    Right = 2
                                }
                            else
                                Padding.none
                }

                let mp = toPool "mp" pc

                let ap =
                    toPool "ap" {
                        pc with
                            Kind = IntLayerKind.AvgPool
                            M = 1 <<< 30
                            S = 33
                    }

                let x = Array.init inS.Size (fun _ -> sbyte (rng.Next(-128, 128)))

                for l in levels do
                    let run (layer: IntLayer) (f: sbyte[] -> unit) =
                        let out = Array.create layer.Output.Size -1y
                        f out

                        Expect.equal
                            out
                            (IntReference.runLayer layer x)
                            (sprintf "%s, %d channels, %A" layer.Name channels l)

                    run dw (fun o ->
                        if c.Ternary then
                            DepthwiseT2.Optimized(DepthwiseT2.Prepare(dw, l), ReadOnlySpan x, Span o)
                        else
                            DepthwiseS8.Optimized(DepthwiseS8.Prepare(dw, l), ReadOnlySpan x, Span o))

                    run mp (fun o -> MaxPoolS8.Optimized(MaxPoolS8.Prepare(mp, l), ReadOnlySpan x, Span o))
                    run ap (fun o -> AvgPoolS8.Optimized(AvgPoolS8.Prepare(ap, l), ReadOnlySpan x, Span o))

        // The F# requantization and Requantize.Apply agree on random and extreme accumulators.
        testPropertyWithConfig (Properties.tests 1000) "IntReference.requantize = Requantize.Apply"
        <| fun () ->
            let arb =
                gen {
                    let! acc =
                        Gen.frequency [
                            4, Gen.choose (-100000, 100000)
                            1, Gen.elements [ Int32.MinValue; Int32.MaxValue; 0; -1; 1 ]
                            1, Gen.choose (Int32.MinValue, Int32.MaxValue)
                        ]

                    let! m, s = multiplier 12.0
                    let! s = Gen.frequency [ 4, Gen.constant s; 1, Gen.elements [ 1; 62 ] ]
                    let! z = zeroPoint
                    let! lo, hi = clamp z
                    return acc, m, s, z, lo, hi
                }
                |> Arb.fromGen

            Prop.forAll arb (fun (acc, m, s, z, lo, hi) ->
                IntReference.requantize acc m s z lo hi = Requantize.Apply(acc, m, s, z, lo, hi))

        // Ties round toward +infinity (acc * M / 2^S exactly halfway), and the zero point is added after rounding.
        testCase "Requantize ties go toward plus infinity"
        <| fun () ->
            let half = 1 <<< 30 // M / 2^31 = 0.5

            for acc, expected in [ 1, 1; -1, 0; 3, 2; -3, -1; 2, 1; -2, -1; 0, 0 ] do
                Expect.equal (IntReference.requantize acc half 31 0 -128 127) expected (sprintf "acc %d" acc)
                Expect.equal (Requantize.Apply(acc, half, 31, 0, -128, 127)) expected (sprintf "acc %d" acc)

            Expect.equal (IntReference.requantize 1000 half 31 -128 -128 127) 127 "a high accumulator clamps to the top"
            Expect.equal (IntReference.requantize -1000 half 31 5 5 127) 5 "a low accumulator clamps to the bottom"

        // A ternary layer whose weights are all zero outputs the requantized bias alone.
        testCase "ConvT2 with all-zero weights outputs the bias"
        <| fun () ->
            let c: ConvCase = sampleOne 3UL (convCase IntLayerKind.Conv true)

            let c: ConvCase = {
                c with
                    Weights = Array.zeroCreate c.Weights.Length
            }

            let layer = toConv "z" c
            let x = Array.init c.In.Size (fun i -> sbyte (i % 256 - 128))

            let expected =
                Array.init c.Out.Size (fun i ->
                    let oc = i % c.Out.C
                    sbyte (Requantize.Apply(c.Bias[oc], c.M[oc], c.S[oc], c.ZOut, c.Lo, c.Hi)))

            let out = Array.zeroCreate c.Out.Size
            ConvT2.Optimized(ConvT2.Prepare layer, ReadOnlySpan x, Span out)
            Expect.equal out expected "Optimized outputs the requantized bias"
            ConvT2.Scalar(layer, ReadOnlySpan x, Span out)
            Expect.equal out expected "Scalar outputs the requantized bias"

        // Kernels refuse wrong buffer sizes, short scratch and layers of another kind before touching memory.
        testCase "Kernels reject bad arguments"
        <| fun () ->
            let c: ConvCase = sampleOne 4UL (convCase IntLayerKind.Conv false)
            let layer = toConv "c" c
            let x = Array.zeroCreate<sbyte> c.In.Size
            let out = Array.zeroCreate<sbyte> c.Out.Size
            let p = ConvS8.Prepare layer

            Expect.throwsT<ArgumentException>
                (fun () -> ConvS8.Scalar(layer, ReadOnlySpan x[1..], Span out))
                "ConvS8.Scalar refuses a short input"

            Expect.throwsT<ArgumentException>
                (fun () -> ConvS8.Optimized(p, ReadOnlySpan x, Span out[1..]))
                "ConvS8.Optimized refuses a short output"

            Expect.throwsT<ArgumentException>
                (fun () ->
                    ConvS8.Optimized(p, ReadOnlySpan x, Span out, Span(Array.zeroCreate<int16>(p.ScratchLength - 1))))
                "ConvS8.Optimized refuses a short scratch"

            Expect.throwsT<ArgumentException>
                (fun () -> ConvT2.Scalar(layer, ReadOnlySpan x, Span out))
                "ConvT2.Scalar refuses an int8 layer"

            Expect.throwsT<ArgumentException>
                (fun () -> ConvT2.Prepare layer |> ignore)
                "ConvT2.Prepare refuses an int8 layer"

            Expect.throwsT<ArgumentException>
                (fun () -> DepthwiseS8.Scalar(layer, ReadOnlySpan x, Span out))
                "DepthwiseS8.Scalar refuses a conv layer"

        testCase "SIMD levels resolve to something this machine runs"
        <| fun () ->
            Expect.equal (SimdLevels.Resolve SimdLevel.Auto) SimdLevels.Best "Auto resolves to the best level"
            Expect.equal (SimdLevels.Resolve SimdLevel.None) SimdLevel.None "None stays None"
            Expect.equal (SimdLevels.Resolve SimdLevel.Vector128) SimdLevel.Vector128 "Vector128 stays Vector128"

            if not System.Runtime.Intrinsics.X86.Avx2.IsSupported then
                Expect.notEqual
                    (SimdLevels.Resolve SimdLevel.Vector256)
                    SimdLevel.Vector256
                    "Vector256 without AVX2 resolves to a lower level"
    ]
