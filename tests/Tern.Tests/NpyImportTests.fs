module Tern.Tests.NpyImportTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime
open Tern.Tests.Assertions
open Tern.Tests.NpyTests

let private fixture = Fixtures.npy

let private read name = Npy.read (fixture name) |> ok

/// An in-memory array as Npy.parse gives it (for label and subject cases without files).
let private array (values: NpyValues) (shape: int[]) (dtype: string) : NpyArray = {
    Name = "a.npy"
    DType = dtype
    Shape = shape
    Values = values
}

/// The fixtures' sample value at (n, h, w, c): n * 1000 + c * 100 + h * 10 + w.
let private position (shape: Shape3) (n: int) =
    Array.init shape.Size (fun k ->
        let c = k % shape.C
        let w = k / shape.C % shape.W
        let h = k / shape.C / shape.W
        float32 (n * 1000 + c * 100 + h * 10 + w))

// ------------------------------------------------------------------ samples

let private ``the fixtures read as HWC samples: nchw, nhwc, big-endian, int16, format 2.0`` () =
    for name, layout in
        [
            "x_nchw_f32.npy", Nchw
            "x_nhwc_f64.npy", Nhwc
            "x_nchw_f32_be.npy", Nchw
            "x_nchw_i16.npy", Nchw
            "x_nchw_f32_v2.npy", Nchw
        ] do
        let shape, samples = NpyImport.samples layout (read name) |> ok
        Expect.equal shape (Shape3(3, 4, 2)) name
        Expect.equal samples.Length 6 name

        for n in 0..5 do
            Expect.equal samples[n] (position shape n) $"{name} sample {n}"

let private ``a Fortran-order uint8 array and a rank-3 (N, C, W) signal read as HWC samples`` () =
    let shape, samples = NpyImport.samples Nchw (read "x_nchw_u8_fortran.npy") |> ok
    Expect.equal shape (Shape3(2, 4, 2)) "the shape of the Fortran-order array"

    let expected n =
        Array.init shape.Size (fun k ->
            let c = k % 2
            let w = k / 2 % 4
            let h = k / 8
            float32 (n * 64 + c * 16 + h * 4 + w))

    for n in 0..3 do
        Expect.equal samples[n] (expected n) $"sample {n}"

    // (N, C, W) as PyTorch's Conv1d holds it: H = 1.
    let shape1, samples1 = NpyImport.samples Nchw (read "x_ncw_f32.npy") |> ok
    Expect.equal shape1 (Shape3(1, 4, 2)) "(N, C, W) is one row high"
    Expect.equal samples1[5] (position shape1 5) "(N, C, W) sample 5"

/// HWC samples, and the same samples as an array in either layout (rank 3 for one-row samples, half the time).
let private layoutCases =
    gen {
        let! n = Gen.choose (1, 4)
        let! h = Gen.choose (1, 3)
        let! w = Gen.choose (1, 4)
        let! c = Gen.choose (1, 3)
        let! layout = Gen.elements [ Nchw; Nhwc ]
        let! rank3 = Gen.elements [ false; true ]
        let! kind = Gen.elements [ "f4"; "f8"; "i2"; "u1" ]
        let shape = Shape3(h, w, c)

        let value =
            match kind with
            | "u1" -> Gen.choose (0, 255)
            | "i2" -> Gen.choose (-32768, 32767)
            | _ -> Gen.choose (-100000, 100000)
            |> Gen.map float32

        let! samples = Gen.arrayOfLength n (Gen.arrayOfLength shape.Size value)
        let rank3 = rank3 && h = 1

        let dims =
            match layout, rank3 with
            | Nchw, false -> [| n; c; h; w |]
            | Nhwc, false -> [| n; h; w; c |]
            | Nchw, true -> [| n; c; w |]
            | Nhwc, true -> [| n; w; c |]

        // Values in the array's own order.
        let flat = [|
            for s in samples do
                match layout with
                | Nhwc -> yield! s
                | Nchw ->
                    for ch in 0 .. c - 1 do
                        for row in 0 .. h - 1 do
                            for col in 0 .. w - 1 do
                                yield s[(row * w + col) * c + ch]
        |]

        let element (v: float32) =
            match kind with
            | "f4" -> BitConverter.GetBytes v
            | "f8" -> BitConverter.GetBytes(float v)
            | "i2" -> BitConverter.GetBytes(int16 v)
            | _ -> [| byte v |]

        let descr = if kind = "u1" then "|u1" else "<" + kind
        let bytes = NpyBytes.file 1 descr false dims (flat |> Array.collect element)
        return layout, bytes, shape, samples
    }
    |> Arb.fromGen

let private ``samples written in either layout and dtype read back as the same HWC samples`` () =
    Prop.forAll layoutCases (fun (layout, bytes, shape, samples) ->
        let a = Npy.parse "x.npy" bytes |> ok
        let s, back = NpyImport.samples layout a |> ok

        (s = shape && back = samples)
        |> Prop.collect (NpyImport.layoutName layout, a.Shape.Length))

let private ``bad samples are refused naming the file and the sample: dtype, NaN, rank, no samples`` () =
    Expect.stringContains (err (NpyImport.samples Nchw (read "x_i32.npy"))) "x_i32.npy: dtype int32" "int32 samples"

    Expect.stringContains
        (err (NpyImport.samples Nchw (read "x_nan.npy")))
        "x_nan.npy: sample 2 holds NaN at [2, 1, 0, 3]"
        "a NaN sample"

    let inf = array (Float64s [| 0.0; 1e300 |]) [| 1; 1; 1; 2 |] "float64"

    Expect.stringContains
        (err (NpyImport.samples Nhwc inf))
        "sample 0 holds 1E+300, outside float32's range"
        "a value past float32"

    let flat = array (Float32s [| 1.0f; 2.0f |]) [| 2 |] "float32"
    Expect.stringContains (err (NpyImport.samples Nchw flat)) "rank 1" "a rank-1 array"
    let none = array (Float32s [||]) [| 0; 1; 2; 2 |] "float32"
    Expect.stringContains (err (NpyImport.samples Nchw none)) "no samples" "an empty array"

// ------------------------------------------------------------------ labels and subjects

let private ``integer labels index class0..class(K-1) or the given classes; string labels name classes`` () =
    let ys, names = NpyImport.labels (read "y_i64.npy") 6 "x" None |> ok
    Expect.equal ys [| 0; 1; 2; 0; 1; 2 |] "int64 labels"
    Expect.equal names [ "class0"; "class1"; "class2" ] "class names for integer labels"
    let ys8, _ = NpyImport.labels (read "y_u8.npy") 6 "x" None |> ok
    Expect.equal ys8 ys "uint8 labels as int64 ones"

    for name in [ "y_str.npy"; "y_bytes.npy" ] do
        let ys, names = NpyImport.labels (read name) 6 "x" None |> ok
        Expect.equal names [ "sit"; "stand"; "walk" ] name
        Expect.equal ys [| 2; 0; 1; 2; 0; 1 |] name

    let given = Some [ "walk"; "sit"; "stand"; "run" ]
    let ys, names = NpyImport.labels (read "y_str.npy") 6 "x" given |> ok
    Expect.equal ys [| 0; 1; 2; 0; 1; 2 |] "string labels indexing the given classes"
    Expect.equal names given.Value "the given classes"

let private ``a label out of range, unknown to --classes, negative, float or of the wrong count is refused`` () =
    Expect.stringContains
        (err (NpyImport.labels (read "y_out_of_range.npy") 6 "x.npy" (Some [ "a"; "b"; "c" ])))
        "y_out_of_range.npy: sample 5 has label 9, but --classes names 3 classes (a,b,c)"
        "a label past --classes"

    Expect.stringContains
        (err (NpyImport.labels (read "y_str.npy") 6 "x.npy" (Some [ "walk"; "sit" ])))
        "sample 2 has label 'stand', which --classes does not name"
        "a label --classes does not name"

    let negative = array (Integers [| 0L; -1L |]) [| 2 |] "int64"
    Expect.stringContains (err (NpyImport.labels negative 2 "x.npy" None)) "sample 1 has label -1" "a negative label"
    let many = array (Integers [| 0L; 300L |]) [| 2 |] "int64"
    Expect.stringContains (err (NpyImport.labels many 2 "x.npy" None)) "at most 256 classes" "label 300"
    Expect.stringContains (err (NpyImport.labels (read "y_f32.npy") 6 "x.npy" None)) "dtype float32" "float labels"

    let short = err (NpyImport.labels (read "y_short.npy") 6 "x.npy" None)
    Expect.stringContains short "x.npy holds 6 samples but" "the wrong count names the samples file"
    Expect.stringContains short "y_short.npy holds 5 labels" "the wrong count names the labels file"

let private ``subjects are ids when whole numbers, names (ordinal order) when strings; bad ones are refused`` () =
    let ids, names = NpyImport.subjects (read "s_i32.npy") 6 "x" |> ok
    Expect.equal ids [| 3; 3; 5; 5; 7; 7 |] "integer subject ids"
    Expect.isEmpty names "integer subjects have no names"
    let ids, names = NpyImport.subjects (read "s_names_v3.npy") 6 "x" |> ok
    Expect.equal names [ "S01"; "S02"; "Zoë" ] "subject names in ordinal order"
    Expect.equal ids [| 0; 0; 1; 1; 2; 2 |] "subject ids index the names"
    let big = array (Integers [| 70000L |]) [| 1 |] "int32"

    Expect.stringContains
        (err (NpyImport.subjects big 1 "x"))
        "sample 0 has subject id 70000 outside 0..65535"
        "a subject id past 65535"

    let empty = array (Strings [| "S1"; "" |]) [| 2 |] "<U2"

    Expect.stringContains
        (err (NpyImport.subjects empty 2 "x"))
        "sample 1 has an empty subject name"
        "an empty subject name"

let private ``a whole data set: samples, names, subjects and a source naming the files`` () =
    let d =
        NpyImport.dataset Nchw None (read "x_nchw_f32.npy") (read "y_str.npy") (Some(read "s_names_v3.npy"))
        |> ok

    Expect.equal d.Shape (Shape3(3, 4, 2)) "the data set's shape"
    Expect.equal d.Classes [ "sit"; "stand"; "walk" ] "the data set's classes"
    Expect.equal d.SubjectNames [ "S01"; "S02"; "Zoë" ] "the data set's subject names"
    Expect.stringContains d.Source "x_nchw_f32.npy" "the source names the samples file"
    Expect.stringContains d.Source "y_str.npy" "the source names the labels file"
    Expect.stringContains d.Source "nchw" "the source names the layout"

    let alone =
        NpyImport.dataset Nchw None (read "x_nchw_f32.npy") (read "y_i64.npy") None
        |> ok

    Expect.equal alone.Subjects (Array.zeroCreate<int> 6) "no subjects file: every sample is subject 0"

    Expect.stringContains
        (err (NpyImport.dataset Nchw (Some [ "a"; "a" ]) (read "x_nchw_f32.npy") (read "y_i64.npy") None))
        "twice"
        "a class named twice"

    Expect.stringContains
        (err (NpyImport.dataset Nchw (Some [ "a"; ""; "c" ]) (read "x_nchw_f32.npy") (read "y_i64.npy") None))
        "empty name"
        "an empty class name"

[<Tests>]
let tests =
    testList "NpyImportTests" [
        testCase
            "the fixtures read as HWC samples: nchw, nhwc, big-endian, int16, format 2.0"
            ``the fixtures read as HWC samples: nchw, nhwc, big-endian, int16, format 2.0``
        testCase
            "a Fortran-order uint8 array and a rank-3 (N, C, W) signal read as HWC samples"
            ``a Fortran-order uint8 array and a rank-3 (N, C, W) signal read as HWC samples``
        testPropertyWithConfig
            (Properties.tests 100)
            "samples written in either layout and dtype read back as the same HWC samples"
            ``samples written in either layout and dtype read back as the same HWC samples``
        testCase
            "bad samples are refused naming the file and the sample: dtype, NaN, rank, no samples"
            ``bad samples are refused naming the file and the sample: dtype, NaN, rank, no samples``
        testCase
            "integer labels index class0..class(K-1) or the given classes; string labels name classes"
            ``integer labels index class0..class(K-1) or the given classes; string labels name classes``
        testCase
            "a label out of range, unknown to --classes, negative, float or of the wrong count is refused"
            ``a label out of range, unknown to --classes, negative, float or of the wrong count is refused``
        testCase
            "subjects are ids when whole numbers, names (ordinal order) when strings; bad ones are refused"
            ``subjects are ids when whole numbers, names (ordinal order) when strings; bad ones are refused``
        testCase
            "a whole data set: samples, names, subjects and a source naming the files"
            ``a whole data set: samples, names, subjects and a source naming the files``
    ]
