/// Central-difference gradient checks of both training paths (Train.gradients Naive and Optimised).
module Tern.Tests.GradCheck

open System
open Tern.Core

/// The parameter array (live, in the model) of a layer by name.
let paramArray (model: Model) (index: int) (name: string) : float32[] =
    match model.Layers[index], name with
    | (Conv2d c | DepthwiseConv2d c | Pointwise c), "weight" -> c.Weight
    | (Conv2d c | DepthwiseConv2d c | Pointwise c), "bias" -> c.Bias
    | Dense d, "weight" -> d.Weight
    | Dense d, "bias" -> d.Bias
    | BatchNorm b, "gamma" -> b.Gamma
    | BatchNorm b, "beta" -> b.Beta
    | _ -> failwith $"no parameter {name} in layer {index}"

let close (analytic: float32) (numeric: float) =
    abs (float analytic - numeric)
    <= 2e-3 + 2e-2 * max (abs numeric) (abs (float analytic))

let eps = 3e-3

/// Central differences of the training-mode loss against both paths' gradients, on up to 40 coordinates of
/// every parameter and of the inputs. Returns the failures as text (empty when all agree).
let gradCheck (model: Model) (cw: float32[] option) (inputs: float32[][]) (labels: int[]) : string list =
    let rng = Random(17)
    let naive = Train.gradients Naive model cw inputs labels
    let fast = Train.gradients Optimised model cw inputs labels
    let lossAt () = Train.loss model cw inputs labels

    let pick n =
        if n <= 40 then
            [ 0 .. n - 1 ]
        else
            List.init 40 (fun _ -> rng.Next n) |> List.distinct

    let probe (what: string) (arr: float32[]) (j: int) (a: float32) (b: float32) =
        let saved = arr[j]
        let hi = saved + float32 eps
        let lo = saved - float32 eps
        arr[j] <- hi
        let up = lossAt ()
        arr[j] <- lo
        let down = lossAt ()
        arr[j] <- saved
        // Divided by the step float32 really took.
        let numeric = (up - down) / float (hi - lo)

        [
            if not (close a numeric) then
                $"{what}[{j}]: naive {a} vs numeric {numeric}"
            if not (close b numeric) then
                $"{what}[{j}]: optimised {b} vs numeric {numeric}"
        ]

    [
        for (li, name, g), (_, _, g2) in List.zip naive.Params fast.Params do
            let arr = paramArray model li name

            for j in pick arr.Length do
                yield! probe $"layer {li} {name}" arr j g[j] g2[j]
        for i in 0 .. inputs.Length - 1 do
            for j in pick inputs[i].Length do
                yield! probe $"input {i}" inputs[i] j (naive.Inputs[i][j]) (fast.Inputs[i][j])
    ]
