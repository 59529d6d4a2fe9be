namespace Tern.Core

open System.IO

/// The two forms of the same windows an import writes side by side.
[<RequireQualifiedAccess>]
type DataForm =
    /// 1 x W x C raw windows (time x axes), the import's raw/ folder.
    | Raw
    /// H x W x C spectrograms, the import's spectrogram/ folder.
    | Spectrogram

/// One form of a data set: which form, the folder it was read from and its samples.
type FormData = {
    Form: DataForm
    Dir: string
    Data: Dataset
}

/// Reading `--data DIR` where DIR is either a data set folder or an import's top folder (raw/ and spectrogram/
/// side by side, `tern data import`), and choosing the form a network or a baseline trains on.
[<RequireQualifiedAccess>]
module ImportFolder =

    /// The form's folder name in an import and its name in reports: "raw" or "spectrogram".
    let formName (form: DataForm) : string =
        match form with
        | DataForm.Raw -> "raw"
        | DataForm.Spectrogram -> "spectrogram"

    /// A data set's form by its shape: 1 x W x C is raw windows, anything taller a spectrogram (or an image).
    let formOf (data: Dataset) : DataForm =
        if data.Shape.H = 1 then
            DataForm.Raw
        else
            DataForm.Spectrogram

    let private isDataset (dir: string) =
        File.Exists(Path.Combine(dir, "dataset.json"))

    /// Two forms hold the same windows in the same order when their classes, labels and subjects agree; the folds
    /// of a study are then identical for both.
    let sameWindows (a: FormData) (b: FormData) : Result<unit, string> =
        let first (xs: 'a[]) (ys: 'a[]) =
            Array.zip xs ys |> Array.tryFindIndex (fun (x, y) -> x <> y)

        let differ what =
            Error $"{a.Dir} and {b.Dir}: {what}; not the same windows"

        if a.Data.Classes <> b.Data.Classes then
            let names (d: Dataset) = String.concat ", " d.Classes
            differ $"classes differ ({names a.Data} against {names b.Data})"
        elif a.Data.Labels.Length <> b.Data.Labels.Length then
            differ $"{a.Data.Labels.Length} samples against {b.Data.Labels.Length}"
        else
            let name d i = Dataset.subjectName d i

            match first a.Data.Labels b.Data.Labels with
            | Some i -> differ $"sample {i} is labelled {a.Data.Labels[i]} against {b.Data.Labels[i]}"
            | None ->
                let subjectsA = a.Data.Subjects |> Array.map (name a.Data)
                let subjectsB = b.Data.Subjects |> Array.map (name b.Data)

                match first subjectsA subjectsB with
                | Some i -> differ $"sample {i} is of subject {subjectsA[i]} against {subjectsB[i]}"
                | None ->
                    // Folds group by subject id: the same names must carry the same ids.
                    match first a.Data.Subjects b.Data.Subjects with
                    | Some i -> differ $"sample {i}: subject ids {a.Data.Subjects[i]} against {b.Data.Subjects[i]}"
                    | None -> Ok()

    /// The forms at DIR: the data set itself when DIR is one (its form by shape), else the raw/ and spectrogram/
    /// folders present beneath it (raw first), checked to hold the same windows. Errors name the folder.
    let forms (dir: string) : Result<FormData list, string> =
        let load form d =
            Dataset.load d
            |> Result.map (fun data -> {
                Form = defaultArg form (formOf data)
                Dir = d
                Data = data
            })

        if not (Directory.Exists dir) then
            Error $"{dir}: no such folder"
        elif isDataset dir then
            load None dir |> Result.map List.singleton
        else
            let present =
                [ DataForm.Raw; DataForm.Spectrogram ]
                |> List.map (fun f -> f, Path.Combine(dir, formName f))
                |> List.filter (snd >> isDataset)

            match present with
            // Neither: the data set reader says what is missing.
            | [] -> load None dir |> Result.map List.singleton
            | _ ->
                let loaded = present |> List.map (fun (f, d) -> load (Some f) d)

                match
                    loaded
                    |> List.tryPick (function
                        | Error e -> Some e
                        | Ok _ -> None)
                with
                | Some e -> Error e
                | None ->
                    let all =
                        loaded
                        |> List.choose (function
                            | Ok x -> Some x
                            | Error _ -> None)

                    match all with
                    | [ a; b ] -> sameWindows a b |> Result.map (fun () -> all)
                    | _ -> Ok all

    /// The given form, when present.
    let tryFind (form: DataForm) (forms: FormData list) : FormData option =
        forms |> List.tryFind (fun f -> f.Form = form)

    /// The form a network of the named architecture trains on: raw windows for raw1d (the 1-D CNN), else the
    /// spectrograms when present (what Tern trained on before it read top folders), else the only form.
    let forNetwork (arch: string) (forms: FormData list) : FormData =
        let preferred =
            if arch = "raw1d" then
                DataForm.Raw
            else
                DataForm.Spectrogram

        match tryFind preferred forms with
        | Some f -> f
        | None -> List.head forms
