/// `hil --profile` on the emulated board (Hil.runProfiled): every layer timed, the layers summing to the whole
/// inference, weight flash from the ELF equal to the model's, and a normal run's instructions unchanged.
/// Ignored (naming the packages) without the ARM toolchain.
module Tern.Tests.HilProfileTests

open System
open Expecto
open Tern.Core
open Tern.Studies
open Tern.Runtime
open Tern.Runtime.Protocol
open Tern.Rig
open Tern.Tests.EmulatedBoard

/// What every profile must satisfy: one entry per layer in order, the sum within 2 % of the inference, work on
/// every layer that computes, milliseconds at the board's clock.
let private checkProfile (model: IntModel) (r: HilReport) (p: ProfileReport) =
    Expect.equal r.Mismatches 0 "no mismatch"
    Expect.equal p.Unit "instructions" "work in instructions"

    Expect.equal
        (p.Layers |> List.map (fun l -> l.Index) |> List.toArray)
        [| 0 .. model.Layers.Length - 1 |]
        "one entry per layer, in order"

    Expect.equal
        (p.Layers |> List.map (fun l -> l.Name) |> List.toArray)
        (model.Layers |> Array.map (fun l -> l.Name))
        "the layers' names"

    Expect.equal p.LayersSum (p.Layers |> List.sumBy (fun l -> l.Work)) "the layers' sum"
    Expect.equal p.Inference r.Work.Median "the inference is the run's median"

    Expect.isLessThanOrEqual
        (abs (float p.LayersSum - float p.Inference) / float p.Inference)
        0.02
        "the sum within 2 % of the inference"

    Expect.floatClose
        { absolute = 1e-12; relative = 0.0 }
        p.Coverage
        (float p.LayersSum / float p.Inference)
        "coverage is the layers' sum over the inference"

    for l in p.Layers do
        if l.Macs > 0L then
            Expect.isGreaterThan l.Work (l.Macs / 8L) $"layer {l.Index} ({l.Name})"

        Expect.isGreaterThanOrEqual l.Work 0L $"layer {l.Index} ({l.Name})"

        Expect.floatClose
            { absolute = 1e-9; relative = 0.0 }
            l.Ms
            (float l.Work / float p.ClockHz * 1000.0)
            $"layer {l.Index} ({l.Name}): milliseconds at the board's clock"

    printfn
        "%s"
        (String.Join(
            "\n",
            p.Layers
            |> List.map (fun l -> $"{l.Index} {l.Kind} {l.Macs} {l.Work} flash {l.Flash.Total}")
        ))

    printfn "%s" $"sum {p.LayersSum} of {p.Inference} ({100.0 * p.Coverage:F3} %%)"

/// The firmware cache of these tests: a scratch folder, made on first use and removed after the run.
let private cache = lazy (Scratch.folder "tern-hil-profile-tests")

let private options kernels weights (model: IntModel) n : HilOptions =
    Lower.randomCalibration 5 n model.Input
    |> List.map (fun t -> t.Data)
    |> List.toArray
    |> hilOptions cache.Value (board "qemu-mps2-an386") kernels weights model

let private ``the default model: every layer timed, the sum within 2 %, and a normal run's instructions unchanged`` () =
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
        Expect.isLessThanOrEqual (abs (a - b)) tick name

    Expect.isTrue profile.IsSome "a profile when asked for"
    checkProfile model profiled profile.Value
    Expect.equal (snd (Hil.runProfiled o false)) None "no profile when not asked for"

let private ``a residual ternary model on reference kernels: every layer timed, each conv's weight flash its WeightBytes``
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

    Expect.isTrue (model.Layers |> Array.exists (fun l -> l.Kind = IntLayerKind.Add)) "the model has an add"
    let r, profile = Hil.runProfiled (options Reference "ternary" model 2) true
    checkProfile model r profile.Value

    for l in profile.Value.Layers do
        match model.Layers[l.Index] with
        | :? IntConvLayer as c -> Expect.equal l.Flash.WeightBytes (int64 c.WeightBytes) $"layer {l.Index} ({l.Name})"
        | _ -> ()

[<Tests>]
let tests =
    testSequenced
    <| testList "HilProfileTests" [
        testCase
            "the default model: every layer timed, the sum within 2 %, and a normal run's instructions unchanged"
            ``the default model: every layer timed, the sum within 2 %, and a normal run's instructions unchanged``
        testCase
            "a residual ternary model on reference kernels: every layer timed, each conv's weight flash its WeightBytes"
            ``a residual ternary model on reference kernels: every layer timed, each conv's weight flash its WeightBytes``
    ]
