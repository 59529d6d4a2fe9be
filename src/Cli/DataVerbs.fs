/// Verbs on data: data synth, data import, data info, train.
module Tern.Cli.DataVerbs

open System
open System.IO
open Argu
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Spectre.Console
open Tern.Cli.Args
open Tern.Cli.Common

/// Counts per class and subject of a data set, as JSON.
let private infoJson (dir: string) (s: InfoSummary) : System.Text.Json.Nodes.JsonNode =
    Json.obj [
        "dir", Json.str dir
        "shape", Json.shape s.Shape
        "count", Json.int s.Count
        "classes", Json.arr (s.Classes |> List.map Json.str)
        "per_class", Json.obj (s.PerClass |> List.map (fun (c, n) -> c, Json.int n))
        "per_subject", Json.obj (s.PerSubject |> List.map (fun (g, n) -> g, Json.int n))
        "source", Json.str s.Source
    ]

/// Saves a data set to out and reports it: its counts as JSON, or the lines human prints from them.
let private saveDataset (out: string) (json: bool) (data: Dataset) (human: InfoSummary -> unit) =
    Dataset.save out data
    let s = Import.info data
    writeOut json (infoJson out s) (fun () -> human s)

/// Writes the raw and spectrogram forms of an import and reports both.
let private writeImport (out: string) (json: bool) (result: Result<Dataset * Dataset, string>) =
    match result with
    | Error e -> raise (BadInput e)
    | Ok(raw, spectrogram) ->
        let rawDir = Path.Combine(out, "raw")
        let specDir = Path.Combine(out, "spectrogram")
        Dataset.save rawDir raw
        Dataset.save specDir spectrogram

        if json then
            printfn
                "%s"
                (Json.render (
                    Json.obj [
                        "raw", infoJson rawDir (Import.info raw)
                        "spectrogram", infoJson specDir (Import.info spectrogram)
                    ]
                ))
        else
            printfn "wrote %s: %d windows of %O (raw)" rawDir raw.Samples.Length raw.Shape
            printfn "wrote %s: %d spectrograms of %O" specDir spectrogram.Samples.Length spectrogram.Shape
            printfn "%s" (Import.infoText (Import.info raw))

let private windowOptions (window: int option) (hop: int option) (o: ImportOptions) =
    let o = {
        o with
            Window = defaultArg window o.Window
            Hop = defaultArg hop o.Hop
    }

    if o.Window < 2 || o.Hop < 1 then
        raise (BadInput $"--window {o.Window} --hop {o.Hop}: need a window of at least 2 and a hop of at least 1")

    o

/// The columns of the sensors named in --sensors (acc, gyro; comma-separated, each at most once).
let private sensorColumns (sensors: string) : string list =
    let names = sensors.Split(',', StringSplitOptions.TrimEntries) |> Array.toList

    let columns =
        names
        |> List.map (fun n ->
            match n with
            | "acc" -> Import.accColumns
            | "gyro" -> Import.gyroColumns
            | other -> raise (BadInput $"--sensors {sensors}: '{other}' is not a sensor (acc, gyro)"))

    if List.distinct names <> names then
        raise (BadInput $"--sensors {sensors}: a sensor is named twice")

    List.concat columns

let importSpSwHar (args: ParseResults<SpSwHarArgs>) =
    let device = args.GetResult(SpSwHarArgs.Device, defaultValue = "sp")

    let options = {
        windowOptions (args.TryGetResult SpSwHarArgs.Window) (args.TryGetResult SpSwHarArgs.Hop) Import.defaults with
            Columns =
                args.TryGetResult SpSwHarArgs.Sensors
                |> Option.map sensorColumns
                |> Option.defaultValue Import.defaults.Columns
    }

    Progress.run "importing sp-sw-har" 1 (fun tick ->
        let r = Import.spSwHar (args.GetResult SpSwHarArgs.In) device options
        tick 1
        r)
    |> writeImport (args.GetResult SpSwHarArgs.Out) (args.Contains SpSwHarArgs.Json)

let importCsv (args: ParseResults<CsvArgs>) =
    let split (s: string) =
        s.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
        |> Array.toList

    let columns = split (args.GetResult CsvArgs.Columns)

    // name=value pairs, each naming one of --columns once.
    let columnScales =
        match args.TryGetResult CsvArgs.Column_Scale with
        | None -> Map.empty
        | Some text ->
            let pairs =
                split text
                |> List.map (fun pair ->
                    match pair.Split('=', StringSplitOptions.TrimEntries) with
                    | [| name; value |] when List.contains name columns ->
                        match
                            Double.TryParse(
                                value,
                                Globalization.NumberStyles.Float,
                                Globalization.CultureInfo.InvariantCulture
                            )
                        with
                        | true, v when v > 0.0 && Double.IsFinite v -> name, v
                        | _ -> raise (BadInput $"--column-scale {text}: '{value}' of {name} is not a positive number")
                    | [| name; _ |] -> raise (BadInput $"--column-scale {text}: '{name}' is not one of --columns")
                    | _ -> raise (BadInput $"--column-scale {text}: '{pair}' is not name=value"))

            if (pairs |> List.map fst |> List.distinct).Length <> pairs.Length then
                raise (BadInput $"--column-scale {text}: a column is named twice")

            Map.ofList pairs

    let options = {
        windowOptions (args.TryGetResult CsvArgs.Window) (args.TryGetResult CsvArgs.Hop) Import.defaults with
            TimeColumn = args.TryGetResult CsvArgs.Time
            Classes = args.TryGetResult CsvArgs.Classes |> Option.map split
            FullScale = args.TryGetResult CsvArgs.Full_Scale
            ColumnScales = columnScales
    }

    let rate = args.GetResult CsvArgs.Rate

    if not (rate > 0.0) then
        raise (BadInput $"--rate {rate}: must be a positive number of Hz")

    Import.csv
        (args.GetResult CsvArgs.In)
        columns
        (args.GetResult CsvArgs.Label)
        (args.GetResult CsvArgs.Subject)
        rate
        options
    |> writeImport (args.GetResult CsvArgs.Out) (args.Contains CsvArgs.Json)

let importNpy (args: ParseResults<NpyArgs>) =
    let out = args.GetResult NpyArgs.Out

    let layout =
        match args.GetResult(NpyArgs.Layout, defaultValue = LayoutArg.Nchw) with
        | LayoutArg.Nchw -> NpyLayout.Nchw
        | LayoutArg.Nhwc -> NpyLayout.Nhwc

    let classes =
        args.TryGetResult NpyArgs.Classes
        |> Option.map (fun s -> s.Split(',', StringSplitOptions.TrimEntries) |> Array.toList)

    let orFail (r: Result<'a, string>) =
        match r with
        | Ok v -> v
        | Error e -> raise (BadInput e)

    let x, y, subjects =
        match
            args.TryGetResult NpyArgs.Npz,
            args.TryGetResult NpyArgs.X,
            args.TryGetResult NpyArgs.Y,
            args.TryGetResult NpyArgs.Subjects
        with
        | Some npz, None, None, None ->
            let arrays = Npy.readNpz npz [ "x"; "y"; "subjects" ] |> orFail

            let need (name: string) =
                match arrays.TryFind name with
                | Some a -> a
                | None ->
                    raise (
                        BadInput $"{npz}: no array named '{name}' (an .npz for Tern holds x, y and optionally subjects)"
                    )

            need "x", need "y", arrays.TryFind "subjects"
        | Some _, _, _, _ ->
            raise (BadInput "--npz holds x, y and subjects itself; give it without --x, --y or --subjects")
        | None, Some xf, Some yf, s ->
            // All files are read and checked before anything is written.
            Npy.read xf |> orFail, Npy.read yf |> orFail, s |> Option.map (Npy.read >> orFail)
        | None, _, _, _ -> raise (BadInput "give --x X.npy and --y y.npy (or --npz F.npz)")

    let data = NpyImport.dataset layout classes x y subjects |> orFail

    saveDataset out (args.Contains NpyArgs.Json) data (fun s ->
        printfn
            "wrote %s: %d samples of %O (HWC) from %s read as %s"
            out
            data.Samples.Length
            data.Shape
            x.Name
            (NpyImport.layoutName layout)

        printfn "%s" (Import.infoText s))

let synth (args: ParseResults<SynthArgs>) =
    let subjects =
        args.GetResult(SynthArgs.Subjects, defaultValue = RadarSim.defaultSubjects)

    let perClass =
        args.GetResult(SynthArgs.Per_Class, defaultValue = RadarSim.defaultPerClass)

    let seed = args.GetResult(SynthArgs.Seed, defaultValue = 1)
    let out = args.GetResult SynthArgs.Out

    if subjects < 1 || perClass < 1 then
        raise (BadInput $"--subjects {subjects} --per-class {perClass}: both must be at least 1")

    let data =
        Progress.run "simulating radar" 1 (fun tick ->
            let d = RadarSim.synth RadarSim.defaultConfig subjects perClass seed
            tick 1
            d)

    saveDataset out (args.Contains SynthArgs.Json) data (fun _ ->
        printfn
            "wrote %s: %d spectrograms of %O, %d subjects x %d classes x %d"
            out
            data.Samples.Length
            data.Shape
            subjects
            data.Classes.Length
            perClass)

let dataInfo (args: ParseResults<DataInfoArgs>) =
    let dir = args.GetResult DataInfoArgs.Dir

    match Dataset.load dir with
    | Error e -> raise (BadInput e)
    | Ok d ->
        let s = Import.info d

        if args.Contains DataInfoArgs.Json then
            printfn "%s" (Json.render (infoJson dir s))
        else
            printfn "%s" (Import.infoText s)

/// The criterion:ratio of --prune, e.g. low:0.7.
let private pruneStep (spec: string) : PruneStep =
    match spec.Split(':') with
    | [| c; r |] ->
        match
            PruneCriteria.Criterion.parse c,
            Double.TryParse(r, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture)
        with
        | Ok c, (true, r) when r >= 0.0 && r < 1.0 -> { Criterion = c; Ratio = r }
        | Error e, _ -> raise (BadInput $"--prune {spec}: {e}")
        | _ -> raise (BadInput $"--prune {spec}: the ratio must be a fraction in [0, 1)")
    | _ -> raise (BadInput $"--prune {spec}: expected criterion:ratio, e.g. low:0.7")

/// The pipeline's settings from train's options, checked (exit 2 naming the option).
let private trainSettings (args: ParseResults<TrainArgs>) (pretrained: bool) : PipelineSettings =
    let d = PipelineSettings.defaults

    let augment =
        args.TryGetResult TrainArgs.Augment
        |> Option.map (fun name ->
            match Augment.parse name with
            | Ok a -> a
            | Error e -> raise (BadInput $"--augment: {e}"))

    let fit = {
        d.Train with
            Epochs = args.GetResult(TrainArgs.Epochs, defaultValue = d.Train.Epochs)
            BatchSize = args.GetResult(TrainArgs.Batch, defaultValue = d.Train.BatchSize)
            Optimizer =
                Adam(args.GetResult(TrainArgs.Lr, defaultValue = Optim.baseRate d.Train.Optimizer), 0.9, 0.999, 1e-8)
            ClassWeighted = args.Contains TrainArgs.Class_Weighted
            LabelSmoothing = args.GetResult(TrainArgs.Label_Smoothing, defaultValue = d.Train.LabelSmoothing)
            Ema = args.GetResult(TrainArgs.Ema, defaultValue = d.Train.Ema)
    }

    for needsQat, name in
        [
            args.Contains TrainArgs.Sparsity, "--sparsity"
            args.Contains TrainArgs.Qat_Epochs, "--qat-epochs"
            args.Contains TrainArgs.Fake_Quant, "--fake-quant"
            args.Contains TrainArgs.Distill, "--distill"
            args.Contains TrainArgs.Int8_Layers, "--int8-layers"
        ] do
        if needsQat && not (args.Contains TrainArgs.Qat) then
            raise (BadInput $"{name} applies only with --qat")

    match args.TryGetResult TrainArgs.Qat_Epochs with
    | Some n when n < 1 -> raise (BadInput $"--qat-epochs {n}: expected at least 1")
    | _ -> ()

    // --epochs 0 keeps the --init model's weights as they are: an imported, already trained model goes straight to
    // --prune or --qat.
    if fit.Epochs = 0 && not pretrained then
        raise (BadInput "--epochs 0 needs --init (a trained model to start from)")

    if fit.Epochs < 0 || fit.BatchSize < 1 then
        raise (BadInput "--epochs must be at least 0 (0 only with --init) and --batch at least 1")

    let qat =
        args.TryGetResult TrainArgs.Qat
        |> Option.map (fun kind ->
            let target =
                match kind with
                | WeightsArg.Ternary -> TernaryTarget
                | WeightsArg.Int8 -> Int8Target

            let defaults = PipelineSettings.qatConfig target

            {
                Target = target
                Config = {
                    defaults with
                        Sparsity = args.GetResult(TrainArgs.Sparsity, defaultValue = defaults.Sparsity)
                        Epochs = args.GetResult(TrainArgs.Qat_Epochs, defaultValue = defaults.Epochs)
                        ActivationQuant =
                            match args.TryGetResult TrainArgs.Fake_Quant with
                            | Some OnOff.On -> true
                            | Some OnOff.Off -> false
                            | None -> defaults.ActivationQuant
                        LabelSmoothing = fit.LabelSmoothing
                        Distill =
                            match args.TryGetResult TrainArgs.Distill with
                            | Some OnOff.On -> Some SoftmaxLoss.defaultDistillation
                            | Some OnOff.Off -> None
                            | None -> defaults.Distill
                }
            })

    {
        d with
            Seed = args.GetResult(TrainArgs.Seed, defaultValue = 1)
            Valid = args.GetResult(TrainArgs.Valid, defaultValue = d.Valid)
            Train = fit
            FineTune = {
                d.FineTune with
                    LabelSmoothing = fit.LabelSmoothing
            }
            Prune = args.TryGetResult TrainArgs.Prune |> Option.map pruneStep
            Qat = qat
            Augment = augment
    }

/// What a stage is called on its progress bar and in messages.
let private stageName (stage: PipelineStage) : string =
    match stage with
    | FitStage -> "training"
    | FineTuneStage -> "fine-tuning the pruned model"
    | QatStage TernaryTarget -> "ternary fine-tuning"
    | QatStage Int8Target -> "int8 fine-tuning"

let train (args: ParseResults<TrainArgs>) =
    let dir = args.GetResult TrainArgs.Data
    let out = args.GetResult TrainArgs.Out
    let json = args.Contains TrainArgs.Json

    let fraction =
        args.GetResult(TrainArgs.Valid, defaultValue = PipelineSettings.defaults.Valid)

    if not (fraction > 0.0 && fraction < 1.0) then
        raise (BadInput $"--valid {fraction}: expected a fraction in (0, 1)")

    let forms =
        match ImportFolder.forms dir with
        | Ok forms -> forms
        | Error e -> raise (BadInput $"--data {e}")

    let arch =
        match args.TryGetResult TrainArgs.Init, args.TryGetResult TrainArgs.Arch with
        | Some _, Some _ -> raise (BadInput "--init and --arch exclude each other")
        | Some _, None -> None
        | None, arch -> Some(defaultArg arch ArchSearch.Auto)

    let auto = arch = Some ArchSearch.Auto

    let fixedBy = if auto then None else Some ""
    let budget = SearchOptions.budget (args.TryGetResult TrainArgs.Budget) fixedBy

    let innerFolds =
        SearchOptions.innerFolds (args.TryGetResult TrainArgs.Inner_Folds) fixedBy

    let settings = trainSettings args (args.Contains TrainArgs.Init)

    match args.TryGetResult TrainArgs.Int8_Layers, settings.Qat with
    | Some _, _ when auto ->
        raise (
            BadInput
                "--int8-layers applies to a fixed --arch or --init; --arch auto keeps the first layer int8 when the budget allows"
        )
    | Some _, Some { Target = Int8Target } -> raise (BadInput "--int8-layers applies to --qat ternary")
    | _ -> ()

    // The lowerings the model may take, for the cost of the candidates: int8 with --qat int8, else ternary with the
    // first layer int8 when that fits the budget.
    let lowerings =
        match settings.Qat with
        | Some { Target = Int8Target } -> [ LowerOptions.Int8 ]
        | _ -> ArchSearch.ternaryLowerings LowerOptions.Ternary

    // --augment must fit whatever form the model trains on: with --arch auto, every form.
    let checkAugment =
        AugmentOption.checkFits (args.TryGetResult TrainArgs.Augment) settings.Augment

    if auto then
        checkAugment forms

    // The automatic choice runs on the training subjects of the pipeline's own split (same seed, same subjects):
    // the validation subjects the pipeline reports on never take part in it.
    let choice =
        if auto then
            let first = (List.head forms).Data
            let fitIdx, _ = Pipeline.split settings (Array.init first.Samples.Length id) first

            let search =
                ArchSearch.configured
                    {
                        ArchSearch.defaults with
                            InnerFolds = innerFolds
                    }
                    settings.Train
                    settings.Seed
                    settings.Threads
                    settings.Augment
                    (match settings.Qat with
                     | Some { Target = TernaryTarget; Config = q } -> Some q
                     | _ -> None)

            // Costed as the run's QAT will prune it.
            let sparsity =
                settings.Qat
                |> Option.map (fun q -> q.Config.Sparsity)
                |> Option.defaultValue 0.0

            let cost = ArchSearch.deviceCost lowerings sparsity budget

            match ArchSearch.check search cost forms with
            | Error e ->
                raise (
                    BadInput
                        $"--arch auto on {dir}: {e} (budget {DeviceBudget.format budget}): give a larger --budget or a fixed --arch"
                )
            | Ok() -> ()

            let result =
                Progress.track "choosing the architecture" 1 (fun p ->
                    ArchSearch.choose search cost forms fitIdx (fun (d, n) ->
                        p.Status $"{d}/{n} candidate trainings"
                        p.Part 0 (float d / float (max 1 n))))

            match result with
            | Ok c -> Some c
            | Error e -> raise (BadInput $"--arch auto on {dir}: {e}")
        else
            None

    let init =
        args.TryGetResult TrainArgs.Init
        |> Option.map (fun path ->
            match ModelFile.load path with
            | Error e -> raise (BadInput $"--init {path}: {e}")
            | Ok(IntegerModel _) ->
                raise (BadInput $"--init {path}: an integer model cannot be trained; give a float model")
            | Ok(FloatModel m) -> path, m)

    let form =
        match choice, arch, init with
        | Some c, _, _ -> forms |> List.find (fun f -> f.Form = c.Form)
        | None, Some name, _ -> ImportFolder.forNetwork name forms
        // A model to start from takes the form its input fits (an import's top folder holds two).
        | None, None, Some(_, m) ->
            forms
            |> List.tryFind (fun f -> f.Data.Shape = m.Input)
            |> Option.defaultWith (fun () -> ImportFolder.forNetwork "default" forms)
        | None, None, None -> ImportFolder.forNetwork "default" forms

    let data = form.Data
    checkAugment [ form ]

    let start =
        match init, choice, arch with
        | Some(path, m), _, _ when m.Input <> data.Shape || m.Classes <> data.Classes ->
            raise (
                BadInput
                    $"--init {path}: the model takes {m.Input} with {m.Classes.Length} classes, the data {data.Shape} with {data.Classes.Length}"
            )
        | Some(_, m), _, _ -> Pretrained m
        | None, Some c, _ -> Architecture c.Architecture
        | None, None, name -> Architecture(defaultArg name "default")

    // The int8 layers: the chosen candidate's (the lowering it was costed with), or --int8-layers for a fixed model.
    let int8Layers =
        match choice, args.TryGetResult TrainArgs.Int8_Layers with
        | Some c, _ -> Some c.Int8Layers
        | None, Some text ->
            let model =
                match start with
                | Pretrained m -> m
                | Architecture name ->
                    match Architectures.forData name data.Shape data.Classes settings.Seed with
                    | Ok m -> m
                    | Error e -> raise (BadInput $"--arch: {e}")

            Some(parseInt8Layers text (Qat.weightOrdinals model).Count)
        | None, None -> None

    let settings =
        match int8Layers, settings.Qat with
        | Some layers, Some({ Target = TernaryTarget } as step) -> {
            settings with
                Qat =
                    Some {
                        step with
                            Config = { step.Config with Int8Layers = layers }
                    }
          }
        | _ -> settings

    let watch = {
        new PipelineWatch with
            member _.Stage(stage, epochs, work) =
                Progress.runEpochs (stageName stage) epochs work

            member _.Pruned r =
                if not json then
                    printf "%s" (Reduction.format r)
    }

    let r =
        match Pipeline.run settings start data watch with
        | Ok r -> r
        | Error(UnknownArchitecture e) -> raise (BadInput $"--arch: {e}")
        | Error NoValidationSubjects -> raise (BadInput $"{dir}: a validation split needs at least two subjects")
        | Error(BadHoldoutRecord e) -> raise (BadInput $"--init {args.GetResult TrainArgs.Init}: {e}")
        | Error(PruneRefused e) -> raise (BadInput $"--prune {args.GetResult TrainArgs.Prune}: {e}")
        | Error(Diverged(stage, e)) ->
            raise (Failure $"{stageName stage} diverged ({e}); nothing written to {out}: try a smaller --lr")
        | Error(LoweringFailed e) -> raise (Failure $"lowering the trained model failed: {e}")

    Pipeline.save out r

    let metrics = r.ValidMetrics
    let validSubjects = (Holdout.ofSamples data r.ValidSamples).Subjects
    let epochs = r.Fit.History.Length
    let augment = defaultArg settings.Augment data.Augment

    let qatKind =
        match settings.Qat with
        | None -> "none"
        | Some { Target = TernaryTarget } -> "ternary"
        | Some { Target = Int8Target } -> "int8"

    let pruneJson =
        match settings.Prune, r.Reduction with
        | Some step, Some red ->
            Json.obj [
                "criterion", Json.str (PruneCriteria.Criterion.name step.Criterion)
                "ratio", Json.num step.Ratio
                "params_before", Json.int red.ParamsBefore
                "params_after", Json.int red.ParamsAfter
                "params_reduction", Json.num red.ParamsReduction
                "flops_reduction", Json.num red.FlopsReduction
            ]
        | _ -> null

    if json then
        printfn
            "%s"
            (Json.render (
                Json.obj (
                    [
                        "file", Json.str out
                        "data", Json.str dir
                        "arch", Json.str r.Fit.Model.Name
                        "form", Json.str (ImportFolder.formName form.Form)
                        "form_dir", Json.str form.Dir
                        "search",
                        (match choice with
                         | Some c -> ArchChoiceView.json c
                         | None -> null)
                        "train_samples", Json.int r.TrainSamples.Length
                        "valid_samples", Json.int r.ValidSamples.Length
                        "epochs", Json.int epochs
                        "best_epoch", Json.int r.Fit.BestEpoch
                        "train_accuracy", Json.num r.TrainAccuracy
                        "valid_accuracy", Json.num metrics.Accuracy
                        "valid_macro_f1", Json.num metrics.MacroF1
                    ]
                    @ MetricsView.json metrics
                    @ [
                        "subjects", Json.arr (validSubjects |> List.map Json.str)
                        "holdout",
                        (match r.Holdout with
                         | Some h -> Evaluation.holdoutJson h
                         | None -> null)
                        "qat", Json.str qatKind
                        "int8_layers",
                        (match settings.Qat with
                         | Some { Target = TernaryTarget; Config = c } ->
                             Json.arr (c.Int8Layers |> Seq.map Json.int |> List.ofSeq)
                         | _ -> null)
                        "augment", Json.str (Augment.name augment)
                        "label_smoothing", Json.num settings.Train.LabelSmoothing
                        "ema", Json.num settings.Train.Ema
                        "distill", Json.bool (settings.Qat |> Option.exists (fun q -> q.Config.Distill.IsSome))
                        "prune", pruneJson
                        "sparsity",
                        (match r.Sparsity with
                         | Some x -> Json.num x
                         | None -> null)
                        "seconds", Json.num r.Seconds
                        "fp32_samples_per_s", Json.num (float (r.TrainSamples.Length * epochs) / r.FloatSeconds)
                        "source", Json.str data.Source
                    ]
                )
            ))
    else
        match choice with
        | Some c ->
            ArchChoiceView.printSummary [ c ]
            printfn "chose %s (%.0f s)" c.Reason c.Seconds
        | None -> ()

        printfn
            "wrote %s: %d epochs (best %d), validation accuracy %.4f, macro-F1 %.4f on %d samples of held-out subjects, %.1f s"
            out
            epochs
            r.Fit.BestEpoch
            metrics.Accuracy
            metrics.MacroF1
            r.ValidSamples.Length
            r.Seconds

        printfn "validation subjects: %s" (String.Join(", ", validSubjects))

        match r.Holdout with
        | Some h -> printfn "held out: subjects %s (recorded in %s)" (String.Join(", ", h.Subjects)) out
        | None ->
            printfn
                "held out: none recorded in %s (the --init model may have been trained on any subject of this data)"
                out

        MetricsView.print metrics

        r.Sparsity
        |> Option.iter (fun x ->
            printfn
                "the file holds the lowered integer %s model (%.1f %% zero weights); its accuracy above is the C# integer runtime's"
                qatKind
                (100.0 * x))

        if data.Source <> "" then
            printfn "data: %s" data.Source
