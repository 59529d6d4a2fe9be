namespace Tern.Rig

open System
open System.Globalization
open System.IO
open System.Text.Json.Nodes
open Microsoft.Data.Sqlite

/// A history file that cannot serve (bad input, exit 2): not SQLite, another program's database, damaged, or written
/// by a newer tern.
exception HistoryFileError of string

/// The history could not be read or written though nothing is known to be wrong with the file (e.g. another
/// process held it locked past the busy timeout): exit 1.
exception HistoryFailure of string

/// One stored run: the verb's JSON report as it was written, and the facts the list shows.
type HistoryRun = {
    Id: int64
    /// UTC.
    Time: DateTime
    /// "hil", "study ternary", ...
    Verb: string
    ModelHash: string option
    Board: string option
    TernVersion: string
    Report: JsonNode
}

/// The run history: one SQLite file, one row per hil or study run. Schema 1 (PRAGMA user_version):
///   runs(id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT (UTC ISO 8601), verb TEXT, model_hash TEXT NULL,
///        board TEXT NULL, tern_version TEXT, report TEXT (the JSON object))
/// and PRAGMA application_id 0x7465726E ("tern") marks the file as ours. Appends are single IMMEDIATE transactions
/// and every connection waits up to 30 s for another process's lock, so concurrent runs may share one file.
[<RequireQualifiedAccess>]
module HistoryStore =
    /// The schema this code writes and reads.
    [<Literal>]
    let SchemaVersion = 1

    /// "tern" in ASCII: SQLite's header field that names the application owning the file.
    [<Literal>]
    let ApplicationId = 0x7465726E

    let private busyMilliseconds = 30_000

    let private schema =
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            verb TEXT NOT NULL,
            model_hash TEXT,
            board TEXT,
            tern_version TEXT NOT NULL,
            report TEXT NOT NULL
        );
        CREATE INDEX runs_by_subject ON runs (verb, model_hash, board, id);
        """

    let private ternVersion = typeof<HistoryRun>.Assembly.GetName().Version.ToString(3)

    /// The default file: $TERN_HISTORY if set, else tern/history.db in the user's data folder ($XDG_DATA_HOME or
    /// ~/.local/share on Linux, %LOCALAPPDATA% on Windows).
    let defaultPath () : string =
        match Environment.GetEnvironmentVariable "TERN_HISTORY" with
        | null
        | "" ->
            let data =
                Environment.GetFolderPath(
                    Environment.SpecialFolder.LocalApplicationData,
                    Environment.SpecialFolderOption.DoNotVerify
                )

            Path.Combine(data, "tern", "history.db")
        | p -> p

    /// SQLite's primary result code (the low byte of an extended code).
    let private primary (e: SqliteException) = e.SqliteErrorCode &&& 0xff

    /// Runs an operation on the file, turning SQLite's failures into messages that name the file.
    let private guard (path: string) (f: unit -> 'a) : 'a =
        try
            f ()
        with :? SqliteException as e ->
            match primary e with
            | 26 -> raise (HistoryFileError $"{path}: not an SQLite database, so not a tern history")
            | 11 -> raise (HistoryFileError $"{path}: the history file is damaged ({e.Message})")
            | 14 -> raise (HistoryFileError $"{path}: cannot open the history file ({e.Message})")
            | 8 -> raise (HistoryFileError $"{path}: the history file is read-only")
            | 5
            | 6 ->
                raise (
                    HistoryFailure
                        $"{path}: another process held the history locked for more than {busyMilliseconds / 1000} s"
                )
            | _ -> raise (HistoryFailure $"{path}: {e.Message}")

    let private connect (path: string) (readOnly: bool) : SqliteConnection =
        let b =
            SqliteConnectionStringBuilder(
                DataSource = path,
                Mode =
                    (if readOnly then
                         SqliteOpenMode.ReadOnly
                     else
                         SqliteOpenMode.ReadWriteCreate),
                // A pooled connection keeps the file open after Close; each call here is one short session.
                Pooling = false,
                DefaultTimeout = busyMilliseconds / 1000
            )

        let c = new SqliteConnection(b.ToString())
        c.Open()
        use cmd = c.CreateCommand()
        cmd.CommandText <- $"PRAGMA busy_timeout = {busyMilliseconds}"
        cmd.ExecuteNonQuery() |> ignore
        c

    let private scalar (c: SqliteConnection) (sql: string) : obj =
        use cmd = c.CreateCommand()
        cmd.CommandText <- sql
        cmd.ExecuteScalar()

    let private execute (c: SqliteConnection) (sql: string) =
        use cmd = c.CreateCommand()
        cmd.CommandText <- sql
        cmd.ExecuteNonQuery() |> ignore

    type private State =
        | Empty
        | Ready

    /// What the open file holds: nothing yet, or our schema; anything else raises HistoryFileError.
    let private inspect (path: string) (c: SqliteConnection) : State =
        let tables =
            use cmd = c.CreateCommand()
            cmd.CommandText <- "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            use r = cmd.ExecuteReader()

            [
                while r.Read() do
                    yield r.GetString 0
            ]

        let appId = Convert.ToInt64(scalar c "PRAGMA application_id")
        let version = Convert.ToInt64(scalar c "PRAGMA user_version")

        if appId = int64 ApplicationId then
            if version > int64 SchemaVersion then
                raise (
                    HistoryFileError
                        $"{path}: written by a newer tern (history schema {version}; this tern reads schema {SchemaVersion})"
                )
            elif version < 1L || not (List.contains "runs" tables) then
                raise (HistoryFileError $"{path}: the history file is damaged (schema {version}, tables: {tables})")
            else
                Ready
        elif appId = 0L && tables.IsEmpty then
            Empty
        else
            let names =
                if tables.IsEmpty then
                    "no tables"
                else
                    "tables " + String.Join(", ", tables)

            raise (
                HistoryFileError
                    $"{path}: an SQLite database of another program (application id {appId}, {names}), not a tern history; choose another file with --history"
            )

    /// Checks that the file can serve as a history: missing (it will be created), empty, or a tern history of a
    /// schema this tern reads. Raises HistoryFileError otherwise.
    let check (path: string) : unit =
        if File.Exists path then
            guard path (fun () ->
                use c = connect path true
                inspect path c |> ignore)
        elif Directory.Exists path then
            raise (HistoryFileError $"{path}: a folder, not a history file")

    let private stamp (t: DateTime) =
        t.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)

    /// Appends a report (the verb's JSON object) and returns its run id. Creates the file and its folder if needed.
    let append (path: string) (time: DateTime) (verb: string) (report: JsonNode) : int64 =
        if Directory.Exists path then
            raise (HistoryFileError $"{path}: a folder, not a history file")

        let full = Path.GetFullPath path
        Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore

        guard path (fun () ->
            use c = connect full false
            // IMMEDIATE: the write lock is taken first, so two processes creating the same new file cannot both
            // see it empty.
            use tx = c.BeginTransaction(deferred = false)

            match inspect path c with
            | Empty ->
                execute c schema
                execute c $"PRAGMA application_id = {ApplicationId}"
                execute c $"PRAGMA user_version = {SchemaVersion}"
            | Ready -> ()

            use cmd = c.CreateCommand()

            cmd.CommandText <-
                "INSERT INTO runs (time, verb, model_hash, board, tern_version, report) "
                + "VALUES ($time, $verb, $model, $board, $version, $report); SELECT last_insert_rowid();"

            let opt (s: string option) : obj =
                match s with
                | Some v -> v
                | None -> DBNull.Value

            cmd.Parameters.AddWithValue("$time", stamp time) |> ignore
            cmd.Parameters.AddWithValue("$verb", verb) |> ignore

            cmd.Parameters.AddWithValue("$model", opt (ReportFacts.text "model_hash" report))
            |> ignore

            cmd.Parameters.AddWithValue("$board", opt (ReportFacts.text "board" report))
            |> ignore

            cmd.Parameters.AddWithValue("$version", ternVersion) |> ignore
            cmd.Parameters.AddWithValue("$report", report.ToJsonString()) |> ignore
            let id = Convert.ToInt64(cmd.ExecuteScalar())
            tx.Commit()
            id)

    let private columns = "id, time, verb, model_hash, board, tern_version, report"

    let private read (path: string) (r: SqliteDataReader) : HistoryRun =
        let id = r.GetInt64 0

        let opt (i: int) =
            if r.IsDBNull i then None else Some(r.GetString i)

        let report =
            try
                JsonNode.Parse(r.GetString 6)
            with :? Text.Json.JsonException as e ->
                raise (HistoryFileError $"{path}: run {id}: the stored report is not JSON ({e.Message})")

        {
            Id = id
            Time =
                DateTime.ParseExact(
                    r.GetString 1,
                    "yyyy-MM-ddTHH:mm:ssZ",
                    CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal ||| DateTimeStyles.AssumeUniversal
                )
            Verb = r.GetString 2
            ModelHash = opt 3
            Board = opt 4
            TernVersion = r.GetString 5
            Report = report
        }

    /// Reads an existing history without writing to it; a missing file (or one without runs yet) gives `none`.
    let private readExisting (path: string) (none: 'a) (f: SqliteConnection -> 'a) : 'a =
        if not (File.Exists path) then
            check path
            none
        else
            guard path (fun () ->
                use c = connect path true

                match inspect path c with
                | Empty -> none
                | Ready -> f c)

    /// Runs a read-only query over an existing history; a missing file reads as no runs.
    let private query (path: string) (sql: string) (bind: SqliteCommand -> unit) : HistoryRun list =
        readExisting path [] (fun c ->
            use cmd = c.CreateCommand()
            cmd.CommandText <- sql
            bind cmd
            use r = cmd.ExecuteReader()

            [
                while r.Read() do
                    yield read path r
            ])

    /// The last `limit` runs, oldest first.
    let recent (path: string) (limit: int) : HistoryRun list =
        query path $"SELECT {columns} FROM runs ORDER BY id DESC LIMIT $limit" (fun cmd ->
            cmd.Parameters.AddWithValue("$limit", limit) |> ignore)
        |> List.rev

    /// Number of runs stored (0 for a missing file).
    let count (path: string) : int64 =
        readExisting path 0L (fun c -> Convert.ToInt64(scalar c "SELECT COUNT(*) FROM runs"))

    /// The run with this id.
    let tryFind (path: string) (id: int64) : HistoryRun option =
        query path $"SELECT {columns} FROM runs WHERE id = $id" (fun cmd ->
            cmd.Parameters.AddWithValue("$id", id) |> ignore)
        |> List.tryHead

    /// Runs of a verb with this model hash on this board, newest first.
    let ofSubject (path: string) (verb: string) (modelHash: string) (board: string) : HistoryRun list =
        query
            path
            $"SELECT {columns} FROM runs WHERE verb = $verb AND model_hash = $model AND board = $board ORDER BY id DESC"
            (fun cmd ->
                cmd.Parameters.AddWithValue("$verb", verb) |> ignore
                cmd.Parameters.AddWithValue("$model", modelHash) |> ignore
                cmd.Parameters.AddWithValue("$board", board) |> ignore)
