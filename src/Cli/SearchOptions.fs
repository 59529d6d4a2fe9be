/// `--budget` and `--inner-folds` (train, study ternary): they configure --arch auto and nothing else.
module Tern.Cli.SearchOptions

open Tern.Core
open Tern.Cli.Args

/// Refuses an option given to a run that does not search; fixedBy says what it trains instead (e.g. ", not to
/// --arch default"), None when the run searches.
let private onlyWhenSearching (option: string) (fixedBy: string option) =
    fixedBy
    |> Option.iter (fun what -> raise (BadInput $"{option} applies to --arch auto{what}"))

/// The device budget of --budget TEXT (DeviceBudget.parse), or the default one.
let budget (text: string option) (fixedBy: string option) : DeviceBudget =
    match text with
    | Some t ->
        onlyWhenSearching "--budget" fixedBy

        match DeviceBudget.parse t with
        | Ok b -> b
        | Error e -> raise (BadInput $"--budget {t}: {e}")
    | None -> DeviceBudget.defaults

/// The inner folds of --inner-folds K, or the search's default.
let innerFolds (k: int option) (fixedBy: string option) : int =
    match k with
    | Some k ->
        onlyWhenSearching "--inner-folds" fixedBy
        k
    | None -> ArchSearch.defaults.InnerFolds
