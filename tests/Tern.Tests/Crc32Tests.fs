module Tern.Tests.Crc32Tests

open System
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime.Protocol

/// Scalar oracle: CRC-32 one bit at a time (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor all ones).
let private bitwiseCrc (data: ReadOnlySpan<byte>) : uint32 =
    let mutable c = 0xFFFFFFFFu

    for b in data do
        c <- c ^^^ uint32 b

        for _ in 1..8 do
            c <-
                if c &&& 1u <> 0u then
                    (c >>> 1) ^^^ 0xEDB88320u
                else
                    c >>> 1

    ~~~c

/// Arrays up to a few hundred bytes (past the library's wide-vector paths) and a slice of them at any offset.
let private slices =
    gen {
        let! n = Gen.choose (0, 600)
        let! data = Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte)
        let! offset = Gen.choose (0, n)
        let! count = Gen.choose (0, n - offset)
        return data, offset, count
    }

[<Tests>]
let tests =
    testList "Crc32Tests" [
        testCase "CRC-32 of \"123456789\" is 0xCBF43926 and of nothing is 0"
        <| fun () ->
            let check = Encoding.ASCII.GetBytes "123456789"
            Expect.equal (Crc32.Compute(ReadOnlySpan check)) 0xCBF43926u "Crc32.Compute of the check string"
            Expect.equal (bitwiseCrc (ReadOnlySpan check)) 0xCBF43926u "the oracle on the check string"
            Expect.equal (Crc32.Compute(ReadOnlySpan<byte>.Empty)) 0u "Crc32.Compute of nothing"

        testPropertyWithConfig (Properties.tests 300) "CRC-32 agrees with the bitwise reference on any slice"
        <| fun () ->
            Prop.forAll (Arb.fromGen slices) (fun (data, offset, count) ->
                let span = ReadOnlySpan(data, offset, count)
                Crc32.Compute span = bitwiseCrc span)
    ]
