module Tern.Tests.PackedTernaryTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime

/// Rows, row length and ternary values, with row lengths around the 4-per-byte boundary.
let private matrices =
    gen {
        let! rows = Gen.choose (0, 9)
        let! len = Gen.choose (0, 13)
        let! zeros = Gen.choose (0, 100)

        let value =
            Gen.frequency [ zeros + 1, Gen.constant 0y; 50, Gen.constant 1y; 50, Gen.constant -1y ]

        let! values = Gen.arrayOfLength (rows * len) value
        return rows, len, values
    }
    |> Arb.fromGen

[<Tests>]
let tests =
    testList "PackedTernaryTests" [
        testProperty "pack then unpack is the identity"
        <| fun () ->
            Prop.forAll matrices (fun (rows, len, values) ->
                let p = PackedTernary.Pack(rows, len, ReadOnlySpan values)
                p.Validate()
                p.Data.Length = rows * ((len + 3) / 4) && p.Unpack() = values)
            |> Prop.classify true "ok"

        testProperty "Get reads each weight where the layout says"
        <| fun () ->
            Prop.forAll matrices (fun (rows, len, values) ->
                let p = PackedTernary.Pack(rows, len, ReadOnlySpan values)

                seq {
                    for r in 0 .. rows - 1 do
                        for j in 0 .. len - 1 do
                            let code = (int p.Data[r * p.RowBytes + j / 4] >>> (2 * (j % 4))) &&& 3
                            let expected = [| 0; 1; -1 |][code]
                            yield p.Get(r, j) = int values[r * len + j] && expected = int values[r * len + j]
                }
                |> Seq.forall id)

        testCase "the layout is 00 zero, 01 plus, 10 minus, least significant first"
        <| fun () ->
            let p = PackedTernary.Pack(1, 5, ReadOnlySpan [| 1y; -1y; 0y; 1y; -1y |])
            // weights 0..3 -> 01 10 00 01 read from bit 0: 0b01_00_10_01 = 0x49; weight 4 -> 0b10
            Expect.equal p.Data [| 0x49uy; 0x02uy |] "packed bytes of 1, -1, 0, 1, -1"

        testProperty "any byte holding the code 11 is rejected with its row and column"
        <| fun (row: byte) (col: byte) ->
            let rows, len = 3, 7
            let r, j = int row % rows, int col % len

            let p =
                PackedTernary.Pack(rows, len, ReadOnlySpan(Array.zeroCreate<sbyte>(rows * len)))

            p.Data[r * p.RowBytes + j / 4] <- p.Data[r * p.RowBytes + j / 4] ||| byte (3 <<< (2 * (j % 4)))
            let ex = Expect.throwsC (fun () -> p.Validate()) id
            Expect.equal (ex.GetType()) typeof<InvalidDataException> "Validate throws an InvalidDataException"
            ex.Message.Contains($"row {r}, column {j}")

        testCase "non-zero padding after the last weight of a row is rejected"
        <| fun () ->
            let p = PackedTernary.Pack(2, 5, ReadOnlySpan(Array.zeroCreate<sbyte> 10))
            p.Data[1 * p.RowBytes + 1] <- 0b0100uy // weight 5 of row 1: padding
            let ex = Expect.throwsC (fun () -> p.Validate()) id
            Expect.equal (ex.GetType()) typeof<InvalidDataException> "Validate throws an InvalidDataException"
            Expect.stringContains ex.Message "padding" "the error names the padding"

        testCase "values outside -1..1 cannot be packed"
        <| fun () ->
            Expect.throwsT<ArgumentException>
                (fun () -> PackedTernary.Pack(1, 2, ReadOnlySpan [| 0y; 2y |]) |> ignore)
                "packing a 2 throws an ArgumentException"
    ]
