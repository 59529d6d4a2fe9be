module Tern.Tests.DatasetTests

open System
open System.IO
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
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

[<Property(MaxTest = 30)>]
let ``a saved data set loads back unchanged`` () =
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

[<Test>]
let ``a truncated samples file is rejected naming the file`` () =
    let dir = tempDir ()

    try
        Dataset.save dir small
        let f = Path.Combine(dir, "samples.f32")
        File.WriteAllBytes(f, (File.ReadAllBytes f)[..10])

        match Dataset.load dir with
        | Ok _ -> Assert.Fail "expected an error"
        | Error e -> Assert.That(e, Does.Contain("samples.f32").And.Contain("truncated"))
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``a label outside the classes is rejected naming the sample`` () =
    let dir = tempDir ()

    try
        Dataset.save dir small
        File.WriteAllBytes(Path.Combine(dir, "labels.u8"), [| 0uy; 7uy |])

        match Dataset.load dir with
        | Ok _ -> Assert.Fail "expected an error"
        | Error e -> Assert.That(e, Does.Contain("sample 1").And.Contain("label 7"))
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``a folder without dataset.json is not a data set`` () =
    let dir = tempDir ()
    Directory.CreateDirectory dir |> ignore

    try
        match Dataset.load dir with
        | Ok _ -> Assert.Fail "expected an error"
        | Error e -> Assert.That(e, Does.Contain "dataset.json")
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``non-finite values are refused on save`` () =
    let bad = {
        small with
            Samples = [| [| nanf; 0.0f; 0.0f; 0.0f |]; small.Samples[1] |]
    }

    Assert.Throws<ArgumentException>(fun () -> Dataset.save (tempDir ()) bad)
    |> ignore

[<Test>]
let ``the declared augmentation: absent reads as none, unknown is rejected naming dataset.json`` () =
    let dir = tempDir ()

    try
        Dataset.save dir { small with Augment = TimeShift }
        let meta = Path.Combine(dir, "dataset.json")
        let text = File.ReadAllText meta
        Assert.That(text, Does.Contain "\"time-shift\"")
        // A data set written before the field existed.
        let older = Text.Json.Nodes.JsonNode.Parse(text).AsObject()

        older.Remove "augment" |> ignore
        File.WriteAllText(meta, older.ToJsonString())

        match Dataset.load dir with
        | Ok d -> Assert.That(d.Augment, Is.EqualTo NoAugmentation)
        | Error e -> Assert.Fail e

        File.WriteAllText(meta, text.Replace("\"time-shift\"", "\"mixup\""))

        match Dataset.load dir with
        | Ok _ -> Assert.Fail "expected an error"
        | Error e -> Assert.That(e, Does.Contain("dataset.json").And.Contain("mixup"))
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``dataset.json of integer subjects is byte for byte what it was before subject names existed`` () =
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

        Assert.That(File.ReadAllText(Path.Combine(dir, "dataset.json")), Is.EqualTo before)

        Dataset.save dir {
            small with
                SubjectNames = [ "S03"; "S04"; "x"; "y"; "z" ]
        }

        let named = File.ReadAllText(Path.Combine(dir, "dataset.json"))
        Assert.That(named, Does.Contain "\"subject_names\": [")
        let d = (Dataset.load dir |> Result.defaultWith failwith)
        Assert.That(Dataset.subjectName d 3, Is.EqualTo "y")
        Assert.That(Dataset.subjectName small 3, Is.EqualTo "3")
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``a subject id past the name table, or a repeated name, is rejected naming the folder`` () =
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
        | Ok _ -> Assert.Fail "expected an error"
        | Error e -> Assert.That(e, Does.Contain(dir).And.Contain("distinct"))

        File.WriteAllText(meta, text.Replace("    \"e\"\n", "").Replace("\"d\",", "\"d\""))

        match Dataset.load dir with
        | Ok _ -> Assert.Fail "expected an error"
        | Error e -> Assert.That(e, Does.Contain("sample 1").And.Contain("subject id 4"))
    finally
        Directory.Delete(dir, true)

[<Property(MaxTest = 30)>]
let ``the fingerprint survives saving and loading and ignores the source text and augmentation`` () =
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

[<Property(MaxTest = 100)>]
let ``the fingerprint names subjects by name, not by id`` () =
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

[<Property(MaxTest = 100)>]
let ``the fingerprint changes with a sample value, a label, a subject, a class name or the shape`` () =
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
