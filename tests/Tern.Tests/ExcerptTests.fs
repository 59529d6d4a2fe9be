/// Bad input in messages: at most a short excerpt, non-printable characters escaped, so a binary file given as CSV
/// cannot pour its bytes (terminal escape sequences included) onto the terminal.
module Tern.Tests.ExcerptTests

open System
open System.IO
open Expecto
open FsCheck
open Tern.Core
open Tern.Tests.Assertions
open Tern.Tests.CliTests

let private clean (s: string) =
    s |> Seq.forall (fun c -> c >= ' ' && c < '\u007f')

let private ``an excerpt of any ASCII or binary-ish input is short and printable`` (s: NonNull<string>) =
    let q = Excerpt.quote s.Get
    // Each shown character becomes at most 6 (\uNNNN); the tail names the length.
    clean q && q.Length <= 2 + 6 * Excerpt.maxChars + 24

let private ``control characters and undecodable bytes are escaped`` () =
    Expect.equal (Excerpt.quote "a\u001b[31mb") @"'a\x1b[31mb'" "an escape sequence"
    Expect.equal (Excerpt.quote "\u0000\t\uFFFD") @"'\x00\t\ufffd'" "NUL, tab and the replacement character"
    Expect.equal (Excerpt.quote "ok") "'ok'" "printable text"
    Expect.stringEnds (Excerpt.quote (String('x', 100))) "'... (100 characters)" "a long input"

let private ``a binary file given as CSV is named without its raw bytes`` () =
    let dir = Scratch.folder "tern-excerpt"
    let bin = Path.Combine(dir, "bin.csv")
    File.WriteAllBytes(bin, Array.init 600 (fun i -> byte ((i * 131 + 7) % 256)))

    let code, _, err = importXyz bin (Path.Combine(dir, "out"))

    Expect.equal code 2 err
    Expect.stringContains err "bin.csv: row 1" "stderr"
    let message = err.TrimEnd()
    Expect.isTrue (clean message) message
    Expect.isLessThan message.Length 400 message
    Directory.Delete(dir, true)

/// terminalSafe keeps every line break, shows nothing raw that a terminal would act on, cuts nothing, and leaves
/// plain ASCII text as it is.
let private ``a message made terminal-safe keeps its lines and printable text, nothing else raw`` (s: NonNull<string>) =
    let m = s.Get
    let safe = Excerpt.terminalSafe m
    let lines = safe.Split '\n'

    lines.Length = m.Split('\n').Length
    && lines |> Array.forall (Seq.forall shownAsItself)
    && (m |> Seq.forall (fun c -> c = '\n' || (c >= ' ' && c < '\u007f')) |> not
        || safe = m)

let private ``terminal-safe messages escape an escape sequence and keep the line breaks`` () =
    Expect.equal
        (Excerpt.terminalSafe "bad name '\u001b[2Jx'\nnext line")
        (@"bad name '\x1b[2Jx'" + "\nnext line")
        "ESC escaped"

    Expect.equal (Excerpt.terminalSafe "a\tb\rc") @"a\tb\rc" "tab and carriage return"
    Expect.equal (Excerpt.terminalSafe (String('y', 500))).Length 500 "nothing cut"

[<Tests>]
let tests =
    testSequenced
    <| testList "ExcerptTests" [
        testProperty
            "an excerpt of any ASCII or binary-ish input is short and printable"
            ``an excerpt of any ASCII or binary-ish input is short and printable``
        testCase
            "control characters and undecodable bytes are escaped"
            ``control characters and undecodable bytes are escaped``
        testProperty
            "a message made terminal-safe keeps its lines and printable text, nothing else raw"
            ``a message made terminal-safe keeps its lines and printable text, nothing else raw``
        testCase
            "terminal-safe messages escape an escape sequence and keep the line breaks"
            ``terminal-safe messages escape an escape sequence and keep the line breaks``
        testCase
            "a binary file given as CSV is named without its raw bytes"
            ``a binary file given as CSV is named without its raw bytes``
    ]
