namespace Tern.Studies

open Tern.Core

open System.Diagnostics

/// Settings of the filter-pruning study (seed 001's tables).
type PruneStudyConfig = {
    Split: StudySplit
    /// Seeds the split, initial weights, holdout and shuffling.
    Seed: int
    /// Architecture name (Architectures.forData), shaped to the data.
    Architecture: string
    Criteria: PruneCriteria.Criterion list
    /// Fractions of each prunable layer's filters removed.
    Ratios: float list
    /// Training of the baseline (its Seed, Threads and Augment are set by the study).
    Train: TrainConfig
    /// Fine-tuning of every pruned model (seed 001 fine-tunes; this is a short version).
    FineTune: TrainConfig
    /// Fraction of the training subjects held out for early stopping.
    Holdout: float
    /// Training inputs (evenly spaced) on which the spectral criteria and the BN re-estimation are computed.
    Calibration: int
    Threads: int
    Augment: Augmentation option
}

/// One criterion and ratio in one fold.
type PruneFoldRow = {
    Fold: int
    Criterion: string
    Ratio: float
    BaselineAccuracy: float
    PrunedAccuracy: float
    /// Accuracy right after surgery and BN re-estimation, before fine-tuning.
    SurgeryAccuracy: float
    Reduction: ModelReduction
    /// Labels of the fold's test samples and the fine-tuned pruned model's predictions of them.
    Truth: int[]
    Predicted: int[]
    Seconds: float
}

/// One criterion and ratio, averaged over the folds (the shape of seed 001's tables 3-12).
type PruneRow = {
    Criterion: string
    Ratio: float
    BaselineAccuracy: float
    PrunedAccuracy: float
    AccuracyDrop: float
    FlopsReduction: float
    ParamsReduction: float
    /// Output channels kept per prunable layer (first fold), e.g. [3; 5; 10; 14; 19].
    KeptChannels: int list
}

type PruneStudyResult = {
    Rows: PruneRow list
    Folds: PruneFoldRow list
    /// The final model: the last criterion at the last ratio (the table's last row), fine-tuned, each fold's model
    /// on its own test subjects; metrics of the pooled predictions.
    FinalMetrics: ClassMetrics
    Architecture: string
    Params: int
    Macs: int64
    Seconds: float
}

type PruneProgress =
    | BaselineEpoch of fold: int * EpochLog
    | Pruned of PruneFoldRow

/// Trains a baseline per fold, prunes each prunable layer's filters by each criterion at each ratio (scores from
/// the baseline on calibration inputs), re-estimates BN, fine-tunes briefly and evaluates on the fold's test
/// subjects.
[<RequireQualifiedAccess>]
module StudyPrune =

    /// 5-fold grouped split, seed 1, the plain architecture, criteria l1/low/high/overall at ratios 0.6-0.75;
    /// baseline Adam 3e-3 cosine, up to 30 epochs (patience 8); the pipeline's pruning: scores and BN on 128
    /// calibration inputs, fine-tuning 30 epochs at Adam 1e-3 cosine (6 left a 0.03 drop); 20 % of the training
    /// subjects held out.
    let defaultConfig: PruneStudyConfig = {
        Split = KFold 5
        Seed = 1
        Architecture = "plain"
        Criteria = [
            PruneCriteria.L1
            PruneCriteria.LowFrequency
            PruneCriteria.HighFrequency
            PruneCriteria.Overall
        ]
        Ratios = [ 0.6; 0.65; 0.7; 0.75 ]
        Train = {
            Train.defaultConfig with
                Epochs = 30
                Optimizer = Adam(3e-3, 0.9, 0.999, 1e-8)
                Patience = Some 8
        }
        FineTune = PipelineSettings.defaults.FineTune
        Holdout = PipelineSettings.defaults.Valid
        Calibration = PipelineSettings.defaults.PruneCalibration
        Threads = 0
        Augment = None
    }

    /// The pipeline settings of one fold (seeded with the fold's seed): the baseline training, pruning and
    /// fine-tuning, no QAT.
    let pipeline (cfg: PruneStudyConfig) (seed: int) : PipelineSettings = {
        PipelineSettings.defaults with
            Seed = seed
            Valid = cfg.Holdout
            Train = cfg.Train
            PruneCalibration = cfg.Calibration
            FineTune = cfg.FineTune
            Qat = None
            Augment = cfg.Augment
            Threads = cfg.Threads
    }

    let private runFold
        (cfg: PruneStudyConfig)
        (data: Dataset)
        (fold: SplitFold)
        (progress: PruneProgress -> unit)
        : PruneFoldRow list =
        let settings = pipeline cfg (cfg.Seed * 1000 + fold.Index)
        let fitIdx, validIdx = Pipeline.split settings fold.Train data
        let train = Dataset.pick fitIdx data

        let valid =
            if validIdx.Length > 0 then
                Some(Dataset.pick validIdx data)
            else
                None

        let testX, testY = Dataset.pick fold.Test data

        let initial =
            match Architectures.forData cfg.Architecture data.Shape data.Classes settings.Seed with
            | Ok m -> m
            | Error e -> invalidArg "cfg" e

        let baseline =
            (Pipeline.fit settings data initial train valid (fun log -> progress (BaselineEpoch(fold.Index, log))))
                .Model

        let baseAcc = (Train.evaluate baseline testX testY).Accuracy

        let calibration =
            Pipeline.calibrationInputs data.Shape settings.PruneCalibration (fst train)

        [
            for criterion in cfg.Criteria do
                for ratio in cfg.Ratios do
                    let watch = Stopwatch.StartNew()

                    let pruned =
                        match Pipeline.prune { Criterion = criterion; Ratio = ratio } calibration baseline with
                        | Ok m -> m
                        | Error e -> failwith $"fold {fold.Index}: pruning failed: {e}"

                    let surgeryAcc = (Train.evaluate pruned testX testY).Accuracy
                    let tuned = (Pipeline.fineTune settings data pruned train ignore).Model
                    let predicted = Train.predict tuned testX
                    let acc = (Metrics.compute data.Classes testY predicted).Accuracy

                    let row = {
                        Fold = fold.Index
                        Criterion = PruneCriteria.Criterion.name criterion
                        Ratio = ratio
                        BaselineAccuracy = baseAcc
                        PrunedAccuracy = acc
                        SurgeryAccuracy = surgeryAcc
                        Reduction = Reduction.compare baseline tuned
                        Truth = testY
                        Predicted = predicted
                        Seconds = watch.Elapsed.TotalSeconds
                    }

                    progress (Pruned row)
                    yield row
        ]

    /// Runs the study; deterministic for a seed. Throws ArgumentException on an invalid data set, split or setting.
    let run (cfg: PruneStudyConfig) (data: Dataset) (progress: PruneProgress -> unit) : PruneStudyResult =
        match Dataset.validate data with
        | Error e -> invalidArg "data" e
        | Ok() -> ()

        if cfg.Criteria.IsEmpty || cfg.Ratios.IsEmpty then
            invalidArg "cfg" "the study needs at least one criterion and one ratio"

        for r in cfg.Ratios do
            if not (r >= 0.0 && r < 1.0) then
                invalidArg "cfg" $"pruning ratio {r} is outside [0, 1)"

        let folds =
            match Study.folds cfg.Split cfg.Seed data with
            | Ok f -> f
            | Error e -> invalidArg "cfg" e

        let total = Stopwatch.StartNew()
        let all = folds |> List.collect (fun f -> runFold cfg data f progress)

        let reference =
            match Architectures.forData cfg.Architecture data.Shape data.Classes cfg.Seed with
            | Ok m -> m
            | Error e -> invalidArg "cfg" e

        let rows = [
            for c in cfg.Criteria do
                for r in cfg.Ratios do
                    let name = PruneCriteria.Criterion.name c
                    let rows = all |> List.filter (fun x -> x.Criterion = name && x.Ratio = r)
                    let mean f = rows |> List.averageBy f
                    let first = List.head rows
                    let prunable = Surgery.prunable reference |> Set.ofList

                    yield {
                        Criterion = name
                        Ratio = r
                        BaselineAccuracy = mean (fun x -> x.BaselineAccuracy)
                        PrunedAccuracy = mean (fun x -> x.PrunedAccuracy)
                        AccuracyDrop = mean (fun x -> x.BaselineAccuracy - x.PrunedAccuracy)
                        FlopsReduction = mean (fun x -> x.Reduction.FlopsReduction)
                        ParamsReduction = mean (fun x -> x.Reduction.ParamsReduction)
                        KeptChannels =
                            first.Reduction.Layers
                            |> List.filter (fun l -> prunable.Contains l.Index)
                            |> List.map (fun l -> l.ChannelsAfter)
                    }
        ]

        let lastCriterion = PruneCriteria.Criterion.name (List.last cfg.Criteria)
        let lastRatio = List.last cfg.Ratios

        let finals =
            all |> List.filter (fun x -> x.Criterion = lastCriterion && x.Ratio = lastRatio)

        {
            Rows = rows
            Folds = all
            FinalMetrics =
                Metrics.compute
                    data.Classes
                    (finals |> List.map (fun x -> x.Truth) |> Array.concat)
                    (finals |> List.map (fun x -> x.Predicted) |> Array.concat)
            Architecture = cfg.Architecture
            Params = Model.totalParams reference
            Macs = Model.totalMacs reference
            Seconds = total.Elapsed.TotalSeconds
        }
