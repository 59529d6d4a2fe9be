namespace Tern.Rig

open System.Text.Json.Nodes
open Giraffe.ViewEngine

/// The parts of the HTML report that any verb's JSON may carry, drawn when their keys are present: per-layer cost
/// (`layers`, `profile`), the confusion matrix (`confusion`), per-class metrics (`per_class`) and the predicted
/// classes of `run` (`predictions`).
[<RequireQualifiedAccess>]
module ReportSections =
    /// A plain HTML table: header cells, then rows of cells (numbers right-aligned by the page's style).
    let table (cssClass: string) (header: string list) (rows: (string * bool) list list) : XmlNode =
        Giraffe.ViewEngine.HtmlElements.table [ _class cssClass ] [
            thead [] [ tr [] [ for h in header -> th [] [ str h ] ] ]
            tbody [] [
                for r in rows ->
                    tr [] [
                        for text, numeric in r ->
                            if numeric then
                                td [ _class "num" ] [ str text ]
                            else
                                td [] [ str text ]
                    ]
            ]
        ]

    /// The layer's label on a chart axis: index and name, unique even when two layers share a name.
    let layerLabel (i: int) (layer: JsonNode) : string =
        let index =
            ReportJson.numberAt "index" layer |> Option.map int |> Option.defaultValue i

        match ReportJson.textAt "name" layer with
        | Some name -> $"{index} {name}"
        | None -> string index

    /// "instructions" or "cycles": the unit the layers count in (profile.unit, else the first key present).
    let workUnit (json: JsonNode) : string =
        match ReportJson.field "profile" json |> Option.bind (ReportJson.textAt "unit") with
        | Some u -> u
        | None ->
            let layers = ReportJson.itemsAt "layers" json

            if layers |> List.exists (ReportJson.field "cycles" >> Option.isSome) then
                "cycles"
            else
                "instructions"

    let private shapeText (layer: JsonNode) : string =
        match ReportJson.itemsAt "output_shape" layer |> List.map ReportJson.number with
        | dims when not dims.IsEmpty && List.forall Option.isSome dims ->
            dims |> List.map (Option.get >> int >> string) |> String.concat "x"
        | _ -> ""

    /// Per-layer cost: bars of instructions (or cycles) and of flash bytes per layer, when the layers carry them.
    let layerFigures (json: JsonNode) : ReportFigure list =
        let layers = ReportJson.itemsAt "layers" json
        let unit = workUnit json
        let labels = layers |> List.mapi layerLabel

        let column (key: string) =
            let values = layers |> List.map (ReportJson.numberAt key)

            if not values.IsEmpty && List.forall Option.isSome values then
                Some(List.choose id values)
            else
                None

        [
            match column unit with
            | Some work ->
                // A layer without MACs (flatten, a view) has no ratio: name the layers that have one.
                let perMac =
                    List.zip labels layers
                    |> List.choose (fun (label, l) ->
                        ReportJson.numberAt $"{unit}_per_mac" l
                        |> Option.map (fun r -> $"{label} {ReportJson.formatNumber r}"))
                    |> function
                        | [] -> "not reported"
                        | rs -> String.concat ", " rs

                ReportCharts.bars
                    "layer-work"
                    $"{unit} per layer"
                    $"Measured on the board for one inference, layer by layer ({unit} per MAC: {perMac})."
                    "layer"
                    unit
                    labels
                    [ unit, work ]
            | None -> ()

            match column "flash_bytes" with
            | Some flash ->
                ReportCharts.bars
                    "layer-flash"
                    "flash bytes per layer"
                    "Weights plus code of each layer, read from the firmware ELF's symbols."
                    "layer"
                    "bytes"
                    labels
                    [ "flash", flash ]
            | None -> ()
        ]

    /// The per-layer table: every column the layers carry, in the contract's order.
    let layerTable (json: JsonNode) : XmlNode option =
        let layers = ReportJson.itemsAt "layers" json
        let unit = workUnit json

        let columns = [
            "kind", "kind"
            "macs", "MACs"
            unit, unit
            $"{unit}_per_mac", $"{unit}/MAC"
            "flash_bytes", "flash bytes"
            "arena_bytes", "arena bytes"
            "ms", "ms"
        ]

        let present =
            columns
            |> List.filter (fun (key, _) -> layers |> List.exists (ReportJson.field key >> Option.isSome))

        if layers.IsEmpty then
            None
        else
            let cell (layer: JsonNode) (key: string) =
                match ReportJson.field key layer with
                | Some v ->
                    match ReportJson.number v with
                    | Some _ -> (ReportJson.scalar v |> Option.defaultValue ""), true
                    | None -> (ReportJson.scalar v |> Option.defaultValue ""), false
                | None -> "", false

            Some(
                table "layers" ([ "#"; "layer"; "output" ] @ (present |> List.map snd)) [
                    for i, layer in List.indexed layers ->
                        [
                            string (ReportJson.numberAt "index" layer |> Option.map int |> Option.defaultValue i), true
                            (ReportJson.textAt "name" layer |> Option.defaultValue ""), false
                            shapeText layer, false
                        ]
                        @ (present |> List.map (fst >> cell layer))
                ]
            )

    /// Where confusion matrices are: the object itself and its objects one level down (a study's final model),
    /// each with the path that names it ("" for the top level).
    let private withConfusion (json: JsonNode) : (string * JsonNode) list =
        let here =
            match ReportJson.field "confusion" json with
            | Some c -> [ "", c ]
            | None -> []

        let nested =
            match json with
            | :? JsonObject as o -> [
                for kv in o do
                    let k, v = kv.Key, kv.Value

                    match v with
                    | :? JsonObject when k <> "confusion" ->
                        match ReportJson.field "confusion" v with
                        | Some c -> k, c
                        | None -> ()
                    | _ -> ()
              ]
            | _ -> []

        here @ nested

    /// The confusion matrix as a heat map (rows true, columns predicted), when it is square over its classes.
    let confusionFigures (json: JsonNode) : ReportFigure list =
        withConfusion json
        |> List.choose (fun (path, c) ->
            let classes = ReportJson.itemsAt "classes" c |> List.map ReportJson.scalar

            let matrix =
                ReportJson.itemsAt "matrix" c
                |> List.map (ReportJson.items >> List.map ReportJson.number)

            let n = classes.Length

            if
                n > 0
                && List.forall Option.isSome classes
                && matrix.Length = n
                && matrix |> List.forall (fun r -> r.Length = n && List.forall Option.isSome r)
            then
                let names = List.choose id classes
                let z = matrix |> List.map (List.choose id)
                let total = z |> List.sumBy List.sum
                let right = List.init n (fun i -> z[i][i]) |> List.sum
                let id = if path = "" then "confusion" else $"confusion-{path}"

                let title =
                    if path = "" then
                        "confusion matrix"
                    else
                        $"confusion matrix ({path})"

                Some(
                    ReportCharts.heatmap
                        id
                        title
                        $"Rows: true class, columns: predicted class; {ReportJson.formatNumber right} of {ReportJson.formatNumber total} samples on the diagonal."
                        "predicted"
                        "true"
                        names
                        names
                        z
                )
            else
                None)

    /// Predicted classes of `run` as bars (class -> count), when present.
    let predictionFigures (json: JsonNode) : ReportFigure list =
        match ReportJson.field "predictions" json with
        | Some(:? JsonObject as o) when o.Count > 0 ->
            let pairs = [
                for kv in o do
                    let k, v = kv.Key, kv.Value

                    match ReportJson.number v with
                    | Some x -> k, x
                    | None -> ()
            ]

            if pairs.IsEmpty then
                []
            else
                [
                    ReportCharts.bars
                        "predictions"
                        "predicted classes"
                        "How many samples the model assigned to each class."
                        "class"
                        "samples"
                        (List.map fst pairs)
                        [ "samples", List.map snd pairs ]
                ]
        | _ -> []

    /// Per-class precision, recall, F1 and support as a table, when present.
    let perClassTable (json: JsonNode) : XmlNode option =
        match ReportJson.itemsAt "per_class" json with
        | [] -> None
        | rows ->
            let cell key r =
                match ReportJson.field key r with
                | Some v -> (ReportJson.scalar v |> Option.defaultValue ""), (ReportJson.number v).IsSome
                | None -> "", false

            Some(
                table "per-class" [ "class"; "precision"; "recall"; "F1"; "support" ] [
                    for r in rows ->
                        [
                            cell "class" r
                            cell "precision" r
                            cell "recall" r
                            cell "f1" r
                            cell "support" r
                        ]
                ]
            )
