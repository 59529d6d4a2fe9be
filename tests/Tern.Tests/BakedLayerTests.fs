/// The ternary layers baked into code (Emit.bakedLayerSource with hil/include/tern_baked.h and hil/kernels/baked.c),
/// layer by layer: random conv, depthwise, pointwise and dense layers are emitted into one C program, compiled with
/// the host's gcc (the DSP instructions emulated with their lane semantics) and run on inputs whose outputs the C#
/// ConvT2 / DepthwiseT2 oracles computed. One compile for every case keeps it fast.
module Tern.Tests.BakedLayerTests

open System
open System.IO
open System.Text
open Expecto
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Kernels
open Tern.Rig

/// One baked layer, the inputs it runs on and the oracle's output for each.
type private Case = {
    Name: string
    Layer: IntConvLayer
    Inputs: sbyte[][]
    Expected: sbyte[][]
}

let private seed = 14
let private caseCount = 120

let private pick (rng: Random) (xs: 'a[]) : 'a = xs[rng.Next xs.Length]

/// A window along an axis of n: (kernel 1..4, padding before and after in [0, kernel), stride 1..3), at least one
/// output (the padding after is raised if needed; it stays below the kernel as n >= 1).
let private window (rng: Random) (n: int) (padded: bool) : int * int * int * int =
    let k = rng.Next(1, 5)
    let s = rng.Next(1, 4)

    if padded then
        let before = rng.Next k
        let after = if rng.Next 2 = 0 then before else rng.Next k
        k, before, max after (k - n - before), s
    else
        let k = min k n
        k, 0, 0, s

/// Zero points at the ends of int8 (the folded bias and the border patch's fill) and anywhere.
let private zeroPoint (rng: Random) : int =
    pick rng [| -128; 127; 0; rng.Next(-128, 128); rng.Next(-128, 128) |]

/// (M, S) of a channel over the baked code's requantization forms: the folded SMMLA + SSAT (typical S), acc shifted
/// left first (S <= 32), no fold (S = 62 with a tiny M: |r| too large unless z_out = 0), the int64 contract (small
/// S, a large multiplier), and any S.
let private multiplier (rng: Random) (fanIn: int) : int * int =
    let m = rng.Next(1 <<< 30, Int32.MaxValue)
    let bits = int (Math.Log2(128.0 * float fanIn))

    match rng.Next 10 with
    | 0 -> rng.Next(0, 1 <<< 30), 62
    | 1 -> m, max 1 (min 32 (bits + 18))
    | 2 -> m, rng.Next(1, 9)
    | 3 -> m, rng.Next(1, 63)
    | _ -> m, min 62 (bits + 24 + rng.Next 4)

/// Ternary rows: a sparsity per layer (none to all zero); with a fan-in above the 255 terms of one int16 chunk, the
/// first two channels all +1 and all -1, whose lanes must be flushed into int32.
let private weights (rng: Random) (outC: int) (fanIn: int) : sbyte[] =
    let zeroPercent = pick rng [| 0; 10; 33; 45; 50; 70; 90; 100 |]

    Array.init (outC * fanIn) (fun j ->
        match j / fanIn with
        | 0 when fanIn > 255 -> 1y
        | 1 when fanIn > 255 -> -1y
        | _ ->
            if rng.Next 100 < zeroPercent then
                0y
            else
                pick rng [| -1y; 1y |])

/// A random ternary layer of the given kind: odd shapes, independent kernels, strides and four paddings.
let private layer (rng: Random) (kind: IntLayerKind) : IntConvLayer =
    // a wide conv now and then: fan-in above 255
    let wide = kind = IntLayerKind.Conv && rng.Next 6 = 0

    let h, w, c =
        match kind with
        | IntLayerKind.Dense -> rng.Next(1, 5), rng.Next(1, 5), rng.Next(1, 17)
        | _ when wide -> rng.Next(3, 8), rng.Next(3, 8), rng.Next(30, 41)
        | _ -> rng.Next(1, 13), rng.Next(1, 13), rng.Next(1, 13)

    let inS = Shape3(h, w, c)

    let (kh, pt, pb, sh), (kw, pl, pr, sw) =
        match kind with
        | IntLayerKind.Conv when wide -> (3, 1, 1, 1), (3, 1, 1, rng.Next(1, 3))
        | IntLayerKind.Conv
        | IntLayerKind.Depthwise ->
            let padded = rng.Next 5 > 0
            window rng h padded, window rng w padded
        | IntLayerKind.Pointwise -> (1, 0, 0, rng.Next(1, 4)), (1, 0, 0, rng.Next(1, 4))
        | _ -> (1, 0, 0, 1), (1, 0, 0, 1)

    let outC =
        if kind = IntLayerKind.Depthwise then c
        elif wide then rng.Next(2, 5)
        else rng.Next(1, 11)

    let outS =
        IntConvLayer.OutputShapeOf(kind, inS, kh, kw, sh, sw, pt, pb, pl, pr, outC)

    let fanIn = IntConvLayer.FanInOf(kind, inS, kh, kw)
    let ms = Array.init outC (fun _ -> multiplier rng fanIn)
    let zOut = zeroPoint rng

    let lo, hi =
        match rng.Next 3 with
        | 0 -> -128, 127
        | 1 -> max -128 zOut, 127
        | _ ->
            let a, b = rng.Next(-128, 128), rng.Next(-128, 128)
            min a b, max a b

    let bias =
        Array.init outC (fun _ ->
            match rng.Next 8 with
            | 0 -> 0
            | 1 -> rng.Next(-(1 <<< 29), 1 <<< 29)
            | _ -> rng.Next(-4000, 4000))

    let l =
        IntConvLayer(
            $"{kind} {h}x{w}x{c}->{outS.H}x{outS.W}x{outC} k{kh}x{kw} s{sh}x{sw} p{pt},{pb},{pl},{pr}",
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
            WeightKind.Ternary,
            null,
            PackedTernary.Pack(outC, fanIn, ReadOnlySpan(weights rng outC fanIn)),
            bias,
            Array.map fst ms,
            Array.map snd ms,
            zeroPoint rng,
            zOut,
            lo,
            hi,
            1.0f,
            1.0f,
            Array.create outC 1.0f
        )

    l.Validate()
    l

/// Rounding ties in both lanes: a pointwise layer over 1 x 16 x 1 (eight pixel pairs) with one +1 weight, no bias or
/// zero points, M = 2^30 and S = 31, so acc = q and the output is (q + 1) / 2 rounded down: every odd code is a tie.
/// Random multipliers meet a tie of the lanes' form with a chance of 2^-(S-16) per output, mostly saturated.
let private tieLayer () : IntConvLayer =
    let inS = Shape3(1, 16, 1)

    let outS =
        IntConvLayer.OutputShapeOf(IntLayerKind.Pointwise, inS, 1, 1, 1, 1, 0, 0, 0, 0, 1)

    let l =
        IntConvLayer(
            "rounding ties 1x16x1 -> 1x16x1",
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
            WeightKind.Ternary,
            null,
            PackedTernary.Pack(1, 1, ReadOnlySpan [| 1y |]),
            [| 0 |],
            [| 1 <<< 30 |],
            [| 31 |],
            0,
            0,
            -128,
            127,
            1.0f,
            1.0f,
            [| 1.0f |]
        )

    l.Validate()
    l

/// The C# oracle's output of a ternary layer.
let private oracle (l: IntConvLayer) (x: sbyte[]) : sbyte[] =
    let y = Array.zeroCreate<sbyte> l.Output.Size

    if l.Kind = IntLayerKind.Depthwise then
        DepthwiseT2.Scalar(l, x, y)
    else
        ConvT2.Scalar(l, x, y)

    y

/// The cases, deterministic by seed: every kind in turn (the rounding-tie layer last), each on a random input and on one at the ends of the
/// codes (|x| = 128 is the int16 lanes' worst case; all 127 the other end).
let private cases: Lazy<Case list> =
    lazy
        (let rng = Random(seed)

         let kinds = [|
             IntLayerKind.Conv
             IntLayerKind.Depthwise
             IntLayerKind.Pointwise
             IntLayerKind.Conv
             IntLayerKind.Dense
         |]

         List.init (caseCount + 1) (fun i ->
             let l =
                 if i = caseCount then
                     tieLayer ()
                 else
                     layer rng kinds[i % kinds.Length]

             let n = l.Input.Size

             let inputs = [|
                 Array.init n (fun _ -> sbyte (rng.Next(-128, 128)))
                 Array.create n (if i % 2 = 0 then -128y else 127y)
             |]

             {
                 Name = l.Name
                 Layer = l
                 Inputs = inputs
                 Expected = inputs |> Array.map (oracle l)
             }))

/// Bytes after each output that the baked code must leave alone.
let private guard = 16

/// The test program: every case's baked layer (tern_l{i}_baked), its inputs and the oracle's outputs, and a main that
/// runs them all and prints each mismatch and "failures: N".
let private program (cases: Case list) : string =
    let sb = StringBuilder()
    let line (s: string) = sb.Append(s).Append('\n') |> ignore

    let bytes (a: sbyte[]) =
        a |> Array.map string |> String.concat ", "

    line "#include <stdint.h>"
    line "#include <stdio.h>"
    line "#include <string.h>"
    line "#include \"tern_kernels.h\""
    line "#include \"tern_baked.h\""
    line ""
    let patch = cases |> List.map (fun c -> Emit.bakedPatchBytes c.Layer) |> List.max
    line $"static int8_t tern_patch[{max 1 patch}];"
    line ""

    cases
    |> List.iteri (fun i c ->
        sb.Append(Emit.bakedLayerSource i c.Layer) |> ignore

        c.Inputs
        |> Array.iteri (fun j x ->
            line $"static const int8_t in_{i}_{j}[] = {{{bytes x}}};"
            line $"static const int8_t want_{i}_{j}[] = {{{bytes c.Expected[j]}}};")

        line "")

    let maxOut = cases |> List.map (fun c -> c.Layer.Output.Size) |> List.max
    line "typedef struct {"
    line "    const char *name;"
    line "    void (*run)(const int8_t *in, int8_t *out);"
    line "    const int8_t *in, *want;"
    line "    uint32_t out_bytes;"
    line "} baked_case;"
    line ""
    line "static const baked_case cases[] = {"

    cases
    |> List.iteri (fun i c ->
        for j in 0 .. c.Inputs.Length - 1 do
            line $"    {{\"{i}.{j} {c.Name}\", tern_l{i}_baked, in_{i}_{j}, want_{i}_{j}, {c.Layer.Output.Size}u}},")

    line "};"
    line ""
    line "int main(void)"
    line "{"
    line $"    static int8_t out[{maxOut + guard}];"
    line "    int failures = 0;"
    line "    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {"
    line "        const baked_case *c = &cases[k];"
    line "        memset(out, 0x5A, sizeof out);"
    line "        c->run(c->in, out);"
    line "        for (uint32_t e = 0; e < c->out_bytes; e++)"
    line "            if (out[e] != c->want[e]) {"

    line
        "                printf(\"%s: element %u is %d, the C# oracle says %d\\n\", c->name, (unsigned)e, out[e], c->want[e]);"

    line "                failures++;"
    line "                break;"
    line "            }"
    line $"        for (uint32_t e = c->out_bytes; e < c->out_bytes + {guard}u; e++)"
    line "            if (out[e] != 0x5A) {"
    line "                printf(\"%s: wrote past its output (byte %u)\\n\", c->name, (unsigned)e);"
    line "                failures++;"
    line "                break;"
    line "            }"
    line "    }"
    line "    printf(\"cases: %u, failures: %d\\n\", (unsigned)(sizeof cases / sizeof cases[0]), failures);"
    line "    return failures != 0;"
    line "}"
    sb.ToString()

/// Compiles the program with the kernels it links (baked.c; requantize.c for tern_requantize_ref) and runs it.
let private compileAndRun () : string =
    let gcc = ToolRequirement.find "gcc" "gcc"
    let hil = Path.Combine(Fixtures.above "hil/include/tern_baked.h", "hil")
    let dir = Scratch.folder "tern-baked"
    let source = Path.Combine(dir, "baked_test.c")
    File.WriteAllText(source, program cases.Value)
    let exe = Path.Combine(dir, "baked_test")

    let args = [
        "-O1"
        "-std=c99"
        "-Wall"
        "-Wextra"
        "-Werror"
        "-I" + Path.Combine(hil, "include")
        "-I" + Path.Combine(hil, "kernels")
        source
        Path.Combine(hil, "kernels", "baked.c")
        Path.Combine(hil, "kernels", "requantize.c")
        "-o"
        exe
    ]

    let built = Proc.run gcc args None (TimeSpan.FromMinutes 3.0)
    Expect.equal built.ExitCode 0 $"gcc failed:\n{built.Stdout}{built.Stderr}"
    let ran = Proc.run exe [] None (TimeSpan.FromMinutes 1.0)
    Expect.equal ran.ExitCode 0 $"baked layers differ from the C# oracles:\n{ran.Stdout}{ran.Stderr}"
    ran.Stdout

[<Tests>]
let tests =
    testList "BakedLayerTests" [
        testCase "the cases cover every form the baked code takes"
        <| fun () ->
            let ls = cases.Value |> List.map (fun c -> c.Layer)

            for kind in
                [
                    IntLayerKind.Conv
                    IntLayerKind.Depthwise
                    IntLayerKind.Pointwise
                    IntLayerKind.Dense
                ] do
                Expect.isTrue (ls |> List.exists (fun l -> l.Kind = kind)) $"a {kind} layer"

            let source = cases.Value |> List.mapi (fun i c -> Emit.bakedLayerSource i c.Layer)

            let any (text: string) =
                source |> List.exists (fun s -> s.Contains text)
            // two pixels per register, border windows, int16 chunks flushed into int32, every requantization form
            for text, what in
                [
                    "_px2(", "two pixels per register"
                    "_border(", "border windows"
                    "a0 = tb_add(a0, tb_lo(s));", "chunks flushed into int32"
                    "tb_smlawb(", "both lanes requantized in place"
                    "tb_shl(", "S <= 32 (acc shifted first)"
                    "tb_rq_z(", "no fold of z_out"
                    "tern_requantize_ref(", "the int64 contract"
                    "no non-zero weight", "an all-zero channel"
                    "tb_sxtb16_ror8(", "odd bytes of a word"
                    "tb_pack_top(", "the top halves"
                ] do
                Expect.isTrue (any text) $"some case takes the form: {what}"

            Expect.isTrue
                (ls |> List.exists (fun l -> l.PadBottom <> l.PadTop || l.PadLeft <> l.PadRight))
                "asymmetric padding"

            Expect.isTrue (ls |> List.exists (fun l -> l.StrideH <> l.StrideW)) "unequal strides"

        testCase "every baked layer matches the C# ConvT2 / DepthwiseT2 oracle (host gcc, DSP emulated)"
        <| fun () ->
            let output = compileAndRun ()
            Expect.stringContains output $"cases: {2 * (caseCount + 1)}, failures: 0" "every case ran and matched"

        testCase "a baked layer refuses int8 weights"
        <| fun () ->
            let l = cases.Value.Head.Layer

            let i8 =
                IntConvLayer(
                    l.Name,
                    l.Kind,
                    l.Input,
                    l.Output,
                    l.KernelH,
                    l.KernelW,
                    l.StrideH,
                    l.StrideW,
                    l.PadTop,
                    l.PadBottom,
                    l.PadLeft,
                    l.PadRight,
                    WeightKind.Int8,
                    Array.zeroCreate (l.OutChannels * l.FanIn),
                    null,
                    l.Bias,
                    l.Multiplier,
                    l.Shift,
                    l.InputZero,
                    l.OutputZero,
                    l.ActMin,
                    l.ActMax,
                    1.0f,
                    1.0f,
                    Array.create l.OutChannels 1.0f
                )

            Expect.throwsT<ArgumentException> (fun () -> Emit.bakedLayerSource 0 i8 |> ignore) "int8 weights"
    ]
