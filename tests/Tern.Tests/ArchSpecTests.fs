module Tern.Tests.ArchSpecTests

open Expecto
open FsCheck
open Tern.Core
open Tern.Runtime

/// A spec from small generated numbers: family, 1..4 widths of 1..24, odd kernel 1..7, head.
let private specOf (family: int) (widths: int list) (kernel: int) (gap: bool) : ArchSpec = {
    Family =
        match abs family % 3 with
        | 0 -> PlainStages
        | 1 -> SeparableStages
        | _ -> ResidualStages
    Widths =
        (if widths.IsEmpty then [ 4 ] else List.truncate 4 widths)
        |> List.map (fun w -> 1 + abs w % 24)
    Kernel = 1 + 2 * (abs kernel % 4)
    Head = if gap then GapHead else FlattenHead
}

let private ``a name parses back to its spec`` (family: int) (widths: int list) (kernel: int) (gap: bool) =
    let spec = specOf family widths kernel gap
    ArchSpec.tryParse (ArchSpec.name spec) = Some(Ok spec)

/// Any spec on a spectrogram (H x W x C) or a raw window (1 x W x C) gives a valid model that ends in one output per
/// class, named after the spec.
let private ``every spec builds a valid model for 2-D and 1-D inputs``
    (family: int)
    (widths: int list)
    (kernel: int)
    (gap: bool)
    (oneD: bool)
    (side: byte)
    =
    let spec = specOf family widths kernel gap
    let w = 2 + int side % 40
    let input = if oneD then Shape3(1, 2 * w, 3) else Shape3(w, w, 2)
    let model = Architectures.ofSpec spec input [ "a"; "b"; "c" ] 5

    Model.validate model = Ok()
    && (Model.shapes model |> List.last).Size = 3
    && model.Name = ArchSpec.name spec
    && (not oneD
        || model.Layers
           |> List.forall (function
               | Conv2d c
               | DepthwiseConv2d c -> c.KernelH = 1 && c.StrideH = 1
               | _ -> true))

let private ``a wider stage never has fewer parameters`` (family: int) (widths: int list) (kernel: int) (gap: bool) =
    let spec = specOf family widths kernel gap

    let wider = {
        spec with
            Widths = spec.Widths |> List.map ((+) 1)
    }

    let input = Shape3(16, 16, 3)

    let count s =
        Model.totalParams (Architectures.ofSpec s input [ "a"; "b" ] 1)

    count wider > count spec

let private ``strides halve a side only while it is at least 4`` () =
    let spec =
        (ArchSpec.tryParse "sep-8-16-16-16-k3-flat").Value
        |> Result.defaultWith failwith

    let model = Architectures.ofSpec spec (Shape3(16, 16, 3)) [ "a"; "b" ] 1

    let sides =
        Model.shapes model
        |> List.choose (fun s -> if s.C = 16 then Some s.H else None)
        |> List.distinct
    // stem 16 -> 8 (C 8), stage 8 -> 4, stage 4 -> 2, stage 2 stays 2.
    Expect.equal sides [ 4; 2 ] "16-channel maps are 4x4 then 2x2, never 1x1"

let private ``forData takes spec names and still knows the fixed ones`` () =
    let input = Shape3(16, 16, 3)
    let classes = [ "a"; "b" ]
    Expect.equal ((Architectures.forData "plain" input classes 1) |> Result.map _.Name) (Ok "plain") "fixed plain"

    Expect.equal
        ((Architectures.forData "res-8-16-k3-gap" input classes 1) |> Result.map _.Name)
        (Ok "res-8-16-k3-gap")
        "spec"

    for bad in
        [
            "sep-8-k4-gap"
            "sep-0-k3-gap"
            "sep-8-k3-max"
            "res-k3-gap"
            "sep-x-k3-flat"
        ] do
        match Architectures.forData bad input classes 1 with
        | Ok _ -> failtest $"{bad} accepted"
        | Error e -> Expect.stringContains e bad "the message names the architecture"

    Expect.isError (Architectures.forData "nonsense" input classes 1) "unknown"

let private ``a residual stage adds its block's input back`` () =
    let spec = (ArchSpec.tryParse "res-4-8-k3-gap").Value |> Result.defaultWith failwith
    let model = Architectures.ofSpec spec (Shape3(8, 8, 1)) [ "a"; "b" ] 1
    Expect.equal (Model.residualBlocks model).Length 1 "one residual block per stage after the stem"

[<Tests>]
let tests =
    testList "ArchSpecTests" [
        testPropertyWithConfig
            (Properties.tests 200)
            "a name parses back to its spec"
            ``a name parses back to its spec``
        testPropertyWithConfig
            (Properties.tests 60)
            "every spec builds a valid model for 2-D and 1-D inputs"
            ``every spec builds a valid model for 2-D and 1-D inputs``
        testPropertyWithConfig
            (Properties.tests 60)
            "a wider stage never has fewer parameters"
            ``a wider stage never has fewer parameters``
        testCase "strides halve a side only while it is at least 4" ``strides halve a side only while it is at least 4``
        testCase
            "forData takes spec names and still knows the fixed ones"
            ``forData takes spec names and still knows the fixed ones``
        testCase "a residual stage adds its block's input back" ``a residual stage adds its block's input back``
    ]
