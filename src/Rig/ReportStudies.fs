namespace Tern.Rig

open System.Text.Json.Nodes

/// Each study's table as curves: accuracy against sparsity (ternary, search), bit depth (gamma), bytes per frame
/// (codec) and pruning ratio (prune), read from the keys the study verbs print.
[<RequireQualifiedAccess>]
module ReportStudies =
    let private num = ReportJson.numberAt

    let private mean (xs: float list) : float option =
        if xs.IsEmpty then None else Some(List.average xs)

    /// A dashed horizontal reference line at y over [x0, x1].
    let private level (name: string) (y: float) (x0: float) (x1: float) : Curve = {
        ReportCharts.curve name [ x0, y; x1, y ] with
            Dashed = true
    }

    /// Groups rows by a text key in order of first appearance.
    let private groupBy (key: string) (rows: JsonNode list) : (string * JsonNode list) list =
        rows
        |> List.choose (fun r ->
            ReportJson.field key r
            |> Option.bind ReportJson.scalar
            |> Option.map (fun k -> k, r))
        |> List.groupBy fst
        |> List.map (fun (k, rs) -> k, List.map snd rs)

    /// Points (x, y) of the rows that carry both keys, sorted by x.
    let private points (xKey: string) (yKey: string) (rows: JsonNode list) : (float * float) list =
        rows
        |> List.choose (fun r ->
            match num xKey r, num yKey r with
            | Some x, Some y -> Some(x, y)
            | _ -> None)
        |> List.sortBy fst

    let private nonEmpty (series: Curve list) =
        series |> List.filter (fun c -> not c.Points.IsEmpty)

    /// A curve figure, or nothing when no series has a point.
    let private curvesOrNone id title caption xTitle yTitle logX (series: Curve list) : ReportFigure list =
        match nonEmpty series with
        | [] -> []
        | s -> [ ReportCharts.curves id title caption xTitle yTitle logX s ]

    /// study ternary: per fold, FP32 (no pruned weights) to integer ternary at the fold's sparsity.
    let ternary (json: JsonNode) : ReportFigure list =
        let folds = ReportJson.itemsAt "folds" json

        let foldName i f =
            num "fold" f
            |> Option.map (fun k -> $"fold {int k}")
            |> Option.defaultValue $"fold {i}"

        let perFold =
            folds
            |> List.mapi (fun i f ->
                match num "fp32_accuracy" f, num "ternary_accuracy" f, num "sparsity" f with
                | Some a, Some t, Some s -> Some(ReportCharts.curve (foldName i f) [ 0.0, a; s, t ])
                | _ -> None)
            |> List.choose id

        let meanCurve =
            match num "mean_fp32_accuracy" json, num "mean_ternary_accuracy" json, num "mean_sparsity" json with
            | Some a, Some t, Some s -> [
                {
                    ReportCharts.curve "mean" [ 0.0, a; s, t ] with
                        Dashed = true
                }
              ]
            | _ -> []

        let grouped key =
            folds
            |> List.map (num key)
            |> fun v -> if List.forall Option.isSome v then List.choose id v else []

        let fp32, tern = grouped "fp32_accuracy", grouped "ternary_accuracy"

        curvesOrNone
            "ternary-sparsity"
            "accuracy against sparsity"
            "Each fold from its FP32 model (no zero weights) to its integer ternary model at the sparsity reached; the C# integer runtime computes the ternary figures."
            "fraction of zero weights"
            "accuracy"
            false
            (perFold @ meanCurve)
        @ (if fp32.IsEmpty || fp32.Length <> tern.Length then
               []
           else
               [
                   ReportCharts.bars
                       "ternary-folds"
                       "accuracy per fold"
                       "Held-out subjects of each subject-grouped fold."
                       "fold"
                       "accuracy"
                       (folds |> List.mapi foldName)
                       [ "FP32", fp32; "ternary", tern ]
               ])

    /// study gamma: macro F1 and accuracy against input bit depth, one curve per quantizer, raw input as a line.
    let gamma (json: JsonNode) : ReportFigure list =
        let rows = ReportJson.itemsAt "results" json
        let quantized = rows |> List.filter (num "bits" >> Option.isSome)
        let raw = rows |> List.filter (num "bits" >> Option.isNone)
        let bits = quantized |> List.choose (num "bits")

        let figure id (key: string) (label: string) =
            let methods =
                groupBy "method" quantized
                |> List.map (fun (m, rs) -> ReportCharts.curve m (points "bits" key rs))

            let reference =
                match raw |> List.choose (num key), bits with
                | y :: _, b :: _ -> [ level "raw input" y (List.min bits) (List.max bits) ]
                | _ -> []

            curvesOrNone
                id
                $"{label} against input bit depth"
                $"Mean over folds ({label}); raw input is the unquantized network's, drawn across the bit depths."
                "bits per input value"
                label
                false
                (methods @ reference)

        figure "gamma-f1" "macro_f1" "macro F1"
        @ figure "gamma-accuracy" "accuracy" "accuracy"

    /// study codec: accuracy against bytes per frame on the wire (one curve per method over its bit depths) and the
    /// compression ratio against bit depth.
    let codec (json: JsonNode) : ReportFigure list =
        let rows = ReportJson.itemsAt "rows" json

        let perMethod =
            groupBy "method" rows
            |> List.map (fun (m, rs) ->
                let pts =
                    rs
                    |> List.choose (fun r ->
                        match num "bits_per_frame" r, num "accuracy" r with
                        | Some b, Some a ->
                            let label =
                                num "bits" r
                                |> Option.map (fun b -> $"{int b} b")
                                |> Option.defaultValue "float"

                            Some((b / 8.0, a), label)
                        | _ -> None)
                    |> List.sortBy (fst >> fst)

                {
                    ReportCharts.curve m (List.map fst pts) with
                        Labels = Some(List.map snd pts)
                })

        let xs = perMethod |> List.collect (fun c -> List.map fst c.Points)

        let baseline =
            match num "baseline_accuracy" json, xs with
            | Some a, _ :: _ -> [ level "uncompressed" a (List.min xs) (List.max xs) ]
            | _ -> []

        let ratios =
            groupBy "method" (rows |> List.filter (num "bits" >> Option.isSome))
            |> List.map (fun (m, rs) -> ReportCharts.curve m (points "bits" "ratio_vs_int8" rs))

        curvesOrNone
            "codec-bytes"
            "accuracy against bytes per frame"
            "Every byte of every codec stream counted (header, tables, vectors, payload, padding, CRC), per frame; labels give the bit depth."
            "bytes per frame (log scale)"
            "accuracy"
            true
            (perMethod @ baseline)
        @ curvesOrNone
            "codec-ratio"
            "compression ratio against bit depth"
            "Raw int8 feature-map bytes over the bytes on the wire."
            "codec bits"
            "ratio vs int8"
            false
            ratios

    /// study prune: accuracy against the pruning ratio per criterion, and what each ratio removes.
    let prune (json: JsonNode) : ReportFigure list =
        let rows = ReportJson.itemsAt "rows" json
        let ratios = rows |> List.choose (num "ratio")

        let criteria =
            groupBy "criterion" rows
            |> List.map (fun (c, rs) -> ReportCharts.curve c (points "ratio" "pruned_accuracy" rs))

        let baseline =
            match mean (rows |> List.choose (num "baseline_accuracy")), ratios with
            | Some b, _ :: _ -> [ level "unpruned" b (List.min ratios) (List.max ratios) ]
            | _ -> []

        let reduction (key: string) (name: string) =
            let pts =
                rows
                |> List.choose (fun r ->
                    match num "ratio" r, num key r with
                    | Some x, Some y -> Some(x, y)
                    | _ -> None)
                |> List.groupBy fst
                |> List.map (fun (x, ys) -> x, ys |> List.averageBy snd)
                |> List.sortBy fst

            ReportCharts.curve name pts

        curvesOrNone
            "prune-accuracy"
            "accuracy against pruning ratio"
            "Mean over folds of the test subjects' accuracy after pruning and fine-tuning; the dashed line is the unpruned model's."
            "fraction of each layer's filters removed"
            "accuracy"
            false
            (criteria @ baseline)
        @ curvesOrNone
            "prune-reduction"
            "MACs and parameters removed against pruning ratio"
            "Fractions of the unpruned model's multiply-accumulates and parameters, mean over criteria."
            "fraction of each layer's filters removed"
            "fraction removed"
            false
            [
                reduction "flops_reduction" "MACs removed"
                reduction "params_reduction" "parameters removed"
            ]

    /// study search: every evaluation of each bisection (mean validation accuracy of its repeats), accepted or not,
    /// against the candidate, with the target accuracy.
    let search (json: JsonNode) : ReportFigure list =
        let target = num "target" json

        let stage (key: string) (id: string) (title: string) (xTitle: string) =
            let log =
                ReportJson.field key json
                |> Option.map (ReportJson.itemsAt "log")
                |> Option.defaultValue []

            let evaluation accepted =
                log
                |> List.filter (fun e ->
                    ReportJson.field "accepted" e
                    |> Option.bind ReportJson.scalar
                    |> (=) (Some(if accepted then "true" else "false")))
                |> List.choose (fun e ->
                    match num "candidate" e, ReportJson.itemsAt "accuracies" e |> List.choose ReportJson.number with
                    | Some x, (_ :: _ as accs) -> Some(x, List.average accs)
                    | _ -> None)

            let marks name accepted = {
                ReportCharts.curve name (evaluation accepted) with
                    Lines = false
            }

            let all = evaluation true @ evaluation false |> List.map fst

            let targetLine =
                match target, all with
                | Some t, _ :: _ -> [ level "target" t (List.min all) (List.max all) ]
                | _ -> []

            curvesOrNone
                id
                title
                "Each evaluation's mean validation accuracy over its fine-tune-and-validate repeats; accepted candidates meet the target."
                xTitle
                "validation accuracy"
                false
                ([ marks "accepted" true; marks "rejected" false ] @ targetLine)

        stage "block_search" "search-blocks" "accuracy against retained blocks" "blocks retained"
        @ stage "sparsity_search" "search-sparsity" "accuracy against sparsity" "global weight sparsity"

    /// The curves of a study verb ("study ternary", ...); none for other verbs.
    let figures (verb: string) (json: JsonNode) : ReportFigure list =
        match verb with
        | "study ternary" -> ternary json
        | "study gamma" -> gamma json
        | "study codec" -> codec json
        | "study prune" -> prune json
        | "study search" -> search json
        | _ -> []
