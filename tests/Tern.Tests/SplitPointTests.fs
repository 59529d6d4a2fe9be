module Tern.Tests.SplitPointTests

open System
open Expecto
open Tern.Core
open Tern.Runtime

// The rule spelled out plainly: among the allowed splits K in 1..max 1 (layers / 2), the one after the smallest
// feature map, the earliest on a tie.
let private expected (m: IntModel) : int option =
    [ 1 .. max 1 (m.Layers.Length / 2) ]
    |> List.filter m.CanSplitAt
    |> List.map (fun k -> m.Layers[k - 1].Output.Size, k)
    |> List.sort
    |> List.tryHead
    |> Option.map snd

// A residual bottleneck right after the stem: its inner map (8x8x1) is the smallest early one, but a split there would
// cut the block, whose add still needs the block's input.
let private bottleneck () : IntModel =
    let rng = Random(5)
    let input = Shape3(8, 8, 1)

    let m = {
        Name = "bottleneck"
        Input = input
        Classes = [ "a"; "b" ]
        Layers = [
            Conv2d(Architectures.conv rng 1 8 3 1 1)
            Pointwise(Architectures.conv rng 8 1 1 1 0)
            Pointwise(Architectures.conv rng 1 8 1 1 0)
            ResidualAdd 2
            GlobalAvgPool
            Flatten
            Dense(Architectures.dense rng 8 2)
        ]
        Meta = Map.empty
    }

    match Lower.lower LowerOptions.Int8 (Lower.randomCalibration 1 8 input) m with
    | Ok im -> im
    | Error e -> failwith e

let private models () : (string * IntModel) list = [
    "the embedded default model", Tern.Cli.DefaultModel.load ()
    "a bottleneck block right after the stem", bottleneck ()
    for seed in 1..3 do
        $"default architecture, int8, seed {seed}", KernelVectors.defaultModel LowerOptions.Int8 seed
        $"residual blocks, ternary, seed {seed}", KernelVectors.blocksModel LowerOptions.Ternary seed
        $"residual blocks, int8, seed {seed}", KernelVectors.blocksModel LowerOptions.Int8 seed
]

[<Tests>]
let tests =
    testList "SplitPointTests" [
        testCase "the default split is the allowed one after the smallest early feature map, the earliest on a tie"
        <| fun () ->
            for name, m in models () do
                let k = SplitPoint.byDefault m
                Expect.isTrue (m.CanSplitAt k) $"{name}: split {k} is allowed"
                Expect.equal (Some k) (expected m) $"{name}: split {k}"

        testCase "the embedded default model splits after its depthwise layer (16x16x8)"
        <| fun () -> Expect.equal (SplitPoint.byDefault (Tern.Cli.DefaultModel.load ())) 2 "default split"
    ]
