namespace Tern.Core

/// Flatten and Reshape (to [N, -1]) to Tern's Flatten; Gemm, MatMul and a constant Add after them to Dense. Tern
/// flattens a map in HWC order where ONNX flattens NCHW, so a Dense reading a flattened map gets its columns
/// permuted.
[<RequireQualifiedAccess>]
module internal OnnxDense =

    let private refuse = OnnxGraph.refuse

    // A map becomes a Flatten layer remembering the NCHW order of its features; features stay as they are.
    let private flattenTo (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) =
        match t.Value with
        | OnnxValue.Map s ->
            chain.Emit Flatten
            let perm = OnnxLayout.flattenPermutation s
            let order = if OnnxLayout.isIdentity perm then None else Some perm
            chain.Advance n (OnnxValue.Flat(s.Size, order)) t.NonNegative
        | OnnxValue.Flat _ -> chain.PassThrough n

    /// A Flatten node (axis 1 only).
    let flatten (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        OnnxGraph.onlyAttributes n [ "axis" ]
        let rank = (OnnxValue.dims t.Value).Length
        let axis = OnnxGraph.attrInt n "axis" 1L
        let axis = if axis < 0L then axis + int64 rank else axis

        if axis <> 1L then
            refuse n $"axis {axis}: Tern flattens to [N, -1] (axis 1) only"

        flattenTo chain n t

    /// A Reshape node that flattens to [N, -1].
    let reshape (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        OnnxGraph.onlyAttributes n [ "allowzero" ]
        let dims = OnnxValue.dims t.Value
        let shape = OnnxConstants.ints n "the shape" (chain.Required n 1 "the shape")

        let target =
            OnnxConstants.reshapeDims n dims shape (OnnxGraph.attrInt n "allowzero" 0L <> 0L)

        if target = [| 1L; OnnxGraph.count dims |] then
            flattenTo chain n t
        else
            refuse
                n
                $"reshape of [{OnnxGraph.dimsText dims}] to [{OnnxGraph.dimsText shape}]: Tern supports a flatten to [N, -1] only"

    // Bias values broadcast to `outputs` (one value, or `outputs` values along the last axis).
    let private broadcastBias (n: OnnxNode) (what: string) (outputs: int) (c: OnnxConst) : float32[] =
        let v = OnnxConstants.floats c

        if v.Length = 1 then
            Array.create outputs v[0]
        elif
            v.Length = outputs
            && c.Dims.Length >= 1
            && c.Dims[c.Dims.Length - 1] = int64 outputs
        then
            Array.copy v
        else
            refuse n $"{what} of shape [{OnnxGraph.dimsText c.Dims}] does not broadcast to {outputs} outputs"

    // The Dense layer of weights [outputs x inputs] in ONNX's feature order.
    let private dense
        (chain: OnnxChain)
        (n: OnnxNode)
        (t: OnnxTracked)
        (weights: float32[])
        (inputs: int)
        (outputs: int)
        (bias: float32[])
        =
        let _, perm = OnnxValue.flat n t

        let rows =
            match perm with
            | Some p ->
                chain.Note $"{OnnxGraph.label n} ({n.OpType}): columns permuted from NCHW to HWC flatten order"
                OnnxLayout.permuteColumns outputs p weights
            | None -> weights

        chain.Emit(
            Dense {
                Inputs = inputs
                Outputs = outputs
                Weight = rows
                Bias = bias
            }
        )

        chain.Advance n (OnnxValue.Flat(outputs, None)) false

    // Gemm's B as [rows, cols], and its inputs and outputs (transB: B is [outputs, inputs]).
    let private gemmShape (n: OnnxNode) (b: OnnxConst) (transB: bool) (k: int) : int * int =
        let rows, cols =
            match b.Dims with
            | [| r; c |] -> int r, int c
            | d -> refuse n $"B has rank {d.Length}, expected 2"

        let inputs, outputs = if transB then cols, rows else rows, cols

        if inputs <> k then
            refuse n $"B takes {inputs} inputs, the input has {k}"

        inputs, outputs

    /// A Gemm node: alpha * A B' + beta * C.
    let gemm (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        OnnxGraph.onlyAttributes n [ "alpha"; "beta"; "transA"; "transB" ]

        if OnnxGraph.attrInt n "transA" 0L <> 0L then
            refuse n "transA=1 is not supported"

        let k, _ = OnnxValue.flat n t
        let b = chain.Required n 1 "B"
        let transB = OnnxGraph.attrInt n "transB" 0L <> 0L
        let alpha = OnnxGraph.attrFloat n "alpha" 1.0f
        let beta = OnnxGraph.attrFloat n "beta" 1.0f
        let inputs, outputs = gemmShape n b transB k
        let bv = OnnxConstants.floats b

        let w =
            Array.init (outputs * inputs) (fun j ->
                let o, i = j / inputs, j % inputs
                alpha * (if transB then bv[o * inputs + i] else bv[i * outputs + o]))

        let bias =
            match chain.ConstInput n 2 "C" with
            | Some c -> broadcastBias n "C" outputs c |> Array.map (fun v -> beta * v)
            | None -> Array.zeroCreate outputs

        dense chain n t w inputs outputs bias

    /// A MatMul node by a constant [inputs, outputs] matrix.
    let matMul (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) : unit =
        OnnxGraph.onlyAttributes n []
        let k, _ = OnnxValue.flat n t
        let b = chain.Required n 1 "the second operand"

        let inputs, outputs =
            match b.Dims with
            | [| r; c |] -> int r, int c
            | d -> refuse n $"the second operand has rank {d.Length}, expected 2"

        if inputs <> k then
            refuse n $"the second operand takes {inputs} inputs, the input has {k}"

        let bv = OnnxConstants.floats b

        let w =
            Array.init (outputs * inputs) (fun j -> bv[(j % inputs) * outputs + j / inputs])

        dense chain n t w inputs outputs (Array.zeroCreate outputs)

    /// An Add of the constant input `constant` (0 or 1): folded into the bias of the Dense right before it.
    let biasAdd (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) (constant: int) : unit =
        match chain.FoldableLast with
        | Some(last, Dense d) ->
            let c = chain.Required n constant "the added constant"
            let extra = broadcastBias n "the added constant" d.Outputs c

            chain.ReplaceLast(
                Dense {
                    d with
                        Bias = Array.map2 (+) d.Bias extra
                }
            )

            chain.Note $"add {OnnxGraph.label n} folded into {chain.LayerName last}'s bias"
            chain.Advance n t.Value false
        | _ -> refuse n "adds a constant: supported only as the bias right after a MatMul or Gemm"
