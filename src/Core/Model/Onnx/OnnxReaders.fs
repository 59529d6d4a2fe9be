namespace Tern.Core

open System
open System.Collections.Generic

/// Which nodes of a graph read each tensor: messages name them, and a fold (a Pad into a conv, an activation or a
/// bias into the layer before it) needs its tensor read by one node only. Shape nodes read only the dimensions, so
/// they do not count.
type internal OnnxReaders(g: OnnxGraph) =
    let consumers = Dictionary<string, OnnxNode list>()

    do
        for n in g.Nodes |> List.filter (fun n -> n.OpType <> "Shape") do
            for i in n.Inputs |> Array.filter ((<>) "") |> Array.distinct do
                consumers[i] <- n :: (consumers.GetValueOrDefault(i, []))

    /// How many nodes read the tensor.
    member _.Count(name: string) : int =
        consumers.GetValueOrDefault(name, []).Length

    /// The readers in graph order for messages, "'a' (Conv), 'b' (Relu)", or "no node".
    member _.Text(name: string) : string =
        match consumers.GetValueOrDefault(name, []) with
        | [] -> "no node"
        | r ->
            let named = r |> List.rev |> List.map (fun n -> $"{OnnxGraph.label n} ({n.OpType})")
            String.Join(", ", named)
