/// Verbs on models: model new, inspect, lower, run.
module Tern.Cli.ModelVerbs

open System
open System.IO
open Argu
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Spectre.Console
open Tern.Cli.Args
open Tern.Cli.Common
open Tern.Cli.Inputs

let modelNew (args: ParseResults<NewArgs>) =
    let seed = args.GetResult(NewArgs.Seed, defaultValue = 1)
    let out = args.GetResult NewArgs.Out

    let model =
        match Architectures.byName (args.GetResult NewArgs.Arch) seed with
        | Ok m -> m
        | Error e -> raise (BadInput $"--arch: {e}")

    ModelFile.saveFloat out model
    let hash = ModelFile.hash (ModelFile.serializeFloat model)

    writeOut
        (args.Contains NewArgs.Json)
        (Json.obj [
            "file", Json.str out
            "arch", Json.str model.Name
            "seed", Json.int seed
            "params", Json.int (Model.totalParams model)
            "macs", Json.int64 (Model.totalMacs model)
            "hash", Json.str hash
        ])
        (fun () ->
            printfn
                "wrote %s: %s model, %d parameters, %d MACs, hash %s"
                out
                model.Name
                (Model.totalParams model)
                (Model.totalMacs model)
                (hash.Substring(0, 12)))

let inspect (args: ParseResults<InspectArgs>) =
    let path = args.GetResult InspectArgs.File
    let json = args.Contains InspectArgs.Json

    if Directory.Exists path then
        raise (BadInput $"{path}: a folder, not a model file")

    let bytes =
        try
            File.ReadAllBytes path
        with e ->
            raise (BadInput $"{path}: {e.Message}")

    let hash =
        try
            ModelFile.hash bytes
        with _ ->
            ""

    // Where the model came from (docs/model-file.md): a JSON object, and a line for the human summary.
    let metaJson (pairs: (string * string) seq) =
        Json.obj [ for k, v in pairs -> k, Json.str v ]

    // The holdout keys are summed up by printHoldout's line.
    let printMeta (pairs: (string * string) seq) =
        for k, v in pairs do
            if k <> Holdout.dataKey && k <> Holdout.subjectsKey then
                printfn "%s: %s" k v

    // The held-out subjects the model records (docs/model-file.md), as JSON (null without) and a line.
    let holdoutJson (meta: Collections.Generic.IReadOnlyDictionary<string, string>) =
        match Evaluation.holdoutOf path meta with
        | None -> null
        | Some h -> Evaluation.holdoutJson h

    let printHoldout (meta: Collections.Generic.IReadOnlyDictionary<string, string>) =
        match Evaluation.holdoutOf path meta with
        | None -> printfn "holdout: none recorded (run and hil evaluate all subjects of a data set)"
        | Some h ->
            printfn
                "holdout: subjects %s of the data set with fingerprint %s"
                (String.Join(", ", h.Subjects))
                (shortHash h.Data)

    match loadModel path with
    | FloatModel m ->
        let layers = Model.describe m

        writeOut
            json
            (Json.obj [
                "file", Json.str path
                "kind", Json.str "float"
                "name", Json.str m.Name
                "hash", Json.str hash
                "meta", metaJson (Map.toSeq m.Meta)
                "holdout", holdoutJson (m.Meta :> Collections.Generic.IReadOnlyDictionary<_, _>)
                "input_shape", Json.shape m.Input
                "classes", Json.arr (m.Classes |> List.map Json.str)
                "params", Json.int (Model.totalParams m)
                "macs", Json.int64 (Model.totalMacs m)
                "peak_activation_bytes", Json.int (Model.peakActivationBytes 1 m)
                "peak_activation_bytes_float32", Json.int (Model.peakActivationBytes 4 m)
                "layers", describedLayersJson layers
            ])
            (fun () ->
                printfn "%s: float model '%s', input %O, classes %s" path m.Name m.Input (String.Join(", ", m.Classes))
                printMeta (Map.toSeq m.Meta)
                printHoldout (m.Meta :> Collections.Generic.IReadOnlyDictionary<_, _>)
                describedLayersTable layers

                printfn
                    "total: %d parameters, %d MACs, peak activations %d bytes as int8 (%d as float32)"
                    (Model.totalParams m)
                    (Model.totalMacs m)
                    (Model.peakActivationBytes 1 m)
                    (Model.peakActivationBytes 4 m))
    | IntegerModel m ->
        let plan = MemoryPlan.Create m
        let layers = m.Layers |> Array.toList
        let totalParams = layers |> List.sumBy (fun l -> l.ParameterCount)
        let totalMacs = layers |> List.sumBy (fun l -> l.MacCount)
        let weightBytes = layers |> List.sumBy (fun l -> l.WeightBytes)

        let weightKind (l: IntLayer) =
            match l with
            | :? IntConvLayer as c ->
                if c.WeightKind = WeightKind.Ternary then
                    "ternary"
                else
                    "int8"
            | _ -> ""

        let kindName (k: IntLayerKind) = k.ToString().ToLowerInvariant()

        let sparsity = Lower.weightSparsity m

        writeOut
            json
            (Json.obj [
                "file", Json.str path
                "kind", Json.str "integer"
                "name", Json.str m.Name
                "hash", Json.str hash
                "meta",
                metaJson (
                    m.Metadata
                    |> Seq.sortBy (fun kv -> kv.Key)
                    |> Seq.map (fun kv -> kv.Key, kv.Value)
                )
                "holdout", holdoutJson m.Metadata
                "input_shape", Json.shape m.Input
                "input_scale", Json.num (float m.InputScale)
                "input_zero_point", Json.int m.InputZero
                "classes", Json.arr (m.ClassNames |> Array.map Json.str)
                "params", Json.int totalParams
                "macs", Json.int64 totalMacs
                "weight_bytes", Json.int weightBytes
                "weight_sparsity", Json.num sparsity
                "bias_bits", Json.int (Lower.biasBits m)
                "peak_activation_bytes", Json.int plan.ArenaBytes
                "layers",
                Json.arr (
                    layers
                    |> List.map (fun l ->
                        let extra =
                            match l with
                            | :? IntConvLayer as c -> [
                                "weights", Json.str (weightKind l)
                                "accumulator_bound", Json.int64 (Lower.accumulatorBound c)
                                "input_zero_point", Json.int c.InputZero
                                "output_zero_point", Json.int c.OutputZero
                                "output_scale", Json.num (float c.OutputScale)
                                "clamp", Json.arr [ Json.int c.ActMin; Json.int c.ActMax ]
                              ]
                            | _ -> []

                        Json.obj (
                            [
                                "name", Json.str l.Name
                                "kind", Json.str (kindName l.Kind)
                                "output_shape", Json.shape l.Output
                                "params", Json.int l.ParameterCount
                                "macs", Json.int64 l.MacCount
                                "weight_bytes", Json.int l.WeightBytes
                            ]
                            @ extra
                        ))
                )
            ])
            (fun () ->
                printfn
                    "%s: integer model '%s', input %O (scale %g, zero point %d)"
                    path
                    m.Name
                    m.Input
                    m.InputScale
                    m.InputZero

                printMeta (
                    m.Metadata
                    |> Seq.sortBy (fun kv -> kv.Key)
                    |> Seq.map (fun kv -> kv.Key, kv.Value)
                )

                printHoldout m.Metadata

                layersTable (
                    layers
                    |> List.map (fun l ->
                        let k = weightKind l

                        l.Name,
                        (if k = "" then
                             kindName l.Kind
                         else
                             $"{kindName l.Kind} ({k})"),
                        l.Output,
                        l.ParameterCount,
                        l.MacCount)
                )

                printfn
                    "total: %d parameters, %d MACs, %d weight bytes (%.1f %% zero weights), arena %d bytes, largest bias %d bits"
                    totalParams
                    totalMacs
                    weightBytes
                    (100.0 * sparsity)
                    plan.ArenaBytes
                    (Lower.biasBits m))

let lower (args: ParseResults<LowerArgs>) =
    let path = args.GetResult LowerArgs.Float
    let out = args.GetResult LowerArgs.Out
    let seed = args.GetResult(LowerArgs.Seed, defaultValue = 1)

    let calibText = args.GetResult(LowerArgs.Calib, defaultValue = "random:64")
    let source = Inputs.parse "calib" calibText
    let layout = Inputs.layout "calib" source (args.TryGetResult LowerArgs.Layout)

    let limit =
        match source, args.TryGetResult LowerArgs.Calib_Count with
        | RandomSource _, Some _ ->
            raise (BadInput "--calib-count applies to npy: or data set calibration; random:N gives its own count")
        | _, Some k when k < 1 -> raise (BadInput $"--calib-count {k}: must be at least 1")
        | _, Some k -> k
        | _, None -> 256

    let ratio = args.GetResult(LowerArgs.Threshold, defaultValue = 0.7)

    if not (ratio > 0.0 && ratio < 10.0) then
        raise (BadInput $"--threshold {ratio}: expected a ratio in (0, 10)")

    let alpha =
        match args.GetResult(LowerArgs.Alpha, defaultValue = Channel) with
        | Layer -> AlphaPerLayer
        | Channel -> AlphaPerChannel

    let weights = args.GetResult(LowerArgs.Weights, defaultValue = Ternary)

    let model =
        match loadModel path with
        | FloatModel m -> m
        | IntegerModel _ -> raise (BadInput $"{path}: already an integer model; lower takes a float model")

    // Positions among the model's conv and dense layers.
    let int8Layers =
        match args.TryGetResult LowerArgs.Int8_Layers, weights with
        | None, _ -> Set.empty
        | Some _, Int8 -> raise (BadInput "--int8-layers applies to --weights ternary")
        | Some text, Ternary -> parseInt8Layers text (Qat.weightOrdinals model).Count

    let options =
        match weights with
        | Int8 -> LowerOptions.Int8
        | Ternary -> {
            Weights = TernaryWeights(ThresholdRatio ratio, alpha)
            Int8Layers = int8Layers
          }

    let calibration =
        match source with
        | RandomSource n -> Lower.randomCalibration seed n model.Input
        | _ ->
            (Inputs.load "calib" calibText source layout seed (Some limit) model.Input).Samples
            |> Array.map (Tensor.ofArray model.Input)
            |> Array.toList

    let n = calibration.Length

    // The integer model names its float parent by the parent file's model hash (`run --float` checks it).
    let parentHash = ModelFile.hash (File.ReadAllBytes path)

    let im =
        match
            Lower.lower options calibration {
                model with
                    Meta = Map.add FloatVsInteger.parentKey parentHash model.Meta
            }
        with
        | Ok im -> im
        | Error e -> raise (BadInput $"{path}: cannot lower: {e}")

    ModelFile.saveInt out im
    let hash = ModelFile.hash (ModelFile.serializeInt im)
    let weightBytes = im.Layers |> Array.sumBy (fun l -> l.WeightBytes)
    let plan = MemoryPlan.Create im

    writeOut
        (args.Contains LowerArgs.Json)
        (Json.obj [
            "file", Json.str out
            "weights", Json.str (if weights = Int8 then "int8" else "ternary")
            "int8_layers", Json.arr (int8Layers |> Seq.map Json.int |> List.ofSeq)
            "calibration", Json.str calibText
            "calibration_samples", Json.int n
            "params", Json.int (im.Layers |> Array.sumBy (fun l -> l.ParameterCount))
            "weight_bytes", Json.int weightBytes
            "bias_bits", Json.int (Lower.biasBits im)
            "peak_activation_bytes", Json.int plan.ArenaBytes
            "hash", Json.str hash
            "parent", Json.str parentHash
        ])
        (fun () ->
            printfn
                "wrote %s: %d integer layers, %s weights, calibrated on %d samples (%s), %d weight bytes, arena %d bytes, largest bias %d bits, hash %s (parent %s)"
                out
                im.Layers.Length
                (match weights with
                 | Int8 -> "int8"
                 | Ternary when int8Layers.IsEmpty -> "ternary"
                 | Ternary ->
                     let layers = String.Join(",", int8Layers)
                     $"ternary (int8 in conv/dense layers {layers})")
                n
                calibText
                weightBytes
                plan.ArenaBytes
                (Lower.biasBits im)
                (hash.Substring(0, 12))
                (parentHash.Substring(0, 12)))

let run (args: ParseResults<RunArgs>) =
    let html = args.TryGetResult RunArgs.Html
    let path = args.GetResult RunArgs.File
    let inputText = args.GetResult(RunArgs.Input, defaultValue = "random:100")
    let source = Inputs.parse "input" inputText
    let layout = Inputs.layout "input" source (args.TryGetResult RunArgs.Layout)
    let save = args.TryGetResult RunArgs.Save_Outputs
    let dequantize = args.Contains RunArgs.Dequantize
    let check = args.Contains RunArgs.Check

    let samplesArg = args.TryGetResult RunArgs.Samples

    let subjects =
        Evaluation.request (args.TryGetResult RunArgs.Subjects) (args.Contains RunArgs.All_Subjects)

    match source with
    | FolderSource _ -> ()
    | _ when subjects <> DefaultSubjects ->
        raise (
            BadInput $"--subjects and --all-subjects choose subjects of a data set folder; --input {inputText} has none"
        )
    | _ -> ()

    match source, samplesArg with
    | RandomSource _, Some _ ->
        raise (BadInput $"--samples applies to npy: and folder inputs; --input {inputText} gives its own count")
    | _, Some k when k < 1 -> raise (BadInput $"--samples {k}: must be at least 1")
    | _ -> ()

    match source with
    | RandomSource _ -> ()
    | _ when args.Contains RunArgs.Seed && samplesArg.IsNone ->
        raise (BadInput "--seed applies to random:N inputs and to the --samples draw")
    | _ -> ()

    if dequantize && save.IsNone then
        raise (BadInput "--dequantize applies to the file --save-outputs writes; give --save-outputs")

    let seed = args.GetResult(RunArgs.Seed, defaultValue = 1)
    let model = loadModel path

    let inputShape, classNames =
        match model with
        | FloatModel m -> m.Input, m.Classes
        | IntegerModel m -> m.Input, List.ofArray m.ClassNames

    match model with
    | FloatModel _ when check ->
        raise (
            BadInput $"--check compares the integer runtimes; {path} is a float model (tern lower turns it into one)"
        )
    | FloatModel _ when args.Contains RunArgs.Kernels ->
        raise (BadInput $"--kernels chooses integer kernels; {path} is a float model (run by the F# float reference)")
    | FloatModel _ when dequantize ->
        raise (BadInput $"--dequantize: {path} is a float model, whose outputs are float32 already")
    | _ -> ()

    // --float: the integer model's float parent, for the float-vs-integer figures.
    let parent =
        match args.TryGetResult RunArgs.Float, model with
        | None, _ -> None
        | Some p, FloatModel _ ->
            raise (BadInput $"--float {p}: {path} is a float model; --float names the float parent of an integer model")
        | Some p, IntegerModel m -> Some(Evaluation.parent p m)

    let holdout =
        match model with
        | FloatModel m -> Evaluation.holdoutOf path (m.Meta :> Collections.Generic.IReadOnlyDictionary<_, _>)
        | IntegerModel m -> Evaluation.holdoutOf path m.Metadata

    // A folder is evaluated on the model's held-out subjects by default (Evaluation.fromFolder).
    let inputs, folder =
        match source with
        | FolderSource dir ->
            let f =
                Evaluation.fromFolder "input" dir holdout subjects samplesArg seed inputShape

            {
                Samples = f.Samples
                Labels = Some(f.Labels, f.Data.Classes)
            },
            Some f
        | _ -> Inputs.load "input" inputText source layout seed samplesArg inputShape, None

    let n = inputs.Samples.Length

    inputs.Labels
    |> Option.iter (fun (_, classes) ->
        if classes.Length <> classNames.Length then
            raise (
                BadInput
                    $"--input {inputText}: the data has {classes.Length} classes, the model {classNames.Length}; accuracy needs the same classes"
            )
        elif classes <> classNames then
            let data = String.Join(",", classes)
            let mine = String.Join(",", classNames)

            eprintfn
                "note: the data's classes (%s) differ from the model's (%s); accuracy compares class indices"
                data
                mine)

    let timed f =
        let sw = Diagnostics.Stopwatch.StartNew()
        let r = f ()
        r, sw.Elapsed.TotalMilliseconds

    let mode =
        match args.GetResult(RunArgs.Kernels, defaultValue = Optimized) with
        | Scalar -> KernelMode.Scalar
        | Optimized -> KernelMode.Optimized

    // Per sample: the predicted class; the outputs as .npy values (dtype, flat C-order values); the runtime
    // name; ms per inference; the check's (any, optimized vs scalar, vs reference) counts; the float-vs-integer
    // figures against --float.
    let predicted, writeOutputs, runtime, mainMs, checks, floatVsInteger =
        match model with
        | FloatModel m ->
            let chunks = inputs.Samples |> Array.chunkBySize 64

            let logits, ms =
                Progress.run "inference" n (fun tick ->
                    timed (fun () ->
                        chunks
                        |> Array.collect (fun c ->
                            let r =
                                c
                                |> Array.Parallel.map (fun x -> (Forward.run m (Tensor.ofArray m.Input x)).Data)

                            tick c.Length
                            r)))

            let write (file: string) =
                let k = if n = 0 then classNames.Length else logits[0].Length
                Npy.writeFloat32 file [| n; k |] (Array.concat logits)
                "float32 logits", k

            logits |> Array.map Tensor.argmax, write, "F# float reference", ms, None, None
        | IntegerModel m ->
            let quantized = Lower.quantizeSamples m inputs.Samples

            // Chunks keep the progress bar moving while each batch still spreads over the cores.
            let chunks = quantized |> Array.chunkBySize 64

            let batch (tick: int -> unit) (f: sbyte[][] -> sbyte[][]) =
                chunks
                |> Array.collect (fun c ->
                    let r = f c
                    tick c.Length
                    r)

            let main, mainMs, checks =
                Progress.run "inference" (if check then 3 * n else n) (fun tick ->
                    let main, mainMs =
                        timed (fun () -> batch tick (fun c -> Runner.RunBatch(m, mode, c, Environment.ProcessorCount)))

                    let checks =
                        if check then
                            let other =
                                if mode = KernelMode.Optimized then
                                    KernelMode.Scalar
                                else
                                    KernelMode.Optimized

                            let second =
                                batch tick (fun c -> Runner.RunBatch(m, other, c, Environment.ProcessorCount))

                            let reference = batch tick (Array.Parallel.map (IntReference.run m))

                            let differs (a: sbyte[][]) (b: sbyte[][]) =
                                Array.map2 (fun (x: sbyte[]) (y: sbyte[]) -> x <> y) a b

                            let d1 = differs main second
                            let d2 = differs main reference
                            let count = Array.filter id >> Array.length
                            Some(count (Array.map2 (||) d1 d2), count d1, count d2)
                        else
                            None

                    main, mainMs, checks)

            let write (file: string) =
                let k = if n = 0 then classNames.Length else main[0].Length

                if dequantize then
                    let p = Lower.outputParams m
                    Npy.writeFloat32 file [| n; k |] (main |> Array.collect (Lower.dequantize p))
                    "float32 dequantized logits", k
                else
                    Npy.writeInt8 file [| n; k |] (Array.concat main)
                    "int8 logits", k

            let kernels =
                if mode = KernelMode.Optimized then
                    "optimized kernels"
                else
                    "scalar kernels"

            let figures =
                parent
                |> Option.map (fun (f, hash) -> hash, FloatVsInteger.ofOutputs f m inputs.Samples main)

            main |> Array.map (fun o -> Runner.Argmax(ReadOnlySpan o)), write, kernels, mainMs, checks, figures

    let failed =
        match checks with
        | Some(any, _, _) -> any > 0
        | None -> false

    // Written only when the run (and its check) succeeded; Npy writes through a temporary file.
    let saved =
        if failed then
            None
        else
            save |> Option.map (fun file -> file, writeOutputs file)

    // Metrics name the model's classes: the predictions are the model's.
    let metrics =
        inputs.Labels
        |> Option.map (fun (labels, _) -> Metrics.compute classNames labels predicted)

    let histogram =
        classNames
        |> List.mapi (fun i c -> c, predicted |> Array.filter ((=) i) |> Array.length)

    let perInference = mainMs / float (max n 1)

    let json =
        Json.obj (
            [
                "file", Json.str path
                "kind",
                Json.str (
                    match model with
                    | FloatModel _ -> "float"
                    | IntegerModel _ -> "integer"
                )
                "input", Json.str inputText
                "samples", Json.int n
            ]
            @ (match model with
               | IntegerModel _ -> [
                   "kernels",
                   Json.str (
                       if mode = KernelMode.Optimized then
                           "optimized"
                       else
                           "scalar"
                   )
                 ]
               | FloatModel _ -> [ "runtime", Json.str "float" ])
            @ [
                "wall_ms_per_inference", Json.num perInference
                "threads", Json.int Environment.ProcessorCount
                "predictions", Json.obj (histogram |> List.map (fun (c, k) -> c, Json.int k))
            ]
            @ (match metrics with
               | Some m -> MetricsView.json m @ [ "correct", Json.int m.Correct ]
               | None -> [])
            @ Evaluation.evaluatedJson folder floatVsInteger
            @ (match saved with
               | Some(file, (what, k)) -> [
                   "outputs",
                   Json.obj [
                       "file", Json.str file
                       "dtype", Json.str (if what.StartsWith "int8" then "int8" else "float32")
                       "shape", Json.arr [ Json.int n; Json.int k ]
                   ]
                 ]
               | None -> [])
            @ (match checks with
               | Some(any, scalar, reference) -> [
                   "check", Json.bool true
                   "mismatches", Json.int any
                   "mismatches_optimized_vs_scalar", Json.int scalar
                   "mismatches_vs_fsharp_reference", Json.int reference
                 ]
               | None -> [ "check", Json.bool false ])
        )

    writeOut (args.Contains RunArgs.Json) json (fun () ->
        printfn "%d samples through the %s, %.3f ms per inference" n runtime perInference
        printfn "predicted: %s" (String.Join(", ", histogram |> List.map (fun (c, k) -> $"{c} {k}")))

        folder |> Option.iter (fun f -> printfn "%s" (Evaluation.line f))

        metrics
        |> Option.iter (fun m ->
            printfn
                "accuracy %.4f (%d of %d) against the data set's labels, macro-F1 %.4f"
                m.Accuracy
                m.Correct
                n
                m.MacroF1

            MetricsView.print m)

        floatVsInteger
        |> Option.iter (fun (hash, f) -> printfn "%s" (MetricsView.floatVsIntegerLine hash f))

        saved
        |> Option.iter (fun (file, (what, k)) -> printfn "wrote %s: %s, shape (%d, %d)" file what n k)

        match checks with
        | Some(any, scalar, reference) ->
            printfn
                "check: %d of %d samples disagree (optimized vs scalar: %d, vs F# reference: %d)%s"
                any
                n
                scalar
                reference
                (if any = 0 then ": bit-exact" else "")
        | None -> ())

    writeHtml html "run" json

    match checks with
    | Some(any, _, _) when any > 0 -> raise (Failure $"{any} of {n} samples disagree between the runtimes")
    | _ -> ()
