namespace Tern.Core

open System
open Tern.Runtime
open Tern.Runtime.Codec

[<Struct>]
type MotionVector = { Dy: int; Dx: int }

type MotionSearch =
    | ThreeStep
    | FullSearch

type BlockCost =
    | Sad
    | Mad
    | Mse

type MotionParams = {
    Block: int
    Range: int
    Search: MotionSearch
    Cost: BlockCost
}

[<RequireQualifiedAccess>]
module CodecMotion =

    let blockGrid (shape: Shape3) (block: int) : int * int =
        (shape.H + block - 1) / block, (shape.W + block - 1) / block

    let blockCount (shape: Shape3) (block: int) : int =
        let rows, cols = blockGrid shape block
        rows * cols

    let blockCost
        (cost: BlockCost)
        (shape: Shape3)
        (cur: sbyte[])
        (reference: sbyte[])
        (by: int)
        (bx: int)
        (bh: int)
        (bw: int)
        (v: MotionVector)
        : int64 =
        let c = shape.C
        let stride = shape.W * c
        let a = (by * shape.W + bx) * c
        let b = ((by + v.Dy) * shape.W + bx + v.Dx) * c

        match cost with
        | Sad
        | Mad -> BlockSadS8.Optimized(ReadOnlySpan cur, a, ReadOnlySpan reference, b, stride, bw * c, bh)
        | Mse -> BlockSsdS8.Optimized(ReadOnlySpan cur, a, ReadOnlySpan reference, b, stride, bw * c, bh)

    let isValid (shape: Shape3) (range: int) (by: int) (bx: int) (bh: int) (bw: int) (v: MotionVector) : bool =
        abs v.Dy <= range
        && abs v.Dx <= range
        && by + v.Dy >= 0
        && bx + v.Dx >= 0
        && by + v.Dy + bh <= shape.H
        && bx + v.Dx + bw <= shape.W

    let steps (range: int) : int list =
        let rec go s = if s < 1 then [] else s :: go (s / 2)
        let mutable top = 1

        while top * 2 <= range do
            top <- top * 2

        if range < 1 then [] else go top

    let searchBlock
        (p: MotionParams)
        (shape: Shape3)
        (cur: sbyte[])
        (reference: sbyte[])
        (by: int)
        (bx: int)
        : MotionVector * int64 =
        let bh = min p.Block (shape.H - by)
        let bw = min p.Block (shape.W - bx)
        let zero = { Dy = 0; Dx = 0 }
        let mutable best = zero
        let mutable bestCost = blockCost p.Cost shape cur reference by bx bh bw zero

        let consider v =
            if isValid shape p.Range by bx bh bw v then
                let c = blockCost p.Cost shape cur reference by bx bh bw v

                if c < bestCost then
                    best <- v
                    bestCost <- c

        match p.Search with
        | FullSearch ->
            for dy in -p.Range .. p.Range do
                for dx in -p.Range .. p.Range do
                    if dy <> 0 || dx <> 0 then
                        consider { Dy = dy; Dx = dx }
        | ThreeStep ->
            for s in steps p.Range do
                let center = best

                for ky in -1 .. 1 do
                    for kx in -1 .. 1 do
                        if ky <> 0 || kx <> 0 then
                            consider {
                                Dy = center.Dy + s * ky
                                Dx = center.Dx + s * kx
                            }

        best, bestCost

    let estimate (p: MotionParams) (shape: Shape3) (cur: sbyte[]) (reference: sbyte[]) : MotionVector[] * int64 =
        if p.Block < 1 || p.Range < 0 then
            invalidArg "p" $"block {p.Block} and range {p.Range} must be >= 1 and >= 0"

        let rows, cols = blockGrid shape p.Block
        let vectors = Array.zeroCreate (rows * cols)
        let mutable total = 0L

        for r in 0 .. rows - 1 do
            for k in 0 .. cols - 1 do
                let v, c = searchBlock p shape cur reference (r * p.Block) (k * p.Block)
                vectors[r * cols + k] <- v
                total <- total + c

        vectors, total

    let compensate (shape: Shape3) (block: int) (reference: sbyte[]) (vectors: MotionVector[]) : sbyte[] =
        let rows, cols = blockGrid shape block

        if vectors.Length <> rows * cols then
            invalidArg "vectors" $"{vectors.Length} vectors for {rows * cols} blocks"

        let out = Array.zeroCreate shape.Size
        let c = shape.C

        for r in 0 .. rows - 1 do
            for k in 0 .. cols - 1 do
                let by = r * block
                let bx = k * block
                let bh = min block (shape.H - by)
                let bw = min block (shape.W - bx)
                let v = vectors[r * cols + k]

                for y in 0 .. bh - 1 do
                    let dst = ((by + y) * shape.W + bx) * c
                    let src = ((by + v.Dy + y) * shape.W + bx + v.Dx) * c
                    System.Array.Copy(reference, src, out, dst, bw * c)

        out
