// Tern's build: `dotnet fsi build.fsx <target>` with target one of
//   setup  restore tools and packages (paket)
//   build  compile the solution (Release)
//   test   run every test; ends with "N passed, N failed, N skipped"
//   bench  the default architecture's instructions per MAC per layer on the emulated board (int8 reference, int8
//          DSP, ternary), then BenchmarkDotNet on the host; `bench board` or `bench host` for one; under artifacts/bench/
//   format check formatting of the F# sources (fantomas --check)
//   hil    the default model on the emulated board, checked against the host, report printed
//   default-model  reproduce models/default.tern from scratch and compare the bytes
//   mutate plant each classic bug of tests/mutations.json in a copy of HEAD; fails if the tests miss one
//          (`mutate WORD...` keeps the mutations whose name contains a WORD)
//   fuzz   libFuzzer on the device's frame decoder and message handler (hil/fuzz), then the host's protocol
//          properties under Expecto's stress mode; seconds per target: `fuzz 300`, else $TERN_FUZZ_SECONDS,
//          else 60; fails on any finding, whose input is left in artifacts/fuzz/
#r "nuget: Fake.Core.Target, 5.20.3"
#r "nuget: Fake.Core.Process, 5.20.3"
#load "build/Mutate.fsx"
#load "build/BoardBench.fsx"

open System
open System.IO
open System.Xml.Linq
open Fake.Core

// Paths are anchored to this script's folder so the targets work from anywhere.
let root = __SOURCE_DIRECTORY__
Context.setExecutionContext (Context.RuntimeContext.Fake(Context.FakeExecutionContext.Create false "build.fsx" []))
let artifacts = Path.Combine(root, "artifacts")

/// Runs a command in the repository root; fails the target on a non-zero exit code.
let run (cmd: string) (args: string list) =
    let result =
        CreateProcess.fromRawCommand cmd args
        |> CreateProcess.withWorkingDirectory root
        |> Proc.run

    if result.ExitCode <> 0 then
        failwithf "'%s %s' failed with exit code %d" cmd (String.Join(" ", args)) result.ExitCode

/// Runs a command and returns its exit code (for steps whose failure we report ourselves).
let runCode (cmd: string) (args: string list) =
    (CreateProcess.fromRawCommand cmd args
     |> CreateProcess.withWorkingDirectory root
     |> Proc.run)
        .ExitCode

let dotnet args = run "dotnet" args

/// The test target's closing line, printed after FAKE's own report so that it is the last line.
let mutable testSummary: string option = None

/// True when a program is on PATH.
let onPath (program: string) =
    (Environment.GetEnvironmentVariable "PATH").Split(Path.PathSeparator)
    |> Array.exists (fun dir -> File.Exists(Path.Combine(dir, program)))

/// True when a probe is satisfied: an absolute path that exists, or a program on PATH.
let present (probe: string) =
    if Path.IsPathRooted probe then
        File.Exists probe || Directory.Exists probe
    else
        onPath probe

/// Installs the Debian packages whose probe is missing when root; otherwise names them and fails
/// (required) or warns (tests that need them are then skipped, naming the same packages).
let ensureDebianWith (required: bool) (needed: (string * string) list) =
    let missing =
        needed
        |> List.filter (fun (probe, _) -> not (present probe))
        |> List.map snd
        |> List.distinct

    if not missing.IsEmpty then
        let isRoot = Environment.UserName = "root"

        if isRoot then
            printfn "installing %s" (String.Join(" ", missing))
            run "apt-get" [ "update"; "-qq" ]
            run "apt-get" ([ "install"; "-y"; "-qq"; "--no-install-recommends" ] @ missing)
        else
            let message =
                sprintf
                    "missing Debian packages: %s. Install them with: sudo apt-get install --no-install-recommends %s"
                    (String.Join(", ", missing))
                    (String.Join(" ", missing))

            if required then
                failwith message
            else
                eprintfn "warning: %s" message

let ensureDebian = ensureDebianWith true

/// The Debian packages the device side needs: (program or file that shows it is installed, package).
let deviceToolchain = [
    "arm-none-eabi-gcc", "gcc-arm-none-eabi"
    "/usr/lib/arm-none-eabi/newlib/libc_nano.a", "libnewlib-arm-none-eabi"
    "qemu-system-arm", "qemu-system-arm"
    "socat", "socat"
]

/// What the tests of `tern export c` build the exported folder with, as a user would (host compiler, make, CMake).
let exportTools = [ "cc", "gcc"; "make", "make"; "cmake", "cmake" ]

/// The real browser the HTML report's tests load it in (headless).
let browser = [ "chromium", "chromium" ]

/// clang and its libFuzzer runtime (Debian 12: LLVM 14), for the fuzz target and FuzzTests.
let fuzzTools = [
    "clang", "clang"
    "/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a", "libclang-rt-14-dev"
]

Target.create "setup" (fun _ ->
    dotnet [ "tool"; "restore" ]
    dotnet [ "paket"; "restore" ])

Target.create "build" (fun _ -> dotnet [ "build"; "Tern.slnx"; "-c"; "Release"; "--nologo"; "-v"; "q" ])

/// The outcome of each test case in an Expecto JUnit summary: "Passed", "Failed" (a failure or an error) or "Skipped".
let junitOutcomes (file: string) : string[] =
    if File.Exists file then
        XDocument.Load(file).Descendants()
        |> Seq.filter (fun e -> e.Name.LocalName = "testcase")
        |> Seq.map (fun e ->
            let kids = e.Elements() |> Seq.map (fun k -> k.Name.LocalName) |> Set.ofSeq

            if kids.Contains "failure" || kids.Contains "error" then
                "Failed"
            elif kids.Contains "skipped" then
                "Skipped"
            else
                "Passed")
        |> Seq.toArray
    else
        [||]

// Runs the test program (Expecto) and sums the outcomes of its JUnit summary; the plain closing line is what CI reads.
Target.create "test" (fun _ ->
    ensureDebianWith false (deviceToolchain @ exportTools @ browser @ fuzzTools)
    let results = Path.Combine(artifacts, "test-results")

    if Directory.Exists results then
        Directory.Delete(results, true)

    Directory.CreateDirectory results |> ignore

    let junit = Path.Combine(results, "expecto.xml")

    let expectoCode =
        runCode "dotnet" [
            Path.Combine(root, "tests", "Tern.Tests", "bin", "Release", "net10.0", "Tern.Tests.dll")
            "--junit-summary"
            junit
            "--no-spinner"
            "--colours"
            "0"
        ]

    let outcomes = junitOutcomes junit

    let count (o: string) =
        outcomes |> Array.filter ((=) o) |> Array.length

    let passed = count "Passed"
    let skipped = count "Skipped"
    let failed = count "Failed"
    // A runner that crashed before writing results still counts as a failure.
    let failed = if expectoCode <> 0 && failed = 0 then 1 else failed
    testSummary <- Some(sprintf "%d passed, %d failed, %d skipped" passed failed skipped)

    if failed > 0 then
        failwithf "%d test(s) failed" failed)

// The board's per-layer instructions per MAC (int8 reference, int8 DSP, ternary; build/BoardBench.fsx), then the
// host benchmarks (BenchmarkDotNet, in one process so their ratios come from one run). `bench board` or `bench host`
// runs one half.
Target.create "bench" (fun p ->
    let out = Path.Combine(artifacts, "bench")
    Directory.CreateDirectory out |> ignore
    let tern = Path.Combine(root, "src", "Cli", "bin", "Release", "net10.0", "tern.dll")

    let board, host =
        match p.Context.Arguments with
        | [] -> true, true
        | [ "board" ] -> true, false
        | [ "host" ] -> false, true
        | other -> failwithf "bench takes 'board', 'host' or nothing; got %s" (String.Join(" ", other))

    if board then
        BoardBench.run root (fun args ->
            if runCode "dotnet" (tern :: args) <> 0 then
                failwithf "tern %s failed" (String.concat " " args))

    if host then
        dotnet [
            "run"
            "--project"
            "bench/Tern.Bench"
            "-c"
            "Release"
            "--"
            "--exporters"
            "json"
            "--artifacts"
            out
            "--filter"
            "*"
        ])

Target.create "format" (fun _ ->
    let sources =
        [ "src"; "tests"; "bench" ]
        |> List.collect (fun d ->
            Directory.GetFiles(Path.Combine(root, d), "*.fs", SearchOption.AllDirectories)
            |> List.ofArray)
        |> List.filter (fun f -> not (f.Contains "/obj/" || f.Contains "/bin/"))
        |> List.map (fun f -> Path.GetRelativePath(root, f))

    dotnet ([ "fantomas"; "--check" ] @ sources))

// The main job: the default model on the emulated board, checked against the host, report printed and
// written to artifacts/hil/report.json and report.xml (JUnit). Firmware is cached by content hash.
Target.create "hil" (fun p ->
    let out = Path.Combine(artifacts, "hil")
    Directory.CreateDirectory out |> ignore
    let extra = p.Context.Arguments

    let code =
        runCode
            "dotnet"
            ([
                Path.Combine(root, "src", "Cli", "bin", "Release", "net10.0", "tern.dll")
                "hil"
                "--board"
                "qemu-mps2-an386"
                "--model"
                "default"
                "--samples"
                "500"
                "--cache"
                Path.Combine(out, "cache")
                "--report"
                Path.Combine(out, "report.json")
                "--junit"
                Path.Combine(out, "report.xml")
             ]
             @ extra)

    if code <> 0 then
        failwithf "tern hil failed with exit code %d" code

    printfn "report: %s" (Path.Combine(out, "report.json")))

// Reproduces the embedded default model (models/default.tern) from scratch and says whether the bytes match.
Target.create "default-model" (fun _ ->
    let out = Path.Combine(artifacts, "default-model")
    let data = Path.Combine(out, "radar")
    let made = Path.Combine(out, "default.tern")
    let tern = Path.Combine(root, "src", "Cli", "bin", "Release", "net10.0", "tern.dll")
    let committed = Path.Combine(root, "models", "default.tern")

    if Directory.Exists data then
        Directory.Delete(data, true)

    // tern refuses an output whose folder is missing (it never creates one silently).
    Directory.CreateDirectory out |> ignore

    for cmd in
        [
            [ tern; "data"; "synth"; "--out"; data; "--seed"; "1" ]
            [
                tern
                "train"
                "--data"
                data
                "--arch"
                "default"
                "--qat"
                "ternary"
                "--seed"
                "1"
                "--out"
                made
            ]
        ] do
        if runCode "dotnet" cmd <> 0 then
            failwithf "%s failed" (String.concat " " cmd)

    let sha (path: string) =
        Convert.ToHexString(Security.Cryptography.SHA256.HashData(File.ReadAllBytes path)).ToLowerInvariant()

    printfn "made      %s  %s" (sha made) made
    printfn "committed %s  %s" (sha committed) committed

    if sha made <> sha committed then
        failwith "the reproduced default model differs from models/default.tern"

    printfn "identical: models/default.tern is reproduced exactly")

Target.create "toolchain" (fun _ -> ensureDebian deviceToolchain)

Target.create "mutate" (fun p -> Mutate.run root p.Context.Arguments)

// Fuzzing for a chosen time per target: libFuzzer on the device's frame decoder and message handler (FuzzTests with
// $TERN_FUZZ_SECONDS; hil/fuzz/README.md), then the host's protocol properties (ProtocolTests) with fresh random
// cases under Expecto's stress mode for as long. Prints executions per target; fails on any finding (libFuzzer
// leaves the input in artifacts/fuzz/; FsCheck prints the case and its seed).
Target.create "fuzz" (fun p ->
    ensureDebian fuzzTools

    let positive (s: string) =
        match Int32.TryParse s with
        | true, v when v > 0 -> v
        | _ -> failwithf "fuzz: the seconds per target must be a positive whole number, got '%s'" s

    let seconds =
        match p.Context.Arguments, Environment.GetEnvironmentVariable "TERN_FUZZ_SECONDS" with
        | [ s ], _ -> positive s
        | [], (null | "") -> 60
        | [], s -> positive s
        | more, _ -> failwithf "fuzz takes one argument, the seconds per target; got %s" (String.Join(" ", more))

    let tests =
        Path.Combine(root, "tests", "Tern.Tests", "bin", "Release", "net10.0", "Tern.Tests.dll")

    let device =
        CreateProcess.fromRawCommand "dotnet" [
            tests
            "--filter-test-list"
            "FuzzTests"
            "--no-spinner"
            "--colours"
            "0"
        ]
        |> CreateProcess.withWorkingDirectory root
        |> CreateProcess.setEnvironmentVariable "TERN_FUZZ_SECONDS" (string seconds)
        |> Proc.run

    let listed =
        CreateProcess.fromRawCommand "dotnet" [ tests; "--list-tests"; "--colours"; "0" ]
        |> CreateProcess.withWorkingDirectory root
        |> CreateProcess.redirectOutput
        |> Proc.run

    // --fscheck-max-tests does not reach properties with their own case count (Properties.tests n); stress mode runs
    // every test of ProtocolTests again and again, each property run with a fresh seed, for the time given.
    let host =
        if not (listed.Result.Output.Contains "ProtocolTests.") then
            eprintfn "fuzz: ProtocolTests is not in the Expecto test program yet, so the host's properties did not run"
            1
        else
            let r =
                CreateProcess.fromRawCommand "dotnet" [
                    tests
                    "--filter-test-list"
                    "ProtocolTests"
                    "--stress"
                    sprintf "%g" (float seconds / 60.0)
                    "--stress-memory-limit"
                    "4096"
                    "--no-spinner"
                    "--colours"
                    "0"
                ]
                |> CreateProcess.withWorkingDirectory root
                |> CreateProcess.redirectOutput
                |> Proc.run

            printf "%s" r.Result.Output
            eprintf "%s" r.Result.Error

            let runs =
                Text.RegularExpressions.Regex.Match(r.Result.Output, @"EXPECTO! ([\d,]+) tests run")

            printfn "host: %s runs of ProtocolTests' properties and tests in %d s" runs.Groups[1].Value seconds
            r.ExitCode

    if device.ExitCode <> 0 || host <> 0 then
        failwithf
            "fuzz: a finding or a failure (device targets exit %d, host properties exit %d); inputs in %s"
            device.ExitCode
            host
            (Path.Combine(artifacts, "fuzz")))

open Fake.Core.TargetOperators

"setup" ==> "build" ==> "test" |> ignore
"build" ==> "bench" |> ignore
"toolchain" ==> "bench" |> ignore
"setup" ==> "format" |> ignore
"toolchain" ==> "hil" |> ignore
"build" ==> "hil" |> ignore
"build" ==> "default-model" |> ignore
"toolchain" ==> "mutate" |> ignore
"build" ==> "fuzz" |> ignore

// A positional target: `dotnet fsi build.fsx test`.
let args = fsi.CommandLineArgs |> Array.skip 1 |> List.ofArray

match args with
| target :: rest ->
    let ok =
        try
            Target.run 1 target rest
            true
        with e ->
            eprintfn "%s" e.Message
            false

    testSummary |> Option.iter (printfn "%s")
    exit (if ok then 0 else 1)
| [] ->
    printfn "usage: dotnet fsi build.fsx <setup|build|test|bench|format|hil|default-model|mutate|fuzz>"
    exit 2
