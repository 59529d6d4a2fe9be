module Tern.Tests.ResidualTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Studies
open Tern.Tests.GradCheck
open Tern.Runtime
open Tern.Runtime.Kernels
open Tern.Runtime.Engine

/// Random float models with residual blocks, and the helpers of this file.
module private ResidualGen =

    /// What a random block model is built from (the layers come from a seeded generator, so cases shrink by shape).
    type Spec = {
        H: int
        W: int
        C: int
        /// Per segment: 0 = a plain conv 3x3 (channel change), 1 = an inverted residual block, 2 = a block whose add
        /// is followed by a ReLU (fused into the add's clamp), 3 = max pooling 2x2/1 (a grid that follows its input).
        Segments: int list
        Seed: int
    }

    let rand (rng: Random) (lo: float32) (hi: float32) : float32 =
        lo + (hi - lo) * float32 (rng.NextDouble())

    /// A batch norm with random statistics (so folding changes the weights).
    let batchNorm (rng: Random) (c: int) : Layer =
        BatchNorm {
            Gamma = Array.init c (fun _ -> rand rng 0.5f 1.5f)
            Beta = Array.init c (fun _ -> rand rng -0.3f 0.3f)
            Mean = Array.init c (fun _ -> rand rng -0.2f 0.2f)
            Var = Array.init c (fun _ -> rand rng 0.5f 2.0f)
            Eps = 1e-5f
        }

    /// expand 1x1 (C -> 2C) -> BN -> ReLU6 -> depthwise 3x3 -> BN -> ReLU6 -> project 1x1 -> BN -> add.
    let block (rng: Random) (c: int) : Layer list =
        let h = 2 * c

        [
            Pointwise(Architectures.conv rng c h 1 1 0)
            batchNorm rng h
            ReLU6
            DepthwiseConv2d(Architectures.depthwise rng h 3 1 1)
            batchNorm rng h
            ReLU6
            Pointwise(Architectures.conv rng h c 1 1 0)
            batchNorm rng c
            ResidualAdd 8
        ]

    let build (s: Spec) : Model =
        let rng = Random(s.Seed)

        // (layers, channels, pools so far): a 2x2/1 pool shrinks the map by one, so pools stop at a 2-wide map.
        let layers, _, _ =
            s.Segments
            |> List.fold
                (fun (acc, c, pools) seg ->
                    match seg with
                    | 0 ->
                        let c' = 1 + rng.Next 4
                        acc @ [ Conv2d(Architectures.conv rng c c' 3 1 1); batchNorm rng c'; ReLU ], c', pools
                    | 1 -> acc @ block rng c, c, pools
                    | 2 -> acc @ block rng c @ [ ReLU ], c, pools
                    | _ when min s.H s.W - pools <= 2 -> acc, c, pools
                    | _ ->
                        acc
                        @ [
                            MaxPool {
                                KernelH = 2
                                KernelW = 2
                                StrideH = 1
                                StrideW = 1
                                Pad = Padding.none
                            }
                        ],
                        c,
                        pools + 1)
                ([], s.C, 0)

        let probe = {
            Name = "residual"
            Input = Shape3(s.H, s.W, s.C)
            Layers = layers
            Classes = [ "a"; "b"; "c" ]
            Meta = Map.empty
        }

        let last = Model.shapes probe |> List.last

        {
            probe with
                Layers = layers @ [ Flatten; Dense(Architectures.dense rng last.Size 3) ]
        }

    let spec: Gen<Spec> =
        gen {
            let! h = Gen.choose (3, 6)
            let! w = Gen.choose (3, 6)
            let! c = Gen.choose (1, 4)
            let! n = Gen.choose (1, 5)
            // Mostly blocks (often back to back, sometimes first: the model input is then the skip tensor).
            let! segments =
                Gen.listOfLength
                    n
                    (Gen.frequency [ 2, Gen.constant 0; 5, Gen.constant 1; 2, Gen.constant 2; 1, Gen.constant 3 ])

            let! seed = Gen.choose (0, 1_000_000)
            // At least one block.
            let segments =
                if List.exists (fun s -> s = 1 || s = 2) segments then
                    segments
                else
                    1 :: segments

            return {
                H = h
                W = w
                C = c
                Segments = segments
                Seed = seed
            }
        }

    let inputs (m: Model) (seed: int) (n: int) : Tensor list =
        let rng = Random(seed)
        List.init n (fun _ -> Tensor.random rng -1.0f 1.0f m.Input)

    let lower (options: LowerOptions) (m: Model) (seed: int) : IntModel =
        match Lower.lower options (inputs m seed 3) m with
        | Ok im -> im
        | Error e -> failwith $"lowering failed: {e}"

    /// A random add layer of n elements: extreme zero points and clamps, typical, any or tiny (S = 62) multipliers.
    let addLayer: Gen<IntAddLayer> =
        gen {
            let zero =
                Gen.frequency [ 1, Gen.constant -128; 1, Gen.constant 127; 4, Gen.choose (-128, 127) ]

            let! n = Gen.choose (1, 257)
            let! za = zero
            let! zb = zero
            let! zo = zero
            let! kind = Gen.choose (0, 5)
            let! big = Gen.choose (1 <<< 30, Int32.MaxValue)
            let! tiny = Gen.choose (0, (1 <<< 30) - 1)
            let! anyShift = Gen.choose (1, 62)
            let! typical = Gen.choose (29, 33)
            let! fraction = Gen.choose (0, 1000)
            let! swap = Gen.elements [ false; true ]
            let! a = Gen.choose (-128, 127)
            let! b = Gen.choose (-128, 127)
            let! relu = Gen.elements [ false; true ]

            let mBig, s =
                match kind with
                | 0 -> tiny, 62
                | 1 -> big, anyShift
                | _ -> big, typical

            let mSmall = int (int64 mBig * int64 fraction / 1000L)
            let ma, mb = if swap then mSmall, mBig else mBig, mSmall
            let lo, hi = if relu then max zo -128, 127 else min a b, max a b

            return IntAddLayer("add", Shape3(1, 1, n), 1, ma, mb, s, za, zb, zo, lo, hi, 1.0f, 1.0f, 1.0f)
        }

    let codes (n: int) : Gen<sbyte[]> =
        Gen.frequency [
            1, Gen.elements [ -128y; 127y; 0y ] |> Gen.map (Array.create n)
            5, Gen.arrayOfLength n (Gen.choose (-128, 127) |> Gen.map sbyte)
        ]

    /// The repository root (the first ancestor of the test binary holding models/default.tern).
    let root () : string = Fixtures.above "models/default.tern"

open ResidualGen

// ---- IR ----

let private ``blocks architecture: 7 droppable blocks, under 1.5 M MACs on 64x64x1, registered by name`` () =
    let m = Architectures.blocksFor (Shape3(64, 64, 1)) Architectures.radarClasses 1
    Expect.equal (Model.validate m) (Result<unit, string>.Ok()) "the 64x64x1 blocks model is valid"
    Expect.equal (Model.residualBlocks m |> List.length) 7 "7 residual blocks"
    Expect.isLessThan (Model.totalMacs m) 1_500_000L "under 1.5 M MACs"
    Expect.contains Architectures.names "blocks" "registered by name"

    match Architectures.byName "blocks" 1, Architectures.forData "blocks" (Shape3(32, 32, 2)) [ "x"; "y" ] 1 with
    | Ok a, Ok b ->
        Expect.isTrue (a = m) "byName gives the same model"
        Expect.equal (Model.validate b) (Result<unit, string>.Ok()) "the 32x32x2 blocks model is valid"
        Expect.equal b.Input (Shape3(32, 32, 2)) "its input shape"
    | other -> failtest $"%A{other}"

    // The add is described like any layer: no parameters, one add per output element.
    let adds = Model.describe m |> List.filter (fun l -> l.Kind = "add")

    Expect.isTrue
        (adds |> List.forall (fun l -> l.Params = 0 && l.Macs = int64 l.OutputShape.Size))
        "an add costs no parameters and one add per output element"

let private ``validate rejects bad spans, overlapping blocks and shape changes inside a block`` () =
    let rng = Random(1)
    let c = 3

    let model layers = {
        Name = "m"
        Input = Shape3(4, 4, c)
        Layers = layers
        Classes = []
        Meta = Map.empty
    }

    let body = block rng c |> List.take 8
    let isError (m: Model) = Model.validate m |> Result.isError
    Expect.isFalse (model (body @ [ ResidualAdd 8 ]) |> isError) "an add closing the 8-layer body is valid"
    Expect.isTrue (model (body @ [ ResidualAdd 0 ]) |> isError) "a span of 0"
    Expect.isTrue (model (body @ [ ResidualAdd 9 ]) |> isError) "a span of 9 over an 8-layer body"
    // Nested: the second add's block starts inside the first.
    Expect.isTrue (model (body @ [ ResidualAdd 8; ResidualAdd 3 ]) |> isError) "a block starting inside another"
    // Back to back is fine.
    Expect.isFalse (model (body @ [ ResidualAdd 8 ] @ body @ [ ResidualAdd 8 ]) |> isError) "blocks back to back"
    // The body changes the channel count.
    let widen = Pointwise(Architectures.conv rng c (c + 1) 1 1 0)
    Expect.isTrue (model (body @ [ widen; ResidualAdd 9 ]) |> isError) "a body that changes the channel count"

let private ``dropBlocks removes exactly the listed blocks and keeps the model valid; dropping none is the identity``
    ()
    =
    let arb =
        gen {
            let! s = spec
            let m = build s
            let n = Model.residualBlocks m |> List.length
            let! keep = Gen.listOfLength n (Gen.elements [ false; true ])
            let drop = keep |> List.indexed |> List.filter (snd >> not) |> List.map fst
            return m, drop
        }
        |> Arb.fromGen

    Prop.forAll arb (fun (m, drop) ->
        let blocks = Model.residualBlocks m |> List.toArray
        let d = Model.dropBlocks drop m

        let removed =
            drop |> List.collect (fun p -> let f, l = blocks[p] in [ f..l ]) |> Set.ofList

        let expected =
            m.Layers
            |> List.indexed
            |> List.filter (fun (i, _) -> not (removed.Contains i))
            |> List.map snd

        (Model.dropBlocks [] m = m
         && Model.validate d = Ok()
         && d.Layers = expected
         && List.length (Model.residualBlocks d) = blocks.Length - drop.Length)
        |> Prop.classify (drop.IsEmpty) "none dropped"
        |> Prop.classify (drop.Length = blocks.Length) "all dropped")

let private ``dropBlocks rejects an unknown block`` () =
    let m = Architectures.blocksFor (Shape3(16, 16, 1)) [ "a"; "b" ] 1

    let e = Expect.throwsC (fun () -> Model.dropBlocks [ 7 ] m |> ignore) id
    Expect.equal (e.GetType()) typeof<ArgumentException> "block 7 of 7 (0..6)"

// ---- float forward, folding, training ----

let private ``a block whose body outputs zero is the identity`` () =
    let arb =
        gen {
            let! h = Gen.choose (1, 5)
            let! w = Gen.choose (1, 5)
            let! c = Gen.choose (1, 5)
            let! seed = Gen.choose (0, 100000)
            return Shape3(h, w, c), seed
        }
        |> Arb.fromGen

    Prop.forAll arb (fun (shape, seed) ->
        let rng = Random(seed)
        let layers = block rng shape.C |> List.toArray
        // zero project weights and bias, BN after it with mean 0 and beta 0
        layers[6] <-
            match layers[6] with
            | Pointwise p ->
                Pointwise {
                    p with
                        Weight = Array.zeroCreate p.Weight.Length
                        Bias = Array.zeroCreate p.Bias.Length
                }
            | l -> l

        layers[7] <-
            match layers[7] with
            | BatchNorm b ->
                BatchNorm {
                    b with
                        Beta = Array.zeroCreate b.Beta.Length
                        Mean = Array.zeroCreate b.Mean.Length
                }
            | l -> l

        let m = {
            Name = "identity"
            Input = shape
            Layers = List.ofArray layers
            Classes = []
            Meta = Map.empty
        }

        let x = Tensor.random rng -3.0f 3.0f shape

        (Forward.run m x).Data = x.Data
        && (Forward.run (Fold.batchNorm m) x).Data = x.Data)

let private ``BN folding recounts spans and keeps the function; Forward and training inference agree`` () =
    Prop.forAll (Arb.fromGen spec) (fun s ->
        let m = build s
        let f = Fold.batchNorm m
        let xs = inputs m s.Seed 2

        let diff =
            xs
            |> List.map (fun x -> Tensor.maxAbsDiff (Forward.run m x) (Forward.run f x))
            |> List.max

        let train =
            Train.outputs Optimised false m (xs |> List.map (fun t -> t.Data) |> Array.ofList)

        let trainDiff =
            List.map2
                (fun (x: Tensor) (y: float32[]) ->
                    Array.map2 (fun a b -> abs (a - b)) (Forward.run m x).Data y |> Array.max)
                xs
                (List.ofArray train)
            |> List.max

        Model.validate f = Ok()
        && List.length (Model.residualBlocks f) = List.length (Model.residualBlocks m)
        && diff < 1e-3f
        && trainDiff < 1e-3f)

let private ``gradients through blocks (the input as a skip tensor, blocks back to back) match central differences``
    ()
    =
    let rng = Random(5)
    let input = Shape3(3, 3, 2)

    // Without ReLU6, so a small perturbation never crosses a kink.
    let smooth (c: int) =
        let body = block rng c |> List.filter (fun l -> l <> ReLU6 && not l.IsResidualAdd)
        body @ [ ResidualAdd body.Length ]

    let layers =
        smooth 2
        @ smooth 2
        @ [ Conv2d(Architectures.conv rng 2 3 3 1 1); batchNorm rng 3 ]
        @ smooth 3
        @ [ Flatten; Dense(Architectures.dense rng 27 3) ]

    let model = {
        Name = "grad"
        Input = input
        Layers = layers
        Classes = [ "a"; "b"; "c" ]
        Meta = Map.empty
    }

    Expect.equal (Model.validate model) (Result<unit, string>.Ok()) "the toy model is valid"
    Expect.equal (Model.residualBlocks model |> List.head |> fst) 0 "the first block starts at the input"

    let inputs =
        Array.init 3 (fun _ -> Array.init input.Size (fun _ -> rand rng -1.0f 1.0f))

    let failures = gradCheck model None inputs [| 0; 1; 2 |]

    if not failures.IsEmpty then
        failtest (String.Join("\n", failures |> List.truncate 10))

let private ``a blocks model trains: the loss falls on a separable toy problem`` () =
    let m = Architectures.blocksFor (Shape3(8, 8, 1)) [ "a"; "b" ] 3
    let rng = Random(3)

    let protos =
        Array.init 2 (fun _ -> Array.init 64 (fun _ -> float32 (rng.NextDouble())))

    let labels = Array.init 32 (fun i -> i % 2)

    let xs =
        labels
        |> Array.map (fun l -> protos[l] |> Array.map (fun v -> v + 0.2f * float32 (rng.NextDouble() - 0.5)))

    let cfg = {
        Train.defaultConfig with
            Epochs = 8
            BatchSize = 8
            Patience = None
            Threads = 2
    }

    let r = Train.fit cfg m (xs, labels) None ignore
    let first = (List.head r.History).TrainLoss
    let last = (List.last r.History).TrainLoss
    Expect.isLessThan last first "the last epoch's loss is below the first's"

let private ``QAT with learned activation ranges trains a blocks model; its lowering matches the QAT forward pass's grids``
    ()
    =
    let m = Architectures.blocksFor (Shape3(8, 8, 1)) [ "a"; "b" ] 4
    let rng = Random(4)

    let xs =
        Array.init 16 (fun _ -> Array.init 64 (fun _ -> float32 (rng.NextDouble())))

    let labels = Array.init 16 (fun i -> i % 2)

    for ternary in [ false; true ] do
        let cfg = {
            (if ternary then Qat.defaultConfig else Qat.defaultInt8Config) with
                Epochs = 2
                BatchSize = 8
                Threads = 2
                ActivationQuant = true
                RangeCalibration = 16
        }

        let r =
            (if ternary then Qat.trainTernary else Qat.trainInt8) cfg m (xs, labels) None ignore

        let folded = Fold.batchNorm m
        // every add output has a learned range of its own
        for _, last in Model.residualBlocks folded do
            Expect.isTrue (r.Ranges.ContainsKey(last + 1)) $"range of the add at {last}"

        match Lower.lowerWith r.Lowering r.Ranges [] r.Latent with
        | Error e -> failtest e
        | Ok im ->
            let x = Lower.quantizeInput im (Tensor.ofArray m.Input xs[0])

            Expect.isTrue
                (Runner(im, KernelMode.Optimized).Run x = IntReference.run im x)
                "the lowered model runs the same on the optimized runner and the F# reference"

// ---- integer: kernel, lowering, runner, memory plan ----

let private ``AddS8: optimized at every SIMD level = scalar = F# reference, also in place over the skip tensor`` () =
    let arb =
        gen {
            let! l = addLayer
            let! a = codes l.Input.Size
            let! b = codes l.Input.Size
            return l, a, b
        }
        |> Arb.fromGen

    Prop.forAll arb (fun (l, a, b) ->
        l.Validate()
        let n = l.Input.Size
        let scalar = Array.zeroCreate<sbyte> n
        AddS8.Scalar(l, a, b, scalar)
        let reference = IntReference.add l a b

        let fast =
            [ SimdLevel.None; SimdLevel.Vector128; SimdLevel.Vector256 ]
            |> List.forall (fun level ->
                let p = AddS8.Prepare(l, level)
                let out = Array.zeroCreate<sbyte> n
                AddS8.Optimized(p, a, b, out)
                let inPlace = Array.copy b
                AddS8.Optimized(p, a, inPlace, inPlace.AsSpan())
                out = scalar && inPlace = scalar)

        let saturated =
            scalar |> Array.exists (fun v -> int v = l.ActMin || int v = l.ActMax)

        (scalar = reference && fast)
        |> Prop.classify (l.Shift = 62) "S = 62"
        |> Prop.classify
            (l.InputZero = -128 || l.InputZero = 127 || l.SkipZero = -128 || l.SkipZero = 127)
            "extreme zero point"
        |> Prop.classify saturated "clamped"
        |> Prop.classify (n % 16 <> 0) "vector tail")

let private ``IntAddLayer.Validate and IntModel.Validate reject a bad add`` () =
    let bad (f: unit -> unit) =
        let e = Expect.throwsC f id
        Expect.equal (e.GetType()) typeof<InvalidDataException> "a bad add is rejected"

    let s = Shape3(1, 1, 4)

    let add span ma mb shift =
        IntAddLayer("a", s, span, ma, mb, shift, 0, 0, 0, -128, 127, 1.0f, 1.0f, 1.0f)

    add 1 (1 <<< 30) 5 31 |> fun l -> l.Validate()
    add 1 5 (1 <<< 30) 31 |> fun l -> l.Validate()
    add 1 5 7 62 |> fun l -> l.Validate()
    bad (fun () -> (add 0 (1 <<< 30) 5 31).Validate())
    bad (fun () -> (add 1 5 7 31).Validate())
    bad (fun () -> (add 1 (1 <<< 30) -1 31).Validate())
    bad (fun () -> (add 1 (1 <<< 30) 5 63).Validate())
    bad (fun () -> IntModel("m", s, 1.0f, 0, [| add 1 (1 <<< 30) 5 31 |], [||]).Validate())
    IntModel("m", s, 1.0f, 0, [| IntFlattenLayer("f", s); add 1 (1 <<< 30) 5 31 |], [||]).Validate()

    // Each of the three scales must be a positive finite number (a NaN would pass every comparison).
    let scaled a b o =
        IntAddLayer("a", s, 1, 1 <<< 30, 5, 31, 0, 0, 0, -128, 127, a, b, o)

    for a, b, o in
        [
            nanf, 1.0f, 1.0f
            1.0f, nanf, 1.0f
            1.0f, 1.0f, nanf
            0.0f, 1.0f, 1.0f
            1.0f, -1.0f, 1.0f
            1.0f, 1.0f, infinityf
        ] do
        bad (fun () -> (scaled a b o).Validate())

let private ``lowered block models, int8 and ternary: F# reference = scalar runner = optimized runner, bit for bit``
    ()
    =
    let arb =
        gen {
            let! s = spec
            let! ternary = Gen.elements [ false; true ]
            return s, ternary
        }
        |> Arb.fromGen

    Prop.forAll arb (fun (s, ternary) ->
        let m = build s

        let im =
            lower (if ternary then LowerOptions.Ternary else LowerOptions.Int8) m s.Seed

        let xs = inputs m (s.Seed + 1) 3 |> List.map (Lower.quantizeInput im)
        let scalar = Runner(im, KernelMode.Scalar)
        let fast = Runner(im, KernelMode.Optimized)

        let same =
            xs
            |> List.forall (fun x ->
                let reference = IntReference.runLayers im x |> List.toArray
                scalar.RunLayers x = reference && fast.RunLayers x = reference)

        let adds =
            im.Layers
            |> Array.choose (function
                | :? IntAddLayer as a -> Some a
                | _ -> None)

        (same && adds.Length = List.length (Model.residualBlocks m))
        |> Prop.classify ternary "ternary"
        |> Prop.classify (s.Segments |> List.contains 2) "ReLU after an add"
        |> Prop.classify (Model.residualBlocks m |> List.exists (fun (f, _) -> f = 0)) "block on the model input")

let private ``MemoryPlan never overwrites a live tensor, adds in place over the skip tensor, and its arena is the float model's peak``
    ()
    =
    Prop.forAll (Arb.fromGen spec) (fun s ->
        let m = build s
        let im = lower LowerOptions.Int8 m s.Seed
        let plan = MemoryPlan.Create im
        let layers = im.Layers
        let n = layers.Length
        // Tensor t: -1 the model input, k the output of layer k. Layer i reads t = i - 1 (and an add its skip).
        let lastUse = Collections.Generic.Dictionary<int, int>()

        let use' t i =
            lastUse[t] <- max i (if lastUse.ContainsKey t then lastUse[t] else i)

        for i in 0 .. n - 1 do
            use' (i - 1) i

            match layers[i] with
            | :? IntAddLayer as a -> use' (i - a.Span - 1) i
            | _ -> ()

        use' (n - 1) Int32.MaxValue
        let region = Collections.Generic.Dictionary<int, int * int>()
        region[-1] <- plan.InputOffset, im.Input.Size
        let disjoint (a, na) (b, nb) = a + na <= b || b + nb <= a
        let inside (o, k) = o >= 0 && o + k <= plan.ArenaBytes
        let mutable ok = inside region[-1]

        for i in 0 .. n - 1 do
            let slot = plan.Layers[i]
            let out = slot.OutputOffset, slot.OutputBytes
            ok <- ok && inside out && (slot.InputOffset, slot.InputBytes) = region[i - 1]

            let view = layers[i].Kind = IntLayerKind.Flatten

            // Every tensor still read after this layer keeps its bytes (a view shares its input's bytes).
            for KeyValue(t, r) in region do
                if lastUse[t] > i && not view then
                    ok <- ok && disjoint out r

            match layers[i] with
            | :? IntAddLayer as a ->
                let skip = region[i - a.Span - 1]
                ok <- ok && slot.SkipOffset = fst skip && out = skip && disjoint out region[i - 1]
            | _ when view -> ok <- ok && out = region[i - 1]
            | _ -> ok <- ok && disjoint out region[i - 1]

            region[i] <- out

        let peak = Array.fold max im.Input.Size (MemoryPlan.LiveBytes im)

        (ok
         && plan.ArenaBytes = peak
         && Model.peakActivationBytes 1 m = plan.ArenaBytes
         && Runner(im, KernelMode.Scalar).ArenaBytes = peak)
        |> Prop.collect $"{List.length (Model.residualBlocks m)} blocks")

let private ``split inference refuses a split inside a block and works at every other point`` () =
    let im = KernelVectors.blocksModel LowerOptions.Int8 2
    let x = (KernelVectors.modelInputs im 2 1)[0]
    let r = Runner(im, KernelMode.Optimized)
    let whole = r.Run x
    let blocks = im.Blocks() |> Seq.toList

    for k in 0 .. im.Layers.Length do
        let inside = blocks |> List.exists (fun struct (f, l) -> f < k && k <= l)
        Expect.equal (im.CanSplitAt k) (not inside) $"k = {k}"

        if inside then
            let prefix = Expect.throwsC (fun () -> r.RunPrefix(x, k) |> ignore) id
            Expect.equal (prefix.GetType()) typeof<ArgumentException> $"RunPrefix at k = {k}, inside a block"

            let suffix =
                Expect.throwsC
                    (fun () ->
                        r.RunSuffix(
                            k,
                            ReadOnlySpan(
                                Array.zeroCreate<sbyte>(
                                    if k = 0 then
                                        im.Input.Size
                                    else
                                        im.Layers[k - 1].Output.Size
                                )
                            )
                        )
                        |> ignore)
                    id

            Expect.equal (suffix.GetType()) typeof<ArgumentException> $"RunSuffix at k = {k}, inside a block"
        else
            Expect.equal (r.RunSuffix(k, ReadOnlySpan(r.RunPrefix(x, k)))) whole $"k = {k}"

    Expect.isTrue (im.CanSplitAt(SplitPoint.byDefault im)) "the default split is allowed"

let private ``activation grids give each add output a range of its own`` () =
    let m = Architectures.blocksFor (Shape3(16, 16, 1)) [ "a"; "b" ] 1
    let f = Fold.batchNorm m
    let grids = ActivationGrid.ofModel m

    for _, last in Model.residualBlocks f do
        Expect.equal (grids.TryFind(last + 1)) (Some(last + 1)) $"the add after layer {last} has its own grid"

// ---- model file and emitted C ----

let private ``model files with blocks round-trip as version 2; files without blocks stay version 1`` () =
    let m = Architectures.blocksFor (Shape3(16, 16, 1)) [ "a"; "b" ] 1
    let bytes = ModelFile.serializeFloat m
    Expect.equal (BitConverter.ToUInt16(bytes, 4)) 2us "a blocks model file is version 2"

    match ModelFile.deserialize bytes with
    | Ok(FloatModel back) ->
        Expect.isTrue (back = m) "it deserializes to the same model"
        Expect.equal (ModelFile.serializeFloat back) bytes "and serializes back to the same bytes"
    | other -> failtest $"%A{other}"

    for options in [ LowerOptions.Int8; LowerOptions.Ternary ] do
        let im = lower options m 1
        let ib = ModelFile.serializeInt im
        Expect.equal (BitConverter.ToUInt16(ib, 4)) 2us $"{options}: a lowered blocks model file is version 2"

        match ModelFile.deserialize ib with
        | Ok(IntegerModel back) ->
            Expect.equal (ModelFile.serializeInt back) ib $"{options}: it serializes back to the same bytes"
        | other -> failtest $"%A{other}"

    let plain = Architectures.defaultModel 1
    Expect.equal (BitConverter.ToUInt16(ModelFile.serializeFloat plain, 4)) 1us "a plain model file stays version 1"
    let dropped = Model.dropBlocks [ 0..6 ] m

    Expect.equal
        (BitConverter.ToUInt16(ModelFile.serializeFloat dropped, 4))
        1us
        "a model with every block dropped is version 1"

let private ``models/default.tern still loads and serializes back to the same bytes and hash`` () =
    let bytes = File.ReadAllBytes(Path.Combine(root (), "models", "default.tern"))
    let hash = ModelFile.hash bytes

    let again =
        match ModelFile.deserialize bytes with
        | Ok(FloatModel m) -> ModelFile.serializeFloat m
        | Ok(IntegerModel m) -> ModelFile.serializeInt m
        | Error e -> failwith e

    Expect.equal again bytes "the same bytes"
    Expect.equal (ModelFile.hash again) hash "the same hash"

let private ``emitted blocks models: deterministic, adds read the plan's skip offsets and write in place`` () =
    for options in [ LowerOptions.Int8; LowerOptions.Ternary ] do
        let im = KernelVectors.blocksModel options 1
        let hash = ModelFile.hash (ModelFile.serializeInt im)

        let opts = {
            CommandLine = "ResidualTests"
            Prefix = "blocks"
        }

        let e = Emit.model opts im hash
        Expect.equal ((Emit.model opts im hash).Source) e.Source $"{options}: emitting twice gives the same source"
        let plan = MemoryPlan.Create im
        Expect.equal e.ArenaBytes plan.ArenaBytes $"{options}: the arena is the plan's"

        im.Layers
        |> Array.iteri (fun i l ->
            match l with
            | :? IntAddLayer ->
                let s = plan.Layers[i]
                Expect.equal s.OutputOffset s.SkipOffset $"{options}: layer {i} adds in place over the skip tensor"

                Expect.stringContains
                    e.Source
                    $"tern_add_s8(&tern_l{i}_params, blocks_arena + {s.InputOffset}, blocks_arena + {s.SkipOffset}, blocks_arena + {s.OutputOffset});"
                    $"the add of layer {i} in place over the skip tensor"
            | _ -> ())

[<Tests>]
let tests =
    testList "ResidualTests" [
        testCase
            "blocks architecture: 7 droppable blocks, under 1.5 M MACs on 64x64x1, registered by name"
            ``blocks architecture: 7 droppable blocks, under 1.5 M MACs on 64x64x1, registered by name``
        testCase
            "validate rejects bad spans, overlapping blocks and shape changes inside a block"
            ``validate rejects bad spans, overlapping blocks and shape changes inside a block``
        testPropertyWithConfig
            (Properties.tests 60)
            "dropBlocks removes exactly the listed blocks and keeps the model valid; dropping none is the identity"
            ``dropBlocks removes exactly the listed blocks and keeps the model valid; dropping none is the identity``
        testCase "dropBlocks rejects an unknown block" ``dropBlocks rejects an unknown block``
        testPropertyWithConfig
            (Properties.tests 40)
            "a block whose body outputs zero is the identity"
            ``a block whose body outputs zero is the identity``
        testPropertyWithConfig
            (Properties.tests 40)
            "BN folding recounts spans and keeps the function; Forward and training inference agree"
            ``BN folding recounts spans and keeps the function; Forward and training inference agree``
        testCase
            "gradients through blocks (the input as a skip tensor, blocks back to back) match central differences"
            ``gradients through blocks (the input as a skip tensor, blocks back to back) match central differences``
        testCase
            "a blocks model trains: the loss falls on a separable toy problem"
            ``a blocks model trains: the loss falls on a separable toy problem``
        testCase
            "QAT with learned activation ranges trains a blocks model; its lowering matches the QAT forward pass's grids"
            ``QAT with learned activation ranges trains a blocks model; its lowering matches the QAT forward pass's grids``
        testPropertyWithConfig
            (Properties.tests 300)
            "AddS8: optimized at every SIMD level = scalar = F# reference, also in place over the skip tensor"
            ``AddS8: optimized at every SIMD level = scalar = F# reference, also in place over the skip tensor``
        testCase
            "IntAddLayer.Validate and IntModel.Validate reject a bad add"
            ``IntAddLayer.Validate and IntModel.Validate reject a bad add``
        testPropertyWithConfig
            (Properties.tests 40)
            "lowered block models, int8 and ternary: F# reference = scalar runner = optimized runner, bit for bit"
            ``lowered block models, int8 and ternary: F# reference = scalar runner = optimized runner, bit for bit``
        testPropertyWithConfig
            (Properties.tests 60)
            "MemoryPlan never overwrites a live tensor, adds in place over the skip tensor, and its arena is the float model's peak"
            ``MemoryPlan never overwrites a live tensor, adds in place over the skip tensor, and its arena is the float model's peak``
        testCase
            "split inference refuses a split inside a block and works at every other point"
            ``split inference refuses a split inside a block and works at every other point``
        testCase
            "activation grids give each add output a range of its own"
            ``activation grids give each add output a range of its own``
        testCase
            "model files with blocks round-trip as version 2; files without blocks stay version 1"
            ``model files with blocks round-trip as version 2; files without blocks stay version 1``
        testCase
            "models/default.tern still loads and serializes back to the same bytes and hash"
            ``models/default.tern still loads and serializes back to the same bytes and hash``
        testCase
            "emitted blocks models: deterministic, adds read the plan's skip offsets and write in place"
            ``emitted blocks models: deterministic, adds read the plan's skip offsets and write in place``
    ]
