namespace Tern.Rig

open Plotly.NET
open Giraffe.ViewEngine
open Newtonsoft.Json

/// What a chart draws; the browser test counts its marks in the rendered SVG.
type FigureKind =
    /// One bar per value of every series.
    | Bars
    /// One cell per matrix entry, each labelled with its count.
    | Heatmap
    /// One marker per point of every series.
    | Curves

/// One chart of the HTML report.
type ReportFigure = {
    /// Lower-case letters, digits and dashes; the page's container is "chart-" + Id.
    Id: string
    Title: string
    /// A sentence under the chart: what it shows and where the numbers come from.
    Caption: string
    Kind: FigureKind
    /// Bars, cells or markers drawn (what the browser test expects to count).
    Marks: int
    Chart: GenericChart
}

/// A series of a curve chart: points (x, y), an optional label per point, and how it is drawn.
type Curve = {
    Name: string
    Points: (float * float) list
    Labels: string list option
    /// Lines between the markers (false: markers only, e.g. search evaluations in the order made).
    Lines: bool
    /// A dashed line (a reference such as the baseline or the target).
    Dashed: bool
}

/// Charts of the HTML report, built with Plotly.NET and rendered by its bundled plotly.js.
[<RequireQualifiedAccess>]
module ReportCharts =
    let private width, height = 920, 440

    let private styled (title: string) (xTitle: string) (yTitle: string) (chart: GenericChart) : GenericChart =
        chart
        |> Chart.withTitle title
        |> Chart.withSize (width, height)
        |> Chart.withXAxisStyle (TitleText = xTitle)
        |> Chart.withYAxisStyle (TitleText = yTitle)
        // No modebar link to plotly's site: the page links nowhere.
        |> Chart.withConfigStyle (Displaylogo = false)

    /// A curve through (x, y) points.
    let curve (name: string) (points: (float * float) list) : Curve = {
        Name = name
        Points = points
        Labels = None
        Lines = true
        Dashed = false
    }

    /// Bars over the categories, one trace per series (grouped side by side), each bar labelled with its value.
    let bars
        (id: string)
        (title: string)
        (caption: string)
        (xTitle: string)
        (yTitle: string)
        (categories: string list)
        (series: (string * float list) list)
        : ReportFigure =
        let traces =
            series
            |> List.map (fun (name, values) ->
                let n = min values.Length categories.Length

                Chart.Column(
                    values = List.truncate n values,
                    Keys = List.truncate n categories,
                    Name = name,
                    ShowLegend = (series.Length > 1),
                    MultiText = (values |> List.truncate n |> List.map ReportJson.formatNumber),
                    TextPosition = StyleParam.TextPosition.Auto
                ))

        {
            Id = id
            Title = title
            Caption = caption
            Kind = Bars
            Marks = series |> List.sumBy (fun (_, v) -> min v.Length categories.Length)
            Chart = Chart.combine traces |> styled title xTitle yTitle
        }

    /// A heat map of counts: rows top to bottom, columns left to right, each cell labelled with its count.
    let heatmap
        (id: string)
        (title: string)
        (caption: string)
        (xTitle: string)
        (yTitle: string)
        (columns: string list)
        (rows: string list)
        (z: float list list)
        : ReportFigure =
        let chart =
            Chart.Heatmap(
                zData = z,
                colNames = columns,
                rowNames = rows,
                ColorScale = StyleParam.Colorscale.Custom [ 0.0, Color.fromHex "#f7fbff"; 1.0, Color.fromHex "#08306b" ],
                ReverseYAxis = true
            )
            |> GenericChart.mapTrace (Trace2DStyle.Heatmap(TextTemplate = "%{z}"))
            |> styled title xTitle yTitle

        {
            Id = id
            Title = title
            Caption = caption
            Kind = Heatmap
            Marks = z |> List.sumBy List.length
            Chart = chart
        }

    /// Curves: one trace per series, markers joined by lines unless the series says markers only.
    let curves
        (id: string)
        (title: string)
        (caption: string)
        (xTitle: string)
        (yTitle: string)
        (logX: bool)
        (series: Curve list)
        : ReportFigure =
        let trace (c: Curve) =
            let xs, ys = List.unzip c.Points

            let mode =
                match c.Lines, c.Labels with
                | true, Some _ -> StyleParam.Mode.Lines_Markers_Text
                | true, None -> StyleParam.Mode.Lines_Markers
                | false, Some _ -> StyleParam.Mode.Markers_Text
                | false, None -> StyleParam.Mode.Markers

            // A reference line (baseline, target) is grey, whatever the palette gives the data series.
            let grey = if c.Dashed then Some(Color.fromHex "#6b7280") else None

            Chart.Scatter(
                x = xs,
                y = ys,
                mode = mode,
                Name = c.Name,
                MultiText = defaultArg c.Labels [],
                TextPosition = StyleParam.TextPosition.TopCenter,
                LineDash =
                    (if c.Dashed then
                         StyleParam.DrawingStyle.Dash
                     else
                         StyleParam.DrawingStyle.Solid),
                ?LineColor = grey,
                ?MarkerColor = grey
            )

        let chart =
            Chart.combine (series |> List.map trace)
            |> styled title xTitle yTitle
            |> fun c ->
                if logX then
                    c |> Chart.withXAxisStyle (AxisType = StyleParam.AxisType.Log)
                else
                    c

        {
            Id = id
            Title = title
            Caption = caption
            Kind = Curves
            Marks = series |> List.sumBy (fun c -> c.Points.Length)
            Chart = chart
        }

    // Plotly.NET's own settings write "</script>" in a string as is, which would end the chart's script element
    // early; escaping <, >, & and quotes keeps every name from the JSON inside the script.
    let private settings =
        let s = JsonSerializerSettings(Globals.JSON_CONFIG)
        s.StringEscapeHandling <- StringEscapeHandling.EscapeHtml
        s

    let private serialize (x: obj) : string =
        JsonConvert.SerializeObject(x, settings)

    /// The figure's traces as the page's script carries them (plotly.js's "data" array).
    let dataJson (f: ReportFigure) : string =
        serialize (GenericChart.getTraces f.Chart)

    /// The figure as page content: a container "chart-ID" and the script that draws into it (plotly.js itself is
    /// inlined once in the page's head).
    let node (f: ReportFigure) : XmlNode =
        let container = $"chart-{f.Id}"

        figure [ _id $"figure-{f.Id}"; _class "chart" ] [
            div [ _id container ] []
            HTML.CreateChartScript(
                dataJson f,
                serialize (GenericChart.getLayout f.Chart),
                serialize (GenericChart.getConfig f.Chart),
                PlotlyJSReference.NoReference,
                container
            )
            figcaption [] [ str f.Caption ]
        ]
