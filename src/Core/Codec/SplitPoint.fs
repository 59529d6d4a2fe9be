namespace Tern.Core

open Tern.Runtime

/// Where a model is split between device and host when the user does not say: the study and the rig use the same.
[<RequireQualifiedAccess>]
module SplitPoint =

    /// The split K (the device runs layers 0..K-1) after the smallest feature map among the first half of the
    /// layers (indices below max 1 (layers / 2); the earliest on a tie), never inside a residual block, whose add
    /// still needs the block's input (IntModel.CanSplitAt); 2 for the default model (layer 1, 16x16x8).
    let byDefault (model: IntModel) : int =
        let half = max 1 (model.Layers.Length / 2)

        seq { 0 .. half - 1 }
        |> Seq.filter (fun i -> model.CanSplitAt(i + 1))
        |> Seq.sortBy (fun i -> model.Layers[i].Output.Size, i)
        |> Seq.tryHead
        |> Option.defaultValue 0
        |> (+) 1
