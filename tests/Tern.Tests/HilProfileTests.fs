/// `hil --profile` on the emulated board (Hil.runProfiled): every layer timed, the layers summing to the whole
/// inference, weight flash from the ELF equal to the model's, and a normal run's instructions unchanged.
/// Ignored (naming the packages) without the ARM toolchain.
module Tern.Tests.HilProfileTests

open System
open System.IO
open NUnit.Framework
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Protocol
open Tern.Rig
open Tern.Tests.EmulatedBoard

/// What every profile must satisfy: one entry per layer in order, the sum within 2 % of the inference, work on
/// every layer that computes, milliseconds at the board's clock.
let private checkProfile (model: IntModel) (r: HilReport) (p: ProfileReport) =
    Assert.That(r.Mismatches, Is.EqualTo 0)
    Assert.That(p.Unit, Is.EqualTo "instructions")

    Assert.That(
        p.Layers |> List.map (fun l -> l.Index) |> List.toArray,
        Is.EqualTo<int[]>([| 0 .. model.Layers.Length - 1 |])
    )

    Assert.That(
        p.Layers |> List.map (fun l -> l.Name) |> List.toArray,
        Is.EqualTo<string[]>(model.Layers |> Array.map (fun l -> l.Name))
    )

    Assert.That(p.LayersSum, Is.EqualTo(p.Layers |> List.sumBy (fun l -> l.Work)))
    Assert.That(p.Inference, Is.EqualTo r.Work.Median)
    Assert.That(abs (float p.LayersSum - float p.Inference) / float p.Inference, Is.LessThanOrEqualTo 0.02)
    Assert.That(p.Coverage, Is.EqualTo(float p.LayersSum / float p.Inference).Within 1e-12)

    for l in p.Layers do
        if l.Macs > 0L then
            Assert.That(l.Work, Is.GreaterThan(l.Macs / 8L), $"layer {l.Index} ({l.Name})")

        Assert.That(l.Work, Is.GreaterThanOrEqualTo 0L, $"layer {l.Index} ({l.Name})")
        Assert.That(l.Ms, Is.EqualTo(float l.Work / float p.ClockHz * 1000.0).Within 1e-9)

    TestContext.Out.WriteLine(
        String.Join(
            "\n",
            p.Layers
            |> List.map (fun l -> $"{l.Index} {l.Kind} {l.Macs} {l.Work} flash {l.Flash.Total}")
        )
    )

    TestContext.Out.WriteLine($"sum {p.LayersSum} of {p.Inference} ({100.0 * p.Coverage:F3} %%)")

[<NonParallelizable>]
type HilProfileTests() =
    let cache =
        Path.Combine(Path.GetTempPath(), "tern-hil-profile-tests-" + string Environment.ProcessId)

    let options kernels weights (model: IntModel) n : HilOptions =
        Lower.randomCalibration 5 n model.Input
        |> List.map (Lower.quantizeInput model)
        |> List.toArray
        |> hilOptions cache (board "qemu-mps2-an386") kernels weights model

    [<OneTimeTearDown>]
    member _.TearDown() = EmulatedBoard.removeCache cache

    [<Test>]
    member _.``the default model: every layer timed, the sum within 2 %, and a normal run's instructions unchanged``() =
        requireToolchain ()
        let model = Tern.Cli.DefaultModel.load ()
        let o = options Dsp "ternary" model 3
        let normal = Hil.run o
        let profiled, profile = Hil.runProfiled o true

        // PROFILE runs only after the samples: INFER counts the same instructions with or without it, to the
        // counter's resolution (mps2-an386: a 25 MHz timer, 40 instructions a tick under -icount shift=0; where an
        // inference starts within a tick depends on when the host's bytes arrive)
        let tick = int64 (Profile.workPerTick WorkUnit.Instructions 25_000_000u 25_000_000u)

        for name, a, b in
            [
                "min", profiled.Work.Min, normal.Work.Min
                "median", profiled.Work.Median, normal.Work.Median
                "max", profiled.Work.Max, normal.Work.Max
            ] do
            Assert.That(abs (a - b), Is.LessThanOrEqualTo tick, name)

        Assert.That(profile.IsSome, Is.True)
        checkProfile model profiled profile.Value
        Assert.That(snd (Hil.runProfiled o false), Is.EqualTo None)

    [<Test>]
    member _.``a residual ternary model on reference kernels: every layer timed, each conv's weight flash its WeightBytes``
        ()
        =
        requireToolchain ()
        // one residual block kept: PROFILE runs every prefix of layers R times, quadratic in the depth
        let m =
            StudySearch.retainBlocks 1 (Architectures.blocksFor (Shape3(8, 8, 1)) [ "a"; "b" ] 2)

        let model =
            match Lower.lower LowerOptions.Ternary (Lower.randomCalibration 3 8 m.Input) m with
            | Ok im -> im
            | Error e -> failwith e

        Assert.That(model.Layers |> Array.exists (fun l -> l.Kind = IntLayerKind.Add), Is.True)
        let r, profile = Hil.runProfiled (options Reference "ternary" model 2) true
        checkProfile model r profile.Value

        for l in profile.Value.Layers do
            match model.Layers[l.Index] with
            | :? IntConvLayer as c ->
                Assert.That(l.Flash.WeightBytes, Is.EqualTo(int64 c.WeightBytes), $"layer {l.Index} ({l.Name})")
            | _ -> ()
