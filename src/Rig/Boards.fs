namespace Tern.Rig

open System
open System.IO
open System.Text.Json

/// How a board is started and reached.
type RunMethod =
    /// QEMU machine; the firmware's UART is QEMU's serial port number SerialIndex.
    | Qemu of machine: string * serialIndex: int
    /// A real board flashed with openocd; its UART is a serial port on the host.
    | OpenOcd of config: string * port: string

/// A board, read from hil/boards/NAME/board.json: boards are data, not code branches.
type Board = {
    Name: string
    Description: string
    Dir: string
    CFlags: string list
    Defines: (string * string) list
    Dsp: bool
    Sources: string list
    LinkerScript: string
    /// Core clock in Hz (board.json clock_hz): converts work to time (QEMU: one instruction per cycle assumed).
    ClockHz: int64
    FlashBytes: int64
    RamBytes: int64
    Run: RunMethod
    Work: string
}

[<RequireQualifiedAccess>]
module Boards =
    /// The device sources: next to the tool (copied at build time), else found above the current folder.
    let hilRoot () : string =
        let besideTool = Path.Combine(AppContext.BaseDirectory, "hil")

        if Directory.Exists(Path.Combine(besideTool, "boards")) then
            besideTool
        else
            let rec up (dir: DirectoryInfo) =
                if isNull dir then
                    failwith "cannot find the hil/ folder (device sources) beside the tool or above the current folder"
                elif Directory.Exists(Path.Combine(dir.FullName, "hil", "boards")) then
                    Path.Combine(dir.FullName, "hil")
                else
                    up dir.Parent

            up (DirectoryInfo(Environment.CurrentDirectory))

    /// Parses one board.json; errors name the file and the field.
    let parse (file: string) : Result<Board, string> =
        try
            let dir = Path.GetDirectoryName(Path.GetFullPath file)
            use doc = JsonDocument.Parse(File.ReadAllText file)
            let root = doc.RootElement

            let field (name: string) =
                match root.TryGetProperty name with
                | true, v -> v
                | _ -> failwith $"missing field '{name}'"

            let str (e: JsonElement) = e.GetString()
            let strings (e: JsonElement) = [ for x in e.EnumerateArray() -> x.GetString() ]
            let run = field "run"

            let runMethod =
                match run.GetProperty("kind").GetString() with
                | "qemu" -> Qemu(run.GetProperty("machine").GetString(), run.GetProperty("serial_index").GetInt32())
                | "openocd" -> OpenOcd(run.GetProperty("config").GetString(), run.GetProperty("port").GetString())
                | other -> failwith $"unknown run kind '{other}'"

            let defines =
                match root.TryGetProperty "defines" with
                | true, d -> [ for p in d.EnumerateObject() -> p.Name, p.Value.GetString() ]
                | _ -> []

            Ok {
                Name = str (field "name")
                Description = str (field "description")
                Dir = dir
                CFlags = strings (field "cflags")
                Defines = defines
                Dsp = (field "dsp").GetBoolean()
                Sources =
                    strings (field "sources")
                    |> List.map (fun s -> Path.GetFullPath(Path.Combine(dir, s)))
                LinkerScript = Path.GetFullPath(Path.Combine(dir, str (field "linker_script")))
                ClockHz =
                    match (field "clock_hz").GetInt64() with
                    | hz when hz > 0L -> hz
                    | hz -> failwith $"clock_hz {hz} must be positive"
                FlashBytes = (field "flash_bytes").GetInt64()
                RamBytes = (field "ram_bytes").GetInt64()
                Run = runMethod
                Work = str (field "work")
            }
        with e ->
            Error $"{file}: {e.Message}"

    /// Every board under hil/boards.
    let all () : Board list =
        Directory.GetDirectories(Path.Combine(hilRoot (), "boards"))
        |> Array.map (fun d -> Path.Combine(d, "board.json"))
        |> Array.filter File.Exists
        |> Array.sort
        |> Array.toList
        |> List.choose (fun f ->
            match parse f with
            | Ok b -> Some b
            | Error _ -> None)

    /// A board by name, or an error listing the known ones.
    let find (name: string) : Result<Board, string> =
        let file = Path.Combine(hilRoot (), "boards", name, "board.json")

        if File.Exists file then
            parse file
        else
            let known = all () |> List.map (fun b -> b.Name)
            let names = String.concat ", " known
            Error $"unknown board '{name}' (known: {names})"
