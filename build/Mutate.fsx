/// `dotnet fsi build.fsx mutate [WORDS...]`: plants each classic bug of tests/mutations.json, one at a time, in a
/// clean copy of the committed HEAD (a temporary folder, removed at the end) and runs the tests; a bug the tests do not catch
/// survives, and any survivor fails the target. WORDS keep only the mutations whose name contains one of them.
/// Each mutation first runs the test lists it names (`first`: where it should be caught, so a kill is quick), then,
/// if they all pass, the whole suite: a mutation survives only if every test passes.
module Mutate

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open System.Xml.Linq

type Mutation = {
    Name: string
    File: string
    Find: string
    Replace: string
    First: string list
}

type Outcome =
    | Killed of by: string
    | Survived
    | Invalid of why: string

let private load (path: string) : Mutation list =
    use doc = JsonDocument.Parse(File.ReadAllText path)

    [
        for m in doc.RootElement.GetProperty("mutations").EnumerateArray() ->
            {
                Name = m.GetProperty("name").GetString()
                File = m.GetProperty("file").GetString()
                Find = m.GetProperty("find").GetString()
                Replace = m.GetProperty("replace").GetString()
                First = [ for l in m.GetProperty("first").EnumerateArray() -> l.GetString() ]
            }
    ]

let private occurrences (text: string) (part: string) =
    let rec count (from: int) n =
        match text.IndexOf(part, from, StringComparison.Ordinal) with
        | -1 -> n
        | i -> count (i + part.Length) (n + 1)

    count 0 0

/// Runs a program in `dir`, its output appended to `log`; the exit code, or None when it ran past `timeout`
/// (then it is killed with its children).
let private exec (dir: string) (log: string) (timeout: TimeSpan) (program: string) (args: string list) : int option =
    let psi = ProcessStartInfo(program, args, WorkingDirectory = dir)
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.Environment["CI"] <- "true"
    use p = new Process(StartInfo = psi)
    use out = new StreamWriter(log, true)
    let sync = obj ()

    let write (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock sync (fun () -> out.WriteLine e.Data)

    p.OutputDataReceived.Add write
    p.ErrorDataReceived.Add write
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()

    if p.WaitForExit(int timeout.TotalMilliseconds) then
        p.WaitForExit()
        Some p.ExitCode
    else
        p.Kill true
        p.WaitForExit()
        None

/// The names of the failed test cases in an Expecto JUnit summary.
let private failedTests (junit: string) : string list =
    if File.Exists junit then
        XDocument.Load(junit).Descendants()
        |> Seq.filter (fun e -> e.Name.LocalName = "testcase")
        |> Seq.filter (fun e ->
            e.Elements()
            |> Seq.exists (fun k -> k.Name.LocalName = "failure" || k.Name.LocalName = "error"))
        |> Seq.map (fun e -> e.Attribute(XName.Get "name").Value)
        |> Seq.toList
    else
        []

let run (root: string) (words: string list) : unit =
    let all = load (Path.Combine(root, "tests", "mutations.json"))

    let chosen =
        if words.IsEmpty then
            all
        else
            all |> List.filter (fun m -> words |> List.exists (fun w -> m.Name.Contains w))

    if chosen.IsEmpty then
        failwithf "no mutation's name contains any of: %s" (String.Join(", ", words))

    // The list must match the code as it is: a snippet that moved is an error, not a silent skip.
    for m in chosen do
        let n = occurrences (File.ReadAllText(Path.Combine(root, m.File))) m.Find

        if n <> 1 then
            failwithf "mutation '%s': its text occurs %d times in %s (exactly once expected)" m.Name n m.File

    let work = Path.Combine(root, "artifacts", "mutate")
    // The copy lives outside the tree: a second Tern.Bench project below the root would stop BenchmarkDotNet's
    // out-of-process jobs (it refuses a project name found twice).
    let repo = Path.Combine(Path.GetTempPath(), $"tern-mutate-{Guid.NewGuid():N}")
    let log = Path.Combine(work, "mutate.log")

    if Directory.Exists repo then
        Directory.Delete(repo, true)

    Directory.CreateDirectory work |> ignore
    File.WriteAllText(log, "")
    let hour = TimeSpan.FromHours 1.0

    let must (dir: string) (program: string) (args: string list) =
        match exec dir log hour program args with
        | Some 0 -> ()
        | _ -> failwithf "'%s %s' failed (see %s)" program (String.concat " " args) log

    let dirty = Process.Start(ProcessStartInfo("git", [ "status"; "--porcelain" ], WorkingDirectory = root, RedirectStandardOutput = true))
    let changes = dirty.StandardOutput.ReadToEnd()
    dirty.WaitForExit()

    if changes.Trim() <> "" then
        eprintfn "warning: uncommitted changes are not mutated or tested: the copy is the committed HEAD"

    printfn "copying the committed HEAD to %s and building it" repo
    must root "git" [ "clone"; "--quiet"; "--no-hardlinks"; root; repo ]
    must repo "dotnet" [ "tool"; "restore" ]
    must repo "dotnet" [ "paket"; "restore" ]
    let build () = exec repo log hour "dotnet" [ "build"; "tests/Tern.Tests"; "-c"; "Release"; "-v"; "q"; "--nologo" ]

    if build () <> Some 0 then
        failwithf "the unmutated copy does not build (see %s)" log

    let program =
        Path.Combine(repo, "tests", "Tern.Tests", "bin", "Release", "net10.0", "Tern.Tests.dll")

    let junit = Path.Combine(work, "junit.xml")

    /// Runs the tests (one list, or all); the names of the failed ones, "timeout", or none when all pass.
    let tests (list: string option) : string list =
        if File.Exists junit then
            File.Delete junit

        let filter =
            match list with
            | Some l -> [ "--filter-test-list"; l ]
            | None -> []

        match exec repo log hour "dotnet" ([ program; "--no-spinner"; "--colours"; "0"; "--junit-summary"; junit ] @ filter) with
        | None -> [ "timeout after an hour" ]
        | Some 0 -> []
        | Some code ->
            match failedTests junit with
            | [] -> [ $"the test program exited {code}" ]
            | names -> names

    // The lists a kill is expected from must pass on their own first, or every kill would be hollow.
    for l in chosen |> List.collect (fun m -> m.First) |> List.distinct do
        match tests (Some l) with
        | [] -> ()
        | failed -> failwithf "without any mutation, test list %s fails: %s" l (String.Join("; ", failed))

    // Every mutation is built: the device sources (hil/) travel in the build output too.
    let outcomes =
        [
            for m in chosen ->
                let path = Path.Combine(repo, m.File)
                let original = File.ReadAllText path
                printfn "mutation: %s (%s)" m.Name m.File
                File.WriteAllText(path, original.Replace(m.Find, m.Replace))
                let outcome =
                    try
                        if build () <> Some 0 then
                            Invalid "does not compile"
                        else
                            let firstKill =
                                m.First
                                |> List.tryPick (fun l ->
                                    match tests (Some l) with
                                    | [] -> None
                                    | failed -> Some(l, failed))

                            match firstKill with
                            | Some(_, failed) -> Killed(List.head failed)
                            | None ->
                                match tests None with
                                | [] -> Survived
                                | failed -> Killed(List.head failed)
                    finally
                        File.WriteAllText(path, original)

                match outcome with
                | Killed by -> printfn "  killed by %s" by
                | Survived -> printfn "  SURVIVED: no test failed"
                | Invalid why -> printfn "  INVALID: %s" why

                m, outcome
        ]

    let report =
        outcomes
        |> List.map (fun (m, o) ->
            dict [
                "name", box m.Name
                "file", box m.File
                "outcome",
                box (
                    match o with
                    | Killed _ -> "killed"
                    | Survived -> "survived"
                    | Invalid _ -> "invalid"
                )
                "detail",
                box (
                    match o with
                    | Killed by -> by
                    | Survived -> ""
                    | Invalid why -> why
                )
            ])

    File.WriteAllText(Path.Combine(work, "report.json"), JsonSerializer.Serialize(report, JsonSerializerOptions(WriteIndented = true)))
    Directory.Delete(repo, true)
    let killed = outcomes |> List.filter (fun (_, o) -> o.IsKilled) |> List.length
    printfn "%d of %d mutations killed; report in %s" killed outcomes.Length (Path.Combine(work, "report.json"))

    let bad = outcomes |> List.filter (fun (_, o) -> not o.IsKilled)

    if not bad.IsEmpty then
        failwithf "%d mutation(s) not killed: %s" bad.Length (String.Join("; ", bad |> List.map (fun (m, _) -> m.Name)))
