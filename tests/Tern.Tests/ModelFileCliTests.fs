/// Model files the verbs refuse on load with exit 2 naming the file and what is wrong (never "internal error",
/// never a device that finds out first): a model without layers, a float model with a NaN weight.
module Tern.Tests.ModelFileCliTests

open System
open System.IO
open System.Security.Cryptography
open NUnit.Framework
open Tern.Tests.CliTests

[<NonParallelizable>]
type ModelFileCliTests() =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-modelfile-cli-" + Guid.NewGuid().ToString("N"))

    do Directory.CreateDirectory dir |> ignore
    let path name = Path.Combine(dir, name)

    /// A version 1 file of the given kind with a payload of kind byte, name "hollow", input 1x1x2, no classes, no
    /// layers (the integer kind adds its input scale and zero point).
    let hollow (kind: byte) =
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

    [<OneTimeTearDown>]
    member _.Cleanup() = Directory.Delete(dir, true)

    [<Test>]
    member _.``inspect and run refuse a model without layers, exit 2``() =
        for kind, name in [ 1uy, "float"; 2uy, "integer" ] do
            let file = path $"hollow-{name}.tern"
            File.WriteAllBytes(file, hollow kind)

            for args in [ [ "inspect"; file ]; [ "run"; file; "--input"; "random:1" ] ] do
                let code, _, err = tern args
                Assert.That(code, Is.EqualTo 2, $"{args}: {err}")
                Assert.That(err, Does.Contain $"{file}: invalid {name} model 'hollow': it has no layers")

    [<Test>]
    member _.``inspect refuses a float model with a NaN weight, exit 2 naming the layer``() =
        let file = path "nan.tern"
        let code, _, err = tern [ "model"; "new"; "--arch"; "default"; "--out"; file ]
        Assert.That(code, Is.EqualTo 0, err)
        let bytes = File.ReadAllBytes file
        // The last 4 bytes before the checksum are the last bias of the last layer (a dense layer, the logits).
        let at = bytes.Length - 32 - 4
        BitConverter.GetBytes(Single.NaN).CopyTo(bytes, at)
        let len = bytes.Length - 11 - 32
        SHA256.HashData(ReadOnlySpan(bytes, 11, len)).CopyTo(bytes, 11 + len)
        File.WriteAllBytes(file, bytes)
        let code, _, err = tern [ "inspect"; file ]
        Assert.That(code, Is.EqualTo 2, err)
        Assert.That(err, Does.Contain "(dense): bias")
        Assert.That(err, Does.Contain "NaN, not a finite number")
