module Tern.Tests.CKernelTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open System.Text.RegularExpressions
open NUnit.Framework
open Tern.Core
open Tern.Runtime

/// Generated sources, toolchain runs and the repository layout for the C kernel tests.
module private CBuild =

    let kernelSeed = 11
    let kernelCount = 150
    let modelSeed = 1

    /// The repository root: the first ancestor of the test binary that holds hil/include/tern_kernels.h.
    let root: Lazy<string> =
        lazy
            (let rec up (d: DirectoryInfo) =
                if isNull d then
                    failwith "cannot find the repository root (hil/include/tern_kernels.h) above the test directory"
                elif File.Exists(Path.Combine(d.FullName, "hil", "include", "tern_kernels.h")) then
                    d.FullName
                else
                    up d.Parent

             up (DirectoryInfo TestContext.CurrentContext.TestDirectory))

    let hil (parts: string list) : string =
        Path.Combine(Array.ofList (root.Value :: "hil" :: parts))

    /// A tool's full path on PATH, if any.
    let onPath (tool: string) : string option =
        (Environment.GetEnvironmentVariable "PATH"
         |> Option.ofObj
         |> Option.defaultValue "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        |> Array.map (fun d -> Path.Combine(d, tool))
        |> Array.tryFind File.Exists

    /// Runs a program with a deadline; the child is killed on every path. Returns exit code and all output.
    let run (exe: string) (args: string list) (timeoutMs: int) : int * string =
        let psi =
            ProcessStartInfo(exe, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

        for a in args do
            psi.ArgumentList.Add a

        use p = new Process(StartInfo = psi)
        let out = Text.StringBuilder()
        let gate = obj ()

        let add (e: DataReceivedEventArgs) =
            if not (isNull e.Data) then
                lock gate (fun () -> out.Append(e.Data).Append('\n') |> ignore)

        p.OutputDataReceived.Add add
        p.ErrorDataReceived.Add add

        try
            p.Start() |> ignore
            p.BeginOutputReadLine()
            p.BeginErrorReadLine()

            if not (p.WaitForExit timeoutMs) then
                p.Kill true
                p.WaitForExit()
                -1, lock gate (fun () -> out.ToString()) + $"\n(killed after {timeoutMs} ms)"
            else
                p.WaitForExit() // drains the asynchronous readers
                p.ExitCode, lock gate (fun () -> out.ToString())
        finally
            try
                if not p.HasExited then
                    p.Kill true
            with _ ->
                ()

    type Generated = {
        Dir: string
        Vectors: string
        /// model name -> folder holding model.h, model.c and model_vectors.c
        Models: (string * string) list
    }

    /// Writes vectors.c and, for the default model lowered to int8 and to ternary, model.c/.h and model_vectors.c.
    let generate () : Generated =
        let dir = Path.Combine(Path.GetTempPath(), $"tern-ckernels-{Guid.NewGuid():N}")
        KernelVectors.writeKernelVectors dir kernelSeed kernelCount

        let models = [
            for name, options in [ "int8", LowerOptions.Int8; "ternary", LowerOptions.Ternary ] do
                let m = KernelVectors.defaultModel options modelSeed
                let hash = ModelFile.hash (ModelFile.serializeInt m)
                let md = Path.Combine(dir, name)

                Emit.writeFiles
                    md
                    (Emit.model
                        {
                            CommandLine = $"CKernelTests default {name}"
                        }
                        m
                        hash)

                KernelVectors.writeModelVectors md $"default-{name}" m hash (KernelVectors.modelInputs m modelSeed 3)
                name, md
        ]

        {
            Dir = dir
            Vectors = Path.Combine(dir, "vectors.c")
            Models = models
        }

    let kernelSources () : string list =
        [
            "requantize"
            "conv_s8"
            "conv_t2"
            "depthwise_s8"
            "depthwise_t2"
            "maxpool_s8"
            "avgpool_s8"
        ]
        |> List.map (fun k -> hil [ "kernels"; k + ".c" ])

    /// Sources and include flags shared by the native and the board build of one model's test binary.
    let testSources (g: Generated) (modelDir: string) : string list =
        kernelSources ()
        @ [
            hil [ "tests"; "kernel_test.c" ]
            g.Vectors
            Path.Combine(modelDir, "model.c")
            Path.Combine(modelDir, "model_vectors.c")
        ]

    let includes (modelDir: string) : string list = [
        "-I" + hil [ "include" ]
        "-I" + hil [ "tests" ]
        "-I" + hil [ "kernels" ]
        "-I" + modelDir
    ]

    let strictFlags = [ "-O2"; "-std=c99"; "-Wall"; "-Wextra"; "-Werror" ]

    /// The board's compiler flags, sources and linker script, from its board.json.
    let board (name: string) : string list * string list * string =
        let dir = hil [ "boards"; name ]
        use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "board.json")))
        let strings (p: string) = [ for e in doc.RootElement.GetProperty(p).EnumerateArray() -> e.GetString() ]
        let full (f: string) = Path.GetFullPath(Path.Combine(dir, f))

        strings "cflags",
        strings "sources" |> List.map full,
        full (doc.RootElement.GetProperty("linker_script").GetString())

open CBuild

[<TestFixture>]
type CKernelTests() =
    let mutable generated: Generated option = None

    member private _.Generated = generated.Value

    [<OneTimeSetUp>]
    member _.Setup() = generated <- Some(generate ())

    [<OneTimeTearDown>]
    member _.TearDown() =
        match generated with
        | Some g when Directory.Exists g.Dir -> Directory.Delete(g.Dir, true)
        | _ -> ()

    [<Test>]
    member this.``vectors are stamped and deterministic by seed``() =
        let text = File.ReadAllText this.Generated.Vectors
        Assert.That(text, Does.Contain $"seed={kernelSeed} cases={kernelCount}")
        Assert.That(KernelVectors.kernelSource kernelSeed kernelCount, Is.EqualTo text)
        Assert.That(KernelVectors.kernelSource (kernelSeed + 1) kernelCount, Is.Not.EqualTo text)
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
            Assert.That(kinds, Does.Contain k)

        let names = KernelVectors.cases kernelSeed kernelCount |> List.map (fun c -> c.Name)

        for k in [ "MaxPool"; "AvgPool"; "GlobalAvgPool" ] do
            Assert.That(names |> List.exists (fun n -> n.StartsWith(k + " ")), k)

    /// Host build with the strict flags; TERN_KERNELS_DSP picks the body the model runs (on the host the DSP
    /// body runs with its instructions emulated). The driver also checks both bodies on every kernel vector.
    [<TestCase(0)>]
    [<TestCase(1)>]
    member this.``native: both bodies match the C# kernels and the model matches the C# runner``(dsp: int) =
        let gcc =
            match onPath "gcc" with
            | Some g -> g
            | None ->
                Assert.Ignore "gcc is not on PATH"
                ""

        for name, md in this.Generated.Models do
            let exe = Path.Combine(md, $"native_{dsp}")

            let args =
                strictFlags
                @ [ $"-DTERN_KERNELS_DSP={dsp}" ]
                @ includes md
                @ testSources this.Generated md
                @ [ "-o"; exe ]

            let code, output = run gcc args 120_000
            Assert.That(code, Is.EqualTo 0, $"gcc failed for {name}:\n{output}")
            let code, output = run exe [] 60_000
            TestContext.Out.WriteLine output
            Assert.That(code, Is.EqualTo 0, $"{name}, TERN_KERNELS_DSP={dsp}:\n{output}")
            Assert.That(output, Does.Contain "failures: 0")

    /// The same vectors on the Cortex-M4 board under QEMU, where the _dsp bodies use SMLAD, SMMLA, USADA8 ...
    /// Also reports the instructions of one inference with the reference and the DSP kernels.
    [<Test>]
    member this.``qemu mps2-an386: both bodies and the model match; DSP needs at least 1.5x fewer instructions``() =
        let gcc = onPath "arm-none-eabi-gcc"
        let qemu = onPath "qemu-system-arm"

        match gcc, qemu with
        | None, _ -> Assert.Ignore "arm-none-eabi-gcc is not on PATH: the QEMU kernel test needs it"
        | _, None -> Assert.Ignore "qemu-system-arm is not on PATH: the QEMU kernel test needs it"
        | _ -> ()

        let cflags, boardSources, linker = board "qemu-mps2-an386"
        let counts = Collections.Generic.Dictionary<string * int, int64>()
        let report = Text.StringBuilder()

        for name, md in this.Generated.Models do
            for dsp in [ 0; 1 ] do
                let elf = Path.Combine(md, $"qemu_{dsp}.elf")

                let args =
                    cflags
                    @ strictFlags
                    @ [
                        "-ffunction-sections"
                        "-fdata-sections"
                        "-nostartfiles"
                        "-Wl,--gc-sections"
                        "-T"
                        linker
                        "--specs=nano.specs"
                        "--specs=nosys.specs"
                        "-DTERN_TEST_BOARD"
                        $"-DTERN_KERNELS_DSP={dsp}"
                        "-I" + hil [ "boards"; "common" ]
                    ]
                    @ includes md
                    @ testSources this.Generated md
                    @ boardSources
                    @ [ "-o"; elf ]

                let code, output = run gcc.Value args 120_000
                Assert.That(code, Is.EqualTo 0, $"arm-none-eabi-gcc failed for {name}:\n{output}")

                let code, output =
                    run
                        qemu.Value
                        [
                            "-M"
                            "mps2-an386"
                            "-display"
                            "none"
                            "-monitor"
                            "none"
                            "-serial"
                            "null"
                            "-icount"
                            "shift=0"
                            "-semihosting-config"
                            "enable=on,target=native"
                            "-kernel"
                            elf
                        ]
                        60_000

                Assert.That(code, Is.EqualTo 0, $"{name}, TERN_KERNELS_DSP={dsp} under QEMU:\n{output}")
                Assert.That(output, Does.Contain "failures: 0")
                let m = Regex.Match(output, @"model_run input 0 instructions=(\d+)")
                Assert.That(m.Success, $"no instruction count in:\n{output}")
                counts[(name, dsp)] <- int64 m.Groups[1].Value

                let layers =
                    Regex.Matches(output, @"layer (\d+) instructions=(\d+)")
                    |> Seq.map (fun l -> $"L{l.Groups[1].Value} {l.Groups[2].Value}")
                    |> String.concat ", "

                let body = if dsp = 1 then "dsp" else "reference"

                report.Append($"{name, -8} {body, -10} {counts[(name, dsp)], 10} instructions ({layers})\n")
                |> ignore

        for name, _ in this.Generated.Models do
            let r, d = counts[(name, 0)], counts[(name, 1)]

            report.Append($"{name, -8} reference / dsp = {float r / float d:F2}\n")
            |> ignore

        TestContext.Out.WriteLine("Instructions of one inference of the default model (QEMU -icount, mps2-an386):")
        TestContext.Out.WriteLine(report.ToString())
        TestContext.Progress.WriteLine(report.ToString())
        let ratio = float counts[("int8", 0)] / float counts[("int8", 1)]
        Assert.That(ratio, Is.GreaterThanOrEqualTo 1.5, $"int8 DSP gain below 1.5x:\n{report}")
