/// Verbs on data: data synth, data import, data info, train.
module Tern.Cli.DataVerbs

open System
open System.IO
open Argu
open Tern.Core
open Tern.Studies
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

let importSpSwHar (args: ParseResults<SpSwHarArgs>) =
    let device = args.GetResult(SpSwHarArgs.Device, defaultValue = "sp")

    let options =
        windowOptions (args.TryGetResult SpSwHarArgs.Window) (args.TryGetResult SpSwHarArgs.Hop) Import.defaults

    Progress.run "importing sp-sw-har" 1 (fun tick ->
        let r = Import.spSwHar (args.GetResult SpSwHarArgs.In) device options
        tick 1
        r)
    |> writeImport (args.GetResult SpSwHarArgs.Out) (args.Contains SpSwHarArgs.Json)

let importCsv (args: ParseResults<CsvArgs>) =
    let split (s: string) =
        s.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
        |> Array.toList

    let options = {
        windowOptions (args.TryGetResult CsvArgs.Window) (args.TryGetResult CsvArgs.Hop) Import.defaults with
            TimeColumn = args.TryGetResult CsvArgs.Time
            Classes = args.TryGetResult CsvArgs.Classes |> Option.map split
            FullScale = args.TryGetResult CsvArgs.Full_Scale
    }

    let rate = args.GetResult CsvArgs.Rate

    if not (rate > 0.0) then
        raise (BadInput $"--rate {rate}: must be a positive number of Hz")

    Import.csv
        (args.GetResult CsvArgs.In)
        (split (args.GetResult CsvArgs.Columns))
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

let train (args: ParseResults<TrainArgs>) =
    let dir = args.GetResult TrainArgs.Data
    let seed = args.GetResult(TrainArgs.Seed, defaultValue = 1)
    let fraction = args.GetResult(TrainArgs.Valid, defaultValue = 0.2)
    let out = args.GetResult TrainArgs.Out

    if not (fraction > 0.0 && fraction < 1.0) then
        raise (BadInput $"--valid {fraction}: expected a fraction in (0, 1)")

    let data = loadDataset dir

    let model =
        match args.TryGetResult TrainArgs.Init, args.TryGetResult TrainArgs.Arch with
        | Some _, Some _ -> raise (BadInput "--init and --arch exclude each other")
        | Some path, None ->
            match ModelFile.load path with
            | Error e -> raise (BadInput $"--init {path}: {e}")
            | Ok(IntegerModel _) ->
                raise (BadInput $"--init {path}: an integer model cannot be trained; give a float model")
            | Ok(FloatModel m) when m.Input <> data.Shape || m.Classes <> data.Classes ->
                raise (
                    BadInput
                        $"--init {path}: the model takes {m.Input} with {m.Classes.Length} classes, the data {data.Shape} with {data.Classes.Length}"
                )
            | Ok(FloatModel m) -> m
        | None, arch ->
            match Architectures.forData (defaultArg arch "default") data.Shape data.Classes seed with
            | Ok m -> m
            | Error e -> raise (BadInput $"--arch: {e}")

    let all = Array.init data.Samples.Length id
    let trainIdx, validIdx = Splits.groupHoldout fraction seed all data.Subjects

    if validIdx.Length = 0 then
        raise (BadInput $"{dir}: a validation split needs at least two subjects")

    // The subjects the model never trains on, recorded in the model file (holdout.data, holdout.subjects). A
    // model given with --init may have seen any subject unless it records a holdout on this same data.
    let holdout =
        let now = Holdout.ofSamples data validIdx

        match args.TryGetResult TrainArgs.Init with
        | None -> Some now
        | Some path ->
            match Holdout.ofMeta (model.Meta :> Collections.Generic.IReadOnlyDictionary<_, _>) with
            | Ok earlier -> Holdout.narrow earlier now
            | Error e -> raise (BadInput $"--init {path}: {e}")

    let stamp (m: Model) = {
        m with
            Meta = Holdout.toMeta holdout m.Meta
    }

    let pick (idx: int[]) = Dataset.pick idx data

    let augment =
        match args.TryGetResult TrainArgs.Augment with
        | None -> data.Augment
        | Some name ->
            match Augment.parse name with
            | Ok a -> a
            | Error e -> raise (BadInput $"--augment: {e}")

    // The study's recipe, so that `tern train` makes the model the study measures.
    let recipe = Study.defaultConfig.Train

    let config = {
        recipe with
            Epochs = args.GetResult(TrainArgs.Epochs, defaultValue = recipe.Epochs)
            BatchSize = args.GetResult(TrainArgs.Batch, defaultValue = recipe.BatchSize)
            Optimizer =
                Adam(args.GetResult(TrainArgs.Lr, defaultValue = Optim.baseRate recipe.Optimizer), 0.9, 0.999, 1e-8)
            ClassWeighted = args.Contains TrainArgs.Class_Weighted
            Augment = augment
            Seed = seed
    }

    for needsQat, name in
        [
            args.Contains TrainArgs.Sparsity, "--sparsity"
            args.Contains TrainArgs.Qat_Epochs, "--qat-epochs"
            args.Contains TrainArgs.Fake_Quant, "--fake-quant"
        ] do
        if needsQat && not (args.Contains TrainArgs.Qat) then
            raise (BadInput $"{name} applies only with --qat")

    match args.TryGetResult TrainArgs.Qat_Epochs with
    | Some n when n < 1 -> raise (BadInput $"--qat-epochs {n}: expected at least 1")
    | _ -> ()

    // --epochs 0 keeps the --init model's weights as they are: an imported, already trained model goes straight to
    // --prune or --qat.
    if config.Epochs = 0 && not (args.Contains TrainArgs.Init) then
        raise (BadInput "--epochs 0 needs --init (a trained model to start from)")

    if config.Epochs < 0 || config.BatchSize < 1 then
        raise (BadInput "--epochs must be at least 0 (0 only with --init) and --batch at least 1")

    let sw = Diagnostics.Stopwatch.StartNew()

    let result =
        if config.Epochs = 0 then
            {
                Model = model
                History = []
                BestEpoch = 0
                StoppedEarly = false
            }
        else
            Progress.runEpochs "training" config.Epochs (fun report ->
                Train.fit config model (pick trainIdx) (Some(pick validIdx)) report)

    let vx, vy = pick validIdx
    let tx, ty = pick trainIdx

    // --prune: filter surgery on the trained model, then a short fine-tune (the pruning study's recipe).
    let fp32Model, pruneJson =
        match args.TryGetResult TrainArgs.Prune with
        | None -> result.Model, null
        | Some spec ->
            let criterion, ratio =
                match spec.Split(':') with
                | [| c; r |] ->
                    match
                        PruneCriteria.Criterion.parse c,
                        Double.TryParse(r, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture)
                    with
                    | Ok c, (true, r) when r >= 0.0 && r < 1.0 -> c, r
                    | Error e, _ -> raise (BadInput $"--prune {spec}: {e}")
                    | _ -> raise (BadInput $"--prune {spec}: the ratio must be a fraction in [0, 1)")
                | _ -> raise (BadInput $"--prune {spec}: expected criterion:ratio, e.g. low:0.7")

            let calibration =
                Study.calibrationInputs data.Shape StudyPrune.defaultConfig.Calibration tx

            let pruned =
                match StudyPrune.prune criterion ratio calibration result.Model with
                | Ok m -> m
                | Error e -> raise (BadInput $"--prune {spec}: {e}")

            let fineTune = {
                StudyPrune.defaultConfig.FineTune with
                    Seed = seed
                    Augment = augment
            }

            let tuned =
                Progress.runEpochs "fine-tuning the pruned model" fineTune.Epochs (fun report ->
                    Train.fit fineTune pruned (pick trainIdx) None report)

            let r = Reduction.compare result.Model tuned.Model

            if not (args.Contains TrainArgs.Json) then
                printf "%s" (Reduction.format r)

            tuned.Model,
            Json.obj [
                "criterion", Json.str (PruneCriteria.Criterion.name criterion)
                "ratio", Json.num ratio
                "params_before", Json.int r.ParamsBefore
                "params_after", Json.int r.ParamsAfter
                "params_reduction", Json.num r.ParamsReduction
                "flops_reduction", Json.num r.FlopsReduction
            ]

    // A training that diverged leaves NaN or infinite weights: fail (exit 1) and write nothing.
    let requireFinite (stage: string) (m: Model) =
        match Model.checkFinite m with
        | Ok() -> ()
        | Error e -> raise (Failure $"{stage} diverged ({e}); nothing written to {out}: try a smaller --lr")

    requireFinite "training" fp32Model

    let fp32Seconds = sw.Elapsed.TotalSeconds

    // With --qat the written model is the lowered integer model, and its accuracy comes from the C# integer
    // runtime. QAT fake-quantizes activations with learned ranges, and the lowering uses those ranges.
    let metrics, sparsity, qatKind =
        match args.TryGetResult TrainArgs.Qat with
        | None ->
            ModelFile.saveFloat out (stamp fp32Model)
            Train.evaluate fp32Model vx vy, None, "none"
        | Some kind ->
            let defaults, name, label, trainer =
                match kind with
                | WeightsArg.Ternary -> Study.defaultConfig.Qat, "ternary", "ternary fine-tuning", Qat.trainTernary
                | WeightsArg.Int8 -> Qat.defaultInt8Config, "int8", "int8 fine-tuning", Qat.trainInt8

            let qcfg = {
                defaults with
                    Sparsity = args.GetResult(TrainArgs.Sparsity, defaultValue = defaults.Sparsity)
                    Epochs = args.GetResult(TrainArgs.Qat_Epochs, defaultValue = defaults.Epochs)
                    Augment = augment
                    Seed = seed
                    ActivationQuant =
                        match args.TryGetResult TrainArgs.Fake_Quant with
                        | Some OnOff.On -> true
                        | Some OnOff.Off -> false
                        | None -> defaults.ActivationQuant
            }

            let q =
                Progress.runEpochs label qcfg.Epochs (fun report ->
                    trainer qcfg fp32Model (pick trainIdx) (Some(vx, vy)) (fun q -> report q.Log))

            requireFinite label q.Latent

            match Lower.lowerWith q.Lowering q.Ranges (Study.calibrationInputs data.Shape 256 tx) (stamp q.Latent) with
            | Error e -> raise (Failure $"lowering the trained model failed: {e}")
            | Ok im ->
                ModelFile.saveInt out im
                Metrics.compute data.Classes vy (Study.predictInteger im 0 vx), Some(Lower.weightSparsity im), name

    let accuracy, macroF1 = metrics.Accuracy, metrics.MacroF1

    let validSubjects = (Holdout.ofSamples data validIdx).Subjects

    let seconds = sw.Elapsed.TotalSeconds
    let epochs = result.History.Length

    let trainAccuracy =
        match List.tryLast result.History with
        | Some last -> last.TrainAccuracy
        | None -> (Train.evaluate result.Model tx ty).Accuracy

    if args.Contains TrainArgs.Json then
        printfn
            "%s"
            (Json.render (
                Json.obj (
                    [
                        "file", Json.str out
                        "data", Json.str dir
                        "train_samples", Json.int trainIdx.Length
                        "valid_samples", Json.int validIdx.Length
                        "epochs", Json.int epochs
                        "best_epoch", Json.int result.BestEpoch
                        "train_accuracy", Json.num trainAccuracy
                        "valid_accuracy", Json.num accuracy
                        "valid_macro_f1", Json.num macroF1
                    ]
                    @ MetricsView.json metrics
                    @ [
                        "subjects", Json.arr (validSubjects |> List.map Json.str)
                        "holdout",
                        (match holdout with
                         | Some h -> Evaluation.holdoutJson h
                         | None -> null)
                        "qat", Json.str qatKind
                        "augment", Json.str (Augment.name augment)
                        "prune", pruneJson
                        "sparsity",
                        (match sparsity with
                         | Some x -> Json.num x
                         | None -> null)
                        "seconds", Json.num seconds
                        "fp32_samples_per_s", Json.num (float (trainIdx.Length * epochs) / fp32Seconds)
                        "source", Json.str data.Source
                    ]
                )
            ))
    else
        printfn
            "wrote %s: %d epochs (best %d), validation accuracy %.4f, macro-F1 %.4f on %d samples of held-out subjects, %.1f s"
            out
            epochs
            result.BestEpoch
            accuracy
            macroF1
            validIdx.Length
            seconds

        printfn "validation subjects: %s" (String.Join(", ", validSubjects))

        match holdout with
        | Some h -> printfn "held out: subjects %s (recorded in %s)" (String.Join(", ", h.Subjects)) out
        | None ->
            printfn
                "held out: none recorded in %s (the --init model may have been trained on any subject of this data)"
                out

        MetricsView.print metrics

        sparsity
        |> Option.iter (fun x ->
            printfn
                "the file holds the lowered integer %s model (%.1f %% zero weights); its accuracy above is the C# integer runtime's"
                qatKind
                (100.0 * x))

        if data.Source <> "" then
            printfn "data: %s" data.Source
