/// QEMU's last words reach the user: a firmware QEMU cannot run (another board's ELF locks up at once) fails with
/// QEMU's own message, not only a refused connection.
module Tern.Tests.QemuLastWordsTests

open System
open System.IO
open Expecto
open Tern.Rig
open Tern.Tests.CliTests

let private lockup =
    [
        "qemu: fatal: Lockup: can't escalate 3 to HardFault (current priority -1)"
        ""
        yield! [ for r in 0..15 -> $"R{r:D2}=00000000" ]
        "FPSCR: 00000000"
    ]
    |> String.concat "\n"

let private ``QEMU's own message comes first, then its last lines, the dump between elided`` () =
    let words = QemuLastWords.ofOutput lockup
    Expect.stringStarts words "qemu: fatal: Lockup" "QEMU's last words"
    Expect.stringEnds words "FPSCR: 00000000" "QEMU's last words"
    Expect.stringContains words "..." "QEMU's last words"
    Expect.isFalse (words.Contains "R03=") $"the register dump elided: {words}"

let private ``a short output is kept whole`` () =
    Expect.equal (QemuLastWords.ofOutput "a\n\nb\n") "a | b" "two lines and a blank one"
    Expect.equal (QemuLastWords.ofOutput "") "" "no output"

let private ``another board's ELF fails with QEMU's last words`` () =
    ToolRequirement.require [
        "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi"
        "qemu-system-arm", "qemu-system-arm"
    ]

    let cache = Scratch.folder "tern-lastwords"

    try
        let board =
            match Boards.find "qemu-netduinoplus2" with
            | Ok b -> b
            | Error e -> failwith e

        let elf = (Firmware.build cache board Reference (Tern.Cli.DefaultModel.load ())).Elf

        for split in [ []; [ "--split"; "auto" ] ] do
            let code, _, err =
                tern (
                    [
                        "hil"
                        "--model"
                        "default"
                        "--no-history"
                        "--samples"
                        "2"
                        "--firmware"
                        elf
                    ]
                    @ split
                )

            Expect.equal code 1 err
            Expect.isFalse (err.Contains "internal error") $"not an internal error: {err}"
            Expect.stringContains err "qemu: fatal: Lockup" err
    finally
        try
            Directory.Delete(cache, true)
        with _ ->
            ()

[<Tests>]
let tests =
    testSequenced
    <| testList "QemuLastWordsTests" [
        testCase
            "QEMU's own message comes first, then its last lines, the dump between elided"
            ``QEMU's own message comes first, then its last lines, the dump between elided``
        testCase "a short output is kept whole" ``a short output is kept whole``
        testCase "another board's ELF fails with QEMU's last words" ``another board's ELF fails with QEMU's last words``
    ]
