namespace Tern.Core

open System
open System.Collections.Generic
open System.Diagnostics
open Tern.Runtime
open Tern.Runtime.Engine

/// Where the pipeline's model starts.
type PipelineStart =
    /// A fresh model of a named architecture (Architectures.forData), shaped to the data, seeded by the settings.
    | Architecture of name: string
    /// A trained float model. It may have seen any subject: the holdout recorded is only what it records on this
    /// same data set, narrowed to the subjects validated on now (Holdout.narrow).
    | Pretrained of Model

/// A training stage of the pipeline.
type PipelineStage =
    | FitStage
    | FineTuneStage
    | QatStage of QatTarget

/// How a caller watches a pipeline run (e.g. a progress bar per stage, a line after pruning).
type PipelineWatch =
    /// Runs a training stage of `epochs` epochs: work reports every epoch to the function it is given.
    abstract Stage<'r> : stage: PipelineStage * epochs: int * work: ((EpochLog -> unit) -> 'r) -> 'r
    /// The pruned model was fine-tuned: how much smaller it is than the trained one.
    abstract Pruned: ModelReduction -> unit

/// Why a pipeline run stopped.
type PipelineError =
    /// Architectures.forData refused the architecture for this data.
    | UnknownArchitecture of string
    /// The split left no subject for validation (the data has fewer than two).
    | NoValidationSubjects
    /// The pretrained model's holdout record is malformed.
    | BadHoldoutRecord of string
    /// Pruning refused the trained model.
    | PruneRefused of string
    /// A training left NaN or infinite weights (FitStage covers training, pruning and fine-tuning).
    | Diverged of stage: PipelineStage * detail: string
    /// The lowering refused the QAT model.
    | LoweringFailed of string

/// What a pipeline run made, and its figures.
type PipelineResult = {
    /// The float model (no QAT) or the lowered integer model, both recording the holdout.
    Model: LoadedModel
    /// Sample indices trained on, and held out for validation.
    TrainSamples: int[]
    ValidSamples: int[]
    /// The FP32 training (no epochs when Train.Epochs is 0: the starting model).
    Fit: TrainResult
    /// The float model QAT started from: the trained one, or the pruned and fine-tuned one.
    Float: Model
    /// The pruned and fine-tuned model against the trained one.
    Reduction: ModelReduction option
    Qat: QatResult option
    /// The subjects the model never trained on, as recorded in it.
    Holdout: Holdout option
    /// Metrics on the validation samples: of the float model, or of the integer model run by the C# runtime.
    ValidMetrics: ClassMetrics
    /// Training accuracy of the last FP32 epoch (the starting model's when none ran).
    TrainAccuracy: float
    /// Fraction of zero weights of the integer model.
    Sparsity: float option
    /// Seconds of the float part (training, pruning, fine-tuning), and of the whole run.
    FloatSeconds: float
    Seconds: float
}

/// The one pipeline from a data set to a model file: split by subject, fit, prune, fine-tune, QAT, lower, save. The
/// `train` verb runs it whole; the studies run its stages. Deterministic for a seed (any thread count).
[<RequireQualifiedAccess>]
module Pipeline =

    /// A watch that shows nothing.
    let quiet: PipelineWatch = {
        new PipelineWatch with
            member _.Stage(_, _, work) = work ignore
            member _.Pruned _ = ()
    }

    /// count inputs evenly spaced over the samples (all of them when there are fewer), as calibration tensors.
    let calibrationInputs (shape: Shape3) (count: int) (samples: float32[][]) : Tensor list =
        let n = samples.Length
        let m = max 1 (min count n)

        List.init m (fun k -> Tensor.ofArray shape samples[int (int64 k * int64 n / int64 m)])

    /// Class predictions of the integer model: inputs quantized with Lower.quantizeSamples, run by Runner.RunBatch
    /// (optimised kernels), Runner.Argmax of each int8 output.
    let predictInteger (model: IntModel) (threads: int) (samples: float32[][]) : int[] =
        let inputs = Lower.quantizeSamples model samples

        let threads = if threads <= 0 then Environment.ProcessorCount else threads

        Runner.RunBatch(model, KernelMode.Optimized, inputs, threads)
        |> Array.map (fun y -> Runner.Argmax(ReadOnlySpan y))

    /// The given samples split by whole subjects into (train, validation), about the fraction Valid of the
    /// subjects to validation (none when there is a single subject).
    let split (settings: PipelineSettings) (indices: int[]) (data: Dataset) : int[] * int[] =
        Splits.groupHoldout settings.Valid settings.Seed indices data.Subjects

    /// A training config run with the pipeline's seed, threads and augmentation.
    let private configured (settings: PipelineSettings) (data: Dataset) (cfg: TrainConfig) : TrainConfig = {
        cfg with
            Seed = settings.Seed
            Threads = settings.Threads
            Augment = defaultArg settings.Augment data.Augment
    }

    /// FP32 training of a model (Train.fit with the settings' Train); Epochs 0 returns the model untouched.
    let fit
        (settings: PipelineSettings)
        (data: Dataset)
        (model: Model)
        (train: float32[][] * int[])
        (valid: (float32[][] * int[]) option)
        (report: EpochLog -> unit)
        : TrainResult =
        if settings.Train.Epochs = 0 then
            {
                Model = model
                History = []
                BestEpoch = 0
                StoppedEarly = false
            }
        else
            Train.fit (configured settings data settings.Train) model train valid report

    /// The pruning plan of one step: for every prunable layer, its lowest-scoring filters on the calibration inputs.
    let prunePlan (step: PruneStep) (calibration: Tensor list) (model: Model) : Map<int, Set<int>> =
        PruneCriteria.scoresOf step.Criterion model (Surgery.prunable model) calibration
        |> Map.map (fun _ scores -> PruneCriteria.toPrune step.Ratio scores)

    /// Prunes a trained model: plan, surgery, BatchNorm re-estimated on the calibration inputs.
    let prune (step: PruneStep) (calibration: Tensor list) (model: Model) : Result<Model, string> =
        Surgery.removeMany (prunePlan step calibration model) model
        |> Result.map (Surgery.reestimateBatchNorm calibration)

    /// Fine-tuning of a pruned model on the training samples (the settings' FineTune, every epoch, no validation).
    let fineTune
        (settings: PipelineSettings)
        (data: Dataset)
        (model: Model)
        (train: float32[][] * int[])
        (report: EpochLog -> unit)
        : TrainResult =
        Train.fit (configured settings data settings.FineTune) model train None report

    /// Quantization-aware fine-tuning of a trained float model for the step's target.
    let qat
        (settings: PipelineSettings)
        (data: Dataset)
        (step: QatStep)
        (model: Model)
        (train: float32[][] * int[])
        (valid: (float32[][] * int[]) option)
        (report: QatEpoch -> unit)
        : QatResult =
        let cfg = {
            step.Config with
                Seed = settings.Seed
                Threads = settings.Threads
                Augment = defaultArg settings.Augment data.Augment
        }

        match step.Target with
        | TernaryTarget -> Qat.trainTernary cfg model train valid report
        | Int8Target -> Qat.trainInt8 cfg model train valid report

    /// Lowers QAT's latent model to integers: the activation ranges QAT learned fix the grid; min-max over
    /// Calibration training inputs covers any tensor without one (all of them when activation quantization is off).
    let lower
        (settings: PipelineSettings)
        (data: Dataset)
        (qat: QatResult)
        (trainSamples: float32[][])
        : Result<IntModel, string> =
        Lower.lowerWith
            qat.Lowering
            qat.Ranges
            (calibrationInputs data.Shape settings.Calibration trainSamples)
            qat.Latent

    /// The bytes of the model file of a run's model.
    let serialize (result: PipelineResult) : byte[] =
        match result.Model with
        | FloatModel m -> ModelFile.serializeFloat m
        | IntegerModel m -> ModelFile.serializeInt m

    /// Saves a run's model whole (temporary file in the same folder, then rename).
    let save (path: string) (result: PipelineResult) : unit =
        match result.Model with
        | FloatModel m -> ModelFile.saveFloat path m
        | IntegerModel m -> ModelFile.saveInt path m

    exception private Stopped of PipelineError

    let private orStop (error: string -> PipelineError) (r: Result<'a, string>) : 'a =
        match r with
        | Ok v -> v
        | Error e -> raise (Stopped(error e))

    /// Runs the whole pipeline on a data set: split by subject, fit, then (settings permitting) prune and fine-tune,
    /// QAT and lowering; evaluates the model made on the validation subjects. Nothing is written (see save).
    let run
        (settings: PipelineSettings)
        (start: PipelineStart)
        (data: Dataset)
        (watch: PipelineWatch)
        : Result<PipelineResult, PipelineError> =
        let clock = Stopwatch.StartNew()

        try
            let initial =
                match start with
                | Pretrained m -> m
                | Architecture name ->
                    Architectures.forData name data.Shape data.Classes settings.Seed
                    |> orStop UnknownArchitecture

            let trainIdx, validIdx = split settings (Array.init data.Samples.Length id) data

            if validIdx.Length = 0 then
                raise (Stopped NoValidationSubjects)

            let holdout =
                let now = Holdout.ofSamples data validIdx

                match start with
                | Architecture _ -> Some now
                | Pretrained m ->
                    Holdout.ofMeta (m.Meta :> IReadOnlyDictionary<_, _>)
                    |> orStop BadHoldoutRecord
                    |> fun earlier -> Holdout.narrow earlier now

            let stamp (m: Model) = {
                m with
                    Meta = Holdout.toMeta holdout m.Meta
            }

            let train = Dataset.pick trainIdx data
            let valid = Dataset.pick validIdx data

            let fitted =
                watch.Stage(FitStage, settings.Train.Epochs, fit settings data initial train (Some valid))

            let floatModel, reduction =
                match settings.Prune with
                | None -> fitted.Model, None
                | Some step ->
                    let calibration = calibrationInputs data.Shape settings.PruneCalibration (fst train)

                    let pruned = prune step calibration fitted.Model |> orStop PruneRefused

                    let tuned =
                        watch.Stage(FineTuneStage, settings.FineTune.Epochs, fineTune settings data pruned train)

                    let r = Reduction.compare fitted.Model tuned.Model
                    watch.Pruned r
                    tuned.Model, Some r

            let requireFinite (stage: PipelineStage) (m: Model) =
                Model.checkFinite m |> orStop (fun e -> Diverged(stage, e))

            requireFinite FitStage floatModel
            let floatSeconds = clock.Elapsed.TotalSeconds
            let vx, vy = valid

            let made, metrics, sparsity, quantized =
                match settings.Qat with
                | None -> FloatModel(stamp floatModel), Train.evaluate floatModel vx vy, None, None
                | Some step ->
                    let q =
                        watch.Stage(
                            QatStage step.Target,
                            step.Config.Epochs,
                            fun report -> qat settings data step floatModel train (Some valid) (fun e -> report e.Log)
                        )

                    requireFinite (QatStage step.Target) q.Latent

                    let im =
                        lower settings data { q with Latent = stamp q.Latent } (fst train)
                        |> orStop LoweringFailed

                    let predicted = predictInteger im settings.Threads vx
                    IntegerModel im, Metrics.compute data.Classes vy predicted, Some(Lower.weightSparsity im), Some q

            let trainAccuracy =
                match List.tryLast fitted.History with
                | Some last -> last.TrainAccuracy
                | None -> (Train.evaluate fitted.Model (fst train) (snd train)).Accuracy

            Ok {
                Model = made
                TrainSamples = trainIdx
                ValidSamples = validIdx
                Fit = fitted
                Float = floatModel
                Reduction = reduction
                Qat = quantized
                Holdout = holdout
                ValidMetrics = metrics
                TrainAccuracy = trainAccuracy
                Sparsity = sparsity
                FloatSeconds = floatSeconds
                Seconds = clock.Elapsed.TotalSeconds
            }
        with Stopped e ->
            Error e
