/// The firmware cache (Firmware.build): racing builders of one firmware share one entry published atomically under a
/// lock, stale temporary entries are cleaned, and an ELF that no longer matches its recorded SHA-256 is rebuilt.
/// Needs arm-none-eabi-gcc (ignored without it); QEMU is not needed.
module Tern.Tests.FirmwareCacheTests

open System
open System.IO
open System.Security.Cryptography
open System.Threading.Tasks
open NUnit.Framework
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

[<NonParallelizable>]
type FirmwareCacheTests() =
    let mutable cache = ""

    [<SetUp>]
    member _.FreshCache() =
        cache <- Path.Combine(Path.GetTempPath(), "tern-firmware-cache-" + Guid.NewGuid().ToString "N")

    [<TearDown>]
    member _.RemoveCache() = EmulatedBoard.removeCache cache

    [<Test>]
    member _.``parallel builds of one firmware on a fresh cache all succeed with one ELF and no temporary entry``() =
        EmulatedBoard.requireCompiler ()
        let b = board ()

        let images =
            Array.init 3 (fun _ -> Task.Run(fun () -> Firmware.build cache b Reference model.Value))
            |> Task.WhenAll
            |> fun t -> t.Result

        Assert.That(images |> Array.map (fun i -> i.Elf) |> Array.distinct, Has.Length.EqualTo 1)
        Assert.That(images |> Array.map (fun i -> i.Hash) |> Array.distinct, Has.Length.EqualTo 1)
        Assert.That(images |> Array.filter (fun i -> not i.Cached), Has.Length.EqualTo 1, "exactly one builder builds")
        Assert.That(File.Exists images[0].Elf, Is.True)
        Assert.That(temporaries cache, Is.Empty)
        // the published ELF is a whole one: it builds the same bytes again from scratch
        let first = sha images[0].Elf
        Directory.Delete(Path.GetDirectoryName images[0].Elf, true)
        Assert.That(sha (Firmware.build cache b Reference model.Value).Elf, Is.EqualTo first)

    [<Test>]
    member _.``stale temporary entries left by dead builders are cleaned, of this firmware and of others``() =
        EmulatedBoard.requireCompiler ()
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
        Assert.That(again.Cached, Is.False)
        Assert.That(again.FlashBytes, Is.EqualTo fw.FlashBytes)
        Assert.That(temporaries cache, Is.Empty)

    [<Test>]
    member _.``a truncated, garbage or unrecorded ELF in the cache is rebuilt, not reused``() =
        EmulatedBoard.requireCompiler ()
        let b = board ()
        let fw = Firmware.build cache b Reference model.Value
        let good = sha fw.Elf
        let bytes = File.ReadAllBytes fw.Elf
        Assert.That((Firmware.build cache b Reference model.Value).Cached, Is.True, "an intact entry is reused")

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
            Assert.That(again.Cached, Is.False, $"{name}: rebuilt")
            Assert.That(again.Elf, Is.EqualTo fw.Elf, name)
            Assert.That(sha again.Elf, Is.EqualTo good, name)
            Assert.That(again.FlashBytes, Is.EqualTo fw.FlashBytes, name)
            Assert.That((Firmware.build cache b Reference model.Value).Cached, Is.True, $"{name}: reused once rebuilt")

        Assert.That(temporaries cache, Is.Empty)
