namespace Tern.Rig

open System
open System.Globalization
open System.IO
open System.Text.Json.Nodes
open Giraffe.ViewEngine
open Plotly.NET

/// Who made a report and when (the provenance the JSON itself does not carry).
type ReportStamp = {
    Version: string
    Time: DateTimeOffset
    /// The command line as typed ("tern hil --model ..."), or "" when not known.
    Command: string
}

/// The HTML report of `--html FILE`: one self-contained page (plotly.js, styles and data inline, nothing fetched)
/// drawn from the verb's JSON object, whatever keys it carries: headline numbers, provenance, per-layer cost,
/// the confusion matrix, per-class metrics and each study's curves.
[<RequireQualifiedAccess>]
module HtmlReport =
    /// The verbs that write a report, as the renderer names them.
    let verbs = [
        "hil"
        "run"
        "study ternary"
        "study gamma"
        "study codec"
        "study prune"
        "study search"
    ]

    /// This tool's version, time now and the command line of this process.
    let stamp () : ReportStamp =
        let args = Environment.GetCommandLineArgs()

        {
            Version = typeof<ReportStamp>.Assembly.GetName().Version.ToString(3)
            Time = DateTimeOffset.UtcNow
            Command =
                if args.Length > 1 then
                    Proc.show "tern" (List.ofArray args[1..])
                else
                    ""
        }

    /// Every chart the page draws for this verb and JSON, in page order.
    let figures (verb: string) (json: JsonNode) : ReportFigure list =
        let json = ReportJson.normalize json

        ReportSections.layerFigures json
        @ ReportSections.confusionFigures json
        @ ReportSections.predictionFigures json
        @ ReportStudies.figures verb json

    /// Provenance rows: the model, board and data the JSON names, the data's source and licence line, and the stamp.
    let provenance (stamp: ReportStamp) (json: JsonNode) : (string * string) list =
        let json = ReportJson.normalize json

        let get key =
            ReportJson.field key json |> Option.bind ReportJson.scalar

        let first (keys: string list) = keys |> List.tryPick get

        [
            "model", first [ "model_hash"; "hash" ]
            "model file", first [ "file"; "model" ]
            "float parent",
            ReportJson.field "float_vs_integer" json
            |> Option.bind (ReportJson.field "float_model")
            |> Option.bind ReportJson.scalar
            "board", first [ "board" ]
            "firmware", first [ "firmware_hash" ]
            "data", first [ "data"; "input" ]
            "data source and licence",
            Some(first [ "source" ] |> Option.defaultValue "not recorded in this report's JSON")
            "tern", Some stamp.Version
            "time",
            Some(stamp.Time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture))
            "command", (if stamp.Command = "" then None else Some stamp.Command)
        ]
        |> List.choose (fun (k, v) -> v |> Option.map (fun v -> k, v))

    // plotly.js as Plotly.NET inlines it (PlotlyJSReference.Full): the script element of the head it writes.
    let private plotlyScript: Lazy<XmlNode> =
        lazy
            (let rec find (node: XmlNode) =
                match node with
                | ParentNode((tag, _), children) ->
                    if tag = "script" then
                        Some node
                    else
                        children |> List.tryPick find
                | _ -> None

             match find (HTML.Doc([], "", "", "utf-8", rawText "", PlotlyJSReference.Full, [], [])) with
             | Some s -> s
             | None -> failwith "Plotly.NET wrote no inline plotly.js")

    // Nothing may be fetched: inline scripts and styles, data: images (plotly draws heat maps as images).
    let private contentPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:"

    let private style =
        """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 980px; color: #1f2937; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d1d5db; }
.sub { color: #6b7280; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9rem; } th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #e5e7eb; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } th { background: #f3f4f6; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; font-size: 0.9rem; } dt { color: #6b7280; } dd { margin: 0; overflow-wrap: anywhere; }
figure.chart { margin: 1rem 0; } figcaption { color: #4b5563; font-size: 0.85rem; }
"""

    /// The figure ids made unique and safe (letters, digits, dashes).
    let private uniqueIds (figs: ReportFigure list) : ReportFigure list =
        let safe (s: string) =
            String(
                s.ToLowerInvariant()
                |> Seq.map (fun c -> if Char.IsAsciiLetterOrDigit c then c else '-')
                |> Seq.toArray
            )

        figs
        |> List.mapFold
            (fun (seen: Set<string>) f ->
                let baseId = safe f.Id
                let mutable id = baseId
                let mutable k = 2

                while seen.Contains id do
                    id <- $"{baseId}-{k}"
                    k <- k + 1

                { f with Id = id }, seen.Add id)
            Set.empty
        |> fst

    /// The page as a document node.
    let page (stamp: ReportStamp) (verb: string) (json: JsonNode) : XmlNode =
        let json = ReportJson.normalize json
        let figs = figures verb json |> uniqueIds
        let title = $"Tern {verb} report"

        let headline =
            ReportJson.headline json
            |> List.map (fun (k, v) -> [
                k, false
                v,
                (Double.TryParse(v.Replace(",", ""), NumberStyles.Float, CultureInfo.InvariantCulture)
                 |> fst)
            ])

        let tableSection (id: string) (heading: string) (node: XmlNode option) =
            match node with
            | Some t -> [ section [ _id id ] [ h2 [] [ str heading ]; t ] ]
            | None -> []

        html [ _lang "en" ] [
            head [] [
                meta [ _charset "utf-8" ]
                meta [ _httpEquiv "Content-Security-Policy"; _content contentPolicy ]
                meta [ _name "viewport"; _content "width=device-width, initial-scale=1" ]
                Giraffe.ViewEngine.HtmlElements.title [] [ str title ]
                Giraffe.ViewEngine.HtmlElements.style [] [ rawText style ]
                plotlyScript.Force()
            ]
            body
                []
                ([
                    header [] [
                        h1 [] [ str title ]
                        p [ _class "sub" ] [
                            str (
                                $"tern {stamp.Version}, "
                                + stamp.Time
                                    .ToUniversalTime()
                                    .ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)
                            )
                        ]
                    ]
                    section [ _id "provenance" ] [
                        h2 [] [ str "provenance" ]
                        dl [] [
                            for k, v in provenance stamp json do
                                dt [] [ str k ]
                                dd [] [ str v ]
                        ]
                    ]
                    section [ _id "headline" ] [
                        h2 [] [ str "headline numbers" ]
                        ReportSections.table "headline" [ "key"; "value" ] headline
                    ]
                    section
                        [ _id "charts" ]
                        (h2 [] [ str "charts" ]
                         :: (if figs.IsEmpty then
                                 [
                                     p [] [
                                         str
                                             "This report's JSON carries no per-layer cost, confusion matrix or study table to draw."
                                     ]
                                 ]
                             else
                                 figs |> List.map ReportCharts.node))
                 ]
                 @ tableSection "layers" "per-layer cost" (ReportSections.layerTable json)
                 @ tableSection "per-class" "per-class metrics" (ReportSections.perClassTable json))
        ]

    /// The page's HTML text.
    let renderWith (stamp: ReportStamp) (verb: string) (json: JsonNode) : string =
        RenderView.AsString.htmlDocument (page stamp verb json)

    /// The page's HTML text, stamped now.
    let render (verb: string) (json: JsonNode) : string = renderWith (stamp ()) verb json

    /// Whether FILE can take the report: not a folder, and its folder not a file. Checked before the work starts,
    /// so a long study does not end on a path it cannot write.
    /// Writes the report atomically (a temporary name in the same folder, then renamed).
    let write (path: string) (verb: string) (json: JsonNode) : unit =
        Report.writeAtomic path (render verb json)
