namespace Tern.Core

open System
open Tern.Runtime
open Tern.Runtime.Codec

/// A block's displacement: its prediction is the anchor block at (y + Dy, x + Dx).
[<Struct>]
type MotionVector = { Dy: int; Dx: int }

/// Block motion search.
type MotionSearch =
    /// Three-step search (log search): steps 2^k, ..., 2, 1 from the largest power of two <= range.
    | ThreeStep
    /// Every vector in [-range, range]^2 (the reference).
    | FullSearch

/// Block distortion measure. MAD = SAD / block size ranks candidates exactly as SAD (one block, one size),
/// so it is computed as SAD; MSE is computed as the sum of squared differences for the same reason.
type BlockCost =
    | Sad
    | Mad
    | Mse

/// Motion estimation settings: BxB blocks, vectors within +-Range, search and cost.
type MotionParams = {
    Block: int
    Range: int
    Search: MotionSearch
    Cost: BlockCost
}

/// Block motion estimation and compensation on int8 feature maps (HWC). One vector per block is shared
/// by all C channels: the whole HxW plane moves (a shift of the input shifts every channel alike), and
/// the cost sums over the channels. Blocks are BxB in raster order; the last row/column may be smaller.
/// A vector is valid when |Dy|, |Dx| <= Range and the displaced block lies inside the anchor.
[<RequireQualifiedAccess>]
module CodecMotion =

    /// Blocks per column and per row: ceil(H / B), ceil(W / B).
    let blockGrid (shape: Shape3) (block: int) : int * int =
        (shape.H + block - 1) / block, (shape.W + block - 1) / block

    /// Number of blocks (vectors) of one frame.
    let blockCount (shape: Shape3) (block: int) : int =
        let rows, cols = blockGrid shape block
        rows * cols

    /// Cost of predicting the block at (by, bx) of size bh x bw of cur from ref displaced by (dy, dx).
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

    /// Whether v is a valid vector for the block at (by, bx) of size bh x bw.
    let isValid (shape: Shape3) (range: int) (by: int) (bx: int) (bh: int) (bw: int) (v: MotionVector) : bool =
        abs v.Dy <= range
        && abs v.Dx <= range
        && by + v.Dy >= 0
        && bx + v.Dx >= 0
        && by + v.Dy + bh <= shape.H
        && bx + v.Dx + bw <= shape.W

    /// The step sizes of the three-step search for a range: the largest power of two <= range, halved down to 1.
    let steps (range: int) : int list =
        let rec go s = if s < 1 then [] else s :: go (s / 2)
        let mutable top = 1

        while top * 2 <= range do
            top <- top * 2

        if range < 1 then [] else go top

    /// The vector and cost for one block. Tie-breaks: (0,0) is evaluated first; a candidate replaces the
    /// best only at a strictly lower cost; candidates in raster order (Dy, then Dx, ascending). Three-step:
    /// each step evaluates the 8 neighbours center + s*(ky, kx), ky, kx in -1, 0, 1 raster order, of the
    /// step's center (the previous step's best), skipping invalid ones.
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

    /// One vector per block (raster order) predicting cur from reference, with the total cost.
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

    /// The prediction: each block copied (all channels) from the reference at its displaced position.
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
