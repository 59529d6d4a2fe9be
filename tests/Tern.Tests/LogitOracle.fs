/// The float-vs-integer figures computed the plain way from pooled logits (k per sample, float f and integer q
/// dequantized), independently of FloatVsInteger: the oracle FloatVsIntegerTests and HeldOutCliTests check against.
module Tern.Tests.LogitOracle

let private norm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v)

let private top (v: float[]) = Array.findIndex ((=) (Array.max v)) v

/// |q - f| / |f|.
let l2r (f: float[]) (q: float[]) : float = norm (Array.map2 (-) q f) / norm f

/// f . q / (|f| |q|).
let cosine (f: float[]) (q: float[]) : float =
    Array.fold2 (fun s a b -> s + a * b) 0.0 f q / (norm f * norm q)

/// How many samples (k logits each) have the same top class in both.
let agreeing (k: int) (f: float[]) (q: float[]) : int =
    Array.zip (Array.chunkBySize k f) (Array.chunkBySize k q)
    |> Array.filter (fun (a, b) -> top a = top b)
    |> Array.length
