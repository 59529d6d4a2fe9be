/// Per-layer work from prefix timings (Profile): exact recovery from a coarse counter, the repeats it needs, the
/// report and its JSON keys (the contract every part of issue 12 reads).
module Tern.Tests.ProfileTests

open System
open System.Text.Json.Nodes
open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Protocol
open Tern.Rig

/// What a device with a counter of `perTick` work units per tick reports for layers of exact work `layers`: each
/// window starts at a random phase of the counter and holds `overhead` units of timing besides R runs of the prefix
/// (each run also pays `call` units, the base run only that).
let private simulate
    (perTick: int64)
    (repeats: int)
    (call: int64)
    (overhead: int64)
    (phases: int64[])
    (layers: int64[])
    =
    let window (k: int) (work: int64) =
        let phase = phases[k % phases.Length] % perTick
        let ticks = (phase + overhead + int64 repeats * work) / perTick - phase / perTick
        uint32 ticks

    let prefixes = Array.scan (+) call layers

    ProfileDataMessage(
        uint16 repeats,
        window 0 prefixes[0],
        Array.init layers.Length (fun k -> window (k + 1) prefixes[k + 1])
    )

let private caseGen =
    gen {
        let! perTick = Gen.elements [ 1L; 2L; 40L; 100L ]
        let! n = Gen.choose (1, 12)

        let! layers =
            Gen.arrayOfLength
                n
                (Gen.frequency [ 1, Gen.choose (0, 12); 4, Gen.choose (100, 400_000) ]
                 |> Gen.map int64)

        let! call = Gen.choose (0, 60) |> Gen.map int64
        let! overhead = Gen.choose (0, 40) |> Gen.map int64
        let! phases = Gen.arrayOfLength (n + 1) (Gen.choose (0, 1000) |> Gen.map int64)
        return perTick, layers, call, overhead, phases
    }

[<Property(MaxTest = 300)>]
let ``each layer's work comes back exact from a counter 40 times coarser, with the repeats Profile picks`` () =
    Prop.forAll (Arb.fromGen caseGen) (fun (perTick, layers, call, overhead, phases) ->
        let repeats = Profile.repeats (float perTick) (Array.sum layers + call)
        let data = simulate perTick repeats call overhead phases layers
        let back = Profile.layerWork (float perTick) data

        (back = layers)
        |> Prop.label $"R {repeats}: got %A{back}"
        |> Prop.classify (perTick = 40L) "40 per tick (mps2-an386)"
        |> Prop.classify (layers |> Array.exists (fun w -> w < 13L)) "a layer of a few instructions")

[<Test>]
let ``too few repeats are not exact: the coarse counter shows through`` () =
    // the guard above must be able to fail: 40 units per tick and R = 8 leave errors of several units
    let layers = [| 109_031L; 37_372L; 99_905L; 25_916L; 7L; 3_116L |]
    let phases = [| 0L; 13L; 39L; 7L; 21L; 33L; 2L |]
    let data = simulate 40L 8 20L 12L phases layers
    Assert.That(Profile.layerWork 40.0 data, Is.Not.EqualTo layers)

[<Property(MaxTest = 200)>]
let ``repeats: more than 4 ticks' work, at least 8, at most 4096, and R inferences fit the counter`` () =
    let g =
        Gen.map2
            (fun p w -> p, w)
            (Gen.elements [ 1.0; 6.72; 40.0; 100.0 ])
            (Gen.frequency [ 3, Gen.choose (1, 2_000_000); 1, Gen.choose (1, Int32.MaxValue) ]
             |> Gen.map int64)

    Prop.forAll (Arb.fromGen g) (fun (perTick, work) ->
        let r = Profile.repeats perTick work
        let ticks = float r * float work / perTick
        let exact = float r > 4.0 * perTick && r >= 8

        (r >= 1
         && r <= 4096
         && ticks < 2.0 ** 31.0
         && (exact || float r * 2.0 * max 1.0 (float work / perTick) > 2.0 ** 30.0))
        |> Prop.label $"R {r}, {ticks} ticks")

[<Test>]
let ``work per tick: instructions from 10^9 over the counter, cycles from the core clock`` () =
    Assert.That(Profile.workPerTick WorkUnit.Instructions 25_000_000u 25_000_000u, Is.EqualTo 40.0)
    Assert.That(Profile.workPerTick WorkUnit.Instructions 168_000_000u 1_000_000_000u, Is.EqualTo 1.0)
    Assert.That(Profile.workPerTick WorkUnit.Cycles 16_000_000u 16_000_000u, Is.EqualTo 1.0)

let private model () =
    let m = Architectures.defaultModel 1

    match Lower.lower LowerOptions.Ternary (Lower.randomCalibration 1 8 m.Input) m with
    | Ok im -> im
    | Error e -> failwith e

let private flashOf (n: int) : FirmwareMap = {
    Layers =
        Array.init n (fun i -> {
            WeightBytes = int64 (10 * i)
            ParamBytes = 4L
            CodeBytes = 100L
            Kernel = (if i = 1 then "tern_avgpool_s8" else "")
            KernelShared = false
        })
    Shared = [
        {
            Name = "model driver"
            Bytes = 300L
            Layers = [ 0 .. n - 1 ]
        }
    ]
    DebugInfo = true
}

[<Test>]
let ``the report: layers in order with MACs, arena from the memory plan, time at the clock, sum and coverage`` () =
    let m = model ()
    let n = m.Layers.Length
    let work = Array.init n (fun i -> int64 (1000 * (i + 1)))
    let data = simulate 1L 8 5L 0L [| 0L |] work

    let p =
        Profile.build m WorkUnit.Instructions 25_000_000L 1.0 data (flashOf n) 3 (Array.sum work + 10L)

    let live = Engine.MemoryPlan.LiveBytes m
    Assert.That((p.Layers |> List.map (fun l -> l.Work) |> List.toArray) = work, Is.True)
    Assert.That((p.Layers |> List.map (fun l -> l.Index)) = [ 0 .. n - 1 ], Is.True)

    Assert.That(
        (p.Layers |> List.map (fun l -> l.Macs) |> List.toArray) = (m.Layers |> Array.map (fun l -> l.MacCount)),
        Is.True
    )

    Assert.That((p.Layers |> List.map (fun l -> l.ArenaBytes) |> List.toArray) = live, Is.True)
    Assert.That(p.Layers[0].Ms, Is.EqualTo(1000.0 / 25_000.0).Within 1e-12)
    Assert.That(p.LayersSum, Is.EqualTo(Array.sum work))
    Assert.That(p.Coverage, Is.EqualTo(float (Array.sum work) / float (Array.sum work + 10L)).Within 1e-12)
    Assert.That(p.Sample, Is.EqualTo 3)

    let wrong = simulate 1L 8 5L 0L [| 0L |] work[1..]

    Assert.Throws<Exception>(fun () ->
        Profile.build m WorkUnit.Instructions 25_000_000L 1.0 wrong (flashOf n) 0 1L
        |> ignore)
    |> ignore

[<Test>]
let ``JSON: every layer has the contract's keys; profile has unit, clock, sum, inference and coverage`` () =
    let m = model ()
    let n = m.Layers.Length
    let work = Array.init n (fun i -> if m.Layers[i].MacCount = 0L then 7L else 5000L)

    for unit, name in [ WorkUnit.Instructions, "instructions"; WorkUnit.Cycles, "cycles" ] do
        let p =
            Profile.build m unit 16_000_000L 1.0 (simulate 1L 8 0L 0L [| 0L |] work) (flashOf n) 0 (Array.sum work)

        let o = JsonObject()
        Profile.addJson o p
        let layers = o["layers"].AsArray()
        Assert.That(layers.Count, Is.EqualTo n)

        for i in 0 .. n - 1 do
            let l = layers[i].AsObject()

            for key in
                [
                    "index"
                    "name"
                    "kind"
                    "output_shape"
                    "macs"
                    name
                    $"{name}_per_mac"
                    "flash_bytes"
                    "arena_bytes"
                    "ms"
                ] do
                Assert.That(l.ContainsKey key, Is.True, $"layer {i} lacks {key}")

            Assert.That(l["index"].GetValue<int>(), Is.EqualTo i)
            Assert.That(l["flash_bytes"].GetValue<int64>(), Is.EqualTo(int64 (10 * i) + 104L))
            Assert.That(l["output_shape"].AsArray().Count, Is.EqualTo 3)

            if m.Layers[i].MacCount = 0L then
                Assert.That(l[$"{name}_per_mac"], Is.Null, "no MACs: no ratio")

        let s = o["profile"].AsObject()
        Assert.That(s["unit"].GetValue<string>(), Is.EqualTo name)
        Assert.That(s["clock_hz"].GetValue<int64>(), Is.EqualTo 16_000_000L)
        Assert.That(s["layers_sum"].GetValue<int64>(), Is.EqualTo(Array.sum work))
        Assert.That(s["inference"].GetValue<int64>(), Is.EqualTo(Array.sum work))
        Assert.That(s["coverage"].GetValue<float>(), Is.EqualTo 1.0)
        Assert.That(s["shared_flash"].AsArray().Count, Is.EqualTo 1)
