/// Helpers every verb shares: input sources, model loading, output.
module Tern.Cli.Common

open System
open System.IO
open Argu
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Spectre.Console
open Tern.Cli.Args

let version =
    Reflection.Assembly.GetExecutingAssembly().GetName().Version.ToString(3)

/// Parses "random:N" (N >= 1).
let parseRandom (what: string) (source: string) : int =
    match source.Split(':') with
    | [| "random"; n |] ->
        match Int32.TryParse n with
        | true, v when v >= 1 -> v
        | _ -> raise (BadInput $"--{what} {source}: N must be a whole number >= 1")
    | _ -> raise (BadInput $"--{what} {source}: expected random:N (only a seeded random source is available so far)")

let loadModel (path: string) : LoadedModel =
    match ModelFile.load path with
    | Ok m -> m
    | Error e -> raise (BadInput e)

/// The first 12 characters of a hash (all of a shorter one), as summaries show it.
let shortHash (hash: string) : string = hash.Substring(0, min 12 hash.Length)

/// Loads a data set folder; what is wrong with it is bad input.
let loadDataset (dir: string) : Dataset =
    match Dataset.load dir with
    | Ok d -> d
    | Error e -> raise (BadInput e)

/// The data set a model of this input shape takes from DIR: the data set folder itself, or the form of an import's
/// top folder (raw/, spectrogram/) whose samples have the shape (a model trained with --arch auto on the top folder
/// is checked against its own form).
let loadDatasetShaped (dir: string) (shape: Shape3) : Dataset =
    match ImportFolder.forms dir with
    | Error e -> raise (BadInput e)
    | Ok forms ->
        match forms |> List.tryFind (fun f -> f.Data.Shape = shape) with
        | Some f -> f.Data
        | None -> (List.head forms).Data

/// The data set of --data DIR, a folder that is not there named as such.
let loadDataOption (dir: string) : Dataset =
    if not (Directory.Exists dir) then
        raise (BadInput $"--data {dir}: no such folder")

    loadDataset dir

let writeOut (json: bool) (node: System.Text.Json.Nodes.JsonNode) (human: unit -> unit) =
    if json then printfn "%s" (Json.render node) else human ()

let layersTable (rows: (string * string * Shape3 * int * int64) list) =
    let table = Table()

    for h in [ "#"; "layer"; "kind"; "output"; "params"; "MACs" ] do
        table.AddColumn(h) |> ignore

    rows
    |> List.iteri (fun i (name, kind, shape, p, macs) ->
        table.AddRow([| string i; name; kind; string shape; $"{p:N0}"; $"{macs:N0}" |])
        |> ignore)

    AnsiConsole.Write table

/// A float model's layers (Model.describe) as the table of the human summary.
let describedLayersTable (layers: LayerInfo list) =
    layersTable (layers |> List.map (fun l -> l.Name, l.Kind, l.OutputShape, l.Params, l.Macs))

/// A float model's layers (Model.describe) as JSON: name, kind, output shape, parameters and MACs of each.
let describedLayersJson (layers: LayerInfo list) : System.Text.Json.Nodes.JsonNode =
    Json.arr (
        layers
        |> List.map (fun l ->
            Json.obj [
                "name", Json.str l.Name
                "kind", Json.str l.Kind
                "output_shape", Json.shape l.OutputShape
                "params", Json.int l.Params
                "macs", Json.int64 l.Macs
            ])
    )

/// Writes the HTML report of --html FILE from the verb's finished JSON object (the one --json prints).
let writeHtml (path: string option) (verb: string) (json: System.Text.Json.Nodes.JsonNode) : unit =
    path |> Option.iter (fun p -> Tern.Rig.HtmlReport.write p verb json)

/// The conv/dense layer positions (0 = the first) of an --int8-layers list, for a model with `count` of them.
let parseInt8Layers (text: string) (count: int) : Set<int> =
    text.Split(',', StringSplitOptions.TrimEntries)
    |> Array.map (fun part ->
        match Int32.TryParse part with
        | true, k when k >= 0 && k < count -> k
        | _ -> raise (BadInput $"--int8-layers {text}: '{part}' is not a conv/dense layer position (0..{count - 1})"))
    |> Set.ofArray
