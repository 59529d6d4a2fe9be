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

/// The mean of each n x n block (1 x n along W for 1 x W windows), per channel, HWC: the pooling avgN- promises.
let private blockMeans (n: int) (input: Shape3) (data: float32[]) : Shape3 * float32[] =
    let ph = if input.H = 1 then 1 else n
    let out = Shape3(input.H / ph, input.W / n, input.C)

    let pooled = [|
        for oh in 0 .. out.H - 1 do
            for ow in 0 .. out.W - 1 do
                for c in 0 .. input.C - 1 do
                    let mutable sum = 0.0

                    for dh in 0 .. ph - 1 do
                        for dw in 0 .. n - 1 do
                            sum <- sum + float data[((oh * ph + dh) * input.W + ow * n + dw) * input.C + c]

                    float32 (sum / float (ph * n))
    |]

    out, pooled

/// avgN-NAME is NAME built for the pooled input, behind the pooling: on any input, its outputs are NAME's on the
/// block means.
let private ``avgN- pools the input and then runs the named network`` (big: bool) (oneD: bool) (extra: byte) =
    let n = if big then 4 else 2
    let side = n * (Architectures.MinPooledSide + int extra % 3)
    let input = if oneD then Shape3(1, side, 3) else Shape3(side, side, 2)
    let classes = [ "a"; "b"; "c" ]

    for name in [ "default"; "sep-4-8-k3-gap"; "plain-4-k3-flat" ] do
        let pooled =
            Architectures.forData $"avg{n}-{name}" input classes 7
            |> Result.defaultWith failwith

        let pooledShape, _ =
            blockMeans n input (Array.zeroCreate (input.H * input.W * input.C))

        let inner =
            Architectures.forData name pooledShape classes 7 |> Result.defaultWith failwith

        Expect.equal pooled.Name $"avg{n}-{inner.Name}" "named after the pooling and the network"
        Expect.equal pooled.Input input "takes the full input"
        Expect.equal pooled.Layers.Tail inner.Layers "the named network, unchanged, after the pooling"
        let rng = System.Random(int extra)

        let x =
            Array.init (input.H * input.W * input.C) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))

        let shape, means = blockMeans n input x
        let expected = Forward.run inner (Tensor.ofArray shape means)
        let actual = Forward.run pooled (Tensor.ofArray input x)

        for i in 0 .. classes.Length - 1 do
            Expect.floatClose Accuracy.medium (float actual.Data[i]) (float expected.Data[i]) $"{name}: output {i}"

let private ``avgN- refuses pools that do not divide the input or leave too little of it`` () =
    let classes = [ "a"; "b" ]

    let refused name input (says: string) =
        match Architectures.forData name input classes 1 with
        | Ok _ -> failtest $"{name} on {input} accepted"
        | Error e -> Expect.stringContains e says $"{name} on {input}: {e}"

    // sp-sw-har's spectrograms are 16 x 16: no pooling there; radar's 64 x 64 takes 2 and 4 but not 8.
    refused "avg2-default" (Shape3(16, 16, 6)) "at least 16"
    refused "avg8-default" (Shape3(64, 64, 1)) "at least 16"
    refused "avg4-default" (Shape3(64, 62, 1)) "does not divide"
    refused "avg4-nonsense" (Shape3(64, 64, 1)) "nonsense"
    refused "avg9-default" (Shape3(144, 144, 1)) "unknown architecture"
    Expect.isOk (Architectures.forData "avg4-default" (Shape3(64, 64, 1)) classes 1) "radar by 4"
    Expect.isOk (Architectures.forData "avg4-sep-16-32-k3-flat" (Shape3(1, 64, 3)) classes 1) "windows along W"

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
        testPropertyWithConfig
            (Properties.tests 20)
            "avgN- pools the input and then runs the named network"
            ``avgN- pools the input and then runs the named network``
        testCase
            "avgN- refuses pools that do not divide the input or leave too little of it"
            ``avgN- refuses pools that do not divide the input or leave too little of it``
    ]
