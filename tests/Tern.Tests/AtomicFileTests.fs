/// Nothing half-written and nothing left behind: a write that fails (here: the target is a folder) removes its
/// temporary, through AtomicFile and through `data synth` and `data import`, which write with it.
module Tern.Tests.AtomicFileTests

open System
open System.IO
open NUnit.Framework
open Tern.Core
open Tern.Tests.CliTests

let private freshDir () =
    let d =
        Path.Combine(Path.GetTempPath(), "tern-atomic-" + Guid.NewGuid().ToString("N"))

    Directory.CreateDirectory d |> ignore
    d

/// The temporaries left anywhere below dir.
let private leftovers (dir: string) =
    Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
    |> Array.map Path.GetFileName
    |> Array.filter (fun n -> n.Contains ".tmp")

[<Test>]
let ``a write over a folder fails and leaves no temporary`` () =
    let dir = freshDir ()
    Directory.CreateDirectory(Path.Combine(dir, "target")) |> ignore

    Assert.That(
        (fun () -> AtomicFile.writeBytes (Path.Combine(dir, "target")) [| 1uy; 2uy |]),
        Throws.InstanceOf<IOException>()
    )

    Assert.That(Directory.GetFiles dir, Is.Empty)
    Directory.Delete(dir, true)

[<Test>]
let ``a write replaces the target whole and leaves only it`` () =
    let dir = freshDir ()
    let target = Path.Combine(dir, "t.bin")
    File.WriteAllBytes(target, [| 9uy |])
    AtomicFile.writeBytes target [| 1uy; 2uy; 3uy |]
    Assert.That(File.ReadAllBytes target, Is.EqualTo<byte[]>([| 1uy; 2uy; 3uy |]))
    Assert.That(Directory.GetFiles dir, Is.EqualTo<string[]>([| target |]))
    Directory.Delete(dir, true)

[<Test; NonParallelizable>]
let ``data synth and data import leave no temporary when a write fails`` () =
    let dir = freshDir ()
    let synth = Path.Combine(dir, "synth")
    // samples.f32 a folder: the rename over it fails after the temporary is written.
    Directory.CreateDirectory(Path.Combine(synth, "samples.f32")) |> ignore
    let code, _, err = tern [ "data"; "synth"; "--out"; synth; "--samples"; "20" ]
    Assert.That(code, Is.Not.EqualTo 0, err)
    Assert.That(leftovers synth, Is.Empty)

    let csv = Path.Combine(dir, "a.csv")

    File.WriteAllLines(
        csv,
        [
            yield "x,y,z,l,s"
            for i in 0..199 ->
                let label = if i < 100 then "a" else "b"
                $"{i % 7},{i % 5},{i % 3},{label},1"
        ]
    )

    let imported = Path.Combine(dir, "imp")

    Directory.CreateDirectory(Path.Combine(imported, "raw", "samples.f32"))
    |> ignore

    let code, _, err = importXyz csv imported

    Assert.That(code, Is.Not.EqualTo 0, err)
    Assert.That(leftovers imported, Is.Empty)
    Directory.Delete(dir, true)
