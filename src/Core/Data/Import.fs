namespace Tern.Core

open System
open System.Globalization
open System.IO
open System.Text.RegularExpressions
open Tern.Runtime

/// How recordings are cut into windows and turned into the two data set forms.
type ImportOptions = {
    /// Window length in resampled samples (the W of the raw form).
    Window: int
    /// Step between window starts, in samples.
    Hop: int
    /// Uniform rate the sp-sw-har recordings are resampled to (Import.csv takes its rate as an argument).
    RateHz: float
    /// A gap between consecutive timestamps larger than this (ms) splits a recording in two.
    MaxGapMs: float
    /// Columns used as channels by Import.spSwHar (Import.csv takes its columns as an argument).
    Columns: string list
    /// Timestamp column (Unix ms or any ms clock); None = rows are already uniform at the given rate.
    TimeColumn: string option
    /// Fixed class list; labels outside it are rejected. None = the sorted distinct labels found.
    Classes: string list option
    /// Raw form: each value divided by this and clipped to [-1, 1]; None = values as recorded.
    /// Also the 0 dB reference of the spectrogram (1.0 when None).
    FullScale: float option
    /// Full scales of particular columns (in their own unit), in place of FullScale: a gyroscope in rad/s next to an
    /// accelerometer in m/s^2 needs its own, or its values fill a sliver of the int8 input range.
    ColumnScales: Map<string, float>
    /// STFT segment length (periodic Hann window), in samples.
    SpecWindow: int
    /// STFT hop in samples; the spectrogram has ceil(Window / SpecHop) frames.
    SpecHop: int
    /// Frequency bins kept, from DC upwards (at most SpecWindow / 2 + 1).
    SpecBins: int
    /// Level (dB re full scale) mapped to 0; 0 dB maps to 1, values outside are clipped.
    SpecFloorDb: float
}

/// What `tern data info` shows about a data set.
type InfoSummary = {
    Shape: Shape3
    Count: int
    Classes: string list
    /// Windows per class, in class order (classes with no window show 0).
    PerClass: (string * int) list
    /// Windows per subject (its name, or its id when subjects are unnamed), in id order.
    PerSubject: (string * int) list
    Source: string
}

/// Imports real recordings (sp-sw-har, or any CSV of timestamped channels with a label column) into two
/// data set folders' worth of samples: raw windows (1 x W x channels) and STFT spectrograms
/// (bins x frames x channels).
///
/// Pipeline per file: strict CSV read (errors name file, 1-based row with the header as row 1, and column)
/// -> rows sharing a timestamp merged into one point (values averaged, label of the first of them; phones
/// deliver sensor events in bursts with equal timestamps) -> the recording split where the subject changes
/// or where consecutive timestamps are more than MaxGapMs apart (a timestamp going backwards is an error)
/// -> each piece resampled to the uniform rate by linear interpolation on the timestamp, starting at its
/// first timestamp; the label at a resampled instant is that of the nearest point (ties: the earlier)
/// -> windows of Window samples every Hop samples, kept only when all their labels are equal.
[<RequireQualifiedAccess>]
module Import =
    /// 2 g in m/s^2: the default full scale of the raw form (phone and watch accelerometers rarely exceed it).
    let twoG: float = 2.0 * 9.80665

    /// 500 degrees per second in rad/s: the gyroscopes' full scale (sp-sw-har's phones: 99.9 % of the values of
    /// each axis under 7.5 rad/s, at most 14.4).
    let gyroFullScale: float = 500.0 * Math.PI / 180.0

    /// sp-sw-har's accelerometer columns (m/s^2).
    let accColumns: string list = [ "x_acc"; "y_acc"; "z_acc" ]

    /// sp-sw-har's gyroscope columns (rad/s).
    let gyroColumns: string list = [ "x_gyro"; "y_gyro"; "z_gyro" ]

    /// The five sp-sw-har activities, in the order used as class indices.
    let spSwHarClasses: string list = [ "SEATED"; "STANDING_UP"; "WALKING"; "TURNING"; "SITTING_DOWN" ]

    /// Defaults: 64-sample windows, hop 32, 100 Hz, gaps over 250 ms split, accelerometer x,y,z (full scale 2 g)
    /// and gyroscope x,y,z (full scale 500 degrees/s); spectrogram 32-sample Hann, hop 4, 16 bins (0 to 46.9 Hz at 100 Hz) -> 16 x 16 x channels,
    /// log magnitude from -80 dB to 0 dB re full scale mapped to [0, 1].
    let defaults: ImportOptions = {
        Window = 64
        Hop = 32
        RateHz = 100.0
        MaxGapMs = 250.0
        Columns = accColumns @ gyroColumns
        TimeColumn = Some "timestamp"
        Classes = None
        FullScale = Some twoG
        ColumnScales = gyroColumns |> List.map (fun c -> c, gyroFullScale) |> Map.ofList
        SpecWindow = 32
        SpecHop = 4
        SpecBins = 16
        SpecFloorDb = -80.0
    }

    /// Shape of the spectrogram form for the given options and channel count.
    let spectrogramShape (o: ImportOptions) (channels: int) : Shape3 =
        Shape3(o.SpecBins, (o.Window + o.SpecHop - 1) / o.SpecHop, channels)

    /// Shape of the raw form: one row, Window time steps, one channel per column.
    let rawShape (o: ImportOptions) (channels: int) : Shape3 = Shape3(1, o.Window, channels)

    let private checkOptions (o: ImportOptions) (rateHz: float) : Result<unit, string> =
        if o.Window < 1 then
            Error $"window {o.Window} must be at least 1"
        elif o.Hop < 1 then
            Error $"hop {o.Hop} must be at least 1"
        elif not (rateHz > 0.0 && Double.IsFinite rateHz) then
            Error $"rate {rateHz} Hz must be positive"
        elif not (o.MaxGapMs > 0.0) then
            Error $"maximum gap {o.MaxGapMs} ms must be positive"
        elif o.FullScale |> Option.exists (fun f -> not (f > 0.0 && Double.IsFinite f)) then
            Error $"full scale {o.FullScale.Value} must be positive"
        elif o.ColumnScales |> Map.exists (fun _ f -> not (f > 0.0 && Double.IsFinite f)) then
            let c, f =
                o.ColumnScales
                |> Map.toSeq
                |> Seq.find (fun (_, f) -> not (f > 0.0 && Double.IsFinite f))

            Error $"full scale {f} of column {c} must be positive"
        elif o.SpecWindow < 2 then
            Error $"spectrogram window {o.SpecWindow} must be at least 2"
        elif o.SpecHop < 1 then
            Error $"spectrogram hop {o.SpecHop} must be at least 1"
        elif o.SpecBins < 1 || o.SpecBins > o.SpecWindow / 2 + 1 then
            Error $"spectrogram bins {o.SpecBins} must be 1..{o.SpecWindow / 2 + 1} for a {o.SpecWindow}-sample window"
        elif not (o.SpecFloorDb < 0.0) then
            Error $"spectrogram floor {o.SpecFloorDb} dB must be negative"
        else
            Ok()

    // ---------------------------------------------------------------- CSV reading

    /// The columns a file must provide, already resolved against its header.
    type private Parsed = {
        File: string
        Header: string[]
        /// Per data row: channel values.
        Values: float[][]
        Times: float[] option
        TimeName: string
        Labels: string[]
        /// Subject cells as written: whole numbers (ids) or names such as "S01".
        Subjects: string[] option
        /// Per data row: the text line it starts on (its row is its index + 2; they differ after a quoted newline).
        Lines: int[]
    }

    exception private CsvError of string

    let private fail (msg: string) = raise (CsvError msg)

    /// Reads one file strictly (CsvTable: RFC 4180, cell counts, blank lines): chosen numeric cells are finite
    /// numbers (invariant culture), labels are non-empty and, when classes are fixed, known.
    let private readFile
        (file: string)
        (columns: string list)
        (timeColumn: string option)
        (labelColumn: string)
        (subjectColumn: string option)
        (classes: Set<string> option)
        : Parsed =
        use table = new CsvTable.Reader(file)
        let header = table.Header

        let index (role: string) (name: string) =
            match Array.tryFindIndex ((=) name) header with
            | Some i -> i
            | None ->
                let have = Excerpt.quote (String.Join(",", header))
                fail $"{file}: row 1: missing column '{name}' for the {role} (header has {have})"

        let channelIdx = columns |> List.map (index "channels") |> Array.ofList
        let timeIdx = timeColumn |> Option.map (index "timestamps")
        let labelIdx = index "labels" labelColumn
        let subjectIdx = subjectColumn |> Option.map (index "subjects")
        let values = ResizeArray<float[]>()
        let times = ResizeArray<float>()
        let labels = ResizeArray<string>()
        let subjects = ResizeArray<string>()
        let lines = ResizeArray<int>()

        while table.Next() do
            lines.Add table.Line
            values.Add(channelIdx |> Array.map table.Number)
            timeIdx |> Option.iter (fun i -> times.Add(table.Number i))
            let label = table.Cell labelIdx

            if label = "" then
                fail $"{table.At labelIdx}: empty label"

            match classes with
            | Some known when not (known.Contains label) ->
                let names = String.Join(",", known)
                fail $"{table.At labelIdx}: unknown label {Excerpt.quote label} (classes are {names})"
            | _ -> ()

            labels.Add label

            subjectIdx
            |> Option.iter (fun i ->
                let subject = table.Cell i

                if subject = "" then
                    fail $"{table.At i}: empty subject"

                subjects.Add subject)

        if values.Count = 0 then
            fail $"{file}: row 2: no data rows (empty windows)"

        {
            File = file
            Header = header
            Values = values.ToArray()
            Times = timeColumn |> Option.map (fun _ -> times.ToArray())
            TimeName = defaultArg timeColumn ""
            Labels = labels.ToArray()
            Subjects = subjectColumn |> Option.map (fun _ -> subjects.ToArray())
            Lines = lines.ToArray()
        }

    // ---------------------------------------------------------------- resampling

    /// One uniformly sampled stretch of a recording, all of one subject.
    type private Segment = {
        Subject: int
        /// Per resampled instant: channel values.
        Values: float[][]
        Labels: int[]
    }

    /// Resamples points (strictly increasing times) onto t0 + k * step; labels from the nearest point.
    let private resample (times: float[]) (values: float[][]) (labels: int[]) (stepMs: float) : float[][] * int[] =
        let t0 = times[0]
        let span = times[times.Length - 1] - t0
        // The small epsilon keeps an end point that lies on the grid despite rounding in span / step.
        let n = int (Math.Floor(span / stepMs + 1e-9)) + 1
        let channels = values[0].Length
        let outV = Array.zeroCreate<float[]> n
        let outL = Array.zeroCreate<int> n
        let mutable j = 0

        for k in 0 .. n - 1 do
            let t = t0 + float k * stepMs

            while j + 1 < times.Length && times[j + 1] <= t do
                j <- j + 1

            if j + 1 >= times.Length then
                outV[k] <- Array.copy values[j]
                outL[k] <- labels[j]
            else
                let a = times[j]
                let b = times[j + 1]
                let f = (t - a) / (b - a)
                outV[k] <- Array.init channels (fun c -> values[j][c] + f * (values[j + 1][c] - values[j][c]))
                outL[k] <- if b - t < t - a then labels[j + 1] else labels[j]

        outV, outL

    /// Splits a parsed file into uniform segments (subject changes and gaps split; equal times merge);
    /// subjectAt gives the subject id of a data row.
    let private segments
        (p: Parsed)
        (classIndex: string -> int)
        (subjectAt: int -> int)
        (rateHz: float)
        (maxGapMs: float)
        : Segment list =
        let labelIds = p.Labels |> Array.map classIndex
        let rows = p.Values.Length
        // Runs of rows with the same subject; each run is a separate recording.
        let runs =
            let starts = [
                0
                yield! [ 1 .. rows - 1 ] |> List.filter (fun i -> subjectAt i <> subjectAt (i - 1))
            ]

            List.map2 (fun a b -> a, b) starts ((List.tail starts) @ [ rows ])

        match p.Times with
        | None ->
            // Rows are taken as already uniform at the given rate.
            runs
            |> List.map (fun (a, b) -> {
                Subject = subjectAt a
                Values = p.Values[a .. b - 1]
                Labels = labelIds[a .. b - 1]
            })
        | Some times ->
            let stepMs = 1000.0 / rateHz

            runs
            |> List.collect (fun (a, b) ->
                // Merge rows sharing a timestamp into one point, then cut at gaps.
                let pieces =
                    ResizeArray<ResizeArray<float> * ResizeArray<float[]> * ResizeArray<int>>()

                let mutable i = a

                while i < b do
                    let t = times[i]
                    let mutable e = i + 1

                    while e < b && times[e] = t do
                        e <- e + 1

                    let channels = p.Values[i].Length

                    let mean =
                        Array.init channels (fun c ->
                            let mutable s = 0.0

                            for r in i .. e - 1 do
                                s <- s + p.Values[r][c]

                            s / float (e - i))

                    let newPiece =
                        if i = a then
                            true
                        else
                            let prev = times[i - 1]

                            if t < prev then
                                let at = CsvTable.position p.File (i + 2) p.Lines[i]

                                fail
                                    $"{at}, column {Excerpt.quote p.TimeName}: timestamp {t} is before the previous row's {prev}"

                            t - prev > maxGapMs

                    if newPiece then
                        pieces.Add(ResizeArray(), ResizeArray(), ResizeArray())

                    let (ts, vs, ls) = pieces[pieces.Count - 1]
                    ts.Add t
                    vs.Add mean
                    ls.Add labelIds[i]
                    i <- e

                [
                    for (ts, vs, ls) in pieces do
                        let v, l = resample (ts.ToArray()) (vs.ToArray()) (ls.ToArray()) stepMs

                        yield {
                            Subject = subjectAt a
                            Values = v
                            Labels = l
                        }
                ])

    // ---------------------------------------------------------------- windows and the two forms

    /// Spectrogram of one window (W x C, time-major): per channel an STFT with a periodic Hann window,
    /// frame k centred on sample k * hop + hop / 2 (indices outside the window clamp to its edge samples,
    /// so the constant gravity component makes no edge artefact); |X| / sum(hann) in dB re the channel's reference,
    /// mapped from [floor, 0] dB to [0, 1] and clipped. Output HWC = (bin, frame, channel).
    let private spectrogram
        (o: ImportOptions)
        (reference: float[])
        (hann: float[])
        (cosT: float[][])
        (sinT: float[][])
        (window: float[][])
        : float32[] =
        let w = window.Length
        let channels = window[0].Length
        let shape = spectrogramShape o channels
        let frames = shape.W
        let n = o.SpecWindow
        let hannSum = Array.sum hann
        let out = Array.zeroCreate<float32> shape.Size
        let seg = Array.zeroCreate<float> n

        for c in 0 .. channels - 1 do
            for f in 0 .. frames - 1 do
                let start = f * o.SpecHop + o.SpecHop / 2 - n / 2

                for m in 0 .. n - 1 do
                    let i = min (w - 1) (max 0 (start + m))
                    seg[m] <- window[i][c] * hann[m]

                for b in 0 .. o.SpecBins - 1 do
                    let mutable re = 0.0
                    let mutable im = 0.0
                    let ct = cosT[b]
                    let st = sinT[b]

                    for m in 0 .. n - 1 do
                        re <- re + seg[m] * ct[m]
                        im <- im - seg[m] * st[m]

                    let amp = sqrt (re * re + im * im) / hannSum / reference[c]
                    let db = 20.0 * Math.Log10(max amp 1e-12)
                    let v = (db - o.SpecFloorDb) / -o.SpecFloorDb
                    out[(b * frames + f) * channels + c] <- float32 (min 1.0 (max 0.0 v))

        out

    let private formatFloat (v: float) =
        v.ToString("G6", CultureInfo.InvariantCulture)

    /// Cuts windows from all files and builds the raw and spectrogram data sets.
    let private build
        (o: ImportOptions)
        (rateHz: float)
        (columns: string list)
        (labelColumn: string)
        (files: (Parsed * int option) list)
        (sourceHead: string)
        : Dataset * Dataset =
        let classes =
            match o.Classes with
            | Some cs -> cs
            | None ->
                files
                |> List.collect (fun (p, _) -> List.ofArray p.Labels)
                |> List.distinct
                |> List.sortWith (fun a b -> String.CompareOrdinal(a, b))

        if classes.Length > 256 then
            fail $"{classes.Length} distinct labels in column '{labelColumn}'; a data set holds at most 256 classes"

        let classIdx = classes |> List.mapi (fun i c -> c, i) |> dict

        // Subject cells that are all whole numbers in 0..65535 are the ids themselves (as before names were
        // allowed); otherwise every cell is a name, and ids index the names in ordinal order.
        let cells =
            files
            |> List.collect (fun (p, _) -> p.Subjects |> Option.map List.ofArray |> Option.defaultValue [])
            |> List.distinct

        let asId (s: string) =
            match Int32.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture) with
            | true, v when v >= 0 && v <= 65535 -> Some v
            | _ -> None

        let subjectNames =
            if cells |> List.forall (asId >> Option.isSome) then
                []
            else
                cells |> List.sortWith (fun a b -> String.CompareOrdinal(a, b))

        if subjectNames.Length > 65536 then
            fail $"{subjectNames.Length} distinct subject names; a data set holds at most 65536 subjects"

        let subjectId =
            if subjectNames.IsEmpty then
                fun s -> (asId s).Value
            else
                let ids = subjectNames |> List.mapi (fun i n -> n, i) |> dict
                fun s -> ids[s]

        let channels = columns.Length
        let windows = ResizeArray<float[][]>()
        let labels = ResizeArray<int>()
        let subjects = ResizeArray<int>()

        for (p, fileSubject) in files do
            let subjectAt =
                match p.Subjects, fileSubject with
                | Some s, _ ->
                    let ids = s |> Array.map subjectId
                    fun i -> ids[i]
                | None, Some s -> fun _ -> s
                | None, None -> fun _ -> 0

            let segs = segments p (fun l -> classIdx[l]) subjectAt rateHz o.MaxGapMs
            let longest = segs |> List.map (fun s -> s.Values.Length) |> List.max

            if longest < o.Window then
                fail
                    $"{p.File}: rows 2..{p.Values.Length + 1} give at most {longest} samples at {formatFloat rateHz} Hz without a gap, fewer than one window of {o.Window} (empty windows)"

            for s in segs do
                let mutable start = 0

                while start + o.Window <= s.Values.Length do
                    let l = s.Labels[start]

                    let mutable allSame = true

                    for i in start + 1 .. start + o.Window - 1 do
                        if s.Labels[i] <> l then
                            allSame <- false

                    if allSame then
                        windows.Add(s.Values[start .. start + o.Window - 1])
                        labels.Add l
                        subjects.Add s.Subject

                    start <- start + o.Hop

        if windows.Count = 0 then
            fail
                $"no label-pure windows of {o.Window} samples in {files.Length} file(s): every window mixes labels (empty windows)"

        // Per-channel range of the kept windows, as recorded (before any scaling).
        let lo = Array.create channels Double.PositiveInfinity
        let hi = Array.create channels Double.NegativeInfinity

        for win in windows do
            for row in win do
                for c in 0 .. channels - 1 do
                    lo[c] <- min lo[c] row[c]
                    hi[c] <- max hi[c] row[c]

        let mutable clipped = 0

        let scales =
            columns
            |> List.map (fun c ->
                match o.ColumnScales.TryFind c with
                | Some fs -> Some fs
                | None -> o.FullScale)
            |> Array.ofList

        let raw =
            windows.ToArray()
            |> Array.map (fun win ->
                let out = Array.zeroCreate<float32>(o.Window * channels)

                for t in 0 .. o.Window - 1 do
                    for c in 0 .. channels - 1 do
                        let v =
                            match scales[c] with
                            | None -> win[t][c]
                            | Some fs ->
                                let x = win[t][c] / fs

                                if x > 1.0 || x < -1.0 then
                                    clipped <- clipped + 1

                                min 1.0 (max -1.0 x)

                        out[t * channels + c] <- float32 v

                out)

        let n = o.SpecWindow

        let hann =
            Array.init n (fun m -> 0.5 - 0.5 * cos (2.0 * Math.PI * float m / float n))

        let cosT =
            Array.init o.SpecBins (fun b -> Array.init n (fun m -> cos (2.0 * Math.PI * float (b * m) / float n)))

        let sinT =
            Array.init o.SpecBins (fun b -> Array.init n (fun m -> sin (2.0 * Math.PI * float (b * m) / float n)))

        let reference = scales |> Array.map (fun fs -> defaultArg fs 1.0)
        let spec = windows.ToArray() |> Array.map (spectrogram o reference hann cosT sinT)

        let ranges =
            String.Join(", ", List.mapi (fun c name -> $"{name} [{formatFloat lo[c]}, {formatFloat hi[c]}]") columns)

        let common =
            $"{sourceHead} Import: {files.Length} file(s); resampled to {formatFloat rateHz} Hz by linear interpolation on the timestamp (equal timestamps averaged, gaps over {formatFloat o.MaxGapMs} ms split a recording); label-pure windows of {o.Window} samples every {o.Hop}; channels {String.Join(',', columns)}, recorded range {ranges}."

        // One scale for every channel reads as before; mixed scales are named per column.
        let scaleText =
            match List.distinct (List.ofArray scales) with
            | [ Some fs ] -> Some $"full scale {formatFloat fs}"
            | [ None ] -> None
            | _ ->
                // Columns of one scale together, in column order: "x_acc,y_acc,z_acc 19.6133, x_gyro,... 8.72665".
                let each =
                    List.zip columns (List.ofArray scales)
                    |> List.groupBy snd
                    |> List.map (fun (fs, cs) ->
                        let names = String.Join(",", List.map fst cs)

                        match fs with
                        | Some f -> $"{names} {formatFloat f}"
                        | None -> $"{names} as recorded")

                let list = String.Join(", ", each)
                Some $"full scales {list}"

        let scaleNote =
            match scaleText with
            | None -> "Raw form: values as recorded."
            | Some text ->
                $"Raw form: values divided by {text} and clipped to [-1, 1] ({clipped} of {raw.Length * o.Window * channels} values clipped)."

        let referenceText =
            match List.distinct (List.ofArray reference) with
            | [ r ] -> formatFloat r
            | _ -> "the channel's full scale"

        let binHz = rateHz / float n

        let specNote =
            $"Spectrogram form: per channel STFT, periodic Hann of {n} samples, hop {o.SpecHop}, frames centred with edge samples repeated; bins 0..{o.SpecBins - 1} ({formatFloat 0.0}..{formatFloat (binHz * float (o.SpecBins - 1))} Hz); 20 log10(|X| / sum(window) / {referenceText}) mapped from [{formatFloat o.SpecFloorDb}, 0] dB to [0, 1], clipped; shape bins x frames x channels."

        let labelsA = labels.ToArray()
        let subjectsA = subjects.ToArray()

        let rawSet = {
            Shape = rawShape o channels
            Classes = classes
            Samples = raw
            Labels = labelsA
            Subjects = subjectsA
            SubjectNames = subjectNames
            Source = $"{common} {scaleNote}"
            // Phones sit at any angle in a pocket and people move at their own pace: small rotations, scaling,
            // noise and time warps keep the activity (issue 15: +4.9 pp LOSO macro-F1 on sp-sw-har). Rotation
            // needs an x,y,z triple.
            Augment =
                if channels >= 3 then
                    Augment.imu
                else
                    Compose [ Scale 0.1; Jitter 0.01; Warp 0.2 ]
        }

        let specSet = {
            Shape = spectrogramShape o channels
            Classes = classes
            Samples = spec
            Labels = Array.copy labelsA
            Subjects = Array.copy subjectsA
            SubjectNames = subjectNames
            Source = $"{common} {specNote}"
            // Masks of a few frames or bins (SpecAugment) keep the activity; time shifts would not (a window may hold
            // a short transition whose order matters).
            Augment = Augment.spec
        }

        rawSet, specSet

    let private guard (f: unit -> Dataset * Dataset) : Result<Dataset * Dataset, string> =
        try
            Ok(f ())
        with
        | CsvError msg
        | CsvTable.Malformed msg -> Error msg
        | :? IOException as e -> Error e.Message
        | :? UnauthorizedAccessException as e -> Error e.Message

    /// Reads all files, rejecting a file whose header differs from the first file's.
    let private readAll
        (files: (string * int option) list)
        (columns: string list)
        (o: ImportOptions)
        (labelColumn: string)
        (subjectColumn: string option)
        : (Parsed * int option) list =
        let classes = o.Classes |> Option.map Set.ofList

        let parsed =
            files
            |> List.map (fun (f, s) -> readFile f columns o.TimeColumn labelColumn subjectColumn classes, s)

        match parsed with
        | [] -> fail "no input files"
        | (first, _) :: rest ->
            for (p, _) in rest do
                if p.Header <> first.Header then
                    let mine = String.Join(",", p.Header)
                    let theirs = String.Join(",", first.Header)

                    fail
                        $"{p.File}: row 1: columns {mine} differ from {first.File}'s {theirs} (files with mixed column sets)"

            parsed

    /// The sp-sw-har credit line (CC BY 4.0 requires it wherever results on the data are shown).
    let spSwHarCredit: string =
        "Matey-Sanz, M., Casteleyn, S., Granell, C. (2023). \"Dataset of inertial measurements of smartphones and smartwatches for human activity recognition\". Data in Brief, 109809. doi:10.1016/j.dib.2023.109809. Licence: CC BY 4.0."

    /// Imports sp-sw-har (the folder holding sXX/sXX_YY_{sp|sw}.csv, or its parent with DATA/) for one
    /// device ("sp" smartphone, "sw" smartwatch); subject id = XX of sXX (1..23). Returns (raw, spectrogram).
    let spSwHar (inDir: string) (device: string) (options: ImportOptions) : Result<Dataset * Dataset, string> =
        let o = {
            options with
                Classes = Some spSwHarClasses
        }

        match checkOptions o o.RateHz with
        | Error e -> Error e
        | Ok() when device <> "sp" && device <> "sw" ->
            Error $"device '{device}' must be sp (smartphone) or sw (smartwatch)"
        | Ok() when o.Columns.IsEmpty -> Error "no columns chosen"
        | Ok() when not (Directory.Exists inDir) -> Error $"{inDir}: no such folder"
        | Ok() ->
            guard (fun () ->
                let root =
                    let data = Path.Combine(inDir, "DATA")
                    if Directory.Exists data then data else inDir

                let pattern = Regex($"^s(\\d+)_(\\d+)_{device}\\.csv$")

                let files =
                    Directory.GetFiles(root, "*.csv", SearchOption.AllDirectories)
                    |> Array.choose (fun f ->
                        let m = pattern.Match(Path.GetFileName f)

                        if m.Success then
                            Some(f, Some(Int32.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)))
                        else
                            None)
                    |> Array.sortWith (fun (a, _) (b, _) -> String.CompareOrdinal(a, b))
                    |> List.ofArray

                if files.IsEmpty then
                    fail $"{root}: no sXX_YY_{device}.csv recordings found"

                let parsed = readAll files o.Columns o "label" None
                let deviceName = if device = "sp" then "smartphone" else "smartwatch"

                let head =
                    $"sp-sw-har {deviceName} recordings (GeoTecINIT/sp-sw-har-dataset, DATA/; subject id = XX of sXX). Credit: {spSwHarCredit}"

                build o o.RateHz o.Columns "label" parsed head)

    /// Imports CSV files (each one recording; header row; numeric channel columns, a label column and a
    /// subject column of whole numbers or names; timestamps in ms from options.TimeColumn). Returns (raw,
    /// spectrogram).
    let csv
        (files: string list)
        (columns: string list)
        (label: string)
        (subject: string)
        (rateHz: float)
        (options: ImportOptions)
        : Result<Dataset * Dataset, string> =
        match checkOptions options rateHz with
        | Error e -> Error e
        | Ok() when columns.IsEmpty -> Error "no columns chosen"
        | Ok() when files.IsEmpty -> Error "no input files"
        | Ok() ->
            guard (fun () ->
                let parsed =
                    readAll (files |> List.map (fun f -> f, None)) columns options label (Some subject)

                let names = String.Join(", ", files |> List.map Path.GetFileName)
                build options rateHz columns label parsed $"CSV recordings: {names}.")

    /// Counts per class and per subject, shape and count of a data set.
    let info (d: Dataset) : InfoSummary = {
        Shape = d.Shape
        Count = d.Samples.Length
        Classes = d.Classes
        PerClass =
            d.Classes
            |> List.mapi (fun i c -> c, d.Labels |> Array.filter ((=) i) |> Array.length)
        PerSubject =
            d.Subjects
            |> Array.countBy id
            |> Array.sortBy fst
            |> Array.map (fun (g, n) -> Dataset.subjectName d g, n)
            |> List.ofArray
        Source = d.Source
    }

    /// A plain-text rendering of an info summary (one fact per line; percentages of the count).
    let infoText (s: InfoSummary) : string =
        let pct (n: int) =
            if s.Count = 0 then 0.0 else 100.0 * float n / float s.Count

        let lines = [
            $"shape    {s.Shape.H}x{s.Shape.W}x{s.Shape.C} (HWC)"
            $"count    {s.Count}"
            $"classes  {s.Classes.Length}"
            for (c, n) in s.PerClass do
                let p = (pct n).ToString("F1", CultureInfo.InvariantCulture)
                $"  {c, -16} {n, 7}  {p, 5} %%"
            $"subjects {s.PerSubject.Length}"
            for (id, n) in s.PerSubject do
                $"  {id, -16} {n, 7}"
            $"source   {s.Source}"
        ]

        String.Join("\n", lines)
