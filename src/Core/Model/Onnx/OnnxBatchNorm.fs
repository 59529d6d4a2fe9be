namespace Tern.Core

/// BatchNormalization (inference form) to Tern's BatchNorm layer, after a conv or on flattened features.
[<RequireQualifiedAccess>]
module internal OnnxBatchNorm =

    let private refuse = OnnxGraph.refuse

    // Only the inference form: training mode would update the statistics and normalise by the batch.
    let private checkInference (n: OnnxNode) =
        OnnxGraph.onlyAttributes n [ "epsilon"; "momentum"; "spatial"; "training_mode" ]

        if OnnxGraph.attrInt n "spatial" 1L <> 1L then
            refuse n "spatial=0 is not supported"

        if OnnxGraph.attrInt n "training_mode" 0L <> 0L then
            refuse n "training_mode=1: export the model in eval mode"

        if n.Outputs |> Array.skip 1 |> Array.exists ((<>) "") then
            refuse n "it has training outputs (running statistics): export the model in eval mode"

    /// A BatchNormalization node; on a flattened NCHW map its per-feature parameters follow Tern's HWC order.
    let batchNorm (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        checkInference n

        let channels, perm =
            match t.Value with
            | OnnxValue.Map s -> s.C, None
            | OnnxValue.Flat(f, p) -> f, p

        let param i what =
            let v = OnnxConstants.floatsOfLength n what channels (chain.Required n i what)

            match perm with
            | Some p -> OnnxLayout.permuteVector p v
            | None -> v

        chain.Emit(
            BatchNorm {
                Gamma = param 1 "scale"
                Beta = param 2 "bias"
                Mean = param 3 "mean"
                Var = param 4 "variance"
                Eps = OnnxGraph.attrFloat n "epsilon" 1e-5f
            }
        )

        chain.Advance n t.Value false
