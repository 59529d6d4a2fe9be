module Tern.Tests.OnnxImportCliTests

open System
open System.IO
open System.Text.Json
open Expecto
open Tern.Core
open Tern.Tests.OnnxImportTests

let private tern = CliTests.tern
let private json = CliTests.json

let private dir = lazy (Scratch.folder "tern-onnx-cli")
let private path name = Path.Combine(dir.Value, name)
let private fixturePath = Fixtures.onnx

// Runs a command that must be refused: exit 2, the message on stderr, nothing written in the folder.
let private refused (args: string list) : string =
    let before = Directory.GetFiles dir.Value |> Set.ofArray
    let code, out, err = tern args
    Expect.equal code 2 $"stdout: {out}\nstderr: {err}"
    Expect.stringStarts err "tern: " "stderr"
    Expect.isFalse (err.Contains "internal error") $"not an internal error: {err}"
    Expect.equal (Directory.GetFiles dir.Value |> Set.ofArray) before "a file was written"
    err

let private ``import onnx --json prints one object with the layers, the source and the notes`` () =
    let out = path "ir.tern"

    let code, stdout, err =
        tern [
            "import"
            "onnx"
            fixturePath "inverted_residual.onnx"
            "--out"
            out
            "--classes"
            "walk,run,sit,stand,lie"
            "--json"
        ]

    Expect.equal code 0 err
    let j = json stdout
    Expect.equal (j.GetProperty("out").GetString()) out "out"

    let ints (e: JsonElement) =
        e.EnumerateArray() |> Seq.map (fun v -> v.GetInt32()) |> Seq.toList

    Expect.isTrue (ints (j.GetProperty "input") = [ 16; 16; 3 ]) "input"

    let classes =
        j.GetProperty("classes").EnumerateArray()
        |> Seq.map (fun v -> v.GetString())
        |> Seq.toList

    Expect.isTrue (classes = [ "walk"; "run"; "sit"; "stand"; "lie" ]) "classes"

    Expect.equal (j.GetProperty("layers").GetArrayLength()) 17 "layers"
    Expect.isGreaterThan (j.GetProperty("params").GetInt32()) 0 "params"
    Expect.isGreaterThan (j.GetProperty("macs").GetInt64()) 0L "macs"
    let src = j.GetProperty "source"
    Expect.equal (src.GetProperty("file").GetString()) "inverted_residual.onnx" "file"
    Expect.stringHasLength (src.GetProperty("sha256").GetString()) 64 "sha256"
    Expect.equal (src.GetProperty("opset").GetInt32()) 13 "opset"
    Expect.stringStarts (src.GetProperty("producer").GetString()) "pytorch" "producer"
    Expect.equal (src.GetProperty("input_name").GetString()) "input" "input_name"
    Expect.isTrue (ints (src.GetProperty "input_shape") = [ 1; 3; 16; 16 ]) "input_shape"

    Expect.exists
        (j.GetProperty("notes").EnumerateArray() |> Seq.map (fun v -> v.GetString()))
        (fun note -> note.Contains "softmax")
        "a note names the softmax"

    // The file holds the model and its source; inspect reads it.
    match ModelFile.load out with
    | Ok(FloatModel m) ->
        Expect.equal (m.Meta["source.sha256"]) (src.GetProperty("sha256").GetString()) "the model's source.sha256"
        Expect.equal m.Classes.Length 5 "the model's classes"
    | other -> failtest $"{other}"

    let code, _, err = tern [ "inspect"; out; "--json" ]
    Expect.equal code 0 err

let private ``the human summary names the source, the layers and the notes`` () =
    let code, stdout, err =
        tern [ "import"; "onnx"; fixturePath "asymmetric_pad.onnx"; "--out"; path "ap.tern" ]

    Expect.equal code 0 err
    Expect.stringContains stdout "pytorch 1.13" "stdout"
    Expect.stringContains stdout "note: pad '/Pad' folded into conv2d_0" "stdout"
    Expect.stringContains stdout "wrote" "stdout"

let private ``a refused model exits 2 naming the node and writes nothing`` (name: string, expected: string list) =
    let err =
        refused [ "import"; "onnx"; fixturePath name; "--out"; path "refused.tern" ]

    for part in expected do
        Expect.stringContains err part "stderr"

let private ``malformed, truncated and missing files exit 2 and write nothing`` () =
    let junk = Path.Combine(Path.GetTempPath(), $"tern-junk-{Guid.NewGuid():N}.onnx")
    let cut = Path.Combine(Path.GetTempPath(), $"tern-cut-{Guid.NewGuid():N}.onnx")

    try
        let bytes = Array.zeroCreate<byte> 300
        Random(3).NextBytes bytes
        File.WriteAllBytes(junk, bytes)
        let original = File.ReadAllBytes(fixturePath "resnet_basic.onnx")
        File.WriteAllBytes(cut, Array.truncate (original.Length / 2) original)

        for file in [ junk; cut ] do
            let err = refused [ "import"; "onnx"; file; "--out"; path "bad.tern" ]
            Expect.stringContains err (Path.GetFileName file) "stderr"

        let err =
            refused [ "import"; "onnx"; path "does-not-exist.onnx"; "--out"; path "bad.tern" ]

        Expect.stringContains err "does-not-exist.onnx" "stderr"
    finally
        File.Delete junk
        File.Delete cut

let private ``--classes of the wrong count or with an empty name is refused`` () =
    // matmul_add.onnx has four outputs
    let withClasses (classes: string) =
        refused [
            "import"
            "onnx"
            fixturePath "matmul_add.onnx"
            "--out"
            path "c.tern"
            "--classes"
            classes
        ]

    Expect.stringContains (withClasses "a,b") "2 class names" "two names for four outputs"
    Expect.stringContains (withClasses "a,,c,d") "empty" "an empty name"

let private ``an imported model lowers and runs bit-exact on the host runtimes`` () =
    let code, _, err =
        tern [ "import"; "onnx"; fixturePath "resnet_basic.onnx"; "--out"; path "rb.tern" ]

    Expect.equal code 0 err

    let code, _, err =
        tern [
            "lower"
            path "rb.tern"
            "--weights"
            "int8"
            "--calib"
            "random:16"
            "--out"
            path "rb-s8.tern"
        ]

    Expect.equal code 0 err

    CliTests.runsBitExact (path "rb-s8.tern") 50

let private ``tern run takes the imported float model`` () =
    let code, _, err =
        tern [ "import"; "onnx"; fixturePath "imu_1d.onnx"; "--out"; path "imu.tern" ]

    Expect.equal code 0 err

    let code, stdout, err =
        tern [ "run"; path "imu.tern"; "--input"; "random:20"; "--json" ]

    Expect.equal code 0 err
    Expect.equal ((json stdout).GetProperty("samples").GetInt32()) 20 "samples"

let private ``an imported model goes straight to ternary fine-tuning with --epochs 0`` () =
    let m = path "imu.tern"

    let code, _, err = tern [ "import"; "onnx"; fixturePath "imu_1d.onnx"; "--out"; m ]

    Expect.equal code 0 err

    let code, out, err = tern [ "inspect"; m; "--json" ]
    Expect.equal code 0 err

    Expect.equal
        ((json out).GetProperty("meta").GetProperty("source.file").GetString())
        "imu_1d.onnx"
        "meta.source.file"

    let model =
        match ModelFile.load m with
        | Ok(FloatModel f) -> f
        | other -> failwith $"{other}"

    let rng = Random 5

    Dataset.save (path "imu-data") {
        Shape = model.Input
        Classes = model.Classes
        Samples = Array.init 24 (fun _ -> Array.init model.Input.Size (fun _ -> float32 (rng.NextDouble())))
        Labels = Array.init 24 (fun i -> i % model.Classes.Length)
        Subjects = Array.init 24 (fun i -> i % 4)
        SubjectNames = []
        Source = "random test data"
        Augment = NoAugmentation
    }

    let train extra =
        tern (
            [ "train"; "--init"; m; "--data"; path "imu-data"; "--out"; path "imu-t2.tern" ]
            @ extra
        )

    let code, out, err =
        train [ "--epochs"; "0"; "--qat"; "ternary"; "--qat-epochs"; "2"; "--json" ]

    Expect.equal code 0 err
    let j = json out
    Expect.equal (j.GetProperty("epochs").GetInt32()) 0 "epochs"
    Expect.equal (j.GetProperty("qat").GetString()) "ternary" "qat"

    match ModelFile.load (path "imu-t2.tern") with
    | Ok(IntegerModel im) ->
        // The source travels from the import through training and lowering.
        Expect.equal (im.Metadata["source.file"]) "imu_1d.onnx" "the integer model's source.file"
    | other -> failtest $"{other}"

    let code, out, err = tern [ "inspect"; path "imu-t2.tern" ]
    Expect.equal code 0 err
    Expect.stringContains out "source.sha256: " "stdout"

    let refusals = [
        tern [ "train"; "--data"; path "imu-data"; "--out"; path "x.tern"; "--epochs"; "0" ], "needs --init"
        train [ "--sparsity"; "0.3" ], "--sparsity applies only with --qat"
        train [ "--qat-epochs"; "3" ], "--qat-epochs applies only with --qat"
        train [ "--qat"; "ternary"; "--qat-epochs"; "0" ], "--qat-epochs 0"
    ]

    for (code, _, err), expected in refusals do
        Expect.equal code 2 err
        Expect.stringContains err expected "stderr"

[<Tests>]
let tests =
    testSequenced
    <| testList "OnnxImportCliTests" [
        testCase
            "import onnx --json prints one object with the layers, the source and the notes"
            ``import onnx --json prints one object with the layers, the source and the notes``
        testCase
            "the human summary names the source, the layers and the notes"
            ``the human summary names the source, the layers and the notes``
        testList "a refused model exits 2 naming the node and writes nothing" [
            for name, expected in refusals ->
                testCase name
                <| fun () -> ``a refused model exits 2 naming the node and writes nothing`` (name, expected)
        ]
        testCase
            "malformed, truncated and missing files exit 2 and write nothing"
            ``malformed, truncated and missing files exit 2 and write nothing``
        testCase
            "--classes of the wrong count or with an empty name is refused"
            ``--classes of the wrong count or with an empty name is refused``
        testCase
            "an imported model lowers and runs bit-exact on the host runtimes"
            ``an imported model lowers and runs bit-exact on the host runtimes``
        testCase "tern run takes the imported float model" ``tern run takes the imported float model``
        testCase
            "an imported model goes straight to ternary fine-tuning with --epochs 0"
            ``an imported model goes straight to ternary fine-tuning with --epochs 0``
    ]
