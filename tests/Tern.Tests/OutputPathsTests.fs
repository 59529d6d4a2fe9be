/// Output paths (--out, --report, --junit, --html, --save-outputs) are checked before any work, by one helper
/// (OutputPaths) for every verb: an empty path, a folder given for a file, a file given for a folder, or a missing
/// folder exit 2 naming the option, and nothing is created (--report /x/y.json once created /x silently).
module Tern.Tests.OutputPathsTests

open System
open System.IO
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Cli
open Tern.Tests.CliTests

/// A property that fails with the reason given.
let private (|@) (ok: bool) (why: string) = Prop.label why ok

[<NonParallelizable>]
type OutputPathsTests() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-outpaths-" + Guid.NewGuid().ToString("N"))

    do Directory.CreateDirectory(Path.Combine(dir, "folder")) |> ignore
    do File.WriteAllText(Path.Combine(dir, "file"), "x")
    let path name = Path.Combine(dir, name)

    /// Verbs and their output options; every input is missing, so a verb that checked its output late would
    /// complain about its input instead. (option, whether it names a folder, the command line around it)
    let cases: (string * bool * (string -> string list)) list = [
        "--out", false, (fun p -> [ "train"; "--data"; path "no-data"; "--out"; p ])
        "--out", false, (fun p -> [ "model"; "new"; "--arch"; "default"; "--out"; p ])
        "--out", false, (fun p -> [ "lower"; path "no-model.tern"; "--out"; p ])
        "--out", true, (fun p -> [ "data"; "synth"; "--out"; p ])
        "--out", true, (fun p -> [ "export"; "c"; path "no-model.tern"; "--out"; p ])
        "--save-outputs", false, (fun p -> [ "run"; path "no-model.tern"; "--save-outputs"; p ])
        "--html", false, (fun p -> [ "run"; path "no-model.tern"; "--html"; p ])
        "--report", false, (fun p -> [ "hil"; "--model"; path "no-model.tern"; "--report"; p ])
        "--junit", false, (fun p -> [ "hil"; "--model"; path "no-model.tern"; "--junit"; p ])
        "--html", false, (fun p -> [ "study"; "ternary"; "--data"; path "no-data"; "--html"; p ])
    ]

    /// Bad paths: (path, the message's fragment).
    let bad (isFolder: bool) : (string * string) list = [
        "", "the path is empty"
        "  ", "the path is empty"
        path "missing/deeper/x.out", "does not exist"
        (if isFolder then path "file" else path "folder"), (if isFolder then "is a file" else "is a folder")
    ]

    [<OneTimeTearDown>]
    member _.Cleanup() = Directory.Delete(dir, true)

    [<Property(MaxTest = 60)>]
    member _.``every verb refuses a bad output path before any work, exit 2 naming the option``() =
        let gen =
            gen {
                let! option, isFolder, args = Gen.elements cases
                let! p, fragment = Gen.elements (bad isFolder)
                return option, args p, fragment
            }

        Prop.forAll (Arb.fromGen gen) (fun (option, args, fragment) ->
            let code, _, err = tern args

            let created =
                Directory.GetFileSystemEntries dir |> Array.map Path.GetFileName |> Array.sort

            (code = 2
             && err.StartsWith $"tern: {option}"
             && err.Contains(fragment: string)
             && created = [| "file"; "folder" |])
            |@ $"""{String.Join(" ", args)} -> {code} {err} (entries {String.Join(",", created)})""")

    [<Test>]
    member _.``checkPath accepts a new file in an existing folder and a new folder``() =
        Assert.That(OutputPaths.checkPath "--out" false (path "new.tern"), Is.EqualTo(Ok(): Result<unit, string>))
        Assert.That(OutputPaths.checkPath "--out" true (path "new-folder"), Is.EqualTo(Ok(): Result<unit, string>))
        Assert.That(OutputPaths.checkPath "--out" false "relative.tern", Is.EqualTo(Ok(): Result<unit, string>))
