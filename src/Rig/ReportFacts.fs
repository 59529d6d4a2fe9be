namespace Tern.Rig

open System.Text.Json
open System.Text.Json.Nodes

/// Per-inference work of a report: its unit ("instructions" under QEMU -icount, "cycles" on silicon) and median.
type InferenceWork = { Unit: string; Median: float }

/// One layer's measured work from a report's `layers` (hil --profile).
type LayerWork = {
    Index: int
    Name: string
    Kind: string
    Work: float
}

/// The numbers every verb's JSON report shares (the issue's key contract), read from the object alone, so that a
/// report read back from the history means what it meant when it was written.
[<RequireQualifiedAccess>]
module ReportFacts =
    /// The node's value when the node is there and of this kind.
    let private valueOf (kind: JsonValueKind) (read: JsonNode -> 'a) (n: JsonNode) : 'a option =
        if not (isNull n) && n.GetValueKind() = kind then
            Some(read n)
        else
            None

    let private numberOf (n: JsonNode) : float option =
        valueOf JsonValueKind.Number JsonSerializer.Deserialize<float> n

    let private textOf (n: JsonNode) : string option =
        valueOf JsonValueKind.String (fun n -> n.GetValue<string>()) n

    /// The value of a key of an object (null when absent or when the node is not an object).
    let child (key: string) (node: JsonNode) : JsonNode =
        match node with
        | :? JsonObject as o ->
            let mutable v: JsonNode = null
            if o.TryGetPropertyValue(key, &v) then v else null
        | _ -> null

    /// A top-level number (None when absent, null or not a number).
    let number (key: string) (report: JsonNode) : float option = numberOf (child key report)

    /// A top-level string.
    let text (key: string) (report: JsonNode) : string option = textOf (child key report)

    /// Whether the top-level key is present (null included).
    let has (key: string) (report: JsonNode) : bool =
        match report with
        | :? JsonObject as o -> o.ContainsKey key
        | _ -> false

    /// A top-level value as compact JSON text ("" when absent), for equality of nested settings such as `codec`.
    let raw (key: string) (report: JsonNode) : string =
        match child key report with
        | null -> ""
        | v -> v.ToJsonString()

    /// The median work per inference: `work_unit` names the unit, `{unit}_per_inference` holds min, median, max.
    let work (report: JsonNode) : InferenceWork option =
        text "work_unit" report
        |> Option.bind (fun unit ->
            child $"{unit}_per_inference" report
            |> child "median"
            |> numberOf
            |> Option.map (fun m -> { Unit = unit; Median = m }))

    /// Per-layer work (`layers`, each with `instructions` or `cycles` in the report's work unit); None without
    /// layers or when a layer lacks its work.
    let layers (report: JsonNode) : (string * LayerWork list) option =
        match child "layers" report, text "work_unit" report with
        | :? JsonArray as items, Some unit when items.Count > 0 ->
            let read (i: int) (l: JsonNode) =
                numberOf (child unit l)
                |> Option.map (fun w -> {
                    Index = numberOf (child "index" l) |> Option.map int |> Option.defaultValue i
                    Name = textOf (child "name" l) |> Option.defaultValue ""
                    Kind = textOf (child "kind" l) |> Option.defaultValue ""
                    Work = w
                })

            let rows = items |> Seq.mapi read |> Seq.toList

            if rows |> List.forall Option.isSome then
                Some(unit, List.choose id rows)
            else
                None
        | _ -> None

    /// Every top-level number, in the object's order.
    let numbers (report: JsonNode) : (string * float) list =
        match report with
        | :? JsonObject as o -> [
            for KeyValue(k, v) in o do
                match numberOf v with
                | Some x -> yield k, x
                | None -> ()
          ]
        | _ -> []
