module Tern.Tests.AugmentTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core

/// A small HWC shape with a sample of distinct values and an offset, possibly negative or beyond W.
let private cases =
    gen {
        let! h = Gen.choose (1, 4)
        let! w = Gen.choose (1, 9)
        let! c = Gen.choose (1, 3)
        let! offset = Gen.choose (-20, 20)
        let shape = Shape3(h, w, c)
        return shape, Array.init shape.Size float32, offset
    }
    |> Arb.fromGen

let private ``time shift moves column (w + offset) mod W to column w, in every row and channel`` () =
    Prop.forAll cases (fun (shape, x, offset) ->
        let y = Augment.timeShift shape offset x

        for h in 0 .. shape.H - 1 do
            for w in 0 .. shape.W - 1 do
                for c in 0 .. shape.C - 1 do
                    let src = ((w + offset) % shape.W + shape.W) % shape.W

                    Expect.equal
                        y[(h * shape.W + w) * shape.C + c]
                        x[(h * shape.W + src) * shape.C + c]
                        $"row {h}, column {w}, channel {c}"
        |> ignore

        Prop.classify (offset % shape.W = 0) "identity" true)

let private ``two time shifts are one shift by their sum`` () =
    Prop.forAll cases (fun (shape, x, offset) ->
        let twice = Augment.timeShift shape 3 (Augment.timeShift shape offset x)
        box twice = box (Augment.timeShift shape (offset + 3) x))

let private ``no augmentation returns the sample itself and draws nothing`` () =
    let shape = Shape3(2, 5, 1)
    let x = Array.init shape.Size float32
    let a, b = Random 7, Random 7
    Expect.isTrue (obj.ReferenceEquals(Augment.apply NoAugmentation shape a x, x)) "the sample itself"
    Expect.equal (a.Next()) (b.Next()) "nothing drawn"

let private ``time shift is deterministic for a seed`` () =
    let shape = Shape3(3, 8, 2)
    let x = Array.init shape.Size float32

    let draw () =
        Augment.apply TimeShift shape (Random 11) x

    Expect.equal (draw ()) (draw ()) "two draws with seed 11"

let private ``time shift rejects a sample of the wrong size`` () =
    Expect.throwsT<ArgumentException>
        (fun () -> Augment.timeShift (Shape3(2, 2, 1)) 1 [| 1.0f |] |> ignore)
        "one value for a 2x2x1 shape"

let private ``augmentation names parse, unknown ones are refused`` () =
    Expect.equal (Augment.parse "time-shift") (Ok TimeShift) "time-shift"
    Expect.equal (Augment.parse "none") (Ok NoAugmentation) "none"
    Expect.isTrue (Result.isError (Augment.parse "mixup")) "an unknown augmentation"

/// Values in [-2, 2] on a grid of 1/1000 (finite, mostly distinct).
let private values (n: int) : Gen<float32[]> =
    Gen.choose (-2000, 2000)
    |> Gen.map (fun v -> float32 v / 1000.0f)
    |> Gen.arrayOfLength n

/// A raw window 1 x W x C with C >= 3 (x, y, z first) and its values.
let private rawCases =
    gen {
        let! w = Gen.choose (1, 12)
        let! c = Gen.choose (3, 7)
        let shape = Shape3(1, w, c)
        let! x = values shape.Size
        return shape, x
    }

/// A spectrogram H x W x C with H >= 2 and its values.
let private specCases =
    gen {
        let! h = Gen.choose (2, 6)
        let! w = Gen.choose (1, 8)
        let! c = Gen.choose (1, 3)
        let shape = Shape3(h, w, c)
        let! x = values shape.Size
        return shape, x
    }

/// A unit axis (from a nonzero integer vector) and an angle in [-pi, pi].
let private rotations =
    gen {
        let! v =
            Gen.three (Gen.choose (-50, 50))
            |> Gen.filter (fun (a, b, c) -> a <> 0 || b <> 0 || c <> 0)

        let! a = Gen.choose (-1000, 1000)
        let x, y, z = v
        let n = sqrt (float (x * x + y * y + z * z))
        return (float x / n, float y / n, float z / n), float a / 1000.0 * Math.PI
    }

let private norm (x: float32[]) (i: int) =
    sqrt (
        float x[i] * float x[i]
        + float x[i + 1] * float x[i + 1]
        + float x[i + 2] * float x[i + 2]
    )

let private near (tol: float) (a: float) (b: float) = abs (a - b) <= tol * (1.0 + abs b)

let private ``rotation keeps each triple's norm and the channels after the last triple`` () =
    Prop.forAll (Gen.zip rawCases rotations |> Arb.fromGen) (fun ((shape, x), (axis, angle)) ->
        let y = Augment.rotate shape axis angle x
        let triples = shape.C / 3

        let starts = [
            for p in 0 .. shape.W - 1 do
                for t in 0 .. triples - 1 -> p * shape.C + 3 * t
        ]

        y.Length = x.Length
        && starts |> List.forall (fun i -> near 1e-5 (norm y i) (norm x i))
        && Seq.forall (fun i -> i % shape.C < 3 * triples || y[i] = x[i]) [ 0 .. x.Length - 1 ])

let private ``rotation turns the gyroscope triple with the accelerometer one`` () =
    Prop.forAll (Gen.zip rawCases rotations |> Arb.fromGen) (fun ((shape, x), (axis, angle)) ->
        // Six channels whose second triple repeats the first: both must come out the same.
        let six = Shape3(1, shape.W, 6)

        let doubled =
            Array.init six.Size (fun i ->
                let p, c = i / 6, i % 6
                x[p * shape.C + c % 3])

        let y = Augment.rotate six axis angle doubled

        let alone =
            Augment.rotate
                (Shape3(1, shape.W, 3))
                axis
                angle
                (Array.init (3 * shape.W) (fun i -> doubled[i / 3 * 6 + i % 3]))

        Seq.forall (fun i -> y[i] = y[i + 3] && y[i] = alone[i / 6 * 3 + i % 6]) [
            for p in 0 .. shape.W - 1 do
                for c in 0..2 -> p * 6 + c
        ])

let private ``rotation leaves its axis in place and is undone by the opposite angle`` () =
    Prop.forAll (rotations |> Arb.fromGen) (fun (axis, angle) ->
        let shape = Shape3(1, 2, 3)
        let kx, ky, kz = axis
        // The axis itself, and a vector off it.
        let x = [| float32 kx; float32 ky; float32 kz; 0.3f; -1.2f; 0.7f |]
        let y = Augment.rotate shape axis angle x
        let back = Augment.rotate shape axis -angle y

        Seq.forall (fun i -> near 1e-5 (float y[i]) (float x[i])) [ 0..2 ]
        && Seq.forall (fun i -> near 1e-5 (float back[i]) (float x[i])) [ 0..5 ])

let private ``rotation by angle 0 is the identity`` () =
    Prop.forAll (Gen.zip rawCases rotations |> Arb.fromGen) (fun ((shape, x), (axis, _)) ->
        Augment.rotate shape axis 0.0 x = x
        && Augment.apply (Rotate 0.0) shape (Random 5) x = x)

let private ``rotation turns a quarter about z as a right-handed quarter`` () =
    let y =
        Augment.rotate (Shape3(1, 1, 3)) (0.0, 0.0, 1.0) (Math.PI / 2.0) [| 1.0f; 0.0f; 0.5f |]

    Expect.floatClose Accuracy.high (float y[0]) 0.0 "x goes to 0"
    Expect.floatClose Accuracy.high (float y[1]) 1.0 "y gets x"
    Expect.equal y[2] 0.5f "z stays"

let private ``scaling multiplies by one factor in its range, by 1 it is the identity`` () =
    Prop.forAll (Gen.zip rawCases (Gen.choose (0, 50)) |> Arb.fromGen) (fun ((shape, x), s) ->
        let spread = float s / 100.0
        let y = Augment.apply (Scale spread) shape (Random s) x
        let nonzero = [ 0 .. x.Length - 1 ] |> List.filter (fun i -> x[i] <> 0.0f)
        let ratios = nonzero |> List.map (fun i -> float y[i] / float x[i])

        Augment.scale shape 1.0 x = x
        && Augment.apply (Scale 0.0) shape (Random s) x = x
        && ratios
           |> List.forall (fun r -> r >= 1.0 - spread - 1e-6 && r <= 1.0 + spread + 1e-6)
        && (ratios.IsEmpty || ratios |> List.forall (near 1e-5 ratios.Head)))

let private ``jitter with sigma 0 is the identity; it adds its noise value by value`` () =
    Prop.forAll (rawCases |> Arb.fromGen) (fun (shape, x) ->
        let noise = Array.init x.Length (fun i -> float (i % 7) / 100.0)
        let y = Augment.jitter shape noise x

        Augment.apply (Jitter 0.0) shape (Random 3) x = x
        && Seq.forall (fun i -> y[i] = float32 (float x[i] + noise[i])) [ 0 .. x.Length - 1 ])

let private ``jitter's noise has mean 0 and standard deviation sigma`` () =
    let shape = Shape3(1, 4000, 5)
    let y = Augment.apply (Jitter 0.05) shape (Random 17) (Array.zeroCreate shape.Size)
    let mean = Array.averageBy float y
    let sd = sqrt (Array.averageBy (fun v -> (float v - mean) ** 2.0) y)
    Expect.isLessThan (abs mean) 0.002 "mean near 0 (20000 draws)"
    Expect.floatClose { absolute = 0.002; relative = 0.0 } sd 0.05 "standard deviation near 0.05"

/// Speeds of a warp: 1..4 knots, each in [0.25, 4].
let private speeds =
    Gen.choose (-20, 20)
    |> Gen.map (fun v -> exp (float v / 10.0))
    |> Gen.nonEmptyListOf
    |> Gen.map (List.truncate 4 >> Array.ofList)

let private ``warping keeps the first and last column and stays within each series' range`` () =
    Prop.forAll (Gen.zip rawCases speeds |> Arb.fromGen) (fun ((shape, x), sp) ->
        let y = Augment.warp shape sp x
        let at (a: float32[]) j c = a[j * shape.C + c]

        Seq.forall
            (fun c ->
                let series = [| for j in 0 .. shape.W - 1 -> at x j c |]
                let lo, hi = Array.min series, Array.max series

                at y 0 c = at x 0 c
                && at y (shape.W - 1) c = at x (shape.W - 1) c
                && Seq.forall (fun j -> at y j c >= lo && at y j c <= hi) [ 0 .. shape.W - 1 ])
            [ 0 .. shape.C - 1 ])

let private ``warping a ramp gives a monotone ramp; equal speeds and zero strength are the identity`` () =
    Prop.forAll (Gen.zip (Gen.choose (1, 40)) speeds |> Arb.fromGen) (fun (w, sp) ->
        let shape = Shape3(1, w, 1)
        let ramp = Array.init w float32
        let y = Augment.warp shape sp ramp
        let flat = Array.create sp.Length sp[0]

        Seq.forall (fun j -> y[j] >= y[j - 1]) [ 1 .. w - 1 ]
        && Augment.warp shape flat ramp = ramp
        && Augment.apply (Warp 0.0) shape (Random w) ramp = ramp)

let private ``warping with uneven speeds moves the inside of a window`` () =
    let shape = Shape3(1, 9, 1)
    let y = Augment.warp shape [| 4.0; 0.25 |] (Array.init 9 float32)
    Expect.isGreaterThan y[4] 4.5f "fast early, slow late: the middle is read from later on"
    Expect.equal (y[0], y[8]) (0.0f, 8.0f) "ends fixed"

/// The columns (or rows, by `along`) where y differs from x.
let private changed (shape: Shape3) (along: int -> int * int) (x: float32[]) (y: float32[]) =
    [ 0 .. x.Length - 1 ]
    |> List.filter (fun i -> x[i] <> y[i])
    |> List.map (fun i -> along i)

let private means (shape: Shape3) (x: float32[]) =
    Array.init shape.C (fun c ->
        float32 (
            (Seq.sum [ for i in c .. shape.C .. x.Length - 1 -> float x[i] ])
            / float (shape.H * shape.W)
        ))

let private ``a time mask changes only a band of at most T frames, to the channel means`` () =
    Prop.forAll (Gen.zip specCases (Gen.choose (0, 9)) |> Arb.fromGen) (fun ((shape, x), t) ->
        let y = Augment.apply (TimeMask t) shape (Random(t + x.Length)) x
        let cols = changed shape (fun i -> (i / shape.C) % shape.W, i % shape.C) x y
        let frames = cols |> List.map fst |> List.distinct
        let m = means shape x

        frames.Length <= t
        && (frames.IsEmpty || List.max frames - List.min frames < t)
        && cols
           |> List.forall (fun (j, c) ->
               Seq.forall (fun h -> y[(h * shape.W + j) * shape.C + c] = m[c]) [ 0 .. shape.H - 1 ]))

let private ``a frequency mask changes only a band of at most F bins, to the channel means`` () =
    Prop.forAll (Gen.zip specCases (Gen.choose (0, 9)) |> Arb.fromGen) (fun ((shape, x), f) ->
        let y = Augment.apply (FreqMask f) shape (Random(f + x.Length)) x
        let rows = changed shape (fun i -> i / (shape.W * shape.C), i % shape.C) x y
        let bins = rows |> List.map fst |> List.distinct
        let m = means shape x

        bins.Length <= f
        && (bins.IsEmpty || List.max bins - List.min bins < f)
        && rows
           |> List.forall (fun (h, c) ->
               Seq.forall (fun j -> y[(h * shape.W + j) * shape.C + c] = m[c]) [ 0 .. shape.W - 1 ]))

let private ``masks set exactly the band asked for`` () =
    let shape = Shape3(3, 6, 2)
    let x = Array.init shape.Size (fun i -> float32 (i * i % 17) + 100.0f)
    let t = Augment.timeMask shape 2 3 x
    let f = Augment.freqMask shape 1 1 x

    let diff (y: float32[]) (pos: int -> int) =
        [ 0 .. x.Length - 1 ]
        |> List.filter (fun i -> y[i] <> x[i])
        |> List.map pos
        |> List.distinct
        |> List.sort

    Expect.equal (diff t (fun i -> (i / shape.C) % shape.W)) [ 2; 3; 4 ] "frames 2..4"
    Expect.equal (diff f (fun i -> i / (shape.W * shape.C))) [ 1 ] "bin 1"
    Expect.equal (Augment.timeMask shape 0 0 x) x "an empty band changes nothing"

/// Every step and the presets, each with a shape it fits and a sample.
let private fitting =
    gen {
        let! (raw, rx) = rawCases
        let! (spec, sx) = specCases
        let! a = Gen.elements [ 0..9 ]

        return
            match a with
            | 0 -> Rotate 15.0, raw, rx
            | 1 -> Scale 0.1, raw, rx
            | 2 -> Jitter 0.01, raw, rx
            | 3 -> Warp 0.2, raw, rx
            | 4 -> Augment.imu, raw, rx
            | 5 -> TimeShift, raw, rx
            | 6 -> TimeMask 4, spec, sx
            | 7 -> FreqMask 3, spec, sx
            | 8 -> Augment.spec, spec, sx
            | _ -> Compose [ TimeShift; TimeMask 2 ], spec, sx
    }

let private ``every step keeps the shape and gives the same result for the same seed`` () =
    Prop.forAll (Gen.zip fitting (Gen.choose (0, 1000)) |> Arb.fromGen) (fun ((a, shape, x), seed) ->
        let y = Augment.apply a shape (Random seed) x
        let again = Augment.apply a shape (Random seed) x

        (y.Length = shape.Size
         && Augment.fits a shape = Ok()
         && y = again
         && Seq.forall Single.IsFinite y)
        |> Prop.classify (y = x) "unchanged")

let private ``a composition applies its steps in order with one stream of draws`` () =
    let shape = Shape3(1, 10, 3)
    let x = Array.init shape.Size (fun i -> float32 (sin (float i)))
    let rng = Random 9
    let step1 = Augment.apply (Rotate 15.0) shape rng x
    let step2 = Augment.apply (Warp 0.2) shape rng step1
    Expect.equal (Augment.apply (Compose [ Rotate 15.0; Warp 0.2 ]) shape (Random 9) x) step2 "rotate then warp"

let private ``presets and steps that do not fit the data are refused, naming what fits`` () =
    let spec, raw = Shape3(16, 16, 3), Shape3(1, 64, 3)
    Expect.stringContains (Assertions.err (Augment.fits Augment.imu spec)) "spectrogram" "imu on a spectrogram"
    Expect.stringContains (Assertions.err (Augment.fits Augment.spec raw)) "raw windows" "spec on raw windows"
    Expect.stringContains (Assertions.err (Augment.fits (Rotate 15.0) (Shape3(1, 64, 2)))) "x, y, z" "two channels"

    Expect.isError (Augment.fits (Compose [ TimeShift; FreqMask 2 ]) raw) "a list with one unfit step"
    Expect.isOk (Augment.fits TimeShift spec) "time-shift fits all"
    Expect.isOk (Augment.fits TimeShift raw) "time-shift fits all"

    Expect.throwsT<ArgumentException>
        (fun () -> Augment.apply Augment.imu spec (Random 1) (Array.zeroCreate spec.Size) |> ignore)
        "apply refuses too"

/// Augmentations as parse builds them: a step (default or other parameter) or a flat list of two or more.
let private augmentations =
    let step =
        Gen.oneof [
            Gen.constant TimeShift
            Gen.choose (0, 1800) |> Gen.map (fun v -> Rotate(float v / 10.0))
            Gen.choose (0, 99) |> Gen.map (fun v -> Scale(float v / 100.0))
            Gen.choose (0, 1000) |> Gen.map (fun v -> Jitter(float v / 1000.0))
            Gen.choose (0, 100) |> Gen.map (fun v -> Warp(float v / 100.0))
            Gen.choose (0, 20) |> Gen.map TimeMask
            Gen.choose (0, 20) |> Gen.map FreqMask
            Gen.elements [ Rotate 15.0; Scale 0.1; Jitter 0.01; Warp 0.2; TimeMask 4; FreqMask 3 ]
        ]

    Gen.oneof [
        Gen.constant NoAugmentation
        step
        Gen.listOf step |> Gen.map (fun l -> Augment.compose l)
        Gen.elements [ Augment.imu; Augment.spec ]
    ]

let private ``names parse back to the same augmentation`` () =
    Prop.forAll (augmentations |> Arb.fromGen) (fun a -> Augment.parse (Augment.name a) = Ok a)

let private ``presets and lists parse to their steps`` () =
    Expect.equal (Augment.parse "imu") (Ok(Compose [ Rotate 15.0; Scale 0.1; Jitter 0.01; Warp 0.2 ])) "imu"
    Expect.equal (Augment.parse "spec") (Ok(Compose [ TimeMask 4; FreqMask 3 ])) "spec"
    Expect.equal (Augment.parse "Rotate, scale ,jitter") (Ok(Compose [ Rotate 15.0; Scale 0.1; Jitter 0.01 ])) "a list"
    Expect.equal (Augment.parse "rotate=20,time-mask=2") (Ok(Compose [ Rotate 20.0; TimeMask 2 ])) "parameters"
    Expect.equal (Augment.parse "none,warp") (Ok(Warp 0.2)) "none drops out of a list"
    Expect.equal (Augment.name Augment.imu) "imu" "the preset's own name"
    Expect.equal (Augment.name (Compose [ Scale 0.2; TimeShift ])) "scale=0.2,time-shift" "a list's name"

    for bad in
        [
            "rotate=200"
            "scale=-0.1"
            "time-mask=1.5"
            "none=1"
            "rotate,,scale"
            ""
            "imu,mixup"
        ] do
        Expect.isError (Augment.parse bad) bad


[<Tests>]
let tests =
    testList "AugmentTests" [
        testProperty
            "time shift moves column (w + offset) mod W to column w, in every row and channel"
            ``time shift moves column (w + offset) mod W to column w, in every row and channel``
        testProperty "two time shifts are one shift by their sum" ``two time shifts are one shift by their sum``
        testCase
            "no augmentation returns the sample itself and draws nothing"
            ``no augmentation returns the sample itself and draws nothing``
        testCase "time shift is deterministic for a seed" ``time shift is deterministic for a seed``
        testCase "time shift rejects a sample of the wrong size" ``time shift rejects a sample of the wrong size``
        testCase
            "augmentation names parse, unknown ones are refused"
            ``augmentation names parse, unknown ones are refused``
        testProperty
            "rotation keeps each triple's norm and the channels after the last triple"
            ``rotation keeps each triple's norm and the channels after the last triple``
        testProperty
            "rotation turns the gyroscope triple with the accelerometer one"
            ``rotation turns the gyroscope triple with the accelerometer one``
        testProperty
            "rotation leaves its axis in place and is undone by the opposite angle"
            ``rotation leaves its axis in place and is undone by the opposite angle``
        testProperty "rotation by angle 0 is the identity" ``rotation by angle 0 is the identity``
        testCase
            "rotation turns a quarter about z as a right-handed quarter"
            ``rotation turns a quarter about z as a right-handed quarter``
        testProperty
            "scaling multiplies by one factor in its range, by 1 it is the identity"
            ``scaling multiplies by one factor in its range, by 1 it is the identity``
        testProperty
            "jitter with sigma 0 is the identity; it adds its noise value by value"
            ``jitter with sigma 0 is the identity; it adds its noise value by value``
        testCase
            "jitter's noise has mean 0 and standard deviation sigma"
            ``jitter's noise has mean 0 and standard deviation sigma``
        testProperty
            "warping keeps the first and last column and stays within each series' range"
            ``warping keeps the first and last column and stays within each series' range``
        testProperty
            "warping a ramp gives a monotone ramp; equal speeds and zero strength are the identity"
            ``warping a ramp gives a monotone ramp; equal speeds and zero strength are the identity``
        testCase
            "warping with uneven speeds moves the inside of a window"
            ``warping with uneven speeds moves the inside of a window``
        testProperty
            "a time mask changes only a band of at most T frames, to the channel means"
            ``a time mask changes only a band of at most T frames, to the channel means``
        testProperty
            "a frequency mask changes only a band of at most F bins, to the channel means"
            ``a frequency mask changes only a band of at most F bins, to the channel means``
        testCase "masks set exactly the band asked for" ``masks set exactly the band asked for``
        testProperty
            "every step keeps the shape and gives the same result for the same seed"
            ``every step keeps the shape and gives the same result for the same seed``
        testCase
            "a composition applies its steps in order with one stream of draws"
            ``a composition applies its steps in order with one stream of draws``
        testCase
            "presets and steps that do not fit the data are refused, naming what fits"
            ``presets and steps that do not fit the data are refused, naming what fits``
        testProperty "names parse back to the same augmentation" ``names parse back to the same augmentation``
        testCase "presets and lists parse to their steps" ``presets and lists parse to their steps``
    ]
