module Tern.Tests.HoldoutTests

open System.Collections.Generic
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime
open Tern.Tests.Assertions

/// A small data set: `subjects` subjects named S0.., 3 classes, `per` samples per subject and class, each sample
/// a single value that identifies it.
let private data (subjects: int) (per: int) : Dataset =
    let cells = [|
        for s in 0 .. subjects - 1 do
            for c in 0..2 do
                for _ in 1..per -> s, c
    |]

    {
        Shape = Shape3(1, 1, 1)
        Classes = [ "a"; "b"; "c" ]
        Samples = cells |> Array.mapi (fun i _ -> [| float32 i |])
        Labels = cells |> Array.map snd
        Subjects = cells |> Array.map fst
        SubjectNames = List.init subjects (fun s -> $"S{s}")
        Source = ""
        Augment = NoAugmentation
    }

let private meta (pairs: (string * string) list) : IReadOnlyDictionary<string, string> =
    Map.ofList pairs :> IReadOnlyDictionary<_, _>

let private names =
    Gen.elements [ "3"; "S01"; "a,b"; "quote\"d"; "é"; "[x]"; " s " ]

let private ``a holdout written to metadata reads back unchanged, other keys kept`` () =
    Prop.forAll (Arb.fromGen (Gen.nonEmptyListOf names)) (fun subjects ->
        let h = {
            Data = String.replicate 64 "a"
            Subjects = subjects
        }

        let m = Holdout.toMeta (Some h) (Map.ofList [ "source.file", "x.onnx" ])

        Holdout.ofMeta m = Ok(Some h)
        && m["source.file"] = "x.onnx"
        && Holdout.toMeta None m = Map.ofList [ "source.file", "x.onnx" ])

let private ``malformed or half holdout metadata is an error, none is None`` () =
    Expect.equal (Holdout.ofMeta (meta [])) (Ok None) "no holdout metadata"

    Expect.stringContains
        (err (Holdout.ofMeta (meta [ Holdout.dataKey, "ab" ])))
        Holdout.subjectsKey
        "data without subjects"

    Expect.stringContains
        (err (Holdout.ofMeta (meta [ Holdout.subjectsKey, "[]" ])))
        Holdout.dataKey
        "subjects without data"

    Expect.stringContains
        (err (Holdout.ofMeta (meta [ Holdout.dataKey, "ab"; Holdout.subjectsKey, "3,7" ])))
        "not a JSON array"
        "subjects not in JSON"

    Expect.stringContains
        (err (Holdout.ofMeta (meta [ Holdout.dataKey, "ab"; Holdout.subjectsKey, "[\"\"]" ])))
        "empty name"
        "an empty subject name"

let private ``a training's holdout is the fingerprint and the held-out samples' subjects in id order`` () =
    let d = data 5 2

    let heldOut =
        Array.init d.Samples.Length id
        |> Array.filter (fun i -> d.Subjects[i] = 3 || d.Subjects[i] = 1)

    let h = Holdout.ofSamples d (Array.rev heldOut)
    Expect.equal h.Data (Dataset.fingerprint d) "the data's fingerprint"
    Expect.equal h.Subjects [ "S1"; "S3" ] "held-out subjects in id order"

let private ``by default the held-out subjects of the same data, every subject of other data`` () =
    Prop.forAll (Arb.fromGen (Gen.choose (2, 6))) (fun subjects ->
        Prop.forAll
            (Arb.fromGen (Gen.subListOf [ 0 .. subjects - 1 ] |> Gen.filter (fun l -> not l.IsEmpty)))
            (fun held ->
                let d = data subjects 2
                let ix = Array.init d.Samples.Length id

                let h =
                    Holdout.ofSamples d (ix |> Array.filter (fun i -> List.contains d.Subjects[i] held))

                let same = ok (Holdout.select (Some h) DefaultSubjects d)

                // Another data set: one sample value differs.
                let other = {
                    d with
                        Samples = d.Samples |> Array.mapi (fun i s -> if i = 0 then [| -1.0f |] else s)
                }

                let elsewhere = ok (Holdout.select (Some h) DefaultSubjects other)
                let unrecorded = ok (Holdout.select None DefaultSubjects d)

                same.Choice = HeldOutSubjects
                && same.Indices = (ix |> Array.filter (fun i -> List.contains d.Subjects[i] held))
                && same.Subjects = (held |> List.sort |> List.map (fun s -> $"S{s}"))
                && elsewhere.Indices = ix
                && elsewhere.Choice.IsEverySubject
                && unrecorded.Indices = ix
                && unrecorded.Choice.IsEverySubject))

let private ``all or named subjects override the holdout; unknown names are refused`` () =
    let d = data 4 1
    let h = Holdout.ofSamples d [| 0 |]
    let all = ok (Holdout.select (Some h) AllSubjects d)
    Expect.equal all.Indices.Length d.Samples.Length "all subjects: every sample"
    Expect.equal all.Subjects [ "S0"; "S1"; "S2"; "S3" ] "all subjects"
    let named = ok (Holdout.select (Some h) (GivenSubjects [ "S2"; "S1"; "S2" ]) d)
    Expect.equal named.Choice ChosenSubjects "named subjects are a choice"
    Expect.equal named.Indices [| 3; 4; 5; 6; 7; 8 |] "the named subjects' samples"
    Expect.equal named.Subjects [ "S1"; "S2" ] "the named subjects, once each, in order"
    let e = err (Holdout.select (Some h) (GivenSubjects [ "S1"; "S9" ]) d)
    Expect.stringContains e "'S9'" "the error names the unknown subject"
    Expect.stringContains e "S0, S1, S2, S3" "the error lists the known subjects"
    Expect.stringContains (err (Holdout.select None (GivenSubjects []) d)) "no subjects" "an empty subject list"

let private ``a drawn sample is stratified by class and subject, seeded, and lists the subjects left`` () =
    let d = data 4 10
    let all = ok (Holdout.select None AllSubjects d)
    let s = Holdout.sample 24 5 d all
    Expect.equal s.Indices.Length 24 "the asked size"
    // 4 subjects x 3 classes, 2 each.
    Expect.all
        (s.Indices
         |> Array.countBy (fun i -> d.Subjects[i], d.Labels[i])
         |> Array.map snd)
        ((=) 2)
        "2 samples per subject and class"

    Expect.equal s.Subjects all.Subjects "every subject left"
    Expect.equal (Holdout.sample 24 5 d all) s "the same seed, the same sample"
    Expect.notEqual (Holdout.sample 24 6 d all).Indices s.Indices "another seed, another sample"
    let one = Holdout.sample 1 5 d all
    Expect.equal one.Subjects.Length 1 "one sample, one subject"

let private ``training further narrows the holdout to subjects neither run saw`` () =
    let h s = { Data = "f"; Subjects = s }
    Expect.equal (Holdout.narrow (Some(h [ "1"; "2" ])) (h [ "2"; "3" ])) (Some(h [ "2" ])) "the subjects both held out"
    Expect.equal (Holdout.narrow (Some(h [ "1" ])) (h [ "2" ])) None "no subject in common"
    Expect.equal (Holdout.narrow None (h [ "2" ])) None "no earlier holdout"
    Expect.equal (Holdout.narrow (Some { Data = "g"; Subjects = [ "2" ] }) (h [ "2" ])) None "another data set"

[<Tests>]
let tests =
    testList "HoldoutTests" [
        testPropertyWithConfig
            (Properties.tests 200)
            "a holdout written to metadata reads back unchanged, other keys kept"
            ``a holdout written to metadata reads back unchanged, other keys kept``
        testCase
            "malformed or half holdout metadata is an error, none is None"
            ``malformed or half holdout metadata is an error, none is None``
        testCase
            "a training's holdout is the fingerprint and the held-out samples' subjects in id order"
            ``a training's holdout is the fingerprint and the held-out samples' subjects in id order``
        testPropertyWithConfig
            (Properties.tests 100)
            "by default the held-out subjects of the same data, every subject of other data"
            ``by default the held-out subjects of the same data, every subject of other data``
        testCase
            "all or named subjects override the holdout; unknown names are refused"
            ``all or named subjects override the holdout; unknown names are refused``
        testCase
            "a drawn sample is stratified by class and subject, seeded, and lists the subjects left"
            ``a drawn sample is stratified by class and subject, seeded, and lists the subjects left``
        testCase
            "training further narrows the holdout to subjects neither run saw"
            ``training further narrows the holdout to subjects neither run saw``
    ]
