namespace Tern.Core

open Tern.Runtime

/// A convolution-like layer's geometry and float parameters.
/// Weight layout per output channel (one row each): Conv (kh, kw, ic); Depthwise (kh, kw); Pointwise (ic).
type ConvSpec = {
    InChannels: int
    OutChannels: int
    KernelH: int
    KernelW: int
    StrideH: int
    StrideW: int
    PadH: int
    PadW: int
    Weight: float32[]
    Bias: float32[]
}

/// Fully connected layer on the HWC-flattened input; Weight is Outputs rows of Inputs.
type DenseSpec = {
    Inputs: int
    Outputs: int
    Weight: float32[]
    Bias: float32[]
}

/// Batch normalisation with running statistics (inference form).
type BatchNormSpec = {
    Gamma: float32[]
    Beta: float32[]
    Mean: float32[]
    Var: float32[]
    Eps: float32
}

/// Pooling window without padding.
type PoolSpec = {
    KernelH: int
    KernelW: int
    StrideH: int
    StrideW: int
}

/// The layers of a float model.
type Layer =
    | Conv2d of ConvSpec
    | DepthwiseConv2d of ConvSpec
    | Pointwise of ConvSpec
    | BatchNorm of BatchNormSpec
    | ReLU
    | ReLU6
    | MaxPool of PoolSpec
    | AvgPool of PoolSpec
    | GlobalAvgPool
    | Flatten
    | Dense of DenseSpec

/// A float model: input shape (HWC), a chain of layers, class names for the outputs.
type Model = {
    Name: string
    Input: Shape3
    Layers: Layer list
    Classes: string list
}

/// Per-layer facts for reports.
type LayerInfo = {
    Index: int
    Name: string
    Kind: string
    InputShape: Shape3
    OutputShape: Shape3
    Params: int
    Macs: int64
}

[<RequireQualifiedAccess>]
module Model =
    let private convOut input kernel stride pad = (input + 2 * pad - kernel) / stride + 1

    /// Short lower-case name of a layer kind (used in reports and layer names).
    let kindName (layer: Layer) : string =
        match layer with
        | Conv2d _ -> "conv2d"
        | DepthwiseConv2d _ -> "depthwise"
        | Pointwise _ -> "pointwise"
        | BatchNorm _ -> "batchnorm"
        | ReLU -> "relu"
        | ReLU6 -> "relu6"
        | MaxPool _ -> "maxpool"
        | AvgPool _ -> "avgpool"
        | GlobalAvgPool -> "globalavgpool"
        | Flatten -> "flatten"
        | Dense _ -> "dense"

    /// Output shape of a layer for a given input shape, or an error naming the mismatch.
    let outputShape (input: Shape3) (layer: Layer) : Result<Shape3, string> =
        let conv (c: ConvSpec) outC =
            let h = convOut input.H c.KernelH c.StrideH c.PadH
            let w = convOut input.W c.KernelW c.StrideW c.PadW

            if h < 1 || w < 1 then
                Error $"kernel {c.KernelH}x{c.KernelW} does not fit input {input}"
            else
                Ok(Shape3(h, w, outC))

        let pool (p: PoolSpec) =
            if p.KernelH > input.H || p.KernelW > input.W then
                Error $"pool window {p.KernelH}x{p.KernelW} does not fit input {input}"
            else
                Ok(Shape3(convOut input.H p.KernelH p.StrideH 0, convOut input.W p.KernelW p.StrideW 0, input.C))

        match layer with
        | Conv2d c
        | Pointwise c ->
            if c.InChannels <> input.C then
                Error $"expects {c.InChannels} input channels, receives {input.C}"
            else
                conv c c.OutChannels
        | DepthwiseConv2d c ->
            if c.InChannels <> input.C then
                Error $"expects {c.InChannels} channels, receives {input.C}"
            else
                conv c input.C
        | BatchNorm b ->
            if b.Gamma.Length <> input.C then
                Error $"has {b.Gamma.Length} channels, receives {input.C}"
            else
                Ok input
        | ReLU
        | ReLU6 -> Ok input
        | MaxPool p
        | AvgPool p -> pool p
        | GlobalAvgPool -> Ok(Shape3(1, 1, input.C))
        | Flatten -> Ok(Shape3(1, 1, input.Size))
        | Dense d ->
            if d.Inputs <> input.Size then
                Error $"expects {d.Inputs} inputs, receives {input.Size} ({input})"
            else
                Ok(Shape3(1, 1, d.Outputs))

    /// Number of trainable parameters (BatchNorm counts gamma and beta, as PyTorch does).
    let paramCount (layer: Layer) : int =
        match layer with
        | Conv2d c
        | DepthwiseConv2d c
        | Pointwise c -> c.Weight.Length + c.Bias.Length
        | Dense d -> d.Weight.Length + d.Bias.Length
        | BatchNorm b -> b.Gamma.Length + b.Beta.Length
        | _ -> 0

    /// Multiply-accumulates of a layer for its output shape (pooling and BN count one per input read).
    let macCount (input: Shape3) (output: Shape3) (layer: Layer) : int64 =
        match layer with
        | Conv2d c
        | Pointwise c -> int64 output.Size * int64 (c.KernelH * c.KernelW * c.InChannels)
        | DepthwiseConv2d c -> int64 output.Size * int64 (c.KernelH * c.KernelW)
        | Dense d -> int64 d.Inputs * int64 d.Outputs
        | MaxPool p
        | AvgPool p -> int64 output.Size * int64 (p.KernelH * p.KernelW)
        | GlobalAvgPool -> int64 input.Size
        | BatchNorm _ -> int64 input.Size
        | ReLU
        | ReLU6
        | Flatten -> 0L

    /// Checks that shapes chain and parameter arrays have the right lengths.
    let validate (model: Model) : Result<unit, string> =
        let checkLen what (arr: float32[]) n =
            if arr.Length <> n then
                Error $"{what} has {arr.Length} values, expected {n}"
            else
                Ok()

        let checkLayer (input: Shape3) layer =
            let conv (c: ConvSpec) perOut outC =
                if
                    c.KernelH < 1
                    || c.KernelW < 1
                    || c.StrideH < 1
                    || c.StrideW < 1
                    || c.PadH < 0
                    || c.PadW < 0
                then
                    Error "kernel and stride must be at least 1 and padding non-negative"
                else
                    checkLen "weight" c.Weight (outC * perOut)
                    |> Result.bind (fun () -> checkLen "bias" c.Bias outC)

            match layer with
            | Conv2d c -> conv c (c.KernelH * c.KernelW * c.InChannels) c.OutChannels
            | Pointwise c ->
                if c.KernelH <> 1 || c.KernelW <> 1 then
                    Error "pointwise kernel must be 1x1"
                else
                    conv c c.InChannels c.OutChannels
            | DepthwiseConv2d c ->
                if c.OutChannels <> c.InChannels then
                    Error "depthwise needs as many output channels as input channels"
                else
                    conv c (c.KernelH * c.KernelW) c.InChannels
            | Dense d ->
                checkLen "weight" d.Weight (d.Inputs * d.Outputs)
                |> Result.bind (fun () -> checkLen "bias" d.Bias d.Outputs)
            | BatchNorm b ->
                [ b.Beta; b.Mean; b.Var ]
                |> List.fold
                    (fun acc a -> acc |> Result.bind (fun () -> checkLen "batchnorm parameter" a b.Gamma.Length))
                    (Ok())
            | MaxPool p
            | AvgPool p ->
                if p.KernelH < 1 || p.KernelW < 1 || p.StrideH < 1 || p.StrideW < 1 then
                    Error "pool kernel and stride must be at least 1"
                else
                    Ok()
            | _ -> Ok()

        let rec go i (shape: Shape3) layers =
            match layers with
            | [] -> Ok()
            | layer :: rest ->
                match checkLayer shape layer |> Result.bind (fun () -> outputShape shape layer) with
                | Error e -> Error $"layer {i} ({kindName layer}): {e}"
                | Ok next -> go (i + 1) next rest

        if model.Input.H < 1 || model.Input.W < 1 || model.Input.C < 1 then
            Error $"input shape {model.Input} is empty"
        else
            go 0 model.Input model.Layers

    /// Shapes after every layer (first element is the input shape); throws if the model is invalid.
    let shapes (model: Model) : Shape3 list =
        match validate model with
        | Error e -> invalidArg "model" e
        | Ok() ->
            model.Layers
            |> List.scan
                (fun s l ->
                    match outputShape s l with
                    | Ok next -> next
                    | Error e -> invalidArg "model" e)
                model.Input

    /// Per-layer table: names are kind plus position, e.g. "conv2d_0".
    let describe (model: Model) : LayerInfo list =
        let shapes = shapes model |> List.toArray

        model.Layers
        |> List.mapi (fun i l -> {
            Index = i
            Name = $"{kindName l}_{i}"
            Kind = kindName l
            InputShape = shapes[i]
            OutputShape = shapes[i + 1]
            Params = paramCount l
            Macs = macCount shapes[i] shapes[i + 1] l
        })

    /// Total parameters.
    let totalParams (model: Model) : int = model.Layers |> List.sumBy paramCount

    /// Total multiply-accumulates.
    let totalMacs (model: Model) : int64 =
        describe model |> List.sumBy (fun l -> l.Macs)

    /// Activation memory of the deployed ping-pong plan: max over layers of input + output bytes; BatchNorm and
    /// activations are fused away and Flatten is a view, so they need no buffer (int8 = 1 byte per element).
    let peakActivationBytes (bytesPerElement: int) (model: Model) : int =
        describe model
        |> List.map (fun l ->
            match model.Layers[l.Index] with
            // Fused into the layer before them (BN folding, activation clamps) or a view: no buffer of their own.
            | Flatten
            | BatchNorm _
            | ReLU
            | ReLU6 -> 0
            | _ -> (l.InputShape.Size + l.OutputShape.Size) * bytesPerElement)
        |> List.fold max (model.Input.Size * bytesPerElement)
