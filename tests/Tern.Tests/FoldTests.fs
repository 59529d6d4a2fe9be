module Tern.Tests.FoldTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core
open Tern.Tests.ModelTests

module private Gens =
    /// Models with at least one BatchNorm, paired with a random input.
    let withBatchNorm: Arbitrary<Model * Tensor> =
        FloatGen.modelAndInput 7
        |> Gen.where (fun (m, _) ->
            m.Layers
            |> List.exists (function
                | BatchNorm _ -> true
                | _ -> false))
        |> Arb.fromGen

    /// Models without any BatchNorm.
    let withoutBatchNorm: Arbitrary<Model> =
        FloatGen.model 6
        |> Gen.map (fun m -> {
            m with
                Layers =
                    m.Layers
                    |> List.filter (function
                        | BatchNorm _ -> false
                        | _ -> true)
        })
        |> Arb.fromGen

/// Whether these layers start with BatchNorms (none or more) and then a dense layer.
let rec private denseAfterBatchNorms (layers: Layer list) =
    match layers with
    | Dense _ :: _ -> true
    | BatchNorm _ :: rest -> denseAfterBatchNorms rest
    | _ -> false

/// Channels of every BatchNorm whose nearest preceding non-BatchNorm layer is linear or that a dense layer follows,
/// directly or after more BatchNorms (the foldable ones), and of those that are not, worked out independently of Fold.
let private classify (m: Model) : int list * int list =
    let rec go (lastNonBn: Layer option) layers foldable kept =
        match layers with
        | [] -> List.rev foldable, List.rev kept
        | BatchNorm b :: rest ->
            match lastNonBn, rest with
            | Some l, _ when FloatGen.isLinear l -> go lastNonBn rest (b.Gamma.Length :: foldable) kept
            | _, next when denseAfterBatchNorms next -> go lastNonBn rest (b.Gamma.Length :: foldable) kept
            | _ -> go lastNonBn rest foldable (b.Gamma.Length :: kept)
        | l :: rest -> go (Some l) rest foldable kept

    go None m.Layers [] []

let private bnCount (m: Model) =
    m.Layers
    |> List.filter (function
        | BatchNorm _ -> true
        | _ -> false)
    |> List.length

let private ``folding preserves outputs within a relative 1e-4`` () =
    Prop.forAll Gens.withBatchNorm (fun (m, x) ->
        let folded = Fold.batchNorm m
        let y = Forward.run m x
        let yf = Forward.run folded x
        let scale = max 1.0f (y.Data |> Array.fold (fun a v -> max a (abs v)) 0.0f)
        let foldable, kept = classify m

        Tensor.maxAbsDiff y yf <= 1.0e-4f * scale
        |> Prop.classify (not foldable.IsEmpty) "folds something"
        |> Prop.classify (not kept.IsEmpty) "keeps a BatchNorm"
        |> Prop.collect $"BN folded: {foldable.Length}")

let private ``folding removes exactly the foldable BatchNorms and 2 parameters per folded channel`` () =
    Prop.forAll Gens.withBatchNorm (fun (m, _) ->
        let folded = Fold.batchNorm m
        let foldable, kept = classify m
        let foldedAgain = Fold.batchNorm folded

        // Every BatchNorm left follows a non-linear layer (or starts the model) and precedes no dense layer.
        let leftOk =
            folded.Layers
            |> List.pairwise
            |> List.forall (function
                | prev, BatchNorm _ -> not (FloatGen.isLinear prev)
                | BatchNorm _, Dense _ -> false
                | _ -> true)

        bnCount folded = kept.Length
        && List.length folded.Layers = List.length m.Layers - foldable.Length
        && Model.totalParams m - Model.totalParams folded = 2 * List.sum foldable
        && Model.validate folded = Ok()
        && Model.shapes folded |> List.last = (Model.shapes m |> List.last)
        && leftOk
        && foldedAgain = folded)

let private ``folding a model without BatchNorm is the identity`` () =
    Prop.forAll Gens.withoutBatchNorm (fun m -> Fold.batchNorm m = m)

let private ``a BatchNorm after ReLU stays, one after a dense layer folds with the formula`` () =
    let bn = {
        Gamma = [| 2.0f |]
        Beta = [| 0.5f |]
        Mean = [| 1.0f |]
        Var = [| 3.0f |]
        Eps = 1.0f
    }

    let d = {
        Inputs = 2
        Outputs = 1
        Weight = [| 1.0f; -3.0f |]
        Bias = [| 4.0f |]
    }

    let m = {
        Name = "bn"
        Input = Shape3(1, 1, 2)
        Layers = [ Dense d; BatchNorm bn; ReLU; BatchNorm bn ]
        Classes = [ "x" ]
        Meta = Map.empty
    }

    match (Fold.batchNorm m).Layers with
    | [ Dense f; ReLU; BatchNorm _ ] ->
        // factor = 2 / sqrt(3 + 1) = 1; b' = (4 - 1) * 1 + 0.5.
        Expect.equal f.Weight [| 1.0f; -3.0f |] "folded weights"
        Expect.equal f.Bias [| 3.5f |] "folded bias"
    | other -> failtest $"unexpected layers {other}"

let private ``a BatchNorm before a dense layer folds into it with the formula`` () =
    // Two channels on a 1x2x2 map: dense input j is channel j mod 2.
    let bn = {
        Gamma = [| 2.0f; 1.0f |]
        Beta = [| 0.5f; -1.0f |]
        Mean = [| 1.0f; 2.0f |]
        Var = [| 3.0f; 0.0f |]
        Eps = 1.0f
    }

    let d = {
        Inputs = 4
        Outputs = 1
        Weight = [| 1.0f; -3.0f; 2.0f; 0.5f |]
        Bias = [| 4.0f |]
    }

    let m = {
        Name = "bn"
        Input = Shape3(1, 2, 2)
        Layers = [ ReLU; BatchNorm bn; Dense d ]
        Classes = [ "x" ]
        Meta = Map.empty
    }

    match (Fold.batchNorm m).Layers with
    | [ ReLU; Dense f ] ->
        // factors 2 / sqrt(3 + 1) = 1 and 1 / sqrt(0 + 1) = 1; shifts 0.5 - 1 = -0.5 and -1 - 2 = -3;
        // b' = 4 + 1 * -0.5 + -3 * -3 + 2 * -0.5 + 0.5 * -3 = 10.
        Expect.equal f.Weight [| 1.0f; -3.0f; 2.0f; 0.5f |] "folded weights"
        Expect.equal f.Bias [| 10.0f |] "folded bias"
    | other -> failtest $"unexpected layers {other}"

let private ``a run of BatchNorms before a dense layer folds whole, the nearest first`` () =
    // Found by the folding property (seed 4708388988644032101,17319722455296023345): BatchNorm, BatchNorm, Dense at
    // the start folded only the second, leaving a BatchNorm before the dense layer and a second fold to do.
    let bn1 = {
        Gamma = [| 2.0f |]
        Beta = [| 1.0f |]
        Mean = [| 0.5f |]
        Var = [| 3.0f |]
        Eps = 1.0f
    }

    let bn2 = {
        Gamma = [| 3.0f |]
        Beta = [| -2.0f |]
        Mean = [| 1.0f |]
        Var = [| 8.0f |]
        Eps = 1.0f
    }

    let d = {
        Inputs = 2
        Outputs = 1
        Weight = [| 1.0f; -3.0f |]
        Bias = [| 4.0f |]
    }

    let m = {
        Name = "bn-run"
        Input = Shape3(1, 2, 1)
        Layers = [ BatchNorm bn1; BatchNorm bn2; Dense d ]
        Classes = [ "x" ]
        Meta = Map.empty
    }

    match (Fold.batchNorm m).Layers with
    | [ Dense f ] ->
        // bn1: x -> (x - 0.5) * 1 + 1 = x + 0.5; bn2: y -> (y - 1) * 1 - 2 = y - 3; so x -> x - 2.5.
        // Dense: 4 + (x0 - 2.5) - 3 (x1 - 2.5) = x0 - 3 x1 + 9.
        Expect.equal f.Weight [| 1.0f; -3.0f |] "folded weights"
        Expect.equal f.Bias [| 9.0f |] "folded bias"
    | other -> failtest $"unexpected layers {other}"

[<Tests>]
let tests =
    testList "FoldTests" [
        testPropertyWithConfig
            (Properties.tests 150)
            "folding preserves outputs within a relative 1e-4"
            ``folding preserves outputs within a relative 1e-4``
        testPropertyWithConfig
            (Properties.tests 150)
            "folding removes exactly the foldable BatchNorms and 2 parameters per folded channel"
            ``folding removes exactly the foldable BatchNorms and 2 parameters per folded channel``
        testPropertyWithConfig
            (Properties.tests 60)
            "folding a model without BatchNorm is the identity"
            ``folding a model without BatchNorm is the identity``
        testCase
            "a BatchNorm after ReLU stays, one after a dense layer folds with the formula"
            ``a BatchNorm after ReLU stays, one after a dense layer folds with the formula``
        testCase
            "a BatchNorm before a dense layer folds into it with the formula"
            ``a BatchNorm before a dense layer folds into it with the formula``
        testCase
            "a run of BatchNorms before a dense layer folds whole, the nearest first"
            ``a run of BatchNorms before a dense layer folds whole, the nearest first``
    ]
