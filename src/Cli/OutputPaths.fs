/// Output paths (--out, --report, --junit, --html, --save-outputs), checked before any work starts: a long training
/// must not end on a path it cannot write, and a missing folder is refused rather than created silently.
module Tern.Cli.OutputPaths

open System.IO
open Tern.Cli.Args

/// The options that name something a verb writes.
let outputOptions =
    set [ "--out"; "--report"; "--junit"; "--html"; "--save-outputs" ]

/// Checks an output path: not empty, its folder exists, and it is not a folder (a file output) or not a file (a
/// folder output, which the verb creates itself). Error names the option and the path.
let checkPath (option: string) (isFolder: bool) (path: string) : Result<unit, string> =
    if System.String.IsNullOrWhiteSpace path then
        Error $"{option}: the path is empty"
    else
        let full = Path.GetFullPath path
        let parent = Path.GetDirectoryName full

        if not isFolder && Directory.Exists full then
            Error $"{option} {path}: is a folder; give a file name"
        elif isFolder && File.Exists full then
            Error $"{option} {path}: is a file; give a folder"
        elif not (isNull parent) && File.Exists parent then
            Error $"{option} {path}: {parent} is a file, not a folder"
        elif not (isNull parent) && not (Directory.Exists parent) then
            Error $"{option} {path}: the folder {parent} does not exist (it is not created)"
        else
            Ok()

/// Checks every output option of a parsed command line; raises BadInput naming the first bad one. An option whose
/// field is named "dir" in Args.fs names a folder, any other a file.
let check (given: ParsedOptions.Given list) : unit =
    for g in given do
        match g.Value with
        | :? string as path when outputOptions.Contains g.Option ->
            match checkPath g.Option (g.Field = "dir") path with
            | Ok() -> ()
            | Error e -> raise (BadInput e)
        | _ -> ()
