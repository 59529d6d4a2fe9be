module Tern.Tests.OnnxImportTests

open System
open System.IO
open Google.Protobuf
open Microsoft.ML.OnnxRuntime
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime

/// An ONNX fixture's bytes (tests/fixtures/onnx).
let fixture (name: string) : byte[] = File.ReadAllBytes(Fixtures.onnx name)

/// ONNX Runtime as the oracle: the graph's own semantics, no graph optimisations.
module Ort =
    /// The model with a final Softmax removed, so that the graph outputs the logits Tern's import keeps.
    let logitsModel (bytes: byte[]) : byte[] =
        let m = Onnx.ModelProto.Parser.ParseFrom bytes
        let g = m.Graph
        let output = g.Output[0]

        match
            g.Node
            |> Seq.tryFind (fun n -> n.OpType = "Softmax" && n.Output[0] = output.Name)
        with
        | Some softmax ->
            g.Node.Remove softmax |> ignore
            output.Name <- softmax.Input[0]
            m.ToByteArray()
        | None -> bytes

    /// A session on the model's bytes.
    let session (bytes: byte[]) : InferenceSession =
        let options =
            new SessionOptions(
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL,
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR
            )

        new InferenceSession(bytes, options)

    /// Runs one input given as NCHW (or [1, F]) values; returns the first output's values.
    let run (s: InferenceSession) (dims: int64[]) (data: float32[]) : float32[] =
        let name = Seq.head s.InputMetadata.Keys
        use value = OrtValue.CreateTensorValueFromMemory(data, dims)
        use runOptions = new RunOptions()
        let outputName = Seq.head s.OutputMetadata.Keys
        use results = s.Run(runOptions, [| name |], [| value |], [| outputName |])
        results[0].GetTensorDataAsSpan<float32>().ToArray()

/// Building small ONNX graphs in tests (properties use ONNX Runtime on them).
module OnnxBuild =
    let floatTensor (name: string) (dims: int64 list) (values: float32[]) : Onnx.TensorProto =
        let t =
            Onnx.TensorProto(Name = name, DataType = int Onnx.TensorProto.Types.DataType.Float)

        t.Dims.AddRange dims
        t.FloatData.AddRange values
        t

    let intTensor (name: string) (values: int64 list) : Onnx.TensorProto =
        let t =
            Onnx.TensorProto(Name = name, DataType = int Onnx.TensorProto.Types.DataType.Int64)

        t.Dims.Add(int64 values.Length)
        t.Int64Data.AddRange values
        t

    let ints (name: string) (v: int64 list) : Onnx.AttributeProto =
        let a =
            Onnx.AttributeProto(Name = name, Type = Onnx.AttributeProto.Types.AttributeType.Ints)

        a.Ints.AddRange v
        a

    let int (name: string) (v: int64) : Onnx.AttributeProto =
        Onnx.AttributeProto(Name = name, Type = Onnx.AttributeProto.Types.AttributeType.Int, I = v)

    let float (name: string) (v: float32) : Onnx.AttributeProto =
        Onnx.AttributeProto(Name = name, Type = Onnx.AttributeProto.Types.AttributeType.Float, F = v)

    let node (op: string) (inputs: string list) (output: string) (attrs: Onnx.AttributeProto list) : Onnx.NodeProto =
        let n = Onnx.NodeProto(OpType = op, Name = op + "_" + output)
        n.Input.AddRange inputs
        n.Output.Add output
        n.Attribute.AddRange attrs
        n

    let private valueInfo (name: string) (dims: int64 list option) : Onnx.ValueInfoProto =
        let t = Onnx.TypeProto.Types.Tensor(ElemType = 1)

        match dims with
        | Some ds ->
            t.Shape <- Onnx.TensorShapeProto()

            for d in ds do
                t.Shape.Dim.Add(Onnx.TensorShapeProto.Types.Dimension(DimValue = d))
        | None -> ()

        Onnx.ValueInfoProto(Name = name, Type = Onnx.TypeProto(TensorType = t))

    /// A one-input, one-output model of opset 13 (the last node writes "y").
    let model (inputDims: int64 list) (nodes: Onnx.NodeProto list) (initializers: Onnx.TensorProto list) : byte[] =
        let g = Onnx.GraphProto(Name = "g")
        g.Node.AddRange nodes
        g.Initializer.AddRange initializers
        g.Input.Add(valueInfo "x" (Some inputDims))
        g.Output.Add(valueInfo "y" None)
        let m = Onnx.ModelProto(IrVersion = 8L, ProducerName = "tern-tests", Graph = g)
        m.OpsetImport.Add(Onnx.OperatorSetIdProto(Domain = "", Version = 13L))
        m.ToByteArray()

let private random (seed: int) (n: int) : float32[] =
    let rng = Random seed
    Array.init n (fun _ -> float32 (rng.NextDouble() * 3.0 - 1.5))

let private import (name: string) : OnnxImported =
    match OnnxImport.import name (fixture name) None with
    | Ok r -> r
    | Error e -> failwith $"{name}: {e}"

/// Largest |Tern - ONNX Runtime| relative to the largest |logit|, over `count` random inputs.
/// The largest |Tern - ONNX Runtime| over `count` random inputs, relative to the largest |logit| among them (per input,
/// a single logit whose terms cancel would make any rounding look large).
let private compareWithOrt (bytes: byte[]) (model: Model) (onnxDims: int64[]) (count: int) (seed: int) : float =
    use s = Ort.session (Ort.logitsModel bytes)
    let mutable worstDiff = 0.0
    let mutable scale = 1e-30

    for k in 0 .. count - 1 do
        let data = random (seed + k) model.Input.Size

        let x =
            if onnxDims.Length = 4 then
                OnnxLayout.nchwToHwc model.Input data
            else
                { Shape = model.Input; Data = data }

        let expected = Ort.run s onnxDims data
        let actual = (Forward.run model x).Data
        Expect.equal actual.Length expected.Length "output size"
        scale <- expected |> Array.fold (fun m v -> max m (abs (float v))) scale

        let diff =
            Array.map2 (fun (a: float32) (b: float32) -> abs (float a - float b)) actual expected
            |> Array.max

        worstDiff <- max worstDiff diff

    worstDiff / scale

let private kinds (m: Model) : string list = m.Layers |> List.map Model.kindName

/// (fixture, NCHW input dims given to ONNX Runtime, layer kinds the fixture must produce)
let positiveFixtures: (string * int64[] * string list) list = [
    "inverted_residual.onnx",
    [| 1L; 3L; 16L; 16L |],
    [ "depthwise"; "pointwise"; "relu6"; "add"; "globalavgpool"; "dense" ]
    "imu_1d.onnx", [| 1L; 3L; 1L; 64L |], [ "conv2d"; "relu"; "maxpool"; "depthwise"; "relu6"; "globalavgpool" ]
    "asymmetric_pad.onnx", [| 1L; 2L; 11L; 14L |], [ "conv2d"; "avgpool"; "maxpool"; "flatten"; "dense" ]
    "batchnorm_kept.onnx", [| 1L; 1L; 8L; 8L |], [ "batchnorm"; "relu6"; "flatten"; "dense" ]
    "matmul_add.onnx", [| 1L; 3L; 8L; 8L |], [ "conv2d"; "globalavgpool"; "dense" ]
    "resnet_basic.onnx", [| 1L; 3L; 12L; 12L |], [ "conv2d"; "add"; "relu"; "maxpool"; "dense" ]
    "opset10_dropout.onnx", [| 1L; 2L; 6L; 6L |], [ "conv2d"; "relu6"; "maxpool"; "dense" ]
]

/// (fixture, what the refusal must name)
let refusals: (string * string list) list = [
    "refuse_sigmoid.onnx", [ "'/Sigmoid'"; "(Sigmoid)"; "unsupported operator" ]
    "refuse_concat.onnx", [ "'/Concat'"; "(Concat)"; "unsupported operator" ]
    "refuse_projection.onnx", [ "'/short/Conv'"; "(Conv)"; "chain" ]
    "refuse_two_outputs.onnx", [ "2 outputs"; "'/ReduceMean' (ReduceMean)" ]
    "refuse_maxpool_pad.onnx", [ "'/MaxPool'"; "(MaxPool)"; "non-negative" ]
    "refuse_avgpool_exclude_pad.onnx", [ "'/AveragePool'"; "(AveragePool)"; "count_include_pad=0" ]
    "refuse_dilation.onnx", [ "'/c/Conv'"; "(Conv)"; "dilations" ]
    "refuse_ceil_mode.onnx", [ "'/MaxPool'"; "(MaxPool)"; "ceil_mode" ]
    "refuse_dynamic.onnx", [ "'input'"; "'/c/Conv' (Conv)"; "dynamic spatial shape" ]
]

// ---- generators for graphs built in the tests ----

type PadConvCase = {
    C: int
    Out: int
    H: int
    W: int
    KH: int
    KW: int
    Stride: int
    /// Pad node's pads (top, left, bottom, right) and the conv's own.
    PadNode: int list
    Own: int list
    Seed: int
}

let private padConvGen: Gen<PadConvCase> =
    gen {
        let! c = Gen.choose (1, 3)
        let! out = Gen.choose (1, 3)
        let! kh = Gen.choose (1, 4)
        let! kw = Gen.choose (1, 4)
        let! stride = Gen.choose (1, 2)
        // Each side's total stays below the kernel (Tern's rule); split it between the Pad node and the conv.
        let side k =
            gen {
                let! total = Gen.choose (0, k - 1)
                let! inNode = Gen.choose (0, total)
                return inNode, total - inNode
            }

        let! t = side kh
        let! l = side kw
        let! b = side kh
        let! r = side kw
        let! h = Gen.choose (kh, kh + 5)
        let! w = Gen.choose (kw, kw + 5)
        let! seed = Gen.choose (0, 100000)

        return {
            C = c
            Out = out
            H = h
            W = w
            KH = kh
            KW = kw
            Stride = stride
            PadNode = [ fst t; fst l; fst b; fst r ]
            Own = [ snd t; snd l; snd b; snd r ]
            Seed = seed
        }
    }

type PadConvArb =
    static member Case() = Arb.fromGen padConvGen

// A graph: Pad (zeros, on H and W) -> op (Conv, MaxPool or AveragePool with count_include_pad=1) with own pads.
let private padGraph (op: string) (c: PadConvCase) : byte[] =
    let pn = c.PadNode |> List.map int64
    let own = c.Own |> List.map int64
    let pads = OnnxBuild.intTensor "pads" [ 0L; 0L; pn[0]; pn[1]; 0L; 0L; pn[2]; pn[3] ]
    let padNode = OnnxBuild.node "Pad" [ "x"; "pads" ] "p" []
    let window = [ int64 c.KH; int64 c.KW ]
    let strides = [ int64 c.Stride; int64 c.Stride ]

    let common = [
        OnnxBuild.ints "kernel_shape" window
        OnnxBuild.ints "strides" strides
        OnnxBuild.ints "pads" own
    ]

    let dims = [ 1L; int64 c.C; int64 c.H; int64 c.W ]

    match op with
    | "Conv" ->
        let w =
            OnnxBuild.floatTensor
                "w"
                [ int64 c.Out; int64 c.C; int64 c.KH; int64 c.KW ]
                (random c.Seed (c.Out * c.C * c.KH * c.KW))

        let b = OnnxBuild.floatTensor "b" [ int64 c.Out ] (random (c.Seed + 1) c.Out)
        OnnxBuild.model dims [ padNode; OnnxBuild.node "Conv" [ "p"; "w"; "b" ] "y" common ] [ pads; w; b ]
    | "AveragePool" ->
        OnnxBuild.model dims [
            padNode
            OnnxBuild.node "AveragePool" [ "p" ] "y" (OnnxBuild.int "count_include_pad" 1L :: common)
        ] [ pads ]
    | _ ->
        // ONNX MaxPool pads are -inf: a Relu first makes the input non-negative, where zero padding agrees.
        OnnxBuild.model dims [
            OnnxBuild.node "Relu" [ "x" ] "r" []
            OnnxBuild.node "Pad" [ "r"; "pads" ] "p" []
            OnnxBuild.node "MaxPool" [ "p" ] "y" common
        ] [ pads ]

// ONNX Runtime's output of a built graph on one random NCHW input, and that input.
let private forwardMap (bytes: byte[]) (c: PadConvCase) : float32[] * float32[] =
    use s = Ort.session bytes
    let dims = [| 1L; int64 c.C; int64 c.H; int64 c.W |]
    let data = random (c.Seed + 7) (c.C * c.H * c.W)
    let expected = Ort.run s dims data
    expected, data

/// The float model of a built graph, whose output may be a map (the import refuses that as a model output because
/// its element order differs from NCHW; the test compares in NCHW itself): a global pool appended and taken off.
let private builtModel (bytes: byte[]) : Model =
    let m = Onnx.ModelProto.Parser.ParseFrom bytes
    let g = m.Graph
    let last = g.Output[0].Name
    g.Node.Add(OnnxBuild.node "GlobalAveragePool" [ last ] "pooled" [])
    g.Output[0].Name <- "pooled"

    match OnnxImport.import "built.onnx" (m.ToByteArray()) None with
    | Ok r -> {
        Name = "built"
        Input = r.Model.Input
        Layers = List.truncate (r.Model.Layers.Length - 1) r.Model.Layers
        Classes = []
        Meta = Map.empty
      }
    | Error e -> failwith e

// Relu -> (passThrough) -> Clip(0, 6) -> Conv -> Add with the Relu's output as the shortcut: the Clip must not merge
// into the Relu, whose output the shortcut reads.
let private shortcutAcrossPassThrough (passThrough: string) : byte[] =
    OnnxBuild.model [ 1L; 2L; 4L; 4L ] [
        OnnxBuild.node "Conv" [ "x"; "w1" ] "c1" []
        OnnxBuild.node "Relu" [ "c1" ] "r" []
        OnnxBuild.node passThrough [ "r" ] "i" []
        OnnxBuild.node "Clip" [ "i"; "lo"; "hi" ] "k" []
        OnnxBuild.node "Conv" [ "k"; "w2" ] "c2" []
        OnnxBuild.node "Add" [ "c2"; "r" ] "s" []
        OnnxBuild.node "GlobalAveragePool" [ "s" ] "p" []
        OnnxBuild.node "Flatten" [ "p" ] "y" []
    ] [
        // Large weights: the Relu's output often exceeds 6, where ReLU and ReLU6 differ.
        OnnxBuild.floatTensor "w1" [ 2L; 2L; 1L; 1L ] (random 21 4 |> Array.map ((*) 10.0f))
        OnnxBuild.floatTensor "w2" [ 2L; 2L; 1L; 1L ] (random 22 4)
        OnnxBuild.floatTensor "lo" [] [| 0.0f |]
        OnnxBuild.floatTensor "hi" [] [| 6.0f |]
    ]

[<Tests>]
let tests =
    testList "OnnxImportTests" [
        testList "ONNX Runtime and Tern's float forward agree on 100 random inputs" [
            for name, dims, expected in positiveFixtures ->
                testCase $"ORT agrees on {name}"
                <| fun () ->
                    let r = import name
                    let present = kinds r.Model

                    for k in expected do
                        Expect.contains present k $"{name} should map to a {k} layer"

                    let worst = compareWithOrt (fixture name) r.Model dims 100 1
                    printfn $"{name}: max |Tern - ORT| / max |logit| = {worst:E2} over 100 inputs"
                    Expect.isLessThanOrEqual worst 1e-4 name
        ]

        testList "refusals name the node, its op type and why" [
            for name, expected in refusals ->
                testCase $"refuses {name}"
                <| fun () ->
                    match OnnxImport.import name (fixture name) None with
                    | Ok _ -> failtest $"{name} was imported"
                    | Error e ->
                        for part in expected do
                            Expect.stringContains e part $"the refusal of {name} names it"
        ]

        testCase "the fixtures exercise every operator the importer takes"
        <| fun () ->
            let ops =
                positiveFixtures
                |> List.collect (fun (name, _, _) ->
                    let m = Onnx.ModelProto.Parser.ParseFrom(fixture name)
                    m.Graph.Node |> Seq.map (fun n -> n.OpType) |> Seq.toList)
                |> Set.ofList

            for op in OnnxImport.dataOps do
                Expect.contains ops op $"no fixture has a {op} node"

            let opsets =
                positiveFixtures
                |> List.map (fun (name, _, _) -> (import name).Source.Opset)
                |> Set.ofList

            Expect.containsAll opsets [ 11L; 13L; 17L ] "the fixtures cover opsets 11, 13 and 17"

        testCase "notes say what was dropped and folded"
        <| fun () ->
            let notes = (import "asymmetric_pad.onnx").Notes

            Expect.exists
                notes
                (fun n -> n.Contains "softmax '/Softmax' dropped")
                "a note says: softmax '/Softmax' dropped"

            Expect.exists
                notes
                (fun n -> n.Contains "pad '/Pad' folded into conv2d_0")
                "a note says: pad '/Pad' folded into conv2d_0"

            Expect.exists notes (fun n -> n.Contains "columns permuted") "a note says: columns permuted"
            let notes = (import "opset10_dropout.onnx").Notes

            Expect.exists
                notes
                (fun n -> n.Contains "dropout '/drop/Dropout' dropped")
                "a note says: dropout '/drop/Dropout' dropped"

            let notes = (import "matmul_add.onnx").Notes

            Expect.exists
                notes
                (fun n -> n.Contains "add '/Add' folded into dense_4's bias")
                "a note says: add '/Add' folded into dense_4's bias"

        testCase "the source is recorded in the model's metadata"
        <| fun () ->
            let bytes = fixture "imu_1d.onnx"
            let r = import "imu_1d.onnx"
            let meta = r.Model.Meta

            let sha =
                Convert.ToHexString(Security.Cryptography.SHA256.HashData bytes).ToLowerInvariant()

            Expect.equal (meta["source.file"]) "imu_1d.onnx" "source.file"
            Expect.equal (meta["source.sha256"]) sha "source.sha256"
            Expect.equal (meta["source.opset"]) "11" "source.opset"
            Expect.stringStarts (meta["source.producer"]) "pytorch 1.13" "source.producer"
            Expect.equal (meta["source.input_name"]) "input" "source.input_name"
            Expect.equal (meta["source.input_shape"]) "batchx3x1x64" "source.input_shape"

            Expect.sequenceEqual
                (Map.keys meta |> Seq.sort)
                (OnnxImport.metaKeys |> Seq.sort)
                "the metadata has exactly the source keys"
            // Directories never reach the model file.
            let nested = OnnxImport.import "/some/where/imu_1d.onnx" bytes None

            match nested with
            | Ok n -> Expect.equal (n.Model.Meta["source.file"]) "imu_1d.onnx" "source.file of a path with directories"
            | Error e -> failtest e

        testCase "an imported model survives the model file: same layers, metadata and outputs"
        <| fun () ->
            for name, _, _ in positiveFixtures do
                let m = (import name).Model

                match ModelFile.deserialize (ModelFile.serializeFloat m) with
                | Ok(FloatModel back) ->
                    Expect.equal back m name

                    let x = {
                        Shape = m.Input
                        Data = random 5 m.Input.Size
                    }

                    Expect.isTrue ((Forward.run back x).Data = (Forward.run m x).Data) name
                | other -> failtest $"{name}: {other}"

        testCase "class names: given ones are kept, a wrong count is refused"
        <| fun () ->
            let bytes = fixture "matmul_add.onnx"

            match OnnxImport.import "m.onnx" bytes (Some [ "a"; "b"; "c"; "d" ]) with
            | Ok r -> Expect.isTrue (r.Model.Classes = [ "a"; "b"; "c"; "d" ]) "the given class names are kept"
            | Error e -> failtest e

            match OnnxImport.import "m.onnx" bytes (Some [ "a"; "b" ]) with
            | Ok _ -> failtest "two names for four outputs were accepted"
            | Error e ->
                Expect.stringContains e "2 class names" "the refusal names the names given"
                Expect.stringContains e "4 outputs" "the refusal names the outputs"

        testCase "malformed files are refused cleanly"
        <| fun () ->
            let rng = Random 11

            for n in [ 0; 1; 7; 100; 5000 ] do
                let bytes = Array.zeroCreate<byte> n
                rng.NextBytes bytes

                match OnnxImport.import "junk.onnx" bytes None with
                | Ok _ -> failtest $"{n} random bytes were imported"
                | Error e -> Expect.isNotEmpty e $"the refusal of {n} random bytes says why"

        testPropertyWithConfig (Properties.tests 60) "a truncated or damaged model is refused, never crashes"
        <| fun (cut: PositiveInt, flip: int, bit: byte) ->
            let original = fixture "resnet_basic.onnx"
            let bytes = Array.truncate (cut.Get % original.Length) original
            let damaged = Array.copy original
            let at = abs (flip % original.Length)
            damaged[at] <- damaged[at] ^^^ (bit ||| 1uy)

            for b in [ bytes; damaged ] do
                match OnnxImport.import "cut.onnx" b None with
                | Ok r ->
                    // A change inside a weight's bytes still reads; it must then be a valid model.
                    Expect.isTrue (Model.validate r.Model = Ok()) "a damaged model that reads must still be valid"
                | Error e -> Expect.isNotEmpty e "the refusal says why"

        testPropertyWithConfig
            {
                Properties.tests 40 with
                    arbitrary = [ typeof<PadConvArb> ]
            }
            "a Pad folded into the next conv or pool computes what ONNX Runtime computes"
        <| fun (c: PadConvCase) ->
            let op = [| "Conv"; "MaxPool"; "AveragePool" |][c.Seed % 3]
            let c = if op = "Conv" then c else { c with Out = c.C }
            let bytes = padGraph op c
            let expected, data = forwardMap bytes c
            let model = builtModel bytes

            let y = Forward.run model (OnnxLayout.nchwToHwc model.Input data)
            let actual = OnnxLayout.hwcToNchw y
            let scale = expected |> Array.map abs |> Array.fold max 1e-6f

            (Array.length actual = Array.length expected
             && Array.forall2 (fun (a: float32) (b: float32) -> abs (a - b) <= 1e-4f * scale) actual expected)
            |> Prop.label $"{op} {c}"
            |> Prop.classify (c.PadNode |> List.exists ((<>) 0)) "pad node folded"
            |> Prop.classify (c.PadNode <> List.rev c.PadNode) "asymmetric"

        testPropertyWithConfig
            (Properties.tests 30)
            "Gemm after an NCHW Flatten: permuted columns give ONNX Runtime's result"
        <| fun (h: PositiveInt, w: PositiveInt, c: PositiveInt, outputs: PositiveInt, transB: bool, seed: int) ->
            let h, w, c, o = 1 + h.Get % 4, 1 + w.Get % 4, 1 + c.Get % 3, 1 + outputs.Get % 4
            let f = h * w * c

            let bDims =
                if transB then
                    [ int64 o; int64 f ]
                else
                    [ int64 f; int64 o ]

            let bytes =
                OnnxBuild.model [ 1L; int64 c; int64 h; int64 w ] [
                    OnnxBuild.node "Flatten" [ "x" ] "f" []
                    OnnxBuild.node "Gemm" [ "f"; "B"; "C" ] "y" [
                        OnnxBuild.int "transB" (if transB then 1L else 0L)
                        OnnxBuild.float "alpha" 0.75f
                        OnnxBuild.float "beta" 1.5f
                    ]
                ] [
                    OnnxBuild.floatTensor "B" bDims (random seed (f * o))
                    OnnxBuild.floatTensor "C" [ int64 o ] (random (seed + 1) o)
                ]

            let m =
                match OnnxImport.import "gemm.onnx" bytes None with
                | Ok r -> r.Model
                | Error e -> failwith e

            compareWithOrt bytes m [| 1L; int64 c; int64 h; int64 w |] 3 seed <= 1e-5

        testPropertyWithConfig
            (Properties.tests 100)
            "the flatten permutation sends NCHW element (c, h, w) to HWC position (h*W + w)*C + c"
        <| fun (h: PositiveInt, w: PositiveInt, c: PositiveInt) ->
            let s = Shape3(1 + h.Get % 6, 1 + w.Get % 6, 1 + c.Get % 5)
            let perm = OnnxLayout.flattenPermutation s

            let direct = [|
                for ci in 0 .. s.C - 1 do
                    for hi in 0 .. s.H - 1 do
                        for wi in 0 .. s.W - 1 do
                            yield (hi * s.W + wi) * s.C + ci
            |]

            perm = direct
            && Array.sort perm = Array.init s.Size id
            && (OnnxLayout.isIdentity perm = (s.H * s.W = 1 || s.C = 1))

        testPropertyWithConfig
            (Properties.tests 50)
            "OIHW weights converted to Tern's rows convolve as a direct NCHW convolution"
        <| fun (oc: PositiveInt, ic: PositiveInt, k: PositiveInt, seed: int) ->
            let oc, ic, kh, kw =
                1 + oc.Get % 3, 1 + ic.Get % 3, 1 + k.Get % 3, 1 + (k.Get / 3) % 3

            let h, w = kh + 2, kw + 3
            let weights = random seed (oc * ic * kh * kw)
            let data = random (seed + 1) (ic * h * w)

            let spec = {
                InChannels = ic
                OutChannels = oc
                KernelH = kh
                KernelW = kw
                StrideH = 1
                StrideW = 1
                Pad = Padding.none
                Weight = OnnxLayout.convWeights oc ic kh kw weights
                Bias = Array.zeroCreate oc
            }

            let y =
                Forward.layer (Conv2d spec) (OnnxLayout.nchwToHwc (Shape3(h, w, ic)) data)
                |> OnnxLayout.hwcToNchw

            let oh, ow = h - kh + 1, w - kw + 1

            let direct = [|
                for o in 0 .. oc - 1 do
                    for y in 0 .. oh - 1 do
                        for x in 0 .. ow - 1 do
                            let mutable acc = 0.0

                            for i in 0 .. ic - 1 do
                                for dy in 0 .. kh - 1 do
                                    for dx in 0 .. kw - 1 do
                                        acc <-
                                            acc
                                            + float weights[((o * ic + i) * kh + dy) * kw + dx]
                                              * float data[(i * h + y + dy) * w + x + dx]

                            yield float32 acc
            |]

            // Both sum in double; only the order differs, so at most the last float32 bit may.
            Array.forall2 (fun (a: float32) (b: float32) -> abs (a - b) <= 1e-6f * (1.0f + abs b)) y direct

        testCase "Clip bounds from initializers give ReLU6; other bounds are refused"
        <| fun () ->
            let graph (lo: float32) (hi: float32) =
                OnnxBuild.model [ 1L; 2L; 5L; 5L ] [
                    OnnxBuild.node "Conv" [ "x"; "w" ] "c" []
                    OnnxBuild.node "Clip" [ "c"; "lo"; "hi" ] "a" []
                    OnnxBuild.node "GlobalAveragePool" [ "a" ] "p" []
                    OnnxBuild.node "Flatten" [ "p" ] "y" []
                ] [
                    OnnxBuild.floatTensor "w" [ 3L; 2L; 3L; 3L ] (random 3 54)
                    OnnxBuild.floatTensor "lo" [] [| lo |]
                    OnnxBuild.floatTensor "hi" [] [| hi |]
                ]

            let bytes = graph 0.0f 6.0f

            match OnnxImport.import "clip.onnx" bytes None with
            | Ok r ->
                Expect.contains (kinds r.Model) "relu6" "Clip(0, 6) becomes a relu6 layer"

                Expect.isLessThanOrEqual
                    (compareWithOrt bytes r.Model [| 1L; 2L; 5L; 5L |] 20 4)
                    1e-5
                    "Tern against ONNX Runtime"
            | Error e -> failtest e

            match OnnxImport.import "clip.onnx" (graph -1.0f 1.0f) None with
            | Ok _ -> failtest "Clip(-1, 1) was imported"
            | Error e ->
                Expect.stringContains e "(Clip)" "the refusal names the op type"
                Expect.stringContains e "ReLU6" "the refusal says what a Clip may be"

        testPropertyWithConfig
            (Properties.tests 30)
            "auto_pad SAME_UPPER, SAME_LOWER and VALID pad as ONNX Runtime does"
        <| fun (k: PositiveInt, s: PositiveInt, size: PositiveInt, mode: int, seed: int) ->
            let kh, kw = 1 + k.Get % 4, 1 + (k.Get / 4) % 4
            let stride = 1 + s.Get % 2
            let h, w = kh + size.Get % 5, kw + (size.Get / 5) % 5
            let modeName = [| "SAME_UPPER"; "SAME_LOWER"; "VALID" |][abs (mode % 3)]

            let autoPad =
                Onnx.AttributeProto(
                    Name = "auto_pad",
                    Type = Onnx.AttributeProto.Types.AttributeType.String,
                    S = ByteString.CopyFromUtf8 modeName
                )

            let bytes =
                OnnxBuild.model [ 1L; 2L; int64 h; int64 w ] [
                    OnnxBuild.node "Conv" [ "x"; "w" ] "y" [
                        autoPad
                        OnnxBuild.ints "strides" [ int64 stride; int64 stride ]
                    ]
                ] [
                    OnnxBuild.floatTensor "w" [ 2L; 2L; int64 kh; int64 kw ] (random seed (4 * kh * kw))
                ]

            let model = builtModel bytes

            use session = Ort.session bytes
            let data = random (seed + 1) (2 * h * w)
            let expected = Ort.run session [| 1L; 2L; int64 h; int64 w |] data

            let actual =
                Forward.run model (OnnxLayout.nchwToHwc model.Input data)
                |> OnnxLayout.hwcToNchw

            (actual.Length = expected.Length
             && Array.forall2 (fun (a: float32) (b: float32) -> abs (a - b) <= 1e-5f * (1.0f + abs b)) actual expected)
            |> Prop.label $"{modeName} kernel {kh}x{kw} stride {stride} input {h}x{w}"

        testList "an activation does not merge across a pass-through into one whose output a shortcut reads" [
            for op in [ "Identity"; "Dropout" ] ->
                testCase op
                <| fun () ->
                    let bytes = shortcutAcrossPassThrough op

                    match OnnxImport.import "shortcut.onnx" bytes None with
                    | Ok r ->
                        Expect.isLessThanOrEqual
                            (compareWithOrt bytes r.Model [| 1L; 2L; 4L; 4L |] 20 8)
                            1e-5
                            "Tern against ONNX Runtime"

                        let expected = [ "pointwise"; "relu"; "relu6"; "pointwise"; "add"; "globalavgpool"; "flatten" ]
                        Expect.equal (kinds r.Model) expected "layer kinds"
                    | Error e -> failtest e
        ]

        testList "a bias does not fold across a pass-through into a Dense whose output a shortcut reads" [
            for op in [ "Identity"; "Dropout" ] ->
                testCase op
                <| fun () ->
                    // MatMul -> (passThrough) -> Add(bias) -> MatMul -> Add with the first MatMul's output (no bias) as the shortcut.
                    let bytes =
                        OnnxBuild.model [ 1L; 4L ] [
                            OnnxBuild.node "MatMul" [ "x"; "w1" ] "m" []
                            OnnxBuild.node op [ "m" ] "i" []
                            OnnxBuild.node "Add" [ "i"; "b" ] "a" []
                            OnnxBuild.node "MatMul" [ "a"; "w2" ] "m2" []
                            OnnxBuild.node "Add" [ "m2"; "m" ] "y" []
                        ] [
                            OnnxBuild.floatTensor "w1" [ 4L; 4L ] (random 31 16)
                            OnnxBuild.floatTensor "b" [ 4L ] (random 32 4)
                            OnnxBuild.floatTensor "w2" [ 4L; 4L ] (random 33 16)
                        ]

                    // Tern has no layer that adds a bias alone: refusing is right, a model that differs from ONNX is not.
                    match OnnxImport.import "bias.onnx" bytes None with
                    | Ok r ->
                        Expect.isLessThanOrEqual
                            (compareWithOrt bytes r.Model [| 1L; 4L |] 10 9)
                            1e-5
                            "Tern against ONNX Runtime"
                    | Error e ->
                        Expect.stringContains e "'Add_a' (Add)" "the refusal names the node and op type"
                        Expect.stringContains e "bias" "the refusal names the bias"
        ]

        testList "two Pads in a row fold together into the next conv or pool, as ONNX Runtime computes" [
            for op in [ "Conv"; "AveragePool" ] ->
                testCase op
                <| fun () ->
                    let pads name (v: int64 list) =
                        OnnxBuild.intTensor name ([ 0L; 0L ] @ v[0..1] @ [ 0L; 0L ] @ v[2..3])

                    // (top, left, bottom, right): the sums stay below the 3x3 window.
                    let last =
                        match op with
                        | "Conv" -> OnnxBuild.node "Conv" [ "p2"; "w" ] "y" []
                        | _ ->
                            OnnxBuild.node "AveragePool" [ "p2" ] "y" [
                                OnnxBuild.ints "kernel_shape" [ 3L; 3L ]
                                OnnxBuild.int "count_include_pad" 1L
                            ]

                    let bytes =
                        OnnxBuild.model [ 1L; 2L; 5L; 6L ] [
                            OnnxBuild.node "Pad" [ "x"; "pads1" ] "p1" []
                            OnnxBuild.node "Pad" [ "p1"; "pads2" ] "p2" []
                            last
                        ] [
                            pads "pads1" [ 1L; 0L; 0L; 2L ]
                            pads "pads2" [ 1L; 1L; 2L; 0L ]
                            OnnxBuild.floatTensor "w" [ 3L; 2L; 3L; 3L ] (random 41 54)
                        ]

                    let model = builtModel bytes
                    let input = model.Input
                    Expect.equal model.Layers.Length 1 "both Pads fold into the one layer"
                    use session = Ort.session bytes
                    let data = random 42 (2 * 5 * 6)
                    let expected = Ort.run session [| 1L; 2L; 5L; 6L |] data

                    let actual =
                        Forward.run model (OnnxLayout.nchwToHwc input data) |> OnnxLayout.hwcToNchw

                    Expect.equal actual.Length expected.Length "output size"

                    for a, e in Array.zip actual expected do
                        Expect.floatClose
                            {
                                absolute = 1e-5 * (1.0 + abs (float e))
                                relative = 0.0
                            }
                            (float a)
                            (float e)
                            "Tern against ONNX Runtime"

                    // Each Pad is named in the notes.
                    let m = Onnx.ModelProto.Parser.ParseFrom bytes
                    m.Graph.Node.Add(OnnxBuild.node "GlobalAveragePool" [ "y" ] "pooled" [])
                    m.Graph.Output[0].Name <- "pooled"

                    match OnnxImport.import "pads.onnx" (m.ToByteArray()) None with
                    | Ok r ->
                        Expect.exists
                            r.Notes
                            (fun n -> n.StartsWith "pad 'Pad_p1' folded into")
                            "the notes name the first Pad"

                        Expect.exists
                            r.Notes
                            (fun n -> n.StartsWith "pad 'Pad_p2' folded into")
                            "the notes name the second Pad"
                    | Error e -> failtest e
        ]

        testCase "folds chain: three activations merge into one layer, two constant Adds into one Dense bias"
        <| fun () ->
            let bytes =
                OnnxBuild.model [ 1L; 2L; 3L; 3L ] [
                    OnnxBuild.node "Conv" [ "x"; "w" ] "c" []
                    OnnxBuild.node "Relu" [ "c" ] "r1" []
                    OnnxBuild.node "Relu" [ "r1" ] "r2" []
                    OnnxBuild.node "Clip" [ "r2"; "lo"; "hi" ] "r3" []
                    OnnxBuild.node "Flatten" [ "r3" ] "f" []
                    OnnxBuild.node "MatMul" [ "f"; "m" ] "d" []
                    OnnxBuild.node "Add" [ "d"; "b1" ] "a1" []
                    OnnxBuild.node "Add" [ "b2"; "a1" ] "y" []
                ] [
                    OnnxBuild.floatTensor "w" [ 2L; 2L; 3L; 3L ] (random 51 36 |> Array.map ((*) 4.0f))
                    OnnxBuild.floatTensor "lo" [] [| 0.0f |]
                    OnnxBuild.floatTensor "hi" [] [| 6.0f |]
                    OnnxBuild.floatTensor "m" [ 2L; 3L ] (random 52 6)
                    OnnxBuild.floatTensor "b1" [ 3L ] (random 53 3)
                    OnnxBuild.floatTensor "b2" [ 1L ] [| 0.25f |]
                ]

            match OnnxImport.import "folds.onnx" bytes None with
            | Ok r ->
                Expect.equal (kinds r.Model) [ "conv2d"; "relu6"; "flatten"; "dense" ] "layer kinds"

                Expect.isLessThanOrEqual
                    (compareWithOrt bytes r.Model [| 1L; 2L; 3L; 3L |] 20 10)
                    1e-5
                    "Tern against ONNX Runtime"
            | Error e -> failtest e
    ]
