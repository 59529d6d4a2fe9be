module Tern.Tests.CodecQuantTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// Generators for this file only.
module private G =

    let bits: Gen<int> = Gen.choose (2, 8)
    let code: Gen<int> = Gen.choose (-128, 127)

    /// (bits, z8, lo, hi) with lo <= hi.
    let observed: Gen<int * int * int * int> =
        gen {
            let! bits = bits
            let! z = Gen.frequency [ 2, Gen.elements [ -128; 0; 127 ]; 3, code ]
            let! a = code
            let! b = code
            return bits, z, min a b, max a b
        }

[<Tests>]
let tests =
    testList "CodecQuantTests" [
        testCase "divRound is integer division rounded half away from zero"
        <| fun () ->
            for a in -600 .. 600 do
                for step in 1..40 do
                    let expected = int (Quantize.roundHalfAway (float a / float step))
                    Expect.equal (CodecQuant.divRound a step) expected $"{a} / {step}"

        testCase "fromInt8 is seed 004's eqs. 3.14-3.15 in integers, for every code, zero point and bit depth"
        <| fun () ->
            // Real formulation: x = s8 (q8 - z8), sN = s8 2^(8-N), zN = round(z8 / 2^(8-N)), qN = round(x / sN) + zN.
            // A power of two keeps the float oracle exact at ties.
            let s8 = 0.03125

            for bits in 2..8 do
                for z in -128 .. 127 do
                    let q = CodecQuant.fromInt8 bits z
                    let sN = s8 * float (1 <<< (8 - bits))

                    let zN =
                        min q.QMax (int (Quantize.roundHalfAway (float z / float (1 <<< (8 - bits)))))

                    Expect.equal q.Zero zN $"N={bits} z={z}"

                    for c in -128 .. 127 do
                        let x = s8 * float (c - z)
                        let expected = max q.QMin (min q.QMax (int (Quantize.roundHalfAway (x / sN)) + zN))
                        Expect.equal (CodecQuant.quantize q c) expected $"N={bits} z={z} q8={c}"

        testCase "fromInt8 at 8 bits is lossless"
        <| fun () ->
            for z in [ -128; -3; 0; 127 ] do
                let q = CodecQuant.fromInt8 8 z

                for c in -128 .. 127 do
                    Expect.equal (CodecQuant.dequantize q (CodecQuant.quantize q c)) c $"z={z} q8={c} round-trips"

        testProperty "min-max quantizers keep the observed range within one step and z8 exact"
        <| fun () ->
            Prop.forAll
                (Arb.fromGen (Gen.zip G.observed (Gen.elements [ MinMaxAffine; MinMaxSymmetric ])))
                (fun ((bits, z, lo, hi), source) ->
                    let q = CodecQuant.choose source bits z [ [| sbyte lo; sbyte hi |] ]

                    let roundTrip c =
                        CodecQuant.dequantize q (CodecQuant.quantize q c)

                    (q.Step >= 1
                     && q.Zero >= q.QMin
                     && q.Zero <= q.QMax
                     && roundTrip z = z
                     && [ lo..hi ] |> List.forall (fun c -> abs (roundTrip c - c) <= q.Step))
                    |> Prop.classify (q.Step = 1) "lossless step"
                    |> Prop.collect source)

        testProperty "the symbol and code tables agree with quantize and dequantize"
        <| fun () ->
            Prop.forAll (Arb.fromGen (Gen.zip G.bits G.code)) (fun (bits, z) ->
                let q = CodecQuant.fromInt8 bits z
                let symbols = CodecQuant.symbolTable q
                let codes = CodecQuant.codeTable q

                codes.Length = q.Alphabet
                && [ -128 .. 127 ]
                   |> List.forall (fun c ->
                       let s = symbols[c + 128]

                       s >= 0
                       && s < q.Alphabet
                       && int codes[s] = CodecQuant.dequantize q (CodecQuant.quantize q c)))
    ]
