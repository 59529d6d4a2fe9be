/// Progress bars for long work, shown only when a person is watching (a terminal, not CI). The task line says what
/// the work is doing (epoch, loss, validation accuracy, samples) and the time left, not only a percentage.
module Tern.Cli.Progress

open System
open System.Diagnostics
open Spectre.Console
open Spectre.Console.Rendering
open Tern.Core

/// True when stdout is a terminal (not redirected) and the CI variable is unset or empty.
let interactiveWhen (outputRedirected: bool) (ci: string) : bool =
    not outputRedirected && String.IsNullOrEmpty ci

/// True when stdout is a terminal and no CI variable is set.
let interactive () : bool =
    interactiveWhen Console.IsOutputRedirected (Environment.GetEnvironmentVariable "CI")

/// What long work reports while it runs.
type Tracker = {
    /// n more whole steps are done.
    Tick: int -> unit
    /// Step `key` (e.g. a fold running beside others) is this fraction done; 1 when it is finished.
    Part: int -> float -> unit
    /// What the work is doing now, shown after the title (epoch, loss, accuracy...).
    Status: string -> unit
}

/// The tracker of work nobody watches: it does nothing.
let quiet: Tracker = {
    Tick = ignore
    Part = fun _ _ -> ()
    Status = ignore
}

/// A column that renders whatever `text` says at each refresh, given room for "h:mm:ss left" so that a long status
/// squeezes the bar rather than cutting the time off.
type private TextColumn(text: unit -> string) =
    inherit ProgressColumn()
    override _.NoWrap = true
    override _.GetColumnWidth _ = Nullable 12
    override _.Render(_, _, _) = Text(text ()) :> IRenderable

/// Columns beside the task's text: a short bar, the percentage, the time left and the gaps between them.
let private besideText = 24

/// Runs work of `total` steps with a bar, status and time left when interactive; quiet otherwise.
let track (title: string) (total: int) (work: Tracker -> 'a) : 'a =
    if interactive () && total > 0 then
        let gate = obj ()
        let watch = Stopwatch.StartNew()
        let ticks = ref 0.0
        let parts = ref Map.empty
        // Elapsed time and fraction done at the last change: the estimate counts down from there.
        let mark = ref (TimeSpan.Zero, 0.0)

        let timeLeft () =
            let at, fraction = mark.Value
            ProgressText.left at fraction (watch.Elapsed - at)

        AnsiConsole
            .Progress()
            .AutoClear(true)
            .Columns(
                TaskDescriptionColumn(Alignment = Justify.Left),
                ProgressBarColumn(),
                PercentageColumn(),
                TextColumn(timeLeft)
            )
            .Start(fun ctx ->
                let task = ctx.AddTask(Markup.Escape title, maxValue = float total)

                let update () =
                    let value = ticks.Value + ProgressText.partsDone parts.Value
                    task.Value <- value
                    mark.Value <- watch.Elapsed, value / float total

                work {
                    Tick =
                        fun n ->
                            lock gate (fun () ->
                                ticks.Value <- ticks.Value + float n
                                update ())
                    Part =
                        fun key fraction ->
                            lock gate (fun () ->
                                parts.Value <- ProgressText.setPart key fraction parts.Value
                                update ())
                    Status =
                        fun s ->
                            task.Description <-
                                Markup.Escape(
                                    ProgressText.fit
                                        (AnsiConsole.Profile.Width - besideText)
                                        (ProgressText.line title s)
                                )
                })
    else
        work quiet

/// Runs work that reports progress as a count of `total` steps; shows a bar when interactive.
let run (title: string) (total: int) (work: (int -> unit) -> 'a) : 'a =
    track title total (fun t -> work t.Tick)

/// Runs work that counts `noun`s (e.g. samples) and shows "samples 12/50" beside the bar.
let runCounted (title: string) (noun: string) (total: int) (work: (int -> unit) -> 'a) : 'a =
    track title total (fun t ->
        let counted = ref 0

        work (fun n ->
            let c = Threading.Interlocked.Add(&counted.contents, n)
            t.Status(ProgressText.count noun c total)
            t.Tick n))

/// Runs training of `epochs` epochs: each epoch's log moves the bar and shows its epoch, loss and validation accuracy.
let runEpochs (title: string) (epochs: int) (work: (EpochLog -> unit) -> 'a) : 'a =
    track title epochs (fun t ->
        work (fun log ->
            t.Status(ProgressText.epoch log)
            t.Tick 1))
