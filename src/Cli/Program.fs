/// The `tern` command: a thin shell over Core and Runtime.
module Tern.Cli.Program

open System
open System.IO
open Argu
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Spectre.Console

/// Bad input: exit code 2.
exception BadInput of string
/// The work itself failed: exit code 1.
exception Failure of string

type NewArgs =
    | [<Mandatory>] Arch of name: string
    | Seed of int
    | [<Mandatory>] Out of path: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Arch _ -> "architecture (default)"
            | Seed _ -> "random seed for the initial weights (default 1)"
            | Out _ -> "model file to write"
            | Json -> "print one JSON object"

and ModelArgs =
    | [<CliPrefix(CliPrefix.None)>] New of ParseResults<NewArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | New _ -> "create a float model with initial weights"

type InspectArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | File _ -> "model file (float or integer)"
            | Json -> "print one JSON object"

type WeightsArg =
    | Int8
    | Ternary

type AlphaArg =
    | Layer
    | Channel

type LowerArgs =
    | [<MainCommand; ExactlyOnce>] Float of path: string
    | Weights of WeightsArg
    | Calib of source: string
    | Seed of int
    | Threshold of ratio: float
    | Alpha of AlphaArg
    | [<Mandatory>] Out of path: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Float _ -> "float model file"
            | Weights _ -> "weight storage (default ternary)"
            | Calib _ -> "calibration inputs: random:N (default random:64)"
            | Seed _ -> "seed of the calibration source (default 1)"
            | Threshold _ -> "ternary threshold as a ratio of mean |W| (default 0.7)"
            | Alpha _ -> "ternary scale per layer or per output channel (default channel)"
            | Out _ -> "integer model file to write"
            | Json -> "print one JSON object"

type KernelsArg =
    | Scalar
    | Optimized

type RunArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of source: string
    | Seed of int
    | Check
    | Kernels of KernelsArg
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | File _ -> "integer model file"
            | Input _ -> "inputs: random:N (default random:100)"
            | Seed _ -> "seed of the input source (default 1)"
            | Check -> "also run the scalar runtime and the F# reference and count disagreements"
            | Kernels _ -> "kernels for the main run (default optimized)"
            | Json -> "print one JSON object"

type SpSwHarArgs =
    | [<Mandatory>] In of dir: string
    | Device of device: string
    | [<Mandatory>] Out of dir: string
    | Window of samples: int
    | Hop of samples: int
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | In _ -> "the sp-sw-har folder (the one holding DATA/, or DATA/ itself)"
            | Device _ -> "sp (smartphone, default) or sw (smartwatch)"
            | Out _ -> "output folder: OUT/raw and OUT/spectrogram are written"
            | Window _ -> "window length in samples at 100 Hz (default 64)"
            | Hop _ -> "hop between windows in samples (default 32)"
            | Json -> "print one JSON object"

and CsvArgs =
    | [<Mandatory>] In of files: string list
    | [<Mandatory>] Columns of names: string
    | [<Mandatory>] Label of column: string
    | [<Mandatory>] Subject of column: string
    | [<Mandatory>] Rate of hz: float
    | Time of column: string
    | Classes of names: string
    | Full_Scale of value: float
    | Window of samples: int
    | Hop of samples: int
    | [<Mandatory>] Out of dir: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | In _ -> "CSV files (header row, comma-separated)"
            | Columns _ -> "channel columns, comma-separated (e.g. x,y,z)"
            | Label _ -> "label column"
            | Subject _ -> "subject id column (whole numbers)"
            | Rate _ -> "uniform rate to resample to, Hz"
            | Time _ -> "timestamp column in ms (default: rows are already uniform at --rate)"
            | Classes _ -> "fixed class list, comma-separated (other labels are rejected)"
            | Full_Scale _ -> "divide raw values by this and clip to [-1, 1] (default: keep as recorded)"
            | Window _ -> "window length in samples (default 64)"
            | Hop _ -> "hop between windows in samples (default 32)"
            | Out _ -> "output folder: OUT/raw and OUT/spectrogram are written"
            | Json -> "print one JSON object"

and ImportArgs =
    | [<CliPrefix(CliPrefix.None)>] Sp_Sw_Har of ParseResults<SpSwHarArgs>
    | [<CliPrefix(CliPrefix.None)>] Csv of ParseResults<CsvArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Sp_Sw_Har _ -> "import the sp-sw-har recordings (CC BY 4.0, Matey-Sanz et al. 2023)"
            | Csv _ -> "import any recordings in CSV form"

and DataInfoArgs =
    | [<MainCommand; ExactlyOnce>] Dir of dir: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Dir _ -> "a data set folder"
            | Json -> "print one JSON object"

and SynthArgs =
    | [<Mandatory>] Out of dir: string
    | Subjects of count: int
    | Per_Class of count: int
    | Seed of int
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ -> "output data set folder"
            | Subjects _ -> "number of simulated subjects (default 12)"
            | Per_Class _ -> "samples per class and subject (default 40)"
            | Seed _ -> "seed (default 1)"
            | Json -> "print one JSON object"

and DataArgs =
    | [<CliPrefix(CliPrefix.None)>] Synth of ParseResults<SynthArgs>
    | [<CliPrefix(CliPrefix.None)>] Import of ParseResults<ImportArgs>
    | [<CliPrefix(CliPrefix.None)>] Info of ParseResults<DataInfoArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Synth _ -> "simulate CW radar micro-Doppler spectrograms (the embedded default data)"
            | Import _ -> "bring recordings in as data set folders (raw windows and spectrograms)"
            | Info _ -> "counts per class and subject, shapes"

type TrainArgs =
    | [<Mandatory>] Data of dir: string
    | Arch of name: string
    | [<Mandatory>] Out of path: string
    | Epochs of int
    | Batch of int
    | Lr of rate: float
    | Valid of fraction: float
    | Class_Weighted
    | Seed of int
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "data set folder (tern data synth / tern data import)"
            | Arch _ -> "architecture (default), shaped to the data's input and classes"
            | Out _ -> "float model file to write"
            | Epochs _ -> "epochs (default 30; early stopping on the validation subjects)"
            | Batch _ -> "mini-batch size (default 32)"
            | Lr _ -> "Adam learning rate (default 0.001, cosine schedule)"
            | Valid _ -> "fraction of subjects held out for validation (default 0.2)"
            | Class_Weighted -> "weight the loss by inverse class frequency"
            | Seed _ -> "seed of initialisation and shuffling (default 1)"
            | Json -> "print one JSON object"

type DeviceKernelsArg =
    | Reference
    | Dsp

type HilArgs =
    | Board of name: string
    | [<Mandatory>] Model of path: string
    | Data of dir: string
    | Input of source: string
    | Samples of int
    | Seed of int
    | Kernels of DeviceKernelsArg
    | Port of port: string
    | Cache of dir: string
    | Firmware of elf: string
    | No_Flash
    | Report of path: string
    | Junit of path: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Board _ -> "board (default qemu-mps2-an386; see hil/boards)"
            | Model _ -> "integer model file, a float model (lowered to ternary), or 'default'"
            | Data _ -> "a data set folder (labelled samples: accuracy is reported)"
            | Input _ -> "inputs: random:N (default random:100)"
            | Samples _ -> "number of samples to stream (default: all inputs)"
            | Seed _ -> "seed of the input source and of the default model (default 1)"
            | Kernels _ -> "device kernel bodies (default dsp where the board has it)"
            | Port _ -> "serial port of a real board: /dev/ttyACM0, tcp:host:port or unix:path"
            | Cache _ -> "firmware cache folder (default ~/.cache/tern)"
            | Firmware _ -> "use this firmware ELF instead of building one (its model must match)"
            | No_Flash -> "a real board already runs the firmware: do not flash it"
            | Report _ -> "also write the JSON report to this file"
            | Junit _ -> "write a JUnit XML report to this file"
            | Json -> "print one JSON object"

[<RequireSubcommand>]
type TernArgs =
    | [<CliPrefix(CliPrefix.None)>] Model of ParseResults<ModelArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataArgs>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Inspect of ParseResults<InspectArgs>
    | [<CliPrefix(CliPrefix.None)>] Lower of ParseResults<LowerArgs>
    | [<CliPrefix(CliPrefix.None)>] Run of ParseResults<RunArgs>
    | [<CliPrefix(CliPrefix.None)>] Hil of ParseResults<HilArgs>
    | Version

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "create models"
            | Data _ -> "import and describe data sets"
            | Train _ -> "train a float model on a data set"
            | Inspect _ -> "per-layer table of a model file"
            | Lower _ -> "float model + calibration -> integer model"
            | Run _ -> "run an integer model on the host runtimes"
            | Hil _ -> "run a model on a board and prove device == host bit for bit"
            | Version -> "print the version"

let private version =
    Reflection.Assembly.GetExecutingAssembly().GetName().Version.ToString(3)

/// Parses "random:N" (N >= 1).
let private parseRandom (what: string) (source: string) : int =
    match source.Split(':') with
    | [| "random"; n |] ->
        match Int32.TryParse n with
        | true, v when v >= 1 -> v
        | _ -> raise (BadInput $"--{what} {source}: N must be a whole number >= 1")
    | _ -> raise (BadInput $"--{what} {source}: expected random:N (only a seeded random source is available so far)")

let private loadModel (path: string) : LoadedModel =
    match ModelFile.load path with
    | Ok m -> m
    | Error e -> raise (BadInput e)

let private writeOut (json: bool) (node: System.Text.Json.Nodes.JsonNode) (human: unit -> unit) =
    if json then printfn "%s" (Json.render node) else human ()

let private layersTable (rows: (string * string * Shape3 * int * int64) list) =
    let table = Table()

    for h in [ "#"; "layer"; "kind"; "output"; "params"; "MACs" ] do
        table.AddColumn(h) |> ignore

    rows
    |> List.iteri (fun i (name, kind, shape, p, macs) ->
        table.AddRow([| string i; name; kind; string shape; $"{p:N0}"; $"{macs:N0}" |])
        |> ignore)

    AnsiConsole.Write table

let private modelNew (args: ParseResults<NewArgs>) =
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

let private inspect (args: ParseResults<InspectArgs>) =
    let path = args.GetResult InspectArgs.File
    let json = args.Contains InspectArgs.Json

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
                "input_shape", Json.shape m.Input
                "classes", Json.arr (m.Classes |> List.map Json.str)
                "params", Json.int (Model.totalParams m)
                "macs", Json.int64 (Model.totalMacs m)
                "peak_activation_bytes", Json.int (Model.peakActivationBytes 1 m)
                "peak_activation_bytes_float32", Json.int (Model.peakActivationBytes 4 m)
                "layers",
                Json.arr (
                    layers
                    |> List.map (fun l ->
                        Json.obj [
                            "name", Json.str l.Name
                            "kind", Json.str l.Kind
                            "output_shape", Json.shape l.OutputShape
                            "params", Json.int l.Params
                            "macs", Json.int64 l.Macs
                        ])
                )
            ])
            (fun () ->
                printfn "%s: float model '%s', input %O, classes %s" path m.Name m.Input (String.Join(", ", m.Classes))
                layersTable (layers |> List.map (fun l -> l.Name, l.Kind, l.OutputShape, l.Params, l.Macs))

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

        let sparsity =
            let conv =
                layers
                |> List.choose (function
                    | :? IntConvLayer as c -> Some c
                    | _ -> None)

            let weights = conv |> List.sumBy (fun c -> c.OutChannels * c.FanIn)

            let zeros =
                conv
                |> List.sumBy (fun c ->
                    match c.WeightKind with
                    | WeightKind.Ternary -> c.TernaryWeights.Unpack() |> Array.filter ((=) 0y) |> Array.length
                    | _ -> c.Int8Weights |> Array.filter ((=) 0y) |> Array.length)

            if weights = 0 then 0.0 else float zeros / float weights

        writeOut
            json
            (Json.obj [
                "file", Json.str path
                "kind", Json.str "integer"
                "name", Json.str m.Name
                "hash", Json.str hash
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

let private lower (args: ParseResults<LowerArgs>) =
    let path = args.GetResult LowerArgs.Float
    let out = args.GetResult LowerArgs.Out
    let seed = args.GetResult(LowerArgs.Seed, defaultValue = 1)

    let n =
        parseRandom "calib" (args.GetResult(LowerArgs.Calib, defaultValue = "random:64"))

    let ratio = args.GetResult(LowerArgs.Threshold, defaultValue = 0.7)

    if not (ratio > 0.0 && ratio < 10.0) then
        raise (BadInput $"--threshold {ratio}: expected a ratio in (0, 10)")

    let alpha =
        match args.GetResult(LowerArgs.Alpha, defaultValue = Channel) with
        | Layer -> AlphaPerLayer
        | Channel -> AlphaPerChannel

    let weights = args.GetResult(LowerArgs.Weights, defaultValue = Ternary)

    let options =
        match weights with
        | Int8 -> LowerOptions.Int8
        | Ternary -> {
            Weights = TernaryWeights(ThresholdRatio ratio, alpha)
          }

    let model =
        match loadModel path with
        | FloatModel m -> m
        | IntegerModel _ -> raise (BadInput $"{path}: already an integer model; lower takes a float model")

    let calibration = Lower.randomCalibration seed n model.Input

    let im =
        match Lower.lower options calibration model with
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
            "calibration_samples", Json.int n
            "params", Json.int (im.Layers |> Array.sumBy (fun l -> l.ParameterCount))
            "weight_bytes", Json.int weightBytes
            "bias_bits", Json.int (Lower.biasBits im)
            "peak_activation_bytes", Json.int plan.ArenaBytes
            "hash", Json.str hash
        ])
        (fun () ->
            printfn
                "wrote %s: %d integer layers, %s weights, %d weight bytes, arena %d bytes, largest bias %d bits, hash %s"
                out
                im.Layers.Length
                (if weights = Int8 then "int8" else "ternary")
                weightBytes
                plan.ArenaBytes
                (Lower.biasBits im)
                (hash.Substring(0, 12)))

let private run (args: ParseResults<RunArgs>) =
    let path = args.GetResult RunArgs.File
    let seed = args.GetResult(RunArgs.Seed, defaultValue = 1)

    let n =
        parseRandom "input" (args.GetResult(RunArgs.Input, defaultValue = "random:100"))

    let check = args.Contains RunArgs.Check

    let mode =
        match args.GetResult(RunArgs.Kernels, defaultValue = Optimized) with
        | Scalar -> KernelMode.Scalar
        | Optimized -> KernelMode.Optimized

    let model =
        match loadModel path with
        | IntegerModel m -> m
        | FloatModel _ -> raise (BadInput $"{path}: a float model; run takes an integer model (use tern lower first)")

    let inputs =
        Lower.randomCalibration seed n model.Input
        |> List.map (Lower.quantizeInput model)
        |> List.toArray

    let timed f =
        let sw = Diagnostics.Stopwatch.StartNew()
        let r = f ()
        r, sw.Elapsed.TotalMilliseconds

    // Chunks keep the progress bar moving while each batch still spreads over the cores.
    let chunks = inputs |> Array.chunkBySize 64

    let batch (tick: int -> unit) (f: sbyte[][] -> sbyte[][]) =
        chunks
        |> Array.collect (fun c ->
            let r = f c
            tick c.Length
            r)

    let main, mainMs, checks =
        Progress.run "inference" (if check then 3 * n else n) (fun tick ->
            let main, mainMs =
                timed (fun () -> batch tick (fun c -> Runner.RunBatch(model, mode, c, Environment.ProcessorCount)))

            let checks =
                if check then
                    let other =
                        if mode = KernelMode.Optimized then
                            KernelMode.Scalar
                        else
                            KernelMode.Optimized

                    let second =
                        batch tick (fun c -> Runner.RunBatch(model, other, c, Environment.ProcessorCount))

                    let reference = batch tick (Array.Parallel.map (IntReference.run model))

                    let differs (a: sbyte[][]) (b: sbyte[][]) =
                        Array.map2 (fun (x: sbyte[]) (y: sbyte[]) -> x <> y) a b

                    let d1 = differs main second
                    let d2 = differs main reference
                    let count = Array.filter id >> Array.length
                    Some(count (Array.map2 (||) d1 d2), count d1, count d2)
                else
                    None

            main, mainMs, checks)

    let classes = main |> Array.map (fun o -> Runner.Argmax(ReadOnlySpan o))

    let histogram =
        model.ClassNames
        |> Array.mapi (fun i c -> c, classes |> Array.filter ((=) i) |> Array.length)

    let json =
        Json.obj (
            [
                "file", Json.str path
                "samples", Json.int n
                "kernels",
                Json.str (
                    if mode = KernelMode.Optimized then
                        "optimized"
                    else
                        "scalar"
                )
                "wall_ms_per_inference", Json.num (mainMs / float n)
                "threads", Json.int Environment.ProcessorCount
                "predictions", Json.obj (histogram |> Array.toList |> List.map (fun (c, k) -> c, Json.int k))
            ]
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
        printfn
            "%d samples through %s kernels, %.3f ms per inference"
            n
            (if mode = KernelMode.Optimized then
                 "optimized"
             else
                 "scalar")
            (mainMs / float n)

        printfn "predicted: %s" (String.Join(", ", histogram |> Array.map (fun (c, k) -> $"{c} {k}")))

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

    match checks with
    | Some(any, _, _) when any > 0 -> raise (Failure $"{any} of {n} samples disagree between the runtimes")
    | _ -> ()

/// Counts per class and subject of a data set, as JSON.
let private infoJson (dir: string) (s: InfoSummary) : System.Text.Json.Nodes.JsonNode =
    Json.obj [
        "dir", Json.str dir
        "shape", Json.shape s.Shape
        "count", Json.int s.Count
        "classes", Json.arr (s.Classes |> List.map Json.str)
        "per_class", Json.obj (s.PerClass |> List.map (fun (c, n) -> c, Json.int n))
        "per_subject", Json.obj (s.PerSubject |> List.map (fun (g, n) -> string g, Json.int n))
        "source", Json.str s.Source
    ]

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

let private importSpSwHar (args: ParseResults<SpSwHarArgs>) =
    let device = args.GetResult(SpSwHarArgs.Device, defaultValue = "sp")

    let options =
        windowOptions (args.TryGetResult SpSwHarArgs.Window) (args.TryGetResult SpSwHarArgs.Hop) Import.defaults

    Progress.run "importing sp-sw-har" 1 (fun tick ->
        let r = Import.spSwHar (args.GetResult SpSwHarArgs.In) device options
        tick 1
        r)
    |> writeImport (args.GetResult SpSwHarArgs.Out) (args.Contains SpSwHarArgs.Json)

let private importCsv (args: ParseResults<CsvArgs>) =
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

let private synth (args: ParseResults<SynthArgs>) =
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

    Dataset.save out data
    let s = Import.info data

    if args.Contains SynthArgs.Json then
        printfn "%s" (Json.render (infoJson out s))
    else
        printfn
            "wrote %s: %d spectrograms of %O, %d subjects x %d classes x %d"
            out
            data.Samples.Length
            data.Shape
            subjects
            data.Classes.Length
            perClass

let private dataInfo (args: ParseResults<DataInfoArgs>) =
    let dir = args.GetResult DataInfoArgs.Dir

    match Dataset.load dir with
    | Error e -> raise (BadInput e)
    | Ok d ->
        let s = Import.info d

        if args.Contains DataInfoArgs.Json then
            printfn "%s" (Json.render (infoJson dir s))
        else
            printfn "%s" (Import.infoText s)

let private train (args: ParseResults<TrainArgs>) =
    let dir = args.GetResult TrainArgs.Data
    let seed = args.GetResult(TrainArgs.Seed, defaultValue = 1)
    let fraction = args.GetResult(TrainArgs.Valid, defaultValue = 0.2)
    let out = args.GetResult TrainArgs.Out

    if not (fraction > 0.0 && fraction < 1.0) then
        raise (BadInput $"--valid {fraction}: expected a fraction in (0, 1)")

    let data =
        match Dataset.load dir with
        | Ok d -> d
        | Error e -> raise (BadInput e)

    let model =
        match args.GetResult(TrainArgs.Arch, defaultValue = "default") with
        | "default" -> Architectures.defaultFor data.Shape data.Classes seed
        | other -> raise (BadInput $"--arch: unknown architecture '{other}' (known: default)")

    let all = Array.init data.Samples.Length id
    let trainIdx, validIdx = Splits.groupHoldout fraction seed all data.Subjects

    if validIdx.Length = 0 then
        raise (BadInput $"{dir}: a validation split needs at least two subjects")

    let pick (idx: int[]) =
        idx |> Array.map (fun i -> data.Samples[i]), idx |> Array.map (fun i -> data.Labels[i])

    let config = {
        Train.defaultConfig with
            Epochs = args.GetResult(TrainArgs.Epochs, defaultValue = Train.defaultConfig.Epochs)
            BatchSize = args.GetResult(TrainArgs.Batch, defaultValue = Train.defaultConfig.BatchSize)
            Optimizer = Adam(args.GetResult(TrainArgs.Lr, defaultValue = 1e-3), 0.9, 0.999, 1e-8)
            ClassWeighted = args.Contains TrainArgs.Class_Weighted
            Seed = seed
    }

    if config.Epochs < 1 || config.BatchSize < 1 then
        raise (BadInput "--epochs and --batch must be at least 1")

    let sw = Diagnostics.Stopwatch.StartNew()

    let result =
        Progress.run "training" config.Epochs (fun tick ->
            Train.fit config model (pick trainIdx) (Some(pick validIdx)) (fun _ -> tick 1))

    let seconds = sw.Elapsed.TotalSeconds
    ModelFile.saveFloat out result.Model
    let vx, vy = pick validIdx
    let accuracy, macroF1, _ = Train.evaluate result.Model vx vy
    let last = List.last result.History
    let epochs = result.History.Length

    if args.Contains TrainArgs.Json then
        printfn
            "%s"
            (Json.render (
                Json.obj [
                    "file", Json.str out
                    "data", Json.str dir
                    "train_samples", Json.int trainIdx.Length
                    "valid_samples", Json.int validIdx.Length
                    "epochs", Json.int epochs
                    "best_epoch", Json.int result.BestEpoch
                    "train_accuracy", Json.num last.TrainAccuracy
                    "valid_accuracy", Json.num accuracy
                    "valid_macro_f1", Json.num macroF1
                    "seconds", Json.num seconds
                    "samples_per_s", Json.num (float (trainIdx.Length * epochs) / seconds)
                    "source", Json.str data.Source
                ]
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

        if data.Source <> "" then
            printfn "data: %s" data.Source

/// The default model for HIL until trained models exist: the default architecture from a seeded init,
/// lowered to ternary with seeded random calibration.
let private defaultIntModel (seed: int) : IntModel =
    let m = Architectures.defaultModel seed

    match Lower.lower LowerOptions.Ternary (Lower.randomCalibration seed 64 m.Input) m with
    | Ok im -> im
    | Error e -> raise (Failure $"lowering the default model failed: {e}")

let private hil (args: ParseResults<HilArgs>) =
    let seed = args.GetResult(HilArgs.Seed, defaultValue = 1)
    let modelArg = args.GetResult HilArgs.Model

    let model =
        if modelArg = "default" then
            defaultIntModel seed
        else
            match loadModel modelArg with
            | IntegerModel m -> m
            | FloatModel f ->
                match Lower.lower LowerOptions.Ternary (Lower.randomCalibration seed 64 f.Input) f with
                | Ok im -> im
                | Error e -> raise (BadInput $"{modelArg}: cannot lower: {e}")

    let weights =
        if
            model.Layers
            |> Array.exists (function
                | :? IntConvLayer as c -> c.WeightKind = WeightKind.Ternary
                | _ -> false)
        then
            "ternary"
        else
            "int8"

    let board =
        match Tern.Rig.Boards.find (args.GetResult(HilArgs.Board, defaultValue = "qemu-mps2-an386")) with
        | Ok b -> b
        | Error e -> raise (BadInput $"--board: {e}")

    let kernels =
        match args.TryGetResult HilArgs.Kernels with
        | Some Reference -> Tern.Rig.Reference
        | Some Dsp when not board.Dsp -> raise (BadInput $"--kernels dsp: board {board.Name} has no DSP extension")
        | Some Dsp -> Tern.Rig.Dsp
        | None -> if board.Dsp then Tern.Rig.Dsp else Tern.Rig.Reference

    if args.Contains HilArgs.Data && args.Contains HilArgs.Input then
        raise (BadInput "use --data or --input, not both")

    let samplesArg = args.TryGetResult HilArgs.Samples

    let checkCount available =
        let n = defaultArg samplesArg available

        if n < 1 || n > available then
            raise (BadInput $"--samples {n}: must be between 1 and the {available} inputs available")

        n

    let inputs, labels =
        match args.TryGetResult HilArgs.Data with
        | Some dir ->
            let data =
                match Dataset.load dir with
                | Ok d -> d
                | Error e -> raise (BadInput e)

            if data.Shape <> model.Input then
                raise (BadInput $"{dir}: samples are {data.Shape}, the model takes {model.Input}")

            let n = checkCount data.Samples.Length

            let inputs =
                data.Samples[.. n - 1]
                |> Array.map (fun s -> Lower.quantizeInput model (Tensor.ofArray data.Shape s))

            inputs, Some data.Labels[.. n - 1]
        | None ->
            let defaultCount = defaultArg samplesArg 100
            let source = args.GetResult(HilArgs.Input, defaultValue = $"random:{defaultCount}")
            let n = checkCount (parseRandom "input" source)

            let inputs =
                Lower.randomCalibration (seed + 1) n model.Input
                |> List.map (Lower.quantizeInput model)
                |> List.toArray

            inputs, None

    let samples = inputs.Length

    let json = args.Contains HilArgs.Json

    let report =
        try
            Progress.run $"{board.Name}: device vs host" samples (fun tick ->
                let mutable last = 0

                Tern.Rig.Hil.run {
                    Board = board
                    Model = model
                    Weights = weights
                    Kernels = kernels
                    Inputs = inputs
                    Labels = labels
                    Port = args.TryGetResult HilArgs.Port
                    Cache = args.GetResult(HilArgs.Cache, defaultValue = Tern.Rig.Firmware.defaultCache ())
                    Firmware = args.TryGetResult HilArgs.Firmware
                    NoFlash = args.Contains HilArgs.No_Flash
                    HelloTimeout = TimeSpan.FromSeconds 10.0
                    Progress =
                        fun n ->
                            tick (n - last)
                            last <- n
                })
        with Tern.Rig.HilFailure msg ->
            raise (Failure msg)

    args.TryGetResult HilArgs.Report
    |> Option.iter (fun p -> Tern.Rig.Report.writeAtomic p (Tern.Rig.Report.render report))

    args.TryGetResult HilArgs.Junit
    |> Option.iter (fun p -> Tern.Rig.Report.writeAtomic p ((Tern.Rig.Report.toJUnit report).ToString()))

    if json then
        printfn "%s" (Tern.Rig.Report.render report)
    else
        let table = Table()
        table.AddColumn("") |> ignore
        table.AddColumn("") |> ignore
        table.ShowHeaders <- false

        let row (k: string) (v: string) = table.AddRow([| k; v |]) |> ignore
        row "board" $"{report.Board} ({report.Kernels} kernels)"
        row "model" $"{report.Weights}, hash {report.ModelHash.Substring(0, 12)}"
        row "samples" (string report.Samples)

        row
            "mismatches"
            (if report.Mismatches = 0 then
                 "0 (bit-exact)"
             else
                 string report.Mismatches)

        row
            $"{report.WorkUnit}/inference"
            $"min {report.Work.Min:N0}, median {report.Work.Median:N0}, max {report.Work.Max:N0}"

        row "flash / RAM" $"{report.FlashBytes:N0} / {report.RamBytes:N0} bytes"
        row "arena" $"{report.ArenaBytes:N0} bytes"
        row "link" $"{report.LinkBytesPerSecond / 1024.0:F1} KiB/s"

        report.Accuracy
        |> Option.iter (fun a -> row "accuracy (device)" $"{100.0 * a:F2} %%")

        match report.FirstDivergence with
        | Some d ->
            let layer =
                match d.Layer with
                | Some(i, name) -> $"layer {i} ({name}), "
                | None -> ""

            row "first mismatch" $"sample {d.Sample}: {layer}element {d.Element}: device {d.Device}, host {d.Host}"
        | None -> ()

        AnsiConsole.Write table

    if report.Mismatches > 0 then
        raise (Failure $"{report.Mismatches} of {report.Samples} samples differ between device and host")

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<TernArgs>(programName = "tern")

    try
        try
            let results = parser.ParseCommandLine(argv, raiseOnUsage = true)

            match results.GetSubCommand() with
            | Model m ->
                match m.GetSubCommand() with
                | New n -> modelNew n
            | Data d ->
                match d.GetSubCommand() with
                | Synth a -> synth a
                | Import i ->
                    match i.GetSubCommand() with
                    | Sp_Sw_Har a -> importSpSwHar a
                    | Csv a -> importCsv a
                | Info a -> dataInfo a
            | Train a -> train a
            | Inspect a -> inspect a
            | Lower a -> lower a
            | Run a -> run a
            | Hil a -> hil a
            | Version -> printfn "tern %s" version

            0
        with
        | :? ArguParseException as e ->
            if e.ErrorCode = ErrorCode.HelpText then
                printfn "%s" e.Message
                0
            else
                eprintfn "%s" e.Message
                2
        | BadInput msg ->
            eprintfn "tern: %s" msg
            2
        | Failure msg ->
            eprintfn "tern: %s" msg
            1
    with e ->
        eprintfn "tern: internal error: %s" e.Message
        1
