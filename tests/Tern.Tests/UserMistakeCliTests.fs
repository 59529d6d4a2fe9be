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

let private ``--kernels is refused with --firmware (its kernels are built in)`` () =
    refusedBadInput (hil @ [ "--firmware"; path "garbage.elf"; "--kernels"; "dsp" ]) [ "--kernels"; "--firmware" ]

let private ``a --history file in a missing folder is refused before any work`` () =
    let missing = path "no-such-folder"
    let file = Path.Combine(missing, "h.db")

    refusedBadInput [ "hil"; "--model"; "default"; "--samples"; "2"; "--history"; file ] [
        "--history"
        "does not exist"
    ]

    Expect.isFalse (Directory.Exists missing) "the folder is not created"

let private ``messages reach the terminal with control characters escaped`` () =
    // A file name carrying a terminal escape sequence (as a hostile ONNX node name or NPY header could).
    let code, _, err = tern [ "inspect"; path "\u001b[31mred.tern" ]
    Expect.equal code 2 err
    Expect.isFalse (err.Contains "\u001b") $"no raw escape character on stderr: {err}"
    Expect.stringContains err @"\x1b[31mred.tern" "the escape is shown escaped"

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

let private ``an --augment that does not fit the data is refused naming what fits`` () =
    let spec = path "spec"
    let shape = Tern.Runtime.Shape3(4, 4, 3)

    Tern.Core.Dataset.save spec {
        Shape = shape
        Classes = [ "a"; "b" ]
        Samples = Array.init 4 (fun i -> Array.init shape.Size (fun j -> float32 ((i + j) % 5)))
        Labels = [| 0; 1; 0; 1 |]
        Subjects = [| 0; 0; 1; 1 |]
        SubjectNames = []
        Source = "test spectrograms"
        Augment = Tern.Core.NoAugmentation
    }

    refusedBadInput [ "train"; "--data"; spec; "--out"; path "m.tern"; "--augment"; "imu" ] [
        "--augment imu"
        "spectrogram"
    ]

    refusedBadInput [ "study"; "ternary"; "--data"; spec; "--augment"; "rotate,time-mask" ] [
        "--augment rotate,time-mask"
        "raw windows"
    ]

    // An import's top folder: --arch auto may train on either form, so the augmentation must fit both.
    let raw, spectrogram = ImportFolderTests.pair 2 2 1
    let top = ImportFolderTests.saveImport "mistake-forms" (Some raw) (Some spectrogram)

    refusedBadInput [ "train"; "--data"; top; "--out"; path "forms.tern"; "--augment"; "imu" ] [
        "--augment imu"
        "spectrogram"
        "--arch auto may train on any form"
    ]

    refusedBadInput [ "study"; "ternary"; "--data"; top; "--augment"; "spec" ] [
        "--augment spec"
        "raw windows"
        "--arch auto may train on any form"
    ]

    refusedBadInput [ "train"; "--data"; spec; "--out"; path "m.tern"; "--augment"; "mixup" ] [
        "--augment"
        "unknown augmentation"
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
        testCase
            "an --augment that does not fit the data is refused naming what fits"
            ``an --augment that does not fit the data is refused naming what fits``
        testCase
            "--kernels is refused with --firmware (its kernels are built in)"
            ``--kernels is refused with --firmware (its kernels are built in)``
        testCase
            "a --history file in a missing folder is refused before any work"
            ``a --history file in a missing folder is refused before any work``
        testCase
            "messages reach the terminal with control characters escaped"
            ``messages reach the terminal with control characters escaped``
        testCase "a refused TCP connection names the port" ``a refused TCP connection names the port``
    ]
