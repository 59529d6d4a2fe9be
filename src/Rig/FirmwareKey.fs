namespace Tern.Rig

open System
open System.IO
open System.Security.Cryptography
open System.Text

/// A firmware's identity and cache key, and the files it was taken over.
type FirmwareKey = {
    /// SHA-256 (lowercase hex) over the files' names and contents, the source order and the flags.
    Key: string
    /// Every file the build reads, named relative to the hil folder (generated ones under "generated/"), sorted.
    Files: string list
}

/// The firmware key from the build's own dependency list (gcc -MM: every header each translation unit includes), so
/// no hand-kept list can miss a header. Deterministic and machine-independent: files are named by relative paths and
/// taken by content, never by absolute path or time.
[<RequireQualifiedAccess>]
module FirmwareKey =
    /// The prerequisites of make rules as gcc -MM writes them (targets dropped, continuations joined, escapes undone).
    let parseRules (rules: string) : string list =
        let text = rules.Replace("\\\r\n", " ").Replace("\\\n", " ")
        let words = ResizeArray<string>()
        let word = StringBuilder()

        let flush () =
            if word.Length > 0 then
                words.Add(word.ToString())
                word.Clear() |> ignore

        let mutable i = 0

        while i < text.Length do
            match text[i] with
            | '\\' when i + 1 < text.Length && (text[i + 1] = ' ' || text[i + 1] = '#') ->
                word.Append(text[i + 1]) |> ignore
                i <- i + 2
            | '$' when i + 1 < text.Length && text[i + 1] = '$' ->
                word.Append '$' |> ignore
                i <- i + 2
            | c when Char.IsWhiteSpace c ->
                flush ()
                i <- i + 1
            | c ->
                word.Append c |> ignore
                i <- i + 1

        flush ()
        words |> Seq.filter (fun w -> not (w.EndsWith ":")) |> Seq.toList

    let private sha256Hex (bytes: byte[]) =
        Convert.ToHexString(SHA256.HashData bytes).ToLowerInvariant()

    /// The key of a build: `compiler` run with `flags` and `includes` (-I folders) over the translation units `units`
    /// (generated ones in the folder `generated`) lists the headers; `extra` are further inputs (the linker script).
    let compute
        (compiler: string)
        (hil: string)
        (generated: string)
        (flags: string list)
        (includes: string list)
        (units: string list)
        (extra: string list)
        : FirmwareKey =
        let args =
            flags @ (includes |> List.collect (fun d -> [ "-I"; d ])) @ [ "-MM" ] @ units

        let r = Proc.run compiler args None (TimeSpan.FromMinutes 1.0)

        if r.ExitCode <> 0 then
            failwith $"listing the firmware's headers failed:\n{Proc.show compiler args}\n{r.Stderr}"

        let hilFull = Path.GetFullPath hil
        let generatedFull = Path.GetFullPath generated

        let name (file: string) =
            let full = Path.GetFullPath file

            let relative =
                if full.StartsWith(generatedFull + string Path.DirectorySeparatorChar) then
                    "generated/" + Path.GetRelativePath(generatedFull, full)
                else
                    Path.GetRelativePath(hilFull, full)

            relative.Replace('\\', '/')

        let files =
            units @ extra @ parseRules r.Stdout
            |> List.map (fun f -> name f, Path.GetFullPath f)
            |> List.distinctBy fst
            |> List.sortWith (fun (a, _) (b, _) -> String.CompareOrdinal(a, b))

        let sb = StringBuilder()
        sb.Append("units\n") |> ignore

        for u in units do
            sb.Append(name u).Append('\n') |> ignore

        sb.Append("files\n") |> ignore

        for n, full in files do
            sb.Append(n).Append(' ').Append(sha256Hex (File.ReadAllBytes full)).Append('\n')
            |> ignore

        sb.Append("flags\n").Append(String.Join(" ", flags)).Append('\n') |> ignore

        {
            Key = sha256Hex (Encoding.UTF8.GetBytes(sb.ToString()))
            Files = files |> List.map fst
        }
