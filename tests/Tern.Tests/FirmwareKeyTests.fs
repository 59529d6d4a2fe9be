/// The firmware key (Firmware.key, FirmwareKey): taken over every file gcc says the build reads, so an edit to any header
/// a source includes gives new firmware, while the same sources in another folder give the same key. Needs
/// arm-none-eabi-gcc for the key itself (ignored without it).
module Tern.Tests.FirmwareKeyTests

open System
open System.IO
open FsCheck
open NUnit.Framework
open FsCheck.NUnit
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

[<NonParallelizable>]
type FirmwareKeyTests() =
    let root =
        Path.Combine(Path.GetTempPath(), "tern-firmware-key-" + Guid.NewGuid().ToString "N")

    [<OneTimeTearDown>]
    member _.TearDown() = EmulatedBoard.removeCache root

    [<Test>]
    member _.``the same sources in another folder give the same key; an edit to tern_kernels_internal.h changes it``() =
        EmulatedBoard.requireCompiler ()
        let a = copyHil root "a"
        let b = copyHil root "b"
        let ka = keyIn a 0
        Assert.That((keyIn b 0).Key, Is.EqualTo ka.Key, "machine-independent: no absolute path in the key")
        Assert.That(ka.Files, Has.None.StartsWith "/")
        Assert.That(ka.Files, Has.None.StartsWith "..")
        touch (Path.Combine(b, "kernels", "tern_kernels_internal.h"))
        Assert.That((keyIn b 0).Key, Is.Not.EqualTo ka.Key)

    [<Test>]
    member _.``every header the sources include is listed, and an edit to any listed file changes the key``() =
        EmulatedBoard.requireCompiler ()
        let hil = copyHil root "each"
        // split mode also compiles the codec: its header must be listed then
        let k = keyIn hil 1024

        let expected = [
            "kernels/tern_kernels_internal.h"
            "include/tern_kernels.h"
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
            Assert.That(k.Files, Does.Contain f)

        // nothing but what gcc reads: no test vector, no other board
        Assert.That(k.Files, Has.None.StartsWith "tests/")
        Assert.That(k.Files, Has.None.StartsWith "boards/nucleo")

        for f in k.Files |> List.filter (fun f -> not (f.StartsWith "generated/")) do
            let file = Path.Combine(hil, f)
            let before = File.ReadAllBytes file
            touch file
            Assert.That((keyIn hil 1024).Key, Is.Not.EqualTo k.Key, $"an edit to {f}")
            File.WriteAllBytes(file, before)

        Assert.That((keyIn hil 1024).Key, Is.EqualTo k.Key, "restored: the same key again")

    [<Test>]
    member _.``gcc -MM rules: targets dropped, continuations joined, escaped spaces kept``() =
        let rules =
            "main.o: /a/main.c /a/b\\ c/x.h \\\n /a/y.h\nconv.o: k/conv.c \\\n  k/int\\#ernal.h $$x.h\n"

        Assert.That(
            FirmwareKey.parseRules rules,
            Is.EqualTo<string list> [ "/a/main.c"; "/a/b c/x.h"; "/a/y.h"; "k/conv.c"; "k/int#ernal.h"; "$x.h" ]
        )

    [<Property(MaxTest = 100)>]
    member _.``gcc -MM rules: any file names written as make writes them are read back``(names: NonEmptyString list) =
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
