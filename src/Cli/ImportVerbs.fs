/// Verbs that bring models trained elsewhere in: import onnx.
module Tern.Cli.ImportVerbs

open System
open System.IO
open Argu
open Tern.Core
open Tern.Cli.Args
open Tern.Cli.Common

// An ONNX dimension as JSON: a number, or the name of a dynamic one.
let private dimJson (d: OnnxDim) : Text.Json.Nodes.JsonNode =
    match d with
    | OnnxDim.Fixed v -> Json.int64 v
    | OnnxDim.Symbolic s -> Json.str s
    | OnnxDim.Unknown -> Json.str "?"

let private parseClasses (text: string) : string list =
    let names = text.Split(',') |> Array.map (fun s -> s.Trim()) |> Array.toList

    if names |> List.exists String.IsNullOrEmpty then
        raise (BadInput $"--classes {text}: a class name is empty")

    match names |> List.countBy id |> List.tryFind (fun (_, k) -> k > 1) with
    | Some(name, _) -> raise (BadInput $"--classes {text}: '{name}' appears twice")
    | None -> names

let importOnnx (args: ParseResults<OnnxArgs>) =
    let path = args.GetResult OnnxArgs.File
    let out = args.GetResult OnnxArgs.Out
    let classes = args.TryGetResult OnnxArgs.Classes |> Option.map parseClasses

    let bytes =
        try
            File.ReadAllBytes path
        with e ->
            raise (BadInput $"{path}: {e.Message}")

    let imported =
        match OnnxImport.import path bytes classes with
        | Ok r -> r
        | Error e -> raise (BadInput $"{path}: {e}")

    let model = imported.Model

    try
        ModelFile.saveFloat out model
    with
    | :? IOException
    | :? UnauthorizedAccessException as e -> raise (BadInput $"--out {out}: {e.Message}")

    let layers = Model.describe model
    let src = imported.Source

    writeOut
        (args.Contains OnnxArgs.Json)
        (Json.obj [
            "out", Json.str out
            "input", Json.shape model.Input
            "classes", Json.arr (model.Classes |> List.map Json.str)
            "layers", describedLayersJson layers
            "params", Json.int (Model.totalParams model)
            "macs", Json.int64 (Model.totalMacs model)
            "source",
            Json.obj [
                "file", Json.str src.File
                "sha256", Json.str src.Sha256
                "opset", Json.int64 src.Opset
                "producer", Json.str src.Producer
                "input_name", Json.str src.InputName
                "input_shape", Json.arr (src.InputShape |> List.map dimJson)
            ]
            "notes", Json.arr (imported.Notes |> List.map Json.str)
        ])
        (fun () ->
            printfn
                "%s: %s, opset %d, input '%s' [%s] -> %O (H x W x C)"
                src.File
                (if src.Producer = "" then
                     "unknown producer"
                 else
                     src.Producer)
                src.Opset
                src.InputName
                (OnnxImport.shapeText src.InputShape)
                model.Input

            describedLayersTable layers

            for note in imported.Notes do
                printfn "note: %s" note

            printfn
                "wrote %s: float model '%s', %d layers, %d parameters, %d MACs, classes %s"
                out
                model.Name
                layers.Length
                (Model.totalParams model)
                (Model.totalMacs model)
                (String.Join(", ", model.Classes)))
