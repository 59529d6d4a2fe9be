namespace Tern.Core

/// Precision, recall, F1 and support of one class.
type ClassFigures = {
    Class: string
    /// Of the samples predicted as this class, the fraction that are (0 when none is predicted as it).
    Precision: float
    /// Of the samples of this class, the fraction predicted as it (0 when the class has no samples).
    Recall: float
    /// 2 TP / (support + predicted), the harmonic mean of the two (0 when neither occurs).
    F1: float
    /// Samples whose label is this class.
    Support: int
}

/// Classification metrics of predictions against labels.
type ClassMetrics = {
    Classes: string list
    Samples: int
    Correct: int
    /// Correct / Samples (0 for no samples).
    Accuracy: float
    /// Mean F1 over the classes that occur in the labels or the predictions (a class absent from both is left
    /// out: it says nothing about the classifier).
    MacroF1: float
    /// One entry per class, in class order.
    PerClass: ClassFigures list
    /// Counts [true class][predicted class].
    Confusion: int[][]
}

/// Classification metrics from labels and predictions: the one implementation training, studies, run and hil use.
[<RequireQualifiedAccess>]
module Metrics =
    /// The confusion matrix [true][predicted] of k classes; throws ArgumentException on a length mismatch or a
    /// label or prediction outside 0..k-1.
    let confusion (k: int) (labels: int[]) (predicted: int[]) : int[][] =
        if labels.Length <> predicted.Length then
            invalidArg "predicted" $"{labels.Length} labels but {predicted.Length} predictions"

        let m = Array.init k (fun _ -> Array.zeroCreate<int> k)

        Array.iter2
            (fun t p ->
                if t < 0 || t >= k || p < 0 || p >= k then
                    invalidArg "labels" $"label {t} or prediction {p} is outside 0..{k - 1}"

                m[t][p] <- m[t][p] + 1)
            labels
            predicted

        m

    /// The metrics a confusion matrix [true][predicted] implies, with the classes' names.
    let ofConfusion (classes: string list) (confusion: int[][]) : ClassMetrics =
        let k = classes.Length

        if confusion.Length <> k || confusion |> Array.exists (fun r -> r.Length <> k) then
            invalidArg "confusion" $"the confusion matrix must be {k} x {k} for {k} classes"

        let support c = Array.sum confusion[c]

        let predictedAs c =
            Array.sumBy (fun (r: int[]) -> r[c]) confusion

        let ratio (a: int) (b: int) =
            if b = 0 then 0.0 else float a / float b

        let perClass =
            classes
            |> List.mapi (fun c name ->
                let tp = confusion[c][c]

                {
                    Class = name
                    Precision = ratio tp (predictedAs c)
                    Recall = ratio tp (support c)
                    F1 = ratio (2 * tp) (support c + predictedAs c)
                    Support = support c
                })

        let occurring =
            perClass
            |> List.indexed
            |> List.filter (fun (c, _) -> support c + predictedAs c > 0)
            |> List.map (fun (_, f) -> f.F1)

        let samples = Array.sumBy Array.sum confusion
        let correct = Seq.init k (fun c -> confusion[c][c]) |> Seq.sum

        {
            Classes = classes
            Samples = samples
            Correct = correct
            Accuracy = ratio correct samples
            MacroF1 = (if occurring.IsEmpty then 0.0 else List.average occurring)
            PerClass = perClass
            Confusion = confusion |> Array.map Array.copy
        }

    /// The metrics of predictions against labels (class indices into classes).
    let compute (classes: string list) (labels: int[]) (predicted: int[]) : ClassMetrics =
        ofConfusion classes (confusion classes.Length labels predicted)

    /// Mean over subjects of each subject's macro-F1 on its own samples (subjects[i] is sample i's subject): the
    /// leave-one-subject-out figure, which weighs every subject alike however many windows it has.
    let meanSubjectMacroF1 (classes: string list) (subjects: int[]) (labels: int[]) (predicted: int[]) : float =
        if subjects.Length <> labels.Length then
            invalidArg "subjects" $"{subjects.Length} subjects but {labels.Length} labels"

        let groups = Array.indexed subjects |> Array.groupBy snd

        if groups.Length = 0 then
            0.0
        else
            groups
            |> Array.averageBy (fun (_, members) ->
                let at = Array.map fst members

                (compute classes (at |> Array.map (fun i -> labels[i])) (at |> Array.map (fun i -> predicted[i])))
                    .MacroF1)
