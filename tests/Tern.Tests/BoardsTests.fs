module Tern.Tests.BoardsTests

open System.IO
open Expecto
open Tern.Rig

[<Tests>]
let tests =
    testList "BoardsTests" [
        testCase "every board folder has a board.json that parses and names its folder"
        <| fun () ->
            let root = Boards.hilRoot ()

            for dir in Directory.GetDirectories(Path.Combine(root, "boards")) do
                let file = Path.Combine(dir, "board.json")

                if File.Exists file then
                    match Boards.parse file with
                    | Error e -> failtest e
                    | Ok b ->
                        Expect.equal b.Name (Path.GetFileName dir) "the board's name is its folder's"
                        Expect.isTrue (File.Exists b.LinkerScript) b.LinkerScript

                        for s in b.Sources do
                            Expect.isTrue (File.Exists s) s

        testCase "the three boards of the HIL issue are known"
        <| fun () ->
            let names = Boards.all () |> List.map (fun b -> b.Name)

            Expect.containsAll
                names
                [ "qemu-mps2-an386"; "qemu-netduinoplus2"; "nucleo-f446re" ]
                "the boards of the HIL issue"

            match Boards.find "nucleo-f446re" with
            | Ok b ->
                match b.Run with
                | OpenOcd(config, port) ->
                    Expect.stringContains config "nucleo" "nucleo's openocd configuration"
                    Expect.stringStarts port "/dev/tty" "nucleo's serial port"
                | other -> failtest $"nucleo should be flashed with openocd, not {other}"
            | Error e -> failtest e

        testCase "an unknown board is an error naming the known ones"
        <| fun () ->
            match Boards.find "pdp-11" with
            | Ok _ -> failtest "expected an error"
            | Error e ->
                Expect.stringContains e "pdp-11" "the error names the unknown board"
                Expect.stringContains e "qemu-mps2-an386" "the error names the known boards"

        testCase "a board.json with a missing field is rejected naming the field"
        <| fun () ->
            let dir = Scratch.folder "tern-board"
            let file = Path.Combine(dir, "board.json")
            File.WriteAllText(file, """{ "name": "x", "description": "y" }""")

            match Boards.parse file with
            | Ok _ -> failtest "expected an error"
            | Error e ->
                Expect.stringContains e "missing field" "the error says a field is missing"
                Expect.stringContains e "board.json" "the error names the file"

        testCase "QEMU puts the firmware's UART on the serial port the board names"
        <| fun () ->
            let args = Qemu.arguments "netduinoplus2" 1 "fw.elf" "/tmp/s.sock"

            let serials =
                args
                |> List.pairwise
                |> List.filter (fun (a, _) -> a = "-serial")
                |> List.map snd

            Expect.equal serials [ "null"; "unix:/tmp/s.sock,server,nowait" ] "QEMU's -serial arguments in order"
            Expect.contains args "shift=0" "QEMU's arguments"
    ]
