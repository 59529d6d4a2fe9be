module Tern.Tests.FuzzTests

open Expecto

/// Seconds per target in the test suite: both targets and their builds well within CI's two minutes.
/// $TERN_FUZZ_SECONDS overrides it (`dotnet fsi build.fsx fuzz` sets it to the chosen time).
let private suiteSeconds = 30

/// Builds the target, runs libFuzzer on it and fails on any finding, naming the input it left in artifacts/fuzz/.
let private fuzz (target: DeviceFuzz.Target) () =
    let clang = DeviceFuzz.clang ()
    let o = DeviceFuzz.run clang target (DeviceFuzz.seconds suiteSeconds)
    printfn "%s" (DeviceFuzz.summary o)

    if o.ExitCode <> 0 || not o.Findings.IsEmpty then
        let lines = o.Log.Split '\n'
        let tail = lines[max 0 (lines.Length - 60) ..]
        failtest (DeviceFuzz.summary o + "\n" + String.concat "\n" tail)

    Expect.isGreaterThan o.Executions 0L "libFuzzer ran the target"

[<Tests>]
let tests =
    testSequenced
    <| testList "FuzzTests" [
        testCase
            "libFuzzer finds nothing in the device's frame decoder (tern_frame_decoder_push and the one-shot COBS decoder against a reference)"
            (fuzz DeviceFuzz.Frame)
        testCase
            "libFuzzer finds nothing in the device's message handler (the firmware's main.c, every request, split mode)"
            (fuzz DeviceFuzz.Handler)
    ]
