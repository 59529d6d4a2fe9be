namespace Tern.Rig

open System
open System.IO
open System.Security.Cryptography
open System.Threading

/// The firmware cache's entries: folders published whole (built under a temporary name beside them, then renamed) while
/// holding the entry's lock file, each ELF's SHA-256 recorded beside it and checked on every reuse.
[<RequireQualifiedAccess>]
module FirmwareCache =
    /// The ELF of an entry, and the record of its SHA-256 (lowercase hex).
    let elfName = "firmware.elf"
    let recordName = "firmware.elf.sha256"

    /// How long a builder waits for another one building the same entry (gcc's own deadline is 5 minutes).
    let private lockWait = TimeSpan.FromMinutes 10.0

    let private lockPath (entry: string) = entry + ".lock"

    /// The entry's lock (an exclusively opened file; the OS releases it when its holder dies), if free now.
    let private tryLock (entry: string) : IDisposable option =
        try
            Some(
                new FileStream(lockPath entry, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
                :> IDisposable
            )
        with :? IOException as e when not (e :? DirectoryNotFoundException) ->
            None

    let private lockEntry (entry: string) : IDisposable =
        let deadline = DateTime.UtcNow + lockWait

        let rec wait () =
            match tryLock entry with
            | Some l -> l
            | None when DateTime.UtcNow < deadline ->
                Thread.Sleep 100
                wait ()
            | None ->
                failwith
                    $"firmware cache entry {entry} is still locked by another build after {lockWait.TotalMinutes} minutes ({lockPath entry})"

        wait ()

    let private sha256File (file: string) =
        use s = File.OpenRead file
        Convert.ToHexString(SHA256.HashData s).ToLowerInvariant()

    /// Why an entry cannot be reused: None when its ELF matches its record.
    let private damage (entry: string) : string option =
        let elf = Path.Combine(entry, elfName)
        let record = Path.Combine(entry, recordName)

        if not (File.Exists elf) then
            Some "its ELF is missing"
        elif not (File.Exists record) then
            Some "it has no SHA-256 record"
        elif (File.ReadAllText record).Trim() <> sha256File elf then
            Some "its ELF does not match its recorded SHA-256 (truncated or altered)"
        else
            None

    let private tryDelete (dir: string) =
        try
            Directory.Delete(dir, true)
        with :? DirectoryNotFoundException ->
            ()

    /// The temporary folders beside the entries ("KEY.tmp-PID"), with the entry each belongs to.
    let private temporaries (parent: string) =
        Directory.GetDirectories(parent, "*.tmp-*")
        |> Array.map (fun t ->
            let name = Path.GetFileName t
            t, Path.Combine(parent, name.Substring(0, name.IndexOf ".tmp-")))

    /// Removes the temporary folders of builders that are gone: a builder holds its entry's lock for as long as its
    /// temporary folder exists, so a temporary folder whose entry's lock is free (or held by us) is stale.
    let private cleanStale (entry: string) =
        for tmp, owner in temporaries (Path.GetDirectoryName entry) do
            if owner = entry then
                tryDelete tmp
            else
                match tryLock owner with
                | Some l ->
                    use _ = l
                    tryDelete tmp
                | None -> ()

    /// The ELF of the entry folder `entry`, built by `build` (given an empty folder to fill with ELF_NAME and whatever
    /// else belongs to the entry) unless an intact entry is already published; true when it was taken from the cache.
    /// A damaged entry is rebuilt and `warn` told why.
    let getOrBuild (entry: string) (warn: string -> unit) (build: string -> unit) : string * bool =
        let entry = Path.GetFullPath entry
        Directory.CreateDirectory(Path.GetDirectoryName entry) |> ignore
        use _ = lockEntry entry
        cleanStale entry
        let elf = Path.Combine(entry, elfName)

        let reuse =
            Directory.Exists entry
            && (match damage entry with
                | None -> true
                | Some why ->
                    warn $"firmware cache entry {entry} is not reused: {why}; rebuilding it"
                    false)

        if not reuse then
            let work = entry + ".tmp-" + string Environment.ProcessId
            tryDelete work
            Directory.CreateDirectory work |> ignore

            try
                build work
                let built = Path.Combine(work, elfName)

                if not (File.Exists built) then
                    failwith $"the firmware build left no {elfName} in {work}"

                File.WriteAllText(Path.Combine(work, recordName), sha256File built + "\n")
                // a damaged entry goes first: a folder is renamed over an empty one only; we hold the lock
                tryDelete entry
                Directory.Move(work, entry)
            with _ ->
                tryDelete work
                reraise ()

        elf, reuse
