/// The words beside a progress bar: epoch, loss, validation accuracy, counts and the time left. Pure, so that what
/// a person watching sees can be tested without a terminal.
module Tern.Cli.ProgressText

open System
open Tern.Core

/// Time left when `fraction` of the work took `elapsed`, assuming the rest goes at the same pace: None before
/// anything is done (no pace yet), zero at the end.
let timeLeft (elapsed: TimeSpan) (fraction: float) : TimeSpan option =
    if Double.IsNaN fraction || fraction <= 0.0 then
        None
    elif fraction >= 1.0 then
        Some TimeSpan.Zero
    else
        Some(TimeSpan.FromSeconds(max 0.0 elapsed.TotalSeconds * (1.0 - fraction) / fraction))

/// A duration as m:ss, or h:mm:ss from an hour on.
let clock (t: TimeSpan) : string =
    let s = int64 (max 0.0 (Math.Round t.TotalSeconds))

    if s >= 3600L then
        sprintf "%d:%02d:%02d" (s / 3600L) (s / 60L % 60L) (s % 60L)
    else
        sprintf "%d:%02d" (s / 60L) (s % 60L)

/// "0:42 left": the estimate made when `fraction` was reached at `elapsed`, counted down by the time `since` then
/// (the bar moves per epoch, the clock should not wait for it); empty while there is no estimate.
let left (elapsed: TimeSpan) (fraction: float) (since: TimeSpan) : string =
    match timeLeft elapsed fraction with
    | None -> ""
    | Some t -> clock (if t > since then t - since else TimeSpan.Zero) + " left"

/// "epoch 7/20  loss 0.412  val acc 0.781"; the accuracy only when there was validation data.
let epochOf (epoch: int) (epochs: int) (loss: float) (validAccuracy: float option) : string =
    let acc =
        match validAccuracy with
        | Some a -> sprintf "  val acc %.3f" a
        | None -> ""

    sprintf "epoch %d/%d  loss %.3f%s" epoch epochs loss acc

/// The status of one epoch of training (Train.fit, QAT, the studies' baselines).
let epoch (log: EpochLog) : string =
    epochOf log.Epoch log.Epochs log.TrainLoss log.ValidAccuracy

/// "samples 12/50".
let count (noun: string) (doneSoFar: int) (total: int) : string = $"{noun} {doneSoFar}/{total}"

/// The task line's text: the title, then the status when there is one.
let line (title: string) (status: string) : string =
    if String.IsNullOrEmpty status then
        title
    else
        title + "  " + status

/// The text cut to `width` characters (the last one an ellipsis when cut), so that a narrow terminal keeps the task
/// on one line instead of wrapping it and losing the bar.
let fit (width: int) (text: string) : string =
    if text.Length <= width then text
    elif width <= 0 then ""
    else text.Substring(0, width - 1) + "…"

/// Records that step `key` is `fraction` done (clamped to [0, 1]); a step never goes back, so neither does the bar
/// when its reports arrive out of order from parallel folds.
let setPart (key: int) (fraction: float) (parts: Map<int, float>) : Map<int, float> =
    let f =
        if Double.IsNaN fraction then
            0.0
        else
            min 1.0 (max 0.0 fraction)

    match Map.tryFind key parts with
    | Some old when old >= f -> parts
    | _ -> Map.add key f parts

/// Steps done, counting partly done ones by their fraction.
let partsDone (parts: Map<int, float>) : float =
    parts |> Map.fold (fun s _ f -> s + f) 0.0
