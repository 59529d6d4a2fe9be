module Tern.Tests.PruneCriteriaTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core
open Tern.Tests.ModelTests

module private Gens =
    /// A value in [-2, 2]: either on a fine grid or on a coarse one (so that ties and exact zeros occur).
    let value: Gen<float32> =
        Gen.oneof [
            FloatGen.value -2.0f 2.0f
            Gen.choose (-8, 8) |> Gen.map (fun i -> float32 i * 0.25f)
        ]

    /// An HWC feature map with sides 1..9 and 1..3 channels.
    let featureMap: Gen<Tensor> =
        gen {
            let! h = Gen.choose (1, 9)
            let! w = Gen.choose (1, 9)
            let! c = Gen.choose (1, 3)
            let! data = Gen.arrayOfLength (h * w * c) value
            return Tensor.ofArray (Shape3(h, w, c)) data
        }

    /// One h x w map (row-major, doubles) with a band of any size, the empty and the all-covering ones included.
    let mapAndBand: Gen<int * int * float[] * PruneCriteria.SpectralBand> =
        gen {
            let! h = Gen.choose (1, 9)
            let! w = Gen.choose (1, 9)
            let! data = Gen.arrayOfLength (h * w) value
            let! tu = Gen.choose (0, h / 2 + 2)
            let! tv = Gen.choose (0, w / 2 + 2)

            return
                h,
                w,
                Array.map float data,
                {
                    PruneCriteria.TauU = tu
                    PruneCriteria.TauV = tv
                }
        }

    let private coarsen (w: float32[]) =
        w |> Array.map (fun x -> float32 (Math.Round(float x * 4.0)) * 0.25f)

    /// Models from the shared generator; half of them get weights on a 0.25 grid, so ties and zeros are common.
    let model: Gen<Model> =
        gen {
            let! m = FloatGen.model 6
            let! coarse = Gen.elements [ false; true ]

            let layers =
                m.Layers
                |> List.map (fun l ->
                    match l with
                    | Conv2d c when coarse -> Conv2d { c with Weight = coarsen c.Weight }
                    | DepthwiseConv2d c when coarse -> DepthwiseConv2d { c with Weight = coarsen c.Weight }
                    | Pointwise c when coarse -> Pointwise { c with Weight = coarsen c.Weight }
                    | Dense d when coarse -> Dense { d with Weight = coarsen d.Weight }
                    | _ -> l)

            return { m with Layers = layers }
        }

    /// A sparsity in [0, 1] in steps of 0.01.
    let fraction: Gen<float> = Gen.choose (0, 100) |> Gen.map (fun i -> float i / 100.0)

    /// A layer with filters (conv-like or dense) on a small input.
    let linearLayer: Gen<Layer> =
        gen {
            let! h = Gen.choose (1, 6)
            let! w = Gen.choose (1, 6)
            let! c = Gen.choose (1, 3)
            return! FloatGen.layer (Shape3(h, w, c)) false |> Gen.where FloatGen.isLinear
        }

    /// A conv-like layer followed by BatchNorm and ReLU, with 1..3 calibration inputs.
    let convModelAndBatch: Gen<Model * Tensor list> =
        gen {
            let! h = Gen.choose (1, 9)
            let! w = Gen.choose (1, 9)
            let! c = Gen.choose (1, 3)
            let s = Shape3(h, w, c)

            let! conv =
                FloatGen.layer s false
                |> Gen.where (function
                    | Conv2d _
                    | DepthwiseConv2d _
                    | Pointwise _ -> true
                    | _ -> false)

            let outC =
                match Model.outputShape s conv with
                | Ok o -> o.C
                | Error e -> failwith e

            let! bn = FloatGen.batchNorm outC
            let! n = Gen.choose (1, 3)

            let! xs =
                Gen.listOfLength n (Gen.arrayOfLength s.Size value |> Gen.map (Tensor.ofArray s))

            let m = {
                Name = "tiny"
                Input = s
                Layers = [ conv; BatchNorm bn; ReLU ]
                Classes = []
                Meta = Map.empty
            }

            return m, xs
        }

    /// Scores with ties (small integer values) or without.
    let scores: Gen<float[]> =
        gen {
            let! n = Gen.choose (0, 40)
            let! tied = Gen.elements [ false; true ]

            return!
                if tied then
                    Gen.arrayOfLength n (Gen.choose (0, 5) |> Gen.map float)
                else
                    Gen.arrayOfLength n (FloatGen.value 0.0f 10.0f |> Gen.map float)
        }

// The test's own fold of a DFT bin to a signed frequency, kept apart from PruneCriteria's.
let private signed n u = if 2 * u <= n then u else u - n

// Low, high, overall energies and bin counts from the slow DFT.
let private oracle (band: PruneCriteria.SpectralBand) h w (values: float[]) =
    let f = PruneCriteria.directDft h w values
    let mutable low, high, nLow, nHigh = 0.0, 0.0, 0, 0

    for u in 0 .. h - 1 do
        for v in 0 .. w - 1 do
            let re, im = f[u * w + v]
            let e = re * re + im * im

            if abs (signed h u) < band.TauU && abs (signed w v) < band.TauV then
                low <- low + e
                nLow <- nLow + 1
            else
                high <- high + e
                nHigh <- nHigh + 1

    let mean s n = if n = 0 then 0.0 else s / float n
    mean low nLow, mean high nHigh, (low + high) / float (h * w), nLow, nHigh

let private channel (t: Tensor) c =
    Array.init (t.Shape.H * t.Shape.W) (fun p -> float t.Data[p * t.Shape.C + c])

let private close (scale: float) (a: float) (b: float) = abs (a - b) <= 1e-9 * (1.0 + scale)

let private ``channelEnergy agrees with the direct DFT for all three bands`` () =
    Prop.forAll (Arb.fromGen Gens.featureMap) (fun t ->
        let s = t.Shape
        let band = PruneCriteria.defaultBand s.H s.W
        let low = PruneCriteria.channelEnergy PruneCriteria.LowFrequency t
        let high = PruneCriteria.channelEnergy PruneCriteria.HighFrequency t
        let overall = PruneCriteria.channelEnergy PruneCriteria.Overall t

        let ok =
            [ 0 .. s.C - 1 ]
            |> List.forall (fun c ->
                let l, hi, o, _, _ = oracle band s.H s.W (channel t c)
                let scale = o * float (s.H * s.W)
                close scale low[c] l && close scale high[c] hi && close scale overall[c] o)

        ok
        |> Prop.classify (s.H = 1 && s.W = 1) "1x1 map"
        |> Prop.classify (PruneCriteria.lowBinCount band s.H s.W = s.H * s.W) "no high bins"
        |> Prop.classify (s.H % 2 = 0 || s.W % 2 = 0) "a Nyquist bin")

let private ``mapEnergies agrees with the direct DFT for any band, and the band counts match the oracle's`` () =
    Prop.forAll (Arb.fromGen Gens.mapAndBand) (fun (h, w, x, band) ->
        let e = PruneCriteria.mapEnergies band h w x
        let l, hi, o, nLow, _ = oracle band h w x
        let scale = o * float (h * w)

        (close scale e.Low l
         && close scale e.High hi
         && close scale e.Overall o
         && PruneCriteria.lowBinCount band h w = nLow)
        |> Prop.classify (nLow = 0) "empty low box"
        |> Prop.classify (nLow = h * w) "low box covers everything")

let private ``low and high energies weighted by their bin counts add up to the overall energy`` () =
    Prop.forAll (Arb.fromGen Gens.mapAndBand) (fun (h, w, x, band) ->
        let e = PruneCriteria.mapEnergies band h w x
        let mLow = PruneCriteria.lowBinCount band h w
        let total = float (h * w) * e.Overall
        close total (float mLow * e.Low + float (h * w - mLow) * e.High) total)

let private ``Parseval: overall energy times the bin count is h w times the sum of squares`` () =
    Prop.forAll (Arb.fromGen Gens.mapAndBand) (fun (h, w, x, band) ->
        let e = PruneCriteria.mapEnergies band h w x
        let m = float (h * w)
        let sumSq = x |> Array.sumBy (fun v -> v * v)
        close (m * sumSq) (e.Overall * m) (m * sumSq))

let private ``a constant map has all its energy in the DC bin of the low band and none in the high band`` () =
    let gen =
        gen {
            let! h = Gen.choose (1, 9)
            let! w = Gen.choose (1, 9)
            let! c = Gens.value
            return h, w, float c
        }

    Prop.forAll (Arb.fromGen gen) (fun (h, w, c) ->
        let band = PruneCriteria.defaultBand h w
        let e = PruneCriteria.mapEnergies band h w (Array.create (h * w) c)
        let dc = (float (h * w) * c) ** 2.0

        (close dc e.High 0.0
         && close dc (e.Low * float (PruneCriteria.lowBinCount band h w)) dc)
        |> Prop.classify (c = 0.0) "zero map")

/// Each element within `tolerance` of the expected one, and as many elements (NUnit's EqualTo(array).Within).
let private allClose (tolerance: float) (actual: float[]) (expected: float[]) (message: string) =
    Expect.hasLength actual expected.Length message

    Array.iteri2
        (fun i a e -> Expect.floatClose { absolute = tolerance; relative = 0.0 } a e $"{message}, element {i}")
        actual
        expected

let private ``directDft of a known 1x3 and 2x2 map`` () =
    let f = PruneCriteria.directDft 1 3 [| 1.0; 2.0; 0.0 |]
    let expected = [| 3.0, 0.0; 0.0, -sqrt 3.0; 0.0, sqrt 3.0 |]

    for (re, im), (er, ei) in Array.zip f expected do
        Expect.floatClose { absolute = 1e-12; relative = 0.0 } re er $"real part, expected {er}"
        Expect.floatClose { absolute = 1e-12; relative = 0.0 } im ei $"imaginary part, expected {ei}"

    // [[1, 2], [3, 4]]: F = [[10, -2], [-4, 0]], all real.
    let g = PruneCriteria.directDft 2 2 [| 1.0; 2.0; 3.0; 4.0 |]
    allClose 1e-12 (g |> Array.map fst) [| 10.0; -2.0; -4.0; 0.0 |] "real parts of the 2x2 map's DFT"
    allClose 1e-12 (g |> Array.map snd) [| 0.0; 0.0; 0.0; 0.0 |] "imaginary parts of the 2x2 map's DFT"

let private ``the default band is max 1 (ceil (n / 4)) and the low box is centred on DC`` () =
    let taus =
        [ 1; 2; 3; 4; 5; 8; 9 ]
        |> List.map (fun n -> (PruneCriteria.defaultBand n n).TauU)

    Expect.equal taus [ 1; 1; 1; 1; 2; 2; 3 ] "default band of n = 1, 2, 3, 4, 5, 8, 9"
    // 8 x 8 with tau 2: signed frequencies -1, 0, 1 on each axis, i.e. bins 0, 1 and 7.
    let band = PruneCriteria.defaultBand 8 8
    Expect.equal (PruneCriteria.lowBinCount band 8 8) 9 "low bins of an 8x8 map"
    Expect.isTrue (PruneCriteria.isLowBin band 8 8 7 1) "bin (7, 1), frequency (-1, 1), is low"
    Expect.isFalse (PruneCriteria.isLowBin band 8 8 2 0) "bin (2, 0) is high"
    Expect.isFalse (PruneCriteria.isLowBin band 8 8 4 0) "bin (4, 0) is high"

let private ``filterL1 of a layer scaled by k is |k| times its filterL1`` () =
    let gen = Gen.zip Gens.linearLayer (Gen.elements [ -4.0f; -0.5f; 0.25f; 2.0f ])

    Prop.forAll (Arb.fromGen gen) (fun (layer, k) ->
        // Powers of two scale float32 weights exactly, so the sums scale exactly too.
        let scaled =
            match layer with
            | Conv2d c ->
                Conv2d {
                    c with
                        Weight = c.Weight |> Array.map ((*) k)
                }
            | DepthwiseConv2d c ->
                DepthwiseConv2d {
                    c with
                        Weight = c.Weight |> Array.map ((*) k)
                }
            | Pointwise c ->
                Pointwise {
                    c with
                        Weight = c.Weight |> Array.map ((*) k)
                }
            | Dense d ->
                Dense {
                    d with
                        Weight = d.Weight |> Array.map ((*) k)
                }
            | other -> other

        let l1 = PruneCriteria.filterL1 layer

        PruneCriteria.filterL1 scaled = (l1 |> Array.map (fun v -> abs (float k) * v))
        |> Prop.collect (Model.kindName layer))

let private ``filterL1 sums each output row of a conv`` () =
    let conv =
        Conv2d {
            InChannels = 1
            OutChannels = 2
            KernelH = 1
            KernelW = 2
            StrideH = 1
            StrideW = 1
            Pad = Padding.none
            Weight = [| 1.0f; -2.0f; -0.5f; 0.0f |]
            Bias = [| 100.0f; 100.0f |]
        }

    Expect.equal (PruneCriteria.filterL1 conv) [| 3.0; 0.5 |] "L1 of each output row"

// All weights of the masked layers in model order, as (|w|, kept).
let private flatten (m: Model) (masks: Map<int, bool[]>) =
    masks
    |> Map.toList
    |> List.collect (fun (i, mask) ->
        let w =
            match m.Layers[i] with
            | Conv2d c
            | DepthwiseConv2d c
            | Pointwise c -> c.Weight
            | Dense d -> d.Weight
            | _ -> failwith "mask on a layer without weights"

        Array.map2 (fun x k -> abs (float x), k) w mask |> Array.toList)
    |> List.toArray

let private ``unstructuredMasks prunes exactly the requested count, smallest magnitudes first, ties by lower index``
    ()
    =
    Prop.forAll (Arb.fromGen (Gen.zip Gens.model Gens.fraction)) (fun (m, s) ->
        let masks = PruneCriteria.unstructuredMasks s m
        let all = flatten m masks
        let pruned = all |> Array.filter (snd >> not) |> Array.map fst
        let kept = all |> Array.filter snd |> Array.map fst
        let expected = int (Math.Round(s * float all.Length, MidpointRounding.AwayFromZero))
        let maxPruned = Array.fold max Double.NegativeInfinity pruned
        // Among weights tied with the largest pruned magnitude, the pruned ones (false) come first in flat order.
        let tiedOrderOk =
            let tied = all |> Array.filter (fun (a, _) -> a = maxPruned) |> Array.map snd
            tied = Array.sort tied

        let threshold = PruneCriteria.globalThreshold s m

        let layersOk =
            masks |> Map.keys |> List.ofSeq =
                (m.Layers
                 |> List.indexed
                 |> List.filter (snd >> FloatGen.isLinear)
                 |> List.map fst)

        (pruned.Length = expected
         && pruned |> Array.forall (fun p -> kept |> Array.forall (fun k -> p <= k))
         && tiedOrderOk
         && layersOk
         && pruned |> Array.forall (fun p -> p <= threshold)
         && kept |> Array.forall (fun k -> k >= threshold)
         && (expected = 0 || maxPruned = threshold))
        |> Prop.classify (kept |> Array.exists (fun k -> k = maxPruned)) "tie across the threshold"
        |> Prop.classify (all.Length = 0) "no weights")

let private ``sparsity 0 keeps every weight`` () =
    Prop.forAll (Arb.fromGen Gens.model) (fun m ->
        let masks = PruneCriteria.unstructuredMasks 0.0 m

        masks |> Map.forall (fun _ mask -> Array.forall id mask)
        && PruneCriteria.globalThreshold 0.0 m = Double.NegativeInfinity)

let private ``masks nest as sparsity grows`` () =
    Prop.forAll (Arb.fromGen (Gen.zip3 Gens.model Gens.fraction Gens.fraction)) (fun (m, a, b) ->
        let lo, hi = min a b, max a b
        let kLo = PruneCriteria.unstructuredMasks lo m
        let kHi = PruneCriteria.unstructuredMasks hi m

        kLo
        |> Map.forall (fun i mask -> Array.forall2 (fun keptLo keptHi -> keptLo || not keptHi) mask kHi[i]))

let private ``toPrune reproduces seed 001's kept channel counts`` (ratio: float, n: int, keep: int) =
    let scores = Array.init n (fun i -> float ((i * 37) % n))
    Expect.equal (n - (PruneCriteria.toPrune ratio scores).Count) keep $"kept of {n} at ratio {ratio}"

let private ``toPrune keeps at least one channel and prunes nothing at ratio 0`` () =
    Expect.equal
        (PruneCriteria.toPrune 1.0 [| 3.0; 1.0; 2.0 |])
        (set [ 1; 2 ])
        "ratio 1 keeps one channel: the lowest two pruned"

    Expect.isEmpty (PruneCriteria.toPrune 0.0 [| 3.0; 1.0; 2.0 |]) "ratio 0 prunes nothing"
    Expect.isEmpty (PruneCriteria.toPrune 0.9 [||]) "no channels, nothing pruned"
    // 0.5 * 5 = 2.5 rounds away from zero: three pruned.
    Expect.equal
        (PruneCriteria.toPrune 0.5 [| 5.0; 4.0; 3.0; 2.0; 1.0 |])
        (set [ 2; 3; 4 ])
        "2.5 rounds away from zero: three pruned"

let private ``rank is a permutation in ascending score order with ties by lower index`` () =
    Prop.forAll (Arb.fromGen Gens.scores) (fun s ->
        let r = PruneCriteria.rank s

        (Array.sort r = Array.init s.Length id
         && Array.pairwise r
            |> Array.forall (fun (a, b) -> s[a] < s[b] || (s[a] = s[b] && a < b)))
        |> Prop.classify (Array.distinct s |> Array.length < s.Length) "ties")

let private ``toPrune takes the lowest scores and keeps at least one`` () =
    Prop.forAll (Arb.fromGen (Gen.zip Gens.scores Gens.fraction)) (fun (s, ratio) ->
        let p = PruneCriteria.toPrune ratio s
        let kept = [ 0 .. s.Length - 1 ] |> List.filter (fun i -> not (p.Contains i))
        let count = int (Math.Round(ratio * float s.Length, MidpointRounding.AwayFromZero))

        p.Count = min count (max 0 (s.Length - 1))
        && p |> Set.forall (fun i -> kept |> List.forall (fun k -> s[i] <= s[k]))
        && (s.Length = 0 || not kept.IsEmpty))

let private ``spectralScores equals channelEnergy of the conv output averaged over the batch`` () =
    Prop.forAll (Arb.fromGen Gens.convModelAndBatch) (fun (m, xs) ->
        let layer = List.exactlyOne (PruneCriteria.convLayers m)

        [
            PruneCriteria.LowFrequency
            PruneCriteria.HighFrequency
            PruneCriteria.Overall
        ]
        |> List.forall (fun crit ->
            let got = PruneCriteria.spectralScores crit m layer xs
            let viaScores = PruneCriteria.scores crit m layer xs

            let perInput =
                xs
                |> List.map (fun x -> PruneCriteria.channelEnergy crit (List.head (Forward.activations m x)))

            let expected =
                Array.init got.Length (fun c -> (perInput |> List.sumBy (fun e -> e[c])) / float xs.Length)

            got.Length = (List.head (Forward.activations m xs.Head)).Shape.C
            && Array.forall2 (close 0.0) got viaScores
            && Array.forall2 (fun g e -> close (abs e) g e) got expected)
        |> Prop.collect $"{xs.Length} calibration inputs")

let private ``L1 scores are filterL1 and activation statistics are per-channel means of x^2 and |x|`` () =
    Prop.forAll (Arb.fromGen Gens.convModelAndBatch) (fun (m, xs) ->
        let layer = List.exactlyOne (PruneCriteria.convLayers m)
        let l1 = PruneCriteria.scores PruneCriteria.L1 m layer []
        // The ReLU output (layer 2): repacking may be measured after the activation.
        let outs = xs |> List.map (fun x -> List.item 2 (Forward.activations m x))
        let s = outs.Head.Shape

        let stat f =
            Array.init s.C (fun c ->
                outs
                |> List.sumBy (fun t -> (channel t c |> Array.sumBy f) / float (s.H * s.W))
                |> fun total -> total / float outs.Length)

        let energy = PruneCriteria.activationEnergy m 2 xs
        let meanAbs = PruneCriteria.meanAbsActivation m 2 xs

        l1 = PruneCriteria.filterL1 m.Layers[layer]
        && Array.forall2 (fun a b -> close (abs b) a b) energy (stat (fun v -> v * v))
        && Array.forall2 (fun a b -> close (abs b) a b) meanAbs (stat abs))

let private ``criteria parse from their names and reject unknown ones`` () =
    for c in
        [
            PruneCriteria.L1
            PruneCriteria.LowFrequency
            PruneCriteria.HighFrequency
            PruneCriteria.Overall
        ] do
        Expect.equal
            (PruneCriteria.Criterion.parse (PruneCriteria.Criterion.name c))
            (Ok c: Result<_, string>)
            $"{c} parses back from its name"

    Expect.equal
        (PruneCriteria.Criterion.parse " LOW ")
        (Ok PruneCriteria.LowFrequency: Result<_, string>)
        "names are trimmed and case-insensitive"

    Expect.isTrue (Result.isError (PruneCriteria.Criterion.parse "medium")) "an unknown criterion"

let private ``convLayers lists the conv-like layers only`` () =
    let m = Architectures.defaultFor (Shape3(16, 16, 2)) [ "a"; "b" ] 1

    let kinds =
        PruneCriteria.convLayers m |> List.map (fun i -> Model.kindName m.Layers[i])

    Expect.equal kinds [ "conv2d"; "depthwise"; "pointwise" ] "the conv-like layers in order"

let private ``spectral scores refuse a layer without filters and an empty batch`` () =
    let m = Architectures.defaultFor (Shape3(8, 8, 1)) [ "a"; "b" ] 1
    let x = Tensor.zeros m.Input

    let noFilters =
        Expect.throwsC (fun () -> PruneCriteria.spectralScores PruneCriteria.LowFrequency m 1 [ x ] |> ignore) id

    Expect.equal (noFilters.GetType()) typeof<ArgumentException> "layer 1 has no filters"

    let emptyBatch =
        Expect.throwsC (fun () -> PruneCriteria.spectralScores PruneCriteria.LowFrequency m 0 [] |> ignore) id

    Expect.equal (emptyBatch.GetType()) typeof<ArgumentException> "an empty batch"

let private ``scores and energies of several layers at once equal those of each layer alone`` () =
    let m = Architectures.plainFor (Shape3(16, 16, 1)) [ "a"; "b" ] 5
    let calibration = Lower.randomCalibration 5 4 m.Input
    let layers = PruneCriteria.convLayers m

    for criterion in
        [
            PruneCriteria.L1
            PruneCriteria.LowFrequency
            PruneCriteria.HighFrequency
            PruneCriteria.Overall
        ] do
        let all = PruneCriteria.scoresOf criterion m layers calibration

        for l in layers do
            Expect.equal (all[l]) (PruneCriteria.scores criterion m l calibration) $"{criterion} scores of layer {l}"

    let energies = PruneCriteria.activationEnergies m [ 1; 2; 5 ] calibration

    for l in [ 1; 2; 5 ] do
        Expect.equal (energies[l]) (PruneCriteria.activationEnergy m l calibration) $"activation energy of layer {l}"

[<Tests>]
let tests =
    testList "PruneCriteriaTests" [
        testPropertyWithConfig
            (Properties.tests 200)
            "channelEnergy agrees with the direct DFT for all three bands"
            ``channelEnergy agrees with the direct DFT for all three bands``
        testPropertyWithConfig
            (Properties.tests 200)
            "mapEnergies agrees with the direct DFT for any band, and the band counts match the oracle's"
            ``mapEnergies agrees with the direct DFT for any band, and the band counts match the oracle's``
        testPropertyWithConfig
            (Properties.tests 300)
            "low and high energies weighted by their bin counts add up to the overall energy"
            ``low and high energies weighted by their bin counts add up to the overall energy``
        testPropertyWithConfig
            (Properties.tests 300)
            "Parseval: overall energy times the bin count is h w times the sum of squares"
            ``Parseval: overall energy times the bin count is h w times the sum of squares``
        testPropertyWithConfig
            (Properties.tests 200)
            "a constant map has all its energy in the DC bin of the low band and none in the high band"
            ``a constant map has all its energy in the DC bin of the low band and none in the high band``
        testCase "directDft of a known 1x3 and 2x2 map" ``directDft of a known 1x3 and 2x2 map``
        testCase
            "the default band is max 1 (ceil (n / 4)) and the low box is centred on DC"
            ``the default band is max 1 (ceil (n / 4)) and the low box is centred on DC``
        testPropertyWithConfig
            (Properties.tests 200)
            "filterL1 of a layer scaled by k is |k| times its filterL1"
            ``filterL1 of a layer scaled by k is |k| times its filterL1``
        testCase "filterL1 sums each output row of a conv" ``filterL1 sums each output row of a conv``
        testPropertyWithConfig
            (Properties.tests 200)
            "unstructuredMasks prunes exactly the requested count, smallest magnitudes first, ties by lower index"
            ``unstructuredMasks prunes exactly the requested count, smallest magnitudes first, ties by lower index``
        testPropertyWithConfig (Properties.tests 100) "sparsity 0 keeps every weight" ``sparsity 0 keeps every weight``
        testPropertyWithConfig (Properties.tests 200) "masks nest as sparsity grows" ``masks nest as sparsity grows``
        testList "toPrune reproduces seed 001's kept channel counts" [
            for ratio, n, keep in
                [
                    0.6, 64, 26
                    0.6, 128, 51
                    0.6, 256, 102
                    0.6, 384, 154
                    0.6, 512, 205
                    0.7, 64, 19
                    0.7, 128, 38
                    0.7, 256, 77
                    0.7, 384, 115
                    0.7, 512, 154
                ] ->
                testCase $"{ratio}, {n} -> {keep}" (fun () ->
                    ``toPrune reproduces seed 001's kept channel counts`` (ratio, n, keep))
        ]
        testCase
            "toPrune keeps at least one channel and prunes nothing at ratio 0"
            ``toPrune keeps at least one channel and prunes nothing at ratio 0``
        testPropertyWithConfig
            (Properties.tests 300)
            "rank is a permutation in ascending score order with ties by lower index"
            ``rank is a permutation in ascending score order with ties by lower index``
        testPropertyWithConfig
            (Properties.tests 300)
            "toPrune takes the lowest scores and keeps at least one"
            ``toPrune takes the lowest scores and keeps at least one``
        testPropertyWithConfig
            (Properties.tests 100)
            "spectralScores equals channelEnergy of the conv output averaged over the batch"
            ``spectralScores equals channelEnergy of the conv output averaged over the batch``
        testPropertyWithConfig
            (Properties.tests 100)
            "L1 scores are filterL1 and activation statistics are per-channel means of x^2 and |x|"
            ``L1 scores are filterL1 and activation statistics are per-channel means of x^2 and |x|``
        testCase
            "criteria parse from their names and reject unknown ones"
            ``criteria parse from their names and reject unknown ones``
        testCase "convLayers lists the conv-like layers only" ``convLayers lists the conv-like layers only``
        testCase
            "spectral scores refuse a layer without filters and an empty batch"
            ``spectral scores refuse a layer without filters and an empty batch``
        testCase
            "scores and energies of several layers at once equal those of each layer alone"
            ``scores and energies of several layers at once equal those of each layer alone``
    ]
