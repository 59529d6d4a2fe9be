module Tern.Tests.ReductionTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Runtime
open Tern.Core

let private ``a model compared with itself has no reduction, and the layer rows add up to the totals`` () =
    Prop.forAll (Arb.fromGen Generators.smallModel) (fun m ->
        let r = Reduction.compare m m
        Expect.equal r.ParamsReduction 0.0 "parameter reduction against itself"
        Expect.equal r.FlopsReduction 0.0 "FLOP reduction against itself"
        Expect.equal (r.Layers |> List.sumBy _.ParamsBefore) r.ParamsBefore "layer rows add up to the parameters"
        Expect.equal (r.Layers |> List.sumBy _.MacsAfter) r.MacsAfter "layer rows add up to the MACs"
        Expect.stringContains (Reduction.format r) "total: params" "the report has a total row")

let private ``halving every filter of a conv stack with global pooling removes about three quarters of its parameters``
    ()
    =
    let m =
        Architectures.convStack (Shape3(8, 8, 1)) [ "a"; "b" ] [ 16; 16; 16 ] 1 true 1

    let plan =
        Surgery.prunable m |> List.map (fun i -> i, Set.ofList [ 0..7 ]) |> Map.ofList

    let pruned =
        match Surgery.removeMany plan m with
        | Ok p -> p
        | Error e -> failwith e

    let r = Reduction.compare m pruned
    // conv1, conv2 keep a quarter; conv0 and the BNs and the dense inputs keep half.
    Expect.isGreaterThanOrEqual r.ParamsReduction 0.65 "parameter reduction: at least 65 %"
    Expect.isLessThanOrEqual r.ParamsReduction 0.75 "parameter reduction: at most 75 %"

    // Three convs, their BNs and ReLUs, the global pooling and the flatten carry half the channels.
    Expect.equal
        (r.Layers
         |> List.filter (fun l -> l.ChannelsAfter <> l.ChannelsBefore)
         |> List.length)
        11
        "layers whose channels changed"

[<Tests>]
let tests =
    testList "ReductionTests" [
        testPropertyWithConfig
            (Properties.tests 100)
            "a model compared with itself has no reduction, and the layer rows add up to the totals"
            ``a model compared with itself has no reduction, and the layer rows add up to the totals``
        testCase
            "halving every filter of a conv stack with global pooling removes about three quarters of its parameters"
            ``halving every filter of a conv stack with global pooling removes about three quarters of its parameters``
    ]
