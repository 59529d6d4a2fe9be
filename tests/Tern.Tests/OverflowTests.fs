/// Sizes that pass int.MaxValue: a layer's weight count, a tensor's or a data set sample's size. Computed in 32 bits
/// they once wrapped to a small count that a crafted file matched, passed validation and failed later ("Index was
/// outside the bounds of the array", out of memory). They are refused on load, naming the layer or the file.
module Tern.Tests.OverflowTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core
open Tern.Tests.CliTests
open Tern.Tests.ModelFileBytes

/// A property that fails with the reason given.
let private (|@) (ok: bool) (why: string) = Prop.label why ok

/// A version 1 model file whose payload, after its kind, is written by hand, so that a model the writer refuses
/// can still be put on disk.
let private modelFile (kind: byte) (write: BinaryWriter -> unit) : byte[] =
    frame
        kind
        (payload (fun w ->
            w.Write kind
            write w))

let private ints (w: BinaryWriter) (n: int) (v: int) =
    w.Write n

    for _ in 1..n do
        w.Write v

/// (inputs, outputs) of a dense layer whose weight count inputs * outputs passes int.MaxValue and wraps, in 32
/// bits, to inputs * m: a small array that a crafted file can hold.
let private wrappingDense: Gen<int * int * int> =
    gen {
        let! k = Gen.choose (14, 16)
        let! m = Gen.choose (1, 2)
        let inputs = 1 <<< k
        return inputs, (1 <<< (32 - k)) + m, inputs * m
    }

/// A float model file: input 1x1xinputs, one dense layer of the given weight count.
let private floatDense (inputs: int) (outputs: int) (weights: int) : byte[] =
    modelFile 1uy (fun w ->
        str w "wrapped"
        shape w (Shape3(1, 1, inputs))
        w.Write 0 // no class names
        w.Write 1 // one layer
        w.Write 11uy // dense
        w.Write inputs
        w.Write outputs
        w.Write weights

        for _ in 1..weights do
            w.Write 0.0f

        w.Write outputs

        for _ in 1..outputs do
            w.Write 0.0f)

/// An integer model file: input 1x1xinputs, one int8 dense layer named "big" of the given weight count.
let private intDense (inputs: int) (outputs: int) (weights: int) : byte[] =
    modelFile 2uy (fun w ->
        str w "wrapped"
        shape w (Shape3(1, 1, inputs))
        w.Write 0.5f // input scale
        w.Write 0 // input zero
        w.Write 0 // no class names
        w.Write 1 // one layer
        w.Write(byte IntLayerKind.Dense)
        str w "big"
        shape w (Shape3(1, 1, inputs))
        shape w (Shape3(1, 1, outputs))

        for v in [ 1; 1; 1; 1; 0; 0 ] do // kernel, stride, padding (h, w)
            w.Write v

        w.Write(byte WeightKind.Int8)
        w.Write weights
        w.Write(Array.zeroCreate<byte> weights)
        ints w outputs 0 // bias
        ints w outputs (1 <<< 30) // multiplier
        ints w outputs 31 // shift

        for v in [ 0; 0; -128; 127 ] do // zero points, clamp
            w.Write v

        w.Write 0.5f
        w.Write 0.5f
        w.Write outputs

        for _ in 1..outputs do
            w.Write 0.01f)

let private refused (fragment: string) (r: Result<'a, string>) =
    match r with
    | Ok _ -> false |@ "loaded"
    | Error e -> e.Contains(fragment: string) |@ e

let private ``a dense layer whose weight count wraps past int.MaxValue is refused naming the layer`` () =
    Prop.forAll (Arb.fromGen wrappingDense) (fun (inputs, outputs, weights) ->
        (ModelFile.deserialize (floatDense inputs outputs weights)
         |> refused "layer 0 (dense): weight needs")
        .&. (ModelFile.deserialize (intDense inputs outputs weights)
             |> refused "layer 'big' (Dense)"))

let private ``Model.validate refuses a conv weight count past int.MaxValue, whatever the factors`` () =
    // OutChannels x KernelH x KernelW x InChannels past int.MaxValue; the file's weight array could be any length.
    let gen =
        gen {
            let! k = Gen.choose (1, 3)
            let! inC = Gen.choose (1 <<< 16, 1 <<< 20)
            let! outC = Gen.choose ((Int32.MaxValue / (k * k * inC)) + 1, Int32.MaxValue / 2)
            let! length = Gen.elements [ 0; 1; 64 ]
            return k, inC, outC, length
        }

    Prop.forAll (Arb.fromGen gen) (fun (k, inC, outC, length) ->
        let model = {
            Name = "wide"
            Input = Shape3(k, k, inC)
            Layers = [
                Conv2d {
                    InChannels = inC
                    OutChannels = outC
                    KernelH = k
                    KernelW = k
                    StrideH = 1
                    StrideW = 1
                    Pad = Padding.none
                    Weight = Array.zeroCreate length
                    Bias = Array.zeroCreate 1
                }
            ]
            Classes = []
            Meta = Map.empty
        }

        Model.validate model |> refused "layer 0 (conv2d): weight needs")

let private ``Shape3.Size refuses to wrap past int.MaxValue`` () =
    Expect.throwsT<OverflowException> (fun () -> Shape3(65536, 65537, 1).Size |> ignore) "the 32-bit size"

    Expect.equal (Shape3(65536, 65537, 1).SizeInt64) (65536L * 65537L) "the 64-bit size"

/// A data set folder of one sample whose files match the 32-bit (wrapped) sample size of the shape.
let private crafted (dims: int[]) (sampleBytes: int) : string =
    let dir = Scratch.folder "tern-overflow"

    File.WriteAllText(
        Path.Combine(dir, "dataset.json"),
        $"""{{"format": "tern-dataset", "version": 1, "shape": [{dims[0]}, {dims[1]}, {dims[2]}], "count": 1, "classes": ["a"], "source": "crafted"}}"""
    )

    File.WriteAllBytes(Path.Combine(dir, "samples.f32"), Array.zeroCreate sampleBytes)
    File.WriteAllBytes(Path.Combine(dir, "labels.u8"), [| 0uy |])
    File.WriteAllBytes(Path.Combine(dir, "subjects.u16"), [| 0uy; 0uy |])
    dir

let private ``a data set shape whose size wraps past int.MaxValue is refused naming dataset.json`` () =
    // H = 2^a and W = 2^(32-a) + 1: H x W wraps to 2^a elements in 32 bits, a sample of 2^(a+2) bytes.
    let gen =
        gen {
            let! a = Gen.choose (4, 12)
            let dims = [| 1 <<< a; (1 <<< (32 - a)) + 1; 1 |]
            let! order = Gen.elements [ [| 0; 1; 2 |]; [| 1; 0; 2 |]; [| 2; 0; 1 |] ]
            return order |> Array.map (fun i -> dims[i]), 4 <<< a
        }

    Prop.forAll (Arb.fromGen gen) (fun (dims, sampleBytes) ->
        let dir = crafted dims sampleBytes

        try
            Dataset.load dir |> refused "dataset.json"
        finally
            Directory.Delete(dir, true))

module private OverflowCliTests =
    let private dir = lazy (Scratch.folder "tern-overflow-cli")

    let ``inspect and run refuse a wrapped weight count with exit 2 naming the layer`` () =
        let path = Path.Combine(dir.Force(), "wrapped.tern")
        File.WriteAllBytes(path, intDense 65536 65537 65536)

        for verb in [ [ "inspect"; path ]; [ "run"; path; "--input"; "random:1" ] ] do
            let code, _, err = tern verb
            Expect.equal code 2 err
            Expect.stringContains err "layer 'big'" "stderr"
            Expect.isFalse (err.Contains "internal error") $"not an internal error: {err}"

    let ``a data set of shape [4096, 262145, 1] is refused before any allocation, exit 2 naming the file`` () =
        // 4096 x 262145 x 4 bytes wrap to 16384 in 32 bits; the sample itself would take 4 GiB.
        let data = crafted [| 4096; 262145; 1 |] 16384
        let code, _, err = tern [ "data"; "info"; data ]
        Directory.Delete(data, true)
        Expect.equal code 2 err
        Expect.stringContains err "dataset.json" "stderr"
        Expect.stringContains err "4294983680 bytes" "stderr"

[<Tests>]
let tests =
    testList "OverflowTests" [
        testPropertyWithConfig
            (Properties.tests 6)
            "a dense layer whose weight count wraps past int.MaxValue is refused naming the layer"
            ``a dense layer whose weight count wraps past int.MaxValue is refused naming the layer``
        testPropertyWithConfig
            (Properties.tests 50)
            "Model.validate refuses a conv weight count past int.MaxValue, whatever the factors"
            ``Model.validate refuses a conv weight count past int.MaxValue, whatever the factors``
        testCase "Shape3.Size refuses to wrap past int.MaxValue" ``Shape3.Size refuses to wrap past int.MaxValue``
        testPropertyWithConfig
            (Properties.tests 12)
            "a data set shape whose size wraps past int.MaxValue is refused naming dataset.json"
            ``a data set shape whose size wraps past int.MaxValue is refused naming dataset.json``
        testSequenced
        <| testList "OverflowCliTests" [
            testCase
                "inspect and run refuse a wrapped weight count with exit 2 naming the layer"
                OverflowCliTests.``inspect and run refuse a wrapped weight count with exit 2 naming the layer``
            testCase
                "a data set of shape [4096, 262145, 1] is refused before any allocation, exit 2 naming the file"
                OverflowCliTests
                    .``a data set of shape [4096, 262145, 1] is refused before any allocation, exit 2 naming the file``
        ]
    ]
