/// Studies that reproduce the seeds' tables on Tern's own data: study ternary, study gamma.
module Tern.Cli.StudyVerbs

open System
open Argu
open Tern.Core
open Tern.Studies
open Tern.Cli.Args
open Tern.Cli.Common

let private foldJson (baseline: BaselineFold option) (f: StudyFold) : System.Text.Json.Nodes.JsonNode =
    Json.obj [
        "fold", Json.int f.Fold
        "form", Json.str (ImportFolder.formName f.Form)
        "arch", Json.str f.Architecture
        "search",
        (match f.Choice with
         | Some c -> ArchChoiceView.json c
         | None -> null)
        "train_samples", Json.int f.TrainSamples
        "test_samples", Json.int f.TestSamples
        "fp32_accuracy", Json.num f.Fp32Accuracy
        "fp32_macro_f1", Json.num f.Fp32MacroF1
        "ternary_accuracy", Json.num f.TernaryAccuracy
        "ternary_macro_f1", Json.num f.TernaryMacroF1
        "sparsity", Json.num f.Sparsity
        "pruned", Json.num f.Pruned
        "fp32_epochs", Json.int f.Fp32Epochs
        "qat_epochs", Json.int f.QatEpochs
        "seconds", Json.num f.Seconds
        match baseline with
        | Some b ->
            "baseline_macro_f1", Json.num b.MacroF1
            "baseline_accuracy", Json.num b.Accuracy
        | None -> ()
    ]

/// The forms at --data DIR (a data set folder or an import's top folder); exit 2 naming the folder otherwise.
let private dataForms (dir: string) : FormData list =
    match ImportFolder.forms dir with
    | Ok forms -> forms
    | Error e -> raise (BadInput $"--data {e}")

/// The raw windows among the forms at --data DIR; spectrogram-only folders are refused (exit 2) saying why raw
/// windows are needed.
let private rawForm (dir: string) (why: string) (forms: FormData list) : FormData =
    match ImportFolder.tryFind DataForm.Raw forms with
    | Some f -> f
    | None ->
        let held = forms |> List.map (fun f -> f.Dir) |> String.concat ", "
        raise (BadInput $"--data {dir}: holds spectrograms only ({held}, no raw/ folder); {why}")

/// Whether the network beats the baseline, FP32 and ternary, by mean macro-F1 in percentage points.
let private versusBaseline (fp32: float) (ternary: float) (baseline: float) : string =
    let verdict =
        match fp32 > baseline, ternary > baseline with
        | true, true -> "the network beats the baseline"
        | true, false -> "FP32 beats the baseline, ternary does not"
        | false, true -> "ternary beats the baseline, FP32 does not"
        | false, false -> "the network does not beat the baseline"

    sprintf
        "%s: FP32 %+.1f pp, ternary %+.1f pp (mean macro-F1 %.4f and %.4f against the baseline's %.4f)"
        verdict
        (100.0 * (fp32 - baseline))
        (100.0 * (ternary - baseline))
        fp32
        ternary
        baseline

/// FP32 against integer ternary accuracy per subject-grouped fold (seed 000's table).
let studyTernary (args: ParseResults<StudyTernaryArgs>) =
    let html = args.TryGetResult StudyTernaryArgs.Html

    let history =
        HistoryOption.choose (args.TryGetResult StudyTernaryArgs.History) (args.Contains StudyTernaryArgs.No_History)

    let dir = args.GetResult StudyTernaryArgs.Data

    let arch =
        args.GetResult(StudyTernaryArgs.Arch, defaultValue = Study.defaultConfig.Architecture)

    let auto = arch = Study.Auto

    let fixedBy = if auto then None else Some $", not to --arch {arch}"

    let budget =
        SearchOptions.budget (args.TryGetResult StudyTernaryArgs.Budget) fixedBy

    let innerFolds =
        SearchOptions.innerFolds (args.TryGetResult StudyTernaryArgs.Inner_Folds) fixedBy

    let forms = dataForms dir
    // Fixed architectures train on one form; the automatic choice may take either, fold by fold.
    let form = ImportFolder.forNetwork arch forms
    let data = form.Data

    // The baseline's statistics are of raw windows: the raw form of the same windows (ImportFolder checked that
    // both forms hold the same labels and subjects in the same order, so the folds are the same).
    let baselineForm =
        if args.Contains StudyTernaryArgs.Baseline then
            Some(
                rawForm
                    dir
                    "--baseline's statistics are of raw windows: give an import's top folder with its raw/ form"
                    forms
            )
        else
            None

    let split =
        match args.TryGetResult StudyTernaryArgs.Split with
        | Some Loso -> LeaveOneSubjectOut
        | _ ->
            let k = args.GetResult(StudyTernaryArgs.Folds, defaultValue = 5)

            if k < 2 then
                raise (BadInput $"--folds {k}: need at least 2")

            KFold k

    let d = Study.defaultConfig

    // Fixed architectures only: the automatic choice decides by the budget.
    let int8Layers =
        match args.TryGetResult StudyTernaryArgs.Int8_Layers with
        | None -> d.Qat.Int8Layers
        | Some _ when auto ->
            raise (
                BadInput
                    "--int8-layers applies to a fixed --arch; --arch auto keeps the first layer int8 when the budget allows"
            )
        | Some text ->
            match Architectures.forData arch data.Shape data.Classes 1 with
            | Ok m -> parseInt8Layers text (Qat.weightOrdinals m).Count
            | Error e -> raise (BadInput $"--arch {arch} on {form.Dir}: {e}")

    let smoothing =
        args.GetResult(StudyTernaryArgs.Label_Smoothing, defaultValue = d.Train.LabelSmoothing)

    let config = {
        d with
            Split = split
            Seed = args.GetResult(StudyTernaryArgs.Seed, defaultValue = d.Seed)
            Train = {
                d.Train with
                    Epochs = args.GetResult(StudyTernaryArgs.Epochs, defaultValue = d.Train.Epochs)
                    LabelSmoothing = smoothing
                    Ema = args.GetResult(StudyTernaryArgs.Ema, defaultValue = d.Train.Ema)
            }
            Qat = {
                d.Qat with
                    Sparsity = args.GetResult(StudyTernaryArgs.Sparsity, defaultValue = d.Qat.Sparsity)
                    ActivationQuant =
                        match args.TryGetResult StudyTernaryArgs.Fake_Quant with
                        | Some OnOff.On -> true
                        | Some OnOff.Off -> false
                        | None -> d.Qat.ActivationQuant
                    LabelSmoothing = smoothing
                    Int8Layers = int8Layers
                    Distill =
                        match args.TryGetResult StudyTernaryArgs.Distill with
                        | Some OnOff.On -> Some SoftmaxLoss.defaultDistillation
                        | Some OnOff.Off -> None
                        | None -> d.Qat.Distill
            }
            Augment =
                args.TryGetResult StudyTernaryArgs.Augment
                |> Option.map (fun name ->
                    match Augment.parse name with
                    | Ok a -> a
                    | Error e -> raise (BadInput $"--augment: {e}"))
            Architecture = arch
            Budget = budget
            Search = {
                d.Search with
                    InnerFolds = innerFolds
            }
    }

    // A fixed architecture trains on one form; the automatic choice may train on any of them.
    AugmentOption.checkFits
        (args.TryGetResult StudyTernaryArgs.Augment)
        config.Augment
        (if auto then forms else [ form ])

    match Study.check config forms with
    | Error e when auto ->
        raise (
            BadInput
                $"--arch auto on {dir}: {e} (budget {DeviceBudget.format budget}): give a larger --budget or a fixed --arch"
        )
    | Error e -> raise (BadInput $"--arch {arch} on {form.Dir}: {e}")
    | Ok() -> ()

    let baselineConfig = {
        StudyBaseline.defaultConfig with
            Split = config.Split
            Seed = config.Seed
    }

    match baselineForm with
    | Some b ->
        match StudyBaseline.check baselineConfig b.Data with
        | Error e -> raise (BadInput $"{b.Dir}: {e}")
        | Ok() -> ()
    | None -> ()

    match Study.splits config data with
    | Error e -> raise (BadInput $"{dir}: {e}")
    | Ok folds ->
        let result =
            // A fold's share of FP32 training and of QAT goes by their epoch budgets (early stopping makes it a
            // guess), so that the time left shows before the first fold ends.
            let fp32Share =
                float config.Train.Epochs / float (config.Train.Epochs + config.Qat.Epochs)

            Progress.track "study ternary" folds.Length (fun p ->
                let fold f = $"fold {f + 1}/{folds.Length}"

                Study.ternaryOn config (if auto then forms else [ form ]) folds (function
                    | SearchStep(f, trained, planned) ->
                        p.Status $"{fold f}  choosing the architecture: {trained}/{planned} trainings"
                    | Fp32Step(f, log) ->
                        p.Status $"{fold f}  fp32 {ProgressText.epoch log}"
                        p.Part f (fp32Share * float log.Epoch / float log.Epochs)
                    | QatStep(f, q) ->
                        p.Status $"{fold f}  QAT {ProgressText.epoch q.Log}"
                        p.Part f (fp32Share + (1.0 - fp32Share) * float q.Log.Epoch / float q.Log.Epochs)
                    | FoldDone r -> p.Part r.Fold 1.0))

        // On the network's very folds: same split, same seed, same test subjects.
        let baseline =
            baselineForm
            |> Option.map (fun b ->
                b,
                Progress.run "study baseline" folds.Length (fun tick ->
                    StudyBaseline.runOn baselineConfig b.Data folds (fun _ -> tick 1)))

        let baselineFold (f: StudyFold) =
            baseline
            |> Option.map (fun (_, r) -> r.Folds |> List.find (fun b -> b.Fold = f.Fold))

        let versus =
            baseline
            |> Option.map (fun (_, r) -> versusBaseline result.MeanFp32MacroF1 result.MeanTernaryMacroF1 r.MeanMacroF1)

        let final =
            "the integer ternary models: each fold's on its own test subjects, predictions pooled"


        let report =
            Json.obj (
                [
                    "data", Json.str dir
                    "split",
                    Json.str (
                        match split with
                        | KFold k -> $"{k}-fold"
                        | LeaveOneSubjectOut -> "loso"
                    )
                    "arch", Json.str arch
                    // The form of a fixed architecture; the automatic choice gives each fold's in folds[].form.
                    "form",
                    (if auto then
                         null
                     else
                         Json.str (ImportFolder.formName form.Form))
                    "form_dir", (if auto then null else Json.str form.Dir)
                    "budget", (if auto then Json.str (DeviceBudget.format budget) else null)
                    "inner_folds", (if auto then Json.int config.Search.InnerFolds else null)
                    // A fixed architecture's int8 layers; the automatic choice gives each fold's in folds[].search.
                    "int8_layers",
                    (if auto then
                         null
                     else
                         Json.arr (config.Qat.Int8Layers |> Seq.map Json.int |> List.ofSeq))
                    "folds", Json.arr (result.Folds |> List.map (fun f -> foldJson (baselineFold f) f))
                    "mean_fp32_accuracy", Json.num result.MeanFp32Accuracy
                    "mean_ternary_accuracy", Json.num result.MeanTernaryAccuracy
                    "mean_fp32_macro_f1", Json.num result.MeanFp32MacroF1
                    "mean_ternary_macro_f1", Json.num result.MeanTernaryMacroF1
                    "mean_sparsity", Json.num result.MeanSparsity
                    "augment", Json.str (Augment.name (defaultArg config.Augment data.Augment))
                    "label_smoothing", Json.num config.Train.LabelSmoothing
                    "ema", Json.num config.Train.Ema
                    "distill", Json.bool config.Qat.Distill.IsSome
                    "seconds", Json.num result.Seconds
                    "source", Json.str data.Source
                    match baseline with
                    | Some(b, r) ->
                        "baseline",
                        Json.obj [
                            "model",
                            Json.str
                                $"random forest (ML.NET FastForest, one class against the rest), {baselineConfig.Trees} trees"
                            "form_dir", Json.str b.Dir
                            // Means over folds, as the FP32 and ternary means (under loso: per subject).
                            "mean_macro_f1", Json.num r.MeanMacroF1
                            "mean_accuracy", Json.num r.MeanAccuracy
                            "mean_subject_macro_f1", Json.num r.MeanSubjectMacroF1
                            // Pooled over folds, as the final model's accuracy and macro_f1.
                            "accuracy", Json.num r.Pooled.Accuracy
                            "macro_f1", Json.num r.Pooled.MacroF1
                            "fp32_minus_baseline_pp", Json.num (100.0 * (result.MeanFp32MacroF1 - r.MeanMacroF1))
                            "ternary_minus_baseline_pp", Json.num (100.0 * (result.MeanTernaryMacroF1 - r.MeanMacroF1))
                            "seconds", Json.num r.Seconds
                        ]
                    | None -> ()
                ]
                @ MetricsView.finalJson final result.TernaryMetrics
            )

        HistoryOption.finish history "study ternary" (args.Contains StudyTernaryArgs.Json) report (fun () ->
            if auto then
                printfn "network: chosen per fold (--arch auto, budget %s)" (DeviceBudget.format budget)
                ArchChoiceView.printSummary (result.Folds |> List.choose (fun f -> f.Choice))

                for f in result.Folds do
                    f.Choice |> Option.iter (fun c -> printfn "fold %d: %s" f.Fold c.Reason)
            else
                printfn "network %s on %s (%s)" arch (ImportFolder.formName form.Form) form.Dir

            let baselineColumn (v: float option) =
                v |> Option.map (sprintf "  %11.4f") |> Option.defaultValue ""

            printfn
                "fold  FP32 acc  ternary acc  FP32 F1  ternary F1  sparsity%s"
                (if baseline.IsSome then "  baseline F1" else "")

            for f in result.Folds do
                printfn
                    "%4d  %8.4f  %11.4f  %7.4f  %10.4f  %8.3f%s"
                    f.Fold
                    f.Fp32Accuracy
                    f.TernaryAccuracy
                    f.Fp32MacroF1
                    f.TernaryMacroF1
                    f.Sparsity
                    (baselineColumn (baselineFold f |> Option.map (fun b -> b.MacroF1)))

            printfn
                "mean  %8.4f  %11.4f  %7.4f  %10.4f  %8.3f%s   (%.0f s; ternary figures from the C# integer runtime)"
                result.MeanFp32Accuracy
                result.MeanTernaryAccuracy
                result.MeanFp32MacroF1
                result.MeanTernaryMacroF1
                result.MeanSparsity
                (baselineColumn (baseline |> Option.map (fun (_, r) -> r.MeanMacroF1)))
                result.Seconds

            match baseline with
            | Some(b, r) ->
                printfn
                    "pooled: ternary accuracy %.4f, macro-F1 %.4f; baseline accuracy %.4f, macro-F1 %.4f (random forest of %d trees per class on %s, %.0f s)"
                    result.TernaryMetrics.Accuracy
                    result.TernaryMetrics.MacroF1
                    r.Pooled.Accuracy
                    r.Pooled.MacroF1
                    baselineConfig.Trees
                    b.Dir
                    r.Seconds
            | None -> ()

            versus |> Option.iter (printfn "%s")

            MetricsView.printFinal final result.TernaryMetrics

            if data.Source <> "" then
                printfn "data: %s" data.Source)

        writeHtml html "study ternary" report

let private parseBits (text: string) : int list =
    let parts =
        text.Split(',', StringSplitOptions.TrimEntries ||| StringSplitOptions.RemoveEmptyEntries)

    if parts.Length = 0 then
        raise (BadInput $"--bits '{text}': give bit depths such as 2,4")

    parts
    |> Array.map (fun p ->
        match Int32.TryParse p with
        | true, b when b >= 1 && b <= 16 -> b
        | _ -> raise (BadInput $"--bits '{text}': '{p}' is not a bit depth in 1..16"))
    |> Array.distinct
    |> Array.toList

let private numbers (xs: float[]) : System.Text.Json.Nodes.JsonNode = Json.arr (xs |> Array.map Json.num)

/// Raw against linear and learned gamma-QUANT input quantization per bit depth (seed 002's table 2). In JSON a
/// raw row has "bits": null; "macro_f1" is the mean over folds of each fold's macro F1 (the seed's figure).
let studyGamma (args: ParseResults<StudyGammaArgs>) =
    let html = args.TryGetResult StudyGammaArgs.Html

    let history =
        HistoryOption.choose (args.TryGetResult StudyGammaArgs.History) (args.Contains StudyGammaArgs.No_History)

    let dir = args.GetResult StudyGammaArgs.Data

    let bits =
        args.TryGetResult StudyGammaArgs.Bits
        |> Option.map parseBits
        |> Option.defaultValue StudyGamma.defaultConfig.Bits

    let data = loadDataOption dir

    let split =
        match args.TryGetResult StudyGammaArgs.Folds, args.TryGetResult StudyGammaArgs.Split with
        | Some k, _ when k < 2 -> raise (BadInput $"--folds {k}: need at least 2")
        | Some _, Some Loso -> raise (BadInput "--folds and --split loso exclude each other")
        | Some k, _ -> KFold k
        | None, Some Kfold -> KFold 5
        | None, _ -> LeaveOneSubjectOut

    let d = StudyGamma.defaultConfig

    let epochs =
        args.GetResult(StudyGammaArgs.Epochs, defaultValue = d.Training.Train.Epochs)

    if epochs < 1 then
        raise (BadInput $"--epochs {epochs}: need at least 1")

    let config = {
        d with
            Split = split
            Bits = bits
            Seed = args.GetResult(StudyGammaArgs.Seed, defaultValue = d.Seed)
            Architecture = args.GetResult(StudyGammaArgs.Arch, defaultValue = d.Architecture)
            Training = {
                d.Training with
                    Train = {
                        d.Training.Train with
                            Epochs = epochs
                    }
            }
    }

    match StudyGamma.check config data with
    | Error e -> raise (BadInput $"{dir}: {e}")
    | Ok() -> ()

    match StudyGamma.splits config data with
    | Error e -> raise (BadInput $"{dir}: {e}")
    | Ok folds ->
        let trainings = folds.Length * (StudyGamma.methods bits).Length

        let result =
            Progress.track "study gamma" trainings (fun p ->
                StudyGamma.run config data (function
                    | GammaEpochDone(f, m, b, e) ->
                        p.Status
                            $"fold {f + 1}  {GammaQuant.methodName m} {b} bits  {ProgressText.epochOf e.Epoch epochs e.TrainLoss e.ValidAccuracy}"
                    | GammaTrainingDone _ -> p.Tick 1))

        let splitName =
            match split with
            | KFold k -> $"{k}-fold"
            | LeaveOneSubjectOut -> "loso"

        let last = List.last result.Rows

        let final =
            let bits =
                if last.Method = RawInput then
                    ""
                else
                    $" at {last.Bits} bits"

            $"{GammaQuant.methodName last.Method}{bits} (the table's last row): each fold's model on its own test "
            + "subjects, predictions pooled"


        let byBits (get: GammaStudyRow -> float[]) =
            Json.obj [
                for b in bits ->
                    string b,
                    Json.obj [
                        for r in result.Rows do
                            if r.Bits = b && GammaQuant.learnable r.Method then
                                GammaQuant.methodName r.Method,
                                (if r.Method = GammaGlobal then
                                     Json.num (Array.head (get r))
                                 else
                                     numbers (get r))
                    ]
            ]

        let report =
            Json.obj (
                [
                    "data", Json.str dir
                    "split", Json.str splitName
                    "folds", Json.int result.Folds
                    "bits_list", Json.arr (bits |> List.map Json.int)
                    "results",
                    Json.arr (
                        result.Rows
                        |> List.map (fun r ->
                            Json.obj [
                                "bits", (if r.Method = RawInput then null else Json.int r.Bits)
                                "method", Json.str (GammaQuant.methodName r.Method)
                                "macro_f1", Json.num r.MacroF1
                                "accuracy", Json.num r.Accuracy
                                "pooled_macro_f1", Json.num r.PooledMacroF1
                                "fold_macro_f1", numbers (List.toArray r.FoldMacroF1)
                                "mean_epochs", Json.num r.MeanEpochs
                            ])
                    )
                    "gamma", byBits (fun r -> r.Gamma)
                    "mu", byBits (fun r -> r.Mu)
                    "seconds", Json.num result.Seconds
                    "source", Json.str data.Source
                ]
                @ MetricsView.finalJson final last.Pooled
            )

        HistoryOption.finish history "study gamma" (args.Contains StudyGammaArgs.Json) report (fun () ->
            let show (xs: float[]) =
                match xs with
                | [||] -> ""
                | [| x |] -> sprintf "%.3f" x
                | _ -> xs |> Array.map (sprintf "%.3f") |> String.concat " " |> sprintf "[%s]"

            printfn "bits  method          macro F1  accuracy  pooled F1  gamma                mu"

            for r in result.Rows do
                printfn
                    "%4s  %-14s  %8.4f  %8.4f  %9.4f  %-19s  %s"
                    (if r.Method = RawInput then "-" else string r.Bits)
                    (GammaQuant.methodName r.Method)
                    r.MacroF1
                    r.Accuracy
                    r.PooledMacroF1
                    (show r.Gamma)
                    (show r.Mu)

            printfn
                "%s, %d folds; macro F1 = mean over folds of each held-out fold's macro F1 (%.0f s)"
                splitName
                result.Folds
                result.Seconds

            MetricsView.printFinal final last.Pooled

            if data.Source <> "" then
                printfn "data: %s" data.Source)

        writeHtml html "study gamma" report

let private parseCodecBits (text: string) : int list =
    let parts =
        text.Split(',', StringSplitOptions.TrimEntries ||| StringSplitOptions.RemoveEmptyEntries)

    if parts.Length = 0 then
        raise (BadInput $"--bits '{text}': give bit depths such as 4,5,6,7,8")

    parts
    |> Array.map (fun p ->
        match Int32.TryParse p with
        | true, b when b >= 2 && b <= 8 -> b
        | _ -> raise (BadInput $"--bits '{text}': '{p}' is not a codec bit depth in 2..8"))
    |> Array.distinct
    |> Array.toList

let private codecRowJson (r: CodecStudyRow) : System.Text.Json.Nodes.JsonNode =
    Json.obj [
        "method", Json.str (CodecStudy.methodName r.Method)
        "bits",
        (match r.Bits with
         | Some b -> Json.int b
         | None -> null)
        "ratio_vs_float32", Json.num r.RatioVsFloat32
        "ratio_vs_int8", Json.num r.RatioVsInt8
        "accuracy", Json.num r.Accuracy
        "accuracy_drop", Json.num r.AccuracyDrop
        "top1_agreement", Json.num r.Top1Agreement
        "bits_per_frame", Json.num r.BitsPerFrame
        "coded_bits", Json.int64 r.CodedBits
        "streams_written", Json.int r.Streams
        "bits_breakdown",
        Json.obj [
            "framing", Json.int64 r.Breakdown.Framing
            "tables", Json.int64 r.Breakdown.Tables
            "anchor", Json.int64 r.Breakdown.Anchor
            "vectors", Json.int64 r.Breakdown.Vectors
            "residual", Json.int64 r.Breakdown.Residual
        ]
    ]

/// The feature-map codec on streams of overlapping windows (seed 004): per method and bit depth the
/// compression ratio against float32 and int8 (every byte on the wire counted) and the accuracy of the rest
/// of the model on the decoded maps. In JSON a raw float row has "bits": null.
let studyCodec (args: ParseResults<StudyCodecArgs>) =
    let html = args.TryGetResult StudyCodecArgs.Html

    let history =
        HistoryOption.choose (args.TryGetResult StudyCodecArgs.History) (args.Contains StudyCodecArgs.No_History)

    let bits =
        args.TryGetResult StudyCodecArgs.Bits
        |> Option.map parseCodecBits
        |> Option.defaultValue CodecStudy.defaultConfig.Bits

    let data, streams, sourceName =
        match args.TryGetResult StudyCodecArgs.Data with
        | Some dir ->
            let d = loadDataOption dir
            d, CodecStudy.streamsOf d, dir
        | None ->
            let s = CodecStudy.defaultRadarStream ()
            s.Data, s.Streams, "synthetic radar stream"

    let model =
        match args.TryGetResult StudyCodecArgs.Model with
        | None
        | Some "default" -> DefaultModel.load ()
        | Some path ->
            match loadModel path with
            | IntegerModel m -> m
            | FloatModel f ->
                if f.Input <> data.Shape then
                    raise (BadInput $"--model {path}: input {f.Input} differs from the data's {data.Shape}")

                match Lower.lower LowerOptions.Ternary (CodecStudy.calibration data 64) f with
                | Ok im -> im
                | Error e -> raise (BadInput $"--model {path}: cannot lower: {e}")

    let config = {
        CodecStudy.defaultConfig with
            Bits = bits
            Split = args.TryGetResult StudyCodecArgs.Split
            GroupFrames =
                match args.TryGetResult StudyCodecArgs.Group with
                | None -> CodecStudy.defaultConfig.GroupFrames
                | Some "seed" -> None
                | Some text ->
                    match Int32.TryParse text with
                    | true, g when g >= 3 && g <= 255 -> Some g
                    | _ -> raise (BadInput $"--group '{text}': give 3..255 frames or 'seed'")
            Quant =
                match args.TryGetResult StudyCodecArgs.Quant with
                | None -> CodecStudy.defaultConfig.Quant
                | Some From_Int8 -> FromInt8
                | Some Minmax -> MinMaxAffine
                | Some Minmax_Symmetric -> MinMaxSymmetric
    }

    match CodecStudy.check config model data streams with
    | Error e -> raise (BadInput $"{sourceName}: {e}")
    | Ok _ -> ()

    let rowCount = 1 + (CodecStudy.methods.Length - 1) * bits.Length

    let result =
        match
            Progress.run "study codec" rowCount (fun tick -> CodecStudy.run config model data streams (fun _ -> tick 1))
        with
        | Ok r -> r
        | Error e -> raise (Failure e)

    let final = "the uncompressed integer model on every frame of the streams"


    let report =
        Json.obj (
            [
                "data", Json.str sourceName
                "model", Json.str (defaultArg (args.TryGetResult StudyCodecArgs.Model) "default")
                "split", Json.int result.Split
                "group_frames",
                (match config.GroupFrames with
                 | Some g -> Json.int g
                 | None -> Json.str "seed")
                "quantizer",
                Json.str (
                    match config.Quant with
                    | FromInt8 -> "from-int8"
                    | MinMaxAffine -> "minmax"
                    | MinMaxSymmetric -> "minmax-symmetric"
                )
                "feature_map", Json.shape result.FeatureMap
                "zero_point", Json.int result.ZeroPoint
                "frames", Json.int result.Frames
                "streams", Json.int result.Streams
                "sparsity", Json.num result.Sparsity
                "baseline_accuracy", Json.num result.BaselineAccuracy
                "bits_counted",
                Json.str
                    "every byte of every codec stream: 22-byte header, Huffman tables, motion vectors, payload, padding, CRC-32"
                "rows", Json.arr (result.Rows |> List.map codecRowJson)
                "seconds", Json.num result.Seconds
                "source", Json.str data.Source
            ]
            @ MetricsView.finalJson final result.Baseline
        )

    HistoryOption.finish history "study codec" (args.Contains StudyCodecArgs.Json) report (fun () ->
        printfn
            "split K = %d: feature map %O (zero point %d, %.1f %% zero codes), %d frames in %d streams, baseline accuracy %.4f"
            result.Split
            result.FeatureMap
            result.ZeroPoint
            (100.0 * result.Sparsity)
            result.Frames
            result.Streams
            result.BaselineAccuracy

        printfn
            "quantizer %s, %s"
            (match config.Quant with
             | FromInt8 -> "from-int8"
             | MinMaxAffine -> "minmax"
             | MinMaxSymmetric -> "minmax-symmetric")
            (match config.GroupFrames with
             | Some g -> $"{g} frames per codec stream"
             | None -> "seed 004's groups (uniform 1, uni-TSS 2, bi-TSS 3 frames per stream)")

        printfn "method             bits  vs float32  vs int8  bits/frame  accuracy    drop  top-1 agree"

        for r in result.Rows do
            printfn
                "%-17s  %4s  %10.2f  %7.2f  %10.1f  %8.4f  %6.4f  %11.4f"
                (CodecStudy.methodName r.Method)
                (match r.Bits with
                 | Some b -> string b
                 | None -> "-")
                r.RatioVsFloat32
                r.RatioVsInt8
                r.BitsPerFrame
                r.Accuracy
                r.AccuracyDrop
                r.Top1Agreement

        printfn
            "ratios count every byte on the wire (header, tables, vectors, payload, padding, CRC) (%.1f s)"
            result.Seconds

        MetricsView.printFinal final result.Baseline

        if data.Source <> "" then
            printfn "data: %s" data.Source)

    writeHtml html "study codec" report

/// The classic baseline (issue 15): a random forest on hand-crafted statistics of raw windows, per subject-grouped
/// fold, with the same metrics as the other studies.
let studyBaseline (args: ParseResults<StudyBaselineArgs>) =
    let history =
        HistoryOption.choose (args.TryGetResult StudyBaselineArgs.History) (args.Contains StudyBaselineArgs.No_History)

    let given = args.GetResult StudyBaselineArgs.Data

    let split =
        match args.TryGetResult StudyBaselineArgs.Folds, args.TryGetResult StudyBaselineArgs.Split with
        | Some k, _ when k < 2 -> raise (BadInput $"--folds {k}: need at least 2")
        | Some _, Some Loso -> raise (BadInput "--folds and --split loso exclude each other")
        | Some k, _ -> KFold k
        | None, Some Kfold -> KFold 5
        | None, _ -> LeaveOneSubjectOut

    let raw =
        dataForms given
        |> rawForm given "the baseline's statistics are of raw windows: import with the raw form kept"

    let dir, data = raw.Dir, raw.Data
    let d = StudyBaseline.defaultConfig

    let config = {
        d with
            Split = split
            Seed = args.GetResult(StudyBaselineArgs.Seed, defaultValue = d.Seed)
            Trees = args.GetResult(StudyBaselineArgs.Trees, defaultValue = d.Trees)
    }

    match StudyBaseline.check config data with
    | Error e -> raise (BadInput $"{dir}: {e}")
    | Ok() -> ()

    match Study.folds config.Split config.Seed data with
    | Error e -> raise (BadInput $"{dir}: {e}")
    | Ok folds ->
        let result =
            Progress.run "study baseline" folds.Length (fun tick -> StudyBaseline.run config data (fun _ -> tick 1))

        let splitName =
            match split with
            | KFold k -> $"{k}-fold"
            | LeaveOneSubjectOut -> "loso"

        let final = "the forests: each fold's on its own test subjects, predictions pooled"

        let report =
            Json.obj (
                [
                    "study", Json.str "baseline"
                    "data", Json.str dir
                    "split", Json.str splitName
                    "folds", Json.int result.Folds.Length
                    "model",
                    Json.str $"random forest (ML.NET FastForest, one class against the rest), {config.Trees} trees"
                    "features", Json.arr (WindowFeatures.names data.Shape.C |> List.map Json.str)
                    "seed", Json.int config.Seed
                    "accuracy", Json.num result.Pooled.Accuracy
                    "macro_f1", Json.num result.Pooled.MacroF1
                    "mean_subject_macro_f1", Json.num result.MeanSubjectMacroF1
                    "per_fold",
                    Json.arr (
                        result.Folds
                        |> List.map (fun f ->
                            Json.obj [
                                "fold", Json.int f.Fold
                                "subjects", Json.arr (f.Subjects |> List.map Json.str)
                                "train_samples", Json.int f.TrainSamples
                                "test_samples", Json.int f.TestSamples
                                "accuracy", Json.num f.Accuracy
                                "macro_f1", Json.num f.MacroF1
                                "seconds", Json.num f.Seconds
                            ])
                    )
                    "per_subject",
                    Json.arr (
                        result.PerSubject
                        |> List.map (fun s ->
                            Json.obj [
                                "subject", Json.str s.Subject
                                "samples", Json.int s.Samples
                                "accuracy", Json.num s.Accuracy
                                "macro_f1", Json.num s.MacroF1
                            ])
                    )
                    "seconds", Json.num result.Seconds
                    "source", Json.str data.Source
                ]
                @ MetricsView.finalJson final result.Pooled
            )

        HistoryOption.finish history "study baseline" (args.Contains StudyBaselineArgs.Json) report (fun () ->
            printfn "fold  subjects      samples  accuracy  macro F1"

            for f in result.Folds do
                printfn
                    "%4d  %-12s  %7d  %8.4f  %8.4f"
                    f.Fold
                    (String.Join(",", f.Subjects)
                     |> fun s -> if s.Length > 12 then s[..10] + "~" else s)
                    f.TestSamples
                    f.Accuracy
                    f.MacroF1

            printfn
                "%s, %d folds, random forest of %d trees per class on %d window statistics (%.1f s)"
                splitName
                result.Folds.Length
                config.Trees
                (WindowFeatures.count data.Shape.C)
                result.Seconds

            printfn
                "accuracy %.4f, macro-F1 %.4f (pooled); mean per-subject macro-F1 %.4f over %d subjects"
                result.Pooled.Accuracy
                result.Pooled.MacroF1
                result.MeanSubjectMacroF1
                result.PerSubject.Length

            MetricsView.printFinal final result.Pooled

            if data.Source <> "" then
                printfn "data: %s" data.Source)
