namespace Tern.Studies

open Tern.Core

open System
open System.Diagnostics

/// Settings of the gamma-QUANT study (seed 002, table 2).
type GammaStudyConfig = {
    Split: StudySplit
    /// Bit depths to compare (each in 1..16); raw is trained once whatever the list.
    Bits: int list
    /// Seeds the split, the initial weights (the same for every method of a fold), the holdout and shuffling.
    Seed: int
    /// Joint training (its Train.Seed and Train.Threads are overridden by the study's).
    Training: GammaTrainConfig
    /// Architecture name (Architectures.names), shaped to the data's input and classes.
    Architecture: string
    /// Fraction of the training subjects held out for early stopping.
    Holdout: float
    /// Worker threads for training, 0 for every core.
    Threads: int
}

/// One method at one bit depth (Bits = 0 for raw) over all folds. MacroF1 and Accuracy are means over the
/// folds (the seed's figure); PooledMacroF1 is the macro F1 of all folds' predictions together. Gamma and Mu
/// are the learned parameters averaged over the folds (one entry, one per axis, or none).
type GammaStudyRow = {
    Bits: int
    Method: InputMethod
    MacroF1: float
    Accuracy: float
    PooledMacroF1: float
    /// Metrics of all folds' predictions together (each fold's model on its own test subjects).
    Pooled: ClassMetrics
    FoldMacroF1: float list
    Gamma: float[]
    Mu: float[]
    MeanEpochs: float
}

/// The study's rows (raw first, then per bit depth linear, gamma-global, gamma-per-axis) and its duration.
type GammaStudyResult = {
    Rows: GammaStudyRow list
    Folds: int
    Seconds: float
}

/// What the study is doing, for progress output.
type GammaStudyProgress =
    | GammaEpochDone of fold: int * method: InputMethod * bits: int * GammaEpoch
    | GammaTrainingDone of fold: int * method: InputMethod * bits: int * macroF1: float

/// Raw against linear and learned (global, per-axis) gamma-QUANT input quantization, trained jointly with the
/// network, evaluated per subject-grouped fold by macro F1.
[<RequireQualifiedAccess>]
module StudyGamma =

    /// Leave one subject out, bits 2 and 4, seed 1, GammaQuant.defaultConfig, the raw1d architecture, 20 % of
    /// training subjects held out, every core.
    let defaultConfig: GammaStudyConfig = {
        Split = LeaveOneSubjectOut
        Bits = [ 2; 4 ]
        Seed = 1
        Training = GammaQuant.defaultConfig
        Architecture = "raw1d"
        Holdout = 0.2
        Threads = 0
    }

    /// The (bits, method) pairs the study trains, in report order: raw once (bits 0), then per bit depth.
    let methods (bits: int list) : (int * InputMethod) list =
        (0, RawInput)
        :: [
            for b in bits do
                for m in [ LinearInput; GammaGlobal; GammaPerAxis ] -> b, m
        ]

    /// Checks the configuration against a data set: bits in 1..16, a 1 x W x C input, a known architecture.
    let check (cfg: GammaStudyConfig) (data: Dataset) : Result<unit, string> =
        match cfg.Bits |> List.tryFind (fun b -> b < 1 || b > 16) with
        | Some b -> Error $"bit depth {b} is outside 1..16"
        | None when cfg.Bits.IsEmpty -> Error "no bit depths given"
        | None when data.Shape.H <> 1 ->
            Error $"the gamma study takes windows shaped 1 x W x C (time x axes), got {data.Shape}"
        | None when not (List.contains cfg.Architecture Architectures.names) ->
            Error $"unknown architecture '{cfg.Architecture}'"
        | None -> Dataset.validate data

    let private predict (model: Model) (stage: InputStage) (samples: float32[][]) : int[] =
        samples
        |> Array.Parallel.map (fun x ->
            (Forward.run model (Tensor.ofArray model.Input (GammaQuant.apply stage x))).Data
            |> Tensor.argmax)

    // Per fold: (fold index, per method: (macro F1, accuracy, learned stage, epochs, test labels, predictions)).
    let private runFold
        (cfg: GammaStudyConfig)
        (data: Dataset)
        (fold: SplitFold)
        (progress: GammaStudyProgress -> unit)
        =
        let seed = cfg.Seed * 1000 + fold.Index
        let fitIdx, validIdx = Splits.groupHoldout cfg.Holdout seed fold.Train data.Subjects
        let train = Dataset.pick fitIdx data

        let valid =
            if validIdx.Length > 0 then
                Some(Dataset.pick validIdx data)
            else
                None

        let testX, testY = Dataset.pick fold.Test data

        let initial =
            match Architectures.forData cfg.Architecture data.Shape data.Classes seed with
            | Ok m -> m
            | Error e -> invalidArg "cfg" e

        let training = {
            cfg.Training with
                Train = {
                    cfg.Training.Train with
                        Seed = seed
                        Threads = cfg.Threads
                }
        }

        methods cfg.Bits
        |> List.map (fun (bits, m) ->
            // Raw has no bit depth (bits 0); create only checks the depth of the quantizing methods.
            let stage = GammaQuant.create m (max 1 bits) data.Shape.C

            let r =
                GammaQuant.fit training initial stage train valid (fun e ->
                    progress (GammaEpochDone(fold.Index, m, bits, e)))

            let predicted = predict r.Model r.Stage testX
            let metrics = Metrics.compute data.Classes testY predicted
            let acc, f1 = metrics.Accuracy, metrics.MacroF1
            progress (GammaTrainingDone(fold.Index, m, bits, f1))
            (bits, m), (f1, acc, r.Stage, r.History.Length, testY, predicted))

    /// The study's folds for a data set (grouped stratified k-fold or leave one subject out).
    let splits (cfg: GammaStudyConfig) (data: Dataset) : Result<SplitFold list, string> =
        Study.folds cfg.Split cfg.Seed data

    /// Runs the study; progress is called after every epoch and training. Deterministic for a seed (any thread
    /// count). Throws ArgumentException on an invalid configuration, data set or split.
    let run (cfg: GammaStudyConfig) (data: Dataset) (progress: GammaStudyProgress -> unit) : GammaStudyResult =
        match check cfg data with
        | Error e -> invalidArg "data" e
        | Ok() -> ()

        let folds =
            match splits cfg data with
            | Ok f -> f
            | Error e -> invalidArg "cfg" e

        let total = Stopwatch.StartNew()
        let perFold = folds |> List.map (fun f -> runFold cfg data f progress)

        let rows =
            methods cfg.Bits
            |> List.map (fun key ->
                let bits, m = key

                let results =
                    perFold |> List.map (fun fr -> fr |> List.find (fun (k, _) -> k = key) |> snd)

                let f1s = results |> List.map (fun (f1, _, _, _, _, _) -> f1)
                let accs = results |> List.map (fun (_, a, _, _, _, _) -> a)
                let stages = results |> List.map (fun (_, _, s, _, _, _) -> s)
                let labels = results |> List.map (fun (_, _, _, _, y, _) -> y) |> Array.concat
                let predicted = results |> List.map (fun (_, _, _, _, _, p) -> p) |> Array.concat
                let pooled = Metrics.compute data.Classes labels predicted
                let n = stages.Head.Gamma.Length

                let meanOf (get: InputStage -> float[]) =
                    Array.init n (fun k -> stages |> List.averageBy (fun s -> (get s)[k]))

                {
                    Bits = bits
                    Method = m
                    MacroF1 = List.average f1s
                    Accuracy = List.average accs
                    PooledMacroF1 = pooled.MacroF1
                    Pooled = pooled
                    FoldMacroF1 = f1s
                    Gamma = meanOf (fun s -> s.Gamma)
                    Mu = meanOf (fun s -> s.Mu)
                    MeanEpochs = results |> List.averageBy (fun (_, _, _, e, _, _) -> float e)
                })

        {
            Rows = rows
            Folds = folds.Length
            Seconds = total.Elapsed.TotalSeconds
        }
