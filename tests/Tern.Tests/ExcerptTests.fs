/// Bad input in messages: at most a short excerpt, non-printable characters escaped, so a binary file given as CSV
/// cannot pour its bytes (terminal escape sequences included) onto the terminal.
module Tern.Tests.ExcerptTests

open System
open System.IO
open NUnit.Framework
open FsCheck
open FsCheck.NUnit
open Tern.Core
open Tern.Tests.CliTests

let private clean (s: string) =
    s |> Seq.forall (fun c -> c >= ' ' && c < '\u007f')

[<Property>]
let ``an excerpt of any ASCII or binary-ish input is short and printable`` (s: NonNull<string>) =
    let q = Excerpt.quote s.Get
    // Each shown character becomes at most 6 (\uNNNN); the tail names the length.
    clean q && q.Length <= 2 + 6 * Excerpt.maxChars + 24

[<Test>]
let ``control characters and undecodable bytes are escaped`` () =
    Assert.That(Excerpt.quote "a\u001b[31mb", Is.EqualTo @"'a\x1b[31mb'")
    Assert.That(Excerpt.quote "\u0000\t\uFFFD", Is.EqualTo @"'\x00\t\ufffd'")
    Assert.That(Excerpt.quote "ok", Is.EqualTo "'ok'")
    Assert.That(Excerpt.quote (String('x', 100)), Does.EndWith "'... (100 characters)")

[<Test; NonParallelizable>]
let ``a binary file given as CSV is named without its raw bytes`` () =
    let dir =
        Path.Combine(Path.GetTempPath(), "tern-excerpt-" + Guid.NewGuid().ToString("N"))

    Directory.CreateDirectory dir |> ignore
    let bin = Path.Combine(dir, "bin.csv")
    File.WriteAllBytes(bin, Array.init 600 (fun i -> byte ((i * 131 + 7) % 256)))

    let code, _, err = importXyz bin (Path.Combine(dir, "out"))

    Assert.That(code, Is.EqualTo 2, err)
    Assert.That(err, Does.Contain "bin.csv: row 1")
    let message = err.TrimEnd()
    Assert.That(clean message, message)
    Assert.That(message.Length, Is.LessThan 400, message)
    Directory.Delete(dir, true)
