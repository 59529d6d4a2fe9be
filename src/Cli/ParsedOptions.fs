/// Every option given on a command line, whatever its verb: the checks that apply to all verbs alike (numeric ranges,
/// output paths) walk this list once, before any verb starts its work.
module Tern.Cli.ParsedOptions

open System
open Argu
open Microsoft.FSharp.Reflection

/// One value of one option: its command-line name (e.g. "--lr"), the name of its field in Args.fs (e.g. "path" or
/// "dir"), and the parsed value.
type Given = {
    Option: string
    Field: string
    Value: obj
}

// Argu's default name of a case: "Save_Outputs" is "--save-outputs" (the options walked here set no custom name).
let private cliName (case: UnionCaseInfo) =
    "--" + case.Name.ToLowerInvariant().Replace('_', '-')

let private isParseResults (t: Type) =
    t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<ParseResults<_>>

// ParseResults<'T>.GetAllResults, called on a sub-command's results of any template type.
let private allResults (results: obj) : obj list =
    let m = results.GetType().GetMethod "GetAllResults"
    let list = m.Invoke(results, [| null |]) :?> Collections.IEnumerable
    [ for x in list -> x ]

/// Every option value of a parsed command line, sub-commands included, in order.
let rec ofResults (results: obj) : Given list = [
    for case in allResults results do
        let info, values = FSharpValue.GetUnionFields(case, case.GetType())
        let fields = info.GetFields()

        for field, value in Array.zip fields values do
            if not (isNull value) && isParseResults (value.GetType()) then
                yield! ofResults value
            else
                yield {
                    Option = cliName info
                    Field = field.Name
                    Value = value
                }
]
