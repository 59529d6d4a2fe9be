module Tern.Tests.CodecMotionTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

/// Generators for this file only.
module private G =

    let shape: Gen<Shape3> =
        gen {
            let! h = Gen.choose (4, 20)
            let! w = Gen.choose (4, 20)
            let! c = Gen.choose (1, 5)
            return Shape3(h, w, c)
        }

    let cost: Gen<BlockCost> = Gen.elements [ Sad; Mad; Mse ]

    let motion (search: MotionSearch) : Gen<MotionParams> =
        gen {
            let! block = Gen.choose (1, 8)
            let! range = Gen.choose (1, 8)
            let! cost = cost

            return {
                Block = block
                Range = range
                Search = search
                Cost = cost
            }
        }

    let codes (n: int) : Gen<sbyte[]> =
        Gen.arrayOfLength n (Gen.choose (-128, 127) |> Gen.map sbyte)

/// A frame cut from a canvas at (top, left): canvas(y, x, c).
let private cut (shape: Shape3) (canvas: int -> int -> int -> int) (top: int) (left: int) =
    Array.init shape.Size (fun i ->
        let c = i % shape.C
        let x = (i / shape.C) % shape.W
        let y = i / (shape.C * shape.W)
        sbyte (canvas (y + top) (x + left) c))

let private ``three-step search steps halve from the largest power of two within the range`` () =
    Expect.equal (CodecMotion.steps 7) [ 4; 2; 1 ] "steps of range 7"
    Expect.equal (CodecMotion.steps 15) [ 8; 4; 2; 1 ] "steps of range 15"
    Expect.equal (CodecMotion.steps 4) [ 4; 2; 1 ] "steps of range 4"
    Expect.equal (CodecMotion.steps 1) [ 1 ] "steps of range 1"
    Expect.isEmpty (CodecMotion.steps 0) "range 0 has no steps"

let private ``the three-step search recovers a pure translation inside its range`` () =
    // Channel 0 ramps with y and channel 1 with x, so the cost grows with |dy - ty| + |dx - tx|:
    // the search must find the translation itself for every block where it is a valid vector.
    let gen =
        gen {
            let! h = Gen.choose (4, 16)
            let! w = Gen.choose (4, 16)
            let! block = Gen.choose (2, 6)
            let! range = Gen.elements [ 3; 7 ]
            let! ty = Gen.choose (-range, range)
            let! tx = Gen.choose (-range, range)
            let! cost = G.cost
            return Shape3(h, w, 2), block, range, ty, tx, cost
        }

    Prop.forAll (Arb.fromGen gen) (fun (shape, block, range, ty, tx, cost) ->
        let canvas y x c = (if c = 0 then 3 * y else 3 * x) - 100
        let m = 8
        let reference = cut shape canvas m m
        let current = cut shape canvas (m + ty) (m + tx)

        let p = {
            Block = block
            Range = range
            Search = ThreeStep
            Cost = cost
        }

        let vectors, _ = CodecMotion.estimate p shape current reference
        let _, cols = CodecMotion.blockGrid shape block
        let t = { Dy = ty; Dx = tx }

        vectors
        |> Array.mapi (fun b v ->
            let by = (b / cols) * block
            let bx = (b % cols) * block
            let bh = min block (shape.H - by)
            let bw = min block (shape.W - bx)
            not (CodecMotion.isValid shape range by bx bh bw t) || v = t)
        |> Array.forall id
        |> Prop.classify (max (abs ty) (abs tx) > range / 2) "beyond the first step"
        |> Prop.classify (ty = 0 && tx = 0) "no motion")

let private ``full search finds an exact match of a translated random texture`` () =
    let gen =
        gen {
            let! shape = G.shape
            let! p = G.motion FullSearch
            let! ty = Gen.choose (-p.Range, p.Range)
            let! tx = Gen.choose (-p.Range, p.Range)
            let! texture = G.codes (40 * 40 * shape.C)
            return shape, p, ty, tx, texture
        }

    Prop.forAll (Arb.fromGen gen) (fun (shape, p, ty, tx, texture) ->
        let canvas y x c = int texture[(y * 40 + x) * shape.C + c]
        let reference = cut shape canvas 9 9
        let current = cut shape canvas (9 + ty) (9 + tx)
        let vectors, _ = CodecMotion.estimate p shape current reference
        let prediction = CodecMotion.compensate shape p.Block reference vectors
        let _, cols = CodecMotion.blockGrid shape p.Block
        let t = { Dy = ty; Dx = tx }

        // Every block whose translation is valid is predicted exactly.
        [ 0 .. vectors.Length - 1 ]
        |> List.forall (fun b ->
            let by = (b / cols) * p.Block
            let bx = (b % cols) * p.Block
            let bh = min p.Block (shape.H - by)
            let bw = min p.Block (shape.W - bx)

            not (CodecMotion.isValid shape p.Range by bx bh bw t)
            || CodecMotion.blockCost p.Cost shape current prediction by bx bh bw { Dy = 0; Dx = 0 } = 0L))

let private ``full search never costs more than the three-step search, block by block`` () =
    let gen =
        gen {
            let! shape = G.shape
            let! p = G.motion ThreeStep
            let! a = G.codes shape.Size
            let! b = G.codes shape.Size
            let! smooth = Gen.elements [ true; false ]
            return shape, p, a, b, smooth
        }

    Prop.forAll (Arb.fromGen gen) (fun (shape, p, a, b, smooth) ->
        // Half the cases: smoothed frames, where the search landscape has structure.
        let blur (f: sbyte[]) =
            if smooth then
                Array.init f.Length (fun i -> sbyte ((int f[i] + int f[(i + shape.C) % f.Length]) / 2))
            else
                f

        let cur, reference = blur a, blur b
        let rows, cols = CodecMotion.blockGrid shape p.Block

        let costs search = [|
            for r in 0 .. rows - 1 do
                for k in 0 .. cols - 1 do
                    snd (
                        CodecMotion.searchBlock
                            { p with Search = search }
                            shape
                            cur
                            reference
                            (r * p.Block)
                            (k * p.Block)
                    )
        |]

        let full = costs FullSearch
        let tss = costs ThreeStep
        let strictly = Array.exists2 (<) full tss

        Array.forall2 (<=) full tss
        |> Prop.classify strictly "full search strictly better somewhere")

let private ``searched vectors are valid and compensation copies the displaced blocks`` () =
    let gen =
        gen {
            let! shape = G.shape
            let! search = Gen.elements [ ThreeStep; FullSearch ]
            let! p = G.motion search
            let! a = G.codes shape.Size
            let! b = G.codes shape.Size
            return shape, p, a, b
        }

    Prop.forAll (Arb.fromGen gen) (fun (shape, p, cur, reference) ->
        let vectors, total = CodecMotion.estimate p shape cur reference
        let prediction = CodecMotion.compensate shape p.Block reference vectors
        let _, cols = CodecMotion.blockGrid shape p.Block

        let blocksOk =
            vectors
            |> Array.mapi (fun b v ->
                let by = (b / cols) * p.Block
                let bx = (b % cols) * p.Block
                let bh = min p.Block (shape.H - by)
                let bw = min p.Block (shape.W - bx)

                CodecMotion.isValid shape p.Range by bx bh bw v
                && CodecMotion.blockCost p.Cost shape cur reference by bx bh bw v =
                    CodecMotion.blockCost p.Cost shape cur prediction by bx bh bw { Dy = 0; Dx = 0 })
            |> Array.forall id

        let sum =
            vectors
            |> Array.mapi (fun b v ->
                let by = (b / cols) * p.Block
                let bx = (b % cols) * p.Block

                CodecMotion.blockCost
                    p.Cost
                    shape
                    cur
                    reference
                    by
                    bx
                    (min p.Block (shape.H - by))
                    (min p.Block (shape.W - bx))
                    v)
            |> Array.sum

        blocksOk && sum = total)

let private ``costs: SAD and MAD sum absolute differences, MSE squared ones`` () =
    let shape = Shape3(1, 2, 1)
    let a = [| 1y; -3y |]
    let b = [| 4y; 1y |]
    let zero = { Dy = 0; Dx = 0 }
    Expect.equal (CodecMotion.blockCost Sad shape a b 0 0 1 2 zero) 7L "SAD of (1, -3) and (4, 1)"
    Expect.equal (CodecMotion.blockCost Mad shape a b 0 0 1 2 zero) 7L "MAD of (1, -3) and (4, 1)"
    Expect.equal (CodecMotion.blockCost Mse shape a b 0 0 1 2 zero) 25L "MSE of (1, -3) and (4, 1)"

let private ``ties keep the zero vector, then the first candidate in raster order`` () =
    // A flat anchor: every candidate ties, so (0, 0) stays.
    let shape = Shape3(8, 8, 1)
    let flat = Array.create 64 5y

    for search in [ ThreeStep; FullSearch ] do
        let p = {
            Block = 4
            Range = 3
            Search = search
            Cost = Sad
        }

        let v, _ = CodecMotion.estimate p shape flat flat

        Expect.isTrue
            (v |> Array.forall (fun v -> v = { Dy = 0; Dx = 0 }))
            $"{search} on a flat frame keeps every vector (0, 0)"

    // Block (0, 0) of value 9 found at two places of the anchor: the first in raster order (Dy, then Dx) wins.
    let anchor = Array.create 64 0y

    for y, x in [ (1, 3); (3, 1) ] do
        for dy in 0..1 do
            for dx in 0..1 do
                anchor[(y + dy) * 8 + x + dx] <- 9y

    let cur =
        Array.init 64 (fun i -> if i = 0 || i = 1 || i = 8 || i = 9 then 9y else 0y)

    let p = {
        Block = 2
        Range = 3
        Search = FullSearch
        Cost = Sad
    }

    let v, _ = CodecMotion.searchBlock p shape cur anchor 0 0
    Expect.equal v { Dy = 1; Dx = 3 } "the first match in raster order"

// ---------- the C# block-cost kernels against an F# scalar oracle ----------

/// The oracle: sum over rows and codes of |a - b| (or (a - b)^2), as the cost is defined.
let private oracle (square: bool) (a: sbyte[]) aStart (b: sbyte[]) bStart stride rowLength rows =
    let mutable total = 0L

    for y in 0 .. rows - 1 do
        for i in 0 .. rowLength - 1 do
            let d = int64 a[aStart + y * stride + i] - int64 b[bStart + y * stride + i]
            total <- total + (if square then d * d else abs d)

    total

let private ``block SAD and SSD kernels equal the oracle at every SIMD level, row lengths 0..257`` () =
    let rng = Random 11

    for rowLength in [ 0..257 ] @ [ 511; 512; 513; 1024 ] do
        for rows in [ 1; 3 ] do
            let stride = rowLength + rng.Next 5
            let size = stride * rows + 7
            let a = Array.init size (fun _ -> sbyte (rng.Next(-128, 128)))
            let b = Array.init size (fun _ -> sbyte (rng.Next(-128, 128)))
            // Extremes so the biased unsigned arithmetic meets its edges.
            if size > 2 then
                a[0] <- -128y
                b[0] <- 127y
                a[1] <- 127y
                b[1] <- -128y

            let aStart = rng.Next 4
            let bStart = rng.Next 4
            let sad = oracle false a aStart b bStart stride rowLength rows
            let ssd = oracle true a aStart b bStart stride rowLength rows

            Expect.equal
                (Codec.BlockSadS8.Scalar(ReadOnlySpan a, aStart, ReadOnlySpan b, bStart, stride, rowLength, rows))
                sad
                $"scalar SAD rowLength {rowLength} rows {rows}"

            Expect.equal
                (Codec.BlockSsdS8.Scalar(ReadOnlySpan a, aStart, ReadOnlySpan b, bStart, stride, rowLength, rows))
                ssd
                $"scalar SSD rowLength {rowLength} rows {rows}"

            Expect.equal
                (Codec.BlockSsdS8.Optimized(ReadOnlySpan a, aStart, ReadOnlySpan b, bStart, stride, rowLength, rows))
                ssd
                $"optimized SSD rowLength {rowLength} rows {rows}"

            for level in
                [
                    Kernels.SimdLevel.None
                    Kernels.SimdLevel.Vector128
                    Kernels.SimdLevel.Vector256
                    Kernels.SimdLevel.Auto
                ] do
                Expect.equal
                    (Codec.BlockSadS8.Optimized(
                        ReadOnlySpan a,
                        aStart,
                        ReadOnlySpan b,
                        bStart,
                        stride,
                        rowLength,
                        rows,
                        level
                    ))
                    sad
                    $"{level} rowLength {rowLength} rows {rows}"

let private ``block kernels refuse blocks outside their buffers`` () =
    let a = Array.zeroCreate<sbyte> 10

    let pastEnd =
        Expect.throwsC
            (fun () ->
                Codec.BlockSadS8.Optimized(ReadOnlySpan a, 0, ReadOnlySpan a, 3, 4, 4, 2)
                |> ignore)
            id

    Expect.equal (pastEnd.GetType()) typeof<ArgumentOutOfRangeException> "a block past the end of b"

    let negative =
        Expect.throwsC
            (fun () ->
                Codec.BlockSsdS8.Scalar(ReadOnlySpan a, -1, ReadOnlySpan a, 0, 4, 4, 1)
                |> ignore)
            id

    Expect.equal (negative.GetType()) typeof<ArgumentOutOfRangeException> "a block at a negative start"

[<Tests>]
let tests =
    testList "CodecMotionTests" [
        testCase
            "three-step search steps halve from the largest power of two within the range"
            ``three-step search steps halve from the largest power of two within the range``
        testProperty
            "the three-step search recovers a pure translation inside its range"
            ``the three-step search recovers a pure translation inside its range``
        testProperty
            "full search finds an exact match of a translated random texture"
            ``full search finds an exact match of a translated random texture``
        testProperty
            "full search never costs more than the three-step search, block by block"
            ``full search never costs more than the three-step search, block by block``
        testProperty
            "searched vectors are valid and compensation copies the displaced blocks"
            ``searched vectors are valid and compensation copies the displaced blocks``
        testCase
            "costs: SAD and MAD sum absolute differences, MSE squared ones"
            ``costs: SAD and MAD sum absolute differences, MSE squared ones``
        testCase
            "ties keep the zero vector, then the first candidate in raster order"
            ``ties keep the zero vector, then the first candidate in raster order``
        testCase
            "block SAD and SSD kernels equal the oracle at every SIMD level, row lengths 0..257"
            ``block SAD and SSD kernels equal the oracle at every SIMD level, row lengths 0..257``
        testCase
            "block kernels refuse blocks outside their buffers"
            ``block kernels refuse blocks outside their buffers``
    ]
