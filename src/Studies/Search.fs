namespace Tern.Studies

open Tern.Core

open System
open System.Diagnostics

/// How far below the target a subset accuracy may fall and still pass.
[<RequireQualifiedAccess>]
type Tolerance =
    /// A fixed accuracy margin.
    | Fixed of float
    /// Hoeffding's bound for confidence 1 - delta over the repeats x subset-size Bernoulli trials actually run.
    | Hoeffding of delta: float

/// The cheap decision protocol of seed 003: short fine-tuning, validation on repeated random subsets, a margin.
type DecisionProtocol = {
    /// Fine-tuning epochs per candidate (the seed uses 1..3); for the caller's evaluate.
    FineTuneEpochs: int
    /// Fraction of the validation set in each subset (the seed uses 0.1..0.3); for the caller's Search.subset.
    SubsetFraction: float
    /// Fine-tune-and-validate repeats per candidate (the seed uses 2), each on its own subset.
    Repeats: int
    /// The accuracy target; the final verification on the full validation set must reach it exactly.
    Target: float
    Tolerance: Tolerance
    /// Seeds the caller's subsets and fine-tuning.
    Seed: int
    /// Grid index 0 (the trained baseline the target was derived from) passes without an evaluation.
    AssumeFirstPasses: bool
}

/// Resource limits; None leaves a resource unlimited.
type Budget = {
    MaxFlops: int64 option
    MaxParams: int option
    MaxInstructions: int64 option
}

/// What a candidate costs, known without training.
type Costs = {
    Flops: int64
    Params: int
    /// Measured or estimated device instructions per inference, if known.
    Instructions: int64 option
}

/// What produced a log entry.
[<RequireQualifiedAccess>]
type EvaluationKind =
    /// Costs checked against the budget only: no training, not counted as an evaluation.
    | BudgetCheck
    /// Index 0 taken as passing without an evaluation (the trained baseline).
    | Assumed
    /// Short fine-tuning and repeated subset validation, decided by the protocol.
    | Screen
    /// Accuracy on the full validation set against the target, no tolerance.
    | Verification

/// One entry of a search log.
type Evaluation<'c> = {
    /// Position in the grid (0 = least aggressive).
    Index: int
    Candidate: 'c
    Kind: EvaluationKind
    /// Per-repeat subset accuracies (Screen) or the full-set accuracy (Verification); empty otherwise.
    Accuracies: float list
    Mean: float option
    /// Validation samples per repeat of a Screen.
    SubsetSize: int option
    /// The tolerance the decision used (0 for a verification).
    Tolerance: float
    Accepted: bool
    Reason: string
    Costs: Costs
    /// Wall time of the evaluate or verify callback.
    Seconds: float
}

/// Outcome of a search over a grid.
type SearchResult<'c> = {
    /// Grid index of the chosen candidate.
    Chosen: int option
    /// Every budget rejection, assumption, screen and verification, in order.
    Log: Evaluation<'c> list
    /// Fine-tune-and-validate screens plus full-set verifications actually run.
    Evaluations: int
    /// What a linear sweep costs: the grid size.
    LinearEvaluations: int
    /// Full-set accuracy of the chosen candidate.
    FinalAccuracy: float option
    /// The chosen candidate reached the target on the full validation set.
    Verified: bool
}

/// Bisection over a grid ordered from least to most aggressive compression, with the cheap decision protocol of
/// seed 003: passing candidates form a prefix, so the last passing index needs about log2(n) evaluations.
[<RequireQualifiedAccess>]
module Search =

    /// Seed 003's protocol: 2 fine-tuning epochs, 20 % subsets, 2 repeats, seed 1, index 0 assumed; a fixed 0.02
    /// margin, because Hoeffding's bound at 2 x 100 trials and delta 0.05 is 0.096, too loose to tell candidates apart.
    let defaultProtocol (target: float) : DecisionProtocol = {
        FineTuneEpochs = 2
        SubsetFraction = 0.2
        Repeats = 2
        Target = target
        Tolerance = Tolerance.Fixed 0.02
        Seed = 1
        AssumeFirstPasses = true
    }

    /// Checks the protocol's ranges (wider than the seed's, which are only its choices).
    let validate (protocol: DecisionProtocol) : Result<unit, string> =
        if protocol.FineTuneEpochs < 1 then
            Error $"fine-tune epochs {protocol.FineTuneEpochs}: need at least 1"
        elif not (protocol.SubsetFraction > 0.0 && protocol.SubsetFraction <= 1.0) then
            Error $"subset fraction {protocol.SubsetFraction}: need a value in (0, 1]"
        elif protocol.Repeats < 1 then
            Error $"repeats {protocol.Repeats}: need at least 1"
        elif not (protocol.Target >= 0.0 && protocol.Target <= 1.0) then
            Error $"target {protocol.Target}: need an accuracy in [0, 1]"
        else
            match protocol.Tolerance with
            | Tolerance.Fixed t when not (t >= 0.0 && t < 1.0) -> Error $"tolerance {t}: need a value in [0, 1)"
            | Tolerance.Hoeffding d when not (d > 0.0 && d < 1.0) ->
                Error $"Hoeffding delta {d}: need a value in (0, 1)"
            | _ -> Ok()

    /// Hoeffding tolerance sqrt(ln(2/delta) / (2 R f n)) for R repeats on fraction f of n validation samples.
    let hoeffdingTolerance (delta: float) (repeats: int) (fraction: float) (n: int) : float =
        if not (delta > 0.0 && delta < 1.0) then
            invalidArg "delta" $"delta {delta}: need a value in (0, 1)"

        if repeats < 1 then
            invalidArg "repeats" $"repeats {repeats}: need at least 1"

        if not (fraction > 0.0 && fraction <= 1.0) then
            invalidArg "fraction" $"fraction {fraction}: need a value in (0, 1]"

        if n < 1 then
            invalidArg "n" $"n {n}: need at least 1 sample"

        sqrt (log (2.0 / delta) / (2.0 * float repeats * fraction * float n))

    /// Accepts iff the mean accuracy >= Target - tolerance; returns (accepted, tolerance, reason). A Hoeffding
    /// tolerance counts the trials actually run: accuracies.Length repeats x subsetSize samples (the rounded subset,
    /// not fraction x n).
    let decide (protocol: DecisionProtocol) (subsetSize: int) (accuracies: float list) : bool * float * string =
        if accuracies.IsEmpty then
            invalidArg "accuracies" "no accuracies to decide on"

        let tolerance =
            match protocol.Tolerance with
            | Tolerance.Fixed t -> t
            | Tolerance.Hoeffding delta -> hoeffdingTolerance delta accuracies.Length 1.0 subsetSize

        let mean = List.average accuracies
        let accepted = mean >= protocol.Target - tolerance
        let sign = if accepted then ">=" else "<"

        accepted, tolerance, $"accuracy %.4f{mean} %s{sign} %.4f{protocol.Target} - %.4f{tolerance}"

    /// Deterministic class-stratified random subset of validation indices, sorted: round(fraction x n) samples
    /// (raised to one per class present), classes in proportion (largest remainder), a different draw per repeat.
    let subset (seed: int) (repeat: int) (fraction: float) (labels: int[]) : int[] =
        if not (fraction > 0.0 && fraction <= 1.0) then
            invalidArg "fraction" $"fraction {fraction}: need a value in (0, 1]"

        if labels |> Array.exists (fun l -> l < 0) then
            invalidArg "labels" "negative class label"

        let n = labels.Length

        if n = 0 then
            [||]
        else
            let members =
                labels
                |> Array.indexed
                |> Array.groupBy snd
                |> Array.sortBy fst
                |> Array.map (fun (_, xs) -> Array.map fst xs)

            let classes = members.Length

            let size =
                min n (max classes (int (Math.Round(fraction * float n, MidpointRounding.AwayFromZero))))

            let quota = members |> Array.map (fun m -> float size * float m.Length / float n)
            let take = quota |> Array.map (fun q -> max 1 (int (floor q)))
            // Largest remainder first; ties to the lower class, so the allocation is deterministic.
            let order =
                [| 0 .. classes - 1 |] |> Array.sortBy (fun c -> -(quota[c] - float take[c]), c)

            let mutable missing = size - Array.sum take

            while missing > 0 do
                let c = order |> Array.find (fun c -> take[c] < members[c].Length)
                // Give this class its extra sample, then move it last so the next goes elsewhere.
                take[c] <- take[c] + 1
                missing <- missing - 1

                let rest = order |> Array.filter ((<>) c)
                Array.blit rest 0 order 0 rest.Length
                order[classes - 1] <- c

            // Forcing one per class can overshoot: take back from the classes furthest above their quota.
            while missing < 0 do
                let c =
                    [| 0 .. classes - 1 |]
                    |> Array.filter (fun c -> take[c] > 1)
                    |> Array.maxBy (fun c -> float take[c] - quota[c], -c)

                take[c] <- take[c] - 1
                missing <- missing + 1

            let rng = Random(seed * 1000003 + repeat)

            [|
                for c in 0 .. classes - 1 do
                    // Partial Fisher-Yates: the first take[c] slots become a uniform draw.
                    let pool = Array.copy members[c]

                    for i in 0 .. take[c] - 1 do
                        let j = rng.Next(i, pool.Length)
                        let t = pool[i]
                        pool[i] <- pool[j]
                        pool[j] <- t

                    yield! pool[.. take[c] - 1]
            |]
            |> Array.sort

    /// Short human form of a count: 1.20 M, 350.00 k; exact if both sides of a comparison would read the same.
    let private human (x: int64) =
        let a = float (abs x)

        if a >= 1e9 then $"%.2f{float x / 1e9} G"
        elif a >= 1e6 then $"%.2f{float x / 1e6} M"
        elif a >= 1e3 then $"%.2f{float x / 1e3} k"
        else string x

    let private over (what: string) (value: int64) (limit: int64) =
        let v, l = human value, human limit
        let v, l = if v = l then string value, string limit else v, l
        $"over %s{what} budget %s{v} > %s{l}"

    /// Every way the costs exceed the budget, as reasons; an unknown instruction count fails an instruction budget.
    let budgetViolations (budget: Budget) (costs: Costs) : string list = [
        match budget.MaxFlops with
        | Some m when costs.Flops > m -> over "FLOPs" costs.Flops m
        | _ -> ()
        match budget.MaxParams with
        | Some m when costs.Params > m -> over "parameter" (int64 costs.Params) (int64 m)
        | _ -> ()
        match budget.MaxInstructions, costs.Instructions with
        | Some m, Some i when i > m -> over "instruction" i m
        | Some m, None -> $"instruction count unknown (budget %s{human m})"
        | _ -> ()
    ]

    /// True iff the costs fit every limit of the budget.
    let withinBudget (budget: Budget) (costs: Costs) : bool =
        budgetViolations budget costs |> List.isEmpty

    /// The search both strategies share: budget scan, screening (bisection or every index), final verification.
    let private run
        (linearSweep: bool)
        (grid: 'c[])
        (costs: 'c -> Costs)
        (budget: Budget)
        (evaluate: int -> 'c -> float list)
        (protocol: DecisionProtocol)
        (subsetSize: int)
        (verify: 'c -> float)
        : SearchResult<'c> =
        match validate protocol with
        | Error e -> invalidArg "protocol" e
        | Ok() -> ()

        if grid.Length = 0 then
            invalidArg "grid" "empty grid"

        let n = grid.Length
        let cost = grid |> Array.map costs
        let violations = cost |> Array.map (budgetViolations budget)
        let log = ResizeArray<Evaluation<'c>>()

        let add i kind accuracies subset tolerance accepted reason seconds =
            log.Add {
                Index = i
                Candidate = grid[i]
                Kind = kind
                Accuracies = accuracies
                Mean =
                    (if List.isEmpty accuracies then
                         None
                     else
                         Some(List.average accuracies))
                SubsetSize = subset
                Tolerance = tolerance
                Accepted = accepted
                Reason = reason
                Costs = cost[i]
                Seconds = seconds
            }

        // Feasible candidates must be a suffix: searching only after the last infeasible one means a chosen
        // candidate always fits, even when the caller's costs break that order.
        let last = violations |> Array.tryFindIndexBack (List.isEmpty >> not)
        let first = last |> Option.map ((+) 1) |> Option.defaultValue 0

        for i in 0 .. n - 1 do
            match violations[i] with
            | [] when i < first ->
                add
                    i
                    EvaluationKind.BudgetCheck
                    []
                    None
                    0.0
                    false
                    $"within budget but before over-budget index {first - 1}"
                    0.0
            | [] -> ()
            | vs -> add i EvaluationKind.BudgetCheck [] None 0.0 false (String.concat "; " vs) 0.0

        let screened = Collections.Generic.Dictionary<int, bool>()

        let screen i =
            let watch = Stopwatch.StartNew()
            let accuracies = evaluate i grid[i]
            let seconds = watch.Elapsed.TotalSeconds
            let accepted, tolerance, reason = decide protocol subsetSize accuracies
            add i EvaluationKind.Screen accuracies (Some subsetSize) tolerance accepted reason seconds
            screened[i] <- accepted
            accepted

        let assumed = first = 0 && protocol.AssumeFirstPasses

        if assumed then
            add 0 EvaluationKind.Assumed [] None 0.0 true "baseline: passes without evaluation" 0.0

        let passes i =
            (i = 0 && assumed)
            || (match screened.TryGetValue i with
                | true, ok -> ok
                | _ -> false)

        let found =
            if first >= n then
                None
            elif linearSweep then
                for i in (if assumed then 1 else first) .. n - 1 do
                    screen i |> ignore

                // The most aggressive passing candidate, which a sweep can find even past a failure.
                [ first .. n - 1 ] |> List.filter passes |> List.tryLast
            elif not (assumed || screen first) then
                None
            else
                // Invariant: lo passes, hi fails or is n.
                let mutable lo = first
                let mutable hi = n

                while hi - lo > 1 do
                    let mid = (lo + hi) / 2

                    if screen mid then lo <- mid else hi <- mid

                Some lo

        let verifyAt i =
            let watch = Stopwatch.StartNew()
            let accuracy = verify grid[i]
            let seconds = watch.Elapsed.TotalSeconds
            let accepted = accuracy >= protocol.Target
            let sign = if accepted then ">=" else "<"

            let reason =
                $"full-set accuracy %.4f{accuracy} %s{sign} target %.4f{protocol.Target}"

            add i EvaluationKind.Verification [ accuracy ] None 0.0 accepted reason seconds
            accuracy

        // A step back may go to any feasible candidate not screened as failing: its full-set verification is
        // stronger evidence than a screen.
        let canStepTo j =
            j >= first
            && (match screened.TryGetValue j with
                | true, false -> false
                | _ -> true)

        let rec confirm i steps tried =
            let accuracy = verifyAt i

            if accuracy >= protocol.Target then
                Some i, Some accuracy, true
            elif steps < 2 && canStepTo (i - 1) then
                confirm (i - 1) (steps + 1) ((i, accuracy) :: tried)
            else
                // Nothing verified: report the best full-set accuracy seen, the more aggressive on a tie.
                let best, acc = (i, accuracy) :: tried |> List.maxBy (fun (j, a) -> a, j)
                Some best, Some acc, false

        let chosen, final, verified =
            match found with
            | None -> None, None, false
            | Some c -> confirm c 0 []

        let entries = List.ofSeq log

        {
            Chosen = chosen
            Log = entries
            Evaluations =
                entries
                |> List.filter (fun e -> e.Kind = EvaluationKind.Screen || e.Kind = EvaluationKind.Verification)
                |> List.length
            LinearEvaluations = n
            FinalAccuracy = final
            Verified = verified
        }

    /// Bisection for the last passing candidate, then full-set verification with at most 2 steps back. Screens at
    /// most ceil(log2 n) candidates when index 0 is assumed, 1 + ceil(log2 (n - f)) when the first candidate f to
    /// consider must be evaluated; each verification adds one evaluation.
    let bisect
        (grid: 'c[])
        (costs: 'c -> Costs)
        (budget: Budget)
        (evaluate: int -> 'c -> float list)
        (protocol: DecisionProtocol)
        (subsetSize: int)
        (verify: 'c -> float)
        : SearchResult<'c> =
        run false grid costs budget evaluate protocol subsetSize verify

    /// The same decisions at every feasible index (the linear sweep bisection replaces); chooses the most aggressive
    /// passing candidate, then verifies as bisect does.
    let linear
        (grid: 'c[])
        (costs: 'c -> Costs)
        (budget: Budget)
        (evaluate: int -> 'c -> float list)
        (protocol: DecisionProtocol)
        (subsetSize: int)
        (verify: 'c -> float)
        : SearchResult<'c> =
        run true grid costs budget evaluate protocol subsetSize verify

    /// Kept-block counts droppable, droppable - 1, ..., 0: least aggressive first.
    let blockGrid (droppable: int) : int[] =
        if droppable < 0 then
            invalidArg "droppable" $"droppable {droppable}: need at least 0"

        [| droppable .. -1 .. 0 |]

    /// Sparsities 0, step, 2 step, ... up to max, rounded to 4 decimals (no 0.30000000000000004).
    let sparsityGrid (step: float) (max: float) : float[] =
        if not (step > 0.0) then
            invalidArg "step" $"step {step}: need a positive value"

        if not (max >= 0.0 && max <= 1.0) then
            invalidArg "max" $"max {max}: need a sparsity in [0, 1]"

        // The small slack keeps max itself when max / step lands a hair below an integer.
        let count = int (floor (max / step + 1e-9)) + 1
        Array.init count (fun i -> Math.Round(float i * step, 4, MidpointRounding.AwayFromZero))

    /// A table of the log, one line per entry under a header.
    let formatLog (log: Evaluation<'c> list) (show: 'c -> string) : string =
        let kind =
            function
            | EvaluationKind.BudgetCheck -> "budget"
            | EvaluationKind.Assumed -> "assumed"
            | EvaluationKind.Screen -> "screen"
            | EvaluationKind.Verification -> "verify"

        let header =
            $"""%5s{"index"}  %-12s{"candidate"}  %-8s{"kind"}  %-20s{"accuracies"}  %6s{"mean"}  %6s{"tol"}  %6s{"subset"}  %-6s{"result"}  %8s{"seconds"}  reason"""

        let line (e: Evaluation<'c>) =
            let accuracies = e.Accuracies |> List.map (sprintf "%.4f") |> String.concat " "
            let mean = e.Mean |> Option.map (sprintf "%.4f") |> Option.defaultValue "-"
            let subset = e.SubsetSize |> Option.map string |> Option.defaultValue "-"

            let result =
                if e.Kind = EvaluationKind.BudgetCheck then "over"
                elif e.Accepted then "pass"
                else "fail"

            let tolerance =
                if e.Kind = EvaluationKind.Screen then
                    $"%.4f{e.Tolerance}"
                else
                    "-"

            $"%5d{e.Index}  %-12s{show e.Candidate}  %-8s{kind e.Kind}  %-20s{accuracies}  %6s{mean}  %6s{tolerance}  %6s{subset}  %-6s{result}  %8.2f{e.Seconds}  %s{e.Reason}"

        String.concat "\n" (header :: List.map line log)
