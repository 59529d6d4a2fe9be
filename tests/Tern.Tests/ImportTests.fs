module Tern.Tests.ImportTests

open System
open System.Diagnostics
open System.Globalization
open System.IO
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Core
open Tern.Runtime
open Tern.Tests.Assertions

[<AutoOpen>]
module private Helpers =
    let inv (v: float) =
        v.ToString("R", CultureInfo.InvariantCulture)

    /// A fresh temporary folder; the caller deletes it.
    let tempDir () =
        let d =
            Path.Combine(Path.GetTempPath(), "tern-import-" + Guid.NewGuid().ToString("N"))

        Directory.CreateDirectory d |> ignore
        d

    let withDir (f: string -> 'a) : 'a =
        let d = tempDir ()

        try
            f d
        finally
            Directory.Delete(d, true)

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

        up (DirectoryInfo TestContext.CurrentContext.TestDirectory)

// ------------------------------------------------------------------ resampling

[<Property(MaxTest = 60)>]
let ``resampling a linear signal on irregular timestamps gives the line at every 10 ms instant`` () =
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

[<Test>]
let ``rows sharing a timestamp are averaged; labels come from the nearest row, ties to the earlier`` () =
    withDir (fun dir ->
        let rows = [ "0,1,A,1"; "0,3,A,1"; "14,10,B,1"; "20,10,B,1"; "40,30,C,1" ]
        let file = writeCsv dir "d.csv" "timestamp,x,label,subject" rows
        let raw, _ = Import.csv [ file ] [ "x" ] "label" "subject" 100.0 perSample |> ok
        // Instants 0, 10, 20, 30, 40. Point 0 is the mean 2; at 10: 2 + (10/14) * 8; nearest to 10 is 14 (B).
        let expected = [| 2.0; 2.0 + 80.0 / 14.0; 10.0; 20.0; 30.0 |]
        let got = raw.Samples |> Array.map (fun s -> float s[0])
        Assert.That(Array.forall2 (fun a b -> abs (a - b) < 1e-5) got expected, $"got %A{got}")
        // Classes sorted: A, B, C. At 30 the points 20 (B) and 40 (C) tie: the earlier wins.
        Assert.That(raw.Labels, eq ([| 0; 1; 1; 1; 2 |])))

[<Test>]
let ``a gap longer than the threshold splits a recording so no window spans it`` () =
    withDir (fun dir ->
        let rows =
            [ for t in 0..10..90 -> $"{t},1,A,1" ]
            @ [ for t in 600..10..690 -> $"{t},1,A,1" ]

        let file = writeCsv dir "g.csv" "timestamp,x,label,subject" rows
        let o = { perSample with Window = 4; Hop = 2 }
        let raw, _ = Import.csv [ file ] [ "x" ] "label" "subject" 100.0 o |> ok
        // Each 10-sample piece gives starts 0, 2, 4, 6: 4 windows each; joined (70 samples) it gives 34.
        Assert.That(raw.Samples.Length, eq 8)

        let joined, _ =
            Import.csv [ file ] [ "x" ] "label" "subject" 100.0 { o with MaxGapMs = 1000.0 }
            |> ok

        Assert.That(joined.Samples.Length, eq 34))

// ------------------------------------------------------------------ windowing

[<Test>]
let ``a window straddling a label change is dropped`` () =
    withDir (fun dir ->
        let rows = [ for i in 0..19 -> $"{i * 10},{i},{(if i < 10 then 'A' else 'B')},7" ]
        let file = writeCsv dir "w.csv" "timestamp,x,label,subject" rows
        let o = { perSample with Window = 4; Hop = 2 }
        let raw, _ = Import.csv [ file ] [ "x" ] "label" "subject" 100.0 o |> ok
        // Starts 0..16 step 2; the one at 8 covers rows 8..11 (A, A, B, B).
        Assert.That(raw.Labels, eq ([| 0; 0; 0; 0; 1; 1; 1; 1 |]))
        Assert.That(raw.Samples |> Array.map (fun s -> int s[0]), eq ([| 0; 2; 4; 6; 10; 12; 14; 16 |])))

[<Property(MaxTest = 60)>]
let ``windows are exactly the label-pure stretches a naive scan finds`` () =
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

[<Test>]
let ``subject ids come from the subject column, and a subject change splits the recording`` () =
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
        Assert.That(raw.Subjects, eq ([| 3; 5; 9 |]))
        Assert.That(spec.Subjects, eq raw.Subjects))

[<Test>]
let ``named subjects get ids in ordinal name order and survive a save and load`` () =
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
        Assert.That(raw.SubjectNames, eq [ "7"; "S02"; "S10" ])
        Assert.That(raw.Subjects, eq [| 2; 1; 0 |])
        Assert.That(spec.SubjectNames, eq raw.SubjectNames)
        Assert.That((Import.info raw).PerSubject, eq [ "7", 1; "S02", 1; "S10", 1 ])
        Dataset.save (Path.Combine(dir, "out")) raw
        let back = Dataset.load (Path.Combine(dir, "out")) |> ok
        Assert.That(back.SubjectNames, eq raw.SubjectNames)
        Assert.That(back.Subjects, eq raw.Subjects)

        let empty =
            writeCsv dir "e.csv" "timestamp,x,label,subject" [ "0,1,A,S1"; "10,1,A," ]

        Assert.That(
            err (Import.csv [ empty ] [ "x" ] "label" "subject" 100.0 o),
            Does.Contain "e.csv: row 3, column 'subject': empty subject"
        ))

[<Test>]
let ``sp-sw-har subject ids are the XX of sXX and only the chosen device is read`` () =
    withDir (fun dir ->
        let header = "x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label"

        let rows = [
            for i in 0..69 -> $"0.1,0.2,9.8,0,0,0,{1657533977813L + int64 i * 10L},WALKING"
        ]

        for name in [ "s03/s03_01_sp.csv"; "s12/s12_04_sp.csv"; "s12/s12_04_sw.csv" ] do
            writeCsv (Path.Combine(dir, "DATA")) name header rows |> ignore

        let raw, spec = Import.spSwHar dir "sp" Import.defaults |> ok
        Assert.That(raw.Subjects, eq ([| 3; 12 |]))
        Assert.That(raw.Classes, eq Import.spSwHarClasses)
        Assert.That(raw.Labels, eq ([| 2; 2 |]))
        Assert.That(raw.Source, Does.Contain "Matey-Sanz")
        Assert.That(spec.Source, Does.Contain "CC BY 4.0")
        Assert.That(raw.Source, Does.Contain "109809")
        Assert.That(err (Import.spSwHar dir "xx" Import.defaults), Does.Contain "sp (smartphone) or sw"))

[<Test>]
let ``raw windows are 1 x W x C scaled by full scale; spectrograms are bins x frames x C in 0..1`` () =
    withDir (fun dir ->
        let rows = [
            for i in 0..199 -> $"{i * 10},{inv (30.0 * sin (float i))},{inv (float i / 50.0)},-9.8,WALKING,2"
        ]

        let file = writeCsv dir "s.csv" "timestamp,a,b,c,label,subject" rows

        let raw, spec =
            Import.csv [ file ] [ "a"; "b"; "c" ] "label" "subject" 100.0 Import.defaults
            |> ok

        Assert.That(raw.Shape, eq (Shape3(1, 64, 3)))
        Assert.That(spec.Shape, eq (Shape3(16, 16, 3)))
        Assert.That(raw.Samples.Length, eq 5)
        Assert.That(spec.Samples.Length, eq 5)
        Assert.That(raw.Samples |> Array.forall (Array.forall (fun v -> v >= -1.0f && v <= 1.0f)))
        Assert.That(spec.Samples |> Array.forall (Array.forall (fun v -> v >= 0.0f && v <= 1.0f)))
        // Channel c = -9.8 m/s^2 -> -9.8 / 19.6133; channel a (amplitude 30) clips.
        Assert.That(float (raw.Samples[0][2]), eq(-9.8 / Import.twoG).Within(1e-6))
        Assert.That(raw.Samples |> Array.exists (Array.exists (fun v -> v = 1.0f)))
        Assert.That(raw.Source, Does.Contain "clipped")
        Assert.That(Dataset.validate raw, eq (Ok(): Result<unit, string>))
        Assert.That(Dataset.validate spec, eq (Ok(): Result<unit, string>)))

[<Test>]
let ``a sinusoid puts the spectrogram peak in its own bin`` () =
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
        Assert.That(Tensor.argmax column, eq 5)
        Assert.That(column[5], Is.GreaterThan 0.5f))

[<Test>]
let ``an import is deterministic and saves to two loadable folders`` () =
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
        Assert.That(r1.Samples, eq r2.Samples)
        Assert.That(s1.Samples, eq s2.Samples)
        Assert.That((r1.Labels, r1.Subjects, r1.Source), eq ((r2.Labels, r2.Subjects, r2.Source)))
        Assert.That(r1.Classes, eq [ "down"; "up" ])
        Dataset.save (Path.Combine(dir, "raw")) r1
        Dataset.save (Path.Combine(dir, "spectrogram")) s1
        let back = Dataset.load (Path.Combine(dir, "spectrogram")) |> ok
        Assert.That(back.Samples, eq s1.Samples)
        Assert.That(back.Source, eq s1.Source))

[<Test>]
let ``info counts per class and per subject`` () =
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
    Assert.That(s.Count, eq 5)
    Assert.That(s.PerClass, eq [ "a", 2; "b", 3; "c", 0 ])
    Assert.That(s.PerSubject, eq [ "2", 2; "4", 3 ])
    let text = Import.infoText s
    Assert.That(text, Does.Contain "60.0 %")
    Assert.That(text, Does.Contain "1x2x1")

// ------------------------------------------------------------------ bad data

[<Test>]
let ``a missing column is rejected naming the file, row 1 and the column`` () =
    withDir (fun dir ->
        let file = writeCsv dir "m.csv" "timestamp,x,label,subject" [ "0,1,A,1" ]
        let e = err (Import.csv [ file ] [ "x"; "y" ] "label" "subject" 100.0 perSample)
        Assert.That(e, Does.Contain "m.csv")
        Assert.That(e, Does.Contain "row 1")
        Assert.That(e, Does.Contain "missing column 'y'"))

[<Test>]
let ``a non-numeric cell is rejected naming the file, row and column`` () =
    withDir (fun dir ->
        let file =
            writeCsv dir "n.csv" "timestamp,x,label,subject" [ "0,1,A,1"; "10,2,A,1"; "20,abc,A,1" ]

        let e = err (Import.csv [ file ] [ "x" ] "label" "subject" 100.0 perSample)
        Assert.That(e, Does.Contain "n.csv: row 4, column 'x': 'abc' is not a number")

        let file2 =
            writeCsv dir "n2.csv" "timestamp,x,label,subject" [ "0,1,A,1"; "10,NaN,A,1" ]

        Assert.That(err (Import.csv [ file2 ] [ "x" ] "label" "subject" 100.0 perSample), Does.Contain "row 3"))

[<Test>]
let ``an empty file or one shorter than a window is rejected as empty windows`` () =
    withDir (fun dir ->
        let empty = writeCsv dir "e.csv" "timestamp,x,label,subject" []
        let e = err (Import.csv [ empty ] [ "x" ] "label" "subject" 100.0 Import.defaults)
        Assert.That(e, Does.Contain "e.csv: row 2")
        Assert.That(e, Does.Contain "empty windows")

        let short =
            writeCsv dir "s.csv" "timestamp,x,label,subject" [ for i in 0..9 -> $"{i * 10},1,A,1" ]

        let e2 = err (Import.csv [ short ] [ "x" ] "label" "subject" 100.0 Import.defaults)
        Assert.That(e2, Does.Contain "s.csv: rows 2..11")
        Assert.That(e2, Does.Contain "empty windows")
        let blank = Path.Combine(dir, "b.csv")
        File.WriteAllText(blank, "")

        Assert.That(
            err (Import.csv [ blank ] [ "x" ] "label" "subject" 100.0 Import.defaults),
            Does.Contain "b.csv: row 1"
        ))

[<Test>]
let ``an unknown label is rejected when classes are given`` () =
    withDir (fun dir ->
        let file =
            writeCsv dir "u.csv" "timestamp,x,label,subject" [ "0,1,A,1"; "10,1,B,1"; "20,1,Z,1" ]

        let o = {
            perSample with
                Classes = Some [ "A"; "B" ]
        }

        let e = err (Import.csv [ file ] [ "x" ] "label" "subject" 100.0 o)
        Assert.That(e, Does.Contain "u.csv: row 4, column 'label': unknown label 'Z'"))

[<Test>]
let ``files with mixed column sets are rejected naming the odd file`` () =
    withDir (fun dir ->
        let f1 = writeCsv dir "one.csv" "timestamp,x,label,subject" [ "0,1,A,1" ]
        let f2 = writeCsv dir "two.csv" "timestamp,x,y,label,subject" [ "0,1,2,A,1" ]
        let e = err (Import.csv [ f1; f2 ] [ "x" ] "label" "subject" 100.0 perSample)
        Assert.That(e, Does.Contain "two.csv: row 1")
        Assert.That(e, Does.Contain "mixed column sets"))

[<Test>]
let ``ragged rows, bad subjects and timestamps going backwards are rejected with their row`` () =
    withDir (fun dir ->
        let run rows =
            let f = writeCsv dir "x.csv" "timestamp,x,label,subject" rows
            err (Import.csv [ f ] [ "x" ] "label" "subject" 100.0 perSample)

        Assert.That(run [ "0,1,A,1"; "10,1,A" ], Does.Contain "x.csv: row 3: 3 cells, the header has 4")
        Assert.That(run [ "0,1,A,1"; "10,1,A," ], Does.Contain "row 3, column 'subject': empty subject")
        Assert.That(run [ "0,1,A,1"; "10,1,A,1"; "5,1,A,1" ], Does.Contain "row 4, column 'timestamp'")
        Assert.That(run [ "0,1,A,1"; ""; "10,1,A,1" ], Does.Contain "row 3: blank line"))

// ------------------------------------------------------------------ real data

[<Test>]
let ``the real sp-sw-har smartphone set gives about 4,800 windows of 23 subjects and 5 classes`` () =
    match realData () with
    | None -> Assert.Ignore "shared/data/sp-sw-har not found beside the repository"
    | Some dir ->
        let sw = Stopwatch.StartNew()
        let raw, spec = Import.spSwHar dir "sp" Import.defaults |> ok
        sw.Stop()
        let s = Import.info raw

        let walking =
            float (s.PerClass |> List.find (fun (c, _) -> c = "WALKING") |> snd)
            / float s.Count

        TestContext.Out.WriteLine(Import.infoText s)
        TestContext.Out.WriteLine($"import took {sw.Elapsed.TotalSeconds:F2} s")
        Assert.That(s.Count, Is.InRange(4400, 5100))
        Assert.That(s.PerSubject.Length, eq 23)
        Assert.That(s.PerClass |> List.forall (fun (_, n) -> n > 0))
        Assert.That(s.Classes.Length, eq 5)
        Assert.That(walking, Is.InRange(0.52, 0.60))
        Assert.That(spec.Samples.Length, eq s.Count)
        Assert.That(spec.Shape, eq (Shape3(16, 16, 3)))
        Assert.That(Dataset.validate spec, eq (Ok(): Result<unit, string>))
        Assert.That(raw.Source, Does.Contain "Matey-Sanz")
        Assert.That(sw.Elapsed.TotalSeconds, Is.LessThan 20.0)
