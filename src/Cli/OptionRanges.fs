/// The documented range of every numeric option of every verb, checked in one place before any work: a float option
/// must be a finite number, and every number must lie in its range (exit 2 naming the option and the range). Verbs may
/// narrow further what depends on their data (e.g. --samples against the samples available).
module Tern.Cli.OptionRanges

open System
open Tern.Cli.Args

/// A range of values: the lower bound and, if any, the upper bound, each included or not.
type Range = {
    Min: float
    MinIncluded: bool
    Max: float option
    MaxIncluded: bool
}

let private atLeast (m: float) = {
    Min = m
    MinIncluded = true
    Max = None
    MaxIncluded = false
}

let private closed (a: float) (b: float) = {
    atLeast a with
        Max = Some b
        MaxIncluded = true
}

let private leftOpen (a: float) (b: float) = { closed a b with MinIncluded = false }
let private rightOpen (a: float) (b: float) = { closed a b with MaxIncluded = false }

let private openRange (a: float) (b: float) = {
    leftOpen a b with
        MaxIncluded = false
}

/// Every numeric option's range, by option name (an option means the same under every verb that has it).
let ranges: Map<string, Range> =
    Map.ofList [
        "--seed", atLeast (float Int32.MinValue)
        "--epochs", closed 0.0 10000.0
        "--batch", closed 1.0 4096.0
        "--lr", leftOpen 0.0 1.0
        "--valid", openRange 0.0 1.0
        "--sparsity", rightOpen 0.0 1.0
        "--qat-epochs", closed 1.0 10000.0
        "--fine-tune", closed 1.0 10000.0
        "--threshold", openRange 0.0 10.0
        "--calib-count", closed 1.0 1e6
        "--samples", closed 1.0 1e6
        "--window", closed 2.0 1e6
        "--hop", closed 1.0 1e6
        "--rate", leftOpen 0.0 10000.0
        "--full-scale", leftOpen 0.0 1e9
        "--subjects", closed 1.0 1000.0
        "--per-class", closed 1.0 100000.0
        "--folds", closed 2.0 100.0
        "--split", closed 1.0 1000.0
        "--subset", leftOpen 0.0 1.0
        "--repeats", closed 1.0 1000.0
        "--allowed-drop", closed 0.0 1.0
        "--sparsity-step", openRange 0.0 1.0
        "--repack", rightOpen 0.0 1.0
        "--max-flops", atLeast 1.0
        "--max-params", atLeast 1.0
        "--max-instructions", atLeast 1.0
        "--fail-on-regression", closed 0.0 10000.0
        "--codec-bits", closed 2.0 8.0
        "--limit", atLeast 1.0
        "--trees", closed 1.0 10000.0
        "--label-smoothing", rightOpen 0.0 1.0
        "--ema", rightOpen 0.0 1.0
        "--inner-folds", closed 2.0 100.0
    ]

let private number (v: float) =
    v.ToString("R", Globalization.CultureInfo.InvariantCulture)

/// The range as the error message states it, e.g. "a number in (0, 1]" or "at least 1".
let describe (whole: bool) (r: Range) : string =
    match r.Max with
    | None -> $"""must be at least {number r.Min}{if whole then "" else " (a finite number)"}"""
    | Some max ->
        let kind = if whole then "a whole number" else "a number"
        let lo = if r.MinIncluded then "[" else "("
        let hi = if r.MaxIncluded then "]" else ")"
        $"must be {kind} in {lo}{number r.Min}, {number max}{hi}"

let private inside (r: Range) (v: float) =
    (if r.MinIncluded then v >= r.Min else v > r.Min)
    && (match r.Max with
        | None -> true
        | Some m -> if r.MaxIncluded then v <= m else v < m)

/// Checks one numeric value of an option; Error says what is wrong and the range.
let checkValue (option: string) (value: obj) : Result<unit, string> =
    let shown, v, whole =
        match value with
        | :? float as f -> number f, f, false
        | :? float32 as f -> number (float f), float f, false
        | :? int as i -> string i, float i, true
        | :? int64 as i -> string i, float i, true
        | _ -> "", nan, false

    match Map.tryFind option ranges with
    | _ when not whole && not (Double.IsFinite v) ->
        let range =
            Map.tryFind option ranges
            |> Option.map (fun r -> ": " + describe false r)
            |> Option.defaultValue ""

        Error $"{option} {shown}: not a finite number{range}"
    | Some r when not (inside r v) -> Error $"{option} {shown}: {describe whole r}"
    | Some _ -> Ok()
    | None -> invalidOp $"{option} is a numeric option without a documented range in OptionRanges.ranges"

/// Whether a parsed value is a number (the options this module checks).
let isNumeric (value: obj) =
    match value with
    | :? float
    | :? float32
    | :? int
    | :? int64 -> true
    | _ -> false

/// Checks every numeric option of a parsed command line; raises BadInput naming the first one out of range.
let check (given: ParsedOptions.Given list) : unit =
    for g in given do
        if isNumeric g.Value then
            match checkValue g.Option g.Value with
            | Ok() -> ()
            | Error e -> raise (BadInput e)
