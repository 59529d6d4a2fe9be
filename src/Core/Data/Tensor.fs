namespace Tern.Core

open Tern.Runtime

type Tensor = { Shape: Shape3; Data: float32[] }

[<RequireQualifiedAccess>]
module Tensor =
    let zeros (shape: Shape3) : Tensor = {
        Shape = shape
        Data = Array.zeroCreate shape.Size
    }

    let ofArray (shape: Shape3) (data: float32[]) : Tensor =
        if data.Length <> shape.Size then
            invalidArg "data" $"tensor of shape {shape} needs {shape.Size} values, got {data.Length}"

        { Shape = shape; Data = data }

    let inline index (s: Shape3) h w c = (h * s.W + w) * s.C + c

    let get (t: Tensor) h w c = t.Data[index t.Shape h w c]

    let random (rng: System.Random) (lo: float32) (hi: float32) (shape: Shape3) : Tensor = {
        Shape = shape
        Data = Array.init shape.Size (fun _ -> lo + (hi - lo) * float32 (rng.NextDouble()))
    }

    let maxAbsDiff (a: Tensor) (b: Tensor) : float32 =
        if a.Shape <> b.Shape then
            invalidArg "b" $"shapes differ: {a.Shape} vs {b.Shape}"

        Array.fold2 (fun m x y -> max m (abs (x - y))) 0.0f a.Data b.Data

    let argmax (data: float32[]) : int =
        let mutable best = 0

        for i in 1 .. data.Length - 1 do
            if data[i] > data[best] then
                best <- i

        best
