namespace Tern.Core

open Tern.Runtime

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
    val blockGrid: shape: Shape3 -> block: int -> int * int

    /// Number of blocks (vectors) of one frame.
    val blockCount: shape: Shape3 -> block: int -> int

    /// Cost of predicting the block at (by, bx) of size bh x bw of cur from ref displaced by (dy, dx).
    /// Public for the tests only.
    val blockCost:
        cost: BlockCost ->
        shape: Shape3 ->
        cur: sbyte[] ->
        reference: sbyte[] ->
        by: int ->
        bx: int ->
        bh: int ->
        bw: int ->
        v: MotionVector ->
            int64

    /// Whether v is a valid vector for the block at (by, bx) of size bh x bw.
    val isValid: shape: Shape3 -> range: int -> by: int -> bx: int -> bh: int -> bw: int -> v: MotionVector -> bool

    /// The step sizes of the three-step search for a range: the largest power of two <= range, halved down to 1.
    /// Public for the tests only.
    val steps: range: int -> int list

    /// The vector and cost for one block. Tie-breaks: (0,0) is evaluated first; a candidate replaces the
    /// best only at a strictly lower cost; candidates in raster order (Dy, then Dx, ascending). Three-step:
    /// each step evaluates the 8 neighbours center + s*(ky, kx), ky, kx in -1, 0, 1 raster order, of the
    /// step's center (the previous step's best), skipping invalid ones.
    /// Public for the tests only.
    val searchBlock:
        p: MotionParams ->
        shape: Shape3 ->
        cur: sbyte[] ->
        reference: sbyte[] ->
        by: int ->
        bx: int ->
            MotionVector * int64

    /// One vector per block (raster order) predicting cur from reference, with the total cost.
    val estimate: p: MotionParams -> shape: Shape3 -> cur: sbyte[] -> reference: sbyte[] -> MotionVector[] * int64

    /// The prediction: each block copied (all channels) from the reference at its displaced position.
    val compensate: shape: Shape3 -> block: int -> reference: sbyte[] -> vectors: MotionVector[] -> sbyte[]
