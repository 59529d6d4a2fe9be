/// The HIL comparison finds a planted difference wherever it is: first, middle and last element of every layer's
/// output and of the logits, in the host-side search and against an in-process fake device that corrupts one element.
module Tern.Tests.HilComparisonTests

open System
open System.Collections.Generic
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Runtime
open Tern.Runtime.Engine
open Tern.Runtime.Protocol
open Tern.Runtime.Transports
open Tern.Rig

/// Where in an output a difference is planted.
type Place =
    | First
    | Middle
    | Last

let private index (place: Place) (length: int) =
    match place with
    | First -> 0
    | Middle -> length / 2
    | Last -> length - 1

/// A different value at one element (any nonzero xor changes it).
let private changed (xs: sbyte[]) (at: int) (flip: byte) : sbyte[] =
    let ys = Array.copy xs
    ys[at] <- sbyte (byte ys[at] ^^^ flip)
    ys

let private bytesOf (n: int) : Gen<sbyte[]> =
    Gen.arrayOfLength n (Gen.choose (-128, 127) |> Gen.map sbyte)

let private flipGen = Gen.choose (1, 255) |> Gen.map byte

let private placeGen = Gen.elements [ First; Middle; Last ]

let private ``firstDifference finds one changed byte at exactly its place, and nothing in equal outputs`` () =
    let caseGen =
        gen {
            let! n = Gen.frequency [ 3, Gen.choose (1, 12); 1, Gen.choose (13, 400) ]
            let! xs = bytesOf n
            let! place = placeGen
            let! flip = flipGen
            return xs, place, flip
        }

    Prop.forAll (Arb.fromGen caseGen) (fun (xs, place, flip) ->
        let at = index place xs.Length

        (Hil.firstDifference (changed xs at flip) xs = Some at
         && Hil.firstDifference xs (changed xs at flip) = Some at
         && Hil.firstDifference xs (Array.copy xs) = None)
        |> Prop.collect place)

let private ``firstDifference: outputs of different lengths differ where the shorter ends`` () =
    Expect.equal (Hil.firstDifference [| 1y; 2y |] [| 1y; 2y; 3y |]) (Some 2) "the shorter ends at 2"
    Expect.equal (Hil.firstDifference [||] [| 1y |]) (Some 0) "the empty output ends at 0"
    Expect.equal (Hil.firstDifference [||] [||]) (None: int option) "equal empty outputs"

/// Every layer's host output, and a device whose layer `layer` has one element changed; the change spreads to the
/// first element of every later layer (the logits are the last layer's output).
let private spread (host: sbyte[][]) (layer: int) (at: int) (flip: byte) : sbyte[][] =
    host
    |> Array.mapi (fun l xs ->
        if l = layer then changed xs at flip
        elif l > layer then changed xs 0 flip
        else Array.copy xs)

let private ``the layer search names the first layer and element that differ, for any layer and place`` () =
    let caseGen =
        gen {
            let! count = Gen.choose (1, 8)

            let! host =
                Gen.arrayOfLength
                    count
                    (Gen.frequency [ 3, Gen.choose (1, 10); 1, Gen.choose (11, 300) ]
                     |> Gen.bind bytesOf)

            let! layer = Gen.choose (0, count - 1)
            let! place = placeGen
            let! flip = flipGen
            return host, layer, place, flip
        }

    Prop.forAll (Arb.fromGen caseGen) (fun (host, layer, place, flip) ->
        let at = index place host[layer].Length
        let device = spread host layer at flip
        let names = host |> Array.mapi (fun l _ -> $"layer{l}")
        let logits = Array.last host
        let deviceLogits = Array.last device

        let found =
            Hil.divergence 3 names deviceLogits logits (fun () -> host) (fun l -> device[l]) true

        let expected = {
            Sample = 3
            Layer = Some(layer, names[layer])
            Element = at
            Device = int (device[layer].[at])
            Host = int (host[layer].[at])
        }

        // Without the search only the logits are compared: the element of the logits that differs.
        let logitsAt = if layer = host.Length - 1 then at else 0

        let unsearched =
            Hil.divergence
                3
                names
                deviceLogits
                logits
                (fun () -> failwith "no search")
                (fun _ -> failwith "no search")
                false

        (found = Some expected
         && (unsearched |> Option.map (fun d -> d.Layer, d.Element)) = Some(None, logitsAt)
         && Hil.divergence 3 names logits logits (fun () -> host) (fun l -> host[l]) true = None)
        |> Prop.label $"found %A{found}, expected %A{expected}; without search %A{unsearched}"
        |> Prop.collect (place, (if layer = host.Length - 1 then "logits" else "inner layer")))

/// An in-process device running the C# runtime over the protocol on its end of a FakeLine: it answers HELLO, INFER
/// and LAYER, with one element of one layer's output corrupted and the change spread to the first element of every
/// later layer, as a faulty kernel would. MAX_BODY is small, so layers come in several pieces.
type private FakeDevice(model: IntModel, corrupt: (int * int * byte) option, line: ITransport) =
    let decoder = FrameDecoder()
    let runner = Runner(model, KernelMode.Scalar)
    let mutable layers: sbyte[][] = [||]
    let received = List<sbyte[]>()

    let reply (seq: uint16) (m: IMessage) =
        line.Write(ReadOnlySpan(Frame.Encode(m, seq)))

    let answer (p: Packet) =
        match Message.Parse p with
        | :? HelloMessage ->
            let hash = Convert.FromHexString(ModelFile.hash (ModelFile.serializeInt model))

            InfoMessage(
                1uy,
                "fake",
                1000000u,
                WorkUnit.Cycles,
                1000000u,
                Array.zeroCreate 32,
                hash,
                0u,
                model.Input,
                model.Output,
                uint16 model.Layers.Length,
                "fake",
                200u
            )
            |> reply p.Sequence
        | :? InferMessage as m ->
            received.Add m.Input
            let host = runner.RunLayers m.Input

            layers <-
                match corrupt with
                | Some(layer, at, flip) -> spread host layer at flip
                | None -> host

            reply p.Sequence (ResultMessage(1000u, Array.last layers))
        | :? LayerMessage as m ->
            let data = layers[int m.Index]
            let piece = data[int m.Offset .. int m.Offset + int m.Count - 1]
            reply p.Sequence (LayerDataMessage(m.Index, uint32 data.Length, m.Offset, piece))
        | other -> failwith $"the fake device does not serve {other.Type}"

    member val Requests = 0 with get, set

    /// The input of every INFER, in order.
    member _.Received = received

    /// Answers frames until the host closes the line.
    member d.Serve() =
        let buffer = Array.zeroCreate<byte> 4096
        let results = List<DecodeResult>()

        try
            while true do
                let n = line.Read(Span buffer, Threading.Timeout.InfiniteTimeSpan, "requests")
                results.Clear()
                decoder.Feed(ReadOnlySpan(buffer, 0, n), results)

                for r in results do
                    d.Requests <- d.Requests + 1
                    answer r.Packet
        with
        | :? TransportClosedException
        | :? ObjectDisposedException -> ()

let private model = lazy (EmulatedBoard.ternaryModel 1)

/// Runs the HIL comparison of the float inputs against the fake device; the report and what the device received.
let private runFakeOn (corrupt: (int * int * byte) option) (inputs: float32[][]) : HilReport * sbyte[] list =
    let m = model.Force()

    let board = EmulatedBoard.board "qemu-mps2-an386"

    let options = {
        EmulatedBoard.hilOptions "" board Dsp "ternary" m inputs with
            NoFlash = true
            HelloTimeout = TimeSpan.FromSeconds 1.0
    }

    let firmware = {
        Elf = ""
        Board = board
        Kernels = Dsp
        Hash = ""
        ModelHash = ModelFile.hash (ModelFile.serializeInt m)
        FlashBytes = 0L
        RamBytes = 0L
        ArenaBytes = 0
        Cached = true
    }

    let host, line = FakeLine.pair "fake"
    let device = FakeDevice(m, corrupt, line)
    use _ = FakeLine.serve host line device.Serve
    use client = new DeviceClient(host, false)
    let info = client.Hello(TimeSpan.FromSeconds 1.0, 1)
    fst (Hil.runOn options firmware false client info (fun e -> e.Message)), List.ofSeq device.Received

/// Runs the HIL comparison of n seeded inputs against the fake device.
let private runFake (corrupt: (int * int * byte) option) (n: int) : HilReport =
    let inputs =
        Lower.randomCalibration 9 n model.Value.Input
        |> List.map (fun t -> t.Data)
        |> Array.ofList

    fst (runFakeOn corrupt inputs)

/// The rig quantizes: each float input reaches the device as round-half-away(x / InputScale) + InputZero, clamped
/// to int8 (written out here, not Lower's quantizer), and what the device computes from it is what the host expects.
let private ``the rig sends each float input as its codes on the model's input grid`` () =
    let m = model.Force()
    let s, z = float m.InputScale, m.InputZero
    let rng = Random(3)
    // codes all over the grid, halfway points between codes and values beyond either end
    let value () =
        match rng.Next 3 with
        | 0 -> float32 (s * float (rng.Next(-128, 128) - z))
        | 1 -> float32 (s * (float (rng.Next(-128, 127) - z) + 0.5))
        | _ -> float32 (s * float (rng.Next(-400, 400)))

    let inputs = Array.init 3 (fun _ -> Array.init m.Input.Size (fun _ -> value ()))
    let r, received = runFakeOn None inputs

    let code (x: float32) =
        let q = Math.Round(float x / s, MidpointRounding.AwayFromZero) + float z
        sbyte (max -128.0 (min 127.0 q))

    Expect.equal received (inputs |> Array.map (Array.map code) |> List.ofArray) "the codes the device received"
    Expect.equal (r.Samples, r.Mismatches) (3, 0) "the device's outputs are the host's"

let private ``against a fake device, a correct device gives no mismatch`` () =
    let r = runFake None 3

    Expect.equal
        (r.Samples, r.Mismatches, r.FirstDivergence)
        (3, 0, (None: Divergence option))
        "three samples, no mismatch, no divergence"

let private ``against a fake device, one corrupted element of any layer is reported at that layer and element`` () =
    let m = model.Force()

    for layer in 0 .. m.Layers.Length - 1 do
        for place in [ First; Middle; Last ] do
            let size = m.Layers[layer].Output.Size
            let at = index place size
            let r = runFake (Some(layer, at, 0x41uy)) 2

            let where =
                $"layer {layer} ({m.Layers[layer].Name}), element {at} of {size} ({place})"

            Expect.equal r.Mismatches 2 where
            Expect.equal r.MismatchedSamples [ 0; 1 ] where

            match r.FirstDivergence with
            | Some d ->
                Expect.equal (d.Sample, d.Layer, d.Element) (0, Some(layer, m.Layers[layer].Name), at) where

                Expect.equal d.Device (int (sbyte (byte d.Host ^^^ 0x41uy))) where
            | None -> failtest $"{where}: no divergence reported"

/// The corrupting firmwares' cache: a scratch folder, made on first use and removed after the run.
let private cache = lazy (Scratch.folder "tern-hil-corrupt")

/// On QEMU: firmware built with TERN_CORRUPT_LAYER / TERN_CORRUPT_INDEX flips one element of the logits; the HIL run
/// must report every sample as mismatching at the last layer and that element. Ignored without the ARM toolchain.

let private ``firmware corrupting the first, middle or last logit is reported at that layer and element`` () =
    EmulatedBoard.requireToolchain ()

    let m = model.Force()
    let last = m.Layers.Length - 1
    let size = m.Layers[last].Output.Size

    let board = EmulatedBoard.board "qemu-mps2-an386"

    let inputs =
        Lower.randomCalibration 9 2 m.Input
        |> List.map (fun t -> t.Data)
        |> Array.ofList

    for place in [ First; Middle; Last ] do
        let at = index place size

        let r =
            Hil.run (
                EmulatedBoard.hilOptions
                    cache.Value
                    {
                        board with
                            Defines =
                                board.Defines
                                @ [ "TERN_CORRUPT_LAYER", string last; "TERN_CORRUPT_INDEX", string at ]
                    }
                    Dsp
                    "ternary"
                    m
                    inputs
            )

        let where = $"logit {at} of {size} ({place})"
        Expect.equal (r.Samples, r.Mismatches) (2, 2) where

        match r.FirstDivergence with
        | Some d ->
            Expect.equal (d.Sample, d.Layer, d.Element) (0, Some(last, m.Layers[last].Name), at) where
            Expect.equal d.Device (int (sbyte (byte d.Host ^^^ 0x41uy))) where
        | None -> failtest $"{where}: no divergence reported"

[<Tests>]
let tests =
    testList "HilComparisonTests" [
        testPropertyWithConfig
            (Properties.tests 300)
            "firstDifference finds one changed byte at exactly its place, and nothing in equal outputs"
            ``firstDifference finds one changed byte at exactly its place, and nothing in equal outputs``
        testCase
            "firstDifference: outputs of different lengths differ where the shorter ends"
            ``firstDifference: outputs of different lengths differ where the shorter ends``
        testPropertyWithConfig
            (Properties.tests 300)
            "the layer search names the first layer and element that differ, for any layer and place"
            ``the layer search names the first layer and element that differ, for any layer and place``
        testCase
            "against a fake device, a correct device gives no mismatch"
            ``against a fake device, a correct device gives no mismatch``
        testCase
            "the rig sends each float input as its codes on the model's input grid"
            ``the rig sends each float input as its codes on the model's input grid``
        testCase
            "against a fake device, one corrupted element of any layer is reported at that layer and element"
            ``against a fake device, one corrupted element of any layer is reported at that layer and element``
        testSequenced
        <| testList "HilCorruptFirmwareTests" [
            testCase
                "firmware corrupting the first, middle or last logit is reported at that layer and element"
                ``firmware corrupting the first, middle or last logit is reported at that layer and element``
        ]
    ]
