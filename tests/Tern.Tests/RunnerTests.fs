module Tern.Tests.RunnerTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Kernels
open Tern.Runtime.Engine
open Tern.Tests.KernelTests.KernelGen

/// Random whole models: a body of convolutions and pools, then optionally a classifier head.
module private ModelGen =

    let private layerOn (i: int) (shape: Shape3) (z: int) : Gen<IntLayer * int> =
        gen {
            let! kind =
                Gen.elements [
                    IntLayerKind.Conv
                    IntLayerKind.Depthwise
                    IntLayerKind.Pointwise
                    IntLayerKind.MaxPool
                    IntLayerKind.AvgPool
                ]

            let! ternary = Gen.elements [ false; true ]
            let name = sprintf "l%d" i

            match kind with
            | IntLayerKind.MaxPool
            | IntLayerKind.AvgPool ->
                let! p = poolOn kind shape z
                return (toPool name p :> IntLayer), p.ZOut
            | _ ->
                let! c = convOn kind ternary shape z
                return (toConv name c :> IntLayer), c.ZOut
        }

    let rec private body (i: int) (n: int) (shape: Shape3) (z: int) : Gen<IntLayer list * Shape3 * int> =
        gen {
            if i = n then
                return [], shape, z
            else
                let! layer, z' = layerOn i shape z
                let! rest, shape', z'' = body (i + 1) n layer.Output z'
                return layer :: rest, shape', z''
        }

    /// Heads: none, global average pool, flatten + dense, global pool + flatten + dense, dense alone.
    let private head (shape: Shape3) (z: int) : Gen<IntLayer list> =
        gen {
            let! choice = Gen.choose (0, 4)
            let! ternary = Gen.elements [ false; true ]

            let dense (s: Shape3) (z: int) =
                convOn IntLayerKind.Dense ternary s z
                |> Gen.map (fun c -> toConv "dense" c :> IntLayer)

            match choice with
            | 1 ->
                let! g = poolOn IntLayerKind.GlobalAvgPool shape z
                return [ toPool "gap" g :> IntLayer ]
            | 2 ->
                let flat = IntFlattenLayer("flatten", shape)
                let! d = dense flat.Output z
                return [ flat :> IntLayer; d ]
            | 3 ->
                let! g = poolOn IntLayerKind.GlobalAvgPool shape z
                let gap = toPool "gap" g
                let flat = IntFlattenLayer("flatten", gap.Output)
                let! d = dense flat.Output g.ZOut
                return [ gap :> IntLayer; flat :> IntLayer; d ]
            | 4 ->
                let! d = dense shape z
                return [ d ]
            | _ -> return []
        }

    let model: Gen<IntModel> =
        gen {
            let! inS =
                Gen.map3 (fun h w c -> Shape3(h, w, c)) (Gen.choose (1, 10)) (Gen.choose (1, 10)) (Gen.choose (1, 6))

            let! z0 = zeroPoint
            let! n = Gen.choose (0, 4)
            let! layers, shape, z = body 0 n inS z0
            let! tail = head shape z
            let all = List.toArray (layers @ tail)

            let outputs =
                if all.Length = 0 then
                    inS.Size
                else
                    (Array.last all).Output.Size

            return IntModel("random", inS, 0.05f, z0, all, Array.init outputs string)
        }

    let modelWithInputs (count: int * int) : Gen<IntModel * sbyte[][]> =
        gen {
            let! m = model
            let! n = Gen.choose count
            let! xs = Gen.arrayOfLength n (input m.Input.Size)
            return m, xs
        }

    /// The model of the brief: conv 3x3 1->8 /2 on 64x64x1, depthwise 3x3 /2, pointwise 8->32, avgpool 4x4, flatten, dense 512->5.
    let example (ternary: bool) (seed: uint64) : IntModel =
        let conv kind inS k s p outC z =
            sampleOne seed (convOn kind ternary inS z)
            |> fun c ->
                let outS = IntConvLayer.OutputShapeOf(kind, inS, k, k, s, s, p, p, outC)
                let fanIn = IntConvLayer.FanInOf(kind, inS, k, k)

                let rng = Random(int seed + outC)

                {
                    c with
                        Kernel = (k, k)
                        Stride = (s, s)
                        Pad = Padding.symmetric p p
                        Out = outS
                        Weights =
                            Array.init (outC * fanIn) (fun _ ->
                                sbyte (if ternary then rng.Next(-1, 2) else rng.Next(-127, 128)))
                        Bias = Array.init outC (fun _ -> rng.Next(-2000, 2000))
                        M = Array.create outC (1 <<< 30)
                        S = Array.create outC (if ternary then 30 else 36)
                        Lo = -128
                        Hi = 127
                }
                |> toConv (sprintf "%A" kind)

        let c1 = conv IntLayerKind.Conv (Shape3(64, 64, 1)) 3 2 1 8 -3
        let dw = conv IntLayerKind.Depthwise c1.Output 3 2 1 8 c1.OutputZero
        let pw = conv IntLayerKind.Pointwise dw.Output 1 1 0 32 dw.OutputZero

        let pool =
            toPool "pool" {
                sampleOne seed (poolOn IntLayerKind.AvgPool pw.Output pw.OutputZero) with
                    Kernel = (4, 4)
                    Stride = (4, 4)
                    M = 1 <<< 30
                    S = 34
                    Lo = -128
                    Hi = 127
            }

        let flat = IntFlattenLayer("flatten", pool.Output)
        let dense = conv IntLayerKind.Dense flat.Output 1 1 0 5 pool.OutputZero

        IntModel(
            "example",
            Shape3(64, 64, 1),
            0.05f,
            -3,
            [| c1; dw; pw; pool; flat; dense |],
            [| "a"; "b"; "c"; "d"; "e" |]
        )

open ModelGen

let private runnersOf (m: IntModel) : (string * Runner) list = [
    yield "scalar", Runner(m, KernelMode.Scalar)
    for l in levels -> sprintf "optimized %A" l, Runner(m, KernelMode.Optimized, l)
]

[<Tests>]
let tests =
    testList "RunnerTests" [
        testPropertyWithConfig
            (Properties.tests 120)
            "Runner in every mode and SIMD level = IntReference, layer by layer"
        <| fun () ->
            Prop.forAll (Arb.fromGen (modelWithInputs (1, 2))) (fun (m, xs) ->
                let runners = runnersOf m

                let ok =
                    xs
                    |> Array.forall (fun x ->
                        let expected = IntReference.runLayers m x |> List.toArray
                        let final = IntReference.run m x

                        runners
                        |> List.forall (fun (_, r) -> r.RunLayers x = expected && r.Run x = final))

                let ternary =
                    m.Layers
                    |> Array.exists (function
                        | :? IntConvLayer as c -> c.WeightKind = WeightKind.Ternary
                        | _ -> false)

                ok
                |> Prop.classify ternary "has ternary layers"
                |> Prop.classify (m.Layers |> Array.exists (fun l -> l.Kind = IntLayerKind.Flatten)) "has flatten"
                |> Prop.collect (sprintf "%d layers" m.Layers.Length))

        testPropertyWithConfig (Properties.tests 40) "RunBatch equals sequential runs, in input order"
        <| fun () ->
            let arb =
                gen {
                    let! m, xs = modelWithInputs (0, 9)
                    let! dop = Gen.choose (1, 4)
                    let! mode = Gen.elements [ KernelMode.Scalar; KernelMode.Optimized ]
                    return m, xs, dop, mode
                }
                |> Arb.fromGen

            Prop.forAll arb (fun (m, xs, dop, mode) ->
                let r = Runner(m, mode)
                let sequential = xs |> Array.map (fun x -> r.Run x)
                Runner.RunBatch(m, mode, xs, dop) = sequential)

        testPropertyWithConfig
            (Properties.tests 200)
            "MemoryPlan never overlaps a layer's input and output, and its arena is the peak"
        <| fun () ->
            Prop.forAll (Arb.fromGen model) (fun m ->
                let plan = MemoryPlan.Create m
                let slots = plan.Layers |> Seq.toArray

                let inside (o: int) (n: int) =
                    o >= 0 && n >= 0 && o + n <= plan.ArenaBytes

                let disjoint (a: int) (na: int) (b: int) (nb: int) = a + na <= b || b + nb <= a

                let peak =
                    m.Layers
                    |> Array.filter (fun l -> l.Kind <> IntLayerKind.Flatten)
                    |> Array.map (fun l -> l.Input.Size + l.Output.Size)
                    |> Array.fold max m.Input.Size

                let chained =
                    slots
                    |> Array.mapi (fun i s ->
                        s.InputOffset =
                            (if i = 0 then
                                 plan.InputOffset
                             else
                                 slots[i - 1].OutputOffset))
                    |> Array.forall id

                let perLayer =
                    Array.zip m.Layers slots
                    |> Array.forall (fun (l, s) ->
                        s.InputBytes = l.Input.Size
                        && s.OutputBytes = l.Output.Size
                        && inside s.InputOffset s.InputBytes
                        && inside s.OutputOffset s.OutputBytes
                        && (if l.Kind = IntLayerKind.Flatten then
                                s.IsView
                            else
                                disjoint s.InputOffset s.InputBytes s.OutputOffset s.OutputBytes))

                (plan.ArenaBytes = peak
                 && chained
                 && perLayer
                 && Runner(m, KernelMode.Scalar).ArenaBytes = peak)
                |> Prop.collect (sprintf "%d layers" m.Layers.Length))

        testPropertyWithConfig
            (Properties.tests 60)
            "Split inference: the suffix from layer k on the prefix's output is the whole run, for every k"
        <| fun () ->
            Prop.forAll (Arb.fromGen (modelWithInputs (1, 1))) (fun (m, xs) ->
                let r = Runner(m, KernelMode.Optimized)
                let whole = r.Run xs[0]
                let layers = r.RunLayers xs[0]

                [ 0 .. m.Layers.Length ]
                |> List.forall (fun k ->
                    let mid = r.RunPrefix(xs[0], k)
                    let expected = if k = 0 then xs[0] else layers[k - 1]
                    mid = expected && r.RunSuffix(k, ReadOnlySpan mid) = whole)
                |> Prop.collect (sprintf "%d layers" m.Layers.Length))

        testCase "Split inference refuses a layer index or activation size that does not fit"
        <| fun () ->
            let m, xs = Gen.sample 1 (modelWithInputs (1, 1)) |> Seq.head
            let r = Runner(m, KernelMode.Scalar)

            Expect.throwsT<ArgumentOutOfRangeException>
                (fun () -> r.RunPrefix(xs[0], m.Layers.Length + 1) |> ignore)
                "RunPrefix refuses a layer index past the last"

            Expect.throwsT<ArgumentOutOfRangeException>
                (fun () -> r.RunSuffix(-1, ReadOnlySpan xs[0]) |> ignore)
                "RunSuffix refuses a negative layer index"

            Expect.throwsT<ArgumentException>
                (fun () ->
                    r.RunSuffix(0, ReadOnlySpan(Array.zeroCreate<sbyte>(m.Input.Size + 1)))
                    |> ignore)
                "RunSuffix refuses an activation of the wrong size"

        testPropertyWithConfig (Properties.tests 60) "A runner reused on other inputs gives the same answers"
        <| fun () ->
            Prop.forAll (Arb.fromGen (modelWithInputs (2, 2))) (fun (m, xs) ->
                let r = Runner(m, KernelMode.Optimized)
                let a = r.Run xs[0]
                let _ = r.Run xs[1]
                let span = Array.create m.Output.Size 55y
                r.Run(ReadOnlySpan xs[0], Span span)
                r.Run xs[0] = a && span = a)

        testCase "The example model agrees in both modes, int8 and ternary"
        <| fun () ->
            for ternary in [ false; true ] do
                let m = example ternary 11UL
                let rng = Random 5
                let x = Array.init m.Input.Size (fun _ -> sbyte (rng.Next(-128, 128)))
                let expected = IntReference.runLayers m x |> List.toArray

                for name, r in runnersOf m do
                    Expect.equal (r.RunLayers x) expected (sprintf "%s ternary %b" name ternary)

                let logits = Array.last expected
                Expect.equal logits.Length 5 "five logits"
                // Arena: the conv layer's 64x64x1 input plus its 32x32x8 output is the peak.
                Expect.equal (Runner(m, KernelMode.Optimized).ArenaBytes) (64 * 64 + 32 * 32 * 8) "arena bytes"

        testPropertyWithConfig (Properties.tests 300) "Argmax is the first index of the maximum"
        <| fun () ->
            let arb =
                Gen.choose (1, 12)
                |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.choose (-3, 3) |> Gen.map sbyte))
                |> Arb.fromGen

            Prop.forAll arb (fun xs ->
                let expected = Array.findIndex ((=) (Array.max xs)) xs
                let ties = xs |> Array.filter ((=) (Array.max xs)) |> Array.length > 1

                (Runner.Argmax(ReadOnlySpan xs) = expected && IntReference.argmax xs = expected)
                |> Prop.classify ties "tied maximum")

        testCase "Argmax pinned cases"
        <| fun () ->
            Expect.equal (Runner.Argmax(ReadOnlySpan [| 3y; 7y; 7y; 1y |])) 1 "first of two equal maxima"
            Expect.equal (Runner.Argmax(ReadOnlySpan [| -128y; -128y |])) 0 "first of two equal minima"
            Expect.equal (Runner.Argmax(ReadOnlySpan [| -5y; 127y |])) 1 "the larger of two"

            Expect.throwsT<ArgumentException>
                (fun () -> Runner.Argmax(ReadOnlySpan Array.empty<sbyte>) |> ignore)
                "Argmax refuses an empty span"

        testCase "Runner rejects invalid models and wrong buffer sizes"
        <| fun () ->
            let m = example false 3UL
            // Drop the depthwise layer: the pointwise layer then receives 32x32x8 where it expects 16x16x8.
            let broken =
                IntModel(
                    "broken",
                    m.Input,
                    m.InputScale,
                    m.InputZero,
                    Array.append m.Layers[..0] m.Layers[2..],
                    m.ClassNames
                )

            Expect.throwsT<InvalidDataException>
                (fun () -> Runner(broken, KernelMode.Optimized) |> ignore)
                "a broken model has no runner"

            Expect.throwsT<InvalidDataException>
                (fun () -> Runner.RunBatch(broken, KernelMode.Scalar, [||], 2) |> ignore)
                "RunBatch refuses a broken model"

            let r = Runner(m, KernelMode.Optimized)

            Expect.throwsT<ArgumentException>
                (fun () -> r.Run(Array.zeroCreate<sbyte> 5) |> ignore)
                "Run refuses an input of the wrong size"

            Expect.throwsT<ArgumentException>
                (fun () -> r.Run(ReadOnlySpan(Array.zeroCreate<sbyte> m.Input.Size), Span(Array.zeroCreate<sbyte> 4)))
                "Run refuses an output span of the wrong size"

            Expect.throwsT<ArgumentException>
                (fun () -> Runner.RunBatch(m, KernelMode.Scalar, [| Array.zeroCreate 3 |], 1) |> ignore)
                "RunBatch refuses an input of the wrong size"

            Expect.throwsT<ArgumentOutOfRangeException>
                (fun () -> Runner.RunBatch(m, KernelMode.Scalar, [||], 0) |> ignore)
                "RunBatch refuses a degree of parallelism of 0"

        testCase "A model without layers returns its input"
        <| fun () ->
            let m = IntModel("empty", Shape3(2, 3, 1), 1.0f, 0, [||], [||])
            let x = [| 1y; -2y; 3y; -4y; 5y; -128y |]
            let r = Runner(m, KernelMode.Optimized)
            Expect.equal (r.Run x) x "Run returns the input"
            Expect.equal r.ArenaBytes 6 "arena bytes"
            Expect.equal (IntReference.run m x) x "IntReference.run returns the input"
    ]
