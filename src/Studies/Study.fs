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
    /// Fraction of the training subjects held out for early stopping (FP32) and best-epoch choice (QAT).
    Holdout: float
    /// Training inputs used to calibrate the lowering's activation ranges (min-max) that QAT did not learn; evenly
    /// spaced.
    Calibration: int
    /// Worker threads for training and the integer runner, 0 for every core.
    Threads: int
    /// Training-time augmentation of both trainings; None takes the one the data set declares (Dataset.Augment).
    Augment: Augmentation option
}

/// Results of one fold. Ternary figures are from the integer model run by the C# Runner.
type StudyFold = {
    Fold: int
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
    | Fp32Step of fold: int * EpochLog
    | QatStep of fold: int * QatEpoch
    | FoldDone of StudyFold

/// The ternary study: per subject-grouped fold, train FP32, evaluate, fine-tune for ternary weights with pruning,
/// lower to integers and evaluate the integer model with the C# runner.
[<RequireQualifiedAccess>]
module Study =

    /// 5-fold grouped stratified split, seed 1, FP32 Adam 3e-3 cosine up to 60 epochs (patience 15 on validation
    /// loss), Qat.defaultConfig, 20 % of training subjects held out, 256 calibration inputs, every core, the data
    /// set's own augmentation.
    let defaultConfig: StudyConfig = {
        Split = KFold 5
        Seed = 1
        Train = {
            Train.defaultConfig with
                Epochs = 60
                Optimizer = Adam(3e-3, 0.9, 0.999, 1e-8)
                Patience = Some 15
        }
        Qat = Qat.defaultConfig
        Holdout = 0.2
        Calibration = 256
        Threads = 0
        Augment = None
    }

    /// Class predictions of the integer model: inputs quantized with Lower.quantizeSamples, run by Runner.RunBatch
    /// (optimised kernels), Runner.Argmax of each int8 output.
    let predictInteger (model: IntModel) (threads: int) (samples: float32[][]) : int[] =
        let inputs = Lower.quantizeSamples model samples

        let threads = if threads <= 0 then Environment.ProcessorCount else threads

        Runner.RunBatch(model, KernelMode.Optimized, inputs, threads)
        |> Array.map (fun y -> Runner.Argmax(ReadOnlySpan y))

    /// Fraction of zero codes among the ternary weights of an integer model.
    let ternarySparsity (model: IntModel) : float = Lower.weightSparsity model

    /// count inputs evenly spaced over the samples (all of them when there are fewer), as calibration tensors.
    let calibrationInputs (shape: Shape3) (count: int) (samples: float32[][]) : Tensor list =
        let n = samples.Length
        let m = max 1 (min count n)

        List.init m (fun k -> Tensor.ofArray shape samples[int (int64 k * int64 n / int64 m)])

    /// One fold of the study: FP32 training, QAT, lowering and the integer evaluation; returns the fold's figures,
    /// the QAT latent float model and the integer model that was evaluated.
    let runFold
        (cfg: StudyConfig)
        (data: Dataset)
        (fold: SplitFold)
        (progress: StudyProgress -> unit)
        : StudyFold * Model * IntModel =
        let watch = Stopwatch.StartNew()
        let seed = cfg.Seed * 1000 + fold.Index
        let fitIdx, validIdx = Splits.groupHoldout cfg.Holdout seed fold.Train data.Subjects
        let train = Dataset.pick fitIdx data
        let valid = Dataset.pick validIdx data
        let testX, testY = Dataset.pick fold.Test data
        let initial = Architectures.defaultFor data.Shape data.Classes seed
        let augment = defaultArg cfg.Augment data.Augment

        let fp32 =
            Train.fit
                {
                    cfg.Train with
                        Seed = seed
                        Threads = cfg.Threads
                        Augment = augment
                }
                initial
                train
                (if validIdx.Length > 0 then Some valid else None)
                (fun log -> progress (Fp32Step(fold.Index, log)))

        let fp32Metrics = Train.evaluate fp32.Model testX testY

        let qat =
            Qat.trainTernary
                {
                    cfg.Qat with
                        Seed = seed
                        Threads = cfg.Threads
                        Augment = augment
                }
                fp32.Model
                train
                (if validIdx.Length > 0 then Some valid else None)
                (fun e -> progress (QatStep(fold.Index, e)))

        // The activation ranges QAT learned fix the integer model's grid (qat.Ranges); min-max over training
        // inputs covers any tensor without one (all of them when activation quantization is off).
        let calibration = calibrationInputs data.Shape cfg.Calibration (fst train)

        let im =
            match Lower.lowerWith qat.Lowering qat.Ranges calibration qat.Latent with
            | Ok m -> m
            | Error e -> failwith $"fold {fold.Index}: lowering failed: {e}"

        let predicted = predictInteger im cfg.Threads testX
        let ternaryMetrics = Metrics.compute data.Classes testY predicted

        let result = {
            Fold = fold.Index
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

    /// Runs the study; progress is called after every epoch and fold. Deterministic for a seed (any thread
    /// count). Throws ArgumentException on an invalid data set or split.
    let ternary (cfg: StudyConfig) (data: Dataset) (progress: StudyProgress -> unit) : StudyResult =
        match Dataset.validate data with
        | Error e -> invalidArg "data" e
        | Ok() -> ()

        let folds =
            match splits cfg data with
            | Ok f -> f
            | Error e -> invalidArg "cfg" e

        let total = Stopwatch.StartNew()

        let results =
            folds
            |> List.map (fun fold ->
                let r, _, _ = runFold cfg data fold progress
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
