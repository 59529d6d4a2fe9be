module Tern.Tests.EmitTests

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Tests.KernelTests.KernelGen

/// Single-layer models around the kernel generators, and the default models, for the emitter.
module private EmitGen =

    let singleLayer (layer: IntLayer) (zIn: int) : IntModel =
        IntModel("one", layer.Input, 0.05f, zIn, [| layer |], [| "a" |])

    let ternaryConv: Gen<IntConvLayer * int> =
        gen {
            let! kind =
                Gen.elements [
                    IntLayerKind.Conv
                    IntLayerKind.Pointwise
                    IntLayerKind.Dense
                    IntLayerKind.Depthwise
                ]

            let! c = convCase kind true
            return toConv "t" c, c.ZIn
        }

    let hashOf (m: IntModel) : string =
        ModelFile.hash (ModelFile.serializeInt m)

    let defaultInt8 = lazy (KernelVectors.defaultModel LowerOptions.Int8 1)
    let defaultTernary = lazy (KernelVectors.defaultModel LowerOptions.Ternary 1)

    let options = {
        CommandLine = "tern emit --arch default */ --seed 1"
        Prefix = Emit.firmwarePrefix
    }

    /// Declared length of `name[N]` in the source.
    let declaredLength (source: string) (name: string) : int option =
        let m = Regex.Match(source, Regex.Escape name + @"\[(\d+)\]")
        if m.Success then Some(int m.Groups[1].Value) else None

open EmitGen

[<Tests>]
let tests =
    testList "EmitTests" [
        testCase "emitted source is deterministic"
        <| fun () ->
            for weights, m in [ "int8", defaultInt8.Value; "ternary", defaultTernary.Value ] do
                let h = hashOf m
                let a = Emit.model options m h
                let b = Emit.model options m h
                // a model read back from its file emits the same bytes too
                let reread =
                    match ModelFile.deserialize (ModelFile.serializeInt m) with
                    | Ok(IntegerModel r) -> r
                    | other -> failwithf "round trip failed: %A" other

                let c = Emit.model options reread h
                Expect.equal b.Source a.Source $"{weights}: the source emitted twice"
                Expect.equal b.Header a.Header $"{weights}: the header emitted twice"
                Expect.equal c.Source a.Source $"{weights}: the source of the model read back"

        testCase "source opens with the provenance: version, model hash, command line"
        <| fun () ->
            let m = defaultTernary.Value
            let h = hashOf m
            let e = Emit.model options m h
            Expect.stringStarts e.Source "/*" "the source opens with a comment"
            let firstComment = e.Source.Substring(0, e.Source.IndexOf "*/" + 2)
            Expect.stringContains firstComment ("Tern " + Emit.version) "the comment gives the version"
            Expect.stringContains firstComment h "the comment gives the model hash"
            // the command line's own "*/" must not close the comment early
            Expect.stringContains
                firstComment
                "tern emit --arch default *? --seed 1"
                "the comment gives the command line"
            // the hash is also there as 32 bytes, in order
            let bytes = Convert.FromHexString h

            Expect.stringContains
                e.Source
                ("tern_model_hash[32] = {\n    0x" + bytes[0].ToString "x2")
                "the hash as 32 bytes"

            Expect.stringContains e.Source "#include \"tern_model.h\"" "the source includes its header"
            Expect.stringStarts e.Header "/* tern_model.h" "the header opens with its name"

        testCase "arena size equals the memory plan's and every layer reads and writes at the plan's offsets"
        <| fun () ->
            for weights, m in [ "int8", defaultInt8.Value; "ternary", defaultTernary.Value ] do
                let plan = MemoryPlan.Create m
                let e = Emit.model options m (hashOf m)
                Expect.equal e.ArenaBytes plan.ArenaBytes $"{weights}: arena bytes"

                Expect.stringContains
                    e.Header
                    $"#define TERN_MODEL_ARENA_BYTES {plan.ArenaBytes}u"
                    $"{weights}: the header's arena size"

                Expect.stringContains
                    e.Source
                    "static int8_t tern_model_arena[TERN_MODEL_ARENA_BYTES] __attribute__((aligned(8)));"
                    $"{weights}: the arena's declaration"

                Expect.equal e.WeightBytes (m.Layers |> Array.sumBy (fun l -> l.WeightBytes)) $"{weights}: weight bytes"

                for i in 0 .. m.Layers.Length - 1 do
                    let s = plan.Layers[i]

                    if not s.IsView then
                        Expect.stringContains
                            e.Source
                            $"tern_model_arena + {s.InputOffset}, tern_model_arena + {s.OutputOffset});"
                            $"{weights}: layer {i}'s offsets"

        testCase "default ternary model: weights appear packed, rows times ceil(fanIn / 4) bytes"
        <| fun () ->
            let m = defaultTernary.Value
            let e = Emit.model options m (hashOf m)

            m.Layers
            |> Array.iteri (fun i l ->
                match l with
                | :? IntConvLayer as c ->
                    let expected = c.OutChannels * ((c.FanIn + 3) / 4)

                    Expect.equal
                        (declaredLength e.Source $"static const uint8_t tern_l{i}_weights")
                        (Some expected)
                        c.Name
                | _ -> ())

        testPropertyWithConfig
            (Properties.tests 40)
            "ternary layers emit rows * ceil(fanIn / 4) packed bytes, exactly the model's"
        <| fun () ->
            Prop.forAll (Arb.fromGen ternaryConv) (fun (layer, zIn) ->
                let m = singleLayer layer zIn
                let e = Emit.model options m (hashOf m)
                let expected = layer.OutChannels * ((layer.FanIn + 3) / 4)

                let bytes =
                    layer.TernaryWeights.Data
                    |> Array.map (fun b -> "0x" + b.ToString "x2")
                    |> String.concat ", "

                (declaredLength e.Source "static const uint8_t tern_l0_weights" = Some expected
                 && e.Source.Replace(",\n    ", ", ").Contains bytes)
                |> Prop.classify (layer.FanIn % 4 = 0) "fan-in a multiple of 4"
                |> Prop.classify (layer.FanIn % 4 <> 0) "padded rows"
                |> Prop.collect layer.Kind)

        testCase "a malformed hash is rejected"
        <| fun () ->
            let m = defaultInt8.Value

            Expect.throwsT<ArgumentException> (fun () -> Emit.model options m "abc" |> ignore) "a short hash"

            Expect.throwsT<ArgumentException>
                (fun () -> Emit.model options m (String('g', 64)) |> ignore)
                "a hash that is not hexadecimal"

        testCase "writeFiles writes p.h and p.c and leaves no temporary file"
        <| fun () ->
            let dir = Path.Combine(Scratch.folder "tern-emit", "out")
            let m = defaultInt8.Value
            let e = Emit.model options m (hashOf m)
            Emit.writeFiles dir e
            Emit.writeFiles dir e // over an existing file
            Expect.equal (File.ReadAllText(Path.Combine(dir, "tern_model.c"))) e.Source "tern_model.c"
            Expect.equal (File.ReadAllText(Path.Combine(dir, "tern_model.h"))) e.Header "tern_model.h"

            let names =
                Directory.GetFiles dir
                |> Array.map Path.GetFileName
                |> Array.sort
                |> String.concat " "

            Expect.equal names "tern_model.c tern_model.h" "only the two files"

        testCase "DSP build runs ternary layers as baked code, the reference build keeps the packed kernels"
        <| fun () ->
            let m = defaultTernary.Value
            let e = Emit.model options m (hashOf m)

            m.Layers
            |> Array.iteri (fun i l ->
                match l with
                | :? IntConvLayer ->
                    Expect.stringContains
                        e.Source
                        $"static TB_CODE void tern_l{i}_baked(const int8_t *in, int8_t *out)"
                        $"layer {i}: its baked function"

                    Expect.stringContains
                        e.Source
                        $"        tern_l{i}_baked(tern_model_arena + "
                        $"layer {i}: its baked call"

                    Expect.stringContains
                        e.Source
                        $"(&tern_l{i}_params, tern_l{i}_weights, tern_model_arena + "
                        $"layer {i}: its packed kernel's call"
                | _ -> ())

            // the packed weights are only compiled into the reference build
            Expect.stringContains
                e.Source
                "#if !TERN_KERNELS_DSP\nstatic const uint8_t tern_l0_weights"
                "the packed weights only in the reference build"
            // conv and pointwise take two pixels per register; the helpers come from tern_baked.h, not the model
            Expect.stringContains e.Source "static TB_CODE void tern_l0_px2(" "two pixels per register"
            Expect.stringContains e.Source "tb_sadd16(s, " "the SIMD helpers"
            Expect.stringContains e.Source "#include \"tern_baked.h\"" "the baked layers' helpers"
            Expect.isFalse (e.Source.Contains "static inline") "no helper written into the model"

            let opens = Regex.Matches(e.Source, @"^#if", RegexOptions.Multiline).Count
            let closes = Regex.Matches(e.Source, @"^#endif", RegexOptions.Multiline).Count
            Expect.equal closes opens "every #if is closed"
            // an int8 model has nothing baked
            let i8 = Emit.model options defaultInt8.Value (hashOf defaultInt8.Value)
            Expect.isFalse (i8.Source.Contains "tb_") "an int8 model has no baked helper"
            Expect.isFalse (i8.Source.Contains "tern_baked.h") "an int8 model does not include the baked helpers"
            Expect.isFalse (i8.Source.Contains "_baked") "an int8 model has no baked layer"

        testPropertyWithConfig
            (Properties.tests 40)
            "every ternary layer is baked: one pixel always, two per register off depthwise, border only with padding"
        <| fun () ->
            Prop.forAll (Arb.fromGen ternaryConv) (fun (layer, zIn) ->
                let m = singleLayer layer zIn
                let src = (Emit.model options m (hashOf m)).Source
                let px2 = src.Contains "static TB_CODE void tern_l0_px2("
                let border = src.Contains "static TB_CODE void tern_l0_border("
                // some window hangs over the input (a bottom or right padding may add none)
                let over (n: int) (k: int) (s: int) (before: int) (outN: int) =
                    List.init outN id
                    |> List.exists (fun o -> o * s - before < 0 || o * s - before + k > n)

                let padded =
                    layer.Kind <> IntLayerKind.Dense
                    && (over layer.Input.H layer.KernelH layer.StrideH layer.PadTop layer.Output.H
                        || over layer.Input.W layer.KernelW layer.StrideW layer.PadLeft layer.Output.W)

                let ok =
                    src.Contains "static TB_CODE void tern_l0_px1("
                    && src.Contains "static TB_CODE void tern_l0_baked("
                    && border = padded
                    // the border path gathers into tern_patch, declared exactly when some layer needs it
                    && src.Contains "static int8_t tern_patch[" = border
                    && (not px2 || layer.Kind <> IntLayerKind.Depthwise)
                    && (layer.Kind <> IntLayerKind.Dense || not px2)

                ok
                |> Prop.classify px2 "two pixels per register"
                |> Prop.classify border "border windows"
                |> Prop.classify (not layer.HasSymmetricPadding) "asymmetric padding"
                |> Prop.collect layer.Kind)

        testCase "a channel with more than 255 non-zero weights accumulates int16 chunks of at most 255 into int32"
        <| fun () ->
            // pointwise 300 -> 2 on 1x4: channel 0 all +1 (two chunks), channel 1 all zero (a constant)
            let fanIn = 300
            let weights = Array.init (2 * fanIn) (fun j -> if j < fanIn then 1y else 0y)

            let layer =
                IntConvLayer(
                    "wide",
                    IntLayerKind.Pointwise,
                    Shape3(1, 4, fanIn),
                    Shape3(1, 4, 2),
                    1,
                    1,
                    1,
                    1,
                    0,
                    0,
                    WeightKind.Ternary,
                    null,
                    PackedTernary.Pack(2, fanIn, ReadOnlySpan weights),
                    [| 5; -7 |],
                    [| 1 <<< 30; 1 <<< 30 |],
                    [| 40; 40 |],
                    3,
                    -2,
                    -128,
                    127,
                    1.0f,
                    1.0f,
                    [| 1.0f; 1.0f |]
                )

            layer.Validate()

            let src =
                (Emit.model options (singleLayer layer 3) (hashOf (singleLayer layer 3))).Source

            Expect.stringContains
                src
                "/* channel 0: 300 terms, in chunks of at most 255 added into int32 */"
                "channel 0 in chunks"

            Expect.equal
                (Regex.Matches(src, Regex.Escape "a0 = tb_add(a0, tb_lo(s));").Count)
                2
                "two chunks added into int32"
            // the all-zero channel is the requantized bias, computed by the emitter
            let k = Requantize.Apply(-7, 1 <<< 30, 40, -2, -128, 127)
            Expect.stringContains src $"o[1] = {k};" "the all-zero channel is a constant"
            // fold = bias - z_in * 300
            Expect.stringContains src $"a0 = {5 - 3 * 300};" "the folded bias"
    ]
