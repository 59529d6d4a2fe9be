module Tern.Tests.WindowFeaturesTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

/// A raw window of 2..40 time steps and 1..4 axes, values in [-1, 1] on a grid of 1/1000.
let private windows =
    gen {
        let! w = Gen.choose (2, 40)
        let! c = Gen.choose (1, 7)
        let! values = Gen.arrayOfLength (w * c) (Gen.choose (-1000, 1000))
        return Shape3(1, w, c), values |> Array.map (fun v -> float32 v / 1000.0f)
    }
    |> Arb.fromGen

let private close (a: float) (b: float) =
    abs (a - b) <= 1e-6 * (1.0 + abs a + abs b)

let private allClose (a: float[]) (b: float[]) =
    a.Length = b.Length && Array.forall2 close a b

let private k = WindowFeatures.statistics.Length

let private ``one series by hand`` () =
    // 1 2 3 4: mean 2.5, std sqrt(1.25), median 2.5, p10 = 1 + 0.1 * 3, p90 = 1 + 0.9 * 3, one crossing of the mean.
    let s = WindowFeatures.seriesStatistics [| 1.0; 2.0; 3.0; 4.0 |]
    let expected = [| 2.5; sqrt 1.25; 1.0; 4.0; 2.5; 1.3; 3.7; 1.0; 7.5; 1.0 |]
    Expect.isTrue (allClose s expected) $"%A{s} against %A{expected}"

    // 0 2 0 2 0: mean 0.8, values alternate around it: four crossings; mean absolute difference 2.
    let z = WindowFeatures.seriesStatistics [| 0.0; 2.0; 0.0; 2.0; 0.0 |]
    Expect.equal z[9] 4.0 "zero crossings of the mean-removed series"
    Expect.equal z[7] 2.0 "mean absolute difference"
    Expect.isTrue (close z[1] (sqrt 0.96)) $"population std {z[1]}"

let private ``a window by hand: magnitude and correlations`` () =
    // Two steps, three axes: (3, 0, 1) then (0, 4, 1); magnitudes sqrt 10 and sqrt 17.
    let f =
        WindowFeatures.ofWindow (Shape3(1, 2, 3)) [| 3.0f; 0.0f; 1.0f; 0.0f; 4.0f; 1.0f |]

    Expect.equal f.Length 43 "43 features for three axes"
    Expect.equal (WindowFeatures.names 3).Length 43 "43 names"
    Expect.isTrue (close f[3 * k] ((sqrt 10.0 + sqrt 17.0) / 2.0)) "magnitude mean"
    Expect.isTrue (close f[40] -1.0) "x and y move against each other"
    Expect.equal f[41] 0.0 "a constant axis correlates 0"
    Expect.equal f[42] 0.0 "a constant axis correlates 0"

let private ``six axes: one magnitude per triple`` () =
    // One step of accelerometer (3, 0, 4) and gyroscope (0, 1, 0): magnitudes 5 and 1, never sqrt 26.
    let f =
        WindowFeatures.ofWindow (Shape3(1, 1, 6)) [| 3.0f; 0.0f; 4.0f; 0.0f; 1.0f; 0.0f |]

    let names = WindowFeatures.names 6
    Expect.equal f.Length (WindowFeatures.count 6) "count"
    Expect.equal names.Length 95 "95 names"
    Expect.equal names[6 * k] "magnitude0_mean" "first magnitude after the axes"
    Expect.isTrue (close f[6 * k] 5.0) "accelerometer magnitude"
    Expect.isTrue (close f[7 * k] 1.0) "gyroscope magnitude"

let private ``std is the root mean square deviation`` (shape: Shape3, x: float32[]) =
    let f = WindowFeatures.ofWindow shape x

    [ 0 .. shape.C - 1 ]
    |> List.forall (fun c ->
        let a = Array.init shape.W (fun t -> float x[t * shape.C + c])
        let m = Array.average a
        let std = sqrt (a |> Array.averageBy (fun v -> (v - m) * (v - m)))
        close f[c * k + 1] std && close f[c * k] m)

let private ``shifting an axis moves its location statistics and nothing of its spread or correlations``
    (shape: Shape3, x: float32[], shiftMilli: int)
    =
    let b = float32 (shiftMilli % 2000) / 1000.0f
    let shifted = x |> Array.mapi (fun i v -> if i % shape.C = 0 then v + b else v)
    let f = WindowFeatures.ofWindow shape x
    let g = WindowFeatures.ofWindow shape shifted
    let tol (a: float) (c: float) = abs (a - c) <= 1e-5
    // mean, min, max, median, p10, p90 move by b (float32 input rounding aside); std, mad, crossings stay.
    let moved =
        [ 0; 2; 3; 4; 5; 6 ] |> List.forall (fun i -> tol (g[i] - f[i]) (float b))

    let kept = [ 1; 7 ] |> List.forall (fun i -> tol g[i] f[i])
    let corr = (shape.C + (WindowFeatures.magnitudeGroups shape.C).Length) * k

    let correlations =
        [ corr .. f.Length - 1 ] |> List.forall (fun i -> abs (g[i] - f[i]) <= 1e-4)

    moved && kept && correlations

let private ``time reversal changes no feature`` (shape: Shape3, x: float32[]) =
    let c = shape.C

    let reversed = Array.init x.Length (fun i -> x[(shape.W - 1 - i / c) * c + i % c])

    allClose (WindowFeatures.ofWindow shape x) (WindowFeatures.ofWindow shape reversed)

let private ``features count and order follow the names`` (shape: Shape3, x: float32[]) =
    let f = WindowFeatures.ofWindow shape x

    f.Length = WindowFeatures.count shape.C
    && (WindowFeatures.names shape.C).Length = f.Length
    && f |> Array.forall Double.IsFinite

[<Tests>]
let tests =
    testList "WindowFeaturesTests" [
        testCase "one series by hand" ``one series by hand``
        testCase "a window by hand: magnitude and correlations" ``a window by hand: magnitude and correlations``
        testCase "six axes: one magnitude per triple" ``six axes: one magnitude per triple``
        testProperty
            "std is the root mean square deviation"
            (Prop.forAll windows ``std is the root mean square deviation``)
        testProperty "shifting an axis moves its location statistics and nothing of its spread or correlations"
        <| fun (shift: int) ->
            Prop.forAll windows (fun (s, x) ->
                ``shifting an axis moves its location statistics and nothing of its spread or correlations`` (
                    s,
                    x,
                    shift
                ))
        testProperty "time reversal changes no feature" (Prop.forAll windows ``time reversal changes no feature``)
        testProperty
            "features count and order follow the names"
            (Prop.forAll windows ``features count and order follow the names``)
        testCase "a spectrogram-shaped input is refused" (fun () ->
            Expect.throwsT<ArgumentException>
                (fun () -> WindowFeatures.ofWindow (Shape3(2, 2, 1)) (Array.zeroCreate 4) |> ignore)
                "H must be 1")
    ]
