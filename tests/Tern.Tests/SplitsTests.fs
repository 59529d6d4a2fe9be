module Tern.Tests.SplitsTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// Labels and subject ids: 2..12 subjects, 1..5 classes, 1..20 samples per subject.
let private samples =
    gen {
        let! subjects = Gen.choose (2, 12)
        let! classes = Gen.choose (1, 5)
        let! sizes = Gen.arrayOfLength subjects (Gen.choose (1, 20))

        let! labels =
            sizes
            |> Array.map (fun n -> Gen.arrayOfLength n (Gen.choose (0, classes - 1)))
            |> Gen.sequenceToArray

        let groups =
            sizes |> Array.mapi (fun s n -> Array.create n (s * 3 + 1)) |> Array.concat

        return Array.concat labels, groups
    }
    |> Arb.fromGen

let private partitionsEverything (n: int) (folds: SplitFold list) =
    let tests = folds |> List.collect (fun f -> List.ofArray f.Test) |> List.sort

    tests = [ 0 .. n - 1 ]
    && folds |> List.forall (fun f -> Array.length f.Train + Array.length f.Test = n)

let private noSubjectOnBothSides (groups: int[]) (folds: SplitFold list) =
    folds
    |> List.forall (fun f ->
        let train = f.Train |> Array.map (fun i -> groups[i]) |> Set.ofArray
        let test = f.Test |> Array.map (fun i -> groups[i]) |> Set.ofArray
        Set.intersect train test |> Set.isEmpty)

let private ``grouped k-fold: every sample tested once, no subject on both sides`` () =
    Prop.forAll samples (fun (labels, groups) ->
        let subjects = groups |> Array.distinct |> Array.length
        let k = min 5 subjects

        match Splits.groupedStratifiedKFold k 1 labels groups with
        | Error e -> failwith e
        | Ok folds ->
            folds.Length = k
            && partitionsEverything labels.Length folds
            && noSubjectOnBothSides groups folds)

let private ``leave-one-subject-out: one fold per subject holding exactly that subject`` () =
    Prop.forAll samples (fun (labels, groups) ->
        match Splits.leaveOneGroupOut labels groups with
        | Error e -> failwith e
        | Ok folds ->
            folds.Length = (groups |> Array.distinct |> Array.length)
            && partitionsEverything labels.Length folds
            && folds
               |> List.forall (fun f -> f.Test |> Array.map (fun i -> groups[i]) |> Array.distinct |> Array.length = 1))

let private ``group holdout keeps subjects apart and loses no sample`` (seed: int) =
    Prop.forAll samples (fun (_, groups) ->
        let all = Array.init groups.Length id
        let train, valid = Splits.groupHoldout 0.2 seed all groups
        let trainGroups = train |> Array.map (fun i -> groups[i]) |> Set.ofArray
        let validGroups = valid |> Array.map (fun i -> groups[i]) |> Set.ofArray

        Set.intersect trainGroups validGroups |> Set.isEmpty
        && Array.sort (Array.append train valid) = all
        && not (Array.isEmpty train)
        && not (Array.isEmpty valid))

let private ``stratification balances classes when subjects allow it`` () =
    // 10 subjects, each with 10 samples of class 0 and 10 of class 1 except that subjects differ in balance.
    let labels = Array.init 200 (fun i -> if (i / 10) % 2 = 0 then 0 else 1)
    let groups = Array.init 200 (fun i -> i / 20)

    match Splits.groupedStratifiedKFold 5 3 labels groups with
    | Error e -> failtest e
    | Ok folds ->
        for f in folds do
            let ones = f.Test |> Array.filter (fun i -> labels[i] = 1) |> Array.length
            Expect.equal ones (f.Test.Length / 2) "half of each test fold is class 1"

let private ``fewer subjects than folds is an error`` () =
    match Splits.groupedStratifiedKFold 5 1 [| 0; 1; 0 |] [| 1; 2; 3 |] with
    | Ok _ -> failtest "expected an error"
    | Error e -> Expect.stringContains e "3 subjects" "the error names the subject count"

let private ``the same seed gives the same folds`` () =
    let labels = Array.init 120 (fun i -> i % 3)
    let groups = Array.init 120 (fun i -> i % 9)

    Expect.isTrue
        (Splits.groupedStratifiedKFold 4 7 labels groups = Splits.groupedStratifiedKFold 4 7 labels groups)
        "seed 7 twice"

let private ``a stratified subset has the asked size, keeps each class's share within one, and follows the seed`` () =
    Prop.forAll samples (fun (labels, _) ->
        Prop.forAll (Gen.choose (0, labels.Length + 3) |> Arb.fromGen) (fun count ->
            let pick = Splits.stratifiedSubset count 5 labels
            let n = labels.Length
            let size = min count n

            let sharesKept =
                labels
                |> Array.distinct
                |> Array.forall (fun c ->
                    let have = pick |> Array.filter (fun i -> labels[i] = c) |> Array.length
                    let all = labels |> Array.filter ((=) c) |> Array.length
                    let exact = float all * float size / float n
                    abs (float have - exact) < 1.0)

            (pick.Length = size
             && Array.sort pick = pick
             && Array.distinct pick = pick
             && sharesKept
             && Splits.stratifiedSubset count 5 labels = pick)
            |> Prop.classify (count < n) "a proper subset"))

let private ``a class-and-subject stratified subset gives classes, and subjects within a class, their shares`` () =
    Prop.forAll samples (fun (labels, groups) ->
        let n = labels.Length

        Prop.forAll (Arb.fromGen (Gen.choose (1, n))) (fun count ->
            let picked = Splits.stratifiedByClassAndGroup count 7 labels groups
            let countOf (f: int -> bool) (ix: int[]) = ix |> Array.filter f |> Array.length

            let within (k: int) (exact: float) =
                float k >= floor exact && float k <= ceil exact

            // Each class gets its exact share rounded down or up (largest remainders); within a class, each
            // subject its share of the class's places.
            let fair =
                labels
                |> Array.distinct
                |> Array.forall (fun c ->
                    let size = countOf (fun i -> labels[i] = c) [| 0 .. n - 1 |]
                    let got = countOf (fun i -> labels[i] = c) picked

                    within got (float size * float count / float n)
                    && groups
                       |> Array.distinct
                       |> Array.forall (fun g ->
                           let cell = countOf (fun i -> labels[i] = c && groups[i] = g) [| 0 .. n - 1 |]
                           let k = countOf (fun i -> labels[i] = c && groups[i] = g) picked
                           within k (float cell * float got / float size)))

            (picked.Length = count
             && Array.distinct picked = picked
             && Array.sort picked = picked
             && fair
             && Splits.stratifiedByClassAndGroup count 7 labels groups = picked)
            |> Prop.classify (count = n) "everything"
            |> Prop.classify (count < (Array.distinct (Array.zip labels groups)).Length) "fewer samples than cells"))

let private ``a class-and-subject stratified subset is not the first samples and depends on the seed`` () =
    // Two subjects of 50 samples each, classes cycling: the first 20 are subject 0 only.
    let labels = Array.init 100 (fun i -> i % 5)
    let groups = Array.init 100 (fun i -> i / 50)
    let a = Splits.stratifiedByClassAndGroup 20 1 labels groups
    let b = Splits.stratifiedByClassAndGroup 20 2 labels groups
    Expect.equal (a |> Array.filter (fun i -> groups[i] = 1) |> Array.length) 10 "half the draw from subject 1"
    Expect.all (a |> Array.countBy (fun i -> labels[i]) |> Array.map snd) ((=) 4) "4 samples of each class"
    Expect.notEqual a [| 0..19 |] "not the first 20 samples"
    Expect.notEqual b a "another seed, another draw"

let private ``a draw smaller than the cells spreads over subjects with the seed, not onto the first ones`` () =
    // 5 subjects x 5 classes, 4 samples each, subject-major order; 5 places: one per class.
    let labels = Array.init 100 (fun i -> i % 5)
    let groups = Array.init 100 (fun i -> i / 20)

    let subjects =
        [ 1..10 ]
        |> List.collect (fun seed ->
            let picked = Splits.stratifiedByClassAndGroup 5 seed labels groups

            Expect.equal
                (picked |> Array.map (fun i -> labels[i]) |> Array.sort)
                [| 0..4 |]
                $"seed {seed}: one sample per class"

            picked |> Array.map (fun i -> groups[i]) |> List.ofArray)
        |> List.distinct

    Expect.equal subjects.Length 5 "every subject drawn from over ten seeds"

[<Tests>]
let tests =
    testList "SplitsTests" [
        testProperty
            "grouped k-fold: every sample tested once, no subject on both sides"
            ``grouped k-fold: every sample tested once, no subject on both sides``
        testProperty
            "leave-one-subject-out: one fold per subject holding exactly that subject"
            ``leave-one-subject-out: one fold per subject holding exactly that subject``
        testProperty
            "group holdout keeps subjects apart and loses no sample"
            ``group holdout keeps subjects apart and loses no sample``
        testCase
            "stratification balances classes when subjects allow it"
            ``stratification balances classes when subjects allow it``
        testCase "fewer subjects than folds is an error" ``fewer subjects than folds is an error``
        testCase "the same seed gives the same folds" ``the same seed gives the same folds``
        testPropertyWithConfig
            (Properties.tests 100)
            "a stratified subset has the asked size, keeps each class's share within one, and follows the seed"
            ``a stratified subset has the asked size, keeps each class's share within one, and follows the seed``
        testPropertyWithConfig
            (Properties.tests 200)
            "a class-and-subject stratified subset gives classes, and subjects within a class, their shares"
            ``a class-and-subject stratified subset gives classes, and subjects within a class, their shares``
        testCase
            "a class-and-subject stratified subset is not the first samples and depends on the seed"
            ``a class-and-subject stratified subset is not the first samples and depends on the seed``
        testCase
            "a draw smaller than the cells spreads over subjects with the seed, not onto the first ones"
            ``a draw smaller than the cells spreads over subjects with the seed, not onto the first ones``
    ]
