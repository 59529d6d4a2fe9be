module Tern.Tests.ImportTests

open System
open System.Diagnostics
open System.Globalization
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime
open Tern.Tests.Assertions

[<AutoOpen>]
module private Helpers =
    let inv (v: float) =
        v.ToString("R", CultureInfo.InvariantCulture)

    /// f in a fresh scratch folder (the test program removes them all after the run).
    let withDir (f: string -> 'a) : 'a = f (Scratch.folder "import")

    /// Writes a CSV file (header + rows) and returns its path.
    let writeCsv (dir: string) (name: string) (header: string) (rows: string list) : string =
        let path = Path.Combine(dir, name)
        Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
        File.WriteAllText(path, String.Join("\n", header :: rows) + "\n")
        path

    /// Options for looking at single resampled instants: every sample is its own window.
    let perSample: ImportOptions = {
        Import.defaults with
            Window = 1
            Hop = 1
            FullScale = None
            SpecWindow = 2
            SpecHop = 1
            SpecBins = 1
    }

    /// Irregular, non-decreasing timestamps: steps of 0..30 ms (0 = a repeated timestamp), at least 2 points.
    let irregularTimes: Arbitrary<int list> =
        gen {
            let! n = Gen.choose (2, 40)

            let! steps =
                Gen.listOfLength (n - 1) (Gen.frequency [ 1, Gen.constant 0; 6, Gen.choose (1, 30) ])

            let! t0 = Gen.choose (0, 1000000)
            return List.scan (+) t0 steps
        }
        |> Gen.filter (fun ts -> List.last ts > List.head ts)
        |> Arb.fromGen

    /// Label runs (label index, length) for windowing.
    let labelRuns: Arbitrary<(int * int) list> =
        Gen.listOf (Gen.zip (Gen.choose (0, 2)) (Gen.choose (1, 12)))
        |> Gen.filter (fun rs -> List.sumBy snd rs >= 4)
        |> Arb.fromGen

    /// The real sp-sw-har folder: shared/data/sp-sw-har beside the repository (found walking up).
    let realData () : string option =
        let rec up (d: DirectoryInfo) =
            if isNull d then
                None
            else
                let p = Path.Combine(d.FullName, "shared", "data", "sp-sw-har")
                if Directory.Exists p then Some p else up d.Parent

        up (DirectoryInfo AppContext.BaseDirectory)

// ------------------------------------------------------------------ resampling

let private ``resampling a linear signal on irregular timestamps gives the line at every 10 ms instant`` () =
    Prop.forAll irregularTimes (fun ts ->
        withDir (fun dir ->
            let f (t: int) = 0.25 * float t - 3.0
            let rows = ts |> List.map (fun t -> $"{t},{inv (f t)},A,1")
            let file = writeCsv dir "r.csv" "timestamp,x,label,subject" rows
            let raw, _ = Import.csv [ file ] [ "x" ] "label" "subject" 100.0 perSample |> ok
            let t0 = List.head ts
            let expectedCount = (List.last ts - t0) / 10 + 1
            let repeated = ts |> List.pairwise |> List.exists (fun (a, b) -> a = b)

            let allClose =
                raw.Samples
                |> Array.mapi (fun k s -> abs (float s[0] - f (t0 + 10 * k)) < 1e-3 * (1.0 + abs (f (t0 + 10 * k))))
                |> Array.forall id

            (raw.Samples.Length = expectedCount && allClose)
            |> Prop.classify repeated "repeated timestamps"
            |> Prop.classify (expectedCount >= 10) ">= 10 instants"))

let private ``rows sharing a timestamp are averaged; labels come from the nearest row, ties to the earlier`` () =
    withDir (fun dir ->
        let rows = [ "0,1,A,1"; "0,3,A,1"; "14,10,B,1"; "20,10,B,1"; "40,30,C,1" ]
        let file = writeCsv dir "d.csv" "timestamp,x,label,subject" rows
        let raw, _ = Import.csv [ file ] [ "x" ] "label" "subject" 100.0 perSample |> ok
        // Instants 0, 10, 20, 30, 40. Point 0 is the mean 2; at 10: 2 + (10/14) * 8; nearest to 10 is 14 (B).
        let expected = [| 2.0; 2.0 + 80.0 / 14.0; 10.0; 20.0; 30.0 |]
        let got = raw.Samples |> Array.map (fun s -> float s[0])
        Expect.isTrue (Array.forall2 (fun a b -> abs (a - b) < 1e-5) got expected) $"got %A{got}"
        // Classes sorted: A, B, C. At 30 the points 20 (B) and 40 (C) tie: the earlier wins.
        Expect.equal raw.Labels [| 0; 1; 1; 1; 2 |] "labels at instants 0..40")

let private ``a gap longer than the threshold splits a recording so no window spans it`` () =
    withDir (fun dir ->
        let rows =
            [ for t in 0..10..90 -> $"{t},1,A,1" ]
            @ [ for t in 600..10..690 -> $"{t},1,A,1" ]

        let file = writeCsv dir "g.csv" "timestamp,x,label,subject" rows
        let o = { perSample with Window = 4; Hop = 2 }
        let raw, _ = Import.csv [ file ] [ "x" ] "label" "subject" 100.0 o |> ok
        // Each 10-sample piece gives starts 0, 2, 4, 6: 4 windows each; joined (70 samples) it gives 34.
        Expect.equal raw.Samples.Length 8 "windows with the gap splitting"

        let joined, _ =
            Import.csv [ file ] [ "x" ] "label" "subject" 100.0 { o with MaxGapMs = 1000.0 }
            |> ok

        Expect.equal joined.Samples.Length 34 "windows with the recording joined")

// ------------------------------------------------------------------ windowing

let private ``a window straddling a label change is dropped`` () =
    withDir (fun dir ->
        let rows = [ for i in 0..19 -> $"{i * 10},{i},{(if i < 10 then 'A' else 'B')},7" ]
        let file = writeCsv dir "w.csv" "timestamp,x,label,subject" rows
        let o = { perSample with Window = 4; Hop = 2 }
        let raw, _ = Import.csv [ file ] [ "x" ] "label" "subject" 100.0 o |> ok
        // Starts 0..16 step 2; the one at 8 covers rows 8..11 (A, A, B, B).
        Expect.equal raw.Labels [| 0; 0; 0; 0; 1; 1; 1; 1 |] "labels of the kept windows"

        Expect.equal
            (raw.Samples |> Array.map (fun s -> int s[0]))
            [| 0; 2; 4; 6; 10; 12; 14; 16 |]
            "starts of the kept windows")

let private ``windows are exactly the label-pure stretches a naive scan finds`` () =
    Prop.forAll labelRuns (fun runs ->
        withDir (fun dir ->
            let labels = runs |> List.collect (fun (l, n) -> List.replicate n l) |> Array.ofList
            let names = [| "a"; "b"; "c" |]
            let rows = labels |> Array.mapi (fun i l -> $"{i},{names[l]},0") |> List.ofArray
            let file = writeCsv dir "p.csv" "x,label,subject" rows

            let o = {
                perSample with
                    Window = 4
                    Hop = 3
                    TimeColumn = None
                    Classes = Some [ "a"; "b"; "c" ]
            }

            let result = Import.csv [ file ] [ "x" ] "label" "subject" 100.0 o

            let expected = [|
                for s in 0..3 .. labels.Length - 4 do
                    if labels[s .. s + 3] |> Array.forall ((=) labels[s]) then
                        yield s
            |]

            let dropped = (labels.Length - 4) / 3 + 1 - expected.Length

            match result with
            | Error e -> expected.Length = 0 && e.Contains "empty windows"
            | Ok(raw, _) ->
                let starts = raw.Samples |> Array.map (fun w -> int w[0])
                starts = expected && raw.Labels = (expected |> Array.map (fun s -> labels[s]))
            |> Prop.classify (expected.Length = 0) "no window at all"
            |> Prop.classify (dropped > 0) "some windows dropped"
            |> Prop.classify (dropped = 0) "none dropped"))

// ------------------------------------------------------------------ subjects, shapes, determinism

let private ``subject ids come from the subject column, and a subject change splits the recording`` () =
    withDir (fun dir ->
        let f1 =
            writeCsv dir "a.csv" "timestamp,x,label,subject" [
                for i in 0..7 -> $"{i * 10},1,A,{(if i < 4 then 3 else 5)}"
            ]

        let f2 =
            writeCsv dir "b.csv" "timestamp,x,label,subject" [ for i in 0..3 -> $"{i * 10},1,A,9" ]

        let o = { perSample with Window = 4; Hop = 1 }
        let raw, spec = Import.csv [ f1; f2 ] [ "x" ] "label" "subject" 100.0 o |> ok
        // A window across the 3 -> 5 change would be label-pure; the split keeps it out.
        Expect.equal raw.Subjects [| 3; 5; 9 |] "subjects of the raw windows"
        Expect.equal spec.Subjects raw.Subjects "spectrogram subjects as the raw ones")

let private ``named subjects get ids in ordinal name order and survive a save and load`` () =
    withDir (fun dir ->
        let f1 =
            writeCsv dir "a.csv" "timestamp,x,label,subject" [
                for i in 0..7 ->
                    let s = if i < 4 then "S10" else "S02"
                    $"{i * 10},1,A,{s}"
            ]

        // A number among names is a name too.
        let f2 =
            writeCsv dir "b.csv" "timestamp,x,label,subject" [ for i in 0..3 -> $"{i * 10},1,A,7" ]

        let o = { perSample with Window = 4; Hop = 1 }
        let raw, spec = Import.csv [ f1; f2 ] [ "x" ] "label" "subject" 100.0 o |> ok
        Expect.equal raw.SubjectNames [ "7"; "S02"; "S10" ] "subject names in ordinal order"
        Expect.equal raw.Subjects [| 2; 1; 0 |] "subject ids index the names"
        Expect.equal spec.SubjectNames raw.SubjectNames "spectrogram subject names as the raw ones"
        Expect.equal (Import.info raw).PerSubject [ "7", 1; "S02", 1; "S10", 1 ] "windows per subject"
        Dataset.save (Path.Combine(dir, "out")) raw
        let back = Dataset.load (Path.Combine(dir, "out")) |> ok
        Expect.equal back.SubjectNames raw.SubjectNames "subject names after a save and load"
        Expect.equal back.Subjects raw.Subjects "subject ids after a save and load"

        let empty =
            writeCsv dir "e.csv" "timestamp,x,label,subject" [ "0,1,A,S1"; "10,1,A," ]

        Expect.stringContains
            (err (Import.csv [ empty ] [ "x" ] "label" "subject" 100.0 o))
            "e.csv: row 3, column 'subject': empty subject"
            "an empty subject cell is named")

let private ``sp-sw-har subject ids are the XX of sXX and only the chosen device is read`` () =
    withDir (fun dir ->
        let header = "x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label"

        let rows = [
            for i in 0..69 -> $"0.1,0.2,9.8,0,0,0,{1657533977813L + int64 i * 10L},WALKING"
        ]

        for name in [ "s03/s03_01_sp.csv"; "s12/s12_04_sp.csv"; "s12/s12_04_sw.csv" ] do
            writeCsv (Path.Combine(dir, "DATA")) name header rows |> ignore

        let raw, spec = Import.spSwHar dir "sp" Import.defaults |> ok
        Expect.equal raw.Subjects [| 3; 12 |] "subject ids from s03 and s12"
        Expect.equal raw.Classes Import.spSwHarClasses "the five sp-sw-har classes"
        Expect.equal raw.Labels [| 2; 2 |] "both windows WALKING"
        Expect.stringContains raw.Source "Matey-Sanz" "the credit names the authors"
        Expect.stringContains spec.Source "CC BY 4.0" "the credit names the licence"
        Expect.stringContains raw.Source "109809" "the credit names the article"

        Expect.stringContains
            (err (Import.spSwHar dir "xx" Import.defaults))
            "sp (smartphone) or sw"
            "an unknown device is refused")

let private ``raw windows are 1 x W x C scaled by full scale; spectrograms are bins x frames x C in 0..1`` () =
    withDir (fun dir ->
        let rows = [
            for i in 0..199 -> $"{i * 10},{inv (30.0 * sin (float i))},{inv (float i / 50.0)},-9.8,WALKING,2"
        ]

        let file = writeCsv dir "s.csv" "timestamp,a,b,c,label,subject" rows

        let raw, spec =
            Import.csv [ file ] [ "a"; "b"; "c" ] "label" "subject" 100.0 Import.defaults
            |> ok

        Expect.equal raw.Shape (Shape3(1, 64, 3)) "raw shape 1 x W x C"
        Expect.equal spec.Shape (Shape3(16, 16, 3)) "spectrogram shape bins x frames x C"
        Expect.equal raw.Samples.Length 5 "raw windows"
        Expect.equal spec.Samples.Length 5 "spectrograms"

        Expect.isTrue
            (raw.Samples |> Array.forall (Array.forall (fun v -> v >= -1.0f && v <= 1.0f)))
            "raw values in [-1, 1]"

        Expect.isTrue
            (spec.Samples |> Array.forall (Array.forall (fun v -> v >= 0.0f && v <= 1.0f)))
            "spectrogram values in [0, 1]"
        // Channel c = -9.8 m/s^2 -> -9.8 / 19.6133; channel a (amplitude 30) clips.
        Expect.floatClose
            { absolute = 1e-6; relative = 0.0 }
            (float (raw.Samples[0][2]))
            (-9.8 / Import.twoG)
            "channel c divided by full scale"

        Expect.isTrue (raw.Samples |> Array.exists (Array.exists (fun v -> v = 1.0f))) "channel a clips at 1"
        Expect.stringContains raw.Source "clipped" "the source says how many values clipped"
        Expect.equal (Dataset.validate raw) (Ok()) "the raw set validates"
        Expect.equal (Dataset.validate spec) (Ok()) "the spectrogram set validates")

let private ``a column's own full scale divides its raw values and sets its spectrogram's 0 dB`` () =
    withDir (fun dir ->
        // Columns a and b carry the same signal; b's full scale is twice a's, so b reads half and 6 dB lower.
        let rows = [
            for i in 0..63 ->
                let v = inv (4.0 * sin (0.7 * float i))
                $"{i * 10},{v},{v},X,0"
        ]

        let file = writeCsv dir "g.csv" "timestamp,a,b,label,subject" rows

        let options = {
            Import.defaults with
                FullScale = Some 10.0
                ColumnScales = Map [ "b", 20.0; "not-a-column", 1.0 ]
        }

        let raw, spec =
            Import.csv [ file ] [ "a"; "b" ] "label" "subject" 100.0 options |> ok

        let r = raw.Samples[0]
        let pairs = [ for t in 0..63 -> float r[2 * t], float r[2 * t + 1] ]
        Expect.isTrue (pairs |> List.forall (fun (a, b) -> abs (a - 2.0 * b) < 1e-6)) "b reads half of a"
        let s = spec.Samples[0]
        // Where neither is clipped, b sits 20 log10 2 dB lower: (6.0206 / 80) in the [0, 1] mapping.
        let gaps = [
            for i in 0 .. s.Length / 2 - 1 do
                let a, b = float s[2 * i], float s[2 * i + 1]

                if b > 0.0 && a < 1.0 then
                    a - b
        ]

        Expect.isNonEmpty gaps "some unclipped bins"
        Expect.isTrue (gaps |> List.forall (fun g -> abs (g - 20.0 * log10 2.0 / 80.0) < 1e-5)) $"gaps {gaps}"
        Expect.stringContains raw.Source "a 10, b 20" "the source names both full scales"

        Expect.stringContains
            (err (
                Import.csv [ file ] [ "a"; "b" ] "label" "subject" 100.0 {
                    options with
                        ColumnScales = Map [ "b", 0.0 ]
                }
            ))
            "full scale 0 of column b"
            "a zero full scale is refused")

let private ``a sinusoid puts the spectrogram peak in its own bin`` () =
    withDir (fun dir ->
        // 100 Hz, 32-point STFT: bin 5 = 15.625 Hz.
        let freq = 5.0 * 100.0 / 32.0

        let rows = [
            for i in 0..63 -> $"{i * 10},{inv (5.0 * sin (2.0 * Math.PI * freq * float i / 100.0))},X,0"
        ]

        let file = writeCsv dir "f.csv" "timestamp,a,label,subject" rows

        let _, spec =
            Import.csv [ file ] [ "a" ] "label" "subject" 100.0 Import.defaults |> ok

        let s = spec.Samples[0]
        // Middle frame (8): column of 16 bins, channel 0.
        let column = Array.init 16 (fun b -> s[b * 16 + 8])
        Expect.equal (Tensor.argmax column) 5 "the peak bin"
        Expect.isGreaterThan column[5] 0.5f "the peak level")

let private ``an import is deterministic and saves to two loadable folders`` () =
    withDir (fun dir ->
        let rows = [
            for i in 0..299 ->
                let label = if i % 150 < 100 then "up" else "down"
                $"{i * 9 + (i % 3)},{inv (sin (float i * 0.3))},{inv (cos (float i * 0.1))},{label},{i / 150}"
        ]

        let file = writeCsv dir "d.csv" "timestamp,a,b,label,subject" rows

        let run () =
            Import.csv [ file ] [ "a"; "b" ] "label" "subject" 100.0 Import.defaults |> ok

        let r1, s1 = run ()
        let r2, s2 = run ()
        Expect.equal r1.Samples r2.Samples "raw samples of two runs"
        Expect.equal s1.Samples s2.Samples "spectrograms of two runs"
        Expect.equal (r1.Labels, r1.Subjects, r1.Source) (r2.Labels, r2.Subjects, r2.Source) "labels, subjects, source"
        Expect.equal r1.Classes [ "down"; "up" ] "classes in ordinal order"
        Dataset.save (Path.Combine(dir, "raw")) r1
        Dataset.save (Path.Combine(dir, "spectrogram")) s1
        let back = Dataset.load (Path.Combine(dir, "spectrogram")) |> ok
        Expect.equal back.Samples s1.Samples "spectrograms after a save and load"
        Expect.equal back.Source s1.Source "source after a save and load")

let private ``info counts per class and per subject`` () =
    let d = {
        Shape = Shape3(1, 2, 1)
        Classes = [ "a"; "b"; "c" ]
        Samples = Array.init 5 (fun _ -> [| 0.0f; 0.0f |])
        Labels = [| 0; 1; 1; 0; 1 |]
        Subjects = [| 4; 2; 4; 4; 2 |]
        SubjectNames = []
        Source = "test"
        Augment = NoAugmentation
    }

    let s = Import.info d
    Expect.equal s.Count 5 "count"
    Expect.equal s.PerClass [ "a", 2; "b", 3; "c", 0 ] "per class, empty classes included"
    Expect.equal s.PerSubject [ "2", 2; "4", 3 ] "per subject in id order"
    let text = Import.infoText s
    Expect.stringContains text "60.0 %" "the text gives percentages"
    Expect.stringContains text "1x2x1" "the text gives the shape"

// ------------------------------------------------------------------ bad data

let private ``a missing column is rejected naming the file, row 1 and the column`` () =
    withDir (fun dir ->
        let file = writeCsv dir "m.csv" "timestamp,x,label,subject" [ "0,1,A,1" ]
        let e = err (Import.csv [ file ] [ "x"; "y" ] "label" "subject" 100.0 perSample)
        Expect.stringContains e "m.csv" "names the file"
        Expect.stringContains e "row 1" "names the header row"
        Expect.stringContains e "missing column 'y'" "names the column")

let private ``a non-numeric cell is rejected naming the file, row and column`` () =
    withDir (fun dir ->
        let file =
            writeCsv dir "n.csv" "timestamp,x,label,subject" [ "0,1,A,1"; "10,2,A,1"; "20,abc,A,1" ]

        let e = err (Import.csv [ file ] [ "x" ] "label" "subject" 100.0 perSample)
        Expect.stringContains e "n.csv: row 4, column 'x': 'abc' is not a number" "names file, row, column and cell"

        let file2 =
            writeCsv dir "n2.csv" "timestamp,x,label,subject" [ "0,1,A,1"; "10,NaN,A,1" ]

        Expect.stringContains
            (err (Import.csv [ file2 ] [ "x" ] "label" "subject" 100.0 perSample))
            "row 3"
            "NaN is refused with its row")

let private ``an empty file or one shorter than a window is rejected as empty windows`` () =
    withDir (fun dir ->
        let empty = writeCsv dir "e.csv" "timestamp,x,label,subject" []
        let e = err (Import.csv [ empty ] [ "x" ] "label" "subject" 100.0 Import.defaults)
        Expect.stringContains e "e.csv: row 2" "a header alone: names the first data row"
        Expect.stringContains e "empty windows" "a header alone: says empty windows"

        let short =
            writeCsv dir "s.csv" "timestamp,x,label,subject" [ for i in 0..9 -> $"{i * 10},1,A,1" ]

        let e2 = err (Import.csv [ short ] [ "x" ] "label" "subject" 100.0 Import.defaults)
        Expect.stringContains e2 "s.csv: rows 2..11" "a short file: names its rows"
        Expect.stringContains e2 "empty windows" "a short file: says empty windows"
        let blank = Path.Combine(dir, "b.csv")
        File.WriteAllText(blank, "")

        Expect.stringContains
            (err (Import.csv [ blank ] [ "x" ] "label" "subject" 100.0 Import.defaults))
            "b.csv: row 1"
            "an empty file: names row 1")

let private ``an unknown label is rejected when classes are given`` () =
    withDir (fun dir ->
        let file =
            writeCsv dir "u.csv" "timestamp,x,label,subject" [ "0,1,A,1"; "10,1,B,1"; "20,1,Z,1" ]

        let o = {
            perSample with
                Classes = Some [ "A"; "B" ]
        }

        let e = err (Import.csv [ file ] [ "x" ] "label" "subject" 100.0 o)
        Expect.stringContains e "u.csv: row 4, column 'label': unknown label 'Z'" "names file, row, column and label")

let private ``files with mixed column sets are rejected naming the odd file`` () =
    withDir (fun dir ->
        let f1 = writeCsv dir "one.csv" "timestamp,x,label,subject" [ "0,1,A,1" ]
        let f2 = writeCsv dir "two.csv" "timestamp,x,y,label,subject" [ "0,1,2,A,1" ]
        let e = err (Import.csv [ f1; f2 ] [ "x" ] "label" "subject" 100.0 perSample)
        Expect.stringContains e "two.csv: row 1" "names the odd file's header"
        Expect.stringContains e "mixed column sets" "says why")

let private ``ragged rows, bad subjects and timestamps going backwards are rejected with their row`` () =
    withDir (fun dir ->
        let run rows =
            let f = writeCsv dir "x.csv" "timestamp,x,label,subject" rows
            err (Import.csv [ f ] [ "x" ] "label" "subject" 100.0 perSample)

        Expect.stringContains (run [ "0,1,A,1"; "10,1,A" ]) "x.csv: row 3: 3 cells, the header has 4" "a short row"

        Expect.stringContains
            (run [ "0,1,A,1"; "10,1,A," ])
            "row 3, column 'subject': empty subject"
            "an empty subject"

        Expect.stringContains
            (run [ "0,1,A,1"; "10,1,A,1"; "5,1,A,1" ])
            "row 4, column 'timestamp'"
            "a timestamp going backwards"

        Expect.stringContains (run [ "0,1,A,1"; ""; "10,1,A,1" ]) "row 3: blank line" "a blank line inside the data")

let private ``a missing label, subject or time column is named with what it was for`` () =
    withDir (fun dir ->
        let file = writeCsv dir "r.csv" "t,x,activity,who" [ "0,1,A,1" ]

        let run label subject (o: ImportOptions) =
            err (Import.csv [ file ] [ "x" ] label subject 100.0 o)

        let timed = { perSample with TimeColumn = Some "t" }

        Expect.stringContains
            (run "label" "who" timed)
            "r.csv: row 1: missing column 'label' for the labels"
            "the label column"

        Expect.stringContains
            (run "activity" "subject" timed)
            "r.csv: row 1: missing column 'subject' for the subjects"
            "the subject column"

        Expect.stringContains
            (run "activity" "who" perSample)
            "r.csv: row 1: missing column 'timestamp' for the timestamps"
            "the time column")

let private ``quoted names and labels, CRLF line ends and a byte order mark import as the plain file does`` () =
    withDir (fun dir ->
        let rows = [ for i in 0..9 -> i * 10, i % 4, (if i < 5 then "sit" else "walk"), 3 ]

        let plain =
            writeCsv dir "plain.csv" "timestamp,x,label,subject" [ for (t, x, l, s) in rows -> $"{t},{x},{l},{s}" ]

        // Every cell quoted, names too; CRLF; a byte order mark; a quote-doubled name.
        let fancyText =
            "\uFEFF\"timestamp\",\"x\",\"la\"\"bel\",\"subject\"\r\n"
            + String.Join("", [ for (t, x, l, s) in rows -> $"\"{t}\",\" {x} \",\"{l}\",\"{s}\"\r\n" ])

        let fancy = Path.Combine(dir, "fancy.csv")
        File.WriteAllText(fancy, fancyText)
        let o = { perSample with Window = 2; Hop = 1 }
        let expected, _ = Import.csv [ plain ] [ "x" ] "label" "subject" 100.0 o |> ok
        let got, _ = Import.csv [ fancy ] [ "x" ] "la\"bel" "subject" 100.0 o |> ok
        Expect.equal got.Samples expected.Samples "the same windows"
        Expect.equal got.Labels expected.Labels "the same labels"
        Expect.equal got.Classes expected.Classes "the same classes"
        Expect.equal got.Subjects expected.Subjects "the same subjects"
        // A label holding a comma, a quote and a newline is one class name.
        let odd = Path.Combine(dir, "odd.csv")
        File.WriteAllText(odd, "x,l,s\n1,\"a, \"\"b\"\"\nc\",0\n2,\"a, \"\"b\"\"\nc\",0\n")
        let oddO = { o with TimeColumn = None }
        let r, _ = Import.csv [ odd ] [ "x" ] "l" "s" 100.0 oddO |> ok
        Expect.equal r.Classes [ "a, \"b\"\nc" ] "the label as written, unquoted")

/// Bytes that are not text: any length (0 included), any values.
let private binaryFiles: Arbitrary<byte[]> =
    gen {
        let! n = Gen.frequency [ 1, Gen.constant 0; 6, Gen.choose (1, 4000) ]
        return! Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte)
    }
    |> Arb.fromGen

let private ``any binary file given as CSV is refused at row 1 in a short printable message`` () =
    Prop.forAll binaryFiles (fun bytes ->
        withDir (fun dir ->
            let file = Path.Combine(dir, "bin.csv")
            File.WriteAllBytes(file, bytes)
            let e = err (Import.csv [ file ] [ "x" ] "label" "subject" 100.0 perSample)

            (e.StartsWith(file + ": row 1")
             && e |> Seq.forall shownAsItself
             && e.Length < file.Length + 400)
            |> Prop.label e))

// ------------------------------------------------------------------ real data

let private ``the real sp-sw-har smartphone set gives about 4,800 windows of 23 subjects and 5 classes`` () =
    match realData () with
    | None -> skiptest "shared/data/sp-sw-har not found beside the repository"
    | Some dir ->
        let sw = Stopwatch.StartNew()
        let raw, spec = Import.spSwHar dir "sp" Import.defaults |> ok
        sw.Stop()
        let s = Import.info raw

        let walking =
            float (s.PerClass |> List.find (fun (c, _) -> c = "WALKING") |> snd)
            / float s.Count

        printfn "%s" (Import.infoText s)
        printfn $"import took {sw.Elapsed.TotalSeconds:F2} s"
        Expect.isTrue (s.Count >= 4400 && s.Count <= 5100) $"windows {s.Count} in 4400..5100"
        Expect.equal s.PerSubject.Length 23 "subjects"
        Expect.isTrue (s.PerClass |> List.forall (fun (_, n) -> n > 0)) "every class has windows"
        Expect.equal s.Classes.Length 5 "classes"
        Expect.isTrue (walking >= 0.52 && walking <= 0.60) $"WALKING share {walking} in 0.52..0.60"
        Expect.equal spec.Samples.Length s.Count "one spectrogram per raw window"
        Expect.equal spec.Shape (Shape3(16, 16, 6)) "spectrogram shape: accelerometer and gyroscope"
        Expect.equal raw.Shape (Shape3(1, 64, 6)) "raw shape: accelerometer and gyroscope"
        Expect.equal (Dataset.validate spec) (Ok()) "the spectrogram set validates"
        Expect.stringContains raw.Source "Matey-Sanz" "the credit names the authors"
        Expect.isLessThan sw.Elapsed.TotalSeconds 20.0 "import time (s)"

[<Tests>]
let tests =
    testList "ImportTests" [
        testPropertyWithConfig
            (Properties.tests 60)
            "resampling a linear signal on irregular timestamps gives the line at every 10 ms instant"
            ``resampling a linear signal on irregular timestamps gives the line at every 10 ms instant``
        testCase
            "rows sharing a timestamp are averaged; labels come from the nearest row, ties to the earlier"
            ``rows sharing a timestamp are averaged; labels come from the nearest row, ties to the earlier``
        testCase
            "a gap longer than the threshold splits a recording so no window spans it"
            ``a gap longer than the threshold splits a recording so no window spans it``
        testCase "a window straddling a label change is dropped" ``a window straddling a label change is dropped``
        testPropertyWithConfig
            (Properties.tests 60)
            "windows are exactly the label-pure stretches a naive scan finds"
            ``windows are exactly the label-pure stretches a naive scan finds``
        testCase
            "subject ids come from the subject column, and a subject change splits the recording"
            ``subject ids come from the subject column, and a subject change splits the recording``
        testCase
            "named subjects get ids in ordinal name order and survive a save and load"
            ``named subjects get ids in ordinal name order and survive a save and load``
        testCase
            "sp-sw-har subject ids are the XX of sXX and only the chosen device is read"
            ``sp-sw-har subject ids are the XX of sXX and only the chosen device is read``
        testCase
            "raw windows are 1 x W x C scaled by full scale; spectrograms are bins x frames x C in 0..1"
            ``raw windows are 1 x W x C scaled by full scale; spectrograms are bins x frames x C in 0..1``
        testCase
            "a column's own full scale divides its raw values and sets its spectrogram's 0 dB"
            ``a column's own full scale divides its raw values and sets its spectrogram's 0 dB``
        testCase
            "a sinusoid puts the spectrogram peak in its own bin"
            ``a sinusoid puts the spectrogram peak in its own bin``
        testCase
            "an import is deterministic and saves to two loadable folders"
            ``an import is deterministic and saves to two loadable folders``
        testCase "info counts per class and per subject" ``info counts per class and per subject``
        testCase
            "a missing column is rejected naming the file, row 1 and the column"
            ``a missing column is rejected naming the file, row 1 and the column``
        testCase
            "a non-numeric cell is rejected naming the file, row and column"
            ``a non-numeric cell is rejected naming the file, row and column``
        testCase
            "an empty file or one shorter than a window is rejected as empty windows"
            ``an empty file or one shorter than a window is rejected as empty windows``
        testCase
            "an unknown label is rejected when classes are given"
            ``an unknown label is rejected when classes are given``
        testCase
            "files with mixed column sets are rejected naming the odd file"
            ``files with mixed column sets are rejected naming the odd file``
        testCase
            "ragged rows, bad subjects and timestamps going backwards are rejected with their row"
            ``ragged rows, bad subjects and timestamps going backwards are rejected with their row``
        testCase
            "a missing label, subject or time column is named with what it was for"
            ``a missing label, subject or time column is named with what it was for``
        testCase
            "quoted names and labels, CRLF line ends and a byte order mark import as the plain file does"
            ``quoted names and labels, CRLF line ends and a byte order mark import as the plain file does``
        testPropertyWithConfig
            (Properties.tests 100)
            "any binary file given as CSV is refused at row 1 in a short printable message"
            ``any binary file given as CSV is refused at row 1 in a short printable message``
        testCase
            "the real sp-sw-har smartphone set gives about 4,800 windows of 23 subjects and 5 classes"
            ``the real sp-sw-har smartphone set gives about 4,800 windows of 23 subjects and 5 classes``
    ]
