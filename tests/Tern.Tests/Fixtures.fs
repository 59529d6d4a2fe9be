/// The committed fixture files (tests/fixtures/npy, tests/fixtures/onnx), found above the test directory.
module Tern.Tests.Fixtures

open System
open System.IO

/// The first folder, walking up from the test program, that holds `relative` (a file or a folder, '/'-separated).
/// Markers choose what is found: build.fsx only sits in the repository, hil/... also in the copy beside the program.
let above (relative: string) : string =
    let parts = relative.Split '/'

    let rec up (d: DirectoryInfo) =
        if isNull d then
            failwith $"{relative} not found above the test program"
        else
            let p = Path.Combine(Array.append [| d.FullName |] parts)

            if File.Exists p || Directory.Exists p then
                d.FullName
            else
                up d.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// The folder tests/fixtures/KIND: the first one walking up from the test directory.
let dir (kind: string) : string =
    Path.Combine(above $"tests/fixtures/{kind}", "tests", "fixtures", kind)

/// The path of a NumPy fixture (tests/fixtures/npy).
let npy (name: string) : string = Path.Combine(dir "npy", name)

/// The path of an ONNX fixture (tests/fixtures/onnx).
let onnx (name: string) : string = Path.Combine(dir "onnx", name)
