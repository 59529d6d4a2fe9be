/// The export verb: integer models -> a self-contained C folder for the user's own firmware.
module Tern.Cli.ExportVerb

open System
open System.IO
open Argu
open Tern.Core
open Tern.Runtime
open Spectre.Console
open Tern.Cli.Args
open Tern.Cli.Common

/// The integer model in a file; a float model is refused (it must be lowered first).
let private integerModel (path: string) : IntModel =
    match loadModel path with
    | IntegerModel m -> m
    | FloatModel _ ->
        raise (
            BadInput
                $"{path}: a float model; export takes an integer model (lower it first: tern lower {path} --out M.tern)"
        )

/// The prefixes: given with --prefix (one per model) or each file's default.
let private prefixesOf (args: ParseResults<ExportCArgs>) (files: string list) : string list =
    match args.TryGetResult ExportCArgs.Prefix with
    | None -> files |> List.map Export.defaultPrefix
    | Some text ->
        let given = text.Split(',') |> Array.map (fun s -> s.Trim()) |> List.ofArray

        if given.Length <> files.Length then
            raise (
                BadInput
                    $"--prefix gives {given.Length} name(s) for {files.Length} model(s): one per model, comma-separated"
            )

        given

/// The command as given, without --json (which changes no file): the provenance of every generated file.
let private commandLine (args: ParseResults<ExportCArgs>) : string =
    let prefix =
        args.TryGetResult ExportCArgs.Prefix
        |> Option.map (fun p -> $" --prefix {p}")
        |> Option.defaultValue ""

    let kernels =
        args.TryGetResult ExportCArgs.Kernels
        |> Option.map (fun k -> if k = Dsp then " --kernels dsp" else " --kernels reference")
        |> Option.defaultValue ""

    let files = String.Join(" ", args.GetResult ExportCArgs.Models)
    $"tern export c {files} --out {args.GetResult ExportCArgs.Out}{prefix}{kernels}"

let exportC (args: ParseResults<ExportCArgs>) =
    let files = args.GetResult ExportCArgs.Models
    let out = args.GetResult ExportCArgs.Out

    if files.IsEmpty then
        raise (BadInput "no model file given")

    let kernels =
        match args.TryGetResult ExportCArgs.Kernels with
        | None -> AutoKernels
        | Some Reference -> ReferenceKernels
        | Some Dsp -> DspKernels

    let prefixes = prefixesOf args files

    match Export.checkPrefixes prefixes with
    | Error e -> raise (BadInput $"--prefix: {e}")
    | Ok() -> ()

    if File.Exists out then
        raise (BadInput $"--out {out}: a file, not a folder")

    if not (Export.replaceable out) then
        raise (
            BadInput
                $"--out {out}: the folder exists and holds files of its own (no {Export.manifestName}); choose another or empty it"
        )

    let models =
        List.map2
            (fun file prefix ->
                let m = integerModel file

                {
                    File = file
                    Prefix = prefix
                    Model = m
                    Hash = ModelFile.hash (ModelFile.serializeInt m)
                })
            files
            prefixes

    let hil = Tern.Rig.Boards.hilRoot ()

    let readHil (relative: string) =
        File.ReadAllText(Path.Combine(hil, relative.Replace('/', Path.DirectorySeparatorChar)))

    let spec = {
        Models = models
        Kernels = kernels
        Library = Export.libraryName out
        CommandLine = commandLine args
    }

    let folder =
        match Export.build spec readHil with
        | Ok f -> f
        | Error e -> raise (BadInput e)

    Export.write out folder
    let full = Path.GetFullPath out

    let node =
        Json.obj [
            "out", Json.str full
            "library", Json.str $"lib{spec.Library}.a"
            "kernels", Json.str kernels.Name
            "models",
            Json.arr [
                for m, e in folder.Models ->
                    Json.obj [
                        "prefix", Json.str m.Prefix
                        "file", Json.str m.File
                        "name", Json.str m.Model.Name
                        "hash", Json.str m.Hash
                        "input_bytes", Json.int m.Model.Input.Size
                        "output_bytes", Json.int m.Model.Output.Size
                        "arena_bytes", Json.int e.ArenaBytes
                        "flash_bytes", Json.int e.WeightBytes
                        "patch_bytes", Json.int e.PatchBytes
                        "class_count", Json.int e.ClassCount
                        "layers", Json.int m.Model.Layers.Length
                    ]
            ]
            "kernel_sources", Json.arr (folder.KernelSources |> List.map Json.str)
            "files", Json.arr (folder.Files |> List.map (fst >> Json.str))
        ]

    writeOut (args.Contains ExportCArgs.Json) node (fun () ->
        let table = Table()

        for h in [ "prefix"; "model"; "input"; "output"; "arena"; "weights"; "classes" ] do
            table.AddColumn(h) |> ignore

        for m, e in folder.Models do
            table.AddRow(
                [|
                    m.Prefix
                    Markup.Escape(Path.GetFileName m.File)
                    $"{m.Model.Input.H}x{m.Model.Input.W}x{m.Model.Input.C}"
                    string m.Model.Output.Size
                    $"{e.ArenaBytes:N0} B"
                    $"{e.WeightBytes:N0} B"
                    string e.ClassCount
                |]
            )
            |> ignore

        AnsiConsole.Write table
        printfn "wrote %s: %d files (kernels %s)" full folder.Files.Length kernels.Name
        printfn "next: cd %s && make host && ./example INPUT.f32 OUTPUT.s8   (see README.md)" out)
