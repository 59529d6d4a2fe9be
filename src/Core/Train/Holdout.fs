namespace Tern.Core

open System
open System.Collections.Generic
open System.Text.Json

/// The subjects a model never trained on, and the data set (by its fingerprint) they belong to.
type Holdout = {
    /// Dataset.fingerprint of the data set the model was trained on.
    Data: string
    /// The held-out subjects' names (Dataset.subjectName), in id order.
    Subjects: string list
}

/// Which subjects an evaluation was asked to cover.
type SubjectRequest =
    /// The model's held-out subjects when the data is the data set it was trained on, else all.
    | DefaultSubjects
    | AllSubjects
    | GivenSubjects of names: string list

/// How the evaluated subjects were chosen.
type SubjectChoice =
    /// The model's held-out subjects of the data set it was trained on.
    | HeldOutSubjects
    /// Every subject; the reason says why (asked for, no record in the model, another data set).
    | EverySubject of reason: string
    /// The subjects named on the command line.
    | ChosenSubjects

/// The samples an evaluation covers.
type SubjectSelection = {
    /// Sample indices into the data set, ascending.
    Indices: int[]
    /// Names of the subjects of those samples, in id order.
    Subjects: string list
    Choice: SubjectChoice
}

/// Held-out truth: what a model file records about the subjects it did not train on (metadata holdout.data,
/// holdout.subjects; docs/model-file.md) and which samples an evaluation therefore takes.
[<RequireQualifiedAccess>]
module Holdout =
    /// Metadata key of the training data's fingerprint.
    let dataKey = "holdout.data"
    /// Metadata key of the held-out subjects: a JSON array of their names as strings.
    let subjectsKey = "holdout.subjects"

    /// Subject ids present in the given samples, ascending.
    let private idsOf (data: Dataset) (indices: int[]) =
        indices |> Array.map (fun i -> data.Subjects[i]) |> Array.distinct |> Array.sort

    /// The holdout of a training run: the data set's fingerprint and the subjects of the held-out samples.
    let ofSamples (data: Dataset) (heldOut: int[]) : Holdout = {
        Data = Dataset.fingerprint data
        Subjects = idsOf data heldOut |> Array.map (Dataset.subjectName data) |> Array.toList
    }

    /// Metadata with the holdout's two keys set, or removed for None (other keys kept).
    let toMeta (h: Holdout option) (meta: Map<string, string>) : Map<string, string> =
        let cleared = meta |> Map.remove dataKey |> Map.remove subjectsKey

        match h with
        | None -> cleared
        | Some h ->
            cleared
            |> Map.add dataKey h.Data
            |> Map.add subjectsKey (JsonSerializer.Serialize(List.toArray h.Subjects))

    /// The holdout a model's metadata records: None without holdout.data; an error when the keys are malformed
    /// or only one of them is present.
    let ofMeta (meta: IReadOnlyDictionary<string, string>) : Result<Holdout option, string> =
        match meta.TryGetValue dataKey, meta.TryGetValue subjectsKey with
        | (false, _), (false, _) -> Ok None
        | (true, _), (false, _) -> Error $"metadata has {dataKey} but no {subjectsKey}"
        | (false, _), (true, _) -> Error $"metadata has {subjectsKey} but no {dataKey}"
        | (true, data), (true, text) ->
            try
                match JsonSerializer.Deserialize<string[]> text with
                | null -> Error $"{subjectsKey} is not a JSON array of names"
                | names when names |> Array.exists String.IsNullOrEmpty -> Error $"{subjectsKey} holds an empty name"
                | names ->
                    Ok(
                        Some {
                            Data = data
                            Subjects = List.ofArray names
                        }
                    )
            with :? JsonException ->
                Error $"{subjectsKey} is not a JSON array of names: {text}"

    /// The samples of the named subjects; an error names the first unknown subject.
    let private ofNames (data: Dataset) (names: string list) : Result<int[], string> =
        let known =
            idsOf data (Array.init data.Samples.Length id)
            |> Array.map (Dataset.subjectName data)

        match names |> List.tryFind (fun n -> not (Array.contains n known)) with
        | Some n ->
            let list = String.Join(", ", known)
            Error $"no subject '{n}' in the data (its subjects: {list})"
        | None ->
            let wanted = HashSet<string>(names)

            Ok(
                Array.init data.Samples.Length id
                |> Array.filter (fun i -> wanted.Contains(Dataset.subjectName data data.Subjects[i]))
            )

    /// The samples an evaluation of a model covers: by default the model's held-out subjects when the data's
    /// fingerprint is the one the model recorded, else every subject; or every subject, or the named ones.
    let select (holdout: Holdout option) (request: SubjectRequest) (data: Dataset) : Result<SubjectSelection, string> =
        let all = Array.init data.Samples.Length id

        let build (indices: int[]) (choice: SubjectChoice) = {
            Indices = indices
            Subjects = idsOf data indices |> Array.map (Dataset.subjectName data) |> Array.toList
            Choice = choice
        }

        match request with
        | AllSubjects -> Ok(build all (EverySubject "asked for all subjects"))
        | GivenSubjects [] -> Error "no subjects named"
        | GivenSubjects names ->
            ofNames data (List.distinct names)
            |> Result.map (fun ix -> build ix ChosenSubjects)
        | DefaultSubjects ->
            match holdout with
            | None -> Ok(build all (EverySubject "the model records no held-out subjects"))
            | Some h when h.Data <> Dataset.fingerprint data ->
                Ok(build all (EverySubject "the data is not the data set the model was trained on"))
            | Some h ->
                match ofNames data h.Subjects with
                | Ok ix when ix.Length > 0 -> Ok(build ix HeldOutSubjects)
                | Ok _ -> Error "the model's held-out subjects have no samples in the data"
                | Error e -> Error $"the model's held-out subjects: {e}"

    /// At most count of the selected samples, stratified by class and subject together and seeded
    /// (Splits.stratifiedByClassAndGroup), never simply the first ones; the subjects are those still present.
    let sample (count: int) (seed: int) (data: Dataset) (selection: SubjectSelection) : SubjectSelection =
        let ix = selection.Indices

        let picked =
            Splits.stratifiedByClassAndGroup
                count
                seed
                (ix |> Array.map (fun i -> data.Labels[i]))
                (ix |> Array.map (fun i -> data.Subjects[i]))
            |> Array.map (fun k -> ix[k])

        {
            selection with
                Indices = picked
                Subjects = idsOf data picked |> Array.map (Dataset.subjectName data) |> Array.toList
        }

    /// The holdout after training further a model that recorded `earlier`: the subjects neither training saw
    /// when both ran on the same data set; None (nothing can be vouched for) when the earlier model records no
    /// holdout, one on another data set, or when no subject is left.
    let narrow (earlier: Holdout option) (now: Holdout) : Holdout option =
        match earlier with
        | Some e when e.Data = now.Data ->
            match now.Subjects |> List.filter (fun s -> List.contains s e.Subjects) with
            | [] -> None
            | both -> Some { now with Subjects = both }
        | _ -> None
