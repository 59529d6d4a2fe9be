module Tern.Tests.CKernelTests

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
open Tern.Core
open Tern.Runtime

/// Generated sources, toolchain runs and the repository layout for the C kernel tests.
module private CBuild =

    let kernelSeed = 11
    let kernelCount = 150
    let modelSeed = 1

    /// The repository root: the first ancestor of the test binary that holds hil/include/tern_kernels.h.
    let root: Lazy<string> = lazy (Fixtures.above "hil/include/tern_kernels.h")

    let hil (parts: string list) : string =
        Path.Combine(Array.ofList (root.Value :: "hil" :: parts))

    /// A ternary model of odd layers for the baked code (seeded): odd shapes, strides 1-2 (and 2x1), paddings (also
    /// bottom and right only, whose windows hang over the far edges alone), kernels 1x1 to 3x3 and 2x3, all-zero channels, and channels with more than 255 non-zero weights (+1 and -1)
    /// whose int16 lanes must be flushed into int32; multipliers with S <= 32, typical S, S = 62 and tiny M.
    let oddTernaryModel (seed: int) : IntModel =
        let rng = Random(seed)

        let zero () =
            [| -128; 127; 0; rng.Next(-128, 128); rng.Next(-128, 128) |][rng.Next 5]

        let layer
            (name: string)
            (kind: IntLayerKind)
            (inS: Shape3)
            (outC: int)
            (k: int * int)
            (st: int * int)
            (pad: int * int * int * int)
            =
            let (kh, kw), (sh, sw), (pt, pb, pl, pr) = k, st, pad

            let outS =
                IntConvLayer.OutputShapeOf(kind, inS, kh, kw, sh, sw, pt, pb, pl, pr, outC)

            let fanIn =
                match kind with
                | IntLayerKind.Depthwise -> kh * kw
                | IntLayerKind.Dense -> inS.Size
                | _ -> kh * kw * inS.C

            let weights =
                Array.init (outC * fanIn) (fun j ->
                    match j / fanIn with
                    | 0 when fanIn > 255 -> 1y // every weight +1: the int16 chunks must be flushed
                    | 1 when fanIn > 255 -> -1y
                    | 2 -> 0y // an all-zero channel
                    | _ -> if rng.Next 100 < 45 then 0y else [| -1y; 1y |][rng.Next 2])

            let bits = Math.Log2(128.0 * float fanIn)

            let ms =
                Array.init outC (fun o ->
                    let m = rng.Next(1 <<< 30, Int32.MaxValue)

                    match o % 7 with
                    | 4 -> rng.Next(0, 1 <<< 30), 62 // tiny multiplier
                    | 5 -> m, max 1 (min 32 (int bits + 18)) // S <= 32
                    | 6 -> m, rng.Next(1, 9) // a multiplier >= 2^-8: the int64 form
                    | _ -> m, int bits + 24 + rng.Next 4)

            let zOut = zero ()

            let lo, hi =
                match rng.Next 3 with
                | 0 -> -128, 127
                | 1 -> max -128 zOut, 127
                | _ -> -100, 90

            let l =
                IntConvLayer(
                    name,
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
                    PackedTernary.Pack(outC, fanIn, ReadOnlySpan weights),
                    Array.init outC (fun _ -> rng.Next(-3000, 3000)),
                    Array.map fst ms,
                    Array.map snd ms,
                    zero (),
                    zOut,
                    lo,
                    hi,
                    1.0f,
                    1.0f,
                    Array.create outC 1.0f
                )

            l.Validate()
            l

        let input = Shape3(9, 11, 1)
        let l0 = layer "conv s1 1->5" IntLayerKind.Conv input 5 (3, 3) (1, 1) (1, 1, 1, 1)

        let l1 =
            layer "depthwise s2" IntLayerKind.Depthwise l0.Output 5 (3, 3) (2, 2) (1, 1, 1, 1)

        let l2 =
            layer "pointwise 5->40" IntLayerKind.Pointwise l1.Output 40 (1, 1) (1, 1) (0, 0, 0, 0)

        let l3 =
            layer "conv 3x3 40->7 (fan-in 360)" IntLayerKind.Conv l2.Output 7 (3, 3) (1, 1) (1, 1, 1, 1)

        let l4 =
            layer "conv 2x3 s2x1" IntLayerKind.Conv l3.Output 6 (2, 3) (2, 1) (1, 1, 0, 0)

        // windows over the bottom and right edges only (no top or left padding)
        let l5 =
            layer "depthwise 3x3 bottom/right" IntLayerKind.Depthwise l4.Output 6 (3, 3) (1, 1) (0, 2, 0, 1)

        let l6 =
            layer "conv 2x2 s2 bottom/left" IntLayerKind.Conv l5.Output 4 (2, 2) (2, 2) (0, 1, 1, 0)

        let l7 =
            layer "pointwise s2" IntLayerKind.Pointwise l6.Output 4 (1, 1) (2, 2) (0, 0, 0, 0)

        let l8 = layer "dense" IntLayerKind.Dense l7.Output 3 (1, 1) (1, 1) (0, 0, 0, 0)

        let m =
            IntModel(
                "odd-ternary",
                input,
                0.05f,
                zero (),
                [| l0; l1; l2; l3; l4; l5; l6; l7; l8 |],
                [| "a"; "b"; "c" |]
            )

        m.Validate()
        m

    /// Model inputs at the extremes of the codes (|x| = 128 is the int16 bound's worst case) and random ones.
    let extremeInputs (model: IntModel) (seed: int) : sbyte[][] =
        let rng = Random(seed)
        let n = model.Input.Size

        [|
            Array.create n -128y
            Array.create n 127y
            Array.init n (fun _ -> sbyte (rng.Next(-128, 128)))
        |]

    type Generated = {
        Dir: string
        Vectors: string
        /// model name -> folder holding tern_model.h, tern_model.c and model_vectors.c
        Models: (string * string) list
    }

    /// Writes vectors.c and, for the default and the residual "blocks" models lowered to int8 and to ternary,
    /// tern_model.c/.h and model_vectors.c.
    let generate () : Generated =
        let dir = Scratch.folder "tern-ckernels"
        KernelVectors.writeKernelVectors dir kernelSeed kernelCount

        let models = [
            for name, options, make in
                [
                    "int8", LowerOptions.Int8, KernelVectors.defaultModel
                    "ternary", LowerOptions.Ternary, KernelVectors.defaultModel
                    "blocks-int8", LowerOptions.Int8, KernelVectors.blocksModel
                    "blocks-ternary", LowerOptions.Ternary, KernelVectors.blocksModel
                ] do
                let m = make options modelSeed
                let hash = ModelFile.hash (ModelFile.serializeInt m)
                let md = Path.Combine(dir, name)

                Emit.writeFiles
                    md
                    (Emit.model
                        {
                            CommandLine = $"CKernelTests default {name}"
                            Prefix = Emit.firmwarePrefix
                        }
                        m
                        hash)

                KernelVectors.writeModelVectors
                    md
                    (if name.StartsWith "blocks" then name else $"default-{name}")
                    m
                    hash
                    (KernelVectors.modelInputs m modelSeed 3)

                name, md

            // odd ternary layers for the baked code
            let m = oddTernaryModel modelSeed
            let hash = ModelFile.hash (ModelFile.serializeInt m)
            let md = Path.Combine(dir, "odd")

            Emit.writeFiles
                md
                (Emit.model
                    {
                        CommandLine = "CKernelTests odd ternary"
                        Prefix = Emit.firmwarePrefix
                    }
                    m
                    hash)

            KernelVectors.writeModelVectors md "odd-ternary" m hash (extremeInputs m modelSeed)
            "odd", md
        ]

        {
            Dir = dir
            Vectors = Path.Combine(dir, "vectors.c")
            Models = models
        }

    let kernelSources () : string list =
        Export.kernelStems |> List.map (fun k -> hil [ "kernels"; k + ".c" ])

    /// Sources and include flags shared by the native and the board build of one model's test binary.
    let testSources (g: Generated) (modelDir: string) : string list =
        kernelSources ()
        @ [
            hil [ "tests"; "kernel_test.c" ]
            g.Vectors
            Path.Combine(modelDir, "tern_model.c")
            Path.Combine(modelDir, "model_vectors.c")
        ]

    /// The model's folder first: it holds the emitted tern_model.h.
    let includes (modelDir: string) : string list = [
        "-I" + modelDir
        "-I" + hil [ "include" ]
        "-I" + hil [ "tests" ]
        "-I" + hil [ "kernels" ]
    ]

open CBuild
open TestFirmware

/// The generated vectors and models the tests share (written once, on first use).
let private fixture = lazy (generate ())

/// Host build with the strict flags; TERN_KERNELS_DSP picks the body the model runs (on the host the DSP
/// body runs with its instructions emulated). The driver also checks both bodies on every kernel vector.
let private native (dsp: int) =
    let generated = fixture.Force()
    let gcc = ToolRequirement.find "gcc" "gcc"

    for name, md in generated.Models do
        let exe = Path.Combine(md, $"native_{dsp}")

        let args =
            strictFlags
            @ [ $"-DTERN_KERNELS_DSP={dsp}" ]
            @ includes md
            @ testSources generated md
            @ [ "-o"; exe ]

        let code, output = run gcc args 120_000
        Expect.equal code 0 $"gcc failed for {name}:\n{output}"
        let code, output = run exe [] 60_000
        printfn "%s" output
        Expect.equal code 0 $"{name}, TERN_KERNELS_DSP={dsp}:\n{output}"
        Expect.stringContains output "failures: 0" $"{name}, TERN_KERNELS_DSP={dsp}: the driver's failures"

/// The same vectors on the Cortex-M4 board under QEMU, where the _dsp bodies use SMLAD, SMMLA, USADA8 ...
/// Also reports the instructions of one inference with the reference and the DSP kernels.
let private onQemu () =
    let generated = fixture.Force()

    let gcc, qemu = toolchain ()
    let an386 = board (hil []) "qemu-mps2-an386"
    let counts = Collections.Generic.Dictionary<string * int, int64>()
    let report = Text.StringBuilder()

    for name, md in generated.Models do
        for dsp in [ 0; 1 ] do
            let elf = Path.Combine(md, $"qemu_{dsp}.elf")

            let code, output =
                build gcc an386 ($"-DTERN_KERNELS_DSP={dsp}" :: includes md) (testSources generated md) elf

            Expect.equal code 0 $"arm-none-eabi-gcc failed for {name}:\n{output}"

            let code, output = runOnQemu qemu an386 elf

            Expect.equal code 0 $"{name}, TERN_KERNELS_DSP={dsp} under QEMU:\n{output}"

            Expect.stringContains
                output
                "failures: 0"
                $"{name}, TERN_KERNELS_DSP={dsp} under QEMU: the driver's failures"

            let m = Regex.Match(output, @"model_run input 0 instructions=(\d+)")
            Expect.isTrue m.Success $"no instruction count in:\n{output}"
            counts[(name, dsp)] <- int64 m.Groups[1].Value

            let layers =
                Regex.Matches(output, @"layer (\d+) instructions=(\d+)")
                |> Seq.map (fun l -> $"L{l.Groups[1].Value} {l.Groups[2].Value}")
                |> String.concat ", "

            let body = if dsp = 1 then "dsp" else "reference"

            report.Append($"{name, -8} {body, -10} {counts[(name, dsp)], 10} instructions ({layers})\n")
            |> ignore

    for name, _ in generated.Models do
        let r, d = counts[(name, 0)], counts[(name, 1)]

        report.Append($"{name, -8} reference / dsp = {float r / float d:F2}\n")
        |> ignore

    printfn "Instructions of one inference of the default model (QEMU -icount, mps2-an386):"
    printfn "%s" (report.ToString())
    // code and constant data of tern_model.c alone (the kernels and the test driver are common to all)
    let sizes = Text.StringBuilder()

    for name, md in generated.Models |> List.filter (fun (n, _) -> n <> "odd") do
        for dsp in [ 0; 1 ] do
            let obj = Path.Combine(md, $"model_{dsp}.o")

            let args =
                an386.CFlags
                @ strictFlags
                @ [ "-fno-schedule-insns"; $"-DTERN_KERNELS_DSP={dsp}"; "-c" ]
                @ includes md
                @ [ Path.Combine(md, "tern_model.c"); "-o"; obj ]

            let code, output = run gcc args 120_000
            Expect.equal code 0 $"arm-none-eabi-gcc -c failed for {name}:\n{output}"
            let size = Path.Combine(Path.GetDirectoryName gcc, "arm-none-eabi-size")
            let code, output = run size [ "-A"; obj ] 30_000
            Expect.equal code 0 output

            let section (prefix: string) =
                output.Split('\n')
                |> Array.sumBy (fun line ->
                    match line.Split([| ' '; '\t' |], StringSplitOptions.RemoveEmptyEntries) with
                    | [| n; v; _ |] when n.StartsWith prefix -> int64 v
                    | _ -> 0L)

            let body = if dsp = 1 then "dsp" else "reference"

            let text, rodata = section ".text", section ".rodata"

            sizes.Append($"{name, -8} {body, -10} model.o .text {text, 6} bytes, .rodata {rodata, 6} bytes\n")
            |> ignore

    printfn "%s" (sizes.ToString())
    let ratio = float counts[("int8", 0)] / float counts[("int8", 1)]
    Expect.isGreaterThanOrEqual ratio 1.5 $"int8 DSP gain below 1.5x:\n{report}"
    // ternary layers baked into code (Emit.bakedLayerSource) must beat the int8 DSP kernels clearly
    let baked = float counts[("ternary", 1)] / float counts[("int8", 1)]
    let t, i = counts[("ternary", 1)], counts[("int8", 1)]
    let line = $"ternary dsp / int8 dsp = {baked:F3} ({t} / {i} instructions)"
    printfn "%s" line
    Expect.isLessThanOrEqual baked 0.7 $"{line}\n{report}"

[<Tests>]
let tests =
    testList "CKernelTests" [
        testCase "vectors are stamped and deterministic by seed"
        <| fun () ->
            let text = File.ReadAllText (fixture.Force()).Vectors
            Expect.stringContains text $"seed={kernelSeed} cases={kernelCount}" "vectors.c is stamped"
            Expect.equal (KernelVectors.kernelSource kernelSeed kernelCount) text "the same seed, the same vectors"

            Expect.notEqual (KernelVectors.kernelSource (kernelSeed + 1) kernelCount) text "another seed, other vectors"
            // every kind of layer, int8 and ternary, is among the cases
            let kinds =
                KernelVectors.cases kernelSeed kernelCount
                |> List.map (fun c -> c.Name.Split(' ')[0..1] |> String.concat " ")
                |> set

            for k in
                [
                    "Conv s8"
                    "Conv t2"
                    "Pointwise s8"
                    "Pointwise t2"
                    "Dense s8"
                    "Dense t2"
                    "Depthwise s8"
                    "Depthwise t2"
                ] do
                Expect.contains kinds k "the kinds of layer among the cases"

            let names = KernelVectors.cases kernelSeed kernelCount |> List.map (fun c -> c.Name)

            for k in [ "MaxPool"; "AvgPool"; "GlobalAvgPool"; "Add" ] do
                Expect.isTrue (names |> List.exists (fun n -> n.StartsWith(k + " "))) k

            // the new geometry is among them: asymmetric convolution padding, padded max and average pools
            let layers =
                KernelVectors.cases kernelSeed kernelCount |> List.map (fun c -> c.Layer)

            for kind in [ IntLayerKind.Conv; IntLayerKind.Depthwise ] do
                for weights in [ WeightKind.Int8; WeightKind.Ternary ] do
                    Expect.isTrue
                        (layers
                         |> List.exists (function
                             | :? IntConvLayer as c ->
                                 c.Kind = kind && c.WeightKind = weights && not c.HasSymmetricPadding
                             | _ -> false))
                        $"asymmetric {kind} {weights}"

            for kind in [ IntLayerKind.MaxPool; IntLayerKind.AvgPool ] do
                Expect.isTrue
                    (layers
                     |> List.exists (function
                         | :? IntPoolLayer as p -> p.Kind = kind && p.IsPadded
                         | _ -> false))
                    $"padded {kind}"

            // and unpadded single-channel average pools whose window rows are a word, and a word and more
            for widths, name in [ [ 4 ], "a word"; [ 5; 6 ], "a word and more" ] do
                Expect.isTrue
                    (layers
                     |> List.exists (function
                         | :? IntPoolLayer as p ->
                             p.Kind = IntLayerKind.AvgPool
                             && p.Input.C = 1
                             && not p.IsPadded
                             && List.contains p.KernelW widths
                         | _ -> false))
                    $"a single-channel average pool with window rows of {name}"

        testList "native: both bodies match the C# kernels and the model matches the C# runner" [
            for dsp in [ 0; 1 ] -> testCase $"TERN_KERNELS_DSP={dsp}" <| fun () -> native dsp
        ]

        testCase
            "qemu mps2-an386: both bodies and the models match; DSP needs 1.5x fewer instructions, baked ternary at most 0.7x int8"
            onQemu
    ]
