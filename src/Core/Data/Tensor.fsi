namespace Tern.Core

open Tern.Runtime

/// A float activation tensor in HWC order (the same order the integer runtime and the device use).
type Tensor = { Shape: Shape3; Data: float32[] }

[<RequireQualifiedAccess>]
module Tensor =

    /// A tensor of zeros.
    /// Public for the tests only.
    val zeros: shape: Shape3 -> Tensor

    /// Wraps data, checking its length against the shape.
    val ofArray: shape: Shape3 -> data: float32[] -> Tensor

    /// Flat index of (h, w, c).
    /// Public for the tests only.
    val inline index: s: Shape3 -> h: int -> w: int -> c: int -> int

    /// Value at (h, w, c).
    /// Public for the tests only.
    val get: t: Tensor -> h: int -> w: int -> c: int -> float32

    /// A tensor of uniform random values in [lo, hi) from the given generator.
    val random: rng: System.Random -> lo: float32 -> hi: float32 -> shape: Shape3 -> Tensor

    /// Largest absolute element-wise difference; shapes must agree.
    /// Public for the tests only.
    val maxAbsDiff: a: Tensor -> b: Tensor -> float32

    /// Index of the first maximum.
    val argmax: data: float32[] -> int
