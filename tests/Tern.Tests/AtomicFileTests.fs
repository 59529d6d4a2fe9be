/// Nothing half-written and nothing left behind: a write that fails (here: the target is a folder) removes its
/// temporary, through AtomicFile and through `data synth` and `data import`, which write with it.
module Tern.Tests.AtomicFileTests

open System
open System.IO
open Expecto
open Tern.Core
open Tern.Tests.CliTests

let private freshDir () = Scratch.folder "tern-atomic"

/// The temporaries left anywhere below dir.
let private leftovers (dir: string) =
    Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
    |> Array.map Path.GetFileName
    |> Array.filter (fun n -> n.Contains ".tmp")

let private ``a write over a folder fails and leaves no temporary`` () =
    let dir = freshDir ()
    Directory.CreateDirectory(Path.Combine(dir, "target")) |> ignore

    let e =
        Expect.throwsC (fun () -> AtomicFile.writeBytes (Path.Combine(dir, "target")) [| 1uy; 2uy |]) id

    Expect.isTrue (e :? IOException) $"an IOException, not {e.GetType()}"

    Expect.isEmpty (Directory.GetFiles dir) "files left in the folder"
    Directory.Delete(dir, true)

let private ``a write replaces the target whole and leaves only it`` () =
    let dir = freshDir ()
    let target = Path.Combine(dir, "t.bin")
    File.WriteAllBytes(target, [| 9uy |])
    AtomicFile.writeBytes target [| 1uy; 2uy; 3uy |]
    Expect.equal (File.ReadAllBytes target) [| 1uy; 2uy; 3uy |] "the target's bytes"
    Expect.equal (Directory.GetFiles dir) [| target |] "only the target is left"
    Directory.Delete(dir, true)

let private ``data synth and data import leave no temporary when a write fails`` () =
    let dir = freshDir ()
    let synth = Path.Combine(dir, "synth")
    // samples.f32 a folder: the rename over it fails after the temporary is written.
    Directory.CreateDirectory(Path.Combine(synth, "samples.f32")) |> ignore
    let code, _, err = tern [ "data"; "synth"; "--out"; synth; "--samples"; "20" ]
    Expect.notEqual code 0 err
    Expect.isEmpty (leftovers synth) "temporaries left by data synth"

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

    Expect.notEqual code 0 err
    Expect.isEmpty (leftovers imported) "temporaries left by data import"
    Directory.Delete(dir, true)

[<Tests>]
let tests =
    testSequenced
    <| testList "AtomicFileTests" [
        testCase
            "a write over a folder fails and leaves no temporary"
            ``a write over a folder fails and leaves no temporary``
        testCase
            "a write replaces the target whole and leaves only it"
            ``a write replaces the target whole and leaves only it``
        testCase
            "data synth and data import leave no temporary when a write fails"
            ``data synth and data import leave no temporary when a write fails``
    ]
