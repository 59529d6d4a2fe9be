namespace Tern.Core

open System
open System.Buffers.Binary

/// The values of a constant ONNX tensor: floating point (float, double) as float32, integers (int64, int32, bool)
/// as int64.
[<RequireQualifiedAccess>]
type OnnxData =
    | Floats of float32[]
    | Ints of int64[]

/// A constant tensor of an ONNX graph: an initializer, a Constant node's value or folded shape arithmetic.
type OnnxConst = { Dims: int64[]; Data: OnnxData }

/// One dimension of the graph input: a fixed size, a symbolic name (dynamic) or nothing (unknown).
[<RequireQualifiedAccess>]
type OnnxDim =
    | Fixed of int64
    | Symbolic of string
    | Unknown

/// One node of an ONNX graph; Index is its position in the graph (topological order), used when it has no name.
type OnnxNode = {
    Index: int
    Name: string
    OpType: string
    Domain: string
    /// Input tensor names; "" marks an omitted optional input.
    Inputs: string[]
    Outputs: string[]
    Attributes: Map<string, Onnx.AttributeProto>
}

/// The parts of an ONNX model the importer reads.
type OnnxGraph = {
    /// Version of the default operator set (domain "" or "ai.onnx").
    Opset: int64
    ProducerName: string
    ProducerVersion: string
    /// The one real input (graph inputs that are initializers do not count): name, element type, dimensions.
    InputName: string
    InputElemType: int
    InputDims: OnnxDim list
    /// Graph outputs with the node that produces each (None if an input or initializer is an output).
    Outputs: (string * OnnxNode option) list
    Initializers: Map<string, OnnxConst>
    Nodes: OnnxNode list
}

/// Raised for a model the importer refuses; the message names the node, its op type and why.
exception OnnxRefused of string

/// Reading an ONNX protobuf (OnnxSharp's generated classes) into OnnxGraph, and typed access to node attributes.
[<RequireQualifiedAccess>]
module OnnxGraph =

    /// How messages name a node: its name, or its position when it has none.
    let label (n: OnnxNode) : string =
        if String.IsNullOrEmpty n.Name then
            $"#{n.Index}"
        else
            $"'{n.Name}'"

    /// Refuses the model naming the node, its op type and the reason.
    let refuse (n: OnnxNode) (why: string) : 'a =
        raise (OnnxRefused $"node {label n} ({n.OpType}): {why}")

    /// Dimensions or other integers as text: "1,3,16,16".
    let dimsText (v: int64[]) : string = String.Join(",", v)

    /// Number of elements of a tensor with these dimensions.
    let count (dims: int64[]) : int64 = dims |> Array.fold (*) 1L

    let private dataType (t: Onnx.TensorProto) =
        enum<Onnx.TensorProto.Types.DataType> t.DataType

    /// Decodes a tensor's values (raw little-endian bytes or the typed fields); throws OnnxRefused naming `what` for
    /// external data, an unsupported element type or a value count that disagrees with the dimensions.
    let decodeTensor (what: string) (t: Onnx.TensorProto) : OnnxConst =
        let fail msg = raise (OnnxRefused $"{what}: {msg}")
        let dims = Seq.toArray t.Dims

        if dims |> Array.exists (fun d -> d < 0L) then
            fail "negative dimension"

        if t.DataLocation = Onnx.TensorProto.Types.DataLocation.External then
            fail "weights in an external data file are not supported (save the model with its weights inside)"

        let n = count dims

        if n > int64 Int32.MaxValue / 8L then
            fail $"{n} elements is too many"

        let n = int n
        let raw = t.RawData.ToByteArray()

        // read takes the offset of an element in raw.
        let fromRaw size (read: int -> 'v) : 'v[] =
            if raw.Length <> n * size then
                fail $"{raw.Length} raw bytes for {n} elements of {size} bytes"

            Array.init n (fun i -> read (i * size))

        let check (a: 'v[]) =
            if a.Length <> n then
                fail $"{a.Length} values for dimensions [{dimsText dims}]"

            a

        // The values from raw_data when the tensor has any (size bytes an element), else from its typed field.
        let values size (read: int -> 'v) (typed: unit -> 'v[]) : 'v[] =
            if raw.Length > 0 then
                fromRaw size read
            else
                check (typed ())

        let data =
            match dataType t with
            | Onnx.TensorProto.Types.DataType.Float ->
                OnnxData.Floats(
                    values 4 (fun o -> BinaryPrimitives.ReadSingleLittleEndian(ReadOnlySpan(raw, o, 4))) (fun () ->
                        Seq.toArray t.FloatData)
                )
            | Onnx.TensorProto.Types.DataType.Double ->
                OnnxData.Floats(
                    values 8 (fun o -> BinaryPrimitives.ReadDoubleLittleEndian(ReadOnlySpan(raw, o, 8))) (fun () ->
                        Seq.toArray t.DoubleData)
                    |> Array.map float32
                )
            | Onnx.TensorProto.Types.DataType.Int64 ->
                OnnxData.Ints(
                    values 8 (fun o -> BinaryPrimitives.ReadInt64LittleEndian(ReadOnlySpan(raw, o, 8))) (fun () ->
                        Seq.toArray t.Int64Data)
                )
            | Onnx.TensorProto.Types.DataType.Int32 ->
                OnnxData.Ints(
                    values
                        4
                        (fun o -> int64 (BinaryPrimitives.ReadInt32LittleEndian(ReadOnlySpan(raw, o, 4))))
                        (fun () -> t.Int32Data |> Seq.map int64 |> Seq.toArray)
                )
            | Onnx.TensorProto.Types.DataType.Bool ->
                OnnxData.Ints(
                    values 1 (fun o -> if raw[o] = 0uy then 0L else 1L) (fun () ->
                        t.Int32Data |> Seq.map (fun v -> if v = 0 then 0L else 1L) |> Seq.toArray)
                )
            | other -> fail $"element type {other} is not supported (float, double, int32, int64 or bool)"

        { Dims = dims; Data = data }

    // ---- attributes ----

    let private attr (n: OnnxNode) (name: string) (kind: Onnx.AttributeProto.Types.AttributeType) =
        match n.Attributes.TryFind name with
        | None -> None
        | Some a when a.Type = kind -> Some a
        | Some a -> refuse n $"attribute {name} is {a.Type}, expected {kind}"

    /// An integer attribute, or the default.
    let attrInt (n: OnnxNode) (name: string) (dflt: int64) : int64 =
        match attr n name Onnx.AttributeProto.Types.AttributeType.Int with
        | Some a -> a.I
        | None -> dflt

    /// A float attribute, or the default.
    let attrFloat (n: OnnxNode) (name: string) (dflt: float32) : float32 =
        match attr n name Onnx.AttributeProto.Types.AttributeType.Float with
        | Some a -> a.F
        | None -> dflt

    /// An optional float attribute.
    let attrFloatOpt (n: OnnxNode) (name: string) : float32 option =
        attr n name Onnx.AttributeProto.Types.AttributeType.Float
        |> Option.map (fun a -> a.F)

    /// An integer-list attribute, if present.
    let attrInts (n: OnnxNode) (name: string) : int64[] option =
        attr n name Onnx.AttributeProto.Types.AttributeType.Ints
        |> Option.map (fun a -> Seq.toArray a.Ints)

    /// A string attribute (UTF-8), or the default.
    let attrString (n: OnnxNode) (name: string) (dflt: string) : string =
        match attr n name Onnx.AttributeProto.Types.AttributeType.String with
        | Some a -> a.S.ToStringUtf8()
        | None -> dflt

    /// A tensor attribute, decoded.
    let attrTensor (n: OnnxNode) (name: string) : OnnxConst option =
        attr n name Onnx.AttributeProto.Types.AttributeType.Tensor
        |> Option.map (fun a -> decodeTensor $"node {label n} ({n.OpType}): attribute {name}" a.T)

    /// Refuses any attribute outside `known` (an attribute Tern does not understand could change the result).
    let onlyAttributes (n: OnnxNode) (known: string list) : unit =
        for KeyValue(name, _) in n.Attributes do
            if not (List.contains name known) then
                refuse n $"attribute '{name}' is not supported"

    // ---- the model ----

    let private dimOf (d: Onnx.TensorShapeProto.Types.Dimension) : OnnxDim =
        match d.ValueCase with
        | Onnx.TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue -> OnnxDim.Fixed d.DimValue
        | Onnx.TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam -> OnnxDim.Symbolic d.DimParam
        | _ -> OnnxDim.Unknown

    let private fromProto (m: Onnx.ModelProto) : OnnxGraph =
        let fail msg = raise (OnnxRefused msg)
        let g = m.Graph

        if isNull g || (g.Node.Count = 0 && g.Input.Count = 0) then
            fail "no graph: not an ONNX model"

        let opset =
            m.OpsetImport
            |> Seq.tryFind (fun o -> o.Domain = "" || o.Domain = "ai.onnx")
            |> Option.map (fun o -> o.Version)

        let opset =
            match opset with
            | Some v -> v
            | None -> fail "the model imports no version of the default operator set (ai.onnx)"

        let initializers =
            g.Initializer
            |> Seq.map (fun t -> t.Name, decodeTensor $"initializer '{t.Name}'" t)
            |> Map.ofSeq

        if g.SparseInitializer.Count > 0 then
            fail "sparse initializers are not supported"

        let nodes =
            g.Node
            |> Seq.mapi (fun i n -> {
                Index = i
                Name = n.Name
                OpType = n.OpType
                Domain = n.Domain
                Inputs = Seq.toArray n.Input
                Outputs = Seq.toArray n.Output
                Attributes = n.Attribute |> Seq.map (fun a -> a.Name, a) |> Map.ofSeq
            })
            |> Seq.toList

        // Older exporters also list initializers among the inputs; only the others are fed at run time.
        let inputs =
            g.Input
            |> Seq.filter (fun i -> not (initializers.ContainsKey i.Name))
            |> Seq.toList

        let producer name =
            nodes |> List.tryFind (fun n -> Array.contains name n.Outputs)

        let consumers name =
            nodes
            |> List.filter (fun n -> Array.contains name n.Inputs)
            |> List.map (fun n -> $"{label n} ({n.OpType})")

        let input =
            match inputs with
            | [ i ] -> i
            | [] -> fail "the graph has no input"
            | many ->
                let names = many |> List.map (fun i -> $"'{i.Name}'") |> String.concat ", "
                fail $"the graph has {many.Length} inputs ({names}); Tern models take one"

        let t = input.Type

        if isNull t || t.ValueCase <> Onnx.TypeProto.ValueOneofCase.TensorType then
            fail $"input '{input.Name}' is not a tensor"

        let dims =
            if isNull t.TensorType.Shape then
                []
            else
                t.TensorType.Shape.Dim |> Seq.map dimOf |> Seq.toList

        if dims.IsEmpty then
            let by = String.Join(", ", consumers input.Name)
            fail $"input '{input.Name}' (read by {by}) has no shape; Tern needs a fixed C, H and W"

        {
            Opset = opset
            ProducerName = m.ProducerName
            ProducerVersion = m.ProducerVersion
            InputName = input.Name
            InputElemType = t.TensorType.ElemType
            InputDims = dims
            Outputs = g.Output |> Seq.map (fun o -> o.Name, producer o.Name) |> Seq.toList
            Initializers = initializers
            Nodes = nodes
        }

    /// Parses the bytes of an .onnx file; Error for bytes that are not an ONNX model or a model this reader refuses.
    let parse (bytes: byte[]) : Result<OnnxGraph, string> =
        let proto =
            try
                Ok(Onnx.ModelProto.Parser.ParseFrom bytes)
            with e ->
                Error $"not an ONNX model (protobuf: {e.Message})"

        proto
        |> Result.bind (fun m ->
            try
                Ok(fromProto m)
            with OnnxRefused msg ->
                Error msg)
