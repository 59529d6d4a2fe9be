/// Per-layer work from prefix timings (Profile): exact recovery from a coarse counter, the repeats it needs, the
/// report and its JSON keys (the contract every part of issue 12 reads).
module Tern.Tests.ProfileTests

open System
open System.Text.Json.Nodes
open Expecto
open FsCheck
open FsCheck.FSharp
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

[<Tests>]
let tests =
    testList "ProfileTests" [
        testPropertyWithConfig
            (Properties.tests 300)
            "each layer's work comes back exact from a counter 40 times coarser, with the repeats Profile picks"
        <| fun () ->
            Prop.forAll (Arb.fromGen caseGen) (fun (perTick, layers, call, overhead, phases) ->
                let repeats = Profile.repeats (float perTick) (Array.sum layers + call)
                let data = simulate perTick repeats call overhead phases layers
                let back = Profile.layerWork (float perTick) data

                (back = layers)
                |> Prop.label $"R {repeats}: got %A{back}"
                |> Prop.classify (perTick = 40L) "40 per tick (mps2-an386)"
                |> Prop.classify (layers |> Array.exists (fun w -> w < 13L)) "a layer of a few instructions")

        testCase "too few repeats are not exact: the coarse counter shows through"
        <| fun () ->
            // the guard above must be able to fail: 40 units per tick and R = 8 leave errors of several units
            let layers = [| 109_031L; 37_372L; 99_905L; 25_916L; 7L; 3_116L |]
            let phases = [| 0L; 13L; 39L; 7L; 21L; 33L; 2L |]
            let data = simulate 40L 8 20L 12L phases layers
            Expect.notEqual (Profile.layerWork 40.0 data) layers "R = 8 at 40 per tick is not exact"

        testPropertyWithConfig
            (Properties.tests 200)
            "repeats: more than 4 ticks' work, at least 8, at most 4096, and R inferences fit the counter"
        <| fun () ->
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

        testCase "work per tick: instructions from 10^9 over the counter, cycles from the core clock"
        <| fun () ->
            Expect.equal
                (Profile.workPerTick WorkUnit.Instructions 25_000_000u 25_000_000u)
                40.0
                "instructions per tick at 25 MHz"

            Expect.equal
                (Profile.workPerTick WorkUnit.Instructions 168_000_000u 1_000_000_000u)
                1.0
                "instructions per tick of a 1 GHz counter"

            Expect.equal (Profile.workPerTick WorkUnit.Cycles 16_000_000u 16_000_000u) 1.0 "cycles per tick"

        testCase
            "the report: layers in order with MACs, arena from the memory plan, time at the clock, sum and coverage"
        <| fun () ->
            let m = model ()
            let n = m.Layers.Length
            let work = Array.init n (fun i -> int64 (1000 * (i + 1)))
            let data = simulate 1L 8 5L 0L [| 0L |] work

            let p =
                Profile.build m WorkUnit.Instructions 25_000_000L 1.0 data (flashOf n) 3 (Array.sum work + 10L)

            let live = Engine.MemoryPlan.LiveBytes m

            Expect.isTrue
                ((p.Layers |> List.map (fun l -> l.Work) |> List.toArray) = work)
                "each layer's work, in order"

            Expect.isTrue ((p.Layers |> List.map (fun l -> l.Index)) = [ 0 .. n - 1 ]) "the layers in order"

            Expect.isTrue
                ((p.Layers |> List.map (fun l -> l.Macs) |> List.toArray) =
                    (m.Layers |> Array.map (fun l -> l.MacCount)))
                "each layer's MACs"

            Expect.isTrue
                ((p.Layers |> List.map (fun l -> l.ArenaBytes) |> List.toArray) = live)
                "each layer's arena bytes from the memory plan"

            Expect.floatClose { absolute = 1e-12; relative = 0.0 } p.Layers[0].Ms (1000.0 / 25_000.0) "first layer's ms"
            Expect.equal p.LayersSum (Array.sum work) "the layers' sum"

            Expect.floatClose
                { absolute = 1e-12; relative = 0.0 }
                p.Coverage
                (float (Array.sum work) / float (Array.sum work + 10L))
                "the coverage"

            Expect.equal p.Sample 3 "the sample profiled"

            let wrong = simulate 1L 8 5L 0L [| 0L |] work[1..]

            Expect.throwsT<Exception>
                (fun () ->
                    Profile.build m WorkUnit.Instructions 25_000_000L 1.0 wrong (flashOf n) 0 1L
                    |> ignore)
                "a profile with one layer too few is refused"

        testCase "JSON: every layer has the contract's keys; profile has unit, clock, sum, inference and coverage"
        <| fun () ->
            let m = model ()
            let n = m.Layers.Length
            let work = Array.init n (fun i -> if m.Layers[i].MacCount = 0L then 7L else 5000L)

            for unit, name in [ WorkUnit.Instructions, "instructions"; WorkUnit.Cycles, "cycles" ] do
                let p =
                    Profile.build
                        m
                        unit
                        16_000_000L
                        1.0
                        (simulate 1L 8 0L 0L [| 0L |] work)
                        (flashOf n)
                        0
                        (Array.sum work)

                let o = JsonObject()
                Profile.addJson o p
                let layers = o["layers"].AsArray()
                Expect.equal layers.Count n $"{name}: one entry per layer"

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
                        Expect.isTrue (l.ContainsKey key) $"layer {i} lacks {key}"

                    Expect.equal (l["index"].GetValue<int>()) i $"layer {i}: index"
                    Expect.equal (l["flash_bytes"].GetValue<int64>()) (int64 (10 * i) + 104L) $"layer {i}: flash_bytes"
                    Expect.equal (l["output_shape"].AsArray().Count) 3 $"layer {i}: output_shape has 3 dimensions"

                    if m.Layers[i].MacCount = 0L then
                        Expect.isNull l[$"{name}_per_mac"] "no MACs: no ratio"

                let s = o["profile"].AsObject()
                Expect.equal (s["unit"].GetValue<string>()) name "profile: unit"
                Expect.equal (s["clock_hz"].GetValue<int64>()) 16_000_000L "profile: clock_hz"
                Expect.equal (s["layers_sum"].GetValue<int64>()) (Array.sum work) "profile: layers_sum"
                Expect.equal (s["inference"].GetValue<int64>()) (Array.sum work) "profile: inference"
                Expect.equal (s["coverage"].GetValue<float>()) 1.0 "profile: coverage"
                Expect.equal (s["shared_flash"].AsArray().Count) 1 "profile: shared_flash"
    ]
