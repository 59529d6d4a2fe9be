namespace Tern.Core

open System.Collections.Generic
open Tern.Runtime

/// Pads waiting for the conv or pool they fold into: their padding summed, the nodes (the last one first), and the
/// shape before the first.
type internal OnnxPendingPad = {
    Padding: Padding
    Nodes: OnnxNode list
    Before: Shape3
}

/// The chain of Tern layers built while walking an ONNX graph in order, and what the walk knows: the constants, the
/// data tensors seen, the current end of the chain, a Pad waiting to fold, the last residual Add, the notes.
type internal OnnxChain(g: OnnxGraph, readers: OnnxReaders, output: string, input: OnnxValue) =
    let consts = Dictionary<string, OnnxConst>(g.Initializers)
    let tracked = Dictionary<string, OnnxTracked>()
    let layers = ResizeArray<Layer>()
    let notes = ResizeArray<string>()
    let usedShortcuts = HashSet<string>()
    let mutable current = g.InputName
    // The tensor the last layer wrote (an activation may merge into that layer, a constant Add into its bias).
    let mutable lastLayerOutput = ""
    // Set when a node adds or replaces a layer: the tensor it then writes is that layer's output.
    let mutable layerWritten = false
    let mutable pendingPad: OnnxPendingPad option = None
    let mutable lastAdd = -1
    let mutable softmax: OnnxNode option = None

    do
        tracked[g.InputName] <- {
            Value = input
            NonNegative = false
            Layer = 0
            Shortcut = true
        }

    /// Version of the default operator set (some operators moved attributes to inputs).
    member _.Opset = g.Opset
    /// The graph's output tensor.
    member _.Output = output
    member _.Readers = readers

    /// The end of the chain: the tensor the next node must read.
    member _.Current = current
    member _.Tracked(name: string) : OnnxTracked = tracked[name]
    member _.IsData(name: string) : bool = tracked.ContainsKey name
    member _.IsConst(name: string) : bool = consts.ContainsKey name
    member _.Const(name: string) : OnnxConst = consts[name]
    member _.SetConst (name: string) (c: OnnxConst) : unit = consts[name] <- c

    /// Input i of n as a constant, None if omitted; refuses a data tensor there.
    member _.ConstInput (n: OnnxNode) (i: int) (what: string) : OnnxConst option =
        if i < n.Inputs.Length && n.Inputs[i] <> "" then
            match consts.TryGetValue n.Inputs[i] with
            | true, c -> Some c
            | _ -> OnnxGraph.refuse n $"{what} ('{n.Inputs[i]}') must be a constant (an initializer or a Constant node)"
        else
            None

    /// Input i of n as a constant that must be given.
    member c.Required (n: OnnxNode) (i: int) (what: string) : OnnxConst =
        match c.ConstInput n i what with
        | Some v -> v
        | None -> OnnxGraph.refuse n $"{what} is required"

    /// Every extra output (a Dropout mask, MaxPool indices) must be unused.
    member _.ExtraOutputsUnused(n: OnnxNode) : unit =
        for o in n.Outputs |> Array.skip 1 do
            if o <> "" && (readers.Count o > 0 || o = output) then
                OnnxGraph.refuse
                    n
                    $"its output '{o}' is used (read by {readers.Text o}); Tern keeps only the first output"

    member _.LayerCount = layers.Count
    /// How notes name a layer: kind and index, e.g. "conv2d_0".
    member _.LayerName(i: int) : string = $"{Model.kindName layers[i]}_{i}"
    member _.Note(text: string) : unit = notes.Add text

    member _.Emit(layer: Layer) : unit =
        layers.Add layer
        layerWritten <- true

    /// The last layer with its index, if it wrote the current tensor and only the next node reads that: a fold
    /// into it then changes nothing else.
    member _.FoldableLast: (int * Layer) option =
        let last = layers.Count - 1

        if last >= 0 && lastLayerOutput = current && readers.Count current = 1 then
            Some(last, layers[last])
        else
            None

    member _.ReplaceLast(layer: Layer) : unit =
        layers[layers.Count - 1] <- layer
        layerWritten <- true

    /// n's first output becomes the end of the chain, holding `value`.
    member _.Advance (n: OnnxNode) (value: OnnxValue) (nonNegative: bool) : unit =
        let out = n.Outputs[0]

        tracked[out] <- {
            Value = value
            NonNegative = nonNegative
            Layer = layers.Count
            Shortcut = pendingPad.IsNone
        }

        current <- out

        if layerWritten then
            lastLayerOutput <- out
            layerWritten <- false

    /// n adds no layer: its first output is the current tensor under another name.
    member _.PassThrough(n: OnnxNode) : unit =
        let out = n.Outputs[0]
        tracked[out] <- tracked[current]

        // Another reader of the tensor (a residual shortcut) needs the last layer as it is: no fold into it later.
        if lastLayerOutput = current && readers.Count current = 1 then
            lastLayerOutput <- out

        current <- out

    member _.PendingPad = pendingPad
    member _.Pend(pad: OnnxPendingPad) : unit = pendingPad <- Some pad

    /// Takes the Pads waiting for the node that reads s: their padding, the shape before them (s if none) and their
    /// nodes in graph order.
    member _.TakePad(s: Shape3) : Padding * Shape3 * OnnxNode list =
        match pendingPad with
        | Some p ->
            pendingPad <- None
            p.Padding, p.Before, List.rev p.Nodes
        | None -> Padding.none, s, []

    /// Index of the last ResidualAdd layer (-1: none yet).
    member _.LastAdd = lastAdd
    member _.IsUsedShortcut(name: string) : bool = usedShortcuts.Contains name

    /// Emits a ResidualAdd of `span` layers whose shortcut is the tensor `shortcut`.
    member c.EmitResidual (span: int) (shortcut: string) : unit =
        c.Emit(ResidualAdd span)
        lastAdd <- layers.Count - 1
        usedShortcuts.Add shortcut |> ignore

    /// The final Softmax, once dropped: nothing may follow it.
    member _.Softmax = softmax
    member _.DropSoftmax(n: OnnxNode) : unit = softmax <- Some n

    member _.Layers: Layer list = Seq.toList layers
    member _.Notes: string list = Seq.toList notes
