namespace Tern.Core

open System
open System.Collections.Generic
open Tern.Runtime

/// The checks of a whole ONNX graph, before and after the walk along its nodes: opset, the input and the output, and
/// which operators the data path uses. They refuse the model (OnnxRefused) saying what and where.
[<RequireQualifiedAccess>]
module internal OnnxGraphChecks =

    /// Opsets of the default domain accepted (fixtures exported with 10, 11, 13 and 17).
    let opsets: int64 * int64 = 7L, 21L

    /// The ops the data path may use (constant-only nodes: OnnxConstants.ops).
    let dataOps: Set<string> =
        set [
            "Conv"
            "BatchNormalization"
            "Relu"
            "Clip"
            "MaxPool"
            "AveragePool"
            "GlobalAveragePool"
            "Gemm"
            "MatMul"
            "Add"
            "Flatten"
            "Reshape"
            "Pad"
            "Identity"
            "Dropout"
            "Softmax"
        ]

    /// Refuses the model for something no single node is to blame for.
    let refuseGraph (why: string) : 'a = raise (OnnxRefused why)

    /// Why an operator is refused: the common ones the user may reach for get their own reason.
    let unsupported (op: string) : string =
        match op with
        | "Concat" -> "unsupported operator: Tern's layers form a chain and cannot join tensors"
        | "Sigmoid"
        | "Tanh"
        | "LeakyRelu"
        | "HardSwish"
        | "HardSigmoid"
        | "Elu"
        | "Selu"
        | "PRelu" -> $"unsupported operator: Tern has no {op} activation (ReLU and ReLU6 only)"
        | _ ->
            let known = String.Join(", ", dataOps)
            $"unsupported operator (Tern imports {known}, and constant shape arithmetic)"

    let private dimText (d: OnnxDim) =
        match d with
        | OnnxDim.Fixed v -> string v
        | OnnxDim.Symbolic s -> s
        | OnnxDim.Unknown -> "?"

    /// The input shape as text, e.g. "1x3x16x16", a dynamic dimension by its name.
    let shapeText (dims: OnnxDim list) : string =
        String.Join("x", dims |> List.map dimText)

    /// The opset must be one Tern's mapping was written for.
    let opset (g: OnnxGraph) : unit =
        let lo, hi = opsets

        if g.Opset < lo || g.Opset > hi then
            refuseGraph $"opset {g.Opset} is not supported ({lo} to {hi})"

    let private isDynamic (d: OnnxDim) =
        match d with
        | OnnxDim.Fixed v -> v <= 0L
        | _ -> true

    // Batch 1 or dynamic: Tern runs one sample at a time.
    let private batchOfOne (g: OnnxGraph) (batch: OnnxDim) =
        match batch with
        | OnnxDim.Fixed v when v > 1L ->
            refuseGraph $"input '{g.InputName}' has a fixed batch of {v}; export with batch 1 or a dynamic batch axis"
        | _ -> ()

    /// The value the graph's input holds: a float [N, C, H, W] map or [N, F] features, fixed but for the batch.
    let input (g: OnnxGraph) (readers: OnnxReaders) : OnnxValue =
        if g.InputElemType <> 1 then
            refuseGraph $"input '{g.InputName}' has element type {g.InputElemType}; Tern imports float (1) models"

        match g.InputDims with
        | batch :: rest ->
            batchOfOne g batch

            if rest |> List.exists isDynamic then
                refuseGraph
                    $"input '{g.InputName}' (read by {readers.Text g.InputName}) has a dynamic spatial shape [{shapeText g.InputDims}]; Tern needs fixed C, H and W (export without dynamic_axes on them)"

            let fixedDims =
                rest
                |> List.map (fun d ->
                    match d with
                    | OnnxDim.Fixed v -> int v
                    | _ -> 0)

            match fixedDims with
            | [ c; h; w ] -> OnnxValue.Map(Shape3(h, w, c))
            | [ f ] -> OnnxValue.Flat(f, None)
            | _ ->
                refuseGraph
                    $"input '{g.InputName}' has shape [{shapeText g.InputDims}]; Tern imports [N, C, H, W] or [N, F]"
        | [] -> refuseGraph $"input '{g.InputName}' has no dimensions"

    /// The name of the graph's one output.
    let output (g: OnnxGraph) : string =
        match g.Outputs with
        | [ name, _ ] -> name
        | [] -> refuseGraph "the graph has no output"
        | many ->
            let named =
                many
                |> List.map (fun (o, p) ->
                    match p with
                    | Some n -> $"'{o}' from node {OnnxGraph.label n} ({n.OpType})"
                    | None -> $"'{o}'")

            let named = String.Join(", ", named)
            refuseGraph $"the graph has {many.Length} outputs ({named}); Tern models have one"

    /// Every node on the data path (reached from the input) must be one of dataOps, every other one constant
    /// arithmetic; checked before the walk so that an unsupported operator is named wherever it is.
    let dataPath (g: OnnxGraph) : unit =
        let isData = HashSet<string>([ g.InputName ])

        for n in g.Nodes do
            if n.Domain <> "" && n.Domain <> "ai.onnx" then
                OnnxGraph.refuse n $"operator domain '{n.Domain}' is not supported"

            let dataIn = n.Inputs |> Array.exists isData.Contains

            // Shape reads only the dimensions: its output is a constant.
            if n.OpType = "Shape" then
                ()
            elif dataIn then
                if not (dataOps.Contains n.OpType) then
                    OnnxGraph.refuse n (unsupported n.OpType)

                for o in n.Outputs do
                    if o <> "" then
                        isData.Add o |> ignore
            elif not (OnnxConstants.ops.Contains n.OpType) then
                OnnxGraph.refuse n (unsupported n.OpType)

    /// After the walk: the chain ends at the graph's output, has layers, and its output means the same in NCHW and
    /// Tern's HWC order.
    let chainEnd (output: string) (last: string) (layerCount: int) (final: OnnxValue) : unit =
        if last <> output then
            refuseGraph
                $"the graph output '{output}' is not the end of the chain ('{last}'): Tern models are one chain from input to output"

        if layerCount = 0 then
            refuseGraph "the graph has no layers"

        match final with
        | OnnxValue.Map s when s.H * s.W > 1 ->
            refuseGraph
                $"the output is a {s.C} x {s.H} x {s.W} map, whose element order differs between NCHW and Tern's HWC: end the model with a global pool or a Gemm"
        | OnnxValue.Flat(_, Some _) ->
            refuseGraph
                "the output is a flattened NCHW map, whose element order differs in Tern's HWC layout: end the model with a global pool or a Gemm"
        | OnnxValue.Map _
        | OnnxValue.Flat(_, None) -> ()
