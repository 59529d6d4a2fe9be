/// The `tern` command: a thin shell over Core, Runtime and Rig.
module Tern.Cli.Program

open System
open System.IO
open Argu
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Spectre.Console
open Tern.Cli.Args
open Tern.Cli.Common
open Tern.Cli.ModelVerbs
open Tern.Cli.DataVerbs
open Tern.Cli.HilVerb
open Tern.Cli.StudyVerbs

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<TernArgs>(programName = "tern")

    try
        try
            let results = parser.ParseCommandLine(argv, raiseOnUsage = true)
            // Numbers and output paths of every verb, before any verb starts its work.
            let given = ParsedOptions.ofResults results
            OptionRanges.check given
            OutputPaths.check given

            match results.GetSubCommand() with
            | Model m ->
                match m.GetSubCommand() with
                | New n -> modelNew n
            | Data d ->
                match d.GetSubCommand() with
                | Synth a -> synth a
                | Import i ->
                    match i.GetSubCommand() with
                    | Sp_Sw_Har a -> importSpSwHar a
                    | Csv a -> importCsv a
                    | Npy a -> importNpy a
                | Info a -> dataInfo a
            | Train a -> train a
            | Study s ->
                match s.GetSubCommand() with
                | Ternary_Study a -> studyTernary a
                | Gamma_Study a -> studyGamma a
                | Codec_Study a -> studyCodec a
                | Prune_Study a -> PruneVerbs.studyPrune a
                | Search_Study a -> PruneVerbs.studySearch a
                | Baseline_Study a -> studyBaseline a
            | Import_Model i ->
                match i.GetSubCommand() with
                | Onnx a -> ImportVerbs.importOnnx a
            | Inspect a -> inspect a
            | Lower a -> lower a
            | Run a -> run a
            | Hil a -> hil a
            | Export e ->
                match e.GetSubCommand() with
                | C a -> ExportVerb.exportC a
            | History h -> HistoryVerbs.history h
            | Version -> printfn "tern %s" version

            0
        with
        | :? ArguParseException as e ->
            if e.ErrorCode = ErrorCode.HelpText then
                printfn "%s" e.Message
                0
            else
                eprintfn "%s" (Excerpt.terminalSafe e.Message)
                2
        | BadInput msg ->
            eprintfn "tern: %s" (Excerpt.terminalSafe msg)
            2
        | Failure msg ->
            eprintfn "tern: %s" (Excerpt.terminalSafe msg)
            1
    with e ->
        eprintfn "tern: internal error: %s" (Excerpt.terminalSafe e.Message)
        1
