namespace Tern.Rig

open System
open System.Text.Json.Nodes

/// One number in two reports. A value missing on one side has no change.
type MetricChange = {
    Metric: string
    A: float option
    B: float option
} with

    /// B - A.
    member m.Change: float option =
        match m.A, m.B with
        | Some a, Some b -> Some(b - a)
        | _ -> None

    /// (B - A) / |A| in percent; None when A is missing or zero.
    member m.ChangePct: float option =
        match m.A, m.B with
        | Some a, Some b when a <> 0.0 -> Some((b - a) / abs a * 100.0)
        | _ -> None

/// One layer's work in two reports.
type LayerChange = {
    Index: int
    Name: string
    Kind: string
    Work: MetricChange
}

/// Two reports compared: what differs in their setting (notes), their headline and other numbers, and per-layer work
/// when both have comparable `layers`.
type ReportComparison = {
    Notes: string list
    Metrics: MetricChange list
    /// The unit of the per-layer work ("instructions" or "cycles") and the layers; empty without comparable layers.
    LayerUnit: string option
    Layers: LayerChange list
}

[<RequireQualifiedAccess>]
module ReportDiff =
    /// The headline keys, in the order they are shown, after the work per inference.
    let headline = [
        "accuracy"
        "macro_f1"
        "mismatches"
        "flash_bytes"
        "ram_bytes"
        "arena_bytes"
    ]

    let private short (s: string) =
        if s.Length > 12 then s.Substring(0, 12) else s

    /// Compares report B against report A (B's values minus A's).
    let compare (a: JsonNode) (b: JsonNode) : ReportComparison =
        let notes = ResizeArray<string>()

        let differs (key: string) (what: string) (show: string -> string) =
            match ReportFacts.text key a, ReportFacts.text key b with
            | Some x, Some y when x <> y -> notes.Add $"{what} differ: {show x} vs {show y}"
            | _ -> ()

        differs "model_hash" "models" short
        differs "board" "boards" id
        differs "kernels" "kernels" id

        if ReportFacts.raw "split" a <> ReportFacts.raw "split" b then
            notes.Add "split settings differ"

        let workMetrics =
            match ReportFacts.work a, ReportFacts.work b with
            | Some wa, Some wb when wa.Unit <> wb.Unit ->
                notes.Add $"work units differ ({wa.Unit} vs {wb.Unit}): per-inference work not compared"
                []
            | Some wa, wb -> [
                {
                    Metric = $"{wa.Unit}_per_inference"
                    A = Some wa.Median
                    B = wb |> Option.map (fun w -> w.Median)
                }
              ]
            | None, Some wb -> [
                {
                    Metric = $"{wb.Unit}_per_inference"
                    A = None
                    B = Some wb.Median
                }
              ]
            | None, None -> []

        let headlines = [
            for key in headline do
                let x, y = ReportFacts.number key a, ReportFacts.number key b

                if x.IsSome || y.IsSome then
                    yield { Metric = key; A = x; B = y }
        ]

        let shown = Set.ofList headline

        let others =
            let inA = ReportFacts.numbers a |> Map.ofList

            [
                for key, y in ReportFacts.numbers b do
                    match inA.TryFind key with
                    | Some x when not (shown.Contains key) -> yield { Metric = key; A = Some x; B = Some y }
                    | _ -> ()
            ]

        let layerUnit, layers =
            match ReportFacts.layers a, ReportFacts.layers b with
            | Some(ua, la), Some(ub, lb) ->
                let sameLayers =
                    la.Length = lb.Length
                    && List.forall2 (fun (x: LayerWork) (y: LayerWork) -> x.Kind = y.Kind) la lb

                if ua <> ub then
                    notes.Add $"per-layer units differ ({ua} vs {ub}): layers not compared"
                    None, []
                elif not sameLayers then
                    notes.Add
                        $"the layers differ ({la.Length} vs {lb.Length} layers, or other kinds): layers not compared"

                    None, []
                else
                    Some ua,
                    List.map2
                        (fun (x: LayerWork) (y: LayerWork) -> {
                            Index = y.Index
                            Name = y.Name
                            Kind = y.Kind
                            Work = {
                                Metric = y.Name
                                A = Some x.Work
                                B = Some y.Work
                            }
                        })
                        la
                        lb
            | Some _, None ->
                notes.Add "only the first run has per-layer costs (hil --profile)"
                None, []
            | None, Some _ ->
                notes.Add "only the second run has per-layer costs (hil --profile)"
                None, []
            | None, None -> None, []

        {
            Notes = List.ofSeq notes
            Metrics = workMetrics @ headlines @ others
            LayerUnit = layerUnit
            Layers = layers
        }

    let private value (x: float option) : JsonNode =
        match x with
        | Some v when Double.IsFinite v -> JsonValue.Create v
        | _ -> null

    let private rounded (x: float option) : JsonNode =
        value (x |> Option.map (fun v -> Math.Round(v, 4)))

    /// A metric as JSON: {metric, a, b, change, change_pct}.
    let metricJson (m: MetricChange) : JsonNode =
        let o = JsonObject()
        o["metric"] <- JsonValue.Create m.Metric
        o["a"] <- value m.A
        o["b"] <- value m.B
        o["change"] <- value m.Change
        o["change_pct"] <- rounded m.ChangePct
        o

    /// The comparison as JSON: notes, changes (metrics) and layers ({unit, rows} or null).
    let toJson (c: ReportComparison) : JsonObject =
        let o = JsonObject()
        o["notes"] <- JsonArray(c.Notes |> List.map (fun n -> JsonValue.Create n :> JsonNode) |> List.toArray)
        o["changes"] <- JsonArray(c.Metrics |> List.map metricJson |> List.toArray)

        o["layers"] <-
            match c.LayerUnit with
            | None -> null
            | Some unit ->
                let l = JsonObject()
                l["unit"] <- JsonValue.Create unit

                l["rows"] <-
                    JsonArray(
                        c.Layers
                        |> List.map (fun r ->
                            let row = (metricJson r.Work).AsObject()
                            row.Remove "metric" |> ignore
                            row.Insert(0, "index", JsonValue.Create r.Index)
                            row.Insert(1, "name", JsonValue.Create r.Name)
                            row.Insert(2, "kind", JsonValue.Create r.Kind)
                            row :> JsonNode)
                        |> List.toArray
                    )

                l

        o
