module Tern.Tests.AugmentTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core

/// A small HWC shape with a sample of distinct values and an offset, possibly negative or beyond W.
let private cases =
    gen {
        let! h = Gen.choose (1, 4)
        let! w = Gen.choose (1, 9)
        let! c = Gen.choose (1, 3)
        let! offset = Gen.choose (-20, 20)
        let shape = Shape3(h, w, c)
        return shape, Array.init shape.Size float32, offset
    }
    |> Arb.fromGen

let private ``time shift moves column (w + offset) mod W to column w, in every row and channel`` () =
    Prop.forAll cases (fun (shape, x, offset) ->
        let y = Augment.timeShift shape offset x

        for h in 0 .. shape.H - 1 do
            for w in 0 .. shape.W - 1 do
                for c in 0 .. shape.C - 1 do
                    let src = ((w + offset) % shape.W + shape.W) % shape.W

                    Expect.equal
                        y[(h * shape.W + w) * shape.C + c]
                        x[(h * shape.W + src) * shape.C + c]
                        $"row {h}, column {w}, channel {c}"
        |> ignore

        Prop.classify (offset % shape.W = 0) "identity" true)

let private ``two time shifts are one shift by their sum`` () =
    Prop.forAll cases (fun (shape, x, offset) ->
        let twice = Augment.timeShift shape 3 (Augment.timeShift shape offset x)
        box twice = box (Augment.timeShift shape (offset + 3) x))

let private ``no augmentation returns the sample itself and draws nothing`` () =
    let shape = Shape3(2, 5, 1)
    let x = Array.init shape.Size float32
    let a, b = Random 7, Random 7
    Expect.isTrue (obj.ReferenceEquals(Augment.apply NoAugmentation shape a x, x)) "the sample itself"
    Expect.equal (a.Next()) (b.Next()) "nothing drawn"

let private ``time shift is deterministic for a seed`` () =
    let shape = Shape3(3, 8, 2)
    let x = Array.init shape.Size float32

    let draw () =
        Augment.apply TimeShift shape (Random 11) x

    Expect.equal (draw ()) (draw ()) "two draws with seed 11"

let private ``time shift rejects a sample of the wrong size`` () =
    Expect.throwsT<ArgumentException>
        (fun () -> Augment.timeShift (Shape3(2, 2, 1)) 1 [| 1.0f |] |> ignore)
        "one value for a 2x2x1 shape"

let private ``augmentation names parse, unknown ones are refused`` () =
    Expect.equal (Augment.parse "time-shift") (Ok TimeShift) "time-shift"
    Expect.equal (Augment.parse "none") (Ok NoAugmentation) "none"
    Expect.isTrue (Result.isError (Augment.parse "mixup")) "an unknown augmentation"

[<Tests>]
let tests =
    testList "AugmentTests" [
        testProperty
            "time shift moves column (w + offset) mod W to column w, in every row and channel"
            ``time shift moves column (w + offset) mod W to column w, in every row and channel``
        testProperty "two time shifts are one shift by their sum" ``two time shifts are one shift by their sum``
        testCase
            "no augmentation returns the sample itself and draws nothing"
            ``no augmentation returns the sample itself and draws nothing``
        testCase "time shift is deterministic for a seed" ``time shift is deterministic for a seed``
        testCase "time shift rejects a sample of the wrong size" ``time shift rejects a sample of the wrong size``
        testCase
            "augmentation names parse, unknown ones are refused"
            ``augmentation names parse, unknown ones are refused``
    ]
