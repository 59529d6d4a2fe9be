module Tern.Tests.ReductionTests

open NUnit.Framework
open FsCheck
open FsCheck.FSharp
open FsCheck.NUnit
open Tern.Runtime
open Tern.Core

[<Property(MaxTest = 100)>]
let ``a model compared with itself has no reduction, and the layer rows add up to the totals`` () =
    Prop.forAll (Arb.fromGen Generators.smallModel) (fun m ->
        let r = Reduction.compare m m
        Assert.That(r.ParamsReduction, Is.EqualTo 0.0)
        Assert.That(r.FlopsReduction, Is.EqualTo 0.0)
        Assert.That(r.Layers |> List.sumBy _.ParamsBefore, Is.EqualTo r.ParamsBefore)
        Assert.That(r.Layers |> List.sumBy _.MacsAfter, Is.EqualTo r.MacsAfter)
        Assert.That(Reduction.format r, Does.Contain "total: params"))

[<Test>]
let ``halving every filter of a conv stack with global pooling removes about three quarters of its parameters`` () =
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
    Assert.That(r.ParamsReduction, Is.InRange(0.65, 0.75))

    // Three convs, their BNs and ReLUs, the global pooling and the flatten carry half the channels.
    Assert.That(
        r.Layers
        |> List.filter (fun l -> l.ChannelsAfter <> l.ChannelsBefore)
        |> List.length,
        Is.EqualTo 11
    )
