namespace Tern.Studies

open Tern.Core

open System
open System.Diagnostics
open Microsoft.ML
open Microsoft.ML.Data
open Microsoft.ML.Trainers.FastTree

/// Settings of the classic baseline: a random forest on hand-crafted statistics of raw windows.
type BaselineConfig = {
    Split: StudySplit
    /// Seeds the split and each fold's forest (MLContext seed = Seed * 1000 + fold index).
    Seed: int
    /// Trees per forest (one forest per class, one class against the rest).
    Trees: int
}

/// One fold: its test subjects and the forest's figures on them.
type BaselineFold = {
    Fold: int
    /// Names of the fold's test subjects.
    Subjects: string list
    TrainSamples: int
    TestSamples: int
    Accuracy: float
    MacroF1: float
    /// Labels of the fold's test samples and the forest's predictions of them.
    Truth: int[]
    Predicted: int[]
    Seconds: float
}

/// A subject's figures: its samples, predicted by the fold that held it out.
type BaselineSubject = {
    Subject: string
    Samples: int
    Accuracy: float
    MacroF1: float
}

type BaselineResult = {
    Folds: BaselineFold list
    /// Every sample predicted once, by the forest of the fold that never saw its subject.
    Pooled: ClassMetrics
    /// Per subject, in subject order: macro-F1 over the classes in that subject's truth or predictions.
    PerSubject: BaselineSubject list
    /// Mean of PerSubject's macro-F1 (under leave one subject out: the mean over folds).
    MeanSubjectMacroF1: float
    /// Mean over folds of each fold's accuracy and macro-F1, as the ternary study's means (under leave one subject
    /// out MeanMacroF1 is MeanSubjectMacroF1).
    MeanAccuracy: float
    MeanMacroF1: float
    Seconds: float
}

/// ML.NET's input row: the label as a number and the feature vector (its length set by the schema).
[<AllowNullLiteral>]
type BaselineRow() =
    member val LabelValue = 0.0f with get, set
    member val Features: float32[] = [||] with get, set

/// ML.NET's output row: the predicted label mapped back to its number.
[<AllowNullLiteral>]
type BaselinePrediction() =
    member val PredictedValue = 0.0f with get, set

/// The classic baseline: per subject-grouped fold, a random forest (ML.NET FastForest, one class against the rest)
/// trained on WindowFeatures of the training subjects' raw windows, evaluated on the held-out subjects.
[<RequireQualifiedAccess>]
module StudyBaseline =

    /// Leave one subject out, seed 1, 200 trees.
    let defaultConfig: BaselineConfig = {
        Split = LeaveOneSubjectOut
        Seed = 1
        Trees = 200
    }

    /// The data must be raw windows (1 x W x C); spectrograms are refused.
    let check (cfg: BaselineConfig) (data: Dataset) : Result<unit, string> =
        if cfg.Trees < 1 then
            Error $"{cfg.Trees} trees: need at least 1"
        elif data.Shape.H <> 1 then
            Error
                $"the baseline takes raw windows shaped 1 x W x C (time x axes), got {data.Shape}: spectrograms have no window statistics; give the import's raw folder"
        else
            Dataset.validate data

    /// Every sample's features (WindowFeatures.ofWindow), in sample order.
    let features (data: Dataset) : float32[][] =
        data.Samples
        |> Array.Parallel.map (fun s -> WindowFeatures.ofWindow data.Shape s |> Array.map float32)

    /// Trains a forest on (features, labels) and predicts the test features; deterministic for a seed.
    let fitPredict
        (cfg: BaselineConfig)
        (seed: int)
        (trainX: float32[][])
        (trainY: int[])
        (testX: float32[][])
        : int[] =
        let n = if trainX.Length > 0 then trainX[0].Length else 0
        let ml = MLContext(Nullable seed)
        let schema = SchemaDefinition.Create(typeof<BaselineRow>)
        schema["Features"].ColumnType <- VectorDataViewType(NumberDataViewType.Single, n)

        let view (xs: float32[][]) (ys: int[]) =
            let rows =
                Array.map2 (fun x y -> BaselineRow(LabelValue = float32 y, Features = x)) xs ys

            ml.Data.LoadFromEnumerable(rows, schema)

        let forest =
            FastForestBinaryTrainer.Options(
                NumberOfTrees = cfg.Trees,
                // One thread: FastTree's parallel histogram building may sum in a different order per run.
                NumberOfThreads = Nullable 1,
                FeatureColumnName = "Features"
            )

        let pipeline =
            EstimatorChain()
                .Append(
                    ml.Transforms.Conversion.MapValueToKey(
                        "Label",
                        "LabelValue",
                        keyOrdinality = Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue
                    )
                )
                .Append(
                    ml.MulticlassClassification.Trainers.OneVersusAll(
                        ml.BinaryClassification.Trainers.FastForest forest,
                        labelColumnName = "Label",
                        // Raw forest scores compare across classes (each is a mean of leaf values); no calibration.
                        useProbabilities = false
                    )
                )
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedValue", "PredictedLabel"))

        let model = pipeline.Fit(view trainX trainY)
        // The test labels are not known to the forest: a placeholder fills the column the schema asks for.
        let scored = model.Transform(view testX (Array.create testX.Length trainY[0]))

        ml.Data.CreateEnumerable<BaselinePrediction>(scored, false)
        |> Seq.map (fun p -> int p.PredictedValue)
        |> Seq.toArray

    /// Per subject: macro-F1 of its own samples (classes in its truth or predictions, as Metrics does).
    let perSubject (data: Dataset) (samples: int[]) (truth: int[]) (predicted: int[]) : BaselineSubject list =
        samples
        |> Array.indexed
        |> Array.groupBy (fun (_, i) -> data.Subjects[i])
        |> Array.sortBy fst
        |> Array.map (fun (s, members) ->
            let at = members |> Array.map fst

            let m =
                Metrics.compute
                    data.Classes
                    (at |> Array.map (fun k -> truth[k]))
                    (at |> Array.map (fun k -> predicted[k]))

            {
                Subject = Dataset.subjectName data s
                Samples = at.Length
                Accuracy = m.Accuracy
                MacroF1 = m.MacroF1
            })
        |> Array.toList

    /// Runs the baseline on the given folds (e.g. a network study's, so that both are scored on the same test
    /// subjects); fold i's forest is seeded with cfg.Seed * 1000 + its index. progress is called after every fold.
    /// Throws ArgumentException on an invalid configuration or data set.
    let runOn
        (cfg: BaselineConfig)
        (data: Dataset)
        (folds: SplitFold list)
        (progress: BaselineFold -> unit)
        : BaselineResult =
        match check cfg data with
        | Error e -> invalidArg "data" e
        | Ok() -> ()

        let total = Stopwatch.StartNew()
        let x = features data

        let results =
            folds
            |> List.map (fun fold ->
                let watch = Stopwatch.StartNew()

                let pick (idx: int[]) =
                    idx |> Array.map (fun i -> x[i]), idx |> Array.map (fun i -> data.Labels[i])

                let trainX, trainY = pick fold.Train
                let testX, testY = pick fold.Test
                let predicted = fitPredict cfg (cfg.Seed * 1000 + fold.Index) trainX trainY testX
                let m = Metrics.compute data.Classes testY predicted

                let r = {
                    Fold = fold.Index
                    Subjects =
                        fold.Test
                        |> Array.map (fun i -> data.Subjects[i])
                        |> Array.distinct
                        |> Array.sort
                        |> Array.map (Dataset.subjectName data)
                        |> Array.toList
                    TrainSamples = fold.Train.Length
                    TestSamples = fold.Test.Length
                    Accuracy = m.Accuracy
                    MacroF1 = m.MacroF1
                    Truth = testY
                    Predicted = predicted
                    Seconds = watch.Elapsed.TotalSeconds
                }

                progress r
                r)

        let samples = folds |> List.map (fun f -> f.Test) |> Array.concat
        let truth = results |> List.map (fun r -> r.Truth) |> Array.concat
        let predicted = results |> List.map (fun r -> r.Predicted) |> Array.concat
        let subjects = perSubject data samples truth predicted

        {
            Folds = results
            Pooled = Metrics.compute data.Classes truth predicted
            PerSubject = subjects
            MeanSubjectMacroF1 = subjects |> List.averageBy (fun s -> s.MacroF1)
            MeanAccuracy = results |> List.averageBy (fun r -> r.Accuracy)
            MeanMacroF1 = results |> List.averageBy (fun r -> r.MacroF1)
            Seconds = total.Elapsed.TotalSeconds
        }

    /// Runs the study on its own folds (Study.folds of cfg.Split and cfg.Seed); progress is called after every
    /// fold. Deterministic for a seed. Throws ArgumentException on an invalid configuration, data set or split.
    let run (cfg: BaselineConfig) (data: Dataset) (progress: BaselineFold -> unit) : BaselineResult =
        match check cfg data with
        | Error e -> invalidArg "data" e
        | Ok() -> ()

        match Study.folds cfg.Split cfg.Seed data with
        | Ok folds -> runOn cfg data folds progress
        | Error e -> invalidArg "cfg" e
