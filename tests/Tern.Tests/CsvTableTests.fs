/// CsvTable: RFC 4180 through Sylvan.Data.Csv (quoting, line ends, header), and every error naming file, row and
/// column (and the text line where a quoted newline makes it differ from the row).
module Tern.Tests.CsvTableTests

open System
open System.Globalization
open System.IO
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core

/// Writes text (exactly, no line end added) to a fresh file and returns its path.
let private write (name: string) (text: string) : string =
    let path = Path.Combine(Scratch.folder "csvtable", name)
    File.WriteAllText(path, text)
    path

/// The header and every record's (row, line, cells) of a file.
let private readAll (path: string) : string[] * (int * int * string[]) list =
    use t = new CsvTable.Reader(path)

    let records = [
        while t.Next() do
            yield t.Row, t.Line, Array.init t.Header.Length t.Cell
    ]

    t.Header, records

/// The message of the Malformed a file raises when read through (header and every record, every cell as a number
/// but those of a column named "label").
let private failure (path: string) : string =
    try
        use t = new CsvTable.Reader(path)

        while t.Next() do
            for i in 0 .. t.Header.Length - 1 do
                if t.Header[i] <> "label" then
                    t.Number i |> ignore

        failtest "expected the file to be refused"
    with CsvTable.Malformed msg ->
        msg

let private cells (records: (int * int * string[]) list) =
    records |> List.map (fun (_, _, c) -> c)

/// A field as RFC 4180 writes it: quoted (inner quotes doubled) when asked or when it must be.
let private field (quote: bool) (s: string) =
    if quote || s.IndexOfAny([| ','; '"'; '\r'; '\n' |]) >= 0 then
        "\"" + s.Replace("\"", "\"\"") + "\""
    else
        s

/// Text for names and labels: letters, digits and the characters CSV must quote, never blank at either end
/// (cells are trimmed).
let private cellText: Gen<string> =
    let inner =
        Gen.elements [ 'a'; 'Z'; '7'; ' '; ','; '"'; '\n'; '\r'; '#'; ';'; '\t'; 'é' ]

    gen {
        let! first = Gen.elements [ 'a'; 'b'; 'Q'; '#'; '"'; ','; '\u00e9' ]
        let! middle = Gen.listOf inner |> Gen.resize 8
        let! last = Gen.elements [ 'x'; 'y'; '"'; ','; '9' ]
        return String(Array.ofList ((first :: middle) @ [ last ]))
    }

/// A table of finite floats with a text column, written with random quoting and random line ends, with the line
/// each record starts on. Header and Rows are what reading gives back: line ends inside quotes as LF.
type private Written = {
    Header: string[]
    Rows: (float[] * string) list
    Text: string
    Lines: int list
}

let private written: Gen<Written> =
    gen {
        let! columns = Gen.choose (1, 4)

        // Distinct as read back: a reader gives line ends inside quotes as LF, so "a\rb" and "a\nb" are one name.
        let! names =
            Gen.listOfLength (columns + 1) cellText
            |> Gen.map (
                List.distinctBy (fun t -> t.Replace("\r\n", "\n").Replace('\r', '\n'))
                >> Array.ofList
            )

        let numeric = names.Length - 1

        let finite =
            ArbMap.defaults |> ArbMap.generate<NormalFloat> |> Gen.map (fun f -> f.Get)

        let! rows =
            Gen.listOf (Gen.zip (Gen.arrayOfLength numeric finite) cellText)
            |> Gen.resize 12

        let! quoting =
            Gen.listOfLength ((rows.Length + 1) * names.Length) (Gen.elements [ true; false ])

        let! ends = Gen.listOfLength (rows.Length + 1) (Gen.elements [ "\n"; "\r\n"; "\r" ])
        let! lastEnd = Gen.elements [ true; false ]
        let quote = Array.ofList quoting
        let b = StringBuilder()
        let mutable line = 1
        let lines = ResizeArray<int>()

        let record (k: int) (texts: string[]) =
            let fields = texts |> Array.mapi (fun i s -> field quote[k * names.Length + i] s)
            let body = String.Join(",", fields)
            b.Append(body) |> ignore

            if k < rows.Length || lastEnd then
                b.Append(ends[k]) |> ignore

            // A text editor breaks lines at LF, CRLF and a lone CR, inside quotes too.
            let breaks =
                body.Replace("\r\n", "\n").Replace('\r', '\n')
                |> Seq.filter ((=) '\n')
                |> Seq.length

            line <- line + breaks + 1

        record 0 names

        rows
        |> List.iteri (fun k (values, label) ->
            lines.Add line

            let texts =
                Array.append (values |> Array.map (fun v -> v.ToString("R", CultureInfo.InvariantCulture))) [| label |]

            record (k + 1) texts)

        let lf (t: string) =
            t.Replace("\r\n", "\n").Replace('\r', '\n')

        return {
            Header = names |> Array.map lf
            Rows = rows |> List.map (fun (v, l) -> v, lf l)
            Text = b.ToString()
            Lines = List.ofSeq lines
        }
    }

// ------------------------------------------------------------------ what the library brings

let private ``quoted fields keep their commas, doubled quotes and newlines`` () =
    let path =
        write "q.csv" ("id,\"b,c\",note\n" + "1,\"2,5\",\"say \"\"hi\"\"\"\n" + "3,\"x\ny\",plain\n")

    let header, records = readAll path
    Expect.equal header [| "id"; "b,c"; "note" |] "quoted header names"

    Expect.equal
        (cells records)
        [ [| "1"; "2,5"; "say \"hi\"" |]; [| "3"; "x\ny"; "plain" |] ]
        "cells without their quotes, inner quotes undoubled"

    Expect.equal (records |> List.map (fun (r, l, _) -> r, l)) [ 2, 2; 3, 3 ] "rows and lines"

let private ``LF, CRLF and CR line ends read alike, the last line end optional`` () =
    let rows = [ "a,b"; "1,\"p\r\nq\""; "2,z" ]

    let read (ending: string) (last: string) =
        readAll (write "e.csv" (String.Join(ending, rows) + last))

    let expected = read "\n" "\n"

    for ending in [ "\n"; "\r\n"; "\r" ] do
        for last in [ ending; "" ] do
            Expect.equal (read ending last) expected $"line end %A{ending}, last %A{last}"

    Expect.equal (snd expected |> List.map (fun (r, l, _) -> r, l)) [ 2, 2; 3, 4 ] "the quoted CRLF spans a line"

let private ``a lone CR, in quotes or ending the header, does not split a later CRLF record`` () =
    // Sylvan 1.4.4 alone reads both as three records, the third blank or starting with the LF (CsvTable.LineEnds).
    let long = String('3', 40)
    let header, records = readAll (write "c.csv" $"a,b\r1,2\r\n{long},4\r\n")
    Expect.equal header [| "a"; "b" |] "a header ended by CR"
    Expect.equal (cells records) [ [| "1"; "2" |]; [| long; "4" |] ] "CRLF records after a CR header"

    let header, records =
        readAll (write "d.csv" $"a,\"x\ry\"\r\n1,2\r\n{long},4\r\n\"{long}\",5\r\n")

    Expect.equal header [| "a"; "x\ny" |] "a CR inside a quoted name reads as LF"

    Expect.equal (cells records) [ [| "1"; "2" |]; [| long; "4" |]; [| long; "5" |] ] "CRLF records after a quoted CR"

    Expect.equal (records |> List.map (fun (r, l, _) -> r, l)) [ 2, 3; 3, 4; 4, 5 ] "rows and lines"

let private ``a byte order mark, '#' and padded cells: the mark is dropped, '#' is data, cells are trimmed`` () =
    let path = write "b.csv" ("\uFEFF x , label\n#1,#walk\n 2 ,  run  \n")
    let header, records = readAll path
    Expect.equal header [| "x"; "label" |] "no mark in the first name, names trimmed"
    Expect.equal (cells records) [ [| "#1"; "#walk" |]; [| "2"; "run" |] ] "'#' starts no comment; cells trimmed"

let private ``blank lines at the end are tolerated`` () =
    let _, records = readAll (write "t.csv" "a,b\n1,2\n\n  \r\n")
    Expect.equal (cells records) [ [| "1"; "2" |] ] "one record, the blank lines after it ignored"

// ------------------------------------------------------------------ errors: file, row, column

let private ``a cell that is not a number names file, row and column, and the line after a quoted newline`` () =
    let path = write "n.csv" "t,x,label\n0,1,\"A\nB\"\n10,abc,A\n"
    Expect.stringContains (failure path) "n.csv: row 3 (line 4), column 'x': 'abc' is not a number" "row, line, column"

    let inf = write "inf.csv" "t,x\n0,1\n10,Infinity\n"
    Expect.stringContains (failure inf) "inf.csv: row 3, column 'x': 'Infinity' is not a finite number" "infinity"

let private ``a record with too few or too many cells names the first missing or extra column`` () =
    let short = write "s.csv" "t,x,label\n0,1,A\n10,2\n"

    Expect.stringContains
        (failure short)
        "s.csv: row 3: 2 cells, the header has 3 (missing from column 'label' on)"
        "too few"

    let long = write "l.csv" "t,x,label\n0,1,A,9\n"

    Expect.stringContains
        (failure long)
        "l.csv: row 2: 4 cells, the header has 3 (cell 4 is past the last column 'label')"
        "too many"

let private ``a malformed quote names file, row and column; an unclosed one the row it opens`` () =
    let bad = write "m.csv" "t,x\n0,1\n1,\"2\"z\n"
    Expect.stringContains (failure bad) "m.csv: row 3, column 'x': malformed CSV" "text after a closing quote"
    let unclosed = write "u.csv" "t,x\n0,1\n1,\"2\n3,4\n5,6\n"
    Expect.stringContains (failure unclosed) "u.csv: row 3, column 'x': malformed CSV" "a quote never closed"
    let header = write "h.csv" "t,\"x\"y\n0,1\n"
    Expect.stringContains (failure header) "h.csv: row 1, column 2: malformed CSV" "in the header: by position"

let private ``an empty file, a blank first line and a name twice are refused at row 1`` () =
    for text in [ ""; "\n"; "  \r\n1,2\n" ] do
        Expect.stringContains (failure (write "e.csv" text)) "e.csv: row 1: empty file (no header)" $"%A{text}"

    Expect.stringContains
        (failure (write "d.csv" "a,b,a\n1,2,3\n"))
        "d.csv: row 1: column 'a' appears twice in the header"
        "a duplicate name"

let private ``a blank line inside the data names its row; a missing file is named`` () =
    Expect.stringContains
        (failure (write "k.csv" "a,b\n1,2\n\n3,4\n"))
        "k.csv: row 3: blank line inside the data"
        "blank"

    let missing = Path.Combine(Scratch.folder "csvtable", "none.csv")
    Expect.stringContains (failure missing) "none.csv: no such file" "missing file"

let private ``a record longer than the limit is refused at its row, not read into memory`` () =
    let text = "a,b\n1,2\n3,\"" + String('x', CsvTable.maxRecordChars + 10) + "\"\n"
    let e = failure (write "big.csv" text)
    Expect.stringContains e "big.csv: row 3: a record longer than" "names the row"
    Expect.isLessThan e.Length 300 "and quotes none of it"

[<Tests>]
let tests =
    testList "CsvTableTests" [
        testCase
            "quoted fields keep their commas, doubled quotes and newlines"
            ``quoted fields keep their commas, doubled quotes and newlines``
        testCase
            "LF, CRLF and CR line ends read alike, the last line end optional"
            ``LF, CRLF and CR line ends read alike, the last line end optional``
        testCase
            "a lone CR, in quotes or ending the header, does not split a later CRLF record"
            ``a lone CR, in quotes or ending the header, does not split a later CRLF record``
        testCase
            "a byte order mark, '#' and padded cells: the mark is dropped, '#' is data, cells are trimmed"
            ``a byte order mark, '#' and padded cells: the mark is dropped, '#' is data, cells are trimmed``
        testCase "blank lines at the end are tolerated" ``blank lines at the end are tolerated``

        testPropertyWithConfig
            (Properties.tests 200)
            "any table of finite floats and text written as RFC 4180 with random quoting and line ends reads back equal, each record on its line"
        <| fun () ->
            Prop.forAll (Arb.fromGen written) (fun w ->
                let header, records = readAll (write "p.csv" w.Text)

                let values =
                    records
                    |> List.map (fun (_, _, c) ->
                        let numbers =
                            c[.. c.Length - 2]
                            |> Array.map (fun s -> Double.Parse(s, CultureInfo.InvariantCulture))

                        numbers, c[c.Length - 1])

                header = w.Header
                && values = w.Rows
                && (records |> List.map (fun (r, _, _) -> r)) = List.init w.Rows.Length (fun k -> k + 2)
                && (records |> List.map (fun (_, l, _) -> l)) = w.Lines)

        testCase
            "a cell that is not a number names file, row and column, and the line after a quoted newline"
            ``a cell that is not a number names file, row and column, and the line after a quoted newline``
        testCase
            "a record with too few or too many cells names the first missing or extra column"
            ``a record with too few or too many cells names the first missing or extra column``
        testCase
            "a malformed quote names file, row and column; an unclosed one the row it opens"
            ``a malformed quote names file, row and column; an unclosed one the row it opens``
        testCase
            "an empty file, a blank first line and a name twice are refused at row 1"
            ``an empty file, a blank first line and a name twice are refused at row 1``
        testCase
            "a blank line inside the data names its row; a missing file is named"
            ``a blank line inside the data names its row; a missing file is named``
        testCase
            "a record longer than the limit is refused at its row, not read into memory"
            ``a record longer than the limit is refused at its row, not read into memory``
    ]
