/// `--augment` against the forms a run may train on (train, study ternary): one check, one message.
module Tern.Cli.AugmentOption

open Tern.Core
open Tern.Cli.Args

/// Raises BadInput when the augmentation does not fit one of the forms; typed is the option as the user typed it
/// (None: the data set's declared augmentation). With several forms (--arch auto may train on any of them) the
/// message names the form's folder and what to do instead.
let checkFits (typed: string option) (augment: Augmentation option) (forms: FormData list) : unit =
    let given =
        typed
        |> Option.defaultWith (fun () -> augment |> Option.map Augment.name |> Option.defaultValue "none")

    for f in forms do
        match augment |> Option.map (fun a -> Augment.fits a f.Data.Shape) with
        | Some(Error e) when forms.Length > 1 ->
            raise (
                BadInput
                    $"--augment {given}: {e} ({f.Dir}); --arch auto may train on any form of the data: leave --augment to each form's own, or fix --arch"
            )
        | Some(Error e) -> raise (BadInput $"--augment {given}: {e}")
        | _ -> ()
