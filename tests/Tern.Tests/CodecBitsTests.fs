module Tern.Tests.CodecBitsTests

open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
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

[<Property>]
let ``bits read back as written, MSB first, with BitCount the sum of the widths`` () =
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

[<Test>]
let ``the first bit written is bit 7 of byte 0`` () =
    let w = BitWriter()
    w.Write(1u, 1)
    w.Write(0b0110u, 4)
    w.Align() |> ignore
    Assert.That(w.ToArray(), Is.EqualTo<byte> [| 0b1011_0000uy |])

[<Test>]
let ``reading past the end bit raises Overrun naming the section`` () =
    let r = BitReader([| 0xFFuy; 0xFFuy |], 0, 12)
    Assert.That(r.Read(10, "s"), Is.EqualTo 1023)

    let e = Assert.Throws<CodecFailure>(fun () -> r.Read(3, "s") |> ignore)
    Assert.That(e.Data0, Is.EqualTo(Overrun "s"))
