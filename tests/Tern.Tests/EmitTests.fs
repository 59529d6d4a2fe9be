module Tern.Tests.EmitTests

open System
open System.IO
open System.Text.RegularExpressions
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
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

[<Test>]
let ``emitted source is deterministic`` () =
    for m in [ defaultInt8.Value; defaultTernary.Value ] do
        let h = hashOf m
        let a = Emit.model options m h
        let b = Emit.model options m h
        // a model read back from its file emits the same bytes too
        let reread =
            match ModelFile.deserialize (ModelFile.serializeInt m) with
            | Ok(IntegerModel r) -> r
            | other -> failwithf "round trip failed: %A" other

        let c = Emit.model options reread h
        Assert.That(b.Source, Is.EqualTo a.Source)
        Assert.That(b.Header, Is.EqualTo a.Header)
        Assert.That(c.Source, Is.EqualTo a.Source)

[<Test>]
let ``source opens with the provenance: version, model hash, command line`` () =
    let m = defaultTernary.Value
    let h = hashOf m
    let e = Emit.model options m h
    Assert.That(e.Source, Does.StartWith "/*")
    let firstComment = e.Source.Substring(0, e.Source.IndexOf "*/" + 2)
    Assert.That(firstComment, Does.Contain("Tern " + Emit.version))
    Assert.That(firstComment, Does.Contain h)
    // the command line's own "*/" must not close the comment early
    Assert.That(firstComment, Does.Contain "tern emit --arch default *? --seed 1")
    // the hash is also there as 32 bytes, in order
    let bytes = Convert.FromHexString h
    Assert.That(e.Source, Does.Contain("tern_model_hash[32] = {\n    0x" + bytes[0].ToString "x2"))
    Assert.That(e.Source, Does.Contain "#include \"tern_model.h\"")
    Assert.That(e.Header, Does.StartWith "/* tern_model.h")

[<Test>]
let ``arena size equals the memory plan's and every layer reads and writes at the plan's offsets`` () =
    for m in [ defaultInt8.Value; defaultTernary.Value ] do
        let plan = MemoryPlan.Create m
        let e = Emit.model options m (hashOf m)
        Assert.That(e.ArenaBytes, Is.EqualTo plan.ArenaBytes)
        Assert.That(e.Header, Does.Contain $"#define TERN_MODEL_ARENA_BYTES {plan.ArenaBytes}u")

        Assert.That(
            e.Source,
            Does.Contain "static int8_t tern_model_arena[TERN_MODEL_ARENA_BYTES] __attribute__((aligned(8)));"
        )

        Assert.That(e.WeightBytes, Is.EqualTo(m.Layers |> Array.sumBy (fun l -> l.WeightBytes)))

        for i in 0 .. m.Layers.Length - 1 do
            let s = plan.Layers[i]

            if not s.IsView then
                Assert.That(
                    e.Source,
                    Does.Contain $"tern_model_arena + {s.InputOffset}, tern_model_arena + {s.OutputOffset});"
                )

[<Test>]
let ``default ternary model: weights appear packed, rows times ceil(fanIn / 4) bytes`` () =
    let m = defaultTernary.Value
    let e = Emit.model options m (hashOf m)

    m.Layers
    |> Array.iteri (fun i l ->
        match l with
        | :? IntConvLayer as c ->
            let expected = c.OutChannels * ((c.FanIn + 3) / 4)

            Assert.That(
                declaredLength e.Source $"static const uint8_t tern_l{i}_weights",
                Is.EqualTo(Some expected),
                c.Name
            )
        | _ -> ())

[<Property(MaxTest = 40)>]
let ``ternary layers emit rows * ceil(fanIn / 4) packed bytes, exactly the model's`` () =
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

[<Test>]
let ``a malformed hash is rejected`` () =
    let m = defaultInt8.Value

    Assert.Throws<ArgumentException>(fun () -> Emit.model options m "abc" |> ignore)
    |> ignore

    Assert.Throws<ArgumentException>(fun () -> Emit.model options m (String('g', 64)) |> ignore)
    |> ignore

[<Test>]
let ``writeFiles writes p.h and p.c and leaves no temporary file`` () =
    let dir = Path.Combine(Path.GetTempPath(), $"tern-emit-{Guid.NewGuid():N}")

    try
        let m = defaultInt8.Value
        let e = Emit.model options m (hashOf m)
        Emit.writeFiles dir e
        Emit.writeFiles dir e // over an existing file
        Assert.That(File.ReadAllText(Path.Combine(dir, "tern_model.c")), Is.EqualTo e.Source)
        Assert.That(File.ReadAllText(Path.Combine(dir, "tern_model.h")), Is.EqualTo e.Header)

        let names =
            Directory.GetFiles dir
            |> Array.map Path.GetFileName
            |> Array.sort
            |> String.concat " "

        Assert.That(names, Is.EqualTo "tern_model.c tern_model.h")
    finally
        if Directory.Exists dir then
            Directory.Delete(dir, true)

[<Test>]
let ``DSP build runs ternary layers as baked code, the reference build keeps the packed kernels`` () =
    let m = defaultTernary.Value
    let e = Emit.model options m (hashOf m)

    m.Layers
    |> Array.iteri (fun i l ->
        match l with
        | :? IntConvLayer ->
            Assert.That(e.Source, Does.Contain $"static void tern_l{i}_baked(const int8_t *in, int8_t *out)")
            Assert.That(e.Source, Does.Contain $"        tern_l{i}_baked(tern_model_arena + ")
            Assert.That(e.Source, Does.Contain $"(&tern_l{i}_params, tern_l{i}_weights, tern_model_arena + ")
        | _ -> ())

    // the packed weights are only compiled into the reference build
    Assert.That(e.Source, Does.Contain "#if !TERN_KERNELS_DSP\nstatic const uint8_t tern_l0_weights")
    // conv and pointwise take two pixels per register; the SSAT helpers exist only for the shifts used
    Assert.That(e.Source, Does.Contain "static void tern_l0_px2(")
    Assert.That(e.Source, Does.Contain "tb_sadd16(s, ")

    let opens = Regex.Matches(e.Source, @"^#if", RegexOptions.Multiline).Count
    let closes = Regex.Matches(e.Source, @"^#endif", RegexOptions.Multiline).Count
    Assert.That(closes, Is.EqualTo opens)
    // an int8 model has nothing baked
    let i8 = Emit.model options defaultInt8.Value (hashOf defaultInt8.Value)
    Assert.That(i8.Source, Does.Not.Contain "tb_")
    Assert.That(i8.Source, Does.Not.Contain "_baked")

[<Property(MaxTest = 40)>]
let ``every ternary layer is baked: one pixel always, two per register off depthwise, border only with padding`` () =
    Prop.forAll (Arb.fromGen ternaryConv) (fun (layer, zIn) ->
        let m = singleLayer layer zIn
        let src = (Emit.model options m (hashOf m)).Source
        let px2 = src.Contains "static void tern_l0_px2("
        let border = src.Contains "static void tern_l0_border("
        // some window hangs over the input (a bottom or right padding may add none)
        let over (n: int) (k: int) (s: int) (before: int) (outN: int) =
            List.init outN id
            |> List.exists (fun o -> o * s - before < 0 || o * s - before + k > n)

        let padded =
            layer.Kind <> IntLayerKind.Dense
            && (over layer.Input.H layer.KernelH layer.StrideH layer.PadTop layer.Output.H
                || over layer.Input.W layer.KernelW layer.StrideW layer.PadLeft layer.Output.W)

        let ok =
            src.Contains "static void tern_l0_px1("
            && src.Contains "static void tern_l0_baked("
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

[<Test>]
let ``a channel with more than 255 non-zero weights accumulates int16 chunks of at most 255 into int32`` () =
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

    Assert.That(src, Does.Contain "/* channel 0: 300 terms, in chunks of at most 255 added into int32 */")
    Assert.That(Regex.Matches(src, Regex.Escape "a0 = tb_add(a0, tb_lo(s));").Count, Is.EqualTo 2)
    // the all-zero channel is the requantized bias, computed by the emitter
    let k = Requantize.Apply(-7, 1 <<< 30, 40, -2, -128, 127)
    Assert.That(src, Does.Contain $"o[1] = {k};")
    // fold = bias - z_in * 300
    Assert.That(src, Does.Contain $"a0 = {5 - 3 * 300};")
