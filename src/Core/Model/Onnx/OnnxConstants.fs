namespace Tern.Core

open System

/// Evaluates the nodes of an ONNX graph whose inputs are all constant: the shape arithmetic PyTorch's exporter writes
/// around Pad and Reshape (Shape, Gather, Unsqueeze, Concat, ConstantOfShape, Slice, Transpose, Cast, ...), Constant
/// and Identity. The importer folds them away before mapping the data path to Tern's layers.
[<RequireQualifiedAccess>]
module OnnxConstants =

    /// The op types this module evaluates (Shape needs the data tensor's shape: see shapeOf).
    let ops: Set<string> =
        set [
            "Constant"
            "Identity"
            "Cast"
            "Gather"
            "Unsqueeze"
            "Squeeze"
            "Concat"
            "ConstantOfShape"
            "Reshape"
            "Slice"
            "Transpose"
            "Add"
            "Sub"
            "Mul"
            "Div"
            "Shape"
        ]

    let private refuse = OnnxGraph.refuse

    /// The integers of a constant; refuses a float tensor.
    let ints (n: OnnxNode) (what: string) (c: OnnxConst) : int64[] =
        match c.Data with
        | OnnxData.Ints v -> v
        | OnnxData.Floats _ -> refuse n $"{what} must be integers"

    /// The values of a constant as floats.
    let floats (c: OnnxConst) : float32[] =
        match c.Data with
        | OnnxData.Floats v -> v
        | OnnxData.Ints v -> v |> Array.map float32

    /// The values of a constant as floats, which must be `length` (one per channel, say); refuses another count.
    let floatsOfLength (n: OnnxNode) (what: string) (length: int) (c: OnnxConst) : float32[] =
        let v = floats c

        if v.Length <> length then
            refuse n $"{what} has {v.Length} values, expected {length}"

        v

    let private scalarInts (v: int64[]) = { Dims = [||]; Data = OnnxData.Ints v }

    // Row-major strides of dims.
    let private strides (dims: int64[]) : int64[] =
        let s = Array.create dims.Length 1L

        for i in dims.Length - 2 .. -1 .. 0 do
            s[i] <- s[i + 1] * dims[i + 1]

        s

    // Picks elements by flat index: out[k] = data[index k].
    let private pick (c: OnnxConst) (dims: int64[]) (index: int64 -> int64) : OnnxConst =
        let n = int (OnnxGraph.count dims)

        let data =
            match c.Data with
            | OnnxData.Floats v -> OnnxData.Floats(Array.init n (fun k -> v[int (index (int64 k))]))
            | OnnxData.Ints v -> OnnxData.Ints(Array.init n (fun k -> v[int (index (int64 k))]))

        { Dims = dims; Data = data }

    // Flat index -> multi-index for dims.
    let private unravel (dims: int64[]) (k: int64) : int64[] =
        let s = strides dims
        Array.init dims.Length (fun i -> (k / s[i]) % dims[i])

    let private axisOf (n: OnnxNode) (rank: int) (axis: int64) : int =
        let a = if axis < 0L then axis + int64 rank else axis

        if a < 0L || a >= int64 rank then
            refuse n $"axis {axis} outside rank {rank}"

        int a

    let private gather (n: OnnxNode) (data: OnnxConst) (indices: OnnxConst) : OnnxConst =
        let rank = data.Dims.Length

        if rank = 0 then
            refuse n "cannot gather from a scalar"

        let axis = axisOf n rank (OnnxGraph.attrInt n "axis" 0L)
        let idx = ints n "indices" indices
        let size = data.Dims[axis]

        let idx =
            idx
            |> Array.map (fun i ->
                let j = if i < 0L then i + size else i

                if j < 0L || j >= size then
                    refuse n $"index {i} outside [0, {size})"

                j)

        let outDims =
            Array.concat [ data.Dims[.. axis - 1]; indices.Dims; data.Dims[axis + 1 ..] ]

        let inStrides = strides data.Dims

        pick data outDims (fun k ->
            let m = unravel outDims k
            let before = m[.. axis - 1]
            let within = m[axis .. axis + indices.Dims.Length - 1]
            let after = m[axis + indices.Dims.Length ..]

            let flatIdx =
                if within.Length = 0 then
                    0L
                else
                    Array.fold2 (fun acc v s -> acc + v * s) 0L within (strides indices.Dims)

            let src = Array.concat [ before; [| idx[int flatIdx] |]; after ]
            Array.fold2 (fun acc v s -> acc + v * s) 0L src inStrides)

    let private axesOf (n: OnnxNode) (opset: int64) (inputs: OnnxConst option[]) : int64[] option =
        if opset >= 13L then
            if inputs.Length > 1 then
                inputs[1] |> Option.map (ints n "axes")
            else
                None
        else
            OnnxGraph.attrInts n "axes"

    let private unsqueeze (n: OnnxNode) (opset: int64) (inputs: OnnxConst option[]) (data: OnnxConst) =
        let axes =
            match axesOf n opset inputs with
            | Some a -> a
            | None -> refuse n "axes are required"

        let rank = data.Dims.Length + axes.Length
        let axes = axes |> Array.map (axisOf n rank) |> Set.ofArray
        let dims = ResizeArray<int64>()
        let mutable src = 0

        for i in 0 .. rank - 1 do
            if axes.Contains i then
                dims.Add 1L
            else
                dims.Add data.Dims[src]
                src <- src + 1

        { data with Dims = dims.ToArray() }

    let private squeeze (n: OnnxNode) (opset: int64) (inputs: OnnxConst option[]) (data: OnnxConst) =
        let rank = data.Dims.Length

        let axes =
            match axesOf n opset inputs with
            | Some a -> a |> Array.map (axisOf n rank) |> Set.ofArray
            | None ->
                data.Dims
                |> Array.indexed
                |> Array.filter (fun (_, d) -> d = 1L)
                |> Array.map fst
                |> Set.ofArray

        for a in axes do
            if data.Dims[a] <> 1L then
                refuse n $"cannot squeeze axis {a} of size {data.Dims[a]}"

        {
            data with
                Dims =
                    data.Dims
                    |> Array.indexed
                    |> Array.filter (fun (i, _) -> not (axes.Contains i))
                    |> Array.map snd
        }

    let private concat (n: OnnxNode) (parts: OnnxConst[]) : OnnxConst =
        if parts.Length = 0 then
            refuse n "no inputs"

        let rank = parts[0].Dims.Length
        let axis = axisOf n rank (OnnxGraph.attrInt n "axis" 0L)

        for p in parts do
            if
                p.Dims.Length <> rank
                || Array.exists2 (fun a b -> a <> b) p.Dims[.. axis - 1] parts[0].Dims[.. axis - 1]
                || Array.exists2 (fun a b -> a <> b) p.Dims[axis + 1 ..] parts[0].Dims[axis + 1 ..]
            then
                refuse n "inputs of different shapes"

        let outer = int (OnnxGraph.count parts[0].Dims[.. axis - 1])
        let chunk (p: OnnxConst) = int (OnnxGraph.count p.Dims[axis..])
        let dims = Array.copy parts[0].Dims
        dims[axis] <- parts |> Array.sumBy (fun p -> p.Dims[axis])

        let join (get: OnnxConst -> 'v[]) = [|
            for o in 0 .. outer - 1 do
                for p in parts do
                    let c = chunk p
                    yield! (get p)[o * c .. o * c + c - 1]
        |]

        let allInts = parts |> Array.forall (fun p -> p.Data.IsInts)

        {
            Dims = dims
            Data =
                if allInts then
                    OnnxData.Ints(join (fun p -> ints n "inputs" p))
                else
                    OnnxData.Floats(join floats)
        }

    /// ONNX Reshape's target dimensions: 0 copies the input's dimension (unless allowZero), -1 takes what is left.
    let reshapeDims (n: OnnxNode) (input: int64[]) (shape: int64[]) (allowZero: bool) : int64[] =
        let dims =
            shape
            |> Array.mapi (fun i d ->
                if d = 0L && not allowZero then
                    if i >= input.Length then
                        refuse n $"shape {i} copies a dimension the input does not have"

                    input[i]
                else
                    d)

        let total = OnnxGraph.count input

        match dims |> Array.filter (fun d -> d = -1L) |> Array.length with
        | 0 ->
            if OnnxGraph.count dims <> total then
                refuse n $"cannot reshape {total} elements to [{OnnxGraph.dimsText shape}]"

            dims
        | 1 ->
            let known = dims |> Array.filter (fun d -> d <> -1L) |> OnnxGraph.count

            if known <= 0L || total % known <> 0L then
                refuse n $"cannot reshape {total} elements to [{OnnxGraph.dimsText shape}]"

            dims |> Array.map (fun d -> if d = -1L then total / known else d)
        | _ -> refuse n "more than one -1 in the shape"

    let private slice (n: OnnxNode) (opset: int64) (inputs: OnnxConst option[]) (data: OnnxConst) =
        let input i what =
            if inputs.Length > i then
                inputs[i] |> Option.map (ints n what)
            else
                None

        let starts, ends, axes, steps =
            if opset >= 10L then
                let req i what =
                    match input i what with
                    | Some v -> v
                    | None -> refuse n $"{what} are required"

                req 1 "starts", req 2 "ends", input 3 "axes", input 4 "steps"
            else
                let req what =
                    match OnnxGraph.attrInts n what with
                    | Some v -> v
                    | None -> refuse n $"{what} are required"

                req "starts", req "ends", OnnxGraph.attrInts n "axes", None

        let rank = data.Dims.Length
        let axes = axes |> Option.defaultValue (Array.init starts.Length int64)
        let steps = steps |> Option.defaultValue (Array.create starts.Length 1L)

        if
            ends.Length <> starts.Length
            || axes.Length <> starts.Length
            || steps.Length <> starts.Length
        then
            refuse n "starts, ends, axes and steps differ in length"

        let first = Array.zeroCreate<int64> rank
        let step = Array.create rank 1L
        let outDims = Array.copy data.Dims

        for k in 0 .. starts.Length - 1 do
            let a = axisOf n rank axes[k]
            let d = data.Dims[a]
            let s = steps[k]

            if s = 0L then
                refuse n "a step of 0"

            let clampTo lo hi (v: int64) =
                let v = if v < 0L then v + d else v
                max lo (min hi v)

            // The ONNX rules: positive steps clamp to [0, d], negative steps to [-1, d - 1].
            let b, e =
                if s > 0L then
                    clampTo 0L d starts[k], clampTo 0L d ends[k]
                else
                    clampTo -1L (d - 1L) starts[k], clampTo -1L (d - 1L) ends[k]

            let len =
                if s > 0L then
                    max 0L ((e - b + s - 1L) / s)
                else
                    max 0L ((b - e - s - 1L) / -s)

            first[a] <- b
            step[a] <- s
            outDims[a] <- len

        let inStrides = strides data.Dims

        pick data outDims (fun k ->
            let m = unravel outDims k
            let mutable src = 0L

            for i in 0 .. rank - 1 do
                src <- src + (first[i] + m[i] * step[i]) * inStrides[i]

            src)

    let private transpose (n: OnnxNode) (data: OnnxConst) =
        let rank = data.Dims.Length

        let perm =
            OnnxGraph.attrInts n "perm"
            |> Option.defaultValue (Array.init rank (fun i -> int64 (rank - 1 - i)))
            |> Array.map int

        if Array.sort perm <> Array.init rank id then
            refuse n "perm is not a permutation of the axes"

        let outDims = perm |> Array.map (fun p -> data.Dims[p])
        let inStrides = strides data.Dims

        pick data outDims (fun k ->
            let m = unravel outDims k
            Array.fold2 (fun acc v p -> acc + v * inStrides[p]) 0L m perm)

    // Elementwise arithmetic on equal shapes or with a one-element operand (what shape code needs).
    let private arith (n: OnnxNode) (a: OnnxConst) (b: OnnxConst) : OnnxConst =
        let na, nb = OnnxGraph.count a.Dims, OnnxGraph.count b.Dims

        let dims =
            if a.Dims = b.Dims then a.Dims
            elif nb = 1L && b.Dims.Length <= a.Dims.Length then a.Dims
            elif na = 1L && a.Dims.Length <= b.Dims.Length then b.Dims
            else refuse n "operands of different shapes"

        let size = int (OnnxGraph.count dims)
        let at (len: int64) i = if len = 1L then 0 else i

        match a.Data, b.Data with
        | OnnxData.Ints x, OnnxData.Ints y ->
            let f: int64 -> int64 -> int64 =
                match n.OpType with
                | "Add" -> (+)
                | "Sub" -> (-)
                | "Mul" -> (*)
                | _ ->
                    fun p q ->
                        if q = 0L then
                            refuse n "division by zero"

                        p / q

            {
                Dims = dims
                Data = OnnxData.Ints(Array.init size (fun i -> f x[at na i] y[at nb i]))
            }
        | _ ->
            let x, y = floats a, floats b

            let f: float32 -> float32 -> float32 =
                match n.OpType with
                | "Add" -> (+)
                | "Sub" -> (-)
                | "Mul" -> (*)
                | _ -> (/)

            {
                Dims = dims
                Data = OnnxData.Floats(Array.init size (fun i -> f x[at na i] y[at nb i]))
            }

    let private cast (n: OnnxNode) (c: OnnxConst) : OnnxConst =
        match enum<Onnx.TensorProto.Types.DataType>(int (OnnxGraph.attrInt n "to" 0L)) with
        | Onnx.TensorProto.Types.DataType.Float
        | Onnx.TensorProto.Types.DataType.Double -> {
            c with
                Data = OnnxData.Floats(floats c)
          }
        | Onnx.TensorProto.Types.DataType.Int64
        | Onnx.TensorProto.Types.DataType.Int32 -> {
            c with
                Data =
                    match c.Data with
                    | OnnxData.Ints v -> OnnxData.Ints v
                    | OnnxData.Floats v -> OnnxData.Ints(v |> Array.map int64)
          }
        | Onnx.TensorProto.Types.DataType.Bool -> {
            c with
                Data = OnnxData.Ints(floats c |> Array.map (fun v -> if v <> 0.0f then 1L else 0L))
          }
        | other -> refuse n $"cast to {other} is not supported"

    let private constant (n: OnnxNode) : OnnxConst =
        match OnnxGraph.attrTensor n "value" with
        | Some t -> t
        | None ->
            match n.Attributes.TryFind "value_float", n.Attributes.TryFind "value_floats" with
            | Some a, _ -> {
                Dims = [||]
                Data = OnnxData.Floats [| a.F |]
              }
            | _, Some a -> {
                Dims = [| int64 a.Floats.Count |]
                Data = OnnxData.Floats(Seq.toArray a.Floats)
              }
            | _ ->
                match n.Attributes.TryFind "value_int", n.Attributes.TryFind "value_ints" with
                | Some a, _ -> scalarInts [| a.I |]
                | _, Some a -> {
                    Dims = [| int64 a.Ints.Count |]
                    Data = OnnxData.Ints(Seq.toArray a.Ints)
                  }
                | _ -> refuse n "only tensor, float and int values are supported"

    /// ONNX Shape of a tensor with these dimensions (start and end attributes from opset 15).
    let shapeOf (n: OnnxNode) (dims: int64[]) : OnnxConst =
        let rank = int64 dims.Length

        let clampAxis v =
            let v = if v < 0L then v + rank else v
            max 0L (min rank v)

        let s = clampAxis (OnnxGraph.attrInt n "start" 0L)
        let e = clampAxis (OnnxGraph.attrInt n "end" rank)
        let v = if e > s then dims[int s .. int e - 1] else [||]

        {
            Dims = [| int64 v.Length |]
            Data = OnnxData.Ints v
        }

    /// Evaluates a node whose inputs are all constant (None marks an omitted optional input); one value per output.
    /// Refuses op types outside `ops` (Shape is the caller's: it reads a data tensor).
    let eval (opset: int64) (n: OnnxNode) (inputs: OnnxConst option[]) : OnnxConst[] =
        let input i =
            if i < inputs.Length then
                match inputs[i] with
                | Some c -> c
                | None -> refuse n $"input {i} is required"
            else
                refuse n $"input {i} is required"

        let result =
            match n.OpType with
            | "Constant" -> constant n
            | "Identity" -> input 0
            | "Cast" -> cast n (input 0)
            | "Gather" -> gather n (input 0) (input 1)
            | "Unsqueeze" -> unsqueeze n opset inputs (input 0)
            | "Squeeze" -> squeeze n opset inputs (input 0)
            | "Concat" -> concat n (inputs |> Array.choose id)
            | "ConstantOfShape" ->
                let dims = ints n "shape" (input 0)

                if dims |> Array.exists (fun d -> d < 0L) then
                    refuse n "negative dimension"

                let value =
                    OnnxGraph.attrTensor n "value"
                    |> Option.defaultValue {
                        Dims = [| 1L |]
                        Data = OnnxData.Floats [| 0.0f |]
                    }

                let size = int (OnnxGraph.count dims)

                {
                    Dims = dims
                    Data =
                        match value.Data with
                        | OnnxData.Floats v when v.Length = 1 -> OnnxData.Floats(Array.create size v[0])
                        | OnnxData.Ints v when v.Length = 1 -> OnnxData.Ints(Array.create size v[0])
                        | _ -> refuse n "value must hold one element"
                }
            | "Reshape" ->
                let data = input 0
                let allowZero = OnnxGraph.attrInt n "allowzero" 0L <> 0L

                {
                    data with
                        Dims = reshapeDims n data.Dims (ints n "shape" (input 1)) allowZero
                }
            | "Slice" -> slice n opset inputs (input 0)
            | "Transpose" -> transpose n (input 0)
            | "Add"
            | "Sub"
            | "Mul"
            | "Div" -> arith n (input 0) (input 1)
            | other -> refuse n $"unsupported operator {other} on constants"

        [| result |]
