/// The firmware key (Firmware.key, FirmwareKey): taken over every file gcc says the build reads, so an edit to any header
/// a source includes gives new firmware, while the same sources in another folder give the same key. Needs
/// arm-none-eabi-gcc for the key itself (ignored without it).
module Tern.Tests.FirmwareKeyTests

open System
open System.IO
open Expecto
open FsCheck
open Tern.Core
open Tern.Rig

let private model = lazy (EmulatedBoard.ternaryModel 3)

let private boardName = "qemu-mps2-an386"

/// A copy of the device sources in a fresh temporary folder.
let private copyHil (root: string) (name: string) =
    let source = Boards.hilRoot ()
    let target = Path.Combine(root, name, "hil")

    for d in Directory.GetDirectories(source, "*", SearchOption.AllDirectories) do
        Directory.CreateDirectory(Path.Combine(target, Path.GetRelativePath(source, d)))
        |> ignore

    for f in Directory.GetFiles(source, "*", SearchOption.AllDirectories) do
        let t = Path.Combine(target, Path.GetRelativePath(source, f))
        Directory.CreateDirectory(Path.GetDirectoryName t) |> ignore
        File.Copy(f, t)

    target

let private keyIn (hil: string) (split: int) =
    match Boards.parse (Path.Combine(hil, "boards", boardName, "board.json")) with
    | Ok b -> Firmware.key hil b Reference model.Value split
    | Error e -> failwith e

/// Appends a comment: the file's content changes, the code it compiles to does not.
let private touch (file: string) =
    File.AppendAllText(file, "\n/* edited */\n")

/// The folder the tests copy the device sources into (made on first use).
let private root = lazy (Scratch.folder "tern-firmware-key")

[<Tests>]
let tests =
    testSequenced
    <| testList "FirmwareKeyTests" [
        testCase "the same sources in another folder give the same key; an edit to tern_kernels_internal.h changes it"
        <| fun () ->
            EmulatedBoard.requireCompiler ()
            let a = copyHil root.Value "a"
            let b = copyHil root.Value "b"
            let ka = keyIn a 0
            Expect.equal (keyIn b 0).Key ka.Key "machine-independent: no absolute path in the key"
            Expect.isFalse (ka.Files |> List.exists (fun f -> f.StartsWith "/")) "no file listed by absolute path"
            Expect.isFalse (ka.Files |> List.exists (fun f -> f.StartsWith "..")) "no file listed outside the sources"
            touch (Path.Combine(b, "kernels", "tern_kernels_internal.h"))
            Expect.notEqual (keyIn b 0).Key ka.Key "an edit to tern_kernels_internal.h changes the key"

        testCase "every header the sources include is listed, and an edit to any listed file changes the key"
        <| fun () ->
            EmulatedBoard.requireCompiler ()
            let hil = copyHil root.Value "each"
            // split mode also compiles the codec: its header must be listed then
            let k = keyIn hil 1024

            let expected = [
                "kernels/tern_kernels_internal.h"
                "include/tern_kernels.h"
                // the ternary model's baked layers (the DSP build's code, compiled in every build)
                "include/tern_baked.h"
                "kernels/baked.c"
                "include/tern_board.h"
                "include/tern_codec.h"
                "firmware/tern_proto.h"
                "firmware/main.c"
                "kernels/conv_t2.c"
                "codec/tern_codec.c"
                "generated/tern_model.h"
                "generated/tern_model.c"
                $"boards/{boardName}/linker.ld"
            ]

            for f in expected do
                Expect.contains k.Files f "the key's files"

            // nothing but what gcc reads: no test vector, no other board
            Expect.isFalse (k.Files |> List.exists (fun f -> f.StartsWith "tests/")) "no test vector listed"
            Expect.isFalse (k.Files |> List.exists (fun f -> f.StartsWith "boards/nucleo")) "no other board listed"

            for f in k.Files |> List.filter (fun f -> not (f.StartsWith "generated/")) do
                let file = Path.Combine(hil, f)
                let before = File.ReadAllBytes file
                touch file
                Expect.notEqual (keyIn hil 1024).Key k.Key $"an edit to {f}"
                File.WriteAllBytes(file, before)

            Expect.equal (keyIn hil 1024).Key k.Key "restored: the same key again"

        testCase "gcc -MM rules: targets dropped, continuations joined, escaped spaces kept"
        <| fun () ->
            let rules =
                "main.o: /a/main.c /a/b\\ c/x.h \\\n /a/y.h\nconv.o: k/conv.c \\\n  k/int\\#ernal.h $$x.h\n"

            Expect.equal
                (FirmwareKey.parseRules rules)
                [ "/a/main.c"; "/a/b c/x.h"; "/a/y.h"; "k/conv.c"; "k/int#ernal.h"; "$x.h" ]
                "the prerequisites, unescaped"

        testPropertyWithConfig
            (Properties.tests 100)
            "gcc -MM rules: any file names written as make writes them are read back"
        <| fun (names: NonEmptyString list) ->
            let names =
                names
                |> List.map (fun n ->
                    String(
                        n.Get.ToCharArray()
                        |> Array.filter (fun c ->
                            Char.IsLetterOrDigit c || c = ' ' || c = '$' || c = '#' || c = '.' || c = '/')
                    ))
                |> List.map (fun n -> n.Trim())
                |> List.filter (fun n -> n <> "")

            let escape (n: string) =
                n.Replace("$", "$$").Replace(" ", "\\ ").Replace("#", "\\#")

            let rules = "x.o: " + String.Join(" \\\n ", names |> List.map escape) + "\n"

            FirmwareKey.parseRules rules = names
    ]
