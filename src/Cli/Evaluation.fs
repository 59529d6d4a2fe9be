/// What `run` and `hil` evaluate on a labelled data set folder: which subjects (the model's held-out ones by
/// default), how many samples (stratified by class and subject), and the float parent of an integer model.
module Tern.Cli.Evaluation

open System
open System.Collections.Generic
open System.Text.Json.Nodes
open Tern.Core
open Tern.Runtime
open Tern.Cli.Args

/// The labelled samples an evaluation takes from a folder, and how they were chosen.
type FolderSamples = {
    Data: Dataset
    Selection: SubjectSelection
    /// Samples in the folder before --samples drew from the selection.
    Available: int
    /// Set when --samples drew a subset: the seed.
    DrawnWith: int option
    Samples: float32[][]
    Labels: int[]
}

/// --subjects a,b or --all-subjects (refused together; DefaultSubjects when neither is given).
let request (subjects: string option) (all: bool) : SubjectRequest =
    match subjects, all with
    | Some _, true -> raise (BadInput "--subjects and --all-subjects exclude each other")
    | Some text, false ->
        let names =
            text.Split(',', StringSplitOptions.TrimEntries ||| StringSplitOptions.RemoveEmptyEntries)
            |> Array.toList

        if names.IsEmpty then
            raise (BadInput $"--subjects '{text}': name the subjects, comma-separated (e.g. 3,7 or S01,S02)")

        GivenSubjects names
    | None, true -> AllSubjects
    | None, false -> DefaultSubjects

/// A recorded holdout as JSON: data (the training data's fingerprint) and subjects (names as strings).
let holdoutJson (h: Holdout) : JsonNode =
    Json.obj [
        "data", Json.str h.Data
        "subjects", Json.arr (h.Subjects |> List.map Json.str)
    ]

/// The holdout a model file records; malformed metadata is bad input naming the file.
let holdoutOf (path: string) (meta: IReadOnlyDictionary<string, string>) : Holdout option =
    match Holdout.ofMeta meta with
    | Ok h -> h
    | Error e -> raise (BadInput $"{path}: {e}")

/// Loads a data set folder and picks what to evaluate: the requested subjects, then at most `count` samples drawn
/// stratified by class and subject with the seed (never the first ones).
let fromFolder
    (option: string)
    (dir: string)
    (holdout: Holdout option)
    (req: SubjectRequest)
    (count: int option)
    (seed: int)
    (shape: Shape3)
    : FolderSamples =
    let data = Common.loadDatasetShaped dir shape

    if data.Shape <> shape then
        raise (BadInput $"--{option} {dir}: samples are {data.Shape} (HWC), the model takes {shape} (HWC)")

    let selection =
        match Holdout.select holdout req data with
        | Ok s -> s
        | Error e -> raise (BadInput $"--{option} {dir}: {e}")

    let available = selection.Indices.Length

    let selection =
        match count with
        | None -> selection
        | Some n when n < 1 || n > available ->
            raise (BadInput $"--samples {n}: must be between 1 and the {available} samples of the chosen subjects")
        | Some n -> Holdout.sample n seed data selection

    let xs, ys = Dataset.pick selection.Indices data

    {
        Data = data
        Selection = selection
        Available = available
        DrawnWith = count |> Option.map (fun _ -> seed)
        Samples = xs
        Labels = ys
    }

/// "holdout", "all" or "given".
let choiceName (c: SubjectChoice) : string =
    match c with
    | HeldOutSubjects -> "holdout"
    | EverySubject _ -> "all"
    | ChosenSubjects -> "given"

/// The JSON keys of the choice: subjects (names as strings), subject_choice and its reason.
let json (f: FolderSamples) : (string * JsonNode) list = [
    "subjects", Json.arr (f.Selection.Subjects |> List.map Json.str)
    "subject_choice", Json.str (choiceName f.Selection.Choice)
    "subject_choice_reason",
    Json.str (
        match f.Selection.Choice with
        | HeldOutSubjects -> "the model's held-out subjects: the data is the data set it was trained on"
        | EverySubject why -> why
        | ChosenSubjects -> "named with --subjects"
    )
]

/// What `run` and `hil` report after their metrics: the folder's subject choice (json) and, with --float,
/// float_vs_integer.
let evaluatedJson
    (folder: FolderSamples option)
    (floatVsInteger: (string * FloatVsIntegerFigures) option)
    : (string * JsonNode) list =
    (folder |> Option.map json |> Option.defaultValue [])
    @ (floatVsInteger
       |> Option.map (fun (hash, f) -> [ "float_vs_integer", MetricsView.floatVsIntegerJson hash f ])
       |> Option.defaultValue [])

/// One line saying which subjects and samples were evaluated, and why.
let line (f: FolderSamples) : string =
    let names = String.Join(", ", f.Selection.Subjects)
    let n = f.Selection.Subjects.Length
    let plural = if n = 1 then "subject" else "subjects"

    let which =
        match f.Selection.Choice with
        | HeldOutSubjects -> $"the model's held-out {plural} {names} (the data is the data set it was trained on)"
        | EverySubject why -> $"all {n} {plural} ({why})"
        | ChosenSubjects -> $"{plural} {names} (--subjects)"

    let samples =
        match f.DrawnWith with
        | Some seed ->
            $"{f.Samples.Length} of their {f.Available} samples, drawn stratified by class and subject (seed {seed})"
        | None -> $"{f.Samples.Length} samples"

    $"evaluating on {which}: {samples}"

/// The float parent given with --float: its model and hash, checked against the integer model (input, classes,
/// and the `parent` hash the integer model records when it records one).
let parent (path: string) (integer: IntModel) : Model * string =
    let bytes =
        try
            IO.File.ReadAllBytes path
        with e ->
            raise (BadInput $"--float {path}: {e.Message}")

    match ModelFile.deserialize bytes with
    | Error e -> raise (BadInput $"--float {path}: {e}")
    | Ok(IntegerModel _) ->
        raise (BadInput $"--float {path}: an integer model; give the float model it was lowered from")
    | Ok(FloatModel m) ->
        let hash = ModelFile.hash bytes

        match FloatVsInteger.checkParent m hash integer with
        | Ok() -> m, hash
        | Error e -> raise (BadInput $"--float {path}: {e}")
