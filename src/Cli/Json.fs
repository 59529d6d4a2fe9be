/// Small helpers to build the one JSON object each verb prints with --json.
module Tern.Cli.Json

open System.Text.Json
open System.Text.Json.Nodes
open Tern.Runtime

/// A JSON object from key/value pairs (values already nodes).
let obj (pairs: (string * JsonNode) list) : JsonNode =
    let o = JsonObject()

    for k, v in pairs do
        o[k] <- v

    o :> JsonNode

/// A JSON array of nodes.
let arr (items: JsonNode seq) : JsonNode =
    JsonArray(Seq.toArray items) :> JsonNode

let str (s: string) : JsonNode = JsonValue.Create s
let int (i: int) : JsonNode = JsonValue.Create i
let int64 (i: int64) : JsonNode = JsonValue.Create i
let num (f: float) : JsonNode = JsonValue.Create f
let bool (b: bool) : JsonNode = JsonValue.Create b

/// A shape as [H, W, C].
let shape (s: Shape3) : JsonNode = arr [ int s.H; int s.W; int s.C ]

/// Indented JSON text.
let render (node: JsonNode) : string =
    node.ToJsonString(JsonSerializerOptions(WriteIndented = true))
