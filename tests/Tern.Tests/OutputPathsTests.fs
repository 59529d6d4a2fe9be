/// Output paths (--out, --report, --junit, --html, --save-outputs) are checked before any work, by one helper
/// (OutputPaths) for every verb: an empty path, a folder given for a file, a file given for a folder, or a missing
/// folder exit 2 naming the option, and nothing is created (--report /x/y.json once created /x silently).
module Tern.Tests.OutputPathsTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Cli
open Tern.Tests.CliTests

/// A property that fails with the reason given.
let private (|@) (ok: bool) (why: string) = Prop.label why ok

/// The fixture's folder: a folder "folder" and a file "file", nothing else.
let private dir =
    lazy
        (let d = Scratch.folder "tern-outpaths"
         Directory.CreateDirectory(Path.Combine(d, "folder")) |> ignore
         File.WriteAllText(Path.Combine(d, "file"), "x")
         d)

let private path name = Path.Combine(dir.Value, name)

/// Verbs and their output options; every input is missing, so a verb that checked its output late would
/// complain about its input instead. (option, whether it names a folder, the command line around it)
let private cases: (string * bool * (string -> string list)) list = [
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
let private bad (isFolder: bool) : (string * string) list = [
    "", "the path is empty"
    "  ", "the path is empty"
    path "missing/deeper/x.out", "does not exist"
    (if isFolder then path "file" else path "folder"), (if isFolder then "is a file" else "is a folder")
]

let private ``every verb refuses a bad output path before any work, exit 2 naming the option`` () =
    let gen =
        gen {
            let! option, isFolder, args = Gen.elements cases
            let! p, fragment = Gen.elements (bad isFolder)
            return option, args p, fragment
        }

    Prop.forAll (Arb.fromGen gen) (fun (option, args, fragment) ->
        let code, _, err = tern args

        let created =
            Directory.GetFileSystemEntries dir.Value
            |> Array.map Path.GetFileName
            |> Array.sort

        (code = 2
         && err.StartsWith $"tern: {option}"
         && err.Contains(fragment: string)
         && created = [| "file"; "folder" |])
        |@ $"""{String.Join(" ", args)} -> {code} {err} (entries {String.Join(",", created)})""")

let private ``checkPath accepts a new file in an existing folder and a new folder`` () =
    Expect.equal
        (OutputPaths.checkPath "--out" false (path "new.tern"))
        (Ok(): Result<unit, string>)
        "a new file in an existing folder"

    Expect.equal (OutputPaths.checkPath "--out" true (path "new-folder")) (Ok(): Result<unit, string>) "a new folder"

    Expect.equal
        (OutputPaths.checkPath "--out" false "relative.tern")
        (Ok(): Result<unit, string>)
        "a relative file name"

[<Tests>]
let tests =
    testSequenced
    <| testList "OutputPathsTests" [
        testPropertyWithConfig
            (Properties.tests 60)
            "every verb refuses a bad output path before any work, exit 2 naming the option"
            ``every verb refuses a bad output path before any work, exit 2 naming the option``
        testCase
            "checkPath accepts a new file in an existing folder and a new folder"
            ``checkPath accepts a new file in an existing folder and a new folder``
    ]
