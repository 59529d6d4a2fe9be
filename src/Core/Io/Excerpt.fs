/// Bad input quoted in a message: short, and printable. A binary file read as text must not pour its bytes (escape
/// sequences included) onto the user's terminal.
module Tern.Core.Excerpt

open System
open System.Globalization
open System.Text

/// At most this many characters of the input are shown.
let maxChars = 40

let private printable (c: char) =
    match Char.GetUnicodeCategory c with
    | UnicodeCategory.Control
    | UnicodeCategory.Format
    | UnicodeCategory.Surrogate
    | UnicodeCategory.PrivateUse
    | UnicodeCategory.OtherNotAssigned
    | UnicodeCategory.LineSeparator
    | UnicodeCategory.ParagraphSeparator -> false
    // The replacement character stands for bytes that were not UTF-8.
    | _ -> c <> '\uFFFD'

/// A character a terminal would act on, written as an escape: \t, \r, \xNN or \uNNNN.
let private escaped (c: char) : string =
    match c with
    | '\t' -> @"\t"
    | '\r' -> @"\r"
    | c when int c < 0x100 -> $"\\x{int c:x2}"
    | c -> $"\\u{int c:x4}"

/// s in single quotes, non-printable characters escaped (\t, \n, \r, \xNN, \uNNNN), cut after maxChars with the
/// full length said.
let quote (s: string) : string =
    let b = StringBuilder("'")

    for c in Seq.truncate maxChars s do
        match c with
        | '\n' -> b.Append @"\n"
        | '\\' -> b.Append @"\\"
        | '\'' -> b.Append @"\'"
        | c when printable c -> b.Append c
        | c -> b.Append(escaped c)
        |> ignore

    b.Append("'") |> ignore

    if s.Length > maxChars then
        b.Append $"... ({s.Length} characters)" |> ignore

    b.ToString()

/// A whole message made safe for a terminal: lines kept, every other non-printable character escaped (\t, \r,
/// \xNN, \uNNNN), nothing cut. The last guard before stderr, for names and headers taken from user files (ONNX node
/// names, NPY headers) that no message quoted.
let terminalSafe (message: string) : string =
    let b = StringBuilder()

    for c in message do
        match c with
        | '\n' -> b.Append '\n'
        | c when printable c -> b.Append c
        | c -> b.Append(escaped c)
        |> ignore

    b.ToString()
