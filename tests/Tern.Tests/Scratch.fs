/// Folders the tests write into: each fresh and empty, all under one root for the test run, which the test program
/// removes when the run ends (so fixtures need no teardown of their own).
module Tern.Tests.Scratch

open System
open System.IO

/// The root of this run's scratch folders (created on first use).
let root: Lazy<string> =
    lazy
        (let r =
            Path.Combine(Path.GetTempPath(), "tern-tests-" + Guid.NewGuid().ToString("N"))

         Directory.CreateDirectory r |> ignore
         r)

/// A fresh empty folder whose name starts with `prefix`.
let folder (prefix: string) : string =
    let d = Path.Combine(root.Value, prefix + "-" + Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d

/// Removes the root and everything in it (the test program calls this after the run).
let removeAll () : unit =
    if root.IsValueCreated && Directory.Exists root.Value then
        Directory.Delete(root.Value, true)
