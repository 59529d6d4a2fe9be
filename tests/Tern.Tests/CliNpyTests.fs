/// The verbs that bring the user's own NumPy data in and out: data import npy, run on npy or folder inputs with
/// --save-outputs, lower --calib with real data.
module Tern.Tests.CliNpyTests

open System
open System.IO
open Expecto
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Tests.Assertions
open Tern.Tests.CliTests

let private fixture = Fixtures.npy

let private shape = Shape3(64, 64, 1)
let private rng = Random(7)

/// 12 samples of the default model's input, HWC.
let private samples =
    Array.init 12 (fun _ -> Array.init shape.Size (fun _ -> float32 (rng.NextDouble())))

let private floatModelAt (file: string) =
    match ModelFile.load file |> ok with
    | FloatModel m -> m
    | IntegerModel _ -> failwith "expected a float model"

/// The fixture's folder: the default float model, its lowering, the samples as .npy (NCHW and NHWC) and as a
/// labelled data set; made on first use.
let private setup =
    lazy
        (let dir = Scratch.folder "tern-clinpy"
         let path name = Path.Combine(dir, name)

         let code, _, err =
             tern [ "model"; "new"; "--arch"; "default"; "--out"; path "float.tern" ]

         Expect.equal code 0 err

         let code, _, err =
             tern [ "lower"; path "float.tern"; "--calib"; "random:8"; "--out"; path "int.tern" ]

         Expect.equal code 0 err
         // The same samples as NCHW (PyTorch's order) and NHWC (already HWC), and as a labelled data set.
         Npy.writeFloat32 (path "x.npy") [| samples.Length; 1; 64; 64 |] (Array.concat samples)
         Npy.writeFloat32 (path "x_nhwc.npy") [| samples.Length; 64; 64; 1 |] (Array.concat samples)

         Dataset.save (path "data") {
             Shape = shape
             Classes = (floatModelAt (path "float.tern")).Classes
             Samples = samples
             Labels = Array.init samples.Length (fun i -> i % 5)
             Subjects = Array.init samples.Length (fun i -> i % 3)
             SubjectNames = [ "S01"; "S02"; "S03" ]
             Source = "random test data"
             Augment = NoAugmentation
         }

         dir)

let private path name = Path.Combine(setup.Value, name)

let private floatModel () = floatModelAt (path "float.tern")

let private intModel () =
    match ModelFile.load (path "int.tern") |> ok with
    | IntegerModel m -> m
    | FloatModel _ -> failwith "expected an integer model"

/// Exit 2, a message naming `needle`, and no file or folder at `out`.
let private refused (args: string list) (needle: string) (out: string) =
    let code, _, err = tern args
    let what = String.Join(" ", args)
    Expect.equal code 2 $"{what}: {err}"
    Expect.stringContains err needle what
    Expect.isFalse (File.Exists out || Directory.Exists out) $"{what} wrote {out}"

let private ``data import npy writes a data set from .npy files and from an .npz; data info shows subject names`` () =
    let code, out, err =
        tern [
            "data"
            "import"
            "npy"
            "--x"
            fixture "x_nhwc_f64.npy"
            "--y"
            fixture "y_str.npy"
            "--subjects"
            fixture "s_names_v3.npy"
            "--layout"
            "nhwc"
            "--out"
            path "imported"
            "--json"
        ]

    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("count").GetInt32()) 6 "count"
    Expect.equal [ for d in j.GetProperty("shape").EnumerateArray() -> d.GetInt32() ] [ 3; 4; 2 ] "shape"
    let code, out, err = tern [ "data"; "info"; path "imported"; "--json" ]
    Expect.equal code 0 err
    let subjects = (json out).GetProperty("per_subject")

    Expect.equal
        [ for p in subjects.EnumerateObject() -> p.Name, p.Value.GetInt32() ]
        [ "S01", 2; "S02", 2; "Zoë", 2 ]
        "per_subject"

    let code, out, err = tern [ "data"; "info"; path "imported" ]
    Expect.equal code 0 err
    Expect.stringContains out "Zoë" "stdout"
    // The same samples as NCHW float32 in an .npz with integer labels and named classes.
    let code, _, err =
        tern [
            "data"
            "import"
            "npy"
            "--npz"
            fixture "data_compressed.npz"
            "--classes"
            "sit,stand,walk"
            "--out"
            path "fromnpz"
        ]

    Expect.equal code 0 err
    let a = Dataset.load (path "imported") |> ok
    let b = Dataset.load (path "fromnpz") |> ok
    Expect.equal b.Samples a.Samples "the samples from the .npz are those from the .npy files"
    Expect.equal b.Classes [ "sit"; "stand"; "walk" ] "the classes named"

let private ``data import npy: truncated, mismatched, bad dtype, out-of-range label, NaN each exit 2 writing nothing``
    ()
    =
    let bytes = File.ReadAllBytes(fixture "x_nchw_f32.npy")
    File.WriteAllBytes(path "cut.npy", bytes[.. bytes.Length - 7])
    let out = path "never"

    let import x y extra =
        [ "data"; "import"; "npy"; "--x"; x; "--y"; y; "--out"; out ] @ extra

    let y = fixture "y_i64.npy"
    refused (import (path "cut.npy") y []) "cut.npy: truncated" out
    refused (import (fixture "x_nchw_f32.npy") (fixture "y_short.npy") []) "holds 5 labels" out
    refused (import (fixture "x_i32.npy") y []) "x_i32.npy: dtype int32" out
    refused (import (fixture "x_nchw_f32.npy") (fixture "y_f32.npy") []) "y_f32.npy: dtype float32" out

    refused
        (import (fixture "x_nchw_f32.npy") (fixture "y_out_of_range.npy") [ "--classes"; "a,b,c" ])
        "sample 5 has label 9"
        out

    refused (import (fixture "x_nan.npy") y []) "x_nan.npy: sample 2 holds NaN" out
    refused (import (fixture "objects.npy") y []) "pickled" out
    refused (import (fixture "x_nchw_f32.npy") y [ "--subjects"; fixture "y_f32.npy" ]) "subjects must be" out
    refused [ "data"; "import"; "npy"; "--x"; fixture "x_nchw_f32.npy"; "--out"; out ] "--y" out

    refused
        [
            "data"
            "import"
            "npy"
            "--npz"
            fixture "data_compressed.npz"
            "--y"
            y
            "--out"
            out
        ]
        "--npz"
        out

let private ``data import csv takes subject names such as S01`` () =
    let rows = [
        for i in 0..299 ->
            let label = if i % 150 < 75 then "rest" else "move"
            let subject = if i < 150 then "S01" else "S02"
            $"{i * 10},{sin (float i * 0.3):F4},{label},{subject}"
    ]

    File.WriteAllLines(path "named.csv", "t,x,activity,who" :: rows)

    let code, out, err =
        tern [
            "data"
            "import"
            "csv"
            "--in"
            path "named.csv"
            "--columns"
            "x"
            "--label"
            "activity"
            "--subject"
            "who"
            "--rate"
            "100"
            "--time"
            "t"
            "--window"
            "16"
            "--hop"
            "8"
            "--out"
            path "named"
            "--json"
        ]

    Expect.equal code 0 err
    let subjects = (json out).GetProperty("raw").GetProperty("per_subject")
    Expect.equal [ for p in subjects.EnumerateObject() -> p.Name ] [ "S01"; "S02" ] "raw.per_subject names"

let private ``run saves float32 logits of a float model and int8 or dequantized outputs of an integer model`` () =
    let code, out, err =
        tern [
            "run"
            path "float.tern"
            "--input"
            ("npy:" + path "x.npy")
            "--save-outputs"
            path "yf.npy"
            "--json"
        ]

    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("samples").GetInt32()) samples.Length "samples"
    Expect.equal (j.GetProperty("outputs").GetProperty("dtype").GetString()) "float32" "outputs.dtype"
    let m = floatModel ()
    let yf = Npy.read (path "yf.npy") |> ok

    let expected =
        samples
        |> Array.collect (fun x -> (Forward.run m (Tensor.ofArray m.Input x)).Data)

    Expect.equal yf.Shape [| samples.Length; m.Classes.Length |] "the float outputs' shape"
    Expect.equal yf.Values (Float32s expected) "the float model's logits"

    let im = intModel ()

    let codes =
        Runner.RunBatch(
            im,
            KernelMode.Scalar,
            samples
            |> Array.map (fun x -> Lower.quantizeInput im (Tensor.ofArray im.Input x)),
            1
        )

    for input, layout in [ "x.npy", []; "x_nhwc.npy", [ "--layout"; "nhwc" ] ] do
        let code, out, err =
            tern (
                [
                    "run"
                    path "int.tern"
                    "--input"
                    $"npy:{path input}"
                    "--save-outputs"
                    path "yi.npy"
                    "--check"
                    "--json"
                ]
                @ layout
            )

        Expect.equal code 0 err
        Expect.equal ((json out).GetProperty("mismatches").GetInt32()) 0 "mismatches"
        let yi = Npy.read (path "yi.npy") |> ok
        Expect.equal yi.DType "int8" "the integer outputs' dtype"
        Expect.equal yi.Values (Integers(codes |> Array.concat |> Array.map int64)) input

    let code, _, err =
        tern [
            "run"
            path "int.tern"
            "--input"
            ("npy:" + path "x.npy")
            "--save-outputs"
            path "yd.npy"
            "--dequantize"
        ]

    Expect.equal code 0 err
    let p = Lower.outputParams im
    let yd = Npy.read (path "yd.npy") |> ok
    Expect.equal yd.Values (Float32s(codes |> Array.collect (Lower.dequantize p))) "the dequantized outputs"
    Expect.isEmpty (Directory.GetFiles(setup.Value, "*.tmp-*")) "temporaries left"

let private ``run on a labelled data set reports accuracy and samples, for both kinds of model`` () =
    for model in [ "float.tern"; "int.tern" ] do
        let code, out, err = tern [ "run"; path model; "--input"; path "data"; "--json" ]
        Expect.equal code 0 err
        let j = json out
        Expect.equal (j.GetProperty("samples").GetInt32()) samples.Length "samples"
        let correct = j.GetProperty("correct").GetInt32()
        Expect.equal (j.GetProperty("accuracy").GetDouble()) (float correct / float samples.Length) "accuracy"

    // The float model's accuracy is that of its own predictions against the labels.
    let m = floatModel ()

    let right =
        samples
        |> Array.mapi (fun i x -> Tensor.argmax (Forward.run m (Tensor.ofArray m.Input x)).Data = i % 5)
        |> Array.filter id
        |> Array.length

    let _, out, _ = tern [ "run"; path "float.tern"; "--input"; path "data"; "--json" ]
    Expect.equal ((json out).GetProperty("correct").GetInt32()) right "correct"

let private ``run and lower refuse options that do not apply, and inputs of the wrong shape`` () =
    let x = ("npy:" + path "x.npy")
    let out = path "refused.npy"
    refused [ "run"; path "int.tern"; "--input"; "random:3"; "--layout"; "nhwc" ] "--layout" out
    refused [ "run"; path "int.tern"; "--input"; path "data"; "--layout"; "nchw" ] "--layout" out

    refused
        [
            "run"
            path "float.tern"
            "--input"
            x
            "--dequantize"
            "--save-outputs"
            out
        ]
        "float model"
        out

    refused [ "run"; path "int.tern"; "--input"; x; "--dequantize" ] "--save-outputs" out
    refused [ "run"; path "float.tern"; "--input"; x; "--check"; "--save-outputs"; out ] "--check" out
    refused [ "run"; path "int.tern"; "--input"; x; "--seed"; "2"; "--save-outputs"; out ] "--seed" out

    refused
        [
            "run"
            path "int.tern"
            "--input"
            ("npy:" + fixture "x_nchw_f32.npy")
            "--save-outputs"
            out
        ]
        "samples are 3x4x2 (HWC; array shape (6, 2, 3, 4) read as nchw), the model takes 64x64x1"
        out

    refused
        [
            "run"
            path "int.tern"
            "--input"
            ("npy:" + path "x_nhwc.npy")
            "--save-outputs"
            out
        ]
        "--layout nhwc"
        out

    refused
        [
            "run"
            path "int.tern"
            "--input"
            "npy:" + path "nope.npy"
            "--save-outputs"
            out
        ]
        "no such file"
        out

    let lowered = path "refused.tern"

    refused
        [
            "lower"
            path "float.tern"
            "--calib"
            "random:4"
            "--calib-count"
            "2"
            "--out"
            lowered
        ]
        "--calib-count"
        lowered

    refused
        [
            "lower"
            path "float.tern"
            "--calib"
            "random:4"
            "--layout"
            "nchw"
            "--out"
            lowered
        ]
        "--layout"
        lowered

    refused [ "lower"; path "float.tern"; "--calib"; path "missing"; "--out"; lowered ] "no such folder" lowered

    refused
        [
            "lower"
            path "float.tern"
            "--calib"
            ("npy:" + fixture "x_nan.npy")
            "--out"
            lowered
        ]
        "NaN"
        lowered

let private ``lower calibrates on a data set or an npy file: the same samples give the same model, seeded subsets`` () =
    let lower (calib: string) (extra: string list) =
        let code, out, err =
            tern (
                [
                    "lower"
                    path "float.tern"
                    "--calib"
                    calib
                    "--out"
                    path "l.tern"
                    "--json"
                ]
                @ extra
            )

        Expect.equal code 0 err
        let j = json out
        j.GetProperty("hash").GetString(), j.GetProperty("calibration_samples").GetInt32()

    let fromDir, n = lower (path "data") []
    Expect.equal n samples.Length "calibration_samples"
    let fromNpy, _ = lower ("npy:" + path "x.npy") []
    let fromNhwc, _ = lower ("npy:" + path "x_nhwc.npy") [ "--layout"; "nhwc" ]
    Expect.equal fromNpy fromDir "the model calibrated on x.npy is the one calibrated on the folder"
    Expect.equal fromNhwc fromDir "the model calibrated on x_nhwc.npy is the one calibrated on the folder"
    let fromRandom, _ = lower "random:12" []
    Expect.notEqual fromRandom fromDir "random calibration gives another model"
    // A seeded, class-stratified subset: 5 of 12 samples, the same for the same seed.
    let a, k = lower (path "data") [ "--calib-count"; "5"; "--seed"; "3" ]
    let b, _ = lower (path "data") [ "--calib-count"; "5"; "--seed"; "3" ]
    Expect.equal k 5 "calibration_samples with --calib-count 5"
    Expect.equal b a "the same seed gives the same model"

[<Tests>]
let tests =
    testSequenced
    <| testList "CliNpyTests" [
        testCase
            "data import npy writes a data set from .npy files and from an .npz; data info shows subject names"
            ``data import npy writes a data set from .npy files and from an .npz; data info shows subject names``
        testCase
            "data import npy: truncated, mismatched, bad dtype, out-of-range label, NaN each exit 2 writing nothing"
            ``data import npy: truncated, mismatched, bad dtype, out-of-range label, NaN each exit 2 writing nothing``
        testCase "data import csv takes subject names such as S01" ``data import csv takes subject names such as S01``
        testCase
            "run saves float32 logits of a float model and int8 or dequantized outputs of an integer model"
            ``run saves float32 logits of a float model and int8 or dequantized outputs of an integer model``
        testCase
            "run on a labelled data set reports accuracy and samples, for both kinds of model"
            ``run on a labelled data set reports accuracy and samples, for both kinds of model``
        testCase
            "run and lower refuse options that do not apply, and inputs of the wrong shape"
            ``run and lower refuse options that do not apply, and inputs of the wrong shape``
        testCase
            "lower calibrates on a data set or an npy file: the same samples give the same model, seeded subsets"
            ``lower calibrates on a data set or an npy file: the same samples give the same model, seeded subsets``
    ]
