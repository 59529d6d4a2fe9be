/// Model files the verbs refuse on load with exit 2 naming the file and what is wrong (never "internal error",
/// never a device that finds out first): a model without layers, a float model with a NaN weight.
module Tern.Tests.ModelFileCliTests

open System
open System.IO
open System.Security.Cryptography
open Expecto
open Tern.Tests.CliTests

let private dir = lazy (Scratch.folder "tern-modelfile-cli")
let private path name = Path.Combine(dir.Value, name)

/// A version 1 file of the given kind with a payload of kind byte, name "hollow", input 1x1x2, no classes, no
/// layers (the integer kind adds its input scale and zero point).
let private hollow (kind: byte) =
    use ms = new MemoryStream()
    use w = new BinaryWriter(ms)
    w.Write kind
    w.Write 6u
    w.Write "hollow"B
    w.Write 1
    w.Write 1
    w.Write 2

    if kind = 2uy then
        w.Write 0.5f
        w.Write 0

    w.Write 0
    w.Write 0
    w.Flush()
    let payload = ms.ToArray()

    Array.concat [
        "TERN"B
        [| 1uy; 0uy; kind |]
        BitConverter.GetBytes(uint32 payload.Length)
        payload
        SHA256.HashData payload
    ]

let private ``inspect and run refuse a model without layers, exit 2`` () =
    for kind, name in [ 1uy, "float"; 2uy, "integer" ] do
        let file = path $"hollow-{name}.tern"
        File.WriteAllBytes(file, hollow kind)

        for args in [ [ "inspect"; file ]; [ "run"; file; "--input"; "random:1" ] ] do
            let code, _, err = tern args
            Expect.equal code 2 $"{args}: {err}"
            Expect.stringContains err $"{file}: invalid {name} model 'hollow': it has no layers" "stderr"

let private ``inspect refuses a float model with a NaN weight, exit 2 naming the layer`` () =
    let file = path "nan.tern"
    let code, _, err = tern [ "model"; "new"; "--arch"; "default"; "--out"; file ]
    Expect.equal code 0 err
    let bytes = File.ReadAllBytes file
    // The last 4 bytes before the checksum are the last bias of the last layer (a dense layer, the logits).
    let at = bytes.Length - 32 - 4
    BitConverter.GetBytes(Single.NaN).CopyTo(bytes, at)
    let len = bytes.Length - 11 - 32
    SHA256.HashData(ReadOnlySpan(bytes, 11, len)).CopyTo(bytes, 11 + len)
    File.WriteAllBytes(file, bytes)
    let code, _, err = tern [ "inspect"; file ]
    Expect.equal code 2 err
    Expect.stringContains err "(dense): bias" "stderr"
    Expect.stringContains err "NaN, not a finite number" "stderr"

[<Tests>]
let tests =
    testSequenced
    <| testList "ModelFileCliTests" [
        testCase
            "inspect and run refuse a model without layers, exit 2"
            ``inspect and run refuse a model without layers, exit 2``
        testCase
            "inspect refuses a float model with a NaN weight, exit 2 naming the layer"
            ``inspect refuses a float model with a NaN weight, exit 2 naming the layer``
    ]
