namespace Tern.Core

open System
open Tern.Runtime

/// Label-preserving changes to the training samples, drawn afresh every epoch from the training seed.
type Augmentation =
    | NoAugmentation
    /// Roll each sample circularly along W (time in every data set of Tern) by a uniformly drawn offset: an
    /// activity is the same activity whichever instant its window starts at.
    | TimeShift

/// Training-time augmentation of HWC samples.
[<RequireQualifiedAccess>]
module Augment =

    /// The sample rolled circularly along W by offset columns: column w of the result is column (w + offset) mod W.
    let timeShift (shape: Shape3) (offset: int) (x: float32[]) : float32[] =
        if x.Length <> shape.Size then
            invalidArg "x" $"sample has {x.Length} values, shape {shape} has {shape.Size}"

        let w = shape.W
        let s = ((offset % w) + w) % w
        let y = Array.zeroCreate<float32> x.Length
        let row = w * shape.C

        for h in 0 .. shape.H - 1 do
            let b = h * row
            // Columns s..W-1 move to the front, columns 0..s-1 to the back (C values per column).
            Array.blit x (b + s * shape.C) y b ((w - s) * shape.C)
            Array.blit x b y (b + (w - s) * shape.C) (s * shape.C)

        y

    /// Applies an augmentation with draws from rng; NoAugmentation returns the sample itself and draws nothing.
    let apply (a: Augmentation) (shape: Shape3) (rng: Random) (x: float32[]) : float32[] =
        match a with
        | NoAugmentation -> x
        | TimeShift -> timeShift shape (rng.Next shape.W) x

    /// The name parse reads: "none" or "time-shift".
    let name (a: Augmentation) : string =
        match a with
        | NoAugmentation -> "none"
        | TimeShift -> "time-shift"

    /// Parses a command-line name: "none" or "time-shift".
    let parse (name: string) : Result<Augmentation, string> =
        match name.Trim().ToLowerInvariant() with
        | "none" -> Ok NoAugmentation
        | "time-shift" -> Ok TimeShift
        | other -> Error $"unknown augmentation '{other}' (expected none or time-shift)"
