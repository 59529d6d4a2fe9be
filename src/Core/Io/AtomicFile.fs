/// Writing a file so that no reader ever sees it half-written: the bytes go to a temporary name in the target's
/// folder (a rename within one file system is atomic), then are renamed over the target. The temporary is removed
/// on every failure path (disk full, the target a folder, no permission), so nothing is left behind.
module Tern.Core.AtomicFile

open System
open System.IO

/// The temporary name beside a target: hidden, unique per write (concurrent writers never share one).
let temporaryFor (full: string) : string =
    Path.Combine(Path.GetDirectoryName full, $".{Path.GetFileName full}.{Guid.NewGuid():N}.tmp")

/// Writes through write (given the temporary path), then renames it over path; removes the temporary on failure.
let writeWith (path: string) (write: string -> unit) : unit =
    let full = Path.GetFullPath path
    let tmp = temporaryFor full

    try
        write tmp
        File.Move(tmp, full, true)
    finally
        try
            if File.Exists tmp then
                File.Delete tmp
        with _ ->
            ()

let writeBytes (path: string) (bytes: byte[]) : unit =
    writeWith path (fun tmp -> File.WriteAllBytes(tmp, bytes))

/// Text as UTF-8 without a byte-order mark.
let writeText (path: string) (text: string) : unit =
    writeWith path (fun tmp -> File.WriteAllText(tmp, text, Text.UTF8Encoding(false)))
