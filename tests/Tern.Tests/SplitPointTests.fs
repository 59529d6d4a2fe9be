module Tern.Tests.SplitPointTests

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

let private models () : (string * IntModel) list = [
    "the embedded default model", Tern.Cli.DefaultModel.load ()
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
