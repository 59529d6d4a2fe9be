module Tern.Tests.DatasetTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

let private tempDir () =
    Path.Combine(Path.GetTempPath(), "tern-ds-" + Guid.NewGuid().ToString("N"))

let private datasets =
    gen {
        let! h = Gen.choose (1, 5)
        let! w = Gen.choose (1, 5)
        let! c = Gen.choose (1, 3)
        let! n = Gen.choose (0, 6)
        let! k = Gen.choose (1, 4)
        let shape = Shape3(h, w, c)
        let value = Gen.choose (-10000, 10000) |> Gen.map (fun i -> float32 i / 1000.0f)
        let! samples = Gen.arrayOfLength n (Gen.arrayOfLength shape.Size value)
        let! labels = Gen.arrayOfLength n (Gen.choose (0, k - 1))
        // Half of the data sets name their subjects (ids index the names), half use plain ids.
        let! named = Gen.elements [ false; true ]
        let! m = Gen.choose (1, 4)

        let! subjects =
            Gen.arrayOfLength n (Gen.choose (0, (if named then m - 1 else 65535)))

        let! augment = Gen.elements [ NoAugmentation; TimeShift ]

        return {
            Shape = shape
            Classes = List.init k (fun i -> $"class{i}")
            Samples = samples
            Labels = labels
            Subjects = subjects
            SubjectNames = if named then List.init m (fun i -> $"S{i:D2} é") else []
            Source = "test"
            Augment = augment
        }
    }
    |> Arb.fromGen

/// Saves the data set to a fresh folder, loads it back and checks the copy (given the folder too); the folder is
/// removed afterwards.
let private savedAndLoaded (d: Dataset) (check: string -> Dataset -> bool) : bool =
    let dir = tempDir ()

    try
        Dataset.save dir d

        match Dataset.load dir with
        | Error e -> failwith e
        | Ok back -> check dir back
    finally
        if Directory.Exists dir then
            Directory.Delete(dir, true)

let private ``a saved data set loads back unchanged`` () =
    Prop.forAll datasets (fun d ->
        savedAndLoaded d (fun dir back ->
            back.Shape = d.Shape
            && back.Classes = d.Classes
            && back.Samples = d.Samples
            && back.Labels = d.Labels
            && back.Subjects = d.Subjects
            && back.SubjectNames = d.SubjectNames
            && back.Source = d.Source
            && back.Augment = d.Augment
            && Directory.GetFiles(dir, "*.tmp-*").Length = 0))

let private small = {
    Shape = Shape3(2, 2, 1)
    Classes = [ "a"; "b" ]
    Samples = [| [| 1.0f; 2.0f; 3.0f; 4.0f |]; [| 0.0f; 0.0f; 0.0f; 1.0f |] |]
    Labels = [| 0; 1 |]
    Subjects = [| 3; 4 |]
    SubjectNames = []
    Source = "test"
    Augment = NoAugmentation
}

let private ``a truncated samples file is rejected naming the file`` () =
    let dir = tempDir ()

    try
        Dataset.save dir small
        let f = Path.Combine(dir, "samples.f32")
        File.WriteAllBytes(f, (File.ReadAllBytes f)[..10])

        match Dataset.load dir with
        | Ok _ -> failtest "expected an error"
        | Error e ->
            Expect.stringContains e "samples.f32" "the error names the file"
            Expect.stringContains e "truncated" "the error says truncated"
    finally
        Directory.Delete(dir, true)

let private ``a label outside the classes is rejected naming the sample`` () =
    let dir = tempDir ()

    try
        Dataset.save dir small
        File.WriteAllBytes(Path.Combine(dir, "labels.u8"), [| 0uy; 7uy |])

        match Dataset.load dir with
        | Ok _ -> failtest "expected an error"
        | Error e ->
            Expect.stringContains e "sample 1" "the error names the sample"
            Expect.stringContains e "label 7" "the error names the label"
    finally
        Directory.Delete(dir, true)

let private ``a folder without dataset.json is not a data set`` () =
    let dir = tempDir ()
    Directory.CreateDirectory dir |> ignore

    try
        match Dataset.load dir with
        | Ok _ -> failtest "expected an error"
        | Error e -> Expect.stringContains e "dataset.json" "the error names dataset.json"
    finally
        Directory.Delete(dir, true)

let private ``non-finite values are refused on save`` () =
    let bad = {
        small with
            Samples = [| [| nanf; 0.0f; 0.0f; 0.0f |]; small.Samples[1] |]
    }

    Expect.throwsT<ArgumentException> (fun () -> Dataset.save (tempDir ()) bad) "saving a NaN throws ArgumentException"

let private ``the declared augmentation: absent reads as none, unknown is rejected naming dataset.json`` () =
    let dir = tempDir ()

    try
        Dataset.save dir { small with Augment = TimeShift }
        let meta = Path.Combine(dir, "dataset.json")
        let text = File.ReadAllText meta
        Expect.stringContains text "\"time-shift\"" "dataset.json declares the augmentation"
        // A data set written before the field existed.
        let older = Text.Json.Nodes.JsonNode.Parse(text).AsObject()

        older.Remove "augment" |> ignore
        File.WriteAllText(meta, older.ToJsonString())

        match Dataset.load dir with
        | Ok d -> Expect.equal d.Augment NoAugmentation "an absent augmentation reads as none"
        | Error e -> failtest e

        File.WriteAllText(meta, text.Replace("\"time-shift\"", "\"mixup\""))

        match Dataset.load dir with
        | Ok _ -> failtest "expected an error"
        | Error e ->
            Expect.stringContains e "dataset.json" "the error names dataset.json"
            Expect.stringContains e "mixup" "the error names the unknown augmentation"
    finally
        Directory.Delete(dir, true)

let private ``dataset.json of integer subjects is byte for byte what it was before subject names existed`` () =
    let dir = tempDir ()

    try
        Dataset.save dir small
        // Written by the build before subject names (fields in the order the serializer gives them).
        let before =
            String.Join(
                "\n",
                [
                    "{"
                    "  \"augment\": \"none\","
                    "  \"classes\": ["
                    "    \"a\","
                    "    \"b\""
                    "  ],"
                    "  \"count\": 2,"
                    "  \"format\": \"tern-dataset\","
                    "  \"shape\": ["
                    "    2,"
                    "    2,"
                    "    1"
                    "  ],"
                    "  \"source\": \"test\","
                    "  \"version\": 1"
                    "}"
                ]
            )

        Expect.equal
            (File.ReadAllText(Path.Combine(dir, "dataset.json")))
            before
            "dataset.json as written before subject names"

        Dataset.save dir {
            small with
                SubjectNames = [ "S03"; "S04"; "x"; "y"; "z" ]
        }

        let named = File.ReadAllText(Path.Combine(dir, "dataset.json"))
        Expect.stringContains named "\"subject_names\": [" "dataset.json lists the subject names"
        let d = (Dataset.load dir |> Result.defaultWith failwith)
        Expect.equal (Dataset.subjectName d 3) "y" "subject 3 by name"
        Expect.equal (Dataset.subjectName small 3) "3" "subject 3 without names"
    finally
        Directory.Delete(dir, true)

let private ``a subject id past the name table, or a repeated name, is rejected naming the folder`` () =
    let dir = tempDir ()

    try
        Dataset.save dir {
            small with
                SubjectNames = [ "a"; "b"; "c"; "d"; "e" ]
        }

        let meta = Path.Combine(dir, "dataset.json")
        let text = File.ReadAllText meta
        File.WriteAllText(meta, text.Replace("\"e\"\n", "\"d\"\n"))

        match Dataset.load dir with
        | Ok _ -> failtest "expected an error"
        | Error e ->
            Expect.stringContains e dir "the error names the folder"
            Expect.stringContains e "distinct" "the error says names must be distinct"

        File.WriteAllText(meta, text.Replace("    \"e\"\n", "").Replace("\"d\",", "\"d\""))

        match Dataset.load dir with
        | Ok _ -> failtest "expected an error"
        | Error e ->
            Expect.stringContains e "sample 1" "the error names the sample"
            Expect.stringContains e "subject id 4" "the error names the subject id"
    finally
        Directory.Delete(dir, true)

let private ``the fingerprint survives saving and loading and ignores the source text and augmentation`` () =
    Prop.forAll datasets (fun d ->
        savedAndLoaded d (fun _ back ->
            let fp = Dataset.fingerprint d

            fp = Dataset.fingerprint back
            && fp =
                Dataset.fingerprint {
                    d with
                        Source = "elsewhere"
                        Augment = TimeShift
                }
            && fp.Length = 64))

let private ``the fingerprint names subjects by name, not by id`` () =
    Prop.forAll datasets (fun d ->
        // The same subjects, numbered the other way round.
        let names =
            d.Subjects
            |> Array.distinct
            |> Array.sort
            |> Array.map (Dataset.subjectName d)
            |> Array.rev

        let renumbered = {
            d with
                SubjectNames = List.ofArray names
                Subjects = d.Subjects |> Array.map (fun s -> Array.IndexOf(names, Dataset.subjectName d s))
        }

        Dataset.fingerprint renumbered = Dataset.fingerprint d)

let private ``the fingerprint changes with a sample value, a label, a subject, a class name or the shape`` () =
    Prop.forAll datasets (fun d ->
        let fp = Dataset.fingerprint d
        let n = d.Samples.Length

        let changed = [
            if n > 0 then
                let samples = d.Samples |> Array.map Array.copy
                samples[n - 1][0] <- samples[n - 1][0] + 1.0f
                { d with Samples = samples }

                {
                    d with
                        Labels = d.Labels |> Array.mapi (fun i l -> if i = 0 then (l + 1) % 7 + 7 else l)
                }

                {
                    d with
                        SubjectNames = []
                        Subjects = d.Subjects |> Array.mapi (fun i s -> if i = 0 then 70000 else s)
                }
            {
                d with
                    Classes = d.Classes @ [ "extra" ]
            }
            {
                d with
                    Classes = (List.head d.Classes + "x") :: List.tail d.Classes
            }
            // The same values read as another shape: H and W swapped (the same data set when H = W).
            {
                d with
                    Shape = Shape3(d.Shape.W, d.Shape.H, d.Shape.C)
            }
        ]

        // Fingerprints do not validate: out-of-range labels and ids still hash, and differ.
        changed
        |> List.filter (fun x -> x <> d)
        |> List.forall (fun x -> Dataset.fingerprint x <> fp))

[<Tests>]
let tests =
    testList "DatasetTests" [
        testPropertyWithConfig
            (Properties.tests 30)
            "a saved data set loads back unchanged"
            ``a saved data set loads back unchanged``
        testCase
            "a truncated samples file is rejected naming the file"
            ``a truncated samples file is rejected naming the file``
        testCase
            "a label outside the classes is rejected naming the sample"
            ``a label outside the classes is rejected naming the sample``
        testCase "a folder without dataset.json is not a data set" ``a folder without dataset.json is not a data set``
        testCase "non-finite values are refused on save" ``non-finite values are refused on save``
        testCase
            "the declared augmentation: absent reads as none, unknown is rejected naming dataset.json"
            ``the declared augmentation: absent reads as none, unknown is rejected naming dataset.json``
        testCase
            "dataset.json of integer subjects is byte for byte what it was before subject names existed"
            ``dataset.json of integer subjects is byte for byte what it was before subject names existed``
        testCase
            "a subject id past the name table, or a repeated name, is rejected naming the folder"
            ``a subject id past the name table, or a repeated name, is rejected naming the folder``
        testPropertyWithConfig
            (Properties.tests 30)
            "the fingerprint survives saving and loading and ignores the source text and augmentation"
            ``the fingerprint survives saving and loading and ignores the source text and augmentation``
        testPropertyWithConfig
            (Properties.tests 100)
            "the fingerprint names subjects by name, not by id"
            ``the fingerprint names subjects by name, not by id``
        testPropertyWithConfig
            (Properties.tests 100)
            "the fingerprint changes with a sample value, a label, a subject, a class name or the shape"
            ``the fingerprint changes with a sample value, a label, a subject, a class name or the shape``
    ]
