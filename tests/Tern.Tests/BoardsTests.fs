module Tern.Tests.BoardsTests

open System.IO
open NUnit.Framework
open Tern.Rig

[<Test>]
let ``every board folder has a board.json that parses and names its folder`` () =
    let root = Boards.hilRoot ()

    for dir in Directory.GetDirectories(Path.Combine(root, "boards")) do
        let file = Path.Combine(dir, "board.json")

        if File.Exists file then
            match Boards.parse file with
            | Error e -> Assert.Fail e
            | Ok b ->
                Assert.That(b.Name, Is.EqualTo(Path.GetFileName dir))
                Assert.That(File.Exists b.LinkerScript, Is.True, b.LinkerScript)

                for s in b.Sources do
                    Assert.That(File.Exists s, Is.True, s)

[<Test>]
let ``the three boards of the HIL issue are known`` () =
    let names = Boards.all () |> List.map (fun b -> b.Name)
    Assert.That(names, Is.SupersetOf [ "qemu-mps2-an386"; "qemu-netduinoplus2"; "nucleo-f446re" ])

    match Boards.find "nucleo-f446re" with
    | Ok b ->
        match b.Run with
        | OpenOcd(config, port) ->
            Assert.That(config, Does.Contain "nucleo")
            Assert.That(port, Does.StartWith "/dev/tty")
        | other -> Assert.Fail $"nucleo should be flashed with openocd, not {other}"
    | Error e -> Assert.Fail e

[<Test>]
let ``an unknown board is an error naming the known ones`` () =
    match Boards.find "pdp-11" with
    | Ok _ -> Assert.Fail "expected an error"
    | Error e -> Assert.That(e, Does.Contain("pdp-11").And.Contain("qemu-mps2-an386"))

[<Test>]
let ``a board.json with a missing field is rejected naming the field`` () =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-board-" + string (System.Guid.NewGuid()))

    Directory.CreateDirectory dir |> ignore

    try
        let file = Path.Combine(dir, "board.json")
        File.WriteAllText(file, """{ "name": "x", "description": "y" }""")

        match Boards.parse file with
        | Ok _ -> Assert.Fail "expected an error"
        | Error e -> Assert.That(e, Does.Contain("missing field").And.Contain("board.json"))
    finally
        Directory.Delete(dir, true)

[<Test>]
let ``QEMU puts the firmware's UART on the serial port the board names`` () =
    let args = Qemu.arguments "netduinoplus2" 1 "fw.elf" "/tmp/s.sock"

    let serials =
        args
        |> List.pairwise
        |> List.filter (fun (a, _) -> a = "-serial")
        |> List.map snd

    Assert.That(serials, Is.EqualTo<string list> [ "null"; "unix:/tmp/s.sock,server,nowait" ])
    Assert.That(args, Does.Contain "shift=0")
