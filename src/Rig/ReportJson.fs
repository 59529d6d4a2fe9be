namespace Tern.Rig

open System
open System.Globalization
open System.Text.Json
open System.Text.Json.Nodes

/// Reading a verb's JSON object for the HTML report: every lookup tolerates a missing or mistyped key (the report
/// draws what is there), and numbers are read whatever .NET type built them.
[<RequireQualifiedAccess>]
module ReportJson =
    /// The same object re-read from its text, so that every value is backed by a JsonElement (a node built with
    /// JsonValue.Create<int> refuses GetValue<float>).
    let normalize (json: JsonNode) : JsonNode =
        match json with
        | null -> JsonObject() :> JsonNode
        | j -> JsonNode.Parse(j.ToJsonString())

    /// The value at key of an object node, if the node is an object and the key is present and not null.
    let field (key: string) (node: JsonNode) : JsonNode option =
        match node with
        | :? JsonObject as o ->
            let mutable v: JsonNode = null

            if o.TryGetPropertyValue(key, &v) && not (isNull v) then
                Some v
            else
                None
        | _ -> None

    /// A number (a JSON number; None for anything else).
    let number (node: JsonNode) : float option =
        match node with
        | :? JsonValue as v when v.GetValueKind() = JsonValueKind.Number ->
            match v.TryGetValue<float>() with
            | true, x -> Some x
            | _ -> Some(Double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture))
        | _ -> None

    /// A string (a JSON string; None for anything else).
    let text (node: JsonNode) : string option =
        match node with
        | :? JsonValue as v when v.GetValueKind() = JsonValueKind.String -> Some(v.GetValue<string>())
        | _ -> None

    /// The items of a JSON array (empty for anything else; null items dropped).
    let items (node: JsonNode) : JsonNode list =
        match node with
        | :? JsonArray as a -> a |> Seq.filter (isNull >> not) |> Seq.toList
        | _ -> []

    let numberAt (key: string) (node: JsonNode) : float option = field key node |> Option.bind number
    let textAt (key: string) (node: JsonNode) : string option = field key node |> Option.bind text

    let itemsAt (key: string) (node: JsonNode) : JsonNode list =
        field key node |> Option.map items |> Option.defaultValue []

    /// A number as people read it: integers with thousands separators, fractions to 4 significant decimals.
    let formatNumber (x: float) : string =
        if Double.IsNaN x || Double.IsInfinity x then
            string x
        elif x = Math.Round x && abs x < 1e15 then
            (int64 x).ToString("N0", CultureInfo.InvariantCulture)
        elif abs x >= 1000.0 then
            x.ToString("N1", CultureInfo.InvariantCulture)
        else
            x.ToString("0.####", CultureInfo.InvariantCulture)

    /// A scalar's text (number, string, bool); None for objects, arrays and null.
    let scalar (node: JsonNode) : string option =
        match node with
        | :? JsonValue as v ->
            match v.GetValueKind() with
            | JsonValueKind.Number -> number v |> Option.map formatNumber
            | JsonValueKind.String -> text v
            | JsonValueKind.True -> Some "true"
            | JsonValueKind.False -> Some "false"
            | _ -> None
        | _ -> None

    /// Arrays of scalars at most this long are shown inline in the headline table; longer ones by their length.
    let inlineArray = 24

    /// The headline rows of an object: each scalar as (key, text); an object of scalars flattened one level
    /// ("instructions_per_inference.median"); an array of scalars joined with commas, or counted when long. Arrays
    /// of objects (tables such as layers or rows) and deeper objects are left to the sections that draw them.
    let headline (json: JsonNode) : (string * string) list =
        let arrayText (a: JsonArray) =
            let values = a |> Seq.map scalar |> Seq.toList

            if values |> List.forall Option.isSome then
                if values.Length <= inlineArray then
                    Some(values |> List.choose id |> String.concat ", ")
                else
                    Some $"{values.Length} values"
            else
                None

        match json with
        | :? JsonObject as o -> [
            for kv in o do
                let k, v = kv.Key, kv.Value

                match v with
                | null -> ()
                | :? JsonValue -> yield! scalar v |> Option.map (fun s -> k, s) |> Option.toList
                | :? JsonArray as a -> yield! arrayText a |> Option.map (fun s -> k, s) |> Option.toList
                | :? JsonObject as inner ->
                    for kv2 in inner do
                        let k2, v2 = kv2.Key, kv2.Value

                        match v2 with
                        | :? JsonValue -> yield! scalar v2 |> Option.map (fun s -> $"{k}.{k2}", s) |> Option.toList
                        | :? JsonArray as a ->
                            yield! arrayText a |> Option.map (fun s -> $"{k}.{k2}", s) |> Option.toList
                        | _ -> ()
                | _ -> ()
          ]
        | _ -> []
