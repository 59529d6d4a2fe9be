module Tern.Tests.NpyImportTests

open System
open System.IO
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
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

[<Test>]
let ``the fixtures read as HWC samples: nchw, nhwc, big-endian, int16, format 2.0`` () =
    for name, layout in
        [
            "x_nchw_f32.npy", Nchw
            "x_nhwc_f64.npy", Nhwc
            "x_nchw_f32_be.npy", Nchw
            "x_nchw_i16.npy", Nchw
            "x_nchw_f32_v2.npy", Nchw
        ] do
        let shape, samples = NpyImport.samples layout (read name) |> ok
        Assert.That(shape, eq (Shape3(3, 4, 2)), name)
        Assert.That(samples.Length, eq 6, name)

        for n in 0..5 do
            Assert.That(samples[n], eq (position shape n), $"{name} sample {n}")

[<Test>]
let ``a Fortran-order uint8 array and a rank-3 (N, C, W) signal read as HWC samples`` () =
    let shape, samples = NpyImport.samples Nchw (read "x_nchw_u8_fortran.npy") |> ok
    Assert.That(shape, eq (Shape3(2, 4, 2)))

    let expected n =
        Array.init shape.Size (fun k ->
            let c = k % 2
            let w = k / 2 % 4
            let h = k / 8
            float32 (n * 64 + c * 16 + h * 4 + w))

    for n in 0..3 do
        Assert.That(samples[n], eq (expected n), $"sample {n}")

    // (N, C, W) as PyTorch's Conv1d holds it: H = 1.
    let shape1, samples1 = NpyImport.samples Nchw (read "x_ncw_f32.npy") |> ok
    Assert.That(shape1, eq (Shape3(1, 4, 2)))
    Assert.That(samples1[5], eq (position shape1 5))

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

[<Property(MaxTest = 100)>]
let ``samples written in either layout and dtype read back as the same HWC samples`` () =
    Prop.forAll layoutCases (fun (layout, bytes, shape, samples) ->
        let a = Npy.parse "x.npy" bytes |> ok
        let s, back = NpyImport.samples layout a |> ok

        (s = shape && back = samples)
        |> Prop.collect (NpyImport.layoutName layout, a.Shape.Length))

[<Test>]
let ``bad samples are refused naming the file and the sample: dtype, NaN, rank, no samples`` () =
    Assert.That(err (NpyImport.samples Nchw (read "x_i32.npy")), Does.Contain("x_i32.npy: dtype int32"))

    Assert.That(
        err (NpyImport.samples Nchw (read "x_nan.npy")),
        Does.Contain "x_nan.npy: sample 2 holds NaN at [2, 1, 0, 3]"
    )

    let inf = array (Float64s [| 0.0; 1e300 |]) [| 1; 1; 1; 2 |] "float64"

    Assert.That(err (NpyImport.samples Nhwc inf), Does.Contain "sample 0 holds 1E+300, outside float32's range")
    let flat = array (Float32s [| 1.0f; 2.0f |]) [| 2 |] "float32"
    Assert.That(err (NpyImport.samples Nchw flat), Does.Contain "rank 1")
    let none = array (Float32s [||]) [| 0; 1; 2; 2 |] "float32"
    Assert.That(err (NpyImport.samples Nchw none), Does.Contain "no samples")

// ------------------------------------------------------------------ labels and subjects

[<Test>]
let ``integer labels index class0..class(K-1) or the given classes; string labels name classes`` () =
    let ys, names = NpyImport.labels (read "y_i64.npy") 6 "x" None |> ok
    Assert.That(ys, eq [| 0; 1; 2; 0; 1; 2 |])
    Assert.That(names, eq [ "class0"; "class1"; "class2" ])
    let ys8, _ = NpyImport.labels (read "y_u8.npy") 6 "x" None |> ok
    Assert.That(ys8, eq ys)

    for name in [ "y_str.npy"; "y_bytes.npy" ] do
        let ys, names = NpyImport.labels (read name) 6 "x" None |> ok
        Assert.That(names, eq [ "sit"; "stand"; "walk" ], name)
        Assert.That(ys, eq [| 2; 0; 1; 2; 0; 1 |], name)

    let given = Some [ "walk"; "sit"; "stand"; "run" ]
    let ys, names = NpyImport.labels (read "y_str.npy") 6 "x" given |> ok
    Assert.That(ys, eq [| 0; 1; 2; 0; 1; 2 |])
    Assert.That(names, eq given.Value)

[<Test>]
let ``a label out of range, unknown to --classes, negative, float or of the wrong count is refused`` () =
    Assert.That(
        err (NpyImport.labels (read "y_out_of_range.npy") 6 "x.npy" (Some [ "a"; "b"; "c" ])),
        Does.Contain "y_out_of_range.npy: sample 5 has label 9, but --classes names 3 classes (a,b,c)"
    )

    Assert.That(
        err (NpyImport.labels (read "y_str.npy") 6 "x.npy" (Some [ "walk"; "sit" ])),
        Does.Contain "sample 2 has label 'stand', which --classes does not name"
    )

    let negative = array (Integers [| 0L; -1L |]) [| 2 |] "int64"
    Assert.That(err (NpyImport.labels negative 2 "x.npy" None), Does.Contain "sample 1 has label -1")
    let many = array (Integers [| 0L; 300L |]) [| 2 |] "int64"
    Assert.That(err (NpyImport.labels many 2 "x.npy" None), Does.Contain "at most 256 classes")
    Assert.That(err (NpyImport.labels (read "y_f32.npy") 6 "x.npy" None), Does.Contain "dtype float32")

    Assert.That(
        err (NpyImport.labels (read "y_short.npy") 6 "x.npy" None),
        Does.Contain("x.npy holds 6 samples but").And.Contain("y_short.npy holds 5 labels")
    )

[<Test>]
let ``subjects are ids when whole numbers, names (ordinal order) when strings; bad ones are refused`` () =
    let ids, names = NpyImport.subjects (read "s_i32.npy") 6 "x" |> ok
    Assert.That(ids, eq [| 3; 3; 5; 5; 7; 7 |])
    Assert.That(names, Is.Empty)
    let ids, names = NpyImport.subjects (read "s_names_v3.npy") 6 "x" |> ok
    Assert.That(names, eq [ "S01"; "S02"; "Zoë" ])
    Assert.That(ids, eq [| 0; 0; 1; 1; 2; 2 |])
    let big = array (Integers [| 70000L |]) [| 1 |] "int32"
    Assert.That(err (NpyImport.subjects big 1 "x"), Does.Contain "sample 0 has subject id 70000 outside 0..65535")
    let empty = array (Strings [| "S1"; "" |]) [| 2 |] "<U2"
    Assert.That(err (NpyImport.subjects empty 2 "x"), Does.Contain "sample 1 has an empty subject name")

[<Test>]
let ``a whole data set: samples, names, subjects and a source naming the files`` () =
    let d =
        NpyImport.dataset Nchw None (read "x_nchw_f32.npy") (read "y_str.npy") (Some(read "s_names_v3.npy"))
        |> ok

    Assert.That(d.Shape, eq (Shape3(3, 4, 2)))
    Assert.That(d.Classes, eq [ "sit"; "stand"; "walk" ])
    Assert.That(d.SubjectNames, eq [ "S01"; "S02"; "Zoë" ])
    Assert.That(d.Source, Does.Contain("x_nchw_f32.npy").And.Contain("y_str.npy").And.Contain("nchw"))

    let alone =
        NpyImport.dataset Nchw None (read "x_nchw_f32.npy") (read "y_i64.npy") None
        |> ok

    Assert.That(alone.Subjects, eq (Array.zeroCreate<int> 6))

    Assert.That(
        err (NpyImport.dataset Nchw (Some [ "a"; "a" ]) (read "x_nchw_f32.npy") (read "y_i64.npy") None),
        Does.Contain "twice"
    )

    Assert.That(
        err (NpyImport.dataset Nchw (Some [ "a"; ""; "c" ]) (read "x_nchw_f32.npy") (read "y_i64.npy") None),
        Does.Contain "empty name"
    )
