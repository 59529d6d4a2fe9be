namespace Tern.Core

/// The nodes that vanish at inference: Identity, Dropout, and a final Softmax (Tern outputs the logits).
[<RequireQualifiedAccess>]
module internal OnnxDropped =

    /// An Identity node.
    let identity (chain: OnnxChain) (n: OnnxNode) : unit = chain.PassThrough n

    /// A Dropout node, in eval mode.
    let dropout (chain: OnnxChain) (n: OnnxNode) : unit =
        OnnxGraph.onlyAttributes n [ "ratio"; "seed"; "is_test" ]
        chain.ExtraOutputsUnused n

        match chain.ConstInput n 2 "training_mode" with
        | Some c when OnnxConstants.floats c |> Array.exists ((<>) 0.0f) ->
            OnnxGraph.refuse n "training_mode is true: export the model in eval mode"
        | _ -> ()

        chain.Note $"dropout {OnnxGraph.label n} dropped (the identity at inference)"
        chain.PassThrough n

    /// A Softmax node, which must write the graph's output: the argmax is the same on the logits before it.
    let softmax (chain: OnnxChain) (n: OnnxNode) : unit =
        OnnxGraph.onlyAttributes n [ "axis" ]

        if n.Outputs[0] <> chain.Output then
            OnnxGraph.refuse n "a Softmax is supported only as the last node (it is dropped: Tern outputs the logits)"

        chain.Note $"softmax {OnnxGraph.label n} dropped (the model outputs the logits before it)"
        chain.DropSoftmax n
        chain.PassThrough n
