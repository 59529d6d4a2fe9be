module Tern.Tests.MetricsTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// Class names, labels and predictions: 1..6 classes, 0..60 samples, predictions random, a copy of the labels,
/// or the labels with a few changed.
let private cases =
    gen {
        let! k = Gen.choose (1, 6)
        let! n = Gen.choose (0, 60)
        let! labels = Gen.arrayOfLength n (Gen.choose (0, k - 1))
        let! noise = Gen.arrayOfLength n (Gen.choose (0, k - 1))
        let! flips = Gen.arrayOfLength n (Gen.choose (0, 9))
        let! kind = Gen.elements [ "random"; "perfect"; "mostly right" ]

        let predicted =
            match kind with
            | "random" -> noise
            | "perfect" -> Array.copy labels
            | _ -> Array.init n (fun i -> if flips[i] = 0 then noise[i] else labels[i])

        return List.init k (fun c -> $"c{c}"), labels, predicted
    }
    |> Arb.fromGen

let private close (a: float) (b: float) = abs (a - b) < 1e-12

let private ``a perfect prediction has accuracy and macro-F1 1`` () =
    Prop.forAll cases (fun (classes, labels, _) ->
        let m = Metrics.compute classes labels labels

        ((labels.Length = 0 || (m.Accuracy = 1.0 && close m.MacroF1 1.0))
         && m.PerClass
            |> List.forall (fun c -> c.Support = 0 || (c.Precision = 1.0 && c.Recall = 1.0 && c.F1 = 1.0)))
        |> Prop.classify (labels.Length = 0) "empty")

let private ``confusion rows sum to the supports and columns to the predictions`` () =
    Prop.forAll cases (fun (classes, labels, predicted) ->
        let m = Metrics.compute classes labels predicted
        let k = classes.Length

        let count (xs: int[]) c =
            xs |> Array.filter ((=) c) |> Array.length

        m.Confusion.Length = k
        && List.init k id
           |> List.forall (fun c ->
               Array.sum m.Confusion[c] = count labels c
               && m.PerClass[c].Support = count labels c
               && Array.sumBy (fun (r: int[]) -> r[c]) m.Confusion = count predicted c)
        && m.Samples = labels.Length)

let private ``permuting the samples changes nothing`` () =
    Prop.forAll cases (fun (classes, labels, predicted) ->
        Prop.forAll (Arb.fromGen (Gen.shuffle [| 0 .. labels.Length - 1 |])) (fun order ->
            let permuted =
                Metrics.compute
                    classes
                    (order |> Array.map (fun i -> labels[i]))
                    (order |> Array.map (fun i -> predicted[i]))

            permuted = Metrics.compute classes labels predicted))

let private ``metrics agree with a direct computation from the definitions`` () =
    Prop.forAll cases (fun (classes, labels, predicted) ->
        let m = Metrics.compute classes labels predicted
        let n = labels.Length
        let pairs = Array.zip labels predicted
        let correct = pairs |> Array.filter (fun (t, p) -> t = p) |> Array.length
        let accuracy = if n = 0 then 0.0 else float correct / float n

        let direct =
            classes
            |> List.mapi (fun c name ->
                let tp = pairs |> Array.filter (fun (t, p) -> t = c && p = c) |> Array.length
                let fp = pairs |> Array.filter (fun (t, p) -> t <> c && p = c) |> Array.length
                let fn = pairs |> Array.filter (fun (t, p) -> t = c && p <> c) |> Array.length
                let precision = if tp + fp = 0 then 0.0 else float tp / float (tp + fp)
                let recall = if tp + fn = 0 then 0.0 else float tp / float (tp + fn)

                let f1 =
                    if precision + recall = 0.0 then
                        0.0
                    else
                        2.0 * precision * recall / (precision + recall)

                name, precision, recall, f1, tp + fn, tp + fp + fn > 0)

        let present = direct |> List.filter (fun (_, _, _, _, _, p) -> p)

        let macro =
            if present.IsEmpty then
                0.0
            else
                present |> List.averageBy (fun (_, _, _, f1, _, _) -> f1)

        let absent = direct |> List.exists (fun (_, _, _, _, s, p) -> not p)

        (close m.Accuracy accuracy
         && m.Correct = correct
         && close m.MacroF1 macro
         && List.forall2
             (fun (c: ClassFigures) (name, precision, recall, f1, support, _) ->
                 c.Class = name
                 && close c.Precision precision
                 && close c.Recall recall
                 && close c.F1 f1
                 && c.Support = support)
             m.PerClass
             direct)
        |> Prop.classify absent "a class absent from labels and predictions"
        |> Prop.classify (n = 0) "empty")

let private ``a worked example: two classes, one mistake`` () =
    let m = Metrics.compute [ "sit"; "walk" ] [| 0; 1; 1; 1 |] [| 0; 0; 1; 1 |]
    Expect.equal m.Accuracy 0.75 "accuracy"
    Expect.equal m.Confusion [| [| 1; 0 |]; [| 1; 2 |] |] "confusion matrix"
    // sit: precision 1/2, recall 1, F1 2/3; walk: precision 1, recall 2/3, F1 4/5.
    Expect.equal m.PerClass[0].Precision 0.5 "precision of sit"
    Expect.floatClose { absolute = 1e-12; relative = 0.0 } m.PerClass[1].Recall (2.0 / 3.0) "recall of walk"
    Expect.floatClose { absolute = 1e-12; relative = 0.0 } m.MacroF1 ((2.0 / 3.0 + 0.8) / 2.0) "macro-F1"

let private ``a class that occurs nowhere is left out of macro-F1 but listed`` () =
    let m = Metrics.compute [ "a"; "b"; "c" ] [| 0; 1 |] [| 0; 1 |]
    Expect.equal m.MacroF1 1.0 "macro-F1 over the classes present"

    Expect.equal
        m.PerClass[2]
        {
            Class = "c"
            Precision = 0.0
            Recall = 0.0
            F1 = 0.0
            Support = 0
        }
        "the absent class is listed with zeros"

let private ``labels and predictions must match in length and lie in range`` () =
    Expect.throwsT<ArgumentException>
        (fun () -> Metrics.compute [ "a"; "b" ] [| 0 |] [| 0; 1 |] |> ignore)
        "lengths differ"

    Expect.throwsT<ArgumentException>
        (fun () -> Metrics.compute [ "a"; "b" ] [| 2 |] [| 0 |] |> ignore)
        "a label past the classes"

    Expect.throwsT<ArgumentException>
        (fun () -> Metrics.compute [ "a"; "b" ] [| 0 |] [| -1 |] |> ignore)
        "a negative prediction"

[<Tests>]
let tests =
    testList "MetricsTests" [
        testPropertyWithConfig
            (Properties.tests 300)
            "a perfect prediction has accuracy and macro-F1 1"
            ``a perfect prediction has accuracy and macro-F1 1``
        testPropertyWithConfig
            (Properties.tests 300)
            "confusion rows sum to the supports and columns to the predictions"
            ``confusion rows sum to the supports and columns to the predictions``
        testPropertyWithConfig
            (Properties.tests 300)
            "permuting the samples changes nothing"
            ``permuting the samples changes nothing``
        testPropertyWithConfig
            (Properties.tests 300)
            "metrics agree with a direct computation from the definitions"
            ``metrics agree with a direct computation from the definitions``
        testCase "a worked example: two classes, one mistake" ``a worked example: two classes, one mistake``
        testCase
            "a class that occurs nowhere is left out of macro-F1 but listed"
            ``a class that occurs nowhere is left out of macro-F1 but listed``
        testCase
            "labels and predictions must match in length and lie in range"
            ``labels and predictions must match in length and lie in range``
    ]
