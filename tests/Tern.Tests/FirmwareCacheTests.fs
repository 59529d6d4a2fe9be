/// The firmware cache (Firmware.build): racing builders of one firmware share one entry published atomically under a
/// lock, stale temporary entries are cleaned, and an ELF that no longer matches its recorded SHA-256 is rebuilt.
/// Needs arm-none-eabi-gcc (ignored without it); QEMU is not needed.
module Tern.Tests.FirmwareCacheTests

open System
open System.IO
open System.Security.Cryptography
open System.Threading.Tasks
open Expecto
open Tern.Core
open Tern.Rig

let private board () = EmulatedBoard.board "qemu-mps2-an386"

let private model = lazy (EmulatedBoard.ternaryModel 3)

let private sha (file: string) =
    Convert.ToHexString(SHA256.HashData(File.ReadAllBytes file))

/// Everything left in a board's cache folder whose name marks a temporary entry.
let private temporaries (cache: string) =
    let dir = Path.Combine(cache, "firmware", (board ()).Name)

    Directory.GetFileSystemEntries dir
    |> Array.map Path.GetFileName
    |> Array.filter (fun n -> n.Contains ".tmp-")

/// A fresh, empty firmware cache for each test.
let private freshCache () = Scratch.folder "tern-firmware-cache"

[<Tests>]
let tests =
    testSequenced
    <| testList "FirmwareCacheTests" [
        testCase "parallel builds of one firmware on a fresh cache all succeed with one ELF and no temporary entry"
        <| fun () ->
            EmulatedBoard.requireCompiler ()
            let cache = freshCache ()
            let b = board ()

            let images =
                Array.init 3 (fun _ -> Task.Run(fun () -> Firmware.build cache b Reference model.Value))
                |> Task.WhenAll
                |> fun t -> t.Result

            Expect.hasLength (images |> Array.map (fun i -> i.Elf) |> Array.distinct) 1 "one ELF"
            Expect.hasLength (images |> Array.map (fun i -> i.Hash) |> Array.distinct) 1 "one hash"
            Expect.hasLength (images |> Array.filter (fun i -> not i.Cached)) 1 "exactly one builder builds"
            Expect.isTrue (File.Exists images[0].Elf) "the ELF exists"
            Expect.isEmpty (temporaries cache) "no temporary entry left"
            // the published ELF is a whole one: it builds the same bytes again from scratch
            let first = sha images[0].Elf
            Directory.Delete(Path.GetDirectoryName images[0].Elf, true)
            Expect.equal (sha (Firmware.build cache b Reference model.Value).Elf) first "the same bytes rebuilt"

        testCase "stale temporary entries left by dead builders are cleaned, of this firmware and of others"
        <| fun () ->
            EmulatedBoard.requireCompiler ()
            let cache = freshCache ()
            let b = board ()
            let fw = Firmware.build cache b Reference model.Value
            let entry = Path.GetDirectoryName fw.Elf
            let parent = Path.GetDirectoryName entry
            // as a builder killed mid-build leaves them: its own entry's and another firmware's
            let mine = entry + ".tmp-2147483000"
            let other = Path.Combine(parent, "0123456789abcdef.tmp-2147483001")

            for d in [ mine; other ] do
                Directory.CreateDirectory d |> ignore
                File.WriteAllText(Path.Combine(d, "firmware.elf"), "half")

            Directory.Delete(entry, true)
            let again = Firmware.build cache b Reference model.Value
            Expect.isFalse again.Cached "the deleted entry is built again"
            Expect.equal again.FlashBytes fw.FlashBytes "the same flash bytes"
            Expect.isEmpty (temporaries cache) "the stale temporary entries are cleaned"

        testCase "a truncated, garbage or unrecorded ELF in the cache is rebuilt, not reused"
        <| fun () ->
            EmulatedBoard.requireCompiler ()
            let cache = freshCache ()
            let b = board ()
            let fw = Firmware.build cache b Reference model.Value
            let good = sha fw.Elf
            let bytes = File.ReadAllBytes fw.Elf
            Expect.isTrue (Firmware.build cache b Reference model.Value).Cached "an intact entry is reused"

            let damages: (string * (unit -> unit)) list = [
                "truncated", (fun () -> File.WriteAllBytes(fw.Elf, bytes[.. bytes.Length / 2]))
                "garbage",
                (fun () ->
                    let junk = Array.zeroCreate<byte> bytes.Length
                    Random(7).NextBytes junk
                    File.WriteAllBytes(fw.Elf, junk))
                // one byte flipped deep inside: arm-none-eabi-size would not notice, the hash does
                "one bit flipped",
                (fun () ->
                    let b = Array.copy bytes
                    b[b.Length - 100] <- b[b.Length - 100] ^^^ 1uy
                    File.WriteAllBytes(fw.Elf, b))
                "no record",
                (fun () ->
                    for f in Directory.GetFiles(Path.GetDirectoryName fw.Elf, "*.sha256") do
                        File.Delete f)
            ]

            for name, damage in damages do
                damage ()
                let again = Firmware.build cache b Reference model.Value
                Expect.isFalse again.Cached $"{name}: rebuilt"
                Expect.equal again.Elf fw.Elf name
                Expect.equal (sha again.Elf) good name
                Expect.equal again.FlashBytes fw.FlashBytes name
                Expect.isTrue (Firmware.build cache b Reference model.Value).Cached $"{name}: reused once rebuilt"

            Expect.isEmpty (temporaries cache) "no temporary entry left"
    ]
