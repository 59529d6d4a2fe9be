namespace Tern.Core

open Tern.Runtime

/// What a data tensor of an ONNX graph holds, in ONNX terms, as the import follows it along Tern's chain.
[<RequireQualifiedAccess>]
type internal OnnxValue =
    /// [N, C, H, W]; Tern holds it as H x W x C.
    | Map of Shape3
    /// [N, F]; Some perm: ONNX feature i is Tern's feature perm[i] (a flattened NCHW map); None: the same order.
    | Flat of int * int[] option

/// A data tensor seen on the chain: its value, whether it is provably >= 0, how many Tern layers came before it
/// (a ResidualAdd's span is counted from there) and whether a later Add may take it as its shortcut.
type internal OnnxTracked = {
    Value: OnnxValue
    NonNegative: bool
    Layer: int
    Shortcut: bool
}

/// The shapes a node may ask of its data input.
[<RequireQualifiedAccess>]
module internal OnnxValue =

    /// The ONNX dimensions of a value: [1, C, H, W] or [1, F].
    let dims (v: OnnxValue) : int64[] =
        match v with
        | OnnxValue.Map s -> [| 1L; int64 s.C; int64 s.H; int64 s.W |]
        | OnnxValue.Flat(f, _) -> [| 1L; int64 f |]

    /// The map a node that needs a 4-D input reads; refuses a 2-D one naming the node.
    let map (n: OnnxNode) (t: OnnxTracked) : Shape3 =
        match t.Value with
        | OnnxValue.Map s -> s
        | OnnxValue.Flat _ -> OnnxGraph.refuse n "needs a 4-D [N, C, H, W] input, receives a 2-D one"

    /// The features of a node that needs a 2-D input, and their order; a 1 x 1 map counts as its channels.
    let flat (n: OnnxNode) (t: OnnxTracked) : int * int[] option =
        match t.Value with
        | OnnxValue.Flat(f, p) -> f, p
        | OnnxValue.Map s when s.H = 1 && s.W = 1 -> s.C, None
        | OnnxValue.Map _ -> OnnxGraph.refuse n "needs a 2-D [N, F] input: flatten the map first"
