namespace Tern.Core

/// Parameters and multiply-accumulates of one layer before and after pruning.
type LayerReduction = {
    Index: int
    Name: string
    ParamsBefore: int
    ParamsAfter: int
    MacsBefore: int64
    MacsAfter: int64
    /// Output channels before and after (the layer's C dimension).
    ChannelsBefore: int
    ChannelsAfter: int
}

/// A whole model's reductions; fractions are 1 - after / before (0 when nothing was there).
type ModelReduction = {
    Layers: LayerReduction list
    ParamsBefore: int
    ParamsAfter: int
    MacsBefore: int64
    MacsAfter: int64
    ParamsReduction: float
    /// FLOPs as seed 001 counts them are proportional to multiply-accumulates, so the fraction is the MAC fraction.
    FlopsReduction: float
}

/// FLOPs and parameter reductions of a pruned model against its original, per layer and in total.
[<RequireQualifiedAccess>]
module Reduction =

    let private fraction (before: float) (after: float) : float =
        if before <= 0.0 then 0.0 else 1.0 - after / before

    /// Compares a model with its pruned version; both must have the same layer list shape (surgery never removes
    /// layers; a model with fewer layers, e.g. after dropping blocks, is compared by totals only).
    let compare (before: Model) (after: Model) : ModelReduction =
        let b = Model.describe before
        let a = Model.describe after

        let layers =
            if b.Length = a.Length then
                List.map2
                    (fun (x: LayerInfo) (y: LayerInfo) -> {
                        Index = x.Index
                        Name = x.Name
                        ParamsBefore = x.Params
                        ParamsAfter = y.Params
                        MacsBefore = x.Macs
                        MacsAfter = y.Macs
                        ChannelsBefore = x.OutputShape.C
                        ChannelsAfter = y.OutputShape.C
                    })
                    b
                    a
            else
                []

        let pb, pa = Model.totalParams before, Model.totalParams after
        let mb, ma = Model.totalMacs before, Model.totalMacs after

        {
            Layers = layers
            ParamsBefore = pb
            ParamsAfter = pa
            MacsBefore = mb
            MacsAfter = ma
            ParamsReduction = fraction (float pb) (float pa)
            FlopsReduction = fraction (float mb) (float ma)
        }

    /// A human table: one line per layer that has parameters or MACs, then the totals.
    let format (r: ModelReduction) : string =
        let sb = System.Text.StringBuilder()

        sb.AppendLine(
            sprintf "%-16s %9s %15s %12s %12s %9s" "layer" "channels" "params" "MACs before" "MACs after" "params-%"
        )
        |> ignore

        for l in r.Layers do
            if l.ParamsBefore > 0 || l.MacsBefore > 0L then
                sb.AppendLine(
                    sprintf
                        "%-16s %4d->%-4d %7d->%-7d %12d %12d %8.1f%%"
                        l.Name
                        l.ChannelsBefore
                        l.ChannelsAfter
                        l.ParamsBefore
                        l.ParamsAfter
                        l.MacsBefore
                        l.MacsAfter
                        (100.0 * fraction (float l.ParamsBefore) (float l.ParamsAfter))
                )
                |> ignore

        sb.AppendLine(
            sprintf
                "total: params %d -> %d (-%.1f%%), MACs %d -> %d (-%.1f%%)"
                r.ParamsBefore
                r.ParamsAfter
                (100.0 * r.ParamsReduction)
                r.MacsBefore
                r.MacsAfter
                (100.0 * r.FlopsReduction)
        )
        |> ignore

        sb.ToString()
