namespace Tern.Core

/// Folding of inference-form BatchNorm into the preceding linear layer, or into a dense layer right after it.
[<RequireQualifiedAccess>]
module Fold =

    // Per-channel factor gamma / sqrt(var + eps), in double so the fold adds only the final float32 rounding.
    let private factors (b: BatchNormSpec) : float[] =
        Array.init b.Gamma.Length (fun c -> float b.Gamma[c] / sqrt (float b.Var[c] + float b.Eps))

    // w' = w * f per output row, b' = (b - mean) * f + beta.
    let private foldInto (weight: float32[]) (bias: float32[]) (b: BatchNormSpec) : float32[] * float32[] =
        let f = factors b
        let rows = bias.Length
        let perRow = weight.Length / rows
        let w = weight |> Array.mapi (fun i v -> float32 (float v * f[i / perRow]))

        let bi =
            bias
            |> Array.mapi (fun c v -> float32 ((float v - float b.Mean[c]) * f[c] + float b.Beta[c]))

        w, bi

    // The layer that results from folding b into prev, if prev is a linear layer.
    let private tryFold (prev: Layer) (b: BatchNormSpec) : Layer option =
        match prev with
        | Conv2d c ->
            let w, bi = foldInto c.Weight c.Bias b
            Some(Conv2d { c with Weight = w; Bias = bi })
        | DepthwiseConv2d c ->
            let w, bi = foldInto c.Weight c.Bias b
            Some(DepthwiseConv2d { c with Weight = w; Bias = bi })
        | Pointwise c ->
            let w, bi = foldInto c.Weight c.Bias b
            Some(Pointwise { c with Weight = w; Bias = bi })
        | Dense d ->
            let w, bi = foldInto d.Weight d.Bias b
            Some(Dense { d with Weight = w; Bias = bi })
        | _ -> None

    // A BatchNorm folded into the dense layer after it (BatchNorm1d before a Linear, as PyTorch models have it):
    // W' = W diag(f) and b' = b + W (beta - f mean), input j being channel j mod C of the HWC-flattened input.
    let private foldIntoNext (b: BatchNormSpec) (d: DenseSpec) : DenseSpec =
        let f = factors b
        let channels = f.Length
        let shift = Array.init channels (fun c -> float b.Beta[c] - f[c] * float b.Mean[c])

        let w =
            d.Weight
            |> Array.mapi (fun i v -> float32 (float v * f[(i % d.Inputs) % channels]))

        let bias =
            Array.init d.Outputs (fun o ->
                let mutable acc = float d.Bias[o]

                for j in 0 .. d.Inputs - 1 do
                    acc <- acc + float d.Weight[o * d.Inputs + j] * shift[j % channels]

                float32 acc)

        { d with Weight = w; Bias = bias }

    // The layers of the folded model with the index of the original layer each comes from. A BatchNorm is folded
    // when the layer kept just before it is linear, or else when a dense layer follows it (directly or after more
    // BatchNorms: a run of them folds whole), unless a residual block starts at it, at a BatchNorm after it or at
    // that dense layer (the block's input is the tensor folding would change). ResidualAdd spans are recounted over
    // the kept layers.
    let private foldLayers (model: Model) : (int * Layer)[] =
        let layers = List.toArray model.Layers
        let starts = Model.residualBlocks model |> List.map fst |> Set.ofList
        let kept = ResizeArray<int * Layer>()
        // Original index -> index in the folded model (a folded BatchNorm maps to the layer it went into).
        let newIndex = Array.zeroCreate<int> layers.Length
        // BatchNorms waiting for the dense layer after them, the last one first.
        let mutable pending: BatchNormSpec list = []

        // Whether the layers from i on are BatchNorms up to a dense layer, with no residual block starting among them.
        let rec beforeDense (i: int) =
            i < layers.Length
            && not (starts.Contains i)
            && (layers[i].IsDense
                || (match layers[i] with
                    | BatchNorm _ -> beforeDense (i + 1)
                    | _ -> false))

        for i in 0 .. layers.Length - 1 do
            let merged =
                match layers[i] with
                | BatchNorm b when kept.Count > 0 && not (starts.Contains i) ->
                    let o, prev = kept[kept.Count - 1]
                    tryFold prev b |> Option.map (fun m -> o, m)
                | _ -> None

            match merged, layers[i], pending with
            | Some m, _, _ ->
                kept[kept.Count - 1] <- m
                newIndex[i] <- kept.Count - 1
            | None, BatchNorm b, _ when beforeDense i ->
                pending <- b :: pending
                newIndex[i] <- kept.Count
            | None, Dense d, _ :: _ ->
                // Dense(bn_k(...bn_1(x))): the BatchNorm nearest the dense layer folds first.
                let folded = pending |> List.fold (fun acc b -> foldIntoNext b acc) d
                pending <- []
                newIndex[i] <- kept.Count
                kept.Add(i, Dense folded)
            | None, layer, _ ->
                newIndex[i] <- kept.Count
                kept.Add(i, layer)

        kept
        |> Seq.mapi (fun k (o, l) ->
            match l with
            | ResidualAdd span -> o, ResidualAdd(k - newIndex[o - span])
            | _ -> o, l)
        |> Seq.toArray

    /// For each layer of the folded model (Fold.batchNorm), the index of the original layer it comes from.
    let keptIndices (model: Model) : int[] =
        match Model.validate model with
        | Error e -> invalidArg "model" $"model '{model.Name}' is invalid: {e}"
        | Ok() -> foldLayers model |> Array.map fst

    /// Folds every BatchNorm that directly follows a Conv2d, DepthwiseConv2d, Pointwise or Dense into that layer
    /// and removes it (a run of BatchNorms after such a layer folds entirely); a BatchNorm after any other layer that
    /// a Dense directly follows is folded into the Dense. Any other BatchNorm (or one first in a residual block) is
    /// left in place; the lowering rejects it. Residual spans are recounted. Throws ArgumentException on an invalid
    /// model.
    let batchNorm (model: Model) : Model =
        match Model.validate model with
        | Error e -> invalidArg "model" $"model '{model.Name}' is invalid: {e}"
        | Ok() -> {
            model with
                Layers = foldLayers model |> Array.map snd |> Array.toList
          }
