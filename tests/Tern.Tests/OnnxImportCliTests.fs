module Tern.Tests.OnnxImportCliTests

open System
open System.IO
open System.Text.Json
open NUnit.Framework
open Tern.Core
open Tern.Tests.OnnxImportTests

let private tern = CliTests.tern
let private json = CliTests.json

[<NonParallelizable>]
type OnnxImportCliTests() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-onnx-cli-" + Guid.NewGuid().ToString("N"))

    let path name = Path.Combine(dir, name)
    let fixturePath = Fixtures.onnx

    // Runs a command that must be refused: exit 2, the message on stderr, nothing written in the folder.
    let refused (args: string list) : string =
        let before = Directory.GetFiles dir |> Set.ofArray
        let code, out, err = tern args
        Assert.That(code, Is.EqualTo 2, $"stdout: {out}\nstderr: {err}")
        Assert.That(err, Does.StartWith "tern: ")
        Assert.That(err, Does.Not.Contain "internal error")
        Assert.That(Directory.GetFiles dir |> Set.ofArray, Is.EquivalentTo before, "a file was written")
        err

    [<OneTimeSetUp>]
    member _.Setup() = Directory.CreateDirectory dir |> ignore

    [<OneTimeTearDown>]
    member _.TearDown() = Directory.Delete(dir, true)

    [<Test>]
    member _.``import onnx --json prints one object with the layers, the source and the notes``() =
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

        Assert.That(code, Is.EqualTo 0, err)
        let j = json stdout
        Assert.That(j.GetProperty("out").GetString(), Is.EqualTo out)

        let ints (e: JsonElement) =
            e.EnumerateArray() |> Seq.map (fun v -> v.GetInt32()) |> Seq.toList

        Assert.That(ints (j.GetProperty "input") = [ 16; 16; 3 ], "input")

        let classes =
            j.GetProperty("classes").EnumerateArray()
            |> Seq.map (fun v -> v.GetString())
            |> Seq.toList

        Assert.That((classes = [ "walk"; "run"; "sit"; "stand"; "lie" ]), "classes")

        Assert.That(j.GetProperty("layers").GetArrayLength(), Is.EqualTo 17)
        Assert.That(j.GetProperty("params").GetInt32(), Is.GreaterThan 0)
        Assert.That(j.GetProperty("macs").GetInt64(), Is.GreaterThan 0L)
        let src = j.GetProperty "source"
        Assert.That(src.GetProperty("file").GetString(), Is.EqualTo "inverted_residual.onnx")
        Assert.That(src.GetProperty("sha256").GetString(), Has.Length.EqualTo 64)
        Assert.That(src.GetProperty("opset").GetInt32(), Is.EqualTo 13)
        Assert.That(src.GetProperty("producer").GetString(), Does.StartWith "pytorch")
        Assert.That(src.GetProperty("input_name").GetString(), Is.EqualTo "input")
        Assert.That(ints (src.GetProperty "input_shape") = [ 1; 3; 16; 16 ], "input_shape")

        Assert.That(
            j.GetProperty("notes").EnumerateArray() |> Seq.map (fun v -> v.GetString()),
            Has.Some.Contains "softmax"
        )

        // The file holds the model and its source; inspect reads it.
        match ModelFile.load out with
        | Ok(FloatModel m) ->
            Assert.That(m.Meta["source.sha256"], Is.EqualTo(src.GetProperty("sha256").GetString()))
            Assert.That(m.Classes.Length, Is.EqualTo 5)
        | other -> Assert.Fail $"{other}"

        let code, _, err = tern [ "inspect"; out; "--json" ]
        Assert.That(code, Is.EqualTo 0, err)

    [<Test>]
    member _.``the human summary names the source, the layers and the notes``() =
        let code, stdout, err =
            tern [ "import"; "onnx"; fixturePath "asymmetric_pad.onnx"; "--out"; path "ap.tern" ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That(stdout, Does.Contain "pytorch 1.13")
        Assert.That(stdout, Does.Contain "note: pad '/Pad' folded into conv2d_0")
        Assert.That(stdout, Does.Contain "wrote")

    [<TestCaseSource(typeof<OnnxImportCliTests>, "Refusals")>]
    member _.``a refused model exits 2 naming the node and writes nothing``(name: string, expected: string list) =
        let err =
            refused [ "import"; "onnx"; fixturePath name; "--out"; path "refused.tern" ]

        for part in expected do
            Assert.That(err, Does.Contain part)

    static member Refusals: TestCaseData list =
        refusals |> List.map (fun (name, expected) -> TestCaseData(name, expected))

    [<Test>]
    member _.``malformed, truncated and missing files exit 2 and write nothing``() =
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
                Assert.That(err, Does.Contain(Path.GetFileName file))

            let err =
                refused [ "import"; "onnx"; path "does-not-exist.onnx"; "--out"; path "bad.tern" ]

            Assert.That(err, Does.Contain "does-not-exist.onnx")
        finally
            File.Delete junk
            File.Delete cut

    [<Test>]
    member _.``--classes of the wrong count or with an empty name is refused``() =
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

        Assert.That(withClasses "a,b", Does.Contain "2 class names")
        Assert.That(withClasses "a,,c,d", Does.Contain "empty")

    [<Test>]
    member _.``an imported model lowers and runs bit-exact on the host runtimes``() =
        let code, _, err =
            tern [ "import"; "onnx"; fixturePath "resnet_basic.onnx"; "--out"; path "rb.tern" ]

        Assert.That(code, Is.EqualTo 0, err)

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

        Assert.That(code, Is.EqualTo 0, err)

        CliTests.runsBitExact (path "rb-s8.tern") 50

    [<Test>]
    member _.``tern run takes the imported float model``() =
        let code, _, err =
            tern [ "import"; "onnx"; fixturePath "imu_1d.onnx"; "--out"; path "imu.tern" ]

        Assert.That(code, Is.EqualTo 0, err)

        let code, stdout, err =
            tern [ "run"; path "imu.tern"; "--input"; "random:20"; "--json" ]

        Assert.That(code, Is.EqualTo 0, err)
        Assert.That((json stdout).GetProperty("samples").GetInt32(), Is.EqualTo 20)

    [<Test>]
    member _.``an imported model goes straight to ternary fine-tuning with --epochs 0``() =
        let m = path "imu.tern"

        let code, _, err = tern [ "import"; "onnx"; fixturePath "imu_1d.onnx"; "--out"; m ]

        Assert.That(code, Is.EqualTo 0, err)

        let code, out, err = tern [ "inspect"; m; "--json" ]
        Assert.That(code, Is.EqualTo 0, err)

        Assert.That((json out).GetProperty("meta").GetProperty("source.file").GetString(), Is.EqualTo "imu_1d.onnx")

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

        Assert.That(code, Is.EqualTo 0, err)
        let j = json out
        Assert.That(j.GetProperty("epochs").GetInt32(), Is.EqualTo 0)
        Assert.That(j.GetProperty("qat").GetString(), Is.EqualTo "ternary")

        match ModelFile.load (path "imu-t2.tern") with
        | Ok(IntegerModel im) ->
            // The source travels from the import through training and lowering.
            Assert.That(im.Metadata["source.file"], Is.EqualTo "imu_1d.onnx")
        | other -> Assert.Fail $"{other}"

        let code, out, err = tern [ "inspect"; path "imu-t2.tern" ]
        Assert.That(code, Is.EqualTo 0, err)
        Assert.That(out, Does.Contain "source.sha256: ")

        let refusals = [
            tern [ "train"; "--data"; path "imu-data"; "--out"; path "x.tern"; "--epochs"; "0" ], "needs --init"
            train [ "--sparsity"; "0.3" ], "--sparsity applies only with --qat"
            train [ "--qat-epochs"; "3" ], "--qat-epochs applies only with --qat"
            train [ "--qat"; "ternary"; "--qat-epochs"; "0" ], "--qat-epochs 0"
        ]

        for (code, _, err), expected in refusals do
            Assert.That(code, Is.EqualTo 2, err)
            Assert.That(err, Does.Contain expected)
