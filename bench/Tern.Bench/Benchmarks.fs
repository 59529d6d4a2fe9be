/// BenchmarkDotNet benchmarks of the integer runtime on the default model: whole inference and each
/// layer, scalar kernels (the baseline) against optimized ones, int8 against ternary weights, in one run.
module Tern.Bench.Benchmarks

open System
open BenchmarkDotNet.Attributes
open BenchmarkDotNet.Configs
open BenchmarkDotNet.Jobs
open BenchmarkDotNet.Running
open BenchmarkDotNet.Toolchains.InProcess.Emit
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine

/// The default model lowered with the given weights, and one quantized random input.
let lowered (weights: string) : IntModel * sbyte[] =
    let model = Architectures.defaultModel 1

    let options =
        if weights = "int8" then
            LowerOptions.Int8
        else
            LowerOptions.Ternary

    match Lower.lower options (Lower.randomCalibration 2 32 model.Input) model with
    | Ok im ->
        let input =
            Lower.randomCalibration 3 1 model.Input |> List.head |> Lower.quantizeInput im

        im, input
    | Error e -> failwith e

/// Whole inference of the default model.
type Inference() =
    let mutable scalar: Runner = Unchecked.defaultof<_>
    let mutable optimized: Runner = Unchecked.defaultof<_>
    let mutable input: sbyte[] = [||]
    let mutable output: sbyte[] = [||]

    [<Params("int8", "ternary")>]
    member val Weights = "int8" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        let im, x = lowered this.Weights
        scalar <- new Runner(im, KernelMode.Scalar)
        optimized <- new Runner(im, KernelMode.Optimized)
        input <- x
        output <- Array.zeroCreate im.Output.Size

    [<Benchmark(Baseline = true)>]
    member _.Scalar() =
        scalar.Run(ReadOnlySpan input, Span output)

    [<Benchmark>]
    member _.Optimized() =
        optimized.Run(ReadOnlySpan input, Span output)

/// Each integer layer of the default model alone (as a one-layer model).
type Layers() =
    let mutable scalar: Runner = Unchecked.defaultof<_>
    let mutable optimized: Runner = Unchecked.defaultof<_>
    let mutable input: sbyte[] = [||]
    let mutable output: sbyte[] = [||]

    [<Params("int8", "ternary")>]
    member val Weights = "int8" with get, set

    /// conv2d_0, depthwise_3, pointwise_6, avgpool_9, dense_11 (the flatten view is skipped).
    [<Params("conv2d_0", "depthwise_3", "pointwise_6", "avgpool_9", "dense_11")>]
    member val Layer = "conv2d_0" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        let im, _ = lowered this.Weights
        let layer = im.Layers |> Array.find (fun l -> l.Name = this.Layer)

        let single =
            IntModel(layer.Name, layer.Input, im.InputScale, im.InputZero, [| layer |], im.ClassNames)

        scalar <- new Runner(single, KernelMode.Scalar)
        optimized <- new Runner(single, KernelMode.Optimized)
        let rng = Random(4)
        input <- Array.init layer.Input.Size (fun _ -> sbyte (rng.Next(-128, 128)))
        output <- Array.zeroCreate layer.Output.Size

    [<Benchmark(Baseline = true)>]
    member _.Scalar() =
        scalar.Run(ReadOnlySpan input, Span output)

    [<Benchmark>]
    member _.Optimized() =
        optimized.Run(ReadOnlySpan input, Span output)

/// Shows operations (here: samples) per second beside the time per sample.
type SamplesPerSecondConfig() as this =
    inherit ManualConfig()

    do
        this.AddColumn(BenchmarkDotNet.Columns.StatisticColumn.OperationsPerSecond)
        |> ignore

/// Float training throughput on the default model: one mini-batch of 32 (forward, backward, SGD update) on the
/// naive scalar path (the baseline) and on the optimised path; times are per sample, Op/s is samples per second.
[<Config(typeof<SamplesPerSecondConfig>)>]
type Training() =
    let batchSize = 32
    let mutable naive: TrainSession = Unchecked.defaultof<_>
    let mutable optimised: TrainSession = Unchecked.defaultof<_>
    let mutable inputs: float32[][] = [||]
    let mutable labels: int[] = [||]

    [<GlobalSetup>]
    member _.Setup() =
        let model = Architectures.defaultModel 1
        let rng = Random(5)
        inputs <- Array.init batchSize (fun _ -> Array.init model.Input.Size (fun _ -> float32 (rng.NextDouble())))
        labels <- Array.init batchSize (fun i -> i % model.Classes.Length)

        // A tiny rate keeps the repeated updates of one batch far from overflow.
        let cfg = {
            Train.defaultConfig with
                BatchSize = batchSize
                Optimizer = Sgd(1e-4, 0.9, false)
        }

        naive <- Train.session { cfg with Path = Naive } model None
        optimised <- Train.session { cfg with Path = Optimised } model None

    [<Benchmark(Baseline = true, OperationsPerInvoke = 32)>]
    member _.Naive() = Train.step naive inputs labels 1e-4

    [<Benchmark(OperationsPerInvoke = 32)>]
    member _.Optimised() = Train.step optimised inputs labels 1e-4

[<EntryPoint>]
let main argv =
    // In-process: no generated project to build; short runs keep the whole suite to a few minutes.
    let job = Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)

    let config =
        DefaultConfig.Instance.AddJob(job).WithOptions(ConfigOptions.DisableOptimizationsValidator)

    BenchmarkSwitcher.FromAssembly(typeof<Inference>.Assembly).Run(argv, config)
    |> ignore

    0
