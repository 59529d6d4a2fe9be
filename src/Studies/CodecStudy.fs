namespace Tern.Studies

open Tern.Core

open System
open System.Diagnostics
open System.Threading.Tasks
open Tern.Runtime
open Tern.Runtime.Engine

/// One method of the codec study (seed 004's curves).
type CodecMethod =
    /// The feature maps sent as float32 (the int8 maps dequantized: lossless, 32 bits a value).
    | RawFloat
    /// The codec with this prediction and entropy coder (at the row's bit depth).
    | Coded of Prediction * Entropy

/// Where the coded bits of a row go, summed over every stream (each stream's bytes counted in full).
type CodecBitBreakdown = {
    /// Headers, zero padding and CRC-32 trailers.
    Framing: int64
    /// Huffman tables and RLE run widths of all sections.
    Tables: int64
    /// The coded anchor (Intra: all frames) symbols, ZVC masks included.
    Anchor: int64
    /// The coded motion vectors.
    Vectors: int64
    /// The coded residuals (none with the study's settings).
    Residual: int64
}

/// One row of the study: a method at one bit depth over every frame of every stream.
type CodecStudyRow = {
    Method: CodecMethod
    /// N; None for raw float.
    Bits: int option
    /// Every bit that goes on the wire: headers, tables, vectors, payload, padding, CRC.
    CodedBits: int64
    /// Raw float32 bits of the same frames / CodedBits.
    RatioVsFloat32: float
    /// int8 bits of the same frames / CodedBits.
    RatioVsInt8: float
    /// CodedBits / frames.
    BitsPerFrame: float
    /// Top-1 accuracy of the suffix on the decoded maps against the labels.
    Accuracy: float
    /// Accuracy of the uncompressed split model minus Accuracy.
    AccuracyDrop: float
    /// Fraction of frames whose top-1 class equals the uncompressed model's.
    Top1Agreement: float
    /// Streams (groups) the codec wrote.
    Streams: int
    Breakdown: CodecBitBreakdown
}

/// Settings of the study.
type CodecStudyConfig = {
    /// Bit depths N of the coded methods, each 2..8.
    Bits: int list
    /// Split point K (the device runs layers 0..K-1); None = `SplitPoint.byDefault`.
    Split: int option
    /// Frames per codec stream for every coded method (Bi: the middle one is the anchor, Uni: the first);
    /// None = each method's own group (uniform 1, uni 2, bi 3: seed 004).
    GroupFrames: int option
    /// Where the N-bit quantizer's parameters come from (seed 004: FromInt8).
    Quant: QuantSource
    /// Worker threads (results do not depend on it).
    Threads: int
}

/// What the study measured.
type CodecStudyResult = {
    /// Raw float first, then each coded method at each bit depth (methods outer, bits inner).
    Rows: CodecStudyRow list
    Split: int
    /// Shape of the feature map sent (output of layer Split-1).
    FeatureMap: Shape3
    /// int8 zero point of the feature map (the codec's z8).
    ZeroPoint: int
    /// Frames (windows) coded.
    Frames: int
    /// Streams of consecutive windows.
    Streams: int
    /// Fraction of feature-map codes equal to the zero point.
    Sparsity: float
    /// Accuracy of the uncompressed model.
    BaselineAccuracy: float
    /// Classification metrics of the uncompressed integer model on every frame (the model the study evaluates).
    Baseline: ClassMetrics
    Seconds: float
}

/// Seed 004's study on Tern's models: split the integer model at K, code the feature maps of streams of
/// overlapping windows with every codec method and bit depth, run the rest of the model on the decoded maps.
[<RequireQualifiedAccess>]
module CodecStudy =

    /// The study's methods in order: raw float, then uniform / uni-TSS / bi-TSS, each plain, +ZVC, +Huffman.
    let methods: CodecMethod list = [
        RawFloat
        for p in [ Intra; Uni; Bi ] do
            for e in [ Fixed; Zvc; Huffman ] do
                Coded(p, e)
    ]

    /// The method's name as in seed 004 ("raw float", "uniform+ZVC", "bi-TSS+Huffman", ...).
    let methodName (m: CodecMethod) : string =
        match m with
        | RawFloat -> "raw float"
        | Coded(p, e) ->
            let prediction =
                match p with
                | Intra -> "uniform"
                | Uni -> "uni-TSS"
                | Bi -> "bi-TSS"

            let entropy =
                match e with
                | Fixed -> ""
                | Zvc -> "+ZVC"
                | Huffman -> "+Huffman"
                | Rle -> "+RLE"

            prediction + entropy

    /// Defaults: bit depths 4..8, the default split, streams of 5 frames, the min-max quantizer, every core.
    /// Seed 004's own settings are GroupFrames = None and Quant = FromInt8: its fixed step 2^(8-N) assumes
    /// maps that fill the int8 range, but calibrated ranges leave most codes within a few steps of the zero
    /// point (the default model: 95 % of the split map's codes within 16 of it), so at 4 bits the map
    /// collapses to zero and accuracy with it; min-max over each stream's anchor keeps it. Five frames per
    /// stream (one anchor predicting two on each side) spread the header, tables and anchor over more frames.
    let defaultConfig: CodecStudyConfig = {
        Bits = [ 4; 5; 6; 7; 8 ]
        Split = None
        GroupFrames = Some 5
        Quant = MinMaxAffine
        Threads = Environment.ProcessorCount
    }

    /// Shape and int8 zero point of the input of layer k (the output of layer k-1; the model input for k = 0).
    let featureMap (model: IntModel) (k: int) : Shape3 * int =
        let shape = if k = 0 then model.Input else model.Layers[k - 1].Output
        shape, snd (Lower.outputGrid model (k - 1))

    /// Stream ids of a data set whose samples are consecutive windows: a new stream starts wherever the
    /// subject or the label changes (windows cut from one labelled stretch of one recording).
    let streamsOf (data: Dataset) : int[] =
        let ids = Array.zeroCreate data.Samples.Length
        let mutable id = 0

        for i in 1 .. ids.Length - 1 do
            if data.Subjects[i] <> data.Subjects[i - 1] || data.Labels[i] <> data.Labels[i - 1] then
                id <- id + 1

            ids[i] <- id

        ids

    /// Checks the inputs; returns the first problem.
    let check (config: CodecStudyConfig) (model: IntModel) (data: Dataset) (streams: int[]) : Result<int, string> =
        let split = defaultArg config.Split (SplitPoint.byDefault model)

        if config.Bits.IsEmpty then
            Error "no bit depths"
        elif config.Bits |> List.exists (fun b -> b < 2 || b > 8) then
            Error $"bit depths must be 2..8, got {config.Bits}"
        elif config.GroupFrames |> Option.exists (fun g -> g < 3 || g > 255) then
            Error $"groups of {config.GroupFrames.Value} frames: need 3..255 (bi-TSS needs 3)"
        elif split < 1 || split >= model.Layers.Length then
            Error $"split {split}: the model has {model.Layers.Length} layers; need 1..{model.Layers.Length - 1}"
        elif not (model.CanSplitAt split) then
            Error $"split {split}: inside a residual block, whose add still needs the block's input"
        elif data.Shape <> model.Input then
            Error $"data shape {data.Shape} differs from the model input {model.Input}"
        elif data.Samples.Length = 0 then
            Error "no samples"
        elif streams.Length <> data.Samples.Length then
            Error $"{streams.Length} stream ids for {data.Samples.Length} samples"
        elif data.Labels |> Array.exists (fun l -> l < 0 || l >= model.Output.Size) then
            Error $"labels outside the model's {model.Output.Size} classes"
        else
            let shape, _ = featureMap model split

            if shape.H > 65535 || shape.W > 65535 || shape.C > 65535 then
                Error $"feature map {shape} is too large for the codec"
            else
                Ok split

    /// Consecutive runs of equal ids: (first index, count) per stream, in order.
    let private runs (streams: int[]) =
        let out = ResizeArray<int * int>()
        let mutable start = 0

        for i in 1 .. streams.Length do
            if i = streams.Length || streams[i] <> streams[start] then
                out.Add(start, i - start)
                start <- i

        out.ToArray()

    /// Runs f on every index with one runner per worker; results in index order.
    let private parallelRun (model: IntModel) (threads: int) (count: int) (f: Runner -> int -> 'a) : 'a[] =
        let out = Array.zeroCreate<'a> count
        let options = ParallelOptions(MaxDegreeOfParallelism = max 1 threads)

        Parallel.For(
            0,
            count,
            options,
            (fun () -> Runner(model, KernelMode.Optimized)),
            (fun i _ (r: Runner) ->
                out[i] <- f r i
                r),
            ignore
        )
        |> ignore

        out

    /// A study check that failed (a codec defect, not bad input).
    exception private StudyFailure of string

    let private fraction (hits: int) (n: int) =
        if n = 0 then 0.0 else float hits / float n

    /// Runs the study. `progress` is called once per finished row (from worker threads, one call at a time). Each stream is coded as its own sequence
    /// (`Codec.encodeSequenceGrouped`: groups of GroupFrames or the method's size, a last group shorter than
    /// the method's size intra); every stream is
    /// decoded and checked against the encoder's reconstruction; the suffix runs on the decoded maps.
    let run
        (config: CodecStudyConfig)
        (model: IntModel)
        (data: Dataset)
        (streams: int[])
        (progress: CodecStudyRow -> unit)
        : Result<CodecStudyResult, string> =
        match check config model data streams with
        | Error e -> Error e
        | Ok split ->
            let clock = Stopwatch.StartNew()
            let shape, zeroPoint = featureMap model split
            let n = data.Samples.Length
            let input = Tensor.ofArray data.Shape

            let maps =
                parallelRun model config.Threads n (fun r i ->
                    r.RunPrefix(Lower.quantizeInput model (input data.Samples[i]), split))

            let argmax (logits: sbyte[]) = Runner.Argmax(ReadOnlySpan logits)

            let baseline =
                parallelRun model config.Threads n (fun r i -> argmax (r.RunSuffix(split, ReadOnlySpan maps[i])))

            let correct (preds: int[]) =
                fraction (Array.fold2 (fun acc p l -> if p = l then acc + 1 else acc) 0 preds data.Labels) n

            let baselineAccuracy = correct baseline
            let streamRuns = runs streams
            let int8Total = Codec.int8Bits shape n
            let floatTotal = Codec.rawFloatBits shape n

            let zeros =
                maps
                |> Array.sumBy (fun m -> m |> Array.sumBy (fun v -> if int v = zeroPoint then 1L else 0L))

            let sparsity = float zeros / float (int64 n * int64 shape.Size)

            let rowOf (m: CodecMethod) (bits: int option) (coded: int64) (preds: int[]) (groups: int) breakdown =
                let accuracy = correct preds

                {
                    Method = m
                    Bits = bits
                    CodedBits = coded
                    RatioVsFloat32 = float floatTotal / float coded
                    RatioVsInt8 = float int8Total / float coded
                    BitsPerFrame = float coded / float n
                    Accuracy = accuracy
                    AccuracyDrop = baselineAccuracy - accuracy
                    Top1Agreement =
                        fraction (Array.fold2 (fun acc p b -> if p = b then acc + 1 else acc) 0 preds baseline) n
                    Streams = groups
                    Breakdown = breakdown
                }

            let raw =
                rowOf RawFloat None floatTotal baseline 0 {
                    Framing = 0L
                    Tables = 0L
                    Anchor = floatTotal
                    Vectors = 0L
                    Residual = 0L
                }

            progress raw

            let jobs = [|
                for m in methods do
                    match m with
                    | RawFloat -> ()
                    | Coded(p, e) ->
                        for b in config.Bits do
                            m, p, e, b
            |]

            // Each job codes every stream; a failed check stops the study with its message.
            let codeJob (p: Prediction) (e: Entropy) (b: int) =
                let options = {
                    Codec.defaults b p e with
                        Quant = config.Quant
                }

                let decoded = Array.zeroCreate<sbyte[]> n
                let mutable framing = 0L
                let mutable tables = 0L
                let mutable anchor = 0L
                let mutable vectors = 0L
                let mutable residual = 0L
                let mutable total = 0L
                let mutable groups = 0

                for start, count in streamRuns do
                    let group = defaultArg config.GroupFrames (Codec.groupSize p)

                    match
                        Codec.encodeSequenceGrouped options group zeroPoint shape maps[start .. start + count - 1]
                    with
                    | Error err -> raise (StudyFailure $"{methodName (Coded(p, e))} at {b} bits: {err}")
                    | Ok encoded ->
                        let mutable f = start

                        for enc in encoded do
                            match Codec.decode enc.Stream with
                            | Error err ->
                                raise (
                                    StudyFailure
                                        $"{methodName (Coded(p, e))} at {b} bits: own stream rejected: {Codec.describe err}"
                                )
                            | Ok d ->
                                if d.Frames.Length <> enc.Reconstruction.Length then
                                    raise (
                                        StudyFailure
                                            $"{methodName (Coded(p, e))} at {b} bits: decoded frame count differs"
                                    )

                                for j in 0 .. d.Frames.Length - 1 do
                                    if d.Frames[j] <> enc.Reconstruction[j] then
                                        raise (
                                            StudyFailure
                                                $"{methodName (Coded(p, e))} at {b} bits: decoded frame differs from the encoder's reconstruction"
                                        )

                                    decoded[f] <- d.Frames[j]
                                    f <- f + 1

                            let bits = enc.Bits
                            framing <- framing + int64 (bits.Header + bits.Padding + bits.Checksum)
                            tables <- tables + int64 (bits.Anchor.Table + bits.Vectors.Table + bits.Residual.Table)
                            anchor <- anchor + int64 bits.Anchor.Payload
                            vectors <- vectors + int64 bits.Vectors.Payload
                            residual <- residual + int64 bits.Residual.Payload
                            total <- total + int64 bits.Total
                            groups <- groups + 1

                decoded,
                total,
                groups,
                {
                    Framing = framing
                    Tables = tables
                    Anchor = anchor
                    Vectors = vectors
                    Residual = residual
                }

            // One job per method and bit depth, in parallel (each worker codes and runs the suffix with its
            // own runner); the rows keep the job order whatever the schedule.
            let gate = obj ()

            try
                let rows =
                    parallelRun model config.Threads jobs.Length (fun r j ->
                        let m, p, e, b = jobs[j]
                        let decoded, total, groups, breakdown = codeJob p e b

                        let preds =
                            decoded |> Array.map (fun d -> argmax (r.RunSuffix(split, ReadOnlySpan d)))

                        let row = rowOf m (Some b) total preds groups breakdown
                        lock gate (fun () -> progress row)
                        row)

                Ok {
                    Rows = raw :: List.ofArray rows
                    Split = split
                    FeatureMap = shape
                    ZeroPoint = zeroPoint
                    Frames = n
                    Streams = streamRuns.Length
                    Sparsity = sparsity
                    BaselineAccuracy = baselineAccuracy
                    Baseline = Metrics.compute data.Classes data.Labels baseline
                    Seconds = clock.Elapsed.TotalSeconds
                }
            with
            | StudyFailure msg -> Error msg
            | :? AggregateException as e ->
                match
                    e.Flatten().InnerExceptions
                    |> Seq.tryPick (function
                        | StudyFailure msg -> Some msg
                        | _ -> None)
                with
                | Some msg -> Error msg
                | None -> reraise ()

    /// Subjects, windows per stream and STFT-frame hop of the default radar stream.
    let defaultStreamShape: int * int * int = 6, 30, 4

    /// The default stream: synthetic radar subjects the default model never saw (data seed 2; it was trained
    /// on seed 1), one stream per subject and class, windows every 4 STFT frames (one column of the 16x16 map).
    let defaultRadarStream () : RadarSim.RadarStream =
        let subjects, windows, hop = defaultStreamShape
        RadarSim.stream RadarSim.defaultConfig subjects windows hop 2

    /// Up to `count` samples spread evenly over the data set, as calibration inputs of a lowering.
    let calibration (data: Dataset) (count: int) : Tensor list =
        let n = data.Samples.Length
        let m = min count n

        List.init m (fun k -> Tensor.ofArray data.Shape data.Samples[int (int64 k * int64 n / int64 m)])
