namespace Tern.Core

open System.IO
open Tern.Runtime

/// The integer contract written out once more in F#, slowly and plainly, with no code shared with the
/// C# kernels: the third voice in every bit-exactness test (reference == scalar == optimized).
[<RequireQualifiedAccess>]
module IntReference =

    /// Single-rounding dyadic requantization: clamp((acc * M + 2^(S-1)) >>> S + zOut, lo, hi), in int64.
    let requantize (acc: int) (multiplier: int) (shift: int) (outputZero: int) (lo: int) (hi: int) : int =
        let scaled = (int64 acc * int64 multiplier + (1L <<< (shift - 1))) >>> shift
        let v = scaled + int64 outputZero

        if v < int64 lo then lo
        elif v > int64 hi then hi
        else int v

    /// Index of the first maximum.
    let argmax (values: sbyte[]) : int =
        if values.Length = 0 then
            invalidArg (nameof values) "argmax of an empty vector"

        let mutable best = 0

        for i in 1 .. values.Length - 1 do
            if values[i] > values[best] then
                best <- i

        best

    /// Weights of a convolution-like layer as one int row per output channel, ternary decoded to -1/0/+1.
    let private weightRows (l: IntConvLayer) : int[] =
        match l.WeightKind with
        | WeightKind.Int8 -> l.Int8Weights |> Array.map int
        | WeightKind.Ternary -> l.TernaryWeights.Unpack() |> Array.map int
        | k -> raise (InvalidDataException(sprintf "layer '%s': unknown weight kind %d" l.Name (int k)))

    /// Conv, Pointwise, Dense and Depthwise, straight from acc = bias + sum (q_in - z_in) * w.
    let private conv (l: IntConvLayer) (input: sbyte[]) : sbyte[] =
        let w = weightRows l
        let fanIn = l.FanIn
        let inS, outS = l.Input, l.Output

        let x (h: int) (wi: int) (c: int) : int =
            int input[(h * inS.W + wi) * inS.C + c] - l.InputZero

        let inside (h: int) (wi: int) : bool =
            h >= 0 && h < inS.H && wi >= 0 && wi < inS.W

        let out = Array.zeroCreate<sbyte> outS.Size

        for oy in 0 .. outS.H - 1 do
            for ox in 0 .. outS.W - 1 do
                for oc in 0 .. outS.C - 1 do
                    let mutable acc = l.Bias[oc]

                    match l.Kind with
                    | IntLayerKind.Dense ->
                        // HWC flatten order is the storage order, so input index j is weight column j.
                        for j in 0 .. fanIn - 1 do
                            acc <- acc + (int input[j] - l.InputZero) * w[oc * fanIn + j]
                    | IntLayerKind.Depthwise ->
                        for ky in 0 .. l.KernelH - 1 do
                            for kx in 0 .. l.KernelW - 1 do
                                let iy = oy * l.StrideH - l.PadTop + ky
                                let ix = ox * l.StrideW - l.PadLeft + kx

                                if inside iy ix then
                                    acc <- acc + x iy ix oc * w[oc * fanIn + ky * l.KernelW + kx]
                    | _ ->
                        for ky in 0 .. l.KernelH - 1 do
                            for kx in 0 .. l.KernelW - 1 do
                                let iy = oy * l.StrideH - l.PadTop + ky
                                let ix = ox * l.StrideW - l.PadLeft + kx

                                if inside iy ix then
                                    for ic in 0 .. inS.C - 1 do
                                        acc <- acc + x iy ix ic * w[oc * fanIn + (ky * l.KernelW + kx) * inS.C + ic]

                    let q = requantize acc l.Multiplier[oc] l.Shift[oc] l.OutputZero l.ActMin l.ActMax
                    out[(oy * outS.W + ox) * outS.C + oc] <- sbyte q

        out

    /// MaxPool (clamped max of codes), AvgPool and GlobalAvgPool (requantized sum of q_in - z_in). A padded
    /// position of a window is the code of real zero, the input zero point, and counts like any other.
    let private pool (l: IntPoolLayer) (input: sbyte[]) : sbyte[] =
        let inS, outS = l.Input, l.Output
        let out = Array.zeroCreate<sbyte> outS.Size

        let code (h: int) (w: int) (c: int) : int =
            if h >= 0 && h < inS.H && w >= 0 && w < inS.W then
                int input[(h * inS.W + w) * inS.C + c]
            else
                l.InputZero

        for oy in 0 .. outS.H - 1 do
            for ox in 0 .. outS.W - 1 do
                for c in 0 .. outS.C - 1 do
                    let window = [|
                        for ky in 0 .. l.KernelH - 1 do
                            for kx in 0 .. l.KernelW - 1 do
                                code (oy * l.StrideH - l.PadTop + ky) (ox * l.StrideW - l.PadLeft + kx) c
                    |]

                    let q =
                        if l.Kind = IntLayerKind.MaxPool then
                            max l.ActMin (min l.ActMax (Array.max window))
                        else
                            let acc = window |> Array.sumBy (fun v -> v - l.InputZero)
                            requantize acc l.Multiplier l.Shift l.OutputZero l.ActMin l.ActMax

                    out[(oy * outS.W + ox) * outS.C + c] <- sbyte q

        out

    /// Residual add, written from the contract: one shift S for both terms, single rounding, in int64.
    let add (l: IntAddLayer) (input: sbyte[]) (skip: sbyte[]) : sbyte[] =
        if input.Length <> l.Input.Size || skip.Length <> l.Input.Size then
            invalidArg (nameof skip) (sprintf "layer '%s' adds two tensors of %d values" l.Name l.Input.Size)

        Array.init input.Length (fun i ->
            let acc =
                int64 (int input[i] - l.InputZero) * int64 l.MultiplierA
                + int64 (int skip[i] - l.SkipZero) * int64 l.MultiplierB

            let v = ((acc + (1L <<< (l.Shift - 1))) >>> l.Shift) + int64 l.OutputZero
            sbyte (max (int64 l.ActMin) (min (int64 l.ActMax) v)))

    /// One layer's output from its input (a residual add needs its skip tensor too: see `add`).
    let runLayer (layer: IntLayer) (input: sbyte[]) : sbyte[] =
        if input.Length <> layer.Input.Size then
            invalidArg
                (nameof input)
                (sprintf "layer '%s' expects %d inputs, got %d" layer.Name layer.Input.Size input.Length)

        match layer with
        | :? IntConvLayer as l -> conv l input
        | :? IntPoolLayer as l -> pool l input
        | :? IntFlattenLayer -> Array.copy input
        | :? IntAddLayer as l -> raise (InvalidDataException(sprintf "layer '%s' (add) needs its block's input" l.Name))
        | l -> raise (InvalidDataException(sprintf "layer '%s' (%A) has no reference" l.Name l.Kind))

    /// Every layer's output, in order, after validating the model.
    let runLayers (model: IntModel) (input: sbyte[]) : sbyte[] list =
        model.Validate()

        if input.Length <> model.Input.Size then
            invalidArg
                (nameof input)
                (sprintf "model '%s' expects %d inputs, got %d" model.Name model.Input.Size input.Length)

        // inputs[k] is layer k's input; a residual add reads the one its span points at.
        let inputs = Array.zeroCreate<sbyte[]>(model.Layers.Length + 1)
        inputs[0] <- input

        model.Layers
        |> Array.iteri (fun k l ->
            inputs[k + 1] <-
                match l with
                | :? IntAddLayer as a -> add a inputs[k] inputs[k - a.Span]
                | _ -> runLayer l inputs[k])

        inputs |> Array.toList |> List.tail

    /// The model's int8 output (logits).
    let run (model: IntModel) (input: sbyte[]) : sbyte[] =
        match List.tryLast (runLayers model input) with
        | Some out -> out
        | None -> Array.copy input
