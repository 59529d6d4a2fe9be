module Tern.Tests.ImportFolderTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

/// The raw (1 x 16 x 3) and spectrogram (16 x 16 x 3) forms of the same windows: subject s has `perClass + s / 2`
/// windows (pairs of subjects of one size, so that the seed breaks ties in the folds) of each of 3 classes; a class offsets its values by its index, a subject by its own random shift, and
/// noise blurs the classes, so that scores differ from fold to fold.
let pair (subjects: int) (perClass: int) (seed: int) : Dataset * Dataset =
    let classes = 3

    let cells = [|
        for s in 0 .. subjects - 1 do
            for l in 0 .. classes - 1 do
                for _ in 1 .. perClass + s / 2 -> s, l
    |]

    let rng = Random(seed)
    let shift = Array.init subjects (fun _ -> 0.3 * rng.NextDouble())

    let form (shape: Shape3) = {
        Shape = shape
        Classes = List.init classes (sprintf "c%d")
        Samples =
            cells
            |> Array.map (fun (s, l) ->
                Array.init shape.Size (fun _ -> float32 (0.2 * float l + shift[s] + 0.5 * rng.NextDouble())))
        Labels = cells |> Array.map snd
        Subjects = cells |> Array.map fst
        SubjectNames = []
        Source = "test"
        Augment = NoAugmentation
    }

    form (Shape3(1, 16, 3)), form (Shape3(16, 16, 3))

/// Writes the pair as an import's top folder (raw/ and spectrogram/) under a scratch folder; returns the top folder.
let saveImport (prefix: string) (raw: Dataset option) (spectrogram: Dataset option) : string =
    let top = Scratch.folder prefix
    raw |> Option.iter (Dataset.save (Path.Combine(top, "raw")))
    spectrogram |> Option.iter (Dataset.save (Path.Combine(top, "spectrogram")))
    top

let private formsOf dir =
    match ImportFolder.forms dir with
    | Ok f -> f
    | Error e -> failwith e

let private ``a data set folder is its one form, by its shape`` () =
    let raw, spectrogram = pair 2 2 1
    let top = saveImport "forms-one" (Some raw) (Some spectrogram)

    for form, name in [ DataForm.Raw, "raw"; DataForm.Spectrogram, "spectrogram" ] do
        let dir = Path.Combine(top, name)
        let forms = formsOf dir
        Expect.equal (forms |> List.map (fun f -> f.Form, f.Dir)) [ form, dir ] name
        Expect.equal (ImportFolder.forNetwork "default" forms).Dir dir "the only form"

let private ``a top folder lists both forms; the network takes spectrogram/ unless raw1d`` () =
    let raw, spectrogram = pair 2 2 1
    let top = saveImport "forms-top" (Some raw) (Some spectrogram)
    let forms = formsOf top
    Expect.equal (forms |> List.map (fun f -> f.Form)) [ DataForm.Raw; DataForm.Spectrogram ] "raw first"
    Expect.equal (ImportFolder.forNetwork "default" forms).Form DataForm.Spectrogram "default"
    Expect.equal (ImportFolder.forNetwork "plain" forms).Form DataForm.Spectrogram "plain"
    Expect.equal (ImportFolder.forNetwork "raw1d" forms).Form DataForm.Raw "raw1d"
    Expect.equal (ImportFolder.forNetwork "raw1d" forms).Data.Shape raw.Shape "raw1d's data"
    let rawOnly = formsOf (saveImport "forms-raw" (Some raw) None)
    Expect.equal (ImportFolder.forNetwork "default" rawOnly).Form DataForm.Raw "only raw"
    let specOnly = formsOf (saveImport "forms-spec" None (Some spectrogram))
    Expect.isNone (ImportFolder.tryFind DataForm.Raw specOnly) "no raw form"

let private ``missing folders and forms that differ are errors naming the folders`` () =
    let raw, spectrogram = pair 2 2 1
    let missing = Path.Combine(Scratch.folder "forms-missing", "nothing")

    match ImportFolder.forms missing with
    | Error e -> Expect.stringContains e missing "names the folder"
    | Ok _ -> failtest "a missing folder"

    let relabelled = {
        spectrogram with
            Labels = Array.copy spectrogram.Labels
    }

    relabelled.Labels[5] <- (relabelled.Labels[5] + 1) % 3
    let top = saveImport "forms-differ" (Some raw) (Some relabelled)

    match ImportFolder.forms top with
    | Error e ->
        Expect.stringContains e (Path.Combine(top, "raw")) "names raw/"
        Expect.stringContains e (Path.Combine(top, "spectrogram")) "names spectrogram/"
        Expect.stringContains e "sample 5" "names the sample"
    | Ok _ -> failtest "labels differ"

/// Folds group by subject id and reports name subjects: both must agree.
let private ``the same names under other ids, or other names under the same ids, are not the same windows`` () =
    let raw, spectrogram = pair 2 2 1

    let named form (d: Dataset) names ids = {
        Form = form
        Dir = string form
        Data = {
            d with
                SubjectNames = names
                Subjects = d.Subjects |> Array.map ids
        }
    }

    let a = named DataForm.Raw raw [ "A"; "B" ] id
    let same = named DataForm.Spectrogram spectrogram [ "A"; "B" ] id
    Expect.equal (ImportFolder.sameWindows a same) (Ok()) "the same names and ids"

    for b, what in
        [
            named DataForm.Spectrogram spectrogram [ "B"; "A" ] (fun s -> 1 - s), "subject ids"
            named DataForm.Spectrogram spectrogram [ "X"; "Y" ] id, "of subject A against X"
        ] do
        match ImportFolder.sameWindows a b with
        | Error e -> Expect.stringContains e what what
        | Ok() -> failtest $"{what}: refused"

/// Any one changed label or subject, or a dropped sample, is found; the unchanged pair is the same windows.
let private ``forms differ exactly when a label, a subject or the count differs`` () =
    let raw, spectrogram = pair 3 2 2
    let n = raw.Labels.Length

    let a = {
        Form = DataForm.Raw
        Dir = "a"
        Data = raw
    }

    let cases =
        Gen.zip (Gen.choose (0, n - 1)) (Gen.elements [ "label"; "subject"; "count"; "none" ])
        |> Arb.fromGen

    Prop.forAll cases (fun (i, change) ->
        let d =
            match change with
            | "label" ->
                let l = Array.copy spectrogram.Labels
                l[i] <- (l[i] + 1) % 3
                { spectrogram with Labels = l }
            | "subject" ->
                let s = Array.copy spectrogram.Subjects
                s[i] <- (s[i] + 1) % 3
                { spectrogram with Subjects = s }
            | "count" -> {
                spectrogram with
                    Labels = Array.removeAt i spectrogram.Labels
                    Subjects = Array.removeAt i spectrogram.Subjects
                    Samples = Array.removeAt i spectrogram.Samples
              }
            | _ -> spectrogram

        let b = {
            Form = DataForm.Spectrogram
            Dir = "b"
            Data = d
        }

        match ImportFolder.sameWindows a b, change with
        | Ok(), "none" -> true
        | Error e, ("label" | "subject") -> e.Contains $"sample {i}"
        | Error _, "count" -> true
        | _ -> false)

[<Tests>]
let tests =
    testList "ImportFolderTests" [
        testCase "a data set folder is its one form, by its shape" ``a data set folder is its one form, by its shape``
        testCase
            "a top folder lists both forms; the network takes spectrogram/ unless raw1d"
            ``a top folder lists both forms; the network takes spectrogram/ unless raw1d``
        testCase
            "missing folders and forms that differ are errors naming the folders"
            ``missing folders and forms that differ are errors naming the folders``
        testCase
            "the same names under other ids, or other names under the same ids, are not the same windows"
            ``the same names under other ids, or other names under the same ids, are not the same windows``
        testPropertyWithConfig
            (Properties.tests 100)
            "forms differ exactly when a label, a subject or the count differs"
            ``forms differ exactly when a label, a subject or the count differs``
    ]
