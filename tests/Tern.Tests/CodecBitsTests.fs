module Tern.Tests.CodecBitsTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// Generators for this file only.
module private G =

    /// (value, width) fields with width 0..24 and the value fitting its width.
    let field: Gen<int * int> =
        gen {
            let! width = Gen.choose (0, 24)
            let! v = Gen.choose (0, (1 <<< width) - 1)
            return v, width
        }

    let fields: Gen<(int * int)[]> =
        Gen.sized (fun n -> Gen.choose (0, n + 1) |> Gen.bind (fun k -> Gen.arrayOfLength k field))

[<Tests>]
let tests =
    testList "CodecBitsTests" [
        testProperty "bits read back as written, MSB first, with BitCount the sum of the widths"
        <| fun () ->
            Prop.forAll (Arb.fromGen G.fields) (fun fields ->
                let w = BitWriter()

                for v, width in fields do
                    w.Write(uint32 v, width)

                let total = fields |> Array.sumBy snd
                let countOk = w.BitCount = total
                let pad = w.Align()
                let bytes = w.ToArray()
                let r = BitReader(bytes, 0, total)
                let back = fields |> Array.map (fun (_, width) -> r.Read(width, "test"), width)

                (countOk
                 && pad = (8 - total % 8) % 8
                 && bytes.Length * 8 = total + pad
                 && back = fields)
                |> Prop.classify (total % 8 = 0) "byte-aligned end")

        testCase "the first bit written is bit 7 of byte 0"
        <| fun () ->
            let w = BitWriter()
            w.Write(1u, 1)
            w.Write(0b0110u, 4)
            w.Align() |> ignore
            Expect.equal (w.ToArray()) [| 0b1011_0000uy |] "the one byte written"

        testCase "reading past the end bit raises Overrun naming the section"
        <| fun () ->
            let r = BitReader([| 0xFFuy; 0xFFuy |], 0, 12)
            Expect.equal (r.Read(10, "s")) 1023 "the first 10 of 12 bits"

            let e = Expect.throwsC (fun () -> r.Read(3, "s") |> ignore) id
            Expect.equal (e.GetType()) typeof<CodecFailure> "reading past the end raises CodecFailure"
            Expect.equal (e :?> CodecFailure).Data0 (Overrun "s") "the failure names the section"
    ]
