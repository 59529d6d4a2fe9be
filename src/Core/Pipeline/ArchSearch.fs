namespace Tern.Core

open System.Diagnostics

/// What a candidate would cost on the device once lowered, and which limits of the budget it breaks.
type CandidateCost = {
    Instructions: int64
    FlashBytes: int64
    RamBytes: int64
    /// The broken limits, e.g. "instructions 412,000 > 400,000"; empty when the candidate fits.
    Violations: string list
    /// The conv/dense layers (0 = the first) costed with int8 weights: the lowering the candidate trains for.
    Int8Layers: Set<int>
}

/// Settings of the automatic choice of input form and architecture.
type ArchSearchSettings = {
    /// (form, architecture name) pairs tried in this order; pairs whose form the data lacks, or whose architecture
    /// does not take that form's shape, are left out.
    Candidates: (DataForm * string) list
    /// Subject-grouped folds of the training subjects the candidates are validated on.
    InnerFolds: int
    /// Successive halving: every candidate within budget trains on the first inner fold, the best Keep on the rest.
    Keep: int
    /// Each candidate's short training (its Seed, Threads and Augment are set by the search).
    Train: TrainConfig
    /// Fraction of an inner fold's training subjects held out for early stopping.
    Valid: float
    /// Augmentation of each form's trainings; None takes the form's data set's own.
    Augment: Augmentation option
    /// Epochs of ternary QAT each candidate gets before it is scored, in runs that ship ternary weights (at most the
    /// run's own QAT epochs); 0 scores the FP32 models.
    QatEpochs: int
    /// None scores each candidate's FP32 model; Some cfg fine-tunes it with ternary QAT (cfg, with the candidate's
    /// int8 layers) on the inner fold's training subjects and scores the ternary model: what ships. `configured`
    /// sets it from the run's QAT and QatEpochs.
    TernaryQat: QatConfig option
    Seed: int
    /// Worker threads, 0 for every core (results do not depend on it).
    Threads: int
}

/// Where a candidate stopped.
type CandidateStatus =
    /// Over the budget: never trained.
    | OverBudget
    /// Trained on the first inner fold only: not among the best Keep there.
    | Screened
    /// Validated on every inner fold, not the best.
    | Finalist
    | Winner

/// One candidate of a search, for the report.
type CandidateRow = {
    Form: DataForm
    Architecture: string
    Params: int
    Macs: int64
    Cost: CandidateCost
    /// Validation score (mean per-subject macro-F1) of each inner fold it trained on, in fold order.
    Scores: float list
    Status: CandidateStatus
    Seconds: float
}

/// The outcome of a search: the winner, every candidate, and why the winner won.
type ArchChoice = {
    Form: DataForm
    Architecture: string
    /// The conv/dense layers the winner keeps at int8 weights (its cost's Int8Layers).
    Int8Layers: Set<int>
    Rows: CandidateRow list
    Reason: string
    /// Epochs of ternary QAT each candidate had before it was scored; 0 when the FP32 models were scored.
    ScoringQatEpochs: int
    Seconds: float
}

/// The automatic choice of input form and architecture (`--arch auto`): every candidate within the device budget is
/// validated on subject-grouped folds of the training subjects only, cheaply (short trainings with early stopping;
/// successive halving: one fold for all, every fold for the best few), and the best mean per-subject macro-F1 wins.
[<RequireQualifiedAccess>]
module ArchSearch =

    /// The architecture name that asks for the automatic choice.
    [<Literal>]
    let Auto = "auto"

    /// The candidates tried by default, by form: the fixed default and raw1d, and parametric architectures (ArchSpec) of
    /// about their size. With ternary weights baked into code (about 6 B of flash per non-zero weight), flash is what
    /// binds on 16 x 16 x 3 spectrograms and 1 x 64 x 3 windows: most fit the default budget, a few (residual, raw1d)
    /// are just over it, so that the report shows where the budget cuts. The avgN- candidates pool the input first;
    /// they take only inputs that leave at least 16 per side (radar's 64 x 64, not sp-sw-har's 16 x 16), where the
    /// full resolution allows the default model alone. On radar the avg4- ones lose detail (5 folds, fixed: FP32
    /// 0.981 for avg4-sep-16-32-32-k3-flat) and avg2- with a stem of 16 keeps it (avg2-sep-16-32-16-k3-flat 0.984,
    /// avg2-sep-16-32-32-k3-flat 0.988 but 30 KB of flash: left in to show where the budget cuts).
    let defaultCandidates: (DataForm * string) list = [
        DataForm.Spectrogram, "default"
        DataForm.Spectrogram, "sep-12-24-32-k3-flat"
        DataForm.Spectrogram, "sep-16-32-k3-flat"
        DataForm.Spectrogram, "sep-16-32-32-k3-flat"
        DataForm.Spectrogram, "res-16-32-k3-flat"
        DataForm.Spectrogram, "avg2-default"
        DataForm.Spectrogram, "avg2-sep-16-32-16-k3-flat"
        DataForm.Spectrogram, "avg2-sep-16-16-24-k3-flat"
        DataForm.Spectrogram, "avg2-sep-16-32-32-k3-flat"
        DataForm.Spectrogram, "avg4-default"
        DataForm.Spectrogram, "avg4-sep-12-24-32-k3-flat"
        DataForm.Spectrogram, "avg4-sep-16-32-k3-flat"
        DataForm.Spectrogram, "avg4-sep-16-32-32-k3-flat"
        DataForm.Raw, "raw1d"
        DataForm.Raw, "sep-16-24-32-k5-flat"
        DataForm.Raw, "sep-12-24-32-k7-flat"
        DataForm.Raw, "sep-16-32-32-k5-gap"
        DataForm.Raw, "sep-16-32-32-k5-flat"
    ]

    /// Default candidates, 3 inner folds, every candidate on every fold (Keep covers the default list), training of at
    /// most 40 epochs (Adam 3e-3 cosine, patience 8 on the validation loss of 20 % of the inner training subjects),
    /// seed 1, every core. One screening fold is too noisy to cut on: in sp-sw-har's LOSO fold 5 (6 channels) the
    /// first inner fold spread the 7 fitting candidates over 0.86..0.95 and put three raw-window models on top, while
    /// the 3-fold means ranked sep-16-32-k3-flat first (0.923 against 0.920); with the best 2 kept the raw model won,
    /// and scored FP32 0.32 on the held-out subject where sep-16-32-k3-flat scored 0.71. Validating all doubles
    /// the search's trainings (24 against 12 for 8 candidates); Keep below the count brings the halving back.
    let defaults: ArchSearchSettings = {
        Candidates = defaultCandidates
        InnerFolds = 3
        Keep = defaultCandidates.Length
        Train = {
            Train.defaultConfig with
                Epochs = 40
                Optimizer = Adam(3e-3, 0.9, 0.999, 1e-8)
                Patience = Some 8
        }
        Valid = 0.2
        Augment = None
        QatEpochs = 20
        TernaryQat = None
        Seed = 1
        Threads = 0
    }

    /// The search as a run configures it: the run's seed, threads and augmentation, trainings no longer than the
    /// run's own epoch limit (runTrain: the run's FP32 training) and with its weight average, and, when the run
    /// ships ternary weights (ternaryQat: its QAT), candidates scored after QatEpochs of that QAT.
    let configured
        (settings: ArchSearchSettings)
        (runTrain: TrainConfig)
        (seed: int)
        (threads: int)
        (augment: Augmentation option)
        (ternaryQat: QatConfig option)
        : ArchSearchSettings = {
        settings with
            Train = {
                settings.Train with
                    Epochs = min settings.Train.Epochs runTrain.Epochs
                    Ema = runTrain.Ema
            }
            Seed = seed
            Threads = threads
            Augment = augment
            TernaryQat =
                match ternaryQat with
                | Some q when settings.QatEpochs > 0 ->
                    Some {
                        q with
                            Epochs = min q.Epochs settings.QatEpochs
                    }
                | _ -> None
    }

    /// What a float model costs once pruned at `sparsity` as QAT will prune it (Qat.prunedAsQat: its ternary layers)
    /// and lowered so (DeviceCost's model of qemu-mps2-an386), and which limits of the budget it breaks. Without the
    /// pruning, the untrained weights' ternary zeros (about a third) overstated the baked code: on radar the pooled
    /// avg4-sep-16-32-k3-flat was costed at 24,967 B of flash and left out, and its trained model takes 23,184 B on
    /// the board.
    let costUnder (lowering: LowerOptions) (sparsity: float) (budget: DeviceBudget) (model: Model) : CandidateCost =
        let e = DeviceCost.estimateWith lowering (Qat.prunedAsQat lowering sparsity model)

        {
            Instructions = e.Instructions
            FlashBytes = e.FlashBytes
            RamBytes = e.RamBytes
            Violations = DeviceBudget.check budget e
            Int8Layers = lowering.Int8Layers
        }

    /// The lowerings a ternary candidate may take, preferred first: the first layer at int8 (on sp-sw-har's
    /// accelerometer and gyroscope it kept the LOSO ternary macro-F1 0.3 points from FP32, against 2.1 points lost
    /// with it ternary), then every layer ternary.
    let ternaryLowerings (ternary: LowerOptions) : LowerOptions list = [
        {
            ternary with
                Int8Layers = Set.singleton 0
        }
        { ternary with Int8Layers = Set.empty }
    ]

    /// The cost under the first of the lowerings that fits the budget, or under the last when none does; sparsity is
    /// the pruned fraction of the run's QAT (0 without pruning).
    let deviceCost
        (lowerings: LowerOptions list)
        (sparsity: float)
        (budget: DeviceBudget)
        (model: Model)
        : CandidateCost =
        let costs = lowerings |> List.map (fun l -> costUnder l sparsity budget model)

        match costs |> List.tryFind (fun c -> c.Violations.IsEmpty) with
        | Some c -> c
        | None -> List.last costs

    /// Trains a candidate on one inner fold's training subjects and scores it on its held-out subjects.
    let private score
        (settings: ArchSearchSettings)
        (form: FormData)
        (model: Model)
        (int8Layers: Set<int>)
        (seed: int)
        (fold: SplitFold)
        : float =
        let data = form.Data

        let fitIdx, validIdx =
            Splits.groupHoldout settings.Valid seed fold.Train data.Subjects

        let cfg = {
            settings.Train with
                Seed = seed
                Threads = settings.Threads
                Augment = defaultArg settings.Augment data.Augment
        }

        let valid =
            if validIdx.Length > 0 then
                Some(Dataset.pick validIdx data)
            else
                None

        let trained = Train.fit cfg model (Dataset.pick fitIdx data) valid ignore

        let scored =
            match settings.TernaryQat with
            | None -> trained.Model
            | Some q ->
                let qcfg = {
                    q with
                        Seed = seed
                        Threads = settings.Threads
                        Augment = cfg.Augment
                        Int8Layers = int8Layers
                }

                (Qat.trainTernary qcfg trained.Model (Dataset.pick fold.Train data) None ignore).Ternary

        let testX, testY = Dataset.pick fold.Test data
        let predicted = Train.predict scored testX
        let subjects = fold.Test |> Array.map (fun i -> data.Subjects[i])
        Metrics.meanSubjectMacroF1 data.Classes subjects testY predicted

    /// Every candidate that takes one of the forms, built (seeded) and costed, in candidate order.
    let private costedCandidates (settings: ArchSearchSettings) (cost: Model -> CandidateCost) (forms: FormData list) =
        settings.Candidates
        |> List.choose (fun (form, arch) ->
            forms
            |> List.tryFind (fun f -> f.Form = form)
            |> Option.bind (fun data ->
                match Architectures.forData arch data.Data.Shape data.Data.Classes settings.Seed with
                | Ok model -> Some(data, arch, model, cost model)
                | Error _ -> None))

    /// Why nothing can be chosen, if so: no candidate takes the forms, or none fits the budget.
    let private noneFits (costed: (FormData * string * Model * CandidateCost) list) : string option =
        if costed.IsEmpty then
            Some "no candidate architecture takes the data's forms"
        elif costed |> List.exists (fun (_, _, _, c) -> c.Violations.IsEmpty) then
            None
        else
            let _, arch, _, c = costed |> List.minBy (fun (_, _, _, c) -> c.Instructions)
            let broken = String.concat ", " c.Violations
            Some $"no candidate fits the budget; the cheapest, {arch}, breaks it: {broken}"

    /// Whether a search over these forms can choose anything, known without training (costs only).
    let check
        (settings: ArchSearchSettings)
        (cost: Model -> CandidateCost)
        (forms: FormData list)
        : Result<unit, string> =
        match noneFits (costedCandidates settings cost forms) with
        | Some e -> Error e
        | None -> Ok()

    /// Chooses a form and an architecture for the training samples `indices` (indices into every form's data):
    /// cost is what a model would cost on the device and which budget limits it breaks; progress gets (candidates
    /// trained so far, trainings planned). Error when no form is given, the training subjects are too few for the
    /// inner folds, or no candidate fits the budget.
    let choose
        (settings: ArchSearchSettings)
        (cost: Model -> CandidateCost)
        (forms: FormData list)
        (indices: int[])
        (progress: int * int -> unit)
        : Result<ArchChoice, string> =
        let watch = Stopwatch.StartNew()

        match forms with
        | [] -> Error "no input form to choose from"
        | first :: _ ->
            let subjects = indices |> Array.map (fun i -> first.Data.Subjects[i])
            let distinct = subjects |> Array.distinct |> Array.length
            let k = min settings.InnerFolds distinct

            if k < 2 then
                Error $"the training samples hold {distinct} subject(s): choosing an architecture needs at least 2"
            else
                let labels = indices |> Array.map (fun i -> first.Data.Labels[i])

                let inner =
                    match Splits.groupedStratifiedKFold k settings.Seed labels subjects with
                    | Ok folds ->
                        folds
                        |> List.map (fun f -> {
                            f with
                                Train = f.Train |> Array.map (fun j -> indices[j])
                                Test = f.Test |> Array.map (fun j -> indices[j])
                        })
                    | Error e -> failwith $"inner folds: {e}"

                let costed = costedCandidates settings cost forms

                let fitting = costed |> List.filter (fun (_, _, _, c) -> c.Violations.IsEmpty)

                let keep = min settings.Keep fitting.Length

                let planned =
                    if fitting.Length > 1 then
                        fitting.Length + keep * (inner.Length - 1)
                    else
                        0

                let mutable trained = 0
                let seconds = System.Collections.Generic.Dictionary<DataForm * string, float>()
                let scores = System.Collections.Generic.Dictionary<DataForm * string, float list>()

                let run (form: FormData, arch: string, model: Model, c: CandidateCost) (fold: SplitFold) =
                    let w = Stopwatch.StartNew()

                    let s =
                        score settings form model c.Int8Layers (settings.Seed * 1000 + fold.Index) fold

                    let key = form.Form, arch

                    seconds[key] <-
                        (match seconds.TryGetValue key with
                         | true, t -> t
                         | _ -> 0.0)
                        + w.Elapsed.TotalSeconds

                    scores[key] <-
                        (match scores.TryGetValue key with
                         | true, l -> l
                         | _ -> [])
                        @ [ s ]

                    trained <- trained + 1
                    progress (trained, planned)

                match noneFits costed with
                | Some e -> Error e
                | None ->
                    // A lone candidate within budget wins without a contest: nothing to validate it against.
                    let contest = fitting.Length > 1

                    if contest then
                        for c in fitting do
                            run c inner.Head

                    let mean (form: FormData, arch, _, _) =
                        match scores.TryGetValue((form.Form, arch)) with
                        | true, l -> List.average l
                        | _ -> 0.0

                    // Stable sort: ties keep the candidate order, which lists cheaper choices first.
                    let ranked = fitting |> List.sortByDescending mean
                    let finalists = List.truncate keep ranked

                    if contest then
                        for c in finalists do
                            for fold in List.tail inner do
                                run c fold

                    let best = finalists |> List.sortByDescending mean

                    let winner = List.head best
                    let wForm, wArch, _, wCost = winner

                    let status (form: FormData, arch, _, c: CandidateCost) =
                        if not c.Violations.IsEmpty then
                            OverBudget
                        elif (form.Form, arch) = (wForm.Form, wArch) then
                            Winner
                        elif finalists |> List.exists (fun (f, a, _, _) -> (f.Form, a) = (form.Form, arch)) then
                            Finalist
                        else
                            Screened

                    let rows =
                        costed
                        |> List.map (fun ((form: FormData, arch, model, c) as candidate) ->
                            let key = form.Form, arch

                            {
                                Form = form.Form
                                Architecture = arch
                                Params = Model.totalParams model
                                Macs = Model.totalMacs model
                                Cost = c
                                Scores =
                                    (match scores.TryGetValue key with
                                     | true, l -> l
                                     | _ -> [])
                                Status = status candidate
                                Seconds =
                                    (match seconds.TryGetValue key with
                                     | true, t -> t
                                     | _ -> 0.0)
                            })

                    let over = costed.Length - fitting.Length

                    let against =
                        match List.tail best with
                        | (f, a, _, _) as runnerUp :: _ ->
                            $", {mean winner - mean runnerUp:F4} above the runner-up {a} on {ImportFolder.formName f.Form}"
                        | [] -> ""

                    let scored =
                        match settings.TernaryQat with
                        | Some q -> $" of the ternary model after {q.Epochs} QAT epochs"
                        | None -> ""

                    let why =
                        if contest then
                            $"the best mean per-subject macro-F1{scored} ({mean winner:F4}) over {inner.Length} "
                            + $"subject-grouped folds of the training subjects{against}"
                        else
                            "the only candidate within the budget, chosen untrained"

                    let int8Note =
                        if wCost.Int8Layers.IsEmpty then
                            ""
                        elif wCost.Int8Layers = Set.singleton 0 then
                            " (first layer int8, the rest ternary)"
                        else
                            let layers = String.concat ", " (wCost.Int8Layers |> Seq.map string)
                            $" (int8 weights in conv/dense layers {layers})"

                    let reason =
                        $"{wArch} on {ImportFolder.formName wForm.Form}{int8Note}: {why}; estimated {wCost.Instructions:N0} "
                        + $"instructions, {wCost.FlashBytes:N0} B flash, {wCost.RamBytes:N0} B RAM, within the budget"
                        + (if over > 0 then
                               $" ({over} candidate(s) over it were not trained)"
                           else
                               "")

                    Ok {
                        Form = wForm.Form
                        Architecture = wArch
                        Int8Layers = wCost.Int8Layers
                        Rows = rows
                        Reason = reason
                        ScoringQatEpochs =
                            settings.TernaryQat |> Option.map (fun q -> q.Epochs) |> Option.defaultValue 0
                        Seconds = watch.Elapsed.TotalSeconds
                    }
