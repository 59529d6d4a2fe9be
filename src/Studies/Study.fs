namespace Tern.Studies

open Tern.Core

open System
open System.Diagnostics
open Tern.Runtime
open Tern.Runtime.Engine

/// How the study splits the data by subject.
type StudySplit =
    /// Grouped stratified k-fold (Splits.groupedStratifiedKFold).
    | KFold of folds: int
    /// Leave one subject out (Splits.leaveOneGroupOut).
    | LeaveOneSubjectOut

/// Settings of the FP32-versus-ternary study.
type StudyConfig = {
    Split: StudySplit
    /// Seeds the split, the initial weights, the holdout and the shuffling.
    Seed: int
    /// FP32 training (its Seed and Threads are overridden by the study's).
    Train: TrainConfig
    /// QAT fine-tuning (its Seed and Threads are overridden by the study's).
    Qat: QatConfig
    /// Fraction of the training subjects held out for FP32's early stopping. QAT runs its whole schedule and keeps the
    /// last epoch: its best epoch chosen on so few subjects was noise (sp-sw-har LOSO ternary macro-F1 0.720 with it,
    /// 0.728 without). So QAT trains on every training subject, these too (sep-16-32-k3-flat, LOSO: ternary 0.922
    /// -> 0.929).
    Holdout: float
    /// Training inputs used to calibrate the lowering's activation ranges (min-max) that QAT did not learn; evenly
    /// spaced.
    Calibration: int
    /// Worker threads for training and the integer runner, 0 for every core.
    Threads: int
    /// Training-time augmentation of both trainings; None takes the one the data set declares (Dataset.Augment).
    Augment: Augmentation option
    /// The network (Architectures.forData: a fixed name or an ArchSpec name), shaped to the data's input and
    /// classes; "auto" chooses the form and the architecture per fold on its training subjects (ArchSearch).
    Architecture: string
    /// The automatic choice's candidates and protocol (Architecture "auto").
    Search: ArchSearchSettings
    /// The device budget the automatic choice keeps to (Architecture "auto").
    Budget: DeviceBudget
}

/// Results of one fold. Ternary figures are from the integer model run by the C# Runner.
type StudyFold = {
    Fold: int
    /// The form and the architecture the fold's network trained on.
    Form: DataForm
    Architecture: string
    /// The automatic choice that picked them, when Architecture was "auto".
    Choice: ArchChoice option
    TrainSamples: int
    TestSamples: int
    Fp32Accuracy: float
    Fp32MacroF1: float
    TernaryAccuracy: float
    TernaryMacroF1: float
    /// Fraction of zero ternary codes in the lowered model (TWN zeros and pruned zeros).
    Sparsity: float
    /// Fraction of conv/dense weights pruned by the masks.
    Pruned: float
    Fp32Epochs: int
    QatEpochs: int
    /// Labels of the fold's test samples and the integer ternary model's predictions of them.
    Truth: int[]
    TernaryPredicted: int[]
    Seconds: float
}

/// Per-fold results and their means.
type StudyResult = {
    Folds: StudyFold list
    MeanFp32Accuracy: float
    MeanTernaryAccuracy: float
    MeanFp32MacroF1: float
    MeanTernaryMacroF1: float
    MeanSparsity: float
    /// The final models: each fold's integer ternary model on its own test subjects, predictions pooled (every
    /// sample predicted once, by the model that never saw its subject).
    TernaryMetrics: ClassMetrics
    Seconds: float
}

/// What the study is doing, for progress output.
type StudyProgress =
    /// The automatic choice ran `trained` of its `planned` candidate trainings.
    | SearchStep of fold: int * trained: int * planned: int
    | Fp32Step of fold: int * EpochLog
    | QatStep of fold: int * QatEpoch
    | FoldDone of StudyFold

/// The ternary study: per subject-grouped fold, train FP32, evaluate, fine-tune for ternary weights with pruning,
/// lower to integers and evaluate the integer model with the C# runner.
[<RequireQualifiedAccess>]
module Study =

    /// 5-fold grouped stratified split, seed 1; the pipeline's FP32 training, ternary QAT, validation fraction (20 %
    /// of the training subjects, here for FP32's early stopping) and 256 calibration inputs
    /// (PipelineSettings.defaults); every core, the data set's own augmentation.
    let defaultConfig: StudyConfig = {
        Split = KFold 5
        Seed = 1
        Train = PipelineSettings.defaults.Train
        Qat = PipelineSettings.qatConfig TernaryTarget
        Holdout = PipelineSettings.defaults.Valid
        Calibration = PipelineSettings.defaults.Calibration
        Threads = 0
        Augment = None
        Architecture = "auto"
        Search = ArchSearch.defaults
        Budget = DeviceBudget.defaults
    }

    /// The name that asks for the automatic choice of form and architecture (ArchSearch.Auto).
    [<Literal>]
    let Auto = ArchSearch.Auto

    /// The study's QAT stage: ternary weights with cfg.Qat.
    let private ternaryStep (cfg: StudyConfig) : QatStep = {
        Target = TernaryTarget
        Config = cfg.Qat
    }

    /// The pipeline settings of one fold (seeded with the fold's seed): FP32 training and ternary QAT, no pruning.
    let pipeline (cfg: StudyConfig) (seed: int) : PipelineSettings = {
        PipelineSettings.defaults with
            Seed = seed
            Valid = cfg.Holdout
            Train = cfg.Train
            Prune = None
            Qat = Some(ternaryStep cfg)
            Calibration = cfg.Calibration
            Augment = cfg.Augment
            Threads = cfg.Threads
    }

    /// Fraction of zero codes among the ternary weights of an integer model.
    let ternarySparsity (model: IntModel) : float = Lower.weightSparsity model

    /// What a candidate of the automatic choice costs: ternary (first layer int8 where it fits), pruned as the
    /// study's QAT prunes, against the study's budget.
    let private searchCost (cfg: StudyConfig) : Model -> CandidateCost =
        ArchSearch.deviceCost (ArchSearch.ternaryLowerings LowerOptions.Ternary) cfg.Qat.Sparsity cfg.Budget

    /// One fold of the study: FP32 training, QAT, lowering and the integer evaluation; returns the fold's figures,
    /// the QAT latent float model and the integer model that was evaluated.
    let runFold
        (cfg: StudyConfig)
        (forms: FormData list)
        (fold: SplitFold)
        (progress: StudyProgress -> unit)
        : StudyFold * Model * IntModel =
        let watch = Stopwatch.StartNew()
        let settings = pipeline cfg (cfg.Seed * 1000 + fold.Index)

        // The choice sees the fold's training subjects only; the held-out subject never takes part.
        let form, arch, choice =
            if cfg.Architecture = Auto then
                // The study's epoch limit bounds the candidates' short trainings too; they are scored as they ship,
                // after a short run of the study's ternary QAT.
                let search =
                    ArchSearch.configured cfg.Search cfg.Train settings.Seed cfg.Threads cfg.Augment (Some cfg.Qat)

                match
                    ArchSearch.choose search (searchCost cfg) forms fold.Train (fun (d, n) ->
                        progress (SearchStep(fold.Index, d, n)))
                with
                | Ok c -> (forms |> List.find (fun f -> f.Form = c.Form)), c.Architecture, Some c
                | Error e -> invalidArg "cfg" $"fold {fold.Index}: {e}"
            else
                ImportFolder.forNetwork cfg.Architecture forms, cfg.Architecture, None

        let data = form.Data
        let fitIdx, validIdx = Pipeline.split settings fold.Train data
        let train = Dataset.pick fitIdx data

        let valid =
            if validIdx.Length > 0 then
                Some(Dataset.pick validIdx data)
            else
                None

        let testX, testY = Dataset.pick fold.Test data

        let initial =
            match Architectures.forData arch data.Shape data.Classes settings.Seed with
            | Ok m -> m
            | Error e -> invalidArg "cfg" e

        let fp32 =
            Pipeline.fit settings data initial train valid (fun log -> progress (Fp32Step(fold.Index, log)))

        let fp32Metrics = Train.evaluate fp32.Model testX testY

        // The automatic choice also says which layers stay int8 (the first, when the budget allows it).
        let step =
            match choice with
            | Some c -> {
                ternaryStep cfg with
                    Config = {
                        cfg.Qat with
                            Int8Layers = c.Int8Layers
                    }
              }
            | None -> ternaryStep cfg

        // QAT keeps its last epoch and needs no validation subjects: it trains on every training subject of the
        // fold, the FP32 holdout's too, and calibrates on them.
        let everyTraining = Dataset.pick fold.Train data

        let qat =
            Pipeline.qat settings data step fp32.Model everyTraining None (fun e -> progress (QatStep(fold.Index, e)))

        let im =
            match Pipeline.lower settings data qat (fst everyTraining) with
            | Ok m -> m
            | Error e -> failwith $"fold {fold.Index}: lowering failed: {e}"

        let predicted = Pipeline.predictInteger im cfg.Threads testX
        let ternaryMetrics = Metrics.compute data.Classes testY predicted

        let result = {
            Fold = fold.Index
            Form = form.Form
            Architecture = arch
            Choice = choice
            TrainSamples = fold.Train.Length
            TestSamples = fold.Test.Length
            Fp32Accuracy = fp32Metrics.Accuracy
            Fp32MacroF1 = fp32Metrics.MacroF1
            TernaryAccuracy = ternaryMetrics.Accuracy
            TernaryMacroF1 = ternaryMetrics.MacroF1
            Sparsity = ternarySparsity im
            Pruned = qat.Sparsity.Pruned
            Fp32Epochs = fp32.History.Length
            QatEpochs = qat.History.Length
            Truth = testY
            TernaryPredicted = predicted
            Seconds = watch.Elapsed.TotalSeconds
        }

        progress (FoldDone result)
        result, qat.Latent, im

    /// A data set's folds by subject: grouped stratified k-fold (seeded) or leave one subject out.
    let folds (split: StudySplit) (seed: int) (data: Dataset) : Result<SplitFold list, string> =
        match split with
        | KFold k -> Splits.groupedStratifiedKFold k seed data.Labels data.Subjects
        | LeaveOneSubjectOut -> Splits.leaveOneGroupOut data.Labels data.Subjects

    /// The study's folds for a data set (grouped stratified k-fold or leave one subject out).
    let splits (cfg: StudyConfig) (data: Dataset) : Result<SplitFold list, string> = folds cfg.Split cfg.Seed data

    /// The architecture fits the data: "auto" with a candidate within the budget, or a known name that takes the input
    /// of the form it trains on.
    let check (cfg: StudyConfig) (forms: FormData list) : Result<unit, string> =
        match forms with
        | [] -> Error "no data"
        | _ when cfg.Architecture = Auto -> ArchSearch.check cfg.Search (searchCost cfg) forms
        | _ ->
            let data = (ImportFolder.forNetwork cfg.Architecture forms).Data

            Architectures.forData cfg.Architecture data.Shape data.Classes cfg.Seed
            |> Result.map ignore

    /// Runs the study on the given folds (e.g. the ones a baseline runs on too); progress is called after every
    /// epoch and fold. Deterministic for a seed (any thread count). Throws ArgumentException on an invalid data set
    /// or architecture.
    let ternaryOn
        (cfg: StudyConfig)
        (forms: FormData list)
        (folds: SplitFold list)
        (progress: StudyProgress -> unit)
        : StudyResult =
        let invalid =
            forms
            |> List.tryPick (fun f ->
                match Dataset.validate f.Data with
                | Error e -> Some e
                | Ok() -> None)

        match invalid, check cfg forms with
        | Some e, _
        | None, Error e -> invalidArg "forms" e
        | None, Ok() -> ()

        let data = (List.head forms).Data

        let total = Stopwatch.StartNew()

        let results =
            folds
            |> List.map (fun fold ->
                let r, _, _ = runFold cfg forms fold progress
                r)

        let mean f =
            if results.IsEmpty then 0.0 else results |> List.averageBy f

        {
            Folds = results
            MeanFp32Accuracy = mean (fun r -> r.Fp32Accuracy)
            MeanTernaryAccuracy = mean (fun r -> r.TernaryAccuracy)
            MeanFp32MacroF1 = mean (fun r -> r.Fp32MacroF1)
            MeanTernaryMacroF1 = mean (fun r -> r.TernaryMacroF1)
            MeanSparsity = mean (fun r -> r.Sparsity)
            TernaryMetrics =
                Metrics.compute
                    data.Classes
                    (results |> List.map (fun r -> r.Truth) |> Array.concat)
                    (results |> List.map (fun r -> r.TernaryPredicted) |> Array.concat)
            Seconds = total.Elapsed.TotalSeconds
        }

    /// Runs the study on one data set's own folds (splits); progress is called after every epoch and fold.
    /// Deterministic for a seed (any thread count). Throws ArgumentException on an invalid data set, architecture or
    /// split.
    let ternary (cfg: StudyConfig) (data: Dataset) (progress: StudyProgress -> unit) : StudyResult =
        match Dataset.validate data with
        | Error e -> invalidArg "data" e
        | Ok() -> ()

        let form = {
            Form = ImportFolder.formOf data
            Dir = ""
            Data = data
        }

        match splits cfg data with
        | Ok folds -> ternaryOn cfg [ form ] folds progress
        | Error e -> invalidArg "cfg" e
