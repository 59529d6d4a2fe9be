module Tern.Tests.ModelFileTests

open System
open System.IO
open System.Security.Cryptography
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core
open Tern.Tests.ModelTests
open Tern.Tests.ModelFileBytes

/// Random valid integer models (int8 and ternary weights, every layer kind).
module private IntGen =
    let private scale: Gen<float32> = FloatGen.value 0.001f 1.0f
    let private code: Gen<int> = Gen.choose (-128, 127)

    let private clamp: Gen<int * int> =
        Gen.zip code code |> Gen.map (fun (a, b) -> min a b, max a b)

    let private multiplier: Gen<int> =
        Gen.frequency [
            8, Gen.choose64 (1L <<< 30, int64 Int32.MaxValue) |> Gen.map int
            1, Gen.elements [ 1 <<< 30; Int32.MaxValue ]
        ]

    let private pack (rows: int) (rowLength: int) (values: sbyte[]) : PackedTernary =
        PackedTernary.Pack(rows, rowLength, ReadOnlySpan values)

    /// Kernel and paddings (before, after) along an axis: each padding 0 or 1, symmetric or not, a window fits.
    let private axis (size: int) : Gen<int * int * int> =
        gen {
            let! before = Gen.choose (0, 1)
            let! after = Gen.frequency [ 2, Gen.constant before; 1, Gen.choose (0, 1) ]
            let! k = Gen.choose (max before after + 1, min 3 (size + before + after))
            return k, before, after
        }

    let private convLayer (name: string) (s: Shape3) (kind: IntLayerKind) : Gen<IntLayer> =
        gen {
            let spatial = kind = IntLayerKind.Conv || kind = IntLayerKind.Depthwise
            let! kh, pt, pb = if spatial then axis s.H else Gen.constant (1, 0, 0)
            let! kw, pl, pr = if spatial then axis s.W else Gen.constant (1, 0, 0)

            let! sh =
                if kind = IntLayerKind.Dense then
                    Gen.constant 1
                else
                    Gen.choose (1, 2)

            let! sw =
                if kind = IntLayerKind.Dense then
                    Gen.constant 1
                else
                    Gen.choose (1, 2)

            let! outC =
                if kind = IntLayerKind.Depthwise then
                    Gen.constant s.C
                else
                    Gen.choose (1, 4)

            let output =
                IntConvLayer.OutputShapeOf(kind, s, kh, kw, sh, sw, pt, pb, pl, pr, outC)

            let fanIn = IntConvLayer.FanInOf(kind, s, kh, kw)

            let! ternary = Gen.elements [ true; false ]

            let! int8 =
                Gen.arrayOfLength (outC * fanIn) (Gen.choose (-127, 127) |> Gen.map sbyte)

            let! tern = Gen.arrayOfLength (outC * fanIn) (Gen.choose (-1, 1) |> Gen.map sbyte)
            let! bias = Gen.arrayOfLength outC (Gen.choose (-1_000_000, 1_000_000))
            let! m = Gen.arrayOfLength outC multiplier
            let! shift = Gen.arrayOfLength outC (Gen.choose (1, 62))
            let! zIn = code
            let! zOut = code
            let! lo, hi = clamp
            let! sIn = scale
            let! sOut = scale
            let! sW = Gen.arrayOfLength outC scale

            return
                IntConvLayer(
                    name,
                    kind,
                    s,
                    output,
                    kh,
                    kw,
                    sh,
                    sw,
                    pt,
                    pb,
                    pl,
                    pr,
                    (if ternary then WeightKind.Ternary else WeightKind.Int8),
                    (if ternary then null else int8),
                    (if ternary then pack outC fanIn tern else null),
                    bias,
                    m,
                    shift,
                    zIn,
                    zOut,
                    lo,
                    hi,
                    sIn,
                    sOut,
                    sW
                )
                :> IntLayer
        }

    let private poolLayer (name: string) (s: Shape3) (kind: IntLayerKind) : Gen<IntLayer> =
        gen {
            let isGlobal = kind = IntLayerKind.GlobalAvgPool

            // max and average pools are padded now and then
            let! kh, pt, pb =
                if isGlobal then
                    Gen.constant (s.H, 0, 0)
                else
                    Gen.frequency [ 2, Gen.choose (1, min 3 s.H) |> Gen.map (fun k -> k, 0, 0); 1, axis s.H ]

            let! kw, pl, pr =
                if isGlobal then
                    Gen.constant (s.W, 0, 0)
                else
                    Gen.frequency [ 2, Gen.choose (1, min 3 s.W) |> Gen.map (fun k -> k, 0, 0); 1, axis s.W ]

            let! sh = if isGlobal then Gen.constant 1 else Gen.choose (1, 2)
            let! sw = if isGlobal then Gen.constant 1 else Gen.choose (1, 2)
            let output = IntPoolLayer.OutputShapeOf(s, kh, kw, sh, sw, pt, pb, pl, pr)

            let! m = multiplier
            let! shift = Gen.choose (1, 62)
            let! zIn = code
            let! zOut = code
            let! lo, hi = clamp
            let! sIn = scale
            let! sOut = scale

            return
                IntPoolLayer(
                    name,
                    kind,
                    s,
                    output,
                    kh,
                    kw,
                    sh,
                    sw,
                    pt,
                    pb,
                    pl,
                    pr,
                    m,
                    shift,
                    zIn,
                    zOut,
                    lo,
                    hi,
                    sIn,
                    sOut
                )
                :> IntLayer
        }

    let private layer (i: int) (s: Shape3) : Gen<IntLayer> =
        gen {
            let! name = Gen.elements [ $"layer_{i}"; $"conv_{i}"; $"ß_{i}" ]

            return!
                Gen.frequency [
                    3, convLayer name s IntLayerKind.Conv
                    2, convLayer name s IntLayerKind.Depthwise
                    2, convLayer name s IntLayerKind.Pointwise
                    (if s.Size <= 200 then 2 else 0), convLayer name s IntLayerKind.Dense
                    1, poolLayer name s IntLayerKind.MaxPool
                    1, poolLayer name s IntLayerKind.AvgPool
                    1, poolLayer name s IntLayerKind.GlobalAvgPool
                    1, Gen.constant (IntFlattenLayer(name, s) :> IntLayer)
                ]
        }

    let rec private layers (i: int) (s: Shape3) (n: int) : Gen<IntLayer list> =
        if n = 0 then
            Gen.constant []
        else
            gen {
                let! l = layer i s
                let! rest = layers (i + 1) l.Output (n - 1)
                return l :: rest
            }

    let model: Gen<IntModel> =
        gen {
            let! h = Gen.choose (1, 6)
            let! w = Gen.choose (1, 6)
            let! c = Gen.choose (1, 4)
            // At least one layer: a model file without layers is refused.
            let! n = Gen.choose (1, 5)
            let! ls = layers 0 (Shape3(h, w, c)) n
            let! sIn = scale
            let! zIn = code
            let! name = Gen.elements [ "int"; "kws ✓"; "" ]

            let outC =
                match List.tryLast ls with
                | Some l -> l.Output.C
                | None -> c

            return IntModel(name, Shape3(h, w, c), sIn, zIn, List.toArray ls, Array.init outC (sprintf "k%d"))
        }

/// Every field of an integer model as text (floats as bit patterns), to compare models structurally.
let private dumpInt (m: IntModel) : string =
    let sb = StringBuilder()
    let add (x: obj) = sb.Append(x).Append('|') |> ignore
    let bits (x: float32) = BitConverter.SingleToInt32Bits x
    let join (xs: seq<'a>) = String.Join(",", xs)
    add m.Name
    add m.Input
    add (bits m.InputScale)
    add m.InputZero
    add (join m.ClassNames)

    for l in m.Layers do
        add l.Kind
        add l.Name
        add l.Input
        add l.Output

        match l with
        | :? IntConvLayer as c ->
            add (
                join [
                    c.KernelH
                    c.KernelW
                    c.StrideH
                    c.StrideW
                    c.PadTop
                    c.PadBottom
                    c.PadLeft
                    c.PadRight
                ]
            )

            add c.WeightKind

            add (
                match c.Int8Weights with
                | null -> "-"
                | w -> join w
            )

            add (
                match c.TernaryWeights with
                | null -> "-"
                | t -> $"{t.Rows}x{t.RowLength}:{Convert.ToHexString t.Data}"
            )

            add (join c.Bias)
            add (join c.Multiplier)
            add (join c.Shift)

            add (
                join [
                    c.InputZero
                    c.OutputZero
                    c.ActMin
                    c.ActMax
                    bits c.InputScale
                    bits c.OutputScale
                ]
            )

            add (join (c.WeightScale |> Array.map bits))
        | :? IntPoolLayer as p ->
            add (
                join [
                    p.KernelH
                    p.KernelW
                    p.StrideH
                    p.StrideW
                    p.PadTop
                    p.PadBottom
                    p.PadLeft
                    p.PadRight
                    p.Multiplier
                    p.Shift
                    p.InputZero
                    p.OutputZero
                    p.ActMin
                    p.ActMax
                ]
            )

            add (join [ bits p.InputScale; bits p.OutputScale ])
        | _ -> ()

    sb.ToString()

let private headerSize = 11

/// Recomputes the checksum after a test has edited the payload.
let private rechecksum (bytes: byte[]) : byte[] =
    let b = Array.copy bytes
    let len = b.Length - headerSize - 32
    SHA256.HashData(ReadOnlySpan(b, headerSize, len)).CopyTo(b, headerSize + len)
    b

let private expectError (fragment: string) (r: Result<LoadedModel, string>) =
    match r with
    | Ok _ -> failtest $"expected an error containing '{fragment}'"
    | Error e -> Expect.stringContains e fragment "the error says what is wrong"

let private smallFloat: Model =
    let rng = Random 11

    let vals n =
        Array.init n (fun _ -> float32 (rng.NextDouble() - 0.5))

    {
        Name = "small float ✓"
        Input = Shape3(5, 4, 2)
        Layers = [
            Conv2d {
                InChannels = 2
                OutChannels = 3
                KernelH = 3
                KernelW = 3
                StrideH = 1
                StrideW = 1
                Pad = Padding.symmetric 1 1
                Weight = vals 54
                Bias = vals 3
            }
            BatchNorm {
                Gamma = vals 3
                Beta = vals 3
                Mean = vals 3
                Var = [| 0.5f; 1.0f; 2.0f |]
                Eps = 1e-5f
            }
            ReLU6
            MaxPool {
                KernelH = 2
                KernelW = 2
                StrideH = 2
                StrideW = 2
                Pad = Padding.none
            }
            Flatten
            Dense {
                Inputs = 12
                Outputs = 2
                Weight = vals 24
                Bias = vals 2
            }
        ]
        Classes = [ "yes"; "no" ]
        Meta = Map.empty
    }

let private ternaryModel: IntModel =
    let pw =
        IntConvLayer(
            "pw",
            IntLayerKind.Pointwise,
            Shape3(2, 2, 4),
            Shape3(2, 2, 2),
            1,
            1,
            1,
            1,
            0,
            0,
            WeightKind.Ternary,
            null,
            PackedTernary.Pack(2, 4, ReadOnlySpan(Array.create 8 1y)),
            [| 3; -4 |],
            [| 1 <<< 30; 1 <<< 30 |],
            [| 31; 31 |],
            0,
            -3,
            -128,
            127,
            0.5f,
            0.25f,
            [| 0.1f; 0.2f |]
        )

    IntModel(
        "tern",
        Shape3(2, 2, 4),
        0.5f,
        0,
        [| pw; IntFlattenLayer("flat", Shape3(2, 2, 2)) |],
        [| "a"; "b"; "c"; "d"; "e"; "f"; "g"; "h" |]
    )

let private smallInt: byte[] = ModelFile.serializeInt ternaryModel

/// A property that fails with the reason given.
let private (|@) (ok: bool) (why: string) = Prop.label why ok

/// smallFloat with value v at position k of one parameter array: (layer index, array name) picks the array.
let private withParam (layer: int) (what: string) (k: int) (v: float32) : Model =
    let set (a: float32[]) =
        let b = Array.copy a
        b[k % b.Length] <- v
        b

    let edit (l: Layer) =
        match l, what with
        | Conv2d c, "weight" -> Conv2d { c with Weight = set c.Weight }
        | Conv2d c, _ -> Conv2d { c with Bias = set c.Bias }
        | Dense d, "weight" -> Dense { d with Weight = set d.Weight }
        | Dense d, _ -> Dense { d with Bias = set d.Bias }
        | BatchNorm b, "gamma" -> BatchNorm { b with Gamma = set b.Gamma }
        | BatchNorm b, "mean" -> BatchNorm { b with Mean = set b.Mean }
        | BatchNorm b, _ -> BatchNorm { b with Var = set b.Var }
        | other, _ -> other

    {
        smallFloat with
            Layers = smallFloat.Layers |> List.mapi (fun i l -> if i = layer then edit l else l)
    }

let private nonFinite: Gen<float32> =
    Gen.elements [
        Single.NaN
        Single.PositiveInfinity
        Single.NegativeInfinity
        BitConverter.Int32BitsToSingle 0x7fc00001
    ]

let private paramSlot: Gen<int * string * string * int> =
    gen {
        let! layer, kind, what =
            Gen.elements [
                0, "conv2d", "weight"
                0, "conv2d", "bias"
                1, "batchnorm", "gamma"
                1, "batchnorm", "mean"
                1, "batchnorm", "var"
                5, "dense", "weight"
                5, "dense", "bias"
            ]

        let! k = Gen.choose (0, 60)
        return layer, kind, what, k
    }

[<Tests>]
let tests =
    testList "ModelFileTests" [
        testPropertyWithConfig (Properties.tests 100) "float models round-trip exactly and the hash is stable"
        <| fun () ->
            // At least one layer: a model file without layers is refused.
            let model = FloatGen.model 6 |> Gen.filter (fun m -> not m.Layers.IsEmpty)

            Prop.forAll (Arb.fromGen model) (fun m ->
                let bytes = ModelFile.serializeFloat m

                let ok =
                    match ModelFile.deserialize bytes with
                    | Ok(FloatModel back) ->
                        back = m
                        && ModelFile.serializeFloat back = bytes
                        && ModelFile.hash bytes = ModelFile.hash (ModelFile.serializeFloat back)
                        && ModelFile.hash bytes =
                            Convert.ToHexStringLower(SHA256.HashData bytes[headerSize .. bytes.Length - 33])
                    | _ -> false

                ok |> Prop.collect $"layers: {m.Layers.Length}")

        testPropertyWithConfig
            (Properties.tests 100)
            "integer models round-trip with every field and the hash is stable"
        <| fun () ->
            Prop.forAll (Arb.fromGen IntGen.model) (fun m ->
                let bytes = ModelFile.serializeInt m

                let kinds =
                    m.Layers
                    |> Array.choose (function
                        | :? IntConvLayer as c -> Some c.WeightKind
                        | _ -> None)

                let ok =
                    match ModelFile.deserialize bytes with
                    | Ok(IntegerModel back) ->
                        dumpInt back = dumpInt m
                        && ModelFile.hash (ModelFile.serializeInt back) = ModelFile.hash bytes
                    | _ -> false

                ok
                |> Prop.classify (kinds |> Array.contains WeightKind.Ternary) "ternary"
                |> Prop.classify (kinds |> Array.contains WeightKind.Int8) "int8"
                |> Prop.classify (m.Layers |> Array.exists (fun l -> l :? IntPoolLayer)) "pool"
                |> Prop.classify (ModelFile.intVersion m = 3us) "version 3 (asymmetric or pool padding)")

        testCase "different models have different hashes"
        <| fun () ->
            let a = ModelFile.serializeFloat smallFloat

            let b =
                ModelFile.serializeFloat {
                    smallFloat with
                        Name = smallFloat.Name + "x"
                }

            Expect.notEqual (ModelFile.hash a) (ModelFile.hash b) "hashes of models differing in name"
            Expect.isMatch (ModelFile.hash a) "^[0-9a-f]{64}$" "the hash is 64 lowercase hex digits"

        testCase "every proper prefix of a file is rejected without an exception"
        <| fun () ->
            for file in [ ModelFile.serializeFloat smallFloat; smallInt ] do
                for n in 0 .. file.Length - 1 do
                    match ModelFile.deserialize file[.. n - 1] with
                    | Ok _ -> failtest $"prefix of {n} bytes was accepted"
                    | Error e -> Expect.isTrue (e.Contains "too short" || e.Contains "truncated") $"prefix {n}: {e}"

        testPropertyWithConfig (Properties.tests 300) "any single-byte corruption is rejected"
        <| fun () ->
            let files = [| ModelFile.serializeFloat smallFloat; smallInt |]

            let corruption =
                gen {
                    let! f = Gen.choose (0, 1)
                    let! pos = Gen.choose (0, files[f].Length - 1)
                    let! x = Gen.choose (1, 255)
                    return f, pos, byte x
                }

            Prop.forAll (Arb.fromGen corruption) (fun (f, pos, x) ->
                let b = Array.copy files[f]
                b[pos] <- b[pos] ^^^ x

                Result.isError (ModelFile.deserialize b)
                |> Prop.classify (pos < headerSize) "header"
                |> Prop.classify (pos >= b.Length - 32) "checksum"
                |> Prop.classify (pos >= headerSize && pos < b.Length - 32) "payload")

        testPropertyWithConfig (Properties.tests 200) "foreign bytes are rejected without an exception"
        <| fun () ->
            let foreign =
                Gen.frequency [
                    3,
                    Gen.choose (0, 100)
                    |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte))
                    // A right magic and version followed by junk, to get past the first checks.
                    1,
                    Gen.choose (0, 80)
                    |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte))
                    |> Gen.map (fun junk -> Array.concat [ "TERN"B; [| 1uy; 0uy |]; junk ])
                ]

            Prop.forAll (Arb.fromGen foreign) (fun bytes -> Result.isError (ModelFile.deserialize bytes))

        testCase "header errors say what is wrong"
        <| fun () ->
            let good = ModelFile.serializeFloat smallFloat

            let edit pos (v: byte) =
                let b = Array.copy good
                b[pos] <- v
                b

            ModelFile.deserialize [| 1uy; 2uy |] |> expectError "too short for the header"

            ModelFile.deserialize (Encoding.ASCII.GetBytes "PK\003\004 this is a zip file, not a model....")
            |> expectError "not a Tern model file"

            ModelFile.deserialize (edit 4 7uy)
            |> expectError "unsupported format version 7 (this build reads version 1, 2, 3)"

            ModelFile.deserialize (edit 6 9uy) |> expectError "unknown model kind 9"

            ModelFile.deserialize good[.. good.Length - 2]
            |> expectError $"expected {good.Length - headerSize - 32} payload bytes"

            ModelFile.deserialize (Array.append good [| 0uy |])
            |> expectError "1 trailing bytes"

            ModelFile.deserialize (edit (good.Length - 1) (good[good.Length - 1] ^^^ 1uy))
            |> expectError "corrupted"

            ModelFile.deserialize (edit 6 2uy)
            |> expectError "header says model kind 2, payload says 1"

        testCase "payloads that parse badly or describe invalid models are rejected"
        <| fun () ->
            let header (w: BinaryWriter) =
                w.Write 1uy
                str w "x"
                w.Write 1
                w.Write 1
                w.Write 2 // input 1x1x2
                w.Write 0 // no class names

            frame
                1uy
                (payload (fun w ->
                    header w
                    w.Write 1
                    w.Write 99uy))
            |> ModelFile.deserialize
            |> expectError "unknown float layer tag 99 for layer 0 at payload offset"

            frame
                1uy
                (payload (fun w ->
                    header w
                    w.Write -1))
            |> ModelFile.deserialize
            |> expectError "layers count -1"

            frame
                1uy
                (payload (fun w ->
                    w.Write 1uy
                    w.Write UInt32.MaxValue))
            |> ModelFile.deserialize
            |> expectError "model name length 4294967295"

            // A dense layer with a huge weight count: rejected before anything is allocated.
            frame
                1uy
                (payload (fun w ->
                    header w
                    w.Write 1
                    w.Write 11uy
                    w.Write 2
                    w.Write 1
                    w.Write Int32.MaxValue))
            |> ModelFile.deserialize
            |> expectError "layer 0 weight needs"

            // Parses, but the dense layer expects 3 inputs where the input has 2.
            frame
                1uy
                (payload (fun w ->
                    header w
                    w.Write 1
                    w.Write 11uy
                    w.Write 3
                    w.Write 1
                    w.Write 3
                    w.Write 1.0f
                    w.Write 1.0f
                    w.Write 1.0f
                    w.Write 1
                    w.Write 0.0f))
            |> ModelFile.deserialize
            |> expectError "layer 0 (dense): expects 3 inputs"

            frame
                1uy
                (payload (fun w ->
                    header w
                    w.Write 0
                    w.Write 0uy))
            |> ModelFile.deserialize
            |> expectError "1 unread bytes"

        testCase "a ternary payload with a 0b11 code is rejected even with a correct checksum"
        <| fun () ->
            // rows 2, row length 4, 2 data bytes of +1 codes (0x55).
            let marker =
                payload (fun w ->
                    w.Write 2
                    w.Write 4
                    w.Write 2
                    w.Write 0x55uy
                    w.Write 0x55uy)

            let at = smallInt.AsSpan().IndexOf(ReadOnlySpan marker)
            Expect.isGreaterThan at headerSize "ternary data not found in the file"
            let bad = Array.copy smallInt
            bad[at + 12] <- 0x57uy // weight 0 of row 0 becomes 0b11

            ModelFile.deserialize (rechecksum bad)
            |> expectError "invalid ternary code 0b11 at row 0, column 0"

        testCase "integer model errors from Validate become Error"
        <| fun () ->
            // Multiplier field of the pointwise layer follows the bias array [3; -4]: set channel 0's M below 2^30.
            let marker =
                payload (fun w ->
                    w.Write 2
                    w.Write 3
                    w.Write -4
                    w.Write 2
                    w.Write(1 <<< 30))

            let at = smallInt.AsSpan().IndexOf(ReadOnlySpan marker)
            Expect.isGreaterThan at headerSize "the bias and multiplier fields are in the file"
            let bad = Array.copy smallInt
            BitConverter.GetBytes(5).CopyTo(bad, at + 16)
            ModelFile.deserialize (rechecksum bad) |> expectError "multiplier 5 is outside"

        testCase "save is atomic, replaces the target and leaves no temporary files; load names the file"
        <| fun () ->
            let dir = Scratch.folder "tern-modelfile"

            let path = Path.Combine(dir, "m.tern")
            ModelFile.saveFloat path smallFloat

            match ModelFile.load path with
            | Ok(FloatModel m) -> Expect.isTrue (m = smallFloat) "the float model loads back equal"
            | other -> failtest $"{other}"

            ModelFile.saveInt path ternaryModel

            match ModelFile.load path with
            | Ok(IntegerModel m) ->
                Expect.equal (dumpInt m) (dumpInt ternaryModel) "the integer model loads back with every field"
            | other -> failtest $"{other}"

            Expect.equal
                (Directory.GetFiles dir |> Array.map Path.GetFileName)
                [| "m.tern" |]
                "only the target is left in the folder"

            Expect.equal (File.ReadAllBytes path) smallInt "the file holds the serialized model"

            let missing = Path.Combine(dir, "nope.tern")
            ModelFile.load missing |> expectError $"{missing}: file not found"

            File.WriteAllBytes(path, smallInt[..20])
            ModelFile.load path |> expectError $"{path}: truncated"

        testCase "serializing an invalid model throws instead of writing an unloadable file"
        <| fun () ->
            let bad = {
                smallFloat with
                    Input = Shape3(5, 4, 3)
            }

            Expect.throwsT<ArgumentException>
                (fun () -> ModelFile.serializeFloat bad |> ignore)
                "an inconsistent float model is not serialized"

            let badInt =
                IntModel("bad", Shape3(1, 1, 1), 1.0f, 0, [| IntFlattenLayer("f", Shape3(1, 1, 2)) |], [||])

            Expect.throwsT<ArgumentException>
                (fun () -> ModelFile.serializeInt badInt |> ignore)
                "an inconsistent integer model is not serialized"

        testCase "a model is written in the lowest version that holds it"
        <| fun () ->
            let version (bytes: byte[]) = BitConverter.ToUInt16(bytes, 4)

            let asymmetric = {
                Top = 1
                Bottom = 0
                Left = 0
                Right = 1
            }

            let withConvPad pad =
                smallFloat.Layers
                |> List.map (function
                    | Conv2d c -> Conv2d { c with Pad = pad }
                    | l -> l)

            let withPoolPad pad =
                smallFloat.Layers
                |> List.map (function
                    | MaxPool p -> MaxPool { p with Pad = pad }
                    | l -> l)

            // The dense layer resized to what the changed layers before it give.
            let fit (layers: Layer list) =
                let body = layers |> List.filter (fun l -> not l.IsDense)

                let flat = (List.last (Model.shapes { smallFloat with Layers = body })).Size

                {
                    smallFloat with
                        Layers =
                            body
                            @ [
                                Dense {
                                    Inputs = flat
                                    Outputs = 2
                                    Weight = Array.init (2 * flat) (fun i -> float32 i / 100.0f)
                                    Bias = [| 0.5f; -0.5f |]
                                }
                            ]
                }

            let cases = [
                "plain", smallFloat, 1us
                "metadata",
                {
                    smallFloat with
                        Meta = Map [ "source.file", "a.onnx" ]
                },
                3us
                "asymmetric conv padding", fit (withConvPad asymmetric), 3us
                "symmetric conv padding", fit (withConvPad (Padding.symmetric 2 0)), 1us
                "padded pool", fit (withPoolPad (Padding.symmetric 1 1)), 3us
            ]

            for what, m, expected in cases do
                let bytes = ModelFile.serializeFloat m
                Expect.equal (version bytes) expected what

                match ModelFile.deserialize bytes with
                | Ok(FloatModel back) -> Expect.equal back m what
                | other -> failtest $"{what}: {other}"

            let tagged =
                IntModel(
                    ternaryModel.Name,
                    ternaryModel.Input,
                    ternaryModel.InputScale,
                    ternaryModel.InputZero,
                    ternaryModel.Layers,
                    ternaryModel.ClassNames,
                    Metadata = readOnlyDict [ "source.sha256", "ab"; "source.file", "b.onnx" ]
                )

            Expect.equal (version smallInt) 1us "a plain integer model is version 1"
            let bytes = ModelFile.serializeInt tagged
            Expect.equal (version bytes) 3us "an integer model with metadata is version 3"

            match ModelFile.deserialize bytes with
            | Ok(IntegerModel back) ->
                Expect.equal
                    (dumpInt back)
                    (dumpInt ternaryModel)
                    "the integer model with metadata loads back with every field"

                let meta = back.Metadata |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq
                Expect.isTrue (meta = Map [ "source.sha256", "ab"; "source.file", "b.onnx" ]) $"{meta}"
            | other -> failtest $"{other}"

            // Integer layers: asymmetric convolution padding and any pool padding need version 3 too.
            let inS = Shape3(3, 3, 1)

            let intConv (pt, pb, pl, pr) : IntLayer =
                let outS =
                    IntConvLayer.OutputShapeOf(IntLayerKind.Conv, inS, 3, 3, 1, 1, pt, pb, pl, pr, 1)

                IntConvLayer(
                    "c",
                    IntLayerKind.Conv,
                    inS,
                    outS,
                    3,
                    3,
                    1,
                    1,
                    pt,
                    pb,
                    pl,
                    pr,
                    WeightKind.Int8,
                    Array.init 9 sbyte,
                    null,
                    [| 7 |],
                    [| 1 <<< 30 |],
                    [| 31 |],
                    2,
                    -1,
                    -128,
                    127,
                    0.5f,
                    0.25f,
                    [| 0.125f |]
                )

            let intPool (kind, (pt, pb, pl, pr)) : IntLayer =
                let outS = IntPoolLayer.OutputShapeOf(inS, 2, 2, 1, 1, pt, pb, pl, pr)

                IntPoolLayer(
                    "p",
                    kind,
                    inS,
                    outS,
                    2,
                    2,
                    1,
                    1,
                    pt,
                    pb,
                    pl,
                    pr,
                    1 <<< 30,
                    32,
                    3,
                    3,
                    -128,
                    127,
                    0.5f,
                    0.5f
                )

            for what, layer, expected in
                [
                    "int symmetric conv padding", intConv (1, 1, 0, 0), 1us
                    "int asymmetric conv padding", intConv (1, 0, 0, 1), 3us
                    "int right-padded conv", intConv (0, 0, 0, 2), 3us
                    "int unpadded max pool", intPool (IntLayerKind.MaxPool, (0, 0, 0, 0)), 1us
                    "int padded max pool", intPool (IntLayerKind.MaxPool, (0, 1, 0, 0)), 3us
                    "int symmetrically padded average pool", intPool (IntLayerKind.AvgPool, (1, 1, 1, 1)), 3us
                ] do
                let m =
                    IntModel(what, inS, 0.5f, 3, [| layer |], Array.init layer.Output.C (sprintf "k%d"))

                let bytes = ModelFile.serializeInt m
                Expect.equal (version bytes) expected what
                Expect.equal (ModelFile.intVersion m) expected what

                match ModelFile.deserialize bytes with
                | Ok(IntegerModel back) ->
                    Expect.equal (dumpInt back) (dumpInt m) what
                    Expect.equal (ModelFile.serializeInt back) bytes what
                | other -> failtest $"{what}: {other}"

        testCase "metadata with a repeated key is rejected"
        <| fun () ->
            let good =
                ModelFile.serializeFloat {
                    smallFloat with
                        Meta = Map [ "aa", "1"; "ab", "2" ]
                }

            // The payload ends with "ab", then the 4-byte length of "2" and "2": rename "ab" to "aa".
            let at = good.Length - 32 - 1 - 4 - 2
            Expect.equal (Encoding.UTF8.GetString(good, at, 2)) "ab" "the payload ends with the key ab"
            let edited = Array.copy good
            edited[at + 1] <- byte 'a'

            ModelFile.deserialize (rechecksum edited)
            |> expectError "metadata key 'aa' appears more than once"

        testPropertyWithConfig
            (Properties.tests 100)
            "a float model file with a NaN or infinite parameter is refused on load naming the layer"
        <| fun () ->
            // Written with a marker value in the slot, then the marker's bytes replaced: the writer refuses non-finite values.
            let marker = 12345.678f

            Prop.forAll (Arb.fromGen (Gen.zip paramSlot nonFinite)) (fun ((layer, kind, what, k), bad) ->
                let good = ModelFile.serializeFloat (withParam layer what k marker)
                let needle = BitConverter.GetBytes marker
                let at = ReadOnlySpan(good).IndexOf(ReadOnlySpan needle)
                let edited = Array.copy good
                BitConverter.GetBytes(bad).CopyTo(edited, at)

                match ModelFile.deserialize (rechecksum edited) with
                | Ok _ -> false |@ "loaded"
                | Error e ->
                    (e.Contains $"layer {layer} ({kind}): {what}" && e.Contains "not a finite number")
                    |@ e)

        testPropertyWithConfig (Properties.tests 50) "a float model with a NaN or infinite parameter is never written"
        <| fun () ->
            Prop.forAll (Arb.fromGen (Gen.zip paramSlot nonFinite)) (fun ((layer, kind, what, k), bad) ->
                try
                    ModelFile.serializeFloat (withParam layer what k bad) |> ignore
                    false |@ "written"
                with :? ArgumentException as e ->
                    e.Message.Contains $"layer {layer} ({kind}): {what}" |@ e.Message)

        testCase "a model without layers is refused on load and never written, float and integer alike"
        <| fun () ->
            let header (w: BinaryWriter) =
                str w "hollow"
                w.Write 1
                w.Write 1
                w.Write 2 // input 1x1x2

            frame
                1uy
                (payload (fun w ->
                    w.Write 1uy
                    header w
                    w.Write 0 // no class names
                    w.Write 0)) // no layers
            |> ModelFile.deserialize
            |> expectError "invalid float model 'hollow': it has no layers"

            frame
                2uy
                (payload (fun w ->
                    w.Write 2uy
                    header w
                    w.Write 0.5f // input scale
                    w.Write 0 // input zero point
                    w.Write 0 // no class names
                    w.Write 0)) // no layers
            |> ModelFile.deserialize
            |> expectError "invalid integer model 'hollow': it has no layers"

            Expect.throwsT<ArgumentException>
                (fun () -> ModelFile.serializeFloat { smallFloat with Layers = [] } |> ignore)
                "a float model without layers is not serialized"

            Expect.throwsT<ArgumentException>
                (fun () ->
                    ModelFile.serializeInt (IntModel("hollow", Shape3(1, 1, 2), 0.5f, 0, [||], [||]))
                    |> ignore)
                "an integer model without layers is not serialized"
    ]
