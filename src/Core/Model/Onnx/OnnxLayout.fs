namespace Tern.Core

open Tern.Runtime

/// Layout conversions between ONNX (NCHW tensors, OIHW weights, [N, C*H*W] flattening) and Tern (HWC tensors,
/// per-output-channel (kh, kw, ic) weight rows, HWC flattening).
[<RequireQualifiedAccess>]
module OnnxLayout =

    /// Conv weights OIHW ([oc, ic, kh, kw]) -> Tern rows: per output channel (kh, kw, ic).
    let convWeights (oc: int) (ic: int) (kh: int) (kw: int) (w: float32[]) : float32[] =
        let dst = Array.zeroCreate<float32>(oc * kh * kw * ic)

        for o in 0 .. oc - 1 do
            for i in 0 .. ic - 1 do
                for y in 0 .. kh - 1 do
                    for x in 0 .. kw - 1 do
                        dst[((o * kh + y) * kw + x) * ic + i] <- w[((o * ic + i) * kh + y) * kw + x]

        dst

    /// Depthwise weights [c, 1, kh, kw] -> Tern rows: per channel (kh, kw). The memory order is the same.
    let depthwiseWeights (w: float32[]) : float32[] = Array.copy w

    /// Where each element of an NCHW-flattened map (index c*H*W + h*W + w) sits in Tern's HWC flattening
    /// ((h*W + w)*C + c).
    let flattenPermutation (s: Shape3) : int[] =
        Array.init s.Size (fun k ->
            let c = k / (s.H * s.W)
            let h = (k / s.W) % s.H
            let w = k % s.W
            (h * s.W + w) * s.C + c)

    /// Whether a permutation is the identity (a map of 1 x 1 x C flattens alike in both layouts).
    let isIdentity (perm: int[]) : bool =
        perm |> Array.indexed |> Array.forall (fun (i, p) -> i = p)

    /// Dense weights (Outputs rows of Inputs) whose inputs arrive in ONNX order -> rows whose inputs arrive in Tern
    /// order: row o, column perm[i] holds the ONNX column i.
    let permuteColumns (outputs: int) (perm: int[]) (w: float32[]) : float32[] =
        let inputs = perm.Length
        let dst = Array.zeroCreate<float32> w.Length

        for o in 0 .. outputs - 1 do
            for i in 0 .. inputs - 1 do
                dst[o * inputs + perm[i]] <- w[o * inputs + i]

        dst

    /// Per-feature values in ONNX order -> Tern order.
    let permuteVector (perm: int[]) (v: float32[]) : float32[] =
        let dst = Array.zeroCreate<float32> v.Length

        for i in 0 .. v.Length - 1 do
            dst[perm[i]] <- v[i]

        dst

    /// An NCHW tensor (one sample, C x H x W values) -> Tern's HWC tensor.
    let nchwToHwc (s: Shape3) (data: float32[]) : Tensor =
        let dst = Array.zeroCreate<float32> s.Size
        let perm = flattenPermutation s

        for k in 0 .. s.Size - 1 do
            dst[perm[k]] <- data[k]

        { Shape = s; Data = dst }

    /// Tern's HWC tensor -> NCHW values (one sample).
    let hwcToNchw (t: Tensor) : float32[] =
        let perm = flattenPermutation t.Shape
        Array.init t.Shape.Size (fun k -> t.Data[perm[k]])

    /// ONNX pads of a 2-D window ([top, left, bottom, right]: begins then ends) -> Tern's Padding.
    let padding (pads: int64[]) : Padding = {
        Top = int pads[0]
        Left = int pads[1]
        Bottom = int pads[2]
        Right = int pads[3]
    }
