/// A CSV file read strictly: RFC 4180 through Sylvan.Data.Csv (quoted fields, doubled quotes, quoted commas and
/// newlines; LF, CRLF or CR line ends, mixed too; a UTF-8 byte order mark), a header of unique names, then records of
/// exactly as many cells, blank lines only at the end. Cells are trimmed of surrounding white space (as sensor exports
/// pad them); a line end inside a quoted cell reads as LF.
///
/// Every error is a `Malformed` whose message names the file, the row and, where one cell is at fault, the column.
/// Row n is the n-th record with the header as row 1, as a spreadsheet numbers them; when a quoted newline earlier in
/// the file makes a text editor's line differ, the line is named too. Bad input is quoted through Excerpt, so a binary
/// file given as CSV never reaches the terminal raw.
module Tern.Core.CsvTable

open System
open System.Globalization
open System.IO
open Sylvan.Data.Csv

/// A bad file, already described: file, row, column.
exception Malformed of string

/// A record longer than this is refused: it is an unclosed quote or not a CSV file, and reading on would hold the
/// whole file in memory.
let maxRecordChars = 1 <<< 20

/// "file: row R" for the record numbered `row` (header = 1) that starts on text line `line`.
let position (file: string) (row: int) (line: int) : string =
    if row = line then
        $"{file}: row {row}"
    else
        $"{file}: row {row} (line {line})"

/// Line breaks inside a raw record (after LineEnds: LF only), its own terminator left out.
let private innerBreaks (raw: ReadOnlySpan<char>) : int =
    let body =
        if not raw.IsEmpty && raw[raw.Length - 1] = '\n' then
            raw.Slice(0, raw.Length - 1)
        else
            raw

    MemoryExtensions.Count(body, '\n')

let private breaksIn (s: string) = innerBreaks (s.AsSpan())

/// The text with every line end (CRLF, lone CR, LF) read as LF, inside quotes too. Sylvan 1.4.4, once it has met a
/// lone CR (a CR-only header, or a CR inside a quoted cell), can split a later CRLF record in two and prefix the next
/// record with the LF; with LF alone it never switches into that mode. Text editors count the same lines.
type private LineEnds(inner: TextReader) =
    inherit TextReader()
    // The last character handed out was a CR turned into LF: an LF arriving next is its pair and is dropped.
    let mutable afterCr = false
    let one: char[] = Array.zeroCreate 1

    let normalize (s: Span<char>) : int =
        if not afterCr && s.IndexOf('\r') < 0 then
            s.Length
        else
            let mutable w = 0

            for r in 0 .. s.Length - 1 do
                let c = s[r]

                if c = '\n' && afterCr then
                    afterCr <- false
                elif c = '\r' then
                    s[w] <- '\n'
                    w <- w + 1
                    afterCr <- true
                else
                    s[w] <- c
                    w <- w + 1
                    afterCr <- false

            w

    override _.Read(buffer: Span<char>) : int =
        let mutable result = -1

        while result < 0 do
            let got = inner.Read(buffer)

            if got = 0 then
                result <- 0
            else
                let kept = normalize (buffer.Slice(0, got))
                // A chunk that was only a dropped LF: read on rather than signal the end.
                if kept > 0 then
                    result <- kept

        result

    override this.Read(buffer: char[], index: int, count: int) : int = this.Read(Span(buffer, index, count))

    override this.Read() : int =
        if this.Read(one, 0, 1) = 0 then -1 else int one[0]

    override _.Dispose(disposing: bool) =
        if disposing then
            inner.Dispose()

let private fail (msg: string) = raise (Malformed msg)

/// An open CSV file positioned before its first data record; `Next` advances.
type Reader(file: string) =
    do
        if not (File.Exists file) then
            fail $"{file}: no such file"

    // Row and first line of the current record (0 while the header is read); the next record starts on nextLine.
    let mutable row = 0
    let mutable line = 0
    let mutable nextLine = 1
    // Where the first blank line was seen (tolerated only if nothing but blank lines follows).
    let mutable blankAt: string option = None
    let mutable header: string[] = [||]

    let column (i: int) =
        if i >= 0 && i < header.Length then
            $"column {Excerpt.quote header[i]}"
        else
            $"column {i + 1}"

    // The reader's own messages describe what it expected; ours add where.
    let malformed (e: CsvFormatException) =
        let at = position file (row + 1) nextLine

        match e with
        | :? CsvRecordTooLargeException ->
            fail $"{at}: a record longer than {maxRecordChars} characters (an unclosed quote, or not a CSV file)"
        | _ -> fail $"{at}, {column e.FieldOrdinal}: malformed CSV: {e.Message}"

    let options =
        CsvDataReaderOptions(
            Delimiter = ',',
            HasHeaders = true,
            Culture = CultureInfo.InvariantCulture,
            MaxBufferSize = Nullable maxRecordChars,
            // Sylvan skips lines starting with its comment character ('#' unless told): a label such as "#3" or a NUL
            // would vanish. No real file starts a line with U+FFFF; if one does, it is refused rather than skipped.
            Comment = '\uffff',
            CommentHandler =
                CommentHandler.op_Implicit (
                    Action<CsvDataReader, string>(fun _ _ ->
                        fail $"{position file (row + 1) nextLine}, column 1: a line starting with U+FFFF")
                )
        )

    let text = new LineEnds(new StreamReader(file, Text.Encoding.UTF8, true))

    let reader =
        try
            try
                CsvDataReader.Create(text, options)
            with
            | :? CsvMissingHeadersException -> fail $"{file}: row 1: empty file (no header)"
            | :? CsvFormatException as e -> malformed e
        with _ ->
            text.Dispose()
            reraise ()

    do
        row <- 1
        line <- 1
        header <- Array.init reader.FieldCount (fun i -> reader.GetName(i).Trim())

        if header.Length = 1 && header[0] = "" then
            reader.Dispose()
            fail $"{file}: row 1: empty file (no header)"

        nextLine <- 2 + Array.sumBy breaksIn header

        match header |> Array.countBy id |> Array.tryFind (fun (_, n) -> n > 1) with
        | Some(name, _) ->
            reader.Dispose()
            fail $"{file}: row 1: column {Excerpt.quote name} appears twice in the header"
        | None -> ()

    /// The file's name as given.
    member _.File = file

    /// The header's names, trimmed.
    member _.Header: string[] = header

    /// The current record's row (header = 1).
    member _.Row = row

    /// The text line the current record starts on.
    member _.Line = line

    /// "file: row R" of the current record.
    member _.Here = position file row line

    /// "file: row R, column 'name'" of cell i of the current record.
    member _.At(i: int) = $"{position file row line}, {column i}"

    /// Moves to the next data record; false at the end. Fails on a malformed record, a cell count that differs from
    /// the header's, or a blank line followed by data.
    member this.Next() : bool =
        let mutable found = false
        let mutable ended = false

        while not found && not ended do
            let read =
                try
                    reader.Read()
                with :? CsvFormatException as e ->
                    malformed e

            if not read then
                ended <- true
            else
                row <- row + 1
                line <- nextLine
                let raw = reader.GetRawRecordSpan()
                nextLine <- line + 1 + innerBreaks raw

                if reader.RowFieldCount = 1 && raw.Trim().IsEmpty then
                    if blankAt.IsNone then
                        blankAt <- Some this.Here
                else
                    found <- true

        if found then
            match blankAt with
            | Some at -> fail $"{at}: blank line inside the data"
            | None -> ()

            let n = reader.RowFieldCount

            if n < header.Length then
                fail $"{this.Here}: {n} cells, the header has {header.Length} (missing from {column n} on)"
            elif n > header.Length then
                fail
                    $"{this.Here}: {n} cells, the header has {header.Length} (cell {header.Length + 1} is past the last {column (header.Length - 1)})"

        found

    /// Cell i of the current record, trimmed.
    member _.Cell(i: int) : string =
        reader.GetFieldSpan(i).Trim().ToString()

    /// Cell i of the current record as a finite number (invariant culture: '.' decimals, exponents allowed).
    member this.Number(i: int) : float =
        let s = reader.GetFieldSpan(i).Trim()
        let mutable v = 0.0

        if Double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, &v) then
            if Double.IsFinite v then
                v
            else
                fail $"{this.At i}: {Excerpt.quote (s.ToString())} is not a finite number"
        else
            fail $"{this.At i}: {Excerpt.quote (s.ToString())} is not a number"

    interface IDisposable with
        member _.Dispose() = reader.Dispose()
