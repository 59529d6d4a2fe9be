namespace Tern.Rig

open System
open System.Diagnostics
open System.IO

/// The result of a finished external command.
type ProcResult = {
    ExitCode: int
    Stdout: string
    Stderr: string
    TimedOut: bool
}

/// Running external tools (compilers, size, QEMU) with deadlines.
[<RequireQualifiedAccess>]
module Proc =
    /// Full path of a program on PATH, if any.
    let which (program: string) : string option =
        (Environment.GetEnvironmentVariable "PATH"
         |> Option.ofObj
         |> Option.defaultValue "")
            .Split(Path.PathSeparator)
        |> Array.map (fun dir -> Path.Combine(dir, program))
        |> Array.tryFind File.Exists

    /// Runs a program to completion (killed at the deadline), capturing its output.
    let run (program: string) (args: string list) (workDir: string option) (timeout: TimeSpan) : ProcResult =
        let psi = ProcessStartInfo(program)

        for a in args do
            psi.ArgumentList.Add a

        psi.RedirectStandardOutput <- true
        psi.RedirectStandardError <- true
        psi.UseShellExecute <- false
        workDir |> Option.iter (fun d -> psi.WorkingDirectory <- d)
        use p = Process.Start psi
        let out = p.StandardOutput.ReadToEndAsync()
        let err = p.StandardError.ReadToEndAsync()
        let finished = p.WaitForExit(int timeout.TotalMilliseconds)

        if not finished then
            try
                p.Kill true
            with _ ->
                ()

            p.WaitForExit()

        {
            ExitCode = (if finished then p.ExitCode else -1)
            Stdout = out.Result
            Stderr = err.Result
            TimedOut = not finished
        }

    /// The command line as a person would type it (for messages and provenance).
    let show (program: string) (args: string list) : string =
        let quote (a: string) =
            if a = "" || a |> Seq.exists (fun c -> Char.IsWhiteSpace c || c = '"') then
                "\"" + a.Replace("\"", "\\\"") + "\""
            else
                a

        String.Join(" ", program :: args |> List.map quote)
