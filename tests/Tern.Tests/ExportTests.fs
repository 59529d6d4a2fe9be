/// `tern export c`: prefixes, the folder's contents, the verb's errors, and the folder built as a user would
/// (make host, one program with both models, make lib for the Cortex-M4, a firmware on QEMU, CMake), every output
/// byte compared with the host runtime. Toolchain tests are ignored, naming the Debian packages, without them.
module Tern.Tests.ExportTests

open System
open System.IO
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
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
            failtest $"{Proc.show program args} exited {r.ExitCode} in {dir}:\n{r.Stdout}\n{r.Stderr}"

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

let private ``the default prefix of any file name is a C identifier the folder accepts`` (name: NonNull<string>) =
    let file = name.Get.Replace('/', '-').Replace('\\', '-') + ".tern"
    let p = Export.defaultPrefix file

    (Export.prefixProblem p).IsNone
    |> Prop.classify (p = "model") "nothing usable in the name"
    |> Prop.classify (p.EndsWith "_model" && p <> "model") "a reserved or keyword stem"
    |> Prop.classify (p.StartsWith "m_") "a leading digit"

let private ``default prefixes: the stem made an identifier, keywords and the folder's own files moved aside`` () =
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
        Expect.equal (Export.defaultPrefix file) expected file

let private ``prefix checks refuse non-identifiers, keywords, reserved names, the folder's files and duplicates`` () =
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
        Expect.notEqual (Export.prefixProblem bad) None bad

    for good in [ "har"; "har_t2"; "Model2"; "tern_model" ] do
        Expect.equal (Export.prefixProblem good) None good

    Expect.equal (Export.checkPrefixes [ "a"; "b" ]) (Ok(): Result<unit, string>) "two prefixes"

    match Export.checkPrefixes [ "har"; "HAR" ] with
    | Error e -> Expect.stringContains e "har, HAR" "the error"
    | Ok() -> failtest "HAR_INPUT_BYTES would be defined twice"

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

let private ``an export is deterministic and holds exactly the kernels its models call`` () =
    let build s =
        match Export.build s readHil with
        | Ok f -> f
        | Error e -> failwith e

    let both = spec [ "har", ternary.Value; "blk", blocks.Value ] AutoKernels
    let a, b = build both, build both
    Expect.equal b.Files a.Files "a second build gives the same files"

    let expectedFiles =
        [
            "har.h"
            "har.c"
            "blk.h"
            "blk.c"
            "tern_kernels.h"
            "tern_kernels_internal.h"
            "tern_baked.h" // the ternary model's baked layers
            "example.c"
            "Makefile"
            "CMakeLists.txt"
            "README.md"
            Export.manifestName
        ]
        @ a.KernelSources

    Expect.sequenceEqual (List.sort (a.Files |> List.map fst)) (List.sort expectedFiles) "the folder's files"

    // the ternary default model calls only ternary kernels and the pool; the int8 blocks model adds its own
    let t = build (spec [ "har", ternary.Value ] AutoKernels)

    Expect.equal
        t.KernelSources
        [ "requantize.c"; "conv_t2.c"; "depthwise_t2.c"; "avgpool_s8.c"; "baked.c" ]
        "the ternary model's kernels (and the baked layers' helpers)"

    // an int8 model alone has no baked layer: neither baked.c nor tern_baked.h
    let i8 = build (spec [ "blk", blocks.Value ] AutoKernels)
    Expect.isFalse (List.contains "baked.c" i8.KernelSources) "no baked.c for an int8 model"
    Expect.isFalse (i8.Files |> List.exists (fst >> (=) "tern_baked.h")) "no tern_baked.h for an int8 model"
    Expect.contains a.KernelSources "add_s8.c" "the kernels of both models"
    Expect.contains a.KernelSources "conv_s8.c" "the kernels of both models"
    // example.c runs the first model; the README and Makefile name every file
    let text name =
        a.Files |> List.find (fst >> (=) name) |> snd

    Expect.stringContains (text "example.c") "har_run(input, output)" "example.c"

    for f in a.KernelSources @ [ "har.c"; "blk.c" ] do
        Expect.stringContains (text "Makefile") f "the Makefile"
        Expect.stringContains (text "CMakeLists.txt") f "CMakeLists.txt"

    Expect.stringContains (text "README.md") (hashOf blocks.Value) "README.md"

    // two models with one prefix never reach the emitter
    match Export.build (spec [ "har", ternary.Value; "HAR", blocks.Value ] AutoKernels) readHil with
    | Error e -> Expect.stringContains e "prefix" "the error"
    | Ok _ -> failtest "duplicate prefixes were accepted"

let private ``--kernels fixes TERN_KERNELS_DSP in tern_kernels.h unless the build defines it; auto leaves the header as it is``
    ()
    =
    let header k =
        match Export.build (spec [ "har", ternary.Value ] k) readHil with
        | Ok f -> f.Files |> List.find (fst >> (=) "tern_kernels.h") |> snd
        | Error e -> failwith e

    Expect.equal (header AutoKernels) (readHil "include/tern_kernels.h") "the header with --kernels auto"

    Expect.stringContains
        (header DspKernels)
        "#ifndef TERN_KERNELS_DSP\n#define TERN_KERNELS_DSP 1\n#endif"
        "the header with --kernels dsp"

    Expect.stringContains
        (header ReferenceKernels)
        "#ifndef TERN_KERNELS_DSP\n#define TERN_KERNELS_DSP 0\n#endif"
        "the header with --kernels reference"

let private ``class names become C string literals: quotes, backslashes, trigraphs and UTF-8 escaped`` () =
    Expect.equal (Emit.cString "walk") "\"walk\"" "a plain name"
    Expect.equal (Emit.cString "sit \"down\"") "\"sit \\\"down\\\"\"" "quotes"
    Expect.equal (Emit.cString "a\\b??=c") "\"a\\\\b\\?\\?=c\"" "a backslash and a trigraph"
    // UTF-8 bytes as three-digit octal escapes, so a following digit cannot join them
    Expect.equal (Emit.cString "ï1") "\"\\303\\2571\"" "UTF-8 followed by a digit"

// ---- the verb: errors and the JSON (in-process) ----

module private ExportVerbTests =
    /// The fixture's folder: the models the tests export (two with one file name, in folders a and b), made once.
    let private dir =
        lazy
            (let dir = Scratch.folder "tern-export-verb"
             let path name = Path.Combine(dir, name)
             Directory.CreateDirectory(path "a") |> ignore
             Directory.CreateDirectory(path "b") |> ignore
             ModelFile.saveInt (path "har-t2.tern") ternary.Value
             ModelFile.saveInt (path "a/same.tern") ternary.Value
             ModelFile.saveInt (path "b/same.tern") blocks.Value
             ModelFile.saveFloat (path "float.tern") (Architectures.defaultModel 1)
             dir)

    let private path name = Path.Combine(dir.Value, name)

    /// The folder's entries besides the inputs: nothing half-written may remain.
    let private leftovers () =
        Directory.GetFileSystemEntries dir.Value
        |> Array.map Path.GetFileName
        |> Array.filter (fun n -> not (n.EndsWith ".tern") && n <> "a" && n <> "b")
        |> Array.sort

    let ``export c writes the folder and reports every model in one JSON object`` () =
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

        Expect.equal code 0 err
        let j = json stdout
        Expect.equal (j.GetProperty("out").GetString()) (Path.GetFullPath out) "out"
        Expect.equal (j.GetProperty("library").GetString()) "libok.a" "library"
        Expect.equal (j.GetProperty("kernels").GetString()) "auto" "kernels"
        let models = j.GetProperty("models").EnumerateArray() |> Array.ofSeq

        Expect.equal
            (models |> Array.map (fun m -> m.GetProperty("prefix").GetString()))
            [| "har_t2"; "same" |]
            "prefixes"

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
            Expect.equal (models[0].GetProperty(key).ToString()) value key

        let files =
            j.GetProperty("files").EnumerateArray()
            |> Seq.map (fun f -> f.GetString())
            |> Array.ofSeq

        Expect.equal
            (Directory.GetFiles out |> Array.map Path.GetFileName |> Array.sort)
            (Array.sort files)
            "the files written are the files reported"

        Expect.equal (leftovers ()) [| "ok" |] "the folder's entries besides the inputs"
        Directory.Delete(out, true)

    let ``export c refuses bad input with exit 2 and writes nothing`` () =
        let refuse (args: string list) (says: string) =
            let code, _, err = tern ([ "export"; "c" ] @ args @ [ "--out"; path "no" ])
            Expect.equal code 2 $"{args}: {err}"
            Expect.stringContains err says $"{args}"
            Expect.isEmpty (leftovers ()) $"{args}"

        refuse [ path "missing.tern" ] "missing.tern: file not found"
        refuse [ path "float.tern" ] "lower it first"
        refuse [ path "har-t2.tern"; "--prefix"; "har-t2" ] "C identifier"
        refuse [ path "har-t2.tern"; "--prefix"; "int" ] "keyword"
        refuse [ path "har-t2.tern"; "--prefix"; "conv_s8" ] "conv_s8"
        refuse [ path "har-t2.tern"; path "b/same.tern"; "--prefix"; "one" ] "1 name(s) for 2 model(s)"
        refuse [ path "a/same.tern"; path "b/same.tern" ] "share the prefix"
        refuse [ path "har-t2.tern"; path "b/same.tern"; "--prefix"; "x,X" ] "share the prefix"

    let ``export c replaces an earlier export whole but never a folder of the user's`` () =
        let out = path "again"

        let code, _, err =
            tern [ "export"; "c"; path "har-t2.tern"; path "b/same.tern"; "--out"; out ]

        Expect.equal code 0 err
        Expect.isTrue (File.Exists(Path.Combine(out, "same.c"))) "same.c written"

        let code, _, err =
            tern [ "export"; "c"; path "har-t2.tern"; "--out"; out; "--kernels"; "dsp" ]

        Expect.equal code 0 err
        Expect.isFalse (File.Exists(Path.Combine(out, "same.c"))) "the earlier export's files are gone"

        Expect.stringContains
            (File.ReadAllText(Path.Combine(out, "tern_kernels.h")))
            "#define TERN_KERNELS_DSP 1"
            "tern_kernels.h"

        Expect.equal (leftovers ()) [| "again" |] "the folder's entries besides the inputs"
        Directory.Delete(out, true)
        // a folder of the user's, with a file of its own, is left as it is
        let mine = path "mine"
        Directory.CreateDirectory mine |> ignore
        File.WriteAllText(Path.Combine(mine, "notes.txt"), "keep")
        let code, _, err = tern [ "export"; "c"; path "har-t2.tern"; "--out"; mine ]
        Expect.equal code 2 "exit code"
        Expect.stringContains err Export.manifestName "stderr"

        Expect.equal
            (Directory.GetFiles mine |> Array.map Path.GetFileName)
            [| "notes.txt" |]
            "the user's folder is left as it is"

        Directory.Delete(mine, true)

// ---- the folder built as a user would ----

/// One export of the two models (default prefixes har_t2 and blocks_i8, kernels auto), copied to a second folder
/// outside the repository so that nothing can reach back into it; the inputs and the host's answers beside it.
module private ExportBuildTests =
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
            Expect.equal outputs expected $"{p} outputs: {firstDifference outputs expected}"
            let codes = hostCodes m (edgeValues m 7)
            let got = read "_edges.s8"
            Expect.equal got codes $"{p} quantize: {firstDifference got codes}"
            Expect.equal (read "_deq.f32") (hostDequantized m) $"{p} dequantize"
            let names = String.concat "" (m.ClassNames |> Array.map (fun n -> n + "\n"))
            Expect.equal (Encoding.UTF8.GetString(read "_classes.txt")) names $"{p} class names"

    /// -D flags naming the two models for export_test.c.
    let driverDefines () =
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

    /// The fixture: (a folder for the tests' builds, the copy of the export in it), made once.
    let private fixture =
        lazy
            (let root = Scratch.folder "tern-export-build"
             let folder = Path.Combine(root, "copy", "har_models")
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

             Expect.equal code 0 err
             Directory.CreateDirectory folder |> ignore

             for f in Directory.GetFiles out do
                 File.Copy(f, Path.Combine(folder, Path.GetFileName f))

             root, folder)

    let ``make host: example on 100 inputs writes the C# runtime's bytes`` () =
        EmulatedBoard.require [ "make", "make"; "cc", "gcc" ]
        let root, folder = fixture.Value
        let dir = Path.Combine(root, "host")
        Directory.CreateDirectory dir |> ignore

        for f in Directory.GetFiles folder do
            File.Copy(f, Path.Combine(dir, Path.GetFileName f), true)

        run dir "make" [ "host"; $"CFLAGS={strict}" ] |> ignore
        writeInputs dir
        let example = Path.Combine(dir, "example")
        let said = run dir example [ "har_t2.f32"; "out.s8" ]
        Expect.stringContains said $"{count} tensors" "what the program printed"
        let got = File.ReadAllBytes(Path.Combine(dir, "out.s8"))
        let expected = hostOutputs ternary.Value tensors.Value["har_t2"]
        Expect.equal got expected (firstDifference got expected)
        // a file that is not whole tensors is refused before anything is written
        File.WriteAllBytes(Path.Combine(dir, "cut.f32"), Array.zeroCreate 10)

        let r =
            Proc.run example [ "cut.f32"; "cut.s8" ] (Some dir) (TimeSpan.FromSeconds 30.0)

        Expect.equal r.ExitCode 2 r.Stderr
        Expect.isFalse (File.Exists(Path.Combine(dir, "cut.s8"))) "cut.s8 written"

    let ``both models in one native program: outputs, quantization edges, dequantization and class names match the host``
        ()
        =
        EmulatedBoard.require [ "gcc", "gcc" ]
        let root, folder = fixture.Value
        let dir = Path.Combine(root, "native")
        Directory.CreateDirectory dir |> ignore
        writeInputs dir
        let driver = Path.Combine(Boards.hilRoot (), "tests", "export_test.c")
        let exe = Path.Combine(dir, "both")

        run
            dir
            "gcc"
            ((strict.Split ' ' |> List.ofArray)
             @ driverDefines ()
             @ [ "-I" + folder; driver ]
             @ modelFiles folder
             @ [ "-o"; exe ])
        |> ignore

        let said = run dir exe []
        Expect.stringContains said "failures: 0" "what the program printed"
        checkDriverOutputs dir

    let ``make lib for the Cortex-M4: both models, shared kernels, no mutable global but the kernels' scratch`` () =
        EmulatedBoard.require [ "make", "make"; "arm-none-eabi-gcc", "gcc-arm-none-eabi" ]
        let root, folder = fixture.Value
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
        Expect.isTrue (File.Exists lib) "the library built"
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
                Expect.stringContains symbols $" {p}{name}\n" "the library's symbols"

        // external writable data (D, B, C): the DSP bodies' shared scratch only; each arena is static in its p.c
        let writable =
            symbols.Split('\n')
            |> Array.choose (fun l ->
                match l.Split(' ') with
                | [| _; kind; name |] when kind = "D" || kind = "B" || kind = "C" -> Some name
                | _ -> None)

        Expect.equal writable [| "tern_scratch" |] "external writable data"

    let ``a Cortex-M4 firmware built from the folder runs both models bit-exact on qemu mps2-an386`` () =
        EmulatedBoard.require [
            "make", "make"
            "arm-none-eabi-gcc", "gcc-arm-none-eabi"
            "/usr/lib/arm-none-eabi/newlib/libc_nano.a", "libnewlib-arm-none-eabi"
            "qemu-system-arm", "qemu-system-arm"
        ]

        let root, folder = fixture.Value
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
             @ driverDefines ()
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

        printfn "%s" said
        Expect.stringContains said "failures: 0" "what the program printed"
        Expect.stringContains said $"har_t2: tensors {count}" "what the program printed"
        checkDriverOutputs dir

    let ``CMakeLists.txt builds the library and the example`` () =
        EmulatedBoard.require [ "cmake", "cmake"; "make", "make"; "cc", "gcc" ]
        let root, folder = fixture.Value
        let build = Path.Combine(root, "cmake")
        Directory.CreateDirectory build |> ignore

        run build "cmake" [ "-S"; folder; "-B"; build; "-DCMAKE_BUILD_TYPE=Release" ]
        |> ignore

        run build "cmake" [ "--build"; build ] |> ignore
        Expect.isTrue (File.Exists(Path.Combine(build, "libhar_models.a"))) "the library built"
        writeInputs build
        run build (Path.Combine(build, "example")) [ "har_t2.f32"; "out.s8" ] |> ignore
        let got = File.ReadAllBytes(Path.Combine(build, "out.s8"))
        Expect.equal got (hostOutputs ternary.Value tensors.Value["har_t2"]) "the example's outputs"

[<Tests>]
let tests =
    testList "ExportTests" [
        testPropertyWithConfig
            (Properties.tests 300)
            "the default prefix of any file name is a C identifier the folder accepts"
            ``the default prefix of any file name is a C identifier the folder accepts``
        testCase
            "default prefixes: the stem made an identifier, keywords and the folder's own files moved aside"
            ``default prefixes: the stem made an identifier, keywords and the folder's own files moved aside``
        testCase
            "prefix checks refuse non-identifiers, keywords, reserved names, the folder's files and duplicates"
            ``prefix checks refuse non-identifiers, keywords, reserved names, the folder's files and duplicates``
        testCase
            "an export is deterministic and holds exactly the kernels its models call"
            ``an export is deterministic and holds exactly the kernels its models call``
        testCase
            "--kernels fixes TERN_KERNELS_DSP in tern_kernels.h unless the build defines it; auto leaves the header as it is"
            ``--kernels fixes TERN_KERNELS_DSP in tern_kernels.h unless the build defines it; auto leaves the header as it is``
        testCase
            "class names become C string literals: quotes, backslashes, trigraphs and UTF-8 escaped"
            ``class names become C string literals: quotes, backslashes, trigraphs and UTF-8 escaped``
        testSequenced
        <| testList "ExportVerbTests" [
            testCase
                "export c writes the folder and reports every model in one JSON object"
                ExportVerbTests.``export c writes the folder and reports every model in one JSON object``
            testCase
                "export c refuses bad input with exit 2 and writes nothing"
                ExportVerbTests.``export c refuses bad input with exit 2 and writes nothing``
            testCase
                "export c replaces an earlier export whole but never a folder of the user's"
                ExportVerbTests.``export c replaces an earlier export whole but never a folder of the user's``
        ]
        testSequenced
        <| testList "ExportBuildTests" [
            testCase
                "make host: example on 100 inputs writes the C# runtime's bytes"
                ExportBuildTests.``make host: example on 100 inputs writes the C# runtime's bytes``
            testCase
                "both models in one native program: outputs, quantization edges, dequantization and class names match the host"
                ExportBuildTests
                    .``both models in one native program: outputs, quantization edges, dequantization and class names match the host``
            testCase
                "make lib for the Cortex-M4: both models, shared kernels, no mutable global but the kernels' scratch"
                ExportBuildTests
                    .``make lib for the Cortex-M4: both models, shared kernels, no mutable global but the kernels' scratch``
            testCase
                "a Cortex-M4 firmware built from the folder runs both models bit-exact on qemu mps2-an386"
                ExportBuildTests
                    .``a Cortex-M4 firmware built from the folder runs both models bit-exact on qemu mps2-an386``
            testCase
                "CMakeLists.txt builds the library and the example"
                ExportBuildTests.``CMakeLists.txt builds the library and the example``
        ]
    ]
