/// `tern export c`: prefixes, the folder's contents, the verb's errors, and the folder built as a user would
/// (make host, one program with both models, make lib for the Cortex-M4, a firmware on QEMU, CMake), every output
/// byte compared with the host runtime. Toolchain tests are ignored, naming the Debian packages, without them.
module Tern.Tests.ExportTests

open System
open System.IO
open System.Text
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Rig
open Tern.Tests.CliTests

/// The models, their inputs and the host's answers.
module private ExportGen =

    /// The default architecture with ternary weights (baked into code by the DSP build).
    let ternary = lazy (KernelVectors.defaultModel LowerOptions.Ternary 1)

    /// The residual "blocks" architecture with int8 weights, with class names a C string must escape and the input
    /// scale 61 * 2^-14 (about the calibrated 1/255): few significant bits, so the ties (k + 1/2) * s are float32
    /// values, and a reciprocal that rounds badly, so a quantizer trusting its float estimate too near a tie fails
    /// (476 of the values edgeValues tries, for a fast path without its margin).
    let blocks =
        lazy
            (let m = KernelVectors.blocksModel LowerOptions.Int8 1
             let scale = float32 (61.0 * 2.0 ** -14.0)
             let names = [| "walk"; "sit \"down\""; "a\\b??=c"; "naïve–ü"; "other" |]
             IntModel(m.Name, m.Input, scale, m.InputZero, m.Layers, names))

    let hashOf (m: IntModel) =
        ModelFile.hash (ModelFile.serializeInt m)

    /// count float input tensors: most in [0, 1) like the data, some far outside the input range, some on ties.
    let inputs (m: IntModel) (seed: int) (count: int) : Tensor list =
        let rng = Random(seed)
        let s = float m.InputScale

        Lower.randomCalibration seed (count - count / 5) m.Input
        @ List.init (count / 5) (fun i ->
            Tensor.ofArray
                m.Input
                (Array.init m.Input.Size (fun _ ->
                    match i % 3 with
                    | 0 -> float32 (rng.NextDouble() * 6.0 - 3.0)
                    | 1 -> float32 ((float (rng.Next(-300, 300)) + 0.5) * s) // ties or their nearest float32
                    | _ -> float32 (rng.NextDouble() * 300.0 * s - 150.0 * s))))

    /// Little-endian float32 bytes.
    let floatBytes (values: float32 seq) : byte[] =
        values
        |> Seq.collect (fun (v: float32) -> BitConverter.GetBytes v)
        |> Array.ofSeq

    /// The host's int8 logits of each tensor, concatenated (the C# runtime on the host's own quantization).
    let hostOutputs (m: IntModel) (tensors: Tensor list) : byte[] =
        let runner = Runner(m, KernelMode.Optimized)

        tensors
        |> List.collect (fun t -> runner.Run(Lower.quantizeInput m t) |> List.ofArray)
        |> List.map byte
        |> Array.ofList

    /// Float values at the edges of the quantizer: ties and their float32 neighbours, both sides of the fast path's
    /// margin, the int8 clamps, zeros, infinities, NaN, subnormals, huge values and random bit patterns.
    let edgeValues (m: IntModel) (seed: int) : float32[] =
        let s = float m.InputScale
        let rng = Random(seed)

        // x's float32 and its neighbours up to 4 ulps away on each side
        let near (x: float) =
            let f = float32 x

            [ 1..4 ]
            |> List.scan (fun (lo, hi) _ -> MathF.BitDecrement lo, MathF.BitIncrement hi) (f, f)
            |> List.collect (fun (lo, hi) -> [ lo; hi ])
            |> List.distinct

        [|
            yield! [ 0.0f; -0.0f; infinityf; -infinityf; nanf; Single.MaxValue; -Single.MaxValue ]
            yield! [ Single.Epsilon; -Single.Epsilon; 1e-30f; -1e-30f; 1e10f; -1e10f ]

            for k in -300 .. 300 do
                yield! near ((float k + 0.5) * s)
                yield! near (float k * s)

                for d in [ -0.00026; -0.00024; 0.00024; 0.00026 ] do
                    yield float32 ((float k + 0.5 + d) * s)

            let bits = Array.zeroCreate<byte> 4

            for _ in 1..20000 do
                rng.NextBytes bits
                yield BitConverter.ToSingle(bits, 0) // any bit pattern: NaNs, infinities, subnormals
                yield float32 ((rng.NextDouble() * 600.0 - 300.0) * s)
        |]

    /// The host's code for each value (Lower.quantizeInput; NaN, which the host refuses, is the zero point).
    let hostCodes (m: IntModel) (values: float32[]) : byte[] =
        let finite = values |> Array.map (fun v -> if Single.IsNaN v then 0.0f else v)

        let flat =
            IntModel(m.Name, Shape3(1, 1, finite.Length), m.InputScale, m.InputZero, [||], [||])

        let codes = Lower.quantizeInput flat (Tensor.ofArray flat.Input finite)

        Array.map2 (fun (v: float32) (q: sbyte) -> byte (if Single.IsNaN v then sbyte m.InputZero else q)) values codes

    /// The host's dequantization of every code -128..127 as float32 bytes.
    let hostDequantized (m: IntModel) : byte[] =
        Lower.dequantize (Lower.outputParams m) (Array.init 256 (fun i -> sbyte (i - 128)))
        |> floatBytes

    let run (dir: string) (program: string) (args: string list) : string =
        let r = Proc.run program args (Some dir) (TimeSpan.FromMinutes 3.0)

        if r.ExitCode <> 0 then
            Assert.Fail $"{Proc.show program args} exited {r.ExitCode} in {dir}:\n{r.Stdout}\n{r.Stderr}"

        r.Stdout + r.Stderr

    let strict = "-O2 -std=c99 -Wall -Wextra -Werror"

    /// First differing byte, for messages.
    let firstDifference (a: byte[]) (b: byte[]) : string =
        if a.Length <> b.Length then
            $"lengths {a.Length} and {b.Length}"
        else
            match Seq.zip a b |> Seq.tryFindIndex (fun (x, y) -> x <> y) with
            | Some i -> $"byte {i}: {a[i]} vs {b[i]}"
            | None -> "none"

open ExportGen

// ---- prefixes and contents (no toolchain) ----

[<Property(MaxTest = 300)>]
let ``the default prefix of any file name is a C identifier the folder accepts`` (name: NonNull<string>) =
    let file = name.Get.Replace('/', '-').Replace('\\', '-') + ".tern"
    let p = Export.defaultPrefix file

    (Export.prefixProblem p).IsNone
    |> Prop.classify (p = "model") "nothing usable in the name"
    |> Prop.classify (p.EndsWith "_model" && p <> "model") "a reserved or keyword stem"
    |> Prop.classify (p.StartsWith "m_") "a leading digit"

[<Test>]
let ``default prefixes: the stem made an identifier, keywords and the folder's own files moved aside`` () =
    for file, expected in
        [
            "default-t2.tern", "default_t2"
            "models/Blocks Int8.tern", "blocks_int8"
            "1st.tern", "m_1st"
            "int.tern", "int_model"
            "conv_s8.tern", "conv_s8_model"
            "example.tern", "example_model"
            "--.tern", "model"
        ] do
        Assert.That(Export.defaultPrefix file, Is.EqualTo expected, file)

[<Test>]
let ``prefix checks refuse non-identifiers, keywords, reserved names, the folder's files and duplicates`` () =
    for bad in
        [
            ""
            "1x"
            "a-b"
            "a b"
            "_x"
            "x_"
            "int"
            "tern_kernels"
            "requantize"
            "example"
            String('a', 41)
        ] do
        Assert.That(Export.prefixProblem bad, Is.Not.EqualTo None, bad)

    for good in [ "har"; "har_t2"; "Model2"; "tern_model" ] do
        Assert.That(Export.prefixProblem good, Is.EqualTo None, good)

    Assert.That(Export.checkPrefixes [ "a"; "b" ], Is.EqualTo(Ok(): Result<unit, string>))

    match Export.checkPrefixes [ "har"; "HAR" ] with
    | Error e -> Assert.That(e, Does.Contain "har, HAR")
    | Ok() -> Assert.Fail "HAR_INPUT_BYTES would be defined twice"

let private spec (models: (string * IntModel) list) (kernels: ExportKernels) = {
    Models =
        models
        |> List.map (fun (p, m) -> {
            File = p + ".tern"
            Prefix = p
            Model = m
            Hash = hashOf m
        })
    Kernels = kernels
    Library = "models"
    CommandLine = "ExportTests"
}

let private readHil (relative: string) =
    File.ReadAllText(Path.Combine(Boards.hilRoot (), relative))

[<Test>]
let ``an export is deterministic and holds exactly the kernels its models call`` () =
    let build s =
        match Export.build s readHil with
        | Ok f -> f
        | Error e -> failwith e

    let both = spec [ "har", ternary.Value; "blk", blocks.Value ] AutoKernels
    let a, b = build both, build both
    Assert.That(b.Files, Is.EqualTo(box a.Files))

    Assert.That(
        a.Files |> List.map fst,
        Is.EquivalentTo(
            [
                "har.h"
                "har.c"
                "blk.h"
                "blk.c"
                "tern_kernels.h"
                "tern_kernels_internal.h"
                "example.c"
                "Makefile"
                "CMakeLists.txt"
                "README.md"
                Export.manifestName
            ]
            @ a.KernelSources
        )
    )

    // the ternary default model calls only ternary kernels and the pool; the int8 blocks model adds its own
    let t = build (spec [ "har", ternary.Value ] AutoKernels)
    Assert.That(t.KernelSources, Is.EqualTo(box [ "requantize.c"; "conv_t2.c"; "depthwise_t2.c"; "avgpool_s8.c" ]))
    Assert.That(a.KernelSources, Does.Contain "add_s8.c")
    Assert.That(a.KernelSources, Does.Contain "conv_s8.c")
    // example.c runs the first model; the README and Makefile name every file
    let text name =
        a.Files |> List.find (fst >> (=) name) |> snd

    Assert.That(text "example.c", Does.Contain "har_run(input, output)")

    for f in a.KernelSources @ [ "har.c"; "blk.c" ] do
        Assert.That(text "Makefile", Does.Contain f)
        Assert.That(text "CMakeLists.txt", Does.Contain f)

    Assert.That(text "README.md", Does.Contain(hashOf blocks.Value))

    // two models with one prefix never reach the emitter
    match Export.build (spec [ "har", ternary.Value; "HAR", blocks.Value ] AutoKernels) readHil with
    | Error e -> Assert.That(e, Does.Contain "prefix")
    | Ok _ -> Assert.Fail "duplicate prefixes were accepted"

[<Test>]
let ``--kernels fixes TERN_KERNELS_DSP in tern_kernels.h unless the build defines it; auto leaves the header as it is``
    ()
    =
    let header k =
        match Export.build (spec [ "har", ternary.Value ] k) readHil with
        | Ok f -> f.Files |> List.find (fst >> (=) "tern_kernels.h") |> snd
        | Error e -> failwith e

    Assert.That(header AutoKernels, Is.EqualTo(readHil "include/tern_kernels.h"))
    Assert.That(header DspKernels, Does.Contain "#ifndef TERN_KERNELS_DSP\n#define TERN_KERNELS_DSP 1\n#endif")
    Assert.That(header ReferenceKernels, Does.Contain "#ifndef TERN_KERNELS_DSP\n#define TERN_KERNELS_DSP 0\n#endif")

[<Test>]
let ``class names become C string literals: quotes, backslashes, trigraphs and UTF-8 escaped`` () =
    Assert.That(Emit.cString "walk", Is.EqualTo "\"walk\"")
    Assert.That(Emit.cString "sit \"down\"", Is.EqualTo "\"sit \\\"down\\\"\"")
    Assert.That(Emit.cString "a\\b??=c", Is.EqualTo "\"a\\\\b\\?\\?=c\"")
    // UTF-8 bytes as three-digit octal escapes, so a following digit cannot join them
    Assert.That(Emit.cString "ï1", Is.EqualTo "\"\\303\\2571\"")

// ---- the verb: errors and the JSON (in-process) ----

[<NonParallelizable>]
type ExportVerbTests() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-export-verb-" + Guid.NewGuid().ToString("N"))

    let path name = Path.Combine(dir, name)

    [<OneTimeSetUp>]
    member _.Setup() =
        Directory.CreateDirectory(path "a") |> ignore
        Directory.CreateDirectory(path "b") |> ignore
        ModelFile.saveInt (path "har-t2.tern") ternary.Value
        ModelFile.saveInt (path "a/same.tern") ternary.Value
        ModelFile.saveInt (path "b/same.tern") blocks.Value
        ModelFile.saveFloat (path "float.tern") (Architectures.defaultModel 1)

    [<OneTimeTearDown>]
    member _.TearDown() = Directory.Delete(dir, true)

    /// The folder's entries besides the inputs: nothing half-written may remain.
    member private _.Leftovers() =
        Directory.GetFileSystemEntries dir
        |> Array.map Path.GetFileName
        |> Array.filter (fun n -> not (n.EndsWith ".tern") && n <> "a" && n <> "b")
        |> Array.sort

    [<Test>]
    member this.``export c writes the folder and reports every model in one JSON object``() =
        let out = path "ok"

        let code, stdout, err =
            tern [
                "export"
                "c"
                path "har-t2.tern"
                path "b/same.tern"
                "--out"
                out
                "--json"
            ]

        Assert.That(code, Is.EqualTo 0, err)
        let j = json stdout
        Assert.That(j.GetProperty("out").GetString(), Is.EqualTo(Path.GetFullPath out))
        Assert.That(j.GetProperty("library").GetString(), Is.EqualTo "libok.a")
        Assert.That(j.GetProperty("kernels").GetString(), Is.EqualTo "auto")
        let models = j.GetProperty("models").EnumerateArray() |> Array.ofSeq

        Assert.That(
            models |> Array.map (fun m -> m.GetProperty("prefix").GetString()),
            Is.EqualTo(box [| "har_t2"; "same" |])
        )

        let plan = MemoryPlan.Create ternary.Value

        for key, value in
            [
                "hash", hashOf ternary.Value
                "input_bytes", string ternary.Value.Input.Size
                "output_bytes", "5"
                "arena_bytes", string plan.ArenaBytes
                "flash_bytes", string (ternary.Value.Layers |> Array.sumBy (fun l -> l.WeightBytes))
                "class_count", "5"
            ] do
            Assert.That(models[0].GetProperty(key).ToString(), Is.EqualTo value, key)

        let files =
            j.GetProperty("files").EnumerateArray()
            |> Seq.map (fun f -> f.GetString())
            |> Array.ofSeq

        Assert.That(
            Directory.GetFiles out |> Array.map Path.GetFileName |> Array.sort,
            Is.EqualTo(box (Array.sort files))
        )

        Assert.That(this.Leftovers(), Is.EqualTo(box [| "ok" |]))
        Directory.Delete(out, true)

    [<Test>]
    member this.``export c refuses bad input with exit 2 and writes nothing``() =
        let refuse (args: string list) (says: string) =
            let code, _, err = tern ([ "export"; "c" ] @ args @ [ "--out"; path "no" ])
            Assert.That(code, Is.EqualTo 2, $"{args}: {err}")
            Assert.That(err, Does.Contain says, $"{args}")
            Assert.That(this.Leftovers(), Is.Empty, $"{args}")

        refuse [ path "missing.tern" ] "missing.tern: file not found"
        refuse [ path "float.tern" ] "lower it first"
        refuse [ path "har-t2.tern"; "--prefix"; "har-t2" ] "C identifier"
        refuse [ path "har-t2.tern"; "--prefix"; "int" ] "keyword"
        refuse [ path "har-t2.tern"; "--prefix"; "conv_s8" ] "conv_s8"
        refuse [ path "har-t2.tern"; path "b/same.tern"; "--prefix"; "one" ] "1 name(s) for 2 model(s)"
        refuse [ path "a/same.tern"; path "b/same.tern" ] "share the prefix"
        refuse [ path "har-t2.tern"; path "b/same.tern"; "--prefix"; "x,X" ] "share the prefix"

    [<Test>]
    member this.``export c replaces an earlier export whole but never a folder of the user's``() =
        let out = path "again"

        let code, _, err =
            tern [ "export"; "c"; path "har-t2.tern"; path "b/same.tern"; "--out"; out ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That(File.Exists(Path.Combine(out, "same.c")))

        let code, _, err =
            tern [ "export"; "c"; path "har-t2.tern"; "--out"; out; "--kernels"; "dsp" ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That(File.Exists(Path.Combine(out, "same.c")), Is.False, "the earlier export's files are gone")
        Assert.That(File.ReadAllText(Path.Combine(out, "tern_kernels.h")), Does.Contain "#define TERN_KERNELS_DSP 1")
        Assert.That(this.Leftovers(), Is.EqualTo(box [| "again" |]))
        Directory.Delete(out, true)
        // a folder of the user's, with a file of its own, is left as it is
        let mine = path "mine"
        Directory.CreateDirectory mine |> ignore
        File.WriteAllText(Path.Combine(mine, "notes.txt"), "keep")
        let code, _, err = tern [ "export"; "c"; path "har-t2.tern"; "--out"; mine ]
        Assert.That(code, Is.EqualTo 2)
        Assert.That(err, Does.Contain Export.manifestName)
        Assert.That(Directory.GetFiles mine |> Array.map Path.GetFileName, Is.EqualTo(box [| "notes.txt" |]))
        Directory.Delete(mine, true)

// ---- the folder built as a user would ----

/// One export of the two models (default prefixes har_t2 and blocks_i8, kernels auto), copied to a second folder
/// outside the repository so that nothing can reach back into it; the inputs and the host's answers beside it.
[<NonParallelizable>]
type ExportBuildTests() =
    let root =
        Path.Combine(Path.GetTempPath(), "tern-export-build-" + Guid.NewGuid().ToString("N"))

    let folder = Path.Combine(root, "copy", "har_models")
    let models = lazy [ "har_t2", ternary.Value; "blocks_i8", blocks.Value ]
    let count = 100

    let tensors =
        lazy
            (models.Value
             |> List.mapi (fun i (p, m) -> p, inputs m (40 + i) count)
             |> Map.ofList)

    /// Writes each model's inputs and edge values into a folder (the names export_test.c reads).
    let writeInputs (dir: string) =
        for p, m in models.Value do
            File.WriteAllBytes(
                Path.Combine(dir, p + ".f32"),
                tensors.Value[p] |> Seq.collect (fun t -> t.Data) |> floatBytes
            )

            File.WriteAllBytes(Path.Combine(dir, p + "_edges.f32"), edgeValues m 7 |> floatBytes)

    /// Compares what export_test.c wrote in dir with the host's answers.
    let checkDriverOutputs (dir: string) =
        for p, m in models.Value do
            let read suffix =
                File.ReadAllBytes(Path.Combine(dir, p + suffix))

            let expected = hostOutputs m tensors.Value[p]
            let outputs = read ".s8"
            Assert.That(outputs, Is.EqualTo(box expected), $"{p} outputs: {firstDifference outputs expected}")
            let codes = hostCodes m (edgeValues m 7)
            let got = read "_edges.s8"
            Assert.That(got, Is.EqualTo(box codes), $"{p} quantize: {firstDifference got codes}")
            Assert.That(read "_deq.f32", Is.EqualTo(box (hostDequantized m)), $"{p} dequantize")
            let names = String.concat "" (m.ClassNames |> Array.map (fun n -> n + "\n"))
            Assert.That(Encoding.UTF8.GetString(read "_classes.txt"), Is.EqualTo names, $"{p} class names")

    /// -D flags naming the two models for export_test.c.
    let driverDefines =
        models.Value
        |> List.zip [ "A"; "B" ]
        |> List.collect (fun (slot, (p, _)) -> [
            $"-DTERN_EXPORT_{slot}={p}"
            $"-DTERN_EXPORT_{slot}_UP={p.ToUpperInvariant()}"
            $"-DTERN_EXPORT_{slot}_H=\"{p}.h\""
        ])

    let modelFiles (dir: string) =
        Directory.GetFiles(dir, "*.c")
        |> Array.filter (fun f -> Path.GetFileName f <> "example.c")
        |> Array.sort
        |> List.ofArray

    [<OneTimeSetUp>]
    member _.Setup() =
        let made = Path.Combine(root, "made")
        Directory.CreateDirectory made |> ignore

        for p, m in models.Value do
            ModelFile.saveInt (Path.Combine(made, p.Replace('_', '-') + ".tern")) m

        let out = Path.Combine(made, "har_models")

        let code, _, err =
            tern [
                "export"
                "c"
                Path.Combine(made, "har-t2.tern")
                Path.Combine(made, "blocks-i8.tern")
                "--out"
                out
            ]

        Assert.That(code, Is.EqualTo 0, err)
        Directory.CreateDirectory folder |> ignore

        for f in Directory.GetFiles out do
            File.Copy(f, Path.Combine(folder, Path.GetFileName f))

    [<OneTimeTearDown>]
    member _.TearDown() =
        if Directory.Exists root then
            Directory.Delete(root, true)

    [<Test>]
    member _.``make host: example on 100 inputs writes the C# runtime's bytes``() =
        EmulatedBoard.require [ "make", "make"; "cc", "gcc" ]
        let dir = Path.Combine(root, "host")
        Directory.CreateDirectory dir |> ignore

        for f in Directory.GetFiles folder do
            File.Copy(f, Path.Combine(dir, Path.GetFileName f), true)

        run dir "make" [ "host"; $"CFLAGS={strict}" ] |> ignore
        writeInputs dir
        let example = Path.Combine(dir, "example")
        let said = run dir example [ "har_t2.f32"; "out.s8" ]
        Assert.That(said, Does.Contain $"{count} tensors")
        let got = File.ReadAllBytes(Path.Combine(dir, "out.s8"))
        let expected = hostOutputs ternary.Value tensors.Value["har_t2"]
        Assert.That(got, Is.EqualTo(box expected), firstDifference got expected)
        // a file that is not whole tensors is refused before anything is written
        File.WriteAllBytes(Path.Combine(dir, "cut.f32"), Array.zeroCreate 10)

        let r =
            Proc.run example [ "cut.f32"; "cut.s8" ] (Some dir) (TimeSpan.FromSeconds 30.0)

        Assert.That(r.ExitCode, Is.EqualTo 2, r.Stderr)
        Assert.That(File.Exists(Path.Combine(dir, "cut.s8")), Is.False)

    [<Test>]
    member _.``both models in one native program: outputs, quantization edges, dequantization and class names match the host``
        ()
        =
        EmulatedBoard.require [ "gcc", "gcc" ]
        let dir = Path.Combine(root, "native")
        Directory.CreateDirectory dir |> ignore
        writeInputs dir
        let driver = Path.Combine(Boards.hilRoot (), "tests", "export_test.c")
        let exe = Path.Combine(dir, "both")

        run
            dir
            "gcc"
            ((strict.Split ' ' |> List.ofArray)
             @ driverDefines
             @ [ "-I" + folder; driver ]
             @ modelFiles folder
             @ [ "-o"; exe ])
        |> ignore

        let said = run dir exe []
        Assert.That(said, Does.Contain "failures: 0")
        checkDriverOutputs dir

    [<Test>]
    member _.``make lib for the Cortex-M4: both models, shared kernels, no mutable global but the kernels' scratch``() =
        EmulatedBoard.require [ "make", "make"; "arm-none-eabi-gcc", "gcc-arm-none-eabi" ]
        let dir = Path.Combine(root, "m4")
        Directory.CreateDirectory dir |> ignore

        for f in Directory.GetFiles folder do
            File.Copy(f, Path.Combine(dir, Path.GetFileName f), true)

        run dir "make" [
            "lib"
            "CC=arm-none-eabi-gcc"
            "AR=arm-none-eabi-ar"
            $"CFLAGS=-mcpu=cortex-m4 -mthumb {strict}"
        ]
        |> ignore

        let lib = Path.Combine(dir, "libhar_models.a")
        Assert.That(File.Exists lib)
        let symbols = run dir "arm-none-eabi-nm" [ "-g"; "--defined-only"; lib ]

        for p in [ "har_t2"; "blocks_i8" ] do
            for name in
                [
                    "_run"
                    "_run_layers"
                    "_quantize"
                    "_dequantize"
                    "_class_names"
                    "_hash"
                    "_kernels"
                ] do
                Assert.That(symbols, Does.Contain $" {p}{name}\n")

        // external writable data (D, B, C): the DSP bodies' shared scratch only; each arena is static in its p.c
        let writable =
            symbols.Split('\n')
            |> Array.choose (fun l ->
                match l.Split(' ') with
                | [| _; kind; name |] when kind = "D" || kind = "B" || kind = "C" -> Some name
                | _ -> None)

        Assert.That(writable, Is.EqualTo(box [| "tern_scratch" |]))

    [<Test>]
    member _.``a Cortex-M4 firmware built from the folder runs both models bit-exact on qemu mps2-an386``() =
        EmulatedBoard.require [
            "make", "make"
            "arm-none-eabi-gcc", "gcc-arm-none-eabi"
            "/usr/lib/arm-none-eabi/newlib/libc_nano.a", "libnewlib-arm-none-eabi"
            "qemu-system-arm", "qemu-system-arm"
        ]

        let dir = Path.Combine(root, "qemu")
        Directory.CreateDirectory dir |> ignore

        for f in Directory.GetFiles folder do
            File.Copy(f, Path.Combine(dir, Path.GetFileName f), true)

        let board = EmulatedBoard.board "qemu-mps2-an386"

        let cpu = board.CFlags
        let sections = [ "-ffunction-sections"; "-fdata-sections" ]

        run dir "make" [
            "lib"
            "CC=arm-none-eabi-gcc"
            "AR=arm-none-eabi-ar"
            "CFLAGS=" + String.Join(" ", cpu @ sections) + " " + strict
        ]
        |> ignore

        let hil = Boards.hilRoot ()
        let elf = Path.Combine(dir, "firmware.elf")

        run
            dir
            "arm-none-eabi-gcc"
            (cpu
             @ sections
             @ (strict.Split ' ' |> List.ofArray)
             @ [
                 "-nostartfiles"
                 "--specs=nano.specs"
                 "--specs=nosys.specs"
                 "-Wl,--gc-sections"
                 "-T"
                 board.LinkerScript
                 "-DTERN_TEST_BOARD"
             ]
             @ driverDefines
             @ [
                 "-I" + dir
                 "-I" + Path.Combine(hil, "include")
                 "-I" + Path.Combine(hil, "boards", "common")
                 Path.Combine(hil, "tests", "export_test.c")
             ]
             @ board.Sources
             @ [ "-L" + dir; "-lhar_models"; "-o"; elf ])
        |> ignore

        writeInputs dir

        let said =
            run dir "qemu-system-arm" (Qemu.firmwareArguments "mps2-an386" elf @ [ "-serial"; "null" ])

        TestContext.Out.WriteLine said
        Assert.That(said, Does.Contain "failures: 0")
        Assert.That(said, Does.Contain $"har_t2: tensors {count}")
        checkDriverOutputs dir

    [<Test>]
    member _.``CMakeLists.txt builds the library and the example``() =
        EmulatedBoard.require [ "cmake", "cmake"; "make", "make"; "cc", "gcc" ]
        let build = Path.Combine(root, "cmake")
        Directory.CreateDirectory build |> ignore

        run build "cmake" [ "-S"; folder; "-B"; build; "-DCMAKE_BUILD_TYPE=Release" ]
        |> ignore

        run build "cmake" [ "--build"; build ] |> ignore
        Assert.That(File.Exists(Path.Combine(build, "libhar_models.a")))
        writeInputs build
        run build (Path.Combine(build, "example")) [ "har_t2.f32"; "out.s8" ] |> ignore
        let got = File.ReadAllBytes(Path.Combine(build, "out.s8"))
        Assert.That(got, Is.EqualTo(box (hostOutputs ternary.Value tensors.Value["har_t2"])))
