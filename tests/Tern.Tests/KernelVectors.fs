namespace Tern.Tests

open System
open System.Text
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Runtime.Kernels

/// Test vectors for the device kernels, computed by the C# runtime: random single layers of every kind with
/// the Scalar kernels' outputs (vectors.c), and whole models with the Runner's outputs (model_vectors.c).
/// hil/tests/kernel_test.c reads both through hil/tests/tern_vectors.h. Deterministic by seed.
[<RequireQualifiedAccess>]
module KernelVectors =

    /// One layer, its input (and, for a residual add, the skip tensor; empty otherwise) and the C# Scalar kernel's output.
    type Case = {
        Name: string
        Layer: IntLayer
        Input: sbyte[]
        Skip: sbyte[]
        Expected: sbyte[]
    }

    /// One requantization and Requantize.Apply's result.
    type Requant = {
        Acc: int
        M: int
        S: int
        Z: int
        Lo: int
        Hi: int
        Expected: int
    }

    /// Largest output of one case (TV_MAX_OUTPUT in tern_vectors.h).
    let maxOutput: int = 8192

    // ---- random parameters (mirroring the ranges the C# kernel tests use) ----

    let private pick (rng: Random) (xs: 'a[]) : 'a = xs[rng.Next xs.Length]

    let private range (rng: Random) (lo: int) (hi: int) : int =
        int (rng.NextInt64(int64 lo, int64 hi + 1L))

    let private zeroPoint (rng: Random) : int =
        match rng.Next 9 with
        | 0 -> -128
        | 1 -> 127
        | 2 -> 0
        | _ -> range rng -128 127

    let private clamp (rng: Random) (zOut: int) : int * int =
        match rng.Next 7 with
        | 0
        | 1
        | 2 -> -128, 127
        | 3
        | 4 -> zOut, 127
        | _ ->
            let a = range rng -128 127
            let b = range rng -128 127
            min a b, max a b

    /// (M, S): M in [2^30, 2^31), S mostly where an accumulator of about 2^bits maps to about 2^6; sometimes
    /// any S in [1, 62], sometimes a tiny multiplier (M < 2^30 with S = 62).
    let private multiplier (rng: Random) (bits: float) : int * int =
        match rng.Next 20 with
        | 0 -> range rng 0 ((1 <<< 30) - 1), 62
        | 1
        | 2 -> range rng (1 <<< 30) Int32.MaxValue, range rng 1 62
        | _ ->
            let typical = 25 + int (Math.Ceiling bits)
            range rng (1 <<< 30) Int32.MaxValue, max 1 (min 62 (typical + range rng -3 3))

    let private input (rng: Random) (n: int) : sbyte[] =
        match rng.Next 12 with
        | 0 -> Array.create n (pick rng [| -128y; 127y; 0y |])
        | _ -> Array.init n (fun _ -> sbyte (range rng -128 127))

    let private int8Weights (rng: Random) (n: int) : sbyte[] =
        Array.init n (fun _ ->
            match rng.Next 9 with
            | 0 -> pick rng [| -127y; 127y; 0y |]
            | _ -> sbyte (range rng -127 127))

    let private ternaryWeights (rng: Random) (n: int) : sbyte[] =
        let zeroPercent = pick rng [| 0; 10; 33; 45; 50; 70; 90; 100 |]

        Array.init n (fun _ ->
            if rng.Next 100 < zeroPercent then
                0y
            else
                pick rng [| -1y; 1y |])

    let private bias (rng: Random) (n: int) (bits: float) : int[] =
        let b = int (Math.Pow(2.0, min 29.0 bits))

        Array.init n (fun _ ->
            match rng.Next 10 with
            | 0 -> 0
            | 1 -> range rng -(1 <<< 29) (1 <<< 29)
            | _ -> range rng -b b)

    /// A window along an axis of length n: kernel 1..5 (at most n when unpadded), paddings before and after in
    /// [0, kernel) (often equal, often not) leaving at least one output, stride 1..3; (kernel, before, after, stride).
    let private window (rng: Random) (n: int) (maxKernel: int) (padded: bool) : int * int * int * int =
        let k = range rng 1 (if padded then maxKernel else min maxKernel n)
        let s = range rng 1 3

        if padded then
            let before = range rng 0 (k - 1)
            let after = if rng.Next 2 = 0 then before else range rng 0 (k - 1)
            // at least one window: n + before + after >= k (n >= 1, so after stays below k)
            k, before, max after (k - n - before), s
        else
            k, 0, 0, s

    let private padName (t: int) (b: int) (l: int) (r: int) = $"p{t},{b},{l},{r}"

    let private ternaryName (t: bool) = if t then "t2" else "s8"

    let private convCase (rng: Random) (kind: IntLayerKind) (ternary: bool) : Case =
        let h, w, c =
            match kind with
            | IntLayerKind.Dense -> range rng 1 5, range rng 1 5, range rng 1 17
            | IntLayerKind.Depthwise -> range rng 1 13, range rng 1 13, range rng 1 17
            | _ -> range rng 1 11, range rng 1 11, range rng 1 17

        let inS = Shape3(h, w, c)

        let (kh, pt, pb, sh), (kw, pl, pr, sw) =
            match kind with
            | IntLayerKind.Conv
            | IntLayerKind.Depthwise ->
                let padded = rng.Next 5 > 0
                window rng h 5 padded, window rng w 5 padded
            | IntLayerKind.Pointwise -> (1, 0, 0, range rng 1 3), (1, 0, 0, range rng 1 3)
            | _ -> (1, 0, 0, 1), (1, 0, 0, 1)

        let outC = if kind = IntLayerKind.Depthwise then c else range rng 1 17

        let outS =
            IntConvLayer.OutputShapeOf(kind, inS, kh, kw, sh, sw, pt, pb, pl, pr, outC)

        let fanIn =
            match kind with
            | IntLayerKind.Depthwise -> kh * kw
            | IntLayerKind.Dense -> inS.Size
            | _ -> kh * kw * c

        let weights =
            if ternary then
                ternaryWeights rng (outC * fanIn)
            else
                int8Weights rng (outC * fanIn)

        let bits = Math.Log2(74.0 * Math.Sqrt(float fanIn)) + (if ternary then 0.0 else 6.2)
        let ms = Array.init outC (fun _ -> multiplier rng bits)
        let zIn = zeroPoint rng
        let zOut = zeroPoint rng
        let lo, hi = clamp rng zOut

        let layer =
            IntConvLayer(
                "case",
                kind,
                inS,
                outS,
                kh,
                kw,
                sh,
                sw,
                pt,
                pb,
                pl,
                pr,
                (if ternary then WeightKind.Ternary else WeightKind.Int8),
                (if ternary then null else weights),
                (if ternary then
                     PackedTernary.Pack(outC, fanIn, weights)
                 else
                     null),
                bias rng outC bits,
                Array.map fst ms,
                Array.map snd ms,
                zIn,
                zOut,
                lo,
                hi,
                1.0f,
                1.0f,
                Array.create outC 1.0f
            )

        layer.Validate()
        let x = input rng inS.Size
        let y = Array.zeroCreate<sbyte> outS.Size

        match kind, ternary with
        | IntLayerKind.Depthwise, false -> DepthwiseS8.Scalar(layer, x, y)
        | IntLayerKind.Depthwise, true -> DepthwiseT2.Scalar(layer, x, y)
        | _, false -> ConvS8.Scalar(layer, x, y)
        | _, true -> ConvT2.Scalar(layer, x, y)

        let name =
            $"{kind} {ternaryName ternary} {h}x{w}x{c}->{outS.H}x{outS.W}x{outC} k{kh}x{kw} s{sh}x{sw} {padName pt pb pl pr} zi{zIn} zo{zOut} [{lo},{hi}]"

        {
            Name = name
            Layer = layer
            Input = x
            Skip = [||]
            Expected = y
        }

    /// A pooling case; `single` asks for an unpadded one-channel average pool with window rows that wide (a pooled
    /// spectrogram input: the DSP body's single-channel path, its words and the codes after them).
    let private poolCase (rng: Random) (kind: IntLayerKind) (single: int option) : Case =
        let global' = kind = IntLayerKind.GlobalAvgPool
        // global pools up to 20x20: windows over 256 taps exercise the DSP body's int32 path
        let h, w =
            match single with
            | _ when global' -> range rng 1 20, range rng 1 20
            | Some 2 -> range rng 1 12, range rng 6 17 // several output pairs, and an odd last column half the time
            | Some kw -> range rng 1 12, range rng kw 16
            | None -> range rng 1 12, range rng 1 12

        let c = if single.IsSome then 1 else range rng 1 17

        // max and average pools are zero-padded half the time (windows then may exceed the input)
        let (kh, pt, pb, sh), (kw, pl, pr, sw) =
            match single with
            | _ when global' -> (h, 0, 0, 1), (w, 0, 0, 1)
            // two codes wide: stride 2 (the DSP body's two-outputs-a-word path, a 2 x 2 input pool)
            | Some 2 -> window rng h 4 false, (2, 0, 0, 2)
            | Some kw -> window rng h 4 false, (kw, 0, 0, range rng 1 3)
            | None ->
                let padded = rng.Next 2 = 0
                window rng h 4 padded, window rng w 4 padded

        let outS =
            IntPoolLayer.OutputShapeOf(Shape3(h, w, c), kh, kw, sh, sw, pt, pb, pl, pr)

        let m, s =
            if kind = IntLayerKind.MaxPool then
                0, 0
            elif single = Some 2 then
                // the window's mean itself (M / 2^S = 1 / (kh * kw)), so outputs track the sums instead of clamping
                let n = kh * kw
                let s = 30 + int (Math.Ceiling(Math.Log2(float n)))
                int (Math.Round(Math.Pow(2.0, float s) / float n)), s
            else
                multiplier rng (Math.Log2(float (kh * kw) * 128.0))

        let zIn = zeroPoint rng
        // average pooling keeps the zero point most of the time, as lowering does
        let zOut =
            if kind = IntLayerKind.MaxPool || rng.Next 2 = 0 then
                zIn
            else
                zeroPoint rng

        let lo, hi = clamp rng zOut

        let layer =
            IntPoolLayer(
                "case",
                kind,
                Shape3(h, w, c),
                outS,
                kh,
                kw,
                sh,
                sw,
                pt,
                pb,
                pl,
                pr,
                m,
                s,
                zIn,
                zOut,
                lo,
                hi,
                1.0f,
                1.0f
            )

        layer.Validate()
        let x = input rng layer.Input.Size
        let y = Array.zeroCreate<sbyte> outS.Size

        if kind = IntLayerKind.MaxPool then
            MaxPoolS8.Scalar(layer, x, y)
        else
            AvgPoolS8.Scalar(layer, x, y)

        {
            Name =
                $"{kind} {h}x{w}x{c}->{outS.H}x{outS.W}x{c} k{kh}x{kw} s{sh}x{sw} {padName pt pb pl pr} zi{zIn} zo{zOut} [{lo},{hi}]"
            Layer = layer
            Input = x
            Skip = [||]
            Expected = y
        }

    /// A global average pool whose int16 lanes would overflow: 12 x 12 x 4 (144 taps, four channels: the DSP body's
    /// lanes path takes windows of at most 128), every code 127 and z_in -128, so each channel sums 144 * 255 =
    /// 36,720 > 32,767. It must take the int32 path. z_out 0 keeps the lanes' rounding constant in range, so only
    /// the window's size keeps it off them.
    let private wideSumCase (rng: Random) : Case =
        let inS = Shape3(12, 12, 4)
        let outS = IntPoolLayer.OutputShapeOf(inS, 12, 12, 1, 1, 0, 0, 0, 0)
        let m = range rng (1 <<< 30) Int32.MaxValue
        let s = 25 + int (Math.Ceiling(Math.Log2(144.0 * 128.0)))

        let layer =
            IntPoolLayer(
                "case",
                IntLayerKind.GlobalAvgPool,
                inS,
                outS,
                12,
                12,
                1,
                1,
                0,
                0,
                0,
                0,
                m,
                s,
                -128,
                0,
                -128,
                127,
                1.0f,
                1.0f
            )

        layer.Validate()
        let x = Array.create inS.Size 127y
        let y = Array.zeroCreate<sbyte> outS.Size
        AvgPoolS8.Scalar(layer, x, y)

        {
            Name = $"GlobalAvgPool 12x12x4 all 127, zi-128 zo0: sums over the int16 lanes, M {m} S {s}"
            Layer = layer
            Input = x
            Skip = [||]
            Expected = y
        }

    /// Accumulators at the ends of int32 at the short requantization form's shift bound (tk_rqz in
    /// hil/kernels/tern_kernels_internal.h, exact up to S = 55): a pointwise layer of zero weights over two pixels
    /// (the DSP body's expanded path), so each channel's accumulator is its bias, -2^31 or 2^31 - 1, with M = 2^31 - 1
    /// and z_out -128. With shifts 53..55 the short form runs at its extremes; with 55 and 56 the layer must take the
    /// portable body (the short form's sum would wrap at S = 56).
    let private extremeAccumulatorCase (shifts: int array) (zIn: int) : Case =
        let inS = Shape3(1, 2, 1)
        let outC = 2 * shifts.Length

        let outS =
            IntConvLayer.OutputShapeOf(IntLayerKind.Pointwise, inS, 1, 1, 1, 1, 0, 0, 0, 0, outC)

        let layer =
            IntConvLayer(
                "case",
                IntLayerKind.Pointwise,
                inS,
                outS,
                1,
                1,
                1,
                1,
                0,
                0,
                0,
                0,
                WeightKind.Int8,
                Array.zeroCreate outC,
                null,
                Array.init outC (fun c -> if c % 2 = 0 then Int32.MinValue else Int32.MaxValue),
                Array.create outC Int32.MaxValue,
                Array.init outC (fun c -> shifts[c / 2]),
                zIn,
                -128,
                -128,
                127,
                1.0f,
                1.0f,
                Array.create outC 1.0f
            )

        layer.Validate()
        let x = [| 5y; -7y |]
        let y = Array.zeroCreate<sbyte> outS.Size
        ConvS8.Scalar(layer, x, y)

        {
            Name =
                $"Pointwise 1x2x1 -> {outC}, zero weights, bias -2^31 and 2^31 - 1, M 2^31 - 1, S {String.Join(',', shifts)}, zo -128"
            Layer = layer
            Input = x
            Skip = [||]
            Expected = y
        }

    // A residual add: lengths 1..300 (the DSP body's word loop and its tail), extreme zero points and clamps; the
    // larger multiplier in [2^30, 2^31) with a typical or any shift, or both tiny (S = 62).
    let private addCase (rng: Random) : Case =
        let n = range rng 1 300
        let zA, zB, zOut = zeroPoint rng, zeroPoint rng, zeroPoint rng
        let lo, hi = clamp rng zOut

        let mBig, s =
            match rng.Next 10 with
            | 0 -> range rng 0 ((1 <<< 30) - 1), 62
            | 1 -> range rng (1 <<< 30) Int32.MaxValue, range rng 1 62
            | _ -> range rng (1 <<< 30) Int32.MaxValue, range rng 29 33

        let mSmall = if rng.Next 8 = 0 then mBig else range rng 0 mBig
        let mA, mB = if rng.Next 2 = 0 then mBig, mSmall else mSmall, mBig
        let shape = Shape3(1, 1, n)

        let layer =
            IntAddLayer("case", shape, 1, mA, mB, s, zA, zB, zOut, lo, hi, 1.0f, 1.0f, 1.0f)

        layer.Validate()
        let a = input rng n
        let b = input rng n
        let y = Array.zeroCreate<sbyte> n
        AddS8.Scalar(layer, a, b, y)

        {
            Name = $"Add {n} ma{mA} mb{mB} s{s} za{zA} zb{zB} zo{zOut} [{lo},{hi}]"
            Layer = layer
            Input = a
            Skip = b
            Expected = y
        }

    let private kinds: (IntLayerKind * bool) list = [
        IntLayerKind.Conv, false
        IntLayerKind.Conv, true
        IntLayerKind.Pointwise, false
        IntLayerKind.Pointwise, true
        IntLayerKind.Dense, false
        IntLayerKind.Dense, true
        IntLayerKind.Depthwise, false
        IntLayerKind.Depthwise, true
        IntLayerKind.MaxPool, false
        IntLayerKind.AvgPool, false
        IntLayerKind.GlobalAvgPool, false
        IntLayerKind.Add, false
    ]

    /// count random single-layer cases, every kind in turn (int8 and ternary); deterministic by seed.
    let cases (seed: int) (count: int) : Case list =
        let rng = Random(seed)

        List.init count (fun i ->
            let kind, ternary = kinds[i % kinds.Length]

            match kind with
            | IntLayerKind.AvgPool when (i / kinds.Length) % 2 = 1 ->
                // every other average pool: one channel, window rows of 1 to 6 codes in turn
                poolCase rng kind (Some(1 + (i / kinds.Length / 2) % 6))
            // the first global pool: sums that overflow int16 lanes
            | IntLayerKind.GlobalAvgPool when i < kinds.Length -> wideSumCase rng
            | IntLayerKind.MaxPool
            | IntLayerKind.AvgPool
            | IntLayerKind.GlobalAvgPool -> poolCase rng kind None
            | IntLayerKind.Add -> addCase rng
            // the first two int8 pointwise layers: accumulators at the ends of int32 (the short requantization's bound)
            | IntLayerKind.Pointwise when not ternary && i < kinds.Length ->
                extremeAccumulatorCase [| 53; 54; 55 |] (zeroPoint rng)
            | IntLayerKind.Pointwise when not ternary && i < 2 * kinds.Length ->
                extremeAccumulatorCase [| 55; 56 |] (zeroPoint rng)
            | _ -> convCase rng kind ternary)

    /// Requantization cases: every shift with the extreme accumulators and multipliers, rounding ties, random ones.
    let requants (seed: int) (count: int) : Requant list =
        let rng = Random(seed)

        let make acc m s z lo hi = {
            Acc = acc
            M = m
            S = s
            Z = z
            Lo = lo
            Hi = hi
            Expected = Requantize.Apply(acc, m, s, z, lo, hi)
        }

        let edges = [
            for s in 1..62 do
                for acc in [ Int32.MinValue; Int32.MaxValue; 0; -1; 1 ] do
                    make acc Int32.MaxValue s 0 -128 127
                    make acc (1 <<< 30) s (zeroPoint rng) -128 127
            // ties: acc * 2^30 + 2^(S-1) is a multiple of 2^S, and must round toward +infinity
            for acc in [ -12; -4; -3; -1; 1; 3; 4; 12 ] do
                make acc (1 <<< 30) 31 0 -128 127
                make (acc * 64) (1 <<< 30) 37 0 -128 127
                make (acc * 8) (1 <<< 30) 33 0 -128 127
            // tiny multipliers (S = 62)
            for m in [ 0; 1; (1 <<< 30) - 1 ] do
                make Int32.MaxValue m 62 0 -128 127
                make Int32.MinValue m 62 0 -128 127
        ]

        let random =
            List.init count (fun _ ->
                let z = zeroPoint rng
                let lo, hi = clamp rng z
                let m, s = multiplier rng (float (range rng 4 30))

                let acc =
                    match rng.Next 4 with
                    | 0 -> rng.Next() - rng.Next()
                    | _ -> range rng -(1 <<< 20) (1 <<< 20)

                make acc m s z lo hi)

        edges @ random

    // ---- C source ----

    let private kindCode (l: IntLayer) : string =
        match l with
        | :? IntConvLayer as c ->
            match c.Kind, c.WeightKind with
            | IntLayerKind.Depthwise, WeightKind.Int8 -> "TV_DEPTHWISE_S8"
            | IntLayerKind.Depthwise, _ -> "TV_DEPTHWISE_T2"
            | _, WeightKind.Int8 -> "TV_CONV_S8"
            | _ -> "TV_CONV_T2"
        | :? IntPoolLayer as p when p.Kind = IntLayerKind.MaxPool -> "TV_MAXPOOL_S8"
        | :? IntAddLayer -> "TV_ADD_S8"
        | _ -> "TV_AVGPOOL_S8"

    /// vectors.c: count kernel cases and the requantization cases, stamped with seed and counts.
    let kernelSource (seed: int) (count: int) : string =
        let cs = cases seed count
        let rq = requants seed 200

        for c in cs do
            if c.Expected.Length > maxOutput then
                failwith $"case '{c.Name}' has {c.Expected.Length} outputs, more than {maxOutput}"

        let stamp =
            $"Tern {Emit.version} KernelVectors.kernelSource seed={seed} cases={count} requantize={rq.Length}"

        let sb = StringBuilder()

        sb
            .Append("/* vectors.c: kernel test vectors computed by the C# Scalar kernels and Requantize.Apply.\n")
            .Append(" * ")
            .Append(stamp)
            .Append(". Do not edit.\n */\n#include \"tern_vectors.h\"\n\n")
            .Append("const char tv_stamp[] = \"")
            .Append(stamp)
            .Append("\";\n\n")
        |> ignore

        cs
        |> List.iteri (fun i c ->
            let p = $"c{i}"

            sb.Append("/* case ").Append(i).Append(": ").Append(Emit.safeText c.Name).Append(" */\n")
            |> ignore

            Emit.array sb $"static const int8_t {p}_input" (Emit.sbytesOf c.Input)
            Emit.array sb $"static const int8_t {p}_expected" (Emit.sbytesOf c.Expected)

            match c.Layer with
            | :? IntConvLayer as l ->
                Emit.convArrays sb l p

                sb.Append($"static const tern_conv_params {p}_params = {Emit.convParams l p};\n\n")
                |> ignore
            | :? IntPoolLayer as l ->
                sb.Append($"static const tern_pool_params {p}_params = {Emit.poolParams l};\n\n")
                |> ignore
            | :? IntAddLayer as l ->
                Emit.array sb $"static const int8_t {p}_skip" (Emit.sbytesOf c.Skip)

                sb.Append($"static const tern_add_params {p}_params = {Emit.addParams l};\n\n")
                |> ignore
            | _ -> ())

        sb.Append("const tv_case tv_cases[] = {\n") |> ignore

        cs
        |> List.iteri (fun i c ->
            let p = $"c{i}"

            let conv, pool, weights, add, skip =
                match c.Layer with
                | :? IntConvLayer -> $"&{p}_params", "0", $"{p}_weights", "0", "0"
                | :? IntAddLayer -> "0", "0", "0", $"&{p}_params", $"{p}_skip"
                | _ -> "0", $"&{p}_params", "0", "0", "0"

            sb.Append(
                $"    {{\"{Emit.safeText c.Name}\", {kindCode c.Layer}, {conv}, {pool}, {weights}, {p}_input, {p}_expected, {c.Expected.Length}u, {add}, {skip}}},\n"
            )
            |> ignore)

        sb.Append("};\n").Append($"const uint32_t tv_case_count = {cs.Length}u;\n\n")
        |> ignore

        sb.Append("const tv_requant tv_requants[] = {\n") |> ignore

        for r in rq do
            let f =
                [ r.Acc; r.M; r.S; r.Z; r.Lo; r.Hi; r.Expected ] |> List.map (int64 >> Emit.num)

            sb.Append("    {").Append(String.Join(", ", f)).Append("},\n") |> ignore

        sb.Append("};\n").Append($"const uint32_t tv_requant_count = {rq.Length}u;\n").ToString()

    /// The default architecture lowered with the given weights (seeded init and calibration).
    let defaultModel (options: LowerOptions) (seed: int) : IntModel =
        let m = Architectures.defaultModel seed

        match Lower.lower options (Lower.randomCalibration seed 2 m.Input) m with
        | Ok im -> im
        | Error e -> failwith $"lowering the default model failed: {e}"

    /// The "blocks" architecture (residual blocks) for 64x64x1 and 5 classes, lowered like defaultModel.
    let blocksModel (options: LowerOptions) (seed: int) : IntModel =
        let m = Architectures.blocksFor (Shape3(64, 64, 1)) Architectures.radarClasses seed

        match Lower.lower options (Lower.randomCalibration seed 2 m.Input) m with
        | Ok im -> im
        | Error e -> failwith $"lowering the blocks model failed: {e}"

    /// count seeded model inputs: random spectrogram-like tensors quantized as the host does.
    let modelInputs (model: IntModel) (seed: int) (count: int) : sbyte[][] =
        Lower.randomCalibration (seed + 7919) count model.Input
        |> List.map (Lower.quantizeInput model)
        |> Array.ofList

    /// model_vectors.c: the inputs and every layer's output from the C# Runner (scalar kernels).
    let modelSource (name: string) (model: IntModel) (modelHash: string) (inputs: sbyte[][]) : string =
        let runner = Runner(model, KernelMode.Scalar)
        let outputs = inputs |> Array.map runner.RunLayers
        let n = model.Layers.Length
        let sb = StringBuilder()

        Emit.provenance
            sb
            $"model_vectors.c: {inputs.Length} inputs of model '{Emit.safeText name}' and every layer's output from the C# Runner (scalar)."
            modelHash
            $"KernelVectors.modelSource {Emit.safeText name}"

        sb.Append("#include \"tern_vectors.h\"\n\n").Append($"const char tv_model_name[] = \"{Emit.safeText name}\";\n")
        |> ignore

        Emit.array sb "const uint8_t tv_model_hash" (Emit.bytesOf (Convert.FromHexString modelHash))

        sb
            .Append($"const uint32_t tv_model_input_count = {inputs.Length}u;\n")
            .Append($"const uint32_t tv_model_layer_count = {n}u;\n\n")
        |> ignore

        inputs
        |> Array.iteri (fun i x -> Emit.array sb $"static const int8_t tv_in{i}" (Emit.sbytesOf x))

        outputs
        |> Array.iteri (fun i ys ->
            ys
            |> Array.iteri (fun l y -> Emit.array sb $"static const int8_t tv_out{i}_{l}" (Emit.sbytesOf y)))

        Emit.array sb "const int8_t *const tv_model_inputs" (Array.init inputs.Length (fun i -> $"tv_in{i}"))

        Emit.array
            sb
            "const int8_t *const tv_model_layer_outputs"
            (Array.init (inputs.Length * n) (fun k -> $"tv_out{k / n}_{k % n}"))

        Emit.array sb "const uint32_t tv_model_layer_lengths" (model.Layers |> Array.map (fun l -> $"{l.Output.Size}u"))
        sb.ToString()

    /// Writes vectors.c into dir (atomically).
    let writeKernelVectors (dir: string) (seed: int) (count: int) : unit =
        IO.Directory.CreateDirectory dir |> ignore
        AtomicFile.writeText (IO.Path.Combine(dir, "vectors.c")) (kernelSource seed count)

    /// Writes model_vectors.c into dir (atomically).
    let writeModelVectors
        (dir: string)
        (name: string)
        (model: IntModel)
        (modelHash: string)
        (inputs: sbyte[][])
        : unit =
        IO.Directory.CreateDirectory dir |> ignore
        AtomicFile.writeText (IO.Path.Combine(dir, "model_vectors.c")) (modelSource name model modelHash inputs)
