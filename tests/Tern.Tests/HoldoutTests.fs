module Tern.Tests.HoldoutTests

open System.Collections.Generic
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
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

[<Property(MaxTest = 200)>]
let ``a holdout written to metadata reads back unchanged, other keys kept`` () =
    Prop.forAll (Arb.fromGen (Gen.nonEmptyListOf names)) (fun subjects ->
        let h = {
            Data = String.replicate 64 "a"
            Subjects = subjects
        }

        let m = Holdout.toMeta (Some h) (Map.ofList [ "source.file", "x.onnx" ])

        Holdout.ofMeta m = Ok(Some h)
        && m["source.file"] = "x.onnx"
        && Holdout.toMeta None m = Map.ofList [ "source.file", "x.onnx" ])

[<Test>]
let ``malformed or half holdout metadata is an error, none is None`` () =
    Assert.That(Holdout.ofMeta (meta []), eq (Ok None: Result<Holdout option, string>))
    Assert.That(err (Holdout.ofMeta (meta [ Holdout.dataKey, "ab" ])), Does.Contain Holdout.subjectsKey)
    Assert.That(err (Holdout.ofMeta (meta [ Holdout.subjectsKey, "[]" ])), Does.Contain Holdout.dataKey)

    Assert.That(
        err (Holdout.ofMeta (meta [ Holdout.dataKey, "ab"; Holdout.subjectsKey, "3,7" ])),
        Does.Contain "not a JSON array"
    )

    Assert.That(
        err (Holdout.ofMeta (meta [ Holdout.dataKey, "ab"; Holdout.subjectsKey, "[\"\"]" ])),
        Does.Contain "empty name"
    )

[<Test>]
let ``a training's holdout is the fingerprint and the held-out samples' subjects in id order`` () =
    let d = data 5 2

    let heldOut =
        Array.init d.Samples.Length id
        |> Array.filter (fun i -> d.Subjects[i] = 3 || d.Subjects[i] = 1)

    let h = Holdout.ofSamples d (Array.rev heldOut)
    Assert.That(h.Data, eq (Dataset.fingerprint d))
    Assert.That(h.Subjects, eq [ "S1"; "S3" ])

[<Property(MaxTest = 100)>]
let ``by default the held-out subjects of the same data, every subject of other data`` () =
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

[<Test>]
let ``all or named subjects override the holdout; unknown names are refused`` () =
    let d = data 4 1
    let h = Holdout.ofSamples d [| 0 |]
    let all = ok (Holdout.select (Some h) AllSubjects d)
    Assert.That(all.Indices.Length, Is.EqualTo d.Samples.Length)
    Assert.That(all.Subjects, eq [ "S0"; "S1"; "S2"; "S3" ])
    let named = ok (Holdout.select (Some h) (GivenSubjects [ "S2"; "S1"; "S2" ]) d)
    Assert.That(named.Choice, eq ChosenSubjects)
    Assert.That(named.Indices, eq [| 3; 4; 5; 6; 7; 8 |])
    Assert.That(named.Subjects, eq [ "S1"; "S2" ])
    let e = err (Holdout.select (Some h) (GivenSubjects [ "S1"; "S9" ]) d)
    Assert.That(e, Does.Contain "'S9'")
    Assert.That(e, Does.Contain "S0, S1, S2, S3")
    Assert.That(err (Holdout.select None (GivenSubjects []) d), Does.Contain "no subjects")

[<Test>]
let ``a drawn sample is stratified by class and subject, seeded, and lists the subjects left`` () =
    let d = data 4 10
    let all = ok (Holdout.select None AllSubjects d)
    let s = Holdout.sample 24 5 d all
    Assert.That(s.Indices.Length, Is.EqualTo 24)
    // 4 subjects x 3 classes, 2 each.
    Assert.That(
        s.Indices
        |> Array.countBy (fun i -> d.Subjects[i], d.Labels[i])
        |> Array.map snd,
        Is.All.EqualTo 2
    )

    Assert.That(s.Subjects, eq all.Subjects)
    Assert.That(Holdout.sample 24 5 d all, eq s)
    Assert.That((Holdout.sample 24 6 d all).Indices, Is.Not.EqualTo<int[]>(s.Indices))
    let one = Holdout.sample 1 5 d all
    Assert.That(one.Subjects.Length, Is.EqualTo 1)

[<Test>]
let ``training further narrows the holdout to subjects neither run saw`` () =
    let h s = { Data = "f"; Subjects = s }
    Assert.That(Holdout.narrow (Some(h [ "1"; "2" ])) (h [ "2"; "3" ]), eq (Some(h [ "2" ])))
    Assert.That(Holdout.narrow (Some(h [ "1" ])) (h [ "2" ]), eq None)
    Assert.That(Holdout.narrow None (h [ "2" ]), eq None)
    Assert.That(Holdout.narrow (Some { Data = "g"; Subjects = [ "2" ] }) (h [ "2" ]), eq None)
