/// The committed fixture files (tests/fixtures/npy, tests/fixtures/onnx), found above the test directory.
module Tern.Tests.Fixtures

open System
open System.IO

/// The folder tests/fixtures/KIND: the first one walking up from the test directory.
let dir (kind: string) : string =
    let rec up (d: DirectoryInfo) =
        if isNull d then
            failwith $"tests/fixtures/{kind} not found above the test directory"
        else
            let f = Path.Combine(d.FullName, "tests", "fixtures", kind)
            if Directory.Exists f then f else up d.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// The path of a NumPy fixture (tests/fixtures/npy).
let npy (name: string) : string = Path.Combine(dir "npy", name)

/// The path of an ONNX fixture (tests/fixtures/onnx).
let onnx (name: string) : string = Path.Combine(dir "onnx", name)
