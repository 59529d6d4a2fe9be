namespace Tern.Core

/// The weights quantization-aware training fine-tunes for.
type QatTarget =
    /// Ternary weights with magnitude pruning (Qat.trainTernary).
    | TernaryTarget
    /// int8 per-channel weights (Qat.trainInt8).
    | Int8Target

/// Filter pruning of a trained model: every prunable layer loses the fraction Ratio (in [0, 1)) of its filters,
/// lowest Criterion scores first.
type PruneStep = {
    Criterion: PruneCriteria.Criterion
    Ratio: float
}

/// Quantization-aware fine-tuning for Target (Config's Seed, Threads and Augment are set by the pipeline).
type QatStep = { Target: QatTarget; Config: QatConfig }

/// Settings of the pipeline (Pipeline.run): split, fit, prune, fine-tune, QAT, lower.
type PipelineSettings = {
    /// Seeds the split, a fresh model's initial weights and every training's shuffling (overriding the configs').
    Seed: int
    /// Fraction of the subjects held out for validation: early stopping, QAT's best epoch, the figures reported.
    Valid: float
    /// FP32 training (its Seed, Threads and Augment are the pipeline's); Epochs 0 keeps the starting weights.
    Train: TrainConfig
    /// Filter pruning after training, followed by FineTune; None skips both.
    Prune: PruneStep option
    /// Training inputs (evenly spaced) on which pruning scores the filters and re-estimates BatchNorm.
    PruneCalibration: int
    /// Fine-tuning of the pruned model on the training subjects, every epoch (its Seed, Threads and Augment are
    /// the pipeline's).
    FineTune: TrainConfig
    /// Quantization-aware fine-tuning, then lowering to an integer model; None leaves the float model.
    Qat: QatStep option
    /// Training inputs (evenly spaced) that calibrate the activation ranges QAT did not learn.
    Calibration: int
    /// Augmentation of every training; None takes the data set's own (Dataset.Augment).
    Augment: Augmentation option
    /// Worker threads for training and the integer runner, 0 for every core (results do not depend on it).
    Threads: int
}

[<RequireQualifiedAccess>]
module PipelineSettings =

    /// The QAT settings of a target: Qat.defaultConfig (ternary, 45 % pruned) or Qat.defaultInt8Config.
    let qatConfig (target: QatTarget) : QatConfig =
        match target with
        | TernaryTarget -> Qat.defaultConfig
        | Int8Target -> Qat.defaultInt8Config

    /// Seed 1, 20 % of the subjects for validation; FP32 Adam 3e-3 cosine up to 60 epochs (patience 15 on the
    /// validation loss); pruning off, else scored on 128 inputs and fine-tuned 30 epochs at Adam 1e-3 cosine; ternary
    /// QAT (Qat.defaultConfig); 256 calibration inputs; the data set's augmentation; every core. The default model
    /// (models/default.tern) is these settings on the default synthetic radar data.
    let defaults: PipelineSettings = {
        Seed = 1
        Valid = 0.2
        Train = {
            Train.defaultConfig with
                Epochs = 60
                Optimizer = Adam(3e-3, 0.9, 0.999, 1e-8)
                Patience = Some 15
        }
        Prune = None
        PruneCalibration = 128
        FineTune = {
            Train.defaultConfig with
                Epochs = 30
                Optimizer = Adam(1e-3, 0.9, 0.999, 1e-8)
                Patience = None
        }
        Qat =
            Some {
                Target = TernaryTarget
                Config = qatConfig TernaryTarget
            }
        Calibration = 256
        Augment = None
        Threads = 0
    }
