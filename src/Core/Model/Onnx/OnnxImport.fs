namespace Tern.Core

open System
open System.IO
open System.Security.Cryptography

/// Where an imported model came from; the model file keeps it in Model.Meta (keys in OnnxImport.metaKeys).
type OnnxSource = {
    /// File name without directories.
    File: string
    /// SHA-256 of the .onnx bytes, lower-case hex.
    Sha256: string
    Opset: int64
    /// Producer name and version, e.g. "pytorch 1.13.0".
    Producer: string
    InputName: string
    InputShape: OnnxDim list
}

/// An imported float model, its source, and what the import dropped or folded (one line each).
type OnnxImported = {
    Model: Model
    Source: OnnxSource
    Notes: string list
}

/// Maps a float ONNX graph (as torch.onnx.export writes it) to Tern's chain of layers: NCHW to HWC, Pad folded into
/// the next conv or pool, BatchNormalization kept, Gemm/MatMul(+Add) to Dense with the columns of an NCHW flatten
/// permuted, identity-shortcut Adds to ResidualAdd, a final Softmax dropped. Anything else is refused naming the node.
[<RequireQualifiedAccess>]
module OnnxImport =

    /// Opsets of the default domain accepted (fixtures exported with 10, 11, 13 and 17).
    let opsets: int64 * int64 = OnnxGraphChecks.opsets

    /// Model.Meta keys of the source.
    let metaKeys: string list = [
        "source.file"
        "source.sha256"
        "source.opset"
        "source.producer"
        "source.input_name"
        "source.input_shape"
    ]

    /// The ops the data path may use (constant-only nodes: OnnxConstants.ops).
    let dataOps: Set<string> = OnnxGraphChecks.dataOps

    /// The input shape as text, e.g. "1x3x16x16", a dynamic dimension by its name (what "source.input_shape" holds).
    let shapeText (dims: OnnxDim list) : string = OnnxGraphChecks.shapeText dims

    // The number of outputs of the imported layers, which must chain.
    let private outputCount (model: Model) : int =
        match Model.validate model with
        | Ok() -> (List.last (Model.shapes model)).Size
        | Error e -> raise (OnnxRefused $"the imported layers do not chain: {e}")

    let private classNames (classes: string list option) (outputs: int) : string list =
        match classes with
        | None -> List.init outputs (fun i -> $"class{i}")
        | Some c when c.Length = outputs -> c
        | Some c -> raise (OnnxRefused $"{c.Length} class names given for the model's {outputs} outputs")

    let private sourceOf (fileName: string) (bytes: byte[]) (g: OnnxGraph) : OnnxSource = {
        File = Path.GetFileName fileName
        Sha256 = Convert.ToHexString(SHA256.HashData bytes).ToLowerInvariant()
        Opset = g.Opset
        Producer = $"{g.ProducerName} {g.ProducerVersion}".Trim()
        InputName = g.InputName
        InputShape = g.InputDims
    }

    let private metaOf (source: OnnxSource) : Map<string, string> =
        List.zip metaKeys [
            source.File
            source.Sha256
            string source.Opset
            source.Producer
            source.InputName
            shapeText source.InputShape
        ]
        |> Map.ofList

    let private importGraph (fileName: string) (bytes: byte[]) (classes: string list option) (g: OnnxGraph) =
        let layers, input, notes = OnnxWalk.run g

        let model = {
            Name = Path.GetFileNameWithoutExtension fileName
            Input = input
            Layers = layers
            Classes = []
            Meta = Map.empty
        }

        let classes = classNames classes (outputCount model)
        let source = sourceOf fileName bytes g

        {
            Model = {
                model with
                    Classes = classes
                    Meta = metaOf source
            }
            Source = source
            Notes = notes
        }

    /// Imports the bytes of an .onnx file named `fileName` (only its name is recorded); `classes` names the outputs
    /// (default class0, class1, ...). Error names the node, its op type and why for anything Tern cannot represent.
    let import (fileName: string) (bytes: byte[]) (classes: string list option) : Result<OnnxImported, string> =
        OnnxGraph.parse bytes
        |> Result.bind (fun g ->
            try
                Ok(importGraph fileName bytes classes g)
            with OnnxRefused msg ->
                Error msg)
