/// Tests that need a program (ARM toolchain, QEMU, socat, a host C compiler, make, Chromium...) ask for it here: on
/// a developer's machine without it the test is skipped, naming the Debian packages to install; under CI, which has
/// every tool, a missing one is a failure, so a broken CI image cannot pass by skipping.
module Tern.Tests.ToolRequirement

open System
open Expecto
open Tern.Rig

/// Whether the value of the CI environment variable demands every tool: "true" or "1" (case and surrounding blanks
/// ignored), as CI services and .ci/run set it. Unset, empty, "false", "0" or anything else: skip as usual.
let demandsTools (ci: string) : bool =
    match ci with
    | null -> false
    | v -> v.Trim().ToLowerInvariant() = "true" || v.Trim() = "1"

/// What a missing tool does to the test: nothing when none is missing; otherwise a failure when `ci` (the CI
/// variable's value) demands every tool, else a skip; both name the Debian packages to install.
let enforce (ci: string) (missingPackages: string list) : unit =
    if not missingPackages.IsEmpty then
        let message =
            $"needs Debian packages: {String.Join(' ', missingPackages)} (apt-get install --no-install-recommends {String.Join(' ', missingPackages)})"

        if demandsTools ci then
            failtest $"CI is set: {message}"
        else
            skiptest message

/// Requires programs on PATH (or absolute files), given as (program, Debian packages that provide it).
let require (tools: (string * string) list) : unit =
    tools
    |> List.filter (fun (p, _) -> (Proc.which p).IsNone)
    |> List.map snd
    |> List.distinct
    |> enforce (Environment.GetEnvironmentVariable "CI")

/// A program's path, after requiring it from the given Debian packages.
let find (program: string) (packages: string) : string =
    require [ program, packages ]
    (Proc.which program).Value
