namespace Tern.Core

open System
open System.Buffers.Binary
open System.IO
open System.Security.Cryptography
open System.Text
open Tern.Runtime

type LoadedModel =
    | FloatModel of Model
    | IntegerModel of IntModel

[<RequireQualifiedAccess>]
module ModelFile =

    // Version 2 adds residual blocks (float tag 12, IntLayerKind.Add); version 3 asymmetric and pool padding and
    // metadata. A model is written in the lowest version that holds it, byte for byte as before, so older readers
    // load it and its hash never changes.
    [<Literal>]
    let private Version = 3us

    let private supportedVersions = [ 1us; 2us; Version ]
    let private magic = "TERN"B
    let private headerSize = 4 + 2 + 1 + 4
    let private checksumSize = 32
    let private kindFloat = 1uy
    let private kindInt = 2uy

    // ---- writing ----

    let private writeString (w: BinaryWriter) (s: string) =
        let bytes = Encoding.UTF8.GetBytes s
        w.Write(uint32 bytes.Length)
        w.Write bytes

    let private writeShape (w: BinaryWriter) (s: Shape3) =
        w.Write s.H
        w.Write s.W
        w.Write s.C

    let private writeFloats (w: BinaryWriter) (a: float32[]) =
        w.Write a.Length

        for v in a do
            w.Write v

    let private writeInts (w: BinaryWriter) (a: int[]) =
        w.Write a.Length

        for v in a do
            w.Write v

    let private writeStrings (w: BinaryWriter) (a: string seq) =
        let a = Seq.toArray a
        w.Write a.Length

        for s in a do
            writeString w s

    // Float layer tags; part of the format, never renumber.
    let private floatTag (l: Layer) : byte =
        match l with
        | Conv2d _ -> 1uy
        | DepthwiseConv2d _ -> 2uy
        | Pointwise _ -> 3uy
        | BatchNorm _ -> 4uy
        | ReLU -> 5uy
        | ReLU6 -> 6uy
        | MaxPool _ -> 7uy
        | AvgPool _ -> 8uy
        | GlobalAvgPool -> 9uy
        | Flatten -> 10uy
        | Dense _ -> 11uy
        | ResidualAdd _ -> 12uy

    // Version 3's four paddings, or versions 1 and 2's symmetric two (the caller chose the version that holds them).
    let private writePadding (v3: bool) (w: BinaryWriter) (p: Padding) =
        if v3 then
            for v in [ p.Top; p.Bottom; p.Left; p.Right ] do
                w.Write v
        else
            w.Write p.Top
            w.Write p.Left

    let private writeMeta (w: BinaryWriter) (meta: (string * string) seq) =
        let pairs = Seq.toArray meta
        w.Write pairs.Length

        for k, v in pairs do
            writeString w k
            writeString w v

    let private writeFloatLayer (v3: bool) (w: BinaryWriter) (l: Layer) =
        w.Write(floatTag l)

        match l with
        | Conv2d c
        | DepthwiseConv2d c
        | Pointwise c ->
            for v in [ c.InChannels; c.OutChannels; c.KernelH; c.KernelW; c.StrideH; c.StrideW ] do
                w.Write v

            writePadding v3 w c.Pad

            writeFloats w c.Weight
            writeFloats w c.Bias
        | Dense d ->
            w.Write d.Inputs
            w.Write d.Outputs
            writeFloats w d.Weight
            writeFloats w d.Bias
        | BatchNorm b ->
            writeFloats w b.Gamma
            writeFloats w b.Beta
            writeFloats w b.Mean
            writeFloats w b.Var
            w.Write b.Eps
        | MaxPool p
        | AvgPool p ->
            w.Write p.KernelH
            w.Write p.KernelW
            w.Write p.StrideH
            w.Write p.StrideW

            if v3 then
                writePadding v3 w p.Pad
        | ResidualAdd span -> w.Write span
        | ReLU
        | ReLU6
        | GlobalAvgPool
        | Flatten -> ()

    // Version 3's four paddings of an integer layer (top, bottom, left, right), or versions 1 and 2's two (top and
    // left, which equal bottom and right there: intVersion picks version 3 for any other).
    let private writeIntPadding (v3: bool) (w: BinaryWriter) (top: int) (bottom: int) (left: int) (right: int) =
        writePadding v3 w {
            Top = top
            Bottom = bottom
            Left = left
            Right = right
        }

    let private writeIntLayer (v3: bool) (w: BinaryWriter) (l: IntLayer) =
        w.Write(byte l.Kind)
        writeString w l.Name
        writeShape w l.Input
        writeShape w l.Output

        match l with
        | :? IntConvLayer as c ->
            for v in [ c.KernelH; c.KernelW; c.StrideH; c.StrideW ] do
                w.Write v

            writeIntPadding v3 w c.PadTop c.PadBottom c.PadLeft c.PadRight

            w.Write(byte c.WeightKind)

            match c.WeightKind with
            | WeightKind.Int8 ->
                let q = c.Int8Weights
                w.Write q.Length

                for v in q do
                    w.Write v
            | WeightKind.Ternary ->
                let t = c.TernaryWeights
                w.Write t.Rows
                w.Write t.RowLength
                w.Write t.Data.Length
                w.Write t.Data
            | k -> invalidArg "model" $"layer '{l.Name}': unknown weight kind {int k}"

            writeInts w c.Bias
            writeInts w c.Multiplier
            writeInts w c.Shift
            w.Write c.InputZero
            w.Write c.OutputZero
            w.Write c.ActMin
            w.Write c.ActMax
            w.Write c.InputScale
            w.Write c.OutputScale
            writeFloats w c.WeightScale
        | :? IntPoolLayer as p ->
            for v in [ p.KernelH; p.KernelW; p.StrideH; p.StrideW ] do
                w.Write v

            if v3 then
                writeIntPadding v3 w p.PadTop p.PadBottom p.PadLeft p.PadRight

            for v in [ p.Multiplier; p.Shift; p.InputZero; p.OutputZero; p.ActMin; p.ActMax ] do
                w.Write v

            w.Write p.InputScale
            w.Write p.OutputScale
        | :? IntFlattenLayer -> ()
        | :? IntAddLayer as a ->
            for v in
                [
                    a.Span
                    a.MultiplierA
                    a.MultiplierB
                    a.Shift
                    a.InputZero
                    a.SkipZero
                    a.OutputZero
                    a.ActMin
                    a.ActMax
                ] do
                w.Write v

            w.Write a.InputScale
            w.Write a.SkipScale
            w.Write a.OutputScale
        | _ -> invalidArg "model" $"layer '{l.Name}': unsupported layer type {l.GetType().Name}"

    // Header, payload, checksum.
    let private frame (version: uint16) (kind: byte) (payload: byte[]) : byte[] =
        use ms = new MemoryStream(headerSize + payload.Length + checksumSize)
        use w = new BinaryWriter(ms)
        w.Write magic
        w.Write version
        w.Write kind
        w.Write(uint32 payload.Length)
        w.Write payload
        w.Write(SHA256.HashData payload)
        w.Flush()
        ms.ToArray()

    let private payloadOf (write: BinaryWriter -> unit) : byte[] =
        use ms = new MemoryStream()
        use w = new BinaryWriter(ms)
        write w
        w.Flush()
        ms.ToArray()

    // A model without layers computes nothing; the device refuses it, so neither load nor save accepts one.
    let private hasLayers (n: int) : Result<unit, string> =
        if n = 0 then Error "it has no layers" else Ok()

    /// The lowest format version that holds a float model.
    let floatVersion (model: Model) : uint16 =
        let needsV3 =
            not model.Meta.IsEmpty
            || model.Layers
               |> List.exists (function
                   | Conv2d c
                   | DepthwiseConv2d c
                   | Pointwise c -> not (Padding.isSymmetric c.Pad)
                   | MaxPool p
                   | AvgPool p -> not (Padding.isNone p.Pad)
                   | _ -> false)

        if needsV3 then
            3us
        elif List.exists (fun (l: Layer) -> l.IsResidualAdd) model.Layers then
            2us
        else
            1us

    let serializeFloat (model: Model) : byte[] =
        match
            Model.validate model
            |> Result.bind (fun () -> Model.checkFinite model)
            |> Result.bind (fun () -> hasLayers (List.length model.Layers))
        with
        | Error e -> invalidArg "model" $"model '{model.Name}' is invalid: {e}"
        | Ok() ->
            let version = floatVersion model
            let v3 = version >= 3us

            payloadOf (fun w ->
                w.Write kindFloat
                writeString w model.Name
                writeShape w model.Input
                writeStrings w model.Classes
                w.Write(List.length model.Layers)

                for l in model.Layers do
                    writeFloatLayer v3 w l

                if v3 then
                    writeMeta w (Map.toSeq model.Meta))
            |> frame version kindFloat

    let intVersion (model: IntModel) : uint16 =
        let needsV3 =
            model.Metadata.Count > 0
            || model.Layers
               |> Array.exists (function
                   | :? IntConvLayer as c -> not c.HasSymmetricPadding
                   | :? IntPoolLayer as p -> p.IsPadded
                   | _ -> false)

        if needsV3 then
            3us
        elif model.Layers |> Array.exists (fun l -> l.Kind = IntLayerKind.Add) then
            2us
        else
            1us

    let serializeInt (model: IntModel) : byte[] =
        try
            model.Validate()
        with :? InvalidDataException as e ->
            invalidArg "model" $"model '{model.Name}' is invalid: {e.Message}"

        match hasLayers model.Layers.Length with
        | Error e -> invalidArg "model" $"model '{model.Name}' is invalid: {e}"
        | Ok() -> ()

        let version = intVersion model
        let v3 = version >= 3us

        payloadOf (fun w ->
            w.Write kindInt
            writeString w model.Name
            writeShape w model.Input
            w.Write model.InputScale
            w.Write model.InputZero
            writeStrings w model.ClassNames
            w.Write model.Layers.Length

            for l in model.Layers do
                writeIntLayer v3 w l

            if v3 then
                writeMeta
                    w
                    (model.Metadata
                     |> Seq.sortBy (fun kv -> kv.Key)
                     |> Seq.map (fun kv -> kv.Key, kv.Value)))
        |> frame version kindInt

    // ---- reading ----

    // Raised by the reader on malformed payloads; deserialize turns it into Error.
    exception private BadPayload of string

    let private fail (msg: string) : 'a = raise (BadPayload msg)

    let private strictUtf8 = UTF8Encoding(false, true)

    // A cursor over the payload; every read checks the remaining bytes first, and every count is checked
    // against them before anything is allocated.
    type private Reader(data: byte[], start: int, length: int) =
        let mutable pos = 0

        member _.Position = pos
        member _.Remaining = length - pos

        member r.Need(n: int64, what: string) =
            if n > int64 r.Remaining then
                fail $"{what} needs {n} bytes at payload offset {pos}, only {r.Remaining} remain"

        member r.Span(n: int, what: string) : ReadOnlySpan<byte> =
            r.Need(int64 n, what)
            let s = ReadOnlySpan<byte>(data, start + pos, n)
            pos <- pos + n
            s

        member r.U8(what: string) : byte = r.Span(1, what)[0]

        member r.I32(what: string) : int =
            BinaryPrimitives.ReadInt32LittleEndian(r.Span(4, what))

        member r.U32(what: string) : uint32 =
            BinaryPrimitives.ReadUInt32LittleEndian(r.Span(4, what))

        member r.F32(what: string) : float32 =
            BinaryPrimitives.ReadSingleLittleEndian(r.Span(4, what))

        // A count of elements of the given size, checked to be non-negative and to fit in what remains.
        member r.Count(elementSize: int, what: string) : int =
            let at = pos
            let n = r.I32(what + " count")

            if n < 0 then
                fail $"{what} count {n} at payload offset {at} is negative"

            r.Need(int64 n * int64 elementSize, what)
            n

        member r.String(what: string) : string =
            let at = pos
            let n = r.U32(what + " length")

            if int64 n > int64 r.Remaining then
                fail $"{what} length {n} at payload offset {at} exceeds the {r.Remaining} remaining bytes"

            let bytes = r.Span(int n, what)

            try
                strictUtf8.GetString bytes
            with :? DecoderFallbackException ->
                fail $"{what} at payload offset {at} is not valid UTF-8"

        member r.Floats(what: string) : float32[] =
            let n = r.Count(4, what)
            Array.init n (fun _ -> r.F32 what)

        member r.Ints(what: string) : int[] =
            let n = r.Count(4, what)
            Array.init n (fun _ -> r.I32 what)

        member r.Strings(what: string) : string[] =
            // Each string takes at least its 4-byte length.
            let n = r.Count(4, what)
            Array.init n (fun i -> r.String $"{what} {i}")

        member r.Shape(what: string) : Shape3 =
            let at = pos
            let h = r.I32 what
            let w = r.I32 what
            let c = r.I32 what

            if h < 1 || w < 1 || c < 1 || int64 h * int64 w * int64 c > int64 Int32.MaxValue then
                fail $"{what} {h}x{w}x{c} at payload offset {at} is empty or too large"

            Shape3(h, w, c)

    let private readPadding (v3: bool) (r: Reader) (what: string) : Padding =
        if v3 then
            let top = r.I32 what
            let bottom = r.I32 what
            let left = r.I32 what
            let right = r.I32 what

            {
                Top = top
                Bottom = bottom
                Left = left
                Right = right
            }
        else
            let h = r.I32 what
            let w = r.I32 what
            Padding.symmetric h w

    // Metadata pairs; keys must be distinct.
    let private readMeta (r: Reader) : (string * string) list =
        // Each pair takes at least its two 4-byte lengths.
        let n = r.Count(8, "metadata")

        let pairs =
            List.init n (fun i ->
                let k = r.String $"metadata key {i}"
                k, r.String $"metadata value {i} ({k})")

        match pairs |> List.countBy fst |> List.tryFind (fun (_, c) -> c > 1) with
        | Some(k, _) -> fail $"metadata key '{k}' appears more than once"
        | None -> pairs

    let private readFloatLayer (v3: bool) (r: Reader) (index: int) : Layer =
        let at = r.Position
        let tag = r.U8 $"layer {index} tag"
        let what = $"layer {index}"

        let convSpec () =
            let ints = Array.init 6 (fun _ -> r.I32 what)
            let pad = readPadding v3 r what
            let weight = r.Floats $"{what} weight"
            let bias = r.Floats $"{what} bias"

            {
                InChannels = ints[0]
                OutChannels = ints[1]
                KernelH = ints[2]
                KernelW = ints[3]
                StrideH = ints[4]
                StrideW = ints[5]
                Pad = pad
                Weight = weight
                Bias = bias
            }

        let poolSpec () =
            let kh = r.I32 what
            let kw = r.I32 what
            let sh = r.I32 what
            let sw = r.I32 what
            let pad = if v3 then readPadding v3 r what else Padding.none

            {
                KernelH = kh
                KernelW = kw
                StrideH = sh
                StrideW = sw
                Pad = pad
            }

        match tag with
        | 1uy -> Conv2d(convSpec ())
        | 2uy -> DepthwiseConv2d(convSpec ())
        | 3uy -> Pointwise(convSpec ())
        | 4uy ->
            let gamma = r.Floats $"{what} gamma"
            let beta = r.Floats $"{what} beta"
            let mean = r.Floats $"{what} mean"
            let var = r.Floats $"{what} var"
            let eps = r.F32 $"{what} eps"

            BatchNorm {
                Gamma = gamma
                Beta = beta
                Mean = mean
                Var = var
                Eps = eps
            }
        | 5uy -> ReLU
        | 6uy -> ReLU6
        | 7uy -> MaxPool(poolSpec ())
        | 8uy -> AvgPool(poolSpec ())
        | 9uy -> GlobalAvgPool
        | 10uy -> Flatten
        | 11uy ->
            let inputs = r.I32 what
            let outputs = r.I32 what
            let weight = r.Floats $"{what} weight"
            let bias = r.Floats $"{what} bias"

            Dense {
                Inputs = inputs
                Outputs = outputs
                Weight = weight
                Bias = bias
            }
        | 12uy -> ResidualAdd(r.I32 what)
        | t -> fail $"unknown float layer tag {t} for layer {index} at payload offset {at}"

    let private readIntLayer (v3: bool) (r: Reader) (index: int) : IntLayer =
        let at = r.Position
        let tag = r.U8 $"layer {index} kind"
        let what = $"layer {index}"
        let name = r.String $"{what} name"
        let input = r.Shape $"{what} input shape"
        let output = r.Shape $"{what} output shape"

        match LanguagePrimitives.EnumOfValue<byte, IntLayerKind> tag with
        | IntLayerKind.Conv
        | IntLayerKind.Depthwise
        | IntLayerKind.Pointwise
        | IntLayerKind.Dense as kind ->
            let g = Array.init 4 (fun _ -> r.I32 what)
            let pad = readPadding v3 r what
            let wkAt = r.Position
            let wk = r.U8 $"{what} weight kind"

            let int8, ternary, weightKind =
                match LanguagePrimitives.EnumOfValue<byte, WeightKind> wk with
                | WeightKind.Int8 ->
                    let n = r.Count(1, $"{what} int8 weights")
                    let q = r.Span(n, $"{what} int8 weights")
                    let arr = Array.zeroCreate<sbyte> n

                    for i in 0 .. n - 1 do
                        arr[i] <- sbyte q[i]

                    Some arr, None, WeightKind.Int8
                | WeightKind.Ternary ->
                    let rows = r.I32 $"{what} ternary rows"
                    let rowLength = r.I32 $"{what} ternary row length"

                    if rows < 0 || rowLength < 0 then
                        fail $"{what}: ternary weights {rows} x {rowLength} have a negative size"

                    let n = r.Count(1, $"{what} ternary data")
                    let expected = int64 rows * ((int64 rowLength + 3L) / 4L)

                    if int64 n <> expected then
                        fail $"{what}: ternary data has {n} bytes, expected {expected} for {rows} x {rowLength}"

                    let packed =
                        PackedTernary(rows, rowLength, r.Span(n, $"{what} ternary data").ToArray())

                    None, Some packed, WeightKind.Ternary
                | _ -> fail $"{what}: unknown weight kind {wk} at payload offset {wkAt}"

            let bias = r.Ints $"{what} bias"
            let m = r.Ints $"{what} multiplier"
            let s = r.Ints $"{what} shift"
            let inZero = r.I32 what
            let outZero = r.I32 what
            let actMin = r.I32 what
            let actMax = r.I32 what
            let inScale = r.F32 what
            let outScale = r.F32 what
            let wScale = r.Floats $"{what} weight scale"

            IntConvLayer(
                name,
                kind,
                input,
                output,
                g[0],
                g[1],
                g[2],
                g[3],
                pad.Top,
                pad.Bottom,
                pad.Left,
                pad.Right,
                weightKind,
                Option.toObj int8,
                Option.toObj ternary,
                bias,
                m,
                s,
                inZero,
                outZero,
                actMin,
                actMax,
                inScale,
                outScale,
                wScale
            )
        | IntLayerKind.MaxPool
        | IntLayerKind.AvgPool
        | IntLayerKind.GlobalAvgPool as kind ->
            let g = Array.init 4 (fun _ -> r.I32 what)
            let pad = if v3 then readPadding v3 r what else Padding.none
            let v = Array.init 6 (fun _ -> r.I32 what)
            let inScale = r.F32 what
            let outScale = r.F32 what

            IntPoolLayer(
                name,
                kind,
                input,
                output,
                g[0],
                g[1],
                g[2],
                g[3],
                pad.Top,
                pad.Bottom,
                pad.Left,
                pad.Right,
                v[0],
                v[1],
                v[2],
                v[3],
                v[4],
                v[5],
                inScale,
                outScale
            )
        | IntLayerKind.Flatten ->
            let layer = IntFlattenLayer(name, input)

            if layer.Output <> output then
                fail $"{what} (flatten): output shape {output} should be {layer.Output}"

            layer
        | IntLayerKind.Add ->
            let v = Array.init 9 (fun _ -> r.I32 what)
            let inScale = r.F32 what
            let skipScale = r.F32 what
            let outScale = r.F32 what

            let layer =
                IntAddLayer(
                    name,
                    input,
                    v[0],
                    v[1],
                    v[2],
                    v[3],
                    v[4],
                    v[5],
                    v[6],
                    v[7],
                    v[8],
                    inScale,
                    skipScale,
                    outScale
                )

            if layer.Output <> output then
                fail $"{what} (add): output shape {output} should be its input shape {input}"

            layer
        | _ -> fail $"unknown integer layer kind {tag} for layer {index} at payload offset {at}"

    let private readFloatModel (version: uint16) (r: Reader) : Result<LoadedModel, string> =
        let v3 = version >= 3us
        let name = r.String "model name"
        let input = r.Shape "input shape"
        let classes = r.Strings "class names"
        // Every layer takes at least its 1-byte tag.
        let n = r.Count(1, "layers")
        let layers = List.init n (readFloatLayer v3 r)
        let meta = if v3 then readMeta r else []

        let model = {
            Name = name
            Input = input
            Layers = layers
            Classes = List.ofArray classes
            Meta = Map.ofList meta
        }

        if r.Remaining <> 0 then
            fail $"{r.Remaining} unread bytes at the end of the payload"

        match
            hasLayers n
            |> Result.bind (fun () -> Model.validate model)
            |> Result.bind (fun () -> Model.checkFinite model)
        with
        | Ok() -> Ok(FloatModel model)
        | Error e -> Error $"invalid float model '{name}': {e}"

    let private readIntModel (version: uint16) (r: Reader) : Result<LoadedModel, string> =
        let v3 = version >= 3us
        let name = r.String "model name"
        let input = r.Shape "input shape"
        let inScale = r.F32 "input scale"
        let inZero = r.I32 "input zero point"
        let classes = r.Strings "class names"
        let n = r.Count(1, "layers")
        let layers = Array.init n (readIntLayer v3 r)
        let meta = if v3 then readMeta r else []

        if r.Remaining <> 0 then
            fail $"{r.Remaining} unread bytes at the end of the payload"

        let model =
            IntModel(name, input, inScale, inZero, layers, classes, Metadata = readOnlyDict meta)

        try
            match hasLayers n with
            | Error e -> Error $"invalid integer model '{name}': {e}"
            | Ok() ->
                model.Validate()
                Ok(IntegerModel model)
        with :? InvalidDataException as e ->
            Error $"invalid integer model '{name}': {e.Message}"

    let private versionList = supportedVersions |> List.map string |> String.concat ", "

    let deserialize (bytes: byte[]) : Result<LoadedModel, string> =
        if isNull bytes || bytes.Length < headerSize then
            let n = if isNull bytes then 0 else bytes.Length
            Error $"too short for the header: {n} bytes, a Tern model file needs at least {headerSize + checksumSize}"
        elif not (ReadOnlySpan<byte>(bytes, 0, 4).SequenceEqual(ReadOnlySpan<byte>(magic))) then
            Error "not a Tern model file (the first 4 bytes are not \"TERN\")"
        else
            let version =
                BinaryPrimitives.ReadUInt16LittleEndian(ReadOnlySpan<byte>(bytes, 4, 2))

            let kind = bytes[6]

            let declared =
                int64 (BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan<byte>(bytes, 7, 4)))

            let expectedTotal = int64 headerSize + declared + int64 checksumSize

            if not (List.contains version supportedVersions) then
                Error $"unsupported format version {version} (this build reads version {versionList})"
            elif kind <> kindFloat && kind <> kindInt then
                Error $"unknown model kind {kind} (expected 1 for float or 2 for integer)"
            elif int64 bytes.Length < expectedTotal then
                let found = int64 bytes.Length - int64 headerSize

                Error
                    $"truncated: expected {declared} payload bytes plus a {checksumSize}-byte checksum, found {found} bytes"
            elif int64 bytes.Length > expectedTotal then
                Error $"{int64 bytes.Length - expectedTotal} trailing bytes after the checksum"
            else
                let len = int declared
                let payload = ReadOnlySpan<byte>(bytes, headerSize, len)
                let stored = ReadOnlySpan<byte>(bytes, headerSize + len, checksumSize)

                if not ((SHA256.HashData payload).AsSpan().SequenceEqual stored) then
                    Error "corrupted: the SHA-256 checksum of the payload does not match"
                else
                    let r = Reader(bytes, headerSize, len)

                    try
                        let inner = r.U8 "payload kind"

                        if inner <> kind then
                            fail $"header says model kind {kind}, payload says {inner}"

                        if kind = kindFloat then
                            readFloatModel version r
                        else
                            readIntModel version r
                    with
                    | BadPayload msg -> Error $"invalid payload: {msg}"
                    // Constructors of the runtime types may still object to values; report, never throw.
                    | e -> Error $"invalid payload: {e.Message}"

    let hash (bytes: byte[]) : string =
        if isNull bytes || bytes.Length < headerSize + checksumSize then
            invalidArg "bytes" "not a serialized Tern model (too short)"

        let len =
            int64 (BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan<byte>(bytes, 7, 4)))

        if int64 headerSize + len + int64 checksumSize <> int64 bytes.Length then
            invalidArg "bytes" "not a serialized Tern model (payload length does not match)"

        Convert.ToHexStringLower(SHA256.HashData(ReadOnlySpan<byte>(bytes, headerSize, int len)))

    // Writes to a temporary file in the target's folder, then renames it over the target, so a reader
    // sees either the old file or the complete new one.

    let saveFloat (path: string) (model: Model) : unit =
        AtomicFile.writeBytes path (serializeFloat model)

    let saveInt (path: string) (model: IntModel) : unit =
        AtomicFile.writeBytes path (serializeInt model)

    let load (path: string) : Result<LoadedModel, string> =
        if Directory.Exists path then
            Error $"{path}: a folder, not a model file"
        elif not (File.Exists path) then
            Error $"{path}: file not found"
        else
            try
                deserialize (File.ReadAllBytes path)
                |> Result.mapError (fun e -> $"{path}: {e}")
            with e ->
                Error $"{path}: cannot read: {e.Message}"
