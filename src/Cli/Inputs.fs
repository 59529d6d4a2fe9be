/// Where `run` and `lower` take their inputs: random:N, npy:FILE.npy (samples) or a data set folder (labelled).
module Tern.Cli.Inputs

open System
open System.IO
open Tern.Core
open Tern.Runtime
open Tern.Cli.Args

/// An input source as given on the command line.
type InputSource =
    | RandomSource of count: int
    | NpySource of path: string
    | FolderSource of dir: string

/// Inputs for a model: samples in HWC order, and labels with their class names when the source has them.
type Inputs = {
    Samples: float32[][]
    Labels: (int[] * string list) option
}

/// Parses random:N, npy:FILE or a folder; option names the flag in messages.
let parse (option: string) (text: string) : InputSource =
    if text.StartsWith "random:" then
        RandomSource(Common.parseRandom option text)
    elif text.StartsWith "npy:" then
        match text.Substring 4 with
        | "" -> raise (BadInput $"--{option} {text}: give the file, npy:X.npy")
        | p -> NpySource p
    elif Directory.Exists text then
        FolderSource text
    else
        raise (BadInput $"--{option} {text}: no such folder; expected random:N, npy:FILE.npy or a data set folder")

/// The layout of an npy source (default nchw); --layout given with a source that has none is refused.
let layout (option: string) (source: InputSource) (given: LayoutArg option) : NpyLayout =
    match source, given with
    | NpySource _, Some LayoutArg.Nhwc -> NpyLayout.Nhwc
    | NpySource _, _ -> NpyLayout.Nchw
    | _, None -> NpyLayout.Nchw
    | _, Some _ ->
        raise (
            BadInput
                $"--layout applies to npy: inputs only; random inputs and data set folders are already in Tern's HWC order (--{option})"
        )

let private checkShape (what: string) (have: Shape3) (detail: string) (model: Shape3) =
    if have <> model then
        raise (BadInput $"{what}: samples are {have} (HWC{detail}), the model takes {model} (HWC)")

/// Loads the inputs for a model taking `shape`; at most `limit` samples (a seeded subset, class-stratified for a
/// folder) when given. Random sources draw seeded uniform [0, 1) inputs as Lower.randomCalibration does.
let load
    (option: string)
    (text: string)
    (source: InputSource)
    (layout: NpyLayout)
    (seed: int)
    (limit: int option)
    (shape: Shape3)
    : Inputs =
    let what = $"--{option} {text}"

    match source with
    | RandomSource n -> {
        Samples =
            Lower.randomCalibration seed n shape
            |> List.map (fun t -> t.Data)
            |> List.toArray
        Labels = None
      }
    | NpySource path ->
        let array, (have, samples) =
            match Npy.read path with
            | Error e -> raise (BadInput e)
            | Ok a ->
                match NpyImport.samples layout a with
                | Ok x -> a, x
                | Error e -> raise (BadInput e)

        let other =
            if layout = NpyLayout.Nchw then
                NpyLayout.Nhwc
            else
                NpyLayout.Nchw

        // A hint when the other layout would fit the model.
        let hint =
            match NpyImport.sampleShape other array.Shape with
            | Ok s when s = shape -> $"; with --layout {NpyImport.layoutName other} they would be {s}"
            | _ -> ""

        checkShape
            what
            have
            $"; array shape {Npy.shapeText array.Shape} read as {NpyImport.layoutName layout}{hint}"
            shape

        let picked =
            match limit with
            | Some k -> Splits.stratifiedSubset k seed (Array.zeroCreate samples.Length)
            | None -> Array.init samples.Length id

        {
            Samples = picked |> Array.map (fun i -> samples[i])
            Labels = None
        }
    | FolderSource dir ->
        let d = Common.loadDatasetShaped dir shape

        checkShape what d.Shape "" shape

        let picked =
            match limit with
            | Some k -> Splits.stratifiedSubset k seed d.Labels
            | None -> Array.init d.Samples.Length id

        let xs, ys = Dataset.pick picked d

        {
            Samples = xs
            Labels = Some(ys, d.Classes)
        }
