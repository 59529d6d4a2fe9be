/// QEMU's last words reach the user: a firmware QEMU cannot run (another board's ELF locks up at once) fails with
/// QEMU's own message, not only a refused connection.
module Tern.Tests.QemuLastWordsTests

open System
open System.IO
open NUnit.Framework
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

[<Test>]
let ``QEMU's own message comes first, then its last lines, the dump between elided`` () =
    let words = QemuLastWords.ofOutput lockup
    Assert.That(words, Does.StartWith "qemu: fatal: Lockup")
    Assert.That(words, Does.EndWith "FPSCR: 00000000")
    Assert.That(words, Does.Contain "...")
    Assert.That(words, Does.Not.Contain "R03=")

[<Test>]
let ``a short output is kept whole`` () =
    Assert.That(QemuLastWords.ofOutput "a\n\nb\n", Is.EqualTo "a | b")
    Assert.That(QemuLastWords.ofOutput "", Is.EqualTo "")

[<Test; NonParallelizable>]
let ``another board's ELF fails with QEMU's last words`` () =
    ToolRequirement.require [
        "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi"
        "qemu-system-arm", "qemu-system-arm"
    ]

    let cache =
        Path.Combine(Path.GetTempPath(), "tern-lastwords-" + Guid.NewGuid().ToString("N"))

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

            Assert.That(code, Is.EqualTo 1, err)
            Assert.That(err, Does.Not.Contain "internal error")
            Assert.That(err, Does.Contain "qemu: fatal: Lockup", err)
    finally
        try
            Directory.Delete(cache, true)
        with _ ->
            ()
