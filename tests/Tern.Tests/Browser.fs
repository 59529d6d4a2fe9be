/// Headless Chromium (Debian's package) as the tests' real browser: load a local page, dump the DOM after its scripts
/// ran, and collect what the page logged to its console.
module Tern.Tests.Browser

open System
open System.IO
open AngleSharp.Dom
open AngleSharp.Html.Parser
open Tern.Rig

/// A loaded page: the DOM as the browser left it, and every console message (errors, warnings and logs alike, as
/// Chromium's log prints them: CONSOLE lines).
type Loaded = { Dom: IDocument; Console: string list }

/// Chromium's path; the test is ignored (failed under CI), naming the Debian package, when it is not installed
/// (build.fsx's test target installs it when root).
let require () : string =
    ToolRequirement.find "chromium" "chromium"

/// Loads a local HTML file headless with a fresh profile, every host name unresolvable (nothing can be fetched, and
/// the browser's own background requests go nowhere), and returns the DOM after the page's scripts ran.
let load (file: string) : Loaded =
    let chromium = require ()
    let profile = Directory.CreateTempSubdirectory "tern-chromium-"

    try
        let r =
            Proc.run
                chromium
                [
                    "--headless"
                    "--no-sandbox"
                    "--disable-gpu"
                    "--disable-quic"
                    "--no-first-run"
                    "--disable-background-networking"
                    "--disable-component-update"
                    "--disable-sync"
                    "--disable-extensions"
                    "--host-resolver-rules=MAP * ~NOTFOUND"
                    $"--user-data-dir={profile.FullName}"
                    "--enable-logging=stderr"
                    "--v=0"
                    "--dump-dom"
                    Uri(Path.GetFullPath file).AbsoluteUri
                ]
                None
                (TimeSpan.FromSeconds 90.0)

        if r.TimedOut || r.ExitCode <> 0 then
            failwith $"chromium exited {r.ExitCode} (timed out: {r.TimedOut}): {r.Stderr}"

        let console =
            r.Stderr.Split('\n')
            |> Array.filter (fun l -> l.Contains ":CONSOLE")
            |> Array.toList

        {
            Dom = HtmlParser().ParseDocument r.Stdout
            Console = console
        }
    finally
        try
            profile.Delete true
        with _ ->
            ()
