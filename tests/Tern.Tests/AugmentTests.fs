module Tern.Tests.AugmentTests

open System
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
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

[<Property>]
let ``time shift moves column (w + offset) mod W to column w, in every row and channel`` () =
    Prop.forAll cases (fun (shape, x, offset) ->
        let y = Augment.timeShift shape offset x

        for h in 0 .. shape.H - 1 do
            for w in 0 .. shape.W - 1 do
                for c in 0 .. shape.C - 1 do
                    let src = ((w + offset) % shape.W + shape.W) % shape.W
                    Assert.That(y[(h * shape.W + w) * shape.C + c], Is.EqualTo x[(h * shape.W + src) * shape.C + c])
        |> ignore

        Prop.classify (offset % shape.W = 0) "identity" true)

[<Property>]
let ``two time shifts are one shift by their sum`` () =
    Prop.forAll cases (fun (shape, x, offset) ->
        let twice = Augment.timeShift shape 3 (Augment.timeShift shape offset x)
        box twice = box (Augment.timeShift shape (offset + 3) x))

[<Test>]
let ``no augmentation returns the sample itself and draws nothing`` () =
    let shape = Shape3(2, 5, 1)
    let x = Array.init shape.Size float32
    let a, b = Random 7, Random 7
    Assert.That(obj.ReferenceEquals(Augment.apply NoAugmentation shape a x, x), Is.True)
    Assert.That(a.Next(), Is.EqualTo(b.Next()))

[<Test>]
let ``time shift is deterministic for a seed`` () =
    let shape = Shape3(3, 8, 2)
    let x = Array.init shape.Size float32

    let draw () =
        Augment.apply TimeShift shape (Random 11) x

    Assert.That(box (draw ()), Is.EqualTo(box (draw ())))

[<Test>]
let ``time shift rejects a sample of the wrong size`` () =
    Assert.Throws<ArgumentException>(fun () -> Augment.timeShift (Shape3(2, 2, 1)) 1 [| 1.0f |] |> ignore)
    |> ignore

[<Test>]
let ``augmentation names parse, unknown ones are refused`` () =
    Assert.That(Augment.parse "time-shift", Is.EqualTo(Ok TimeShift: Result<Augmentation, string>))
    Assert.That(Augment.parse "none", Is.EqualTo(Ok NoAugmentation: Result<Augmentation, string>))
    Assert.That(Result.isError (Augment.parse "mixup"), Is.True)
