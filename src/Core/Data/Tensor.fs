namespace Tern.Core

open Tern.Runtime

/// A float activation tensor in HWC order (the same order the integer runtime and the device use).
type Tensor = { Shape: Shape3; Data: float32[] }

[<RequireQualifiedAccess>]
module Tensor =
    /// A tensor of zeros.
    let zeros (shape: Shape3) : Tensor = {
        Shape = shape
        Data = Array.zeroCreate shape.Size
    }

    /// Wraps data, checking its length against the shape.
    let ofArray (shape: Shape3) (data: float32[]) : Tensor =
        if data.Length <> shape.Size then
            invalidArg "data" $"tensor of shape {shape} needs {shape.Size} values, got {data.Length}"

        { Shape = shape; Data = data }

    /// Flat index of (h, w, c).
    let inline index (s: Shape3) h w c = (h * s.W + w) * s.C + c

    /// Value at (h, w, c).
    let get (t: Tensor) h w c = t.Data[index t.Shape h w c]

    /// A tensor of uniform random values in [lo, hi) from the given generator.
    let random (rng: System.Random) (lo: float32) (hi: float32) (shape: Shape3) : Tensor = {
        Shape = shape
        Data = Array.init shape.Size (fun _ -> lo + (hi - lo) * float32 (rng.NextDouble()))
    }

    /// Largest absolute element-wise difference; shapes must agree.
    let maxAbsDiff (a: Tensor) (b: Tensor) : float32 =
        if a.Shape <> b.Shape then
            invalidArg "b" $"shapes differ: {a.Shape} vs {b.Shape}"

        Array.fold2 (fun m x y -> max m (abs (x - y))) 0.0f a.Data b.Data

    /// Index of the first maximum.
    let argmax (data: float32[]) : int =
        let mutable best = 0

        for i in 1 .. data.Length - 1 do
            if data[i] > data[best] then
                best <- i

        best
