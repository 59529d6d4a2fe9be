namespace Tern.Core

/// Folding of inference-form BatchNorm into the preceding linear layer.
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

    /// Folds every BatchNorm that directly follows a Conv2d, DepthwiseConv2d, Pointwise or Dense into that layer
    /// and removes it (a run of BatchNorms after such a layer folds entirely). A BatchNorm after any other layer
    /// (or first in the model) is left in place; the lowering rejects it. Throws ArgumentException on an invalid model.
    let batchNorm (model: Model) : Model =
        match Model.validate model with
        | Error e -> invalidArg "model" $"model '{model.Name}' is invalid: {e}"
        | Ok() ->
            // Built in reverse, so the head is the layer just before the one being looked at.
            let folded =
                model.Layers
                |> List.fold
                    (fun acc layer ->
                        match layer, acc with
                        | BatchNorm b, prev :: rest ->
                            match tryFold prev b with
                            | Some merged -> merged :: rest
                            | None -> layer :: acc
                        | _ -> layer :: acc)
                    []
                |> List.rev

            { model with Layers = folded }
