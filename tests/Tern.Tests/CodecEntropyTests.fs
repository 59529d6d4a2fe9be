module Tern.Tests.CodecEntropyTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// Generators for this file only.
module private G =

    let coder: Gen<Entropy> = Gen.elements [ Fixed; Zvc; Huffman; Rle ]

    /// (alphabet, zero symbol, symbols): uniform, skewed toward the zero symbol, or in long runs.
    let stream: Gen<int * int * int[]> =
        gen {
            let! alphabet = Gen.frequency [ 3, Gen.choose (1, 20); 1, Gen.choose (21, 300) ]
            let! zero = Gen.choose (0, alphabet - 1)
            let! n = Gen.sized (fun s -> Gen.choose (0, 10 * s + 1))
            let any = Gen.choose (0, alphabet - 1)

            let! symbols =
                Gen.oneof [
                    Gen.arrayOfLength n any
                    Gen.arrayOfLength n (Gen.frequency [ 4, Gen.constant zero; 1, any ])
                    gen {
                        let! values = Gen.arrayOfLength n any
                        let! lengths = Gen.arrayOfLength n (Gen.choose (1, 70))

                        return
                            Array.zip values lengths
                            |> Array.collect (fun (v, l) -> Array.create l v)
                            |> Array.truncate n
                    }
                ]

            return alphabet, zero, symbols
        }

    /// Symbol counts (some zero) over an alphabet of 2..64.
    let counts: Gen<int[]> =
        gen {
            let! a = Gen.choose (2, 64)

            let! counts =
                Gen.arrayOfLength a (Gen.frequency [ 1, Gen.constant 0; 3, Gen.choose (1, 1000) ])

            return counts
        }

let private entropy (counts: int[]) =
    let n = float (Array.sum counts)

    counts
    |> Array.sumBy (fun c ->
        if c = 0 then
            0.0
        else
            -(float c / n) * Math.Log2(float c / n))

[<Tests>]
let tests =
    testList "CodecEntropyTests" [
        testPropertyWithConfig
            (Properties.tests 300)
            "every coder round-trips any symbol stream and reports exactly the bits it wrote"
        <| fun () ->
            Prop.forAll (Arb.fromGen (Gen.zip G.coder G.stream)) (fun (coder, (alphabet, zero, symbols)) ->
                let w = BitWriter()
                let bits = CodecEntropy.write w coder alphabet zero symbols
                let written = w.BitCount
                let bytes, _ = CodecEntropy.encodeSymbols coder alphabet zero symbols
                let back = CodecEntropy.decodeSymbols coder alphabet zero symbols.Length bytes

                (back = Ok symbols && bits.Total = written && bytes.Length = (written + 7) / 8)
                |> Prop.classify (symbols.Length = 0) "empty"
                |> Prop.classify (alphabet = 1) "alphabet of one"
                |> Prop.classify (symbols.Length > 0 && Array.forall ((=) symbols[0]) symbols) "one distinct symbol"
                |> Prop.collect coder)

        testPropertyWithConfig
            (Properties.tests 300)
            "Huffman's mean code length lies within 1 bit of the empirical entropy"
        <| fun () ->
            Prop.forAll (Arb.fromGen G.stream) (fun (alphabet, zero, symbols) ->
                symbols.Length > 0
                ==> lazy
                    (let counts = Array.zeroCreate alphabet

                     for s in symbols do
                         counts[s] <- counts[s] + 1

                     let lengths = CodecEntropy.huffmanLengths CodecEntropy.maxCodeLength counts
                     let n = float symbols.Length
                     let mean = (Array.map2 (fun c l -> float (c * l)) counts lengths |> Array.sum) / n
                     let h = entropy counts
                     mean >= h - 1e-9 && mean <= h + 1.0))

        testProperty "Huffman lengths form a complete prefix code within the limit, shorter for more frequent symbols"
        <| fun () ->
            Prop.forAll (Arb.fromGen G.counts) (fun counts ->
                let lengths = CodecEntropy.huffmanLengths CodecEntropy.maxCodeLength counts
                let used = counts |> Array.filter (fun c -> c > 0) |> Array.length

                let kraft =
                    lengths |> Array.sumBy (fun l -> if l = 0 then 0.0 else Math.Pow(2.0, float -l))

                let monotone =
                    Seq.allPairs [ 0 .. counts.Length - 1 ] [ 0 .. counts.Length - 1 ]
                    |> Seq.forall (fun (i, j) ->
                        counts[i] = 0
                        || counts[j] = 0
                        || counts[i] <= counts[j]
                        || lengths[i] <= lengths[j])

                Array.forall2 (fun c l -> (c = 0) = (l = 0)) counts lengths
                && Array.max lengths <= CodecEntropy.maxCodeLength
                && (used < 2 || abs (kraft - 1.0) < 1e-12)
                && monotone)

        testCase "the length limit holds on Fibonacci counts and keeps the code complete"
        <| fun () ->
            // Fibonacci counts make the unlimited Huffman tree a chain 24 deep.
            let fib = Array.zeroCreate 25
            fib[0] <- 1
            fib[1] <- 1

            for i in 2..24 do
                fib[i] <- fib[i - 1] + fib[i - 2]

            let lengths = CodecEntropy.huffmanLengths 15 fib
            let kraft = lengths |> Array.sumBy (fun l -> Math.Pow(2.0, float -l))
            Expect.equal (Array.max lengths) 15 "the longest code is at the limit"
            Expect.floatClose { absolute = 1e-12; relative = 0.0 } kraft 1.0 "the Kraft sum of a complete code"
            // The stream itself has these counts, so its codes reach 15 bits (beyond the 10-bit first-level table).
            let symbols = fib |> Array.mapi (fun s c -> Array.create c s) |> Array.concat
            let rng = Random 3
            let symbols = symbols |> Array.sortBy (fun _ -> rng.Next())
            let bytes, _ = CodecEntropy.encodeSymbols Huffman 25 0 symbols

            Expect.equal
                (CodecEntropy.decodeSymbols Huffman 25 0 symbols.Length bytes)
                (Ok symbols: Result<int[], CodecError>)
                "the stream decodes back"

        testCase "Huffman ties are broken as documented"
        <| fun () ->
            // Equal counts: a balanced code. Counts 5,1,1: the frequent symbol 1 bit, then canonical order.
            Expect.equal (CodecEntropy.huffmanLengths 15 [| 3; 3; 3; 3 |]) [| 2; 2; 2; 2 |] "lengths of 3,3,3,3"
            Expect.equal (CodecEntropy.huffmanLengths 15 [| 5; 1; 1 |]) [| 1; 2; 2 |] "lengths of 5,1,1"
            Expect.equal (CodecEntropy.canonicalCodes [| 1; 2; 2 |]) [| 0b0; 0b10; 0b11 |] "codes of lengths 1,2,2"
            // Counts 2,1,1,2: leaves (1,s1) (1,s2) merge first; then leaf s0 (2) before the internal node (2).
            Expect.equal (CodecEntropy.huffmanLengths 15 [| 2; 1; 1; 2 |]) [| 2; 2; 2; 2 |] "lengths of 2,1,1,2"
            Expect.equal (CodecEntropy.huffmanLengths 15 [| 0; 7; 0 |]) [| 0; 1; 0 |] "lengths of 0,7,0"

            Expect.equal
                (CodecEntropy.canonicalCodes [| 3; 1; 3; 2 |])
                [| 0b110; 0b0; 0b111; 0b10 |]
                "codes of lengths 3,1,3,2"

        testCase "RLE picks the cheapest run width and ZVC writes the mask before the values"
        <| fun () ->
            let symbols = Array.append (Array.create 100 3) [| 1; 2 |]
            let _, rle = CodecEntropy.encodeSymbols Rle 4 0 symbols
            // Width 7: runs 100, 1, 1 -> 3 pairs of 2 + 7 bits; width 6 needs 4 pairs of 8 bits.
            Expect.equal rle { Table = 4; Payload = 27 } "RLE bits"
            let bytes, zvc = CodecEntropy.encodeSymbols Zvc 4 0 [| 0; 3; 0; 1 |]
            Expect.equal zvc { Table = 0; Payload = 8 } "ZVC bits"
            Expect.equal bytes [| 0b0101_1101uy |] "ZVC bytes: mask then values"

        testCase "invalid streams are rejected with a reason"
        <| fun () ->
            let decode coder alphabet zero count bytes =
                CodecEntropy.decodeSymbols coder alphabet zero count bytes

            // Fixed symbol 3 in an alphabet of 3.
            Expect.equal
                (decode Fixed 3 0 1 [| 0b1100_0000uy |])
                (Error(BadSymbol("symbols", "symbol 3 outside the alphabet 0..2")): Result<int[], CodecError>)
                "Fixed symbol outside the alphabet"
            // ZVC non-zero slot holding the zero symbol.
            Expect.isTrue (decode Zvc 4 0 1 [| 0b1000_0000uy |] |> Result.isError) "ZVC non-zero slot holding zero"
            // Huffman: lengths 1,1,1 over-subscribe.
            Expect.isTrue
                (match decode Huffman 3 0 1 [| 0x11uy; 0x10uy |] with
                 | Error(BadTable _) -> true
                 | _ -> false)
                "Huffman lengths 1,1,1 are a bad table"
            // Huffman: lengths 1, 0 and the code 1 which is no code.
            Expect.isTrue
                (match decode Huffman 2 0 1 [| 0x10uy; 0b1000_0000uy |] with
                 | Error(BadSymbol _) -> true
                 | _ -> false)
                "Huffman code 1 is no symbol"
            // RLE run past the end; RLE width 0.
            Expect.isTrue (decode Rle 2 0 2 [| 0x20uy; 0b0110_0000uy |] |> Result.isError) "RLE run past the end"

            Expect.isTrue
                (decode Rle 2 0 1 [| 0x00uy; 0x00uy |] = Error(BadTable("symbols", "RLE run width 0")))
                "RLE width 0"
            // Missing bits; non-zero padding.
            Expect.equal
                (decode Fixed 256 0 2 [| 1uy |])
                (Error(Overrun "symbols"): Result<int[], CodecError>)
                "missing bits"

            Expect.equal
                (decode Fixed 2 0 1 [| 0b0100_0000uy |])
                (Error BadPadding: Result<int[], CodecError>)
                "non-zero padding"
    ]
