namespace Tern.Core

open System
open MathNet.Numerics.Statistics
open Tern.Runtime

/// Hand-crafted statistics of one raw window (1 x W x C, time x axes): the classic baseline's input.
[<RequireQualifiedAccess>]
module WindowFeatures =

    /// The statistics computed for each axis and for the magnitude, in feature order.
    let statistics = [
        "mean"
        "std"
        "min"
        "max"
        "median"
        "p10"
        "p90"
        "mad"
        "energy"
        "zero_crossings"
    ]

    /// The channel groups whose magnitude is a feature series: each whole x, y, z triple (accelerometer,
    /// gyroscope, ...) when there are two or more, since the norm of mixed units means nothing; otherwise all axes.
    let magnitudeGroups (axes: int) : int list list =
        if axes / 3 >= 2 then
            [ for t in 0 .. axes / 3 - 1 -> [ 3 * t .. 3 * t + 2 ] ]
        else
            [ [ 0 .. axes - 1 ] ]

    /// Feature names for C axes: per series (axis0..axisC-1, then the magnitude, or magnitude0, magnitude1, ... of
    /// each triple) the statistics in order, then the Pearson correlation of every axis pair (i < j). 43 for three
    /// axes, 95 for six.
    let names (axes: int) : string list =
        let groups = magnitudeGroups axes

        let magnitudes =
            match groups with
            | [ _ ] -> [ "magnitude" ]
            | _ -> groups |> List.mapi (fun t _ -> $"magnitude{t}")

        let series = [ for c in 0 .. axes - 1 -> $"axis{c}" ] @ magnitudes

        [
            for s in series do
                for st in statistics -> $"{s}_{st}"
            for i in 0 .. axes - 1 do
                for j in i + 1 .. axes - 1 -> $"corr_{i}{j}"
        ]

    /// How many features a window of C axes gives.
    let count (axes: int) : int =
        (axes + (magnitudeGroups axes).Length) * statistics.Length
        + axes * (axes - 1) / 2

    /// Ten statistics of one series: mean, population std, min, max, median, 10th and 90th percentiles (linear
    /// interpolation between order statistics, NumPy's default), mean absolute difference of consecutive values,
    /// energy (mean of squares), and the number of zero crossings of the series less its mean (an accelerometer
    /// axis carries gravity, so its raw sign rarely changes; crossings of the mean say how often it oscillates).
    let seriesStatistics (x: float[]) : float[] =
        let n = x.Length

        if n = 0 then
            invalidArg "x" "an empty series has no statistics"

        let mean = Array.average x
        let std = Statistics.PopulationStandardDeviation x
        let sorted = Array.sort x

        let quantile tau =
            SortedArrayStatistics.QuantileCustom(sorted, tau, QuantileDefinition.R7)

        let mad =
            if n < 2 then
                0.0
            else
                Seq.init (n - 1) (fun t -> abs (x[t + 1] - x[t])) |> Seq.average

        let energy = x |> Array.averageBy (fun v -> v * v)

        // A crossing is a change of side between consecutive values; values equal to the mean count as above it.
        let crossings =
            Seq.init (max 0 (n - 1)) (fun t -> (x[t] >= mean) <> (x[t + 1] >= mean))
            |> Seq.filter id
            |> Seq.length

        [|
            mean
            std
            sorted[0]
            sorted[n - 1]
            quantile 0.5
            quantile 0.1
            quantile 0.9
            mad
            energy
            float crossings
        |]

    /// Pearson correlation of two series; 0 when either is constant (to rounding) (it is undefined there, and a constant axis
    /// says nothing about how the axes move together).
    let correlation (a: float[]) (b: float[]) : float =
        let ma = Array.average a
        let mb = Array.average b
        let mutable sab = 0.0
        let mutable saa = 0.0
        let mutable sbb = 0.0

        for t in 0 .. a.Length - 1 do
            let da = a[t] - ma
            let db = b[t] - mb
            sab <- sab + da * db
            saa <- saa + da * da
            sbb <- sbb + db * db

        // Below this the spread is rounding in the mean of equal values, not movement.
        let still (ss: float) (m: float) =
            ss <= 1e-20 * float a.Length * (1.0 + m * m)

        if still saa ma || still sbb mb then
            0.0
        else
            max -1.0 (min 1.0 (sab / sqrt (saa * sbb)))

    /// The features of one window of the given shape (H must be 1: W time steps of C axes, HWC order), in the order
    /// of `names`.
    let ofWindow (shape: Shape3) (window: float32[]) : float[] =
        if shape.H <> 1 then
            invalidArg "shape" $"window statistics take raw windows shaped 1 x W x C, got {shape}"

        if window.Length <> shape.Size then
            invalidArg "window" $"{window.Length} values for a window of {shape}"

        let w, c = shape.W, shape.C
        let axes = Array.init c (fun k -> Array.init w (fun t -> float window[t * c + k]))

        let magnitudes =
            magnitudeGroups c
            |> List.map (fun group ->
                Array.init w (fun t -> sqrt (List.sumBy (fun k -> axes[k][t] * axes[k][t]) group)))

        [|
            for a in axes do
                yield! seriesStatistics a
            for m in magnitudes do
                yield! seriesStatistics m
            for i in 0 .. c - 1 do
                for j in i + 1 .. c - 1 -> correlation axes[i] axes[j]
        |]
