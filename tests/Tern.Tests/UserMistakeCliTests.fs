/// User mistakes at the `tern` command: each exits 2 with a message naming the option (or file) and what is
/// wrong, never 1 "internal error", and is refused before any work (firmware build, QEMU).
module Tern.Tests.UserMistakeCliTests

open System
open System.IO
open System.Net
open System.Net.Sockets
open Expecto
open Tern.Rig
open Tern.Tests.CliTests

let private refusedBadInput (args: string list) (mentions: string list) =
    let code, _, err = tern args
    Expect.equal code 2 err
    Expect.isFalse (err.Contains "internal error") $"not an internal error: {err}"

    for m in mentions do
        Expect.stringContains err m "stderr"

/// The fixture's folder: a folder and a file of garbage bytes named garbage.elf, made once.
let private dir =
    lazy
        (let dir = Scratch.folder "tern-mistakes"
         Directory.CreateDirectory(Path.Combine(dir, "folder")) |> ignore
         File.WriteAllBytes(Path.Combine(dir, "garbage.elf"), Array.init 3000 (fun i -> byte (i * 37 % 251)))
         dir)

let private path name = Path.Combine(dir.Value, name)
let private hil = [ "hil"; "--model"; "default"; "--no-history"; "--samples"; "2" ]
let private nucleo = hil @ [ "--board"; "nucleo-f446re"; "--no-flash" ]

let private ``a folder given as a model is named as a folder`` () =
    refusedBadInput [ "run"; path "folder" + "/" ] [ "a folder, not a model file" ]
    refusedBadInput [ "inspect"; path "folder" + "/" ] [ "a folder, not a model file" ]
    refusedBadInput [ "hil"; "--model"; path "folder"; "--no-history" ] [ "--model"; "a folder" ]

let private ``a --port of no known form is refused naming the forms`` () =
    refusedBadInput (nucleo @ [ "--port"; "bogus" ]) [ "--port bogus"; "tcp:HOST:PORT" ]
    refusedBadInput (nucleo @ [ "--port"; "tcp:localhost" ]) [ "--port tcp:localhost"; "port is missing" ]

let private ``a missing Unix socket or tty is refused naming the port`` () =
    let socket = path "no.sock"
    refusedBadInput (nucleo @ [ "--port"; $"unix:{socket}" ]) [ $"--port unix:{socket}"; "no Unix socket" ]
    refusedBadInput (nucleo @ [ "--port"; "/dev/ttyNOPE" ]) [ "--port /dev/ttyNOPE"; "no serial device" ]

let private ``a garbage or missing --firmware is refused before QEMU`` () =
    refusedBadInput (hil @ [ "--firmware"; path "garbage.elf" ]) [ "--firmware"; "not a 32-bit ARM ELF" ]
    refusedBadInput (hil @ [ "--firmware"; path "none.elf" ]) [ "--firmware"; "file not found" ]
    refusedBadInput (hil @ [ "--firmware"; path "folder" ]) [ "--firmware"; "a folder" ]

let private ``options for a real board are refused on an emulated one`` () =
    refusedBadInput (hil @ [ "--port"; "tcp:127.0.0.1:9"; "--no-flash" ]) [ "--port"; "qemu-mps2-an386"; "emulated" ]

    refusedBadInput (hil @ [ "--no-flash" ]) [ "--no-flash"; "qemu-mps2-an386"; "emulated" ]

    refusedBadInput (hil @ [ "--board"; "qemu-netduinoplus2"; "--port"; "/dev/ttyACM0" ]) [
        "--port"
        "qemu-netduinoplus2"
    ]

let private ``--cache is refused with --firmware (nothing is built)`` () =
    refusedBadInput (hil @ [ "--firmware"; path "garbage.elf"; "--cache"; path "cache" ]) [ "--cache"; "--firmware" ]

let private ``a refused TCP connection names the port`` () =
    // The firmware is built even with --no-flash.
    ToolRequirement.require [ "arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi" ]

    // A port nothing listens on: bound, then released.
    let listener = new TcpListener(IPAddress.Loopback, 0)
    listener.Start()
    let port = (listener.LocalEndpoint :?> IPEndPoint).Port
    listener.Stop()

    refusedBadInput (nucleo @ [ "--port"; $"tcp:127.0.0.1:{port}"; "--cache"; path "cache" ]) [
        $"--port tcp:127.0.0.1:{port}"
        "ConnectionRefused"
    ]

[<Tests>]
let tests =
    testSequenced
    <| testList "UserMistakeCliTests" [
        testCase "a folder given as a model is named as a folder" ``a folder given as a model is named as a folder``
        testCase
            "a --port of no known form is refused naming the forms"
            ``a --port of no known form is refused naming the forms``
        testCase
            "a missing Unix socket or tty is refused naming the port"
            ``a missing Unix socket or tty is refused naming the port``
        testCase
            "a garbage or missing --firmware is refused before QEMU"
            ``a garbage or missing --firmware is refused before QEMU``
        testCase
            "options for a real board are refused on an emulated one"
            ``options for a real board are refused on an emulated one``
        testCase
            "--cache is refused with --firmware (nothing is built)"
            ``--cache is refused with --firmware (nothing is built)``
        testCase "a refused TCP connection names the port" ``a refused TCP connection names the port``
    ]
