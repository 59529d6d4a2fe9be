/// The hil verb: a model on a board, proved bit for bit against the host.
module Tern.Cli.HilVerb

open System
open System.IO
open Argu
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Spectre.Console
open Tern.Cli.Args
open Tern.Cli.Common

let hil (args: ParseResults<HilArgs>) =
    let html = args.TryGetResult HilArgs.Html
    let seed = args.GetResult(HilArgs.Seed, defaultValue = 1)
    let modelArg = args.GetResult HilArgs.Model

    // The integer model to run, and whether --model gave a float model (lowered here).
    let model, loweredHere =
        if modelArg = "default" then
            DefaultModel.load (), false
        else
            match
                (try
                    loadModel modelArg
                 with BadInput e ->
                     raise (BadInput $"--model {e}"))
            with
            | IntegerModel m -> m, false
            | FloatModel f ->
                match Lower.lower LowerOptions.Ternary (Lower.randomCalibration seed 64 f.Input) f with
                | Ok im -> im, true
                | Error e -> raise (BadInput $"{modelArg}: cannot lower: {e}")

    // --float: the integer model's float parent, for the float-vs-integer figures of the device's logits.
    let parent =
        match args.TryGetResult HilArgs.Float with
        | None -> None
        | Some p when loweredHere ->
            raise (
                BadInput
                    $"--float {p}: --model {modelArg} is a float model; --float names the float parent of an integer model"
            )
        | Some p -> Some(Evaluation.parent p model)

    let subjects =
        Evaluation.request (args.TryGetResult HilArgs.Subjects) (args.Contains HilArgs.All_Subjects)

    if subjects <> DefaultSubjects && not (args.Contains HilArgs.Data) then
        raise (BadInput "--subjects and --all-subjects choose subjects of a data set folder; give --data DIR")

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

    // Options that apply to some boards only, and the files and ports they name: refused before any work.
    match board.Run with
    | Tern.Rig.Qemu _ ->
        for given, name in
            [
                args.Contains HilArgs.Port, "--port"
                args.Contains HilArgs.No_Flash, "--no-flash"
            ] do
            if given then
                raise (
                    BadInput
                        $"{name}: board {board.Name} is emulated (QEMU runs the firmware and owns its UART); {name} applies to a real board"
                )
    | Tern.Rig.OpenOcd _ -> ()

    if args.Contains HilArgs.Firmware && args.Contains HilArgs.Cache then
        raise (BadInput "--cache: nothing is built with --firmware (the cache keeps firmware that hil builds)")

    if args.Contains HilArgs.Firmware && args.Contains HilArgs.Kernels then
        raise (BadInput "--kernels: a prebuilt --firmware already holds the kernels it was built with")

    args.TryGetResult HilArgs.Port |> Option.iter HilOptionChecks.port
    args.TryGetResult HilArgs.Firmware |> Option.iter HilOptionChecks.firmware

    let kernels =
        match args.TryGetResult HilArgs.Kernels with
        | Some Reference -> Tern.Rig.Reference
        | Some Dsp when not board.Dsp -> raise (BadInput $"--kernels dsp: board {board.Name} has no DSP extension")
        | Some Dsp -> Tern.Rig.Dsp
        | None -> if board.Dsp then Tern.Rig.Dsp else Tern.Rig.Reference

    if args.Contains HilArgs.Data && args.Contains HilArgs.Input then
        raise (BadInput "use --data or --input, not both")

    let history =
        HistoryOption.choose (args.TryGetResult HilArgs.History) (args.Contains HilArgs.No_History)

    let baseline =
        BaselineOption.parse
            (args.TryGetResult HilArgs.Baseline)
            (args.TryGetResult HilArgs.Fail_On_Regression)
            history.Path

    baseline |> Option.iter (fun b -> BaselineOption.precheck b board.Name)

    let samplesArg = args.TryGetResult HilArgs.Samples

    let checkCount available =
        let n = defaultArg samplesArg available

        if n < 1 || n > available then
            raise (BadInput $"--samples {n}: must be between 1 and the {available} inputs available")

        n

    // The float inputs (the rig quantizes them on the model's input grid), labels, and the folder's choice of samples.
    let inputs, labels, folder =
        match args.TryGetResult HilArgs.Data with
        | Some dir ->
            // The model's held-out subjects by default; --samples draws stratified by class and subject.
            let f =
                Evaluation.fromFolder
                    "data"
                    dir
                    (Evaluation.holdoutOf modelArg model.Metadata)
                    subjects
                    samplesArg
                    seed
                    model.Input

            f.Samples, Some f.Labels, Some f
        | None when modelArg = "default" && not (args.Contains HilArgs.Input) ->
            // The default model meets radar data it was not trained on, so the report carries an accuracy.
            let n = defaultArg samplesArg 500

            if n < 1 || n > 10_000 then
                raise (BadInput $"--samples {n}: must be between 1 and 10000")

            // A split run predicts frames from their neighbours: it streams consecutive windows instead.
            let xs, ys =
                if args.Contains HilArgs.Split then
                    DefaultModel.heldOutStream n
                else
                    DefaultModel.heldOut n

            xs, Some ys, None
        | None ->
            let defaultCount = defaultArg samplesArg 100
            let source = args.GetResult(HilArgs.Input, defaultValue = $"random:{defaultCount}")
            let n = checkCount (parseRandom "input" source)

            let xs =
                Lower.randomCalibration (seed + 1) n model.Input
                |> List.map (fun t -> t.Data)
                |> List.toArray

            xs, None, None

    let samples = inputs.Length

    let json = args.Contains HilArgs.Json

    let hilOptions (tick: int -> unit) : Tern.Rig.HilOptions =
        let mutable last = 0

        {
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
        }

    let splitOptions =
        let codecArgs = [
            args.Contains HilArgs.Codec_Bits
            args.Contains HilArgs.Prediction
            args.Contains HilArgs.Entropy
            args.Contains HilArgs.Codec_Quant
        ]

        if args.Contains HilArgs.Profile && args.Contains HilArgs.Split then
            raise (BadInput "--profile times the whole model's layers: it does not apply with --split")

        match args.TryGetResult HilArgs.Split with
        | None ->
            if List.contains true codecArgs then
                raise (BadInput "--codec-bits, --codec-quant, --prediction and --entropy need --split")

            None
        | Some text ->
            let k =
                match text.Trim().ToLowerInvariant() with
                | "auto"
                | "default" -> SplitPoint.byDefault model
                | t ->
                    match Int32.TryParse t with
                    | true, k when k >= 1 && k <= model.Layers.Length -> k
                    | _ -> raise (BadInput $"--split {text}: a layer count in 1..{model.Layers.Length} or 'auto'")

            let bits = args.GetResult(HilArgs.Codec_Bits, defaultValue = 4)

            if bits < 2 || bits > 8 then
                raise (BadInput $"--codec-bits {bits}: must be 2..8")

            let prediction =
                match args.GetResult(HilArgs.Prediction, defaultValue = "bi").ToLowerInvariant() with
                | "intra" -> Intra
                | "uni" -> Uni
                | "bi" -> Bi
                | p -> raise (BadInput $"--prediction {p}: intra, uni or bi")

            let entropy =
                match args.GetResult(HilArgs.Entropy, defaultValue = "huffman").ToLowerInvariant() with
                | "fixed" -> Fixed
                | "zvc" -> Zvc
                | "huffman" -> Huffman
                | "rle" -> Rle
                | e -> raise (BadInput $"--entropy {e}: fixed, zvc, huffman or rle")

            // Min-max by default: a ReLU layer's codes often span a small part of the int8 range (the default
            // model's layer 1: -128..9), which the seed's fixed step 2^(8-N) flattens at 4 bits.
            let quant =
                match args.GetResult(HilArgs.Codec_Quant, defaultValue = "minmax").ToLowerInvariant() with
                | "minmax" -> MinMaxAffine
                | "int8" -> FromInt8
                | "symmetric" -> MinMaxSymmetric
                | q -> raise (BadInput $"--codec-quant {q}: minmax, int8 or symmetric")

            Some {
                Tern.Rig.SplitOptions.Split = k
                Tern.Rig.SplitOptions.Codec = {
                    Codec.defaults bits prediction entropy with
                        Quant = quant
                }
            }

    let report, split, profile =
        try
            match splitOptions with
            | None ->
                let r, p =
                    Progress.runCounted $"{board.Name}: device vs host" "samples" samples (fun tick ->
                        Tern.Rig.Hil.runProfiled (hilOptions tick) (args.Contains HilArgs.Profile))

                r, None, p
            | Some so ->
                let r, s =
                    Progress.runCounted
                        $"{board.Name}: split {so.Split}, device prefix + encoder vs host"
                        "samples"
                        samples
                        (fun tick -> Tern.Rig.Hil.runSplit (hilOptions tick) so)

                r, Some s, None
        with
        | Tern.Rig.HilFailure msg -> raise (Failure msg)
        | Tern.Rig.HilBadPort msg -> raise (BadInput msg)

    // Metrics of the device's predictions (the split result's for a split run) and, with --float, its logits
    // against the float parent's on the same inputs.
    let metrics =
        labels
        |> Option.map (fun ys ->
            Metrics.compute
                (List.ofArray model.ClassNames)
                ys
                (report.Outputs |> Array.map (fun o -> Runner.Argmax(ReadOnlySpan<sbyte> o))))

    let floatVsInteger =
        parent
        |> Option.map (fun (f, hash) -> hash, FloatVsInteger.ofOutputs f model inputs report.Outputs)

    let reportJson =
        let o =
            (match split with
             | Some s -> Tern.Rig.Report.splitJson report s
             | None -> Tern.Rig.Report.toJson report)
                .AsObject()

        // --profile (refused with --split): `layers` and `profile`
        profile |> Option.iter (Tern.Rig.Profile.addJson o)
        // ... and the cost model's estimate beside the measurement (issue 15: budgets are honest)
        profile
        |> Option.iter (fun _ -> ProfileTable.addEstimateJson o (DeviceCost.estimateInt model))

        let extra =
            (match metrics with
             | Some m -> MetricsView.json m |> List.filter (fun (k, _) -> k <> "accuracy")
             | None -> [])
            @ Evaluation.evaluatedJson folder floatVsInteger

        for k, v in extra do
            o[k] <- v

        o :> Text.Json.Nodes.JsonNode

    // The baseline is looked up before this run is recorded, so that `last` is an earlier run.
    let compared =
        baseline |> Option.map (fun b -> BaselineOption.evaluate b reportJson)

    compared
    |> Option.iter (fun c -> reportJson.AsObject()["baseline"] <- BaselineOption.toJson c)

    let recorded = HistoryOption.record history "hil" reportJson
    let printed = HistoryOption.annotate history recorded reportJson

    args.TryGetResult HilArgs.Report
    |> Option.iter (fun p -> Tern.Rig.Report.writeAtomic p (Json.render printed))

    args.TryGetResult HilArgs.Junit
    |> Option.iter (fun p -> Tern.Rig.Report.writeAtomic p ((Tern.Rig.Report.toJUnit report).ToString()))

    if json then
        printfn "%s" (Json.render printed)
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

        folder
        |> Option.iter (fun f ->
            let which =
                match f.Selection.Choice with
                | HeldOutSubjects -> "held out by the model"
                | EverySubject _ -> "all"
                | ChosenSubjects -> "--subjects"

            row "subjects" $"""{String.Join(", ", f.Selection.Subjects)} ({which})""")

        report.Accuracy
        |> Option.iter (fun a -> row "accuracy (device)" $"{100.0 * a:F2} %%")

        metrics |> Option.iter (fun m -> row "macro-F1 (device)" $"{m.MacroF1:F4}")

        split
        |> Option.iter (fun s ->
            let c = s.Codec

            row
                "split"
                $"layers 0..{s.Split - 1} on the device, output of {s.Layer} ({s.Feature.H}x{s.Feature.W}x{s.Feature.C})"

            row "codec" $"{c.Bits} bits ({c.Quant}), {c.Prediction}, {c.Entropy}, {s.Groups} streams"

            row
                "stream mismatches"
                (if s.Mismatches = 0 then
                     "0 (device encoder = host encoder)"
                 else
                     string s.Mismatches)

            row
                "wire bytes/frame"
                $"{s.WireBytesPerFrame:F1} (int8: {s.Int8BytesPerFrame}, link incl. inputs: {s.LinkBytesPerFrame:F0})"

            row
                $"encoder {report.WorkUnit}/frame"
                $"min {s.EncoderWork.Min:N0}, median {s.EncoderWork.Median:N0}, max {s.EncoderWork.Max:N0}"

            row "top-1 agreement" $"{100.0 * s.Top1Agreement:F2} %% (max |logit difference| {s.MaxOutputDifference})"

            s.UnsplitAccuracy
            |> Option.iter (fun a -> row "accuracy (unsplit, host)" $"{100.0 * a:F2} %%"))

        match report.FirstDivergence with
        | Some d ->
            let layer =
                match d.Layer with
                | Some(i, name) -> $"layer {i} ({name}), "
                | None -> ""

            row "first mismatch" $"sample {d.Sample}: {layer}element {d.Element}: device {d.Device}, host {d.Host}"
        | None -> ()

        AnsiConsole.Write table
        profile |> Option.iter ProfileTable.write

        profile
        |> Option.iter (fun p ->
            ProfileTable.writeEstimate p (DeviceCost.estimateInt model) report.FlashBytes report.RamBytes)

        folder |> Option.iter (fun f -> printfn "%s" (Evaluation.line f))
        metrics |> Option.iter MetricsView.print

        floatVsInteger
        |> Option.iter (fun (hash, f) -> printfn "%s" (MetricsView.floatVsIntegerLine hash f))

        compared |> Option.iter BaselineOption.print
        HistoryOption.summaryLine history recorded |> Option.iter (printfn "%s")

    writeHtml html "hil" printed

    if report.Mismatches > 0 then
        raise (Failure $"{report.Mismatches} of {report.Samples} samples differ between device and host")

    compared
    |> Option.bind BaselineOption.failure
    |> Option.iter (fun msg -> raise (Failure msg))
