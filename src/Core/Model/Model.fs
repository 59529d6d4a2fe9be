namespace Tern.Core

open Tern.Runtime

type Padding = {
    Top: int
    Bottom: int
    Left: int
    Right: int
}

[<RequireQualifiedAccess>]
module Padding =
    let none: Padding = {
        Top = 0
        Bottom = 0
        Left = 0
        Right = 0
    }

    let symmetric (h: int) (w: int) : Padding = {
        Top = h
        Bottom = h
        Left = w
        Right = w
    }

    let isSymmetric (p: Padding) : bool = p.Top = p.Bottom && p.Left = p.Right

    let isNone (p: Padding) : bool = p = none

type ConvSpec = {
    InChannels: int
    OutChannels: int
    KernelH: int
    KernelW: int
    StrideH: int
    StrideW: int
    Pad: Padding
    Weight: float32[]
    Bias: float32[]
}

type DenseSpec = {
    Inputs: int
    Outputs: int
    Weight: float32[]
    Bias: float32[]
}

type BatchNormSpec = {
    Gamma: float32[]
    Beta: float32[]
    Mean: float32[]
    Var: float32[]
    Eps: float32
}

type PoolSpec = {
    KernelH: int
    KernelW: int
    StrideH: int
    StrideW: int
    Pad: Padding
}

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
    | ResidualAdd of span: int

type Model = {
    Name: string
    Input: Shape3
    Layers: Layer list
    Classes: string list
    Meta: Map<string, string>
}

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
    // Output size along one axis for padding before and after; negative when the window does not fit.
    // In 64 bits: paddings and kernels read from a file may sum past int.MaxValue; a length beyond it is capped and
    // then refused by validate's size check.
    let private convOut (input: int) (kernel: int) (stride: int) (before: int) (after: int) =
        let span = int64 input + int64 before + int64 after - int64 kernel

        if span < 0L then
            -1
        else
            int (min (span / int64 stride + 1L) (int64 System.Int32.MaxValue))

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
        | ResidualAdd _ -> "add"

    let outputShape (input: Shape3) (layer: Layer) : Result<Shape3, string> =
        let conv (c: ConvSpec) outC =
            let h = convOut input.H c.KernelH c.StrideH c.Pad.Top c.Pad.Bottom
            let w = convOut input.W c.KernelW c.StrideW c.Pad.Left c.Pad.Right

            if h < 1 || w < 1 then
                Error $"kernel {c.KernelH}x{c.KernelW} does not fit input {input}"
            else
                Ok(Shape3(h, w, outC))

        let pool (p: PoolSpec) =
            let h = convOut input.H p.KernelH p.StrideH p.Pad.Top p.Pad.Bottom
            let w = convOut input.W p.KernelW p.StrideW p.Pad.Left p.Pad.Right

            if h < 1 || w < 1 then
                Error $"pool window {p.KernelH}x{p.KernelW} does not fit input {input}"
            else
                Ok(Shape3(h, w, input.C))

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
        | ReLU6
        | ResidualAdd _ -> Ok input
        | MaxPool p
        | AvgPool p -> pool p
        | GlobalAvgPool -> Ok(Shape3(1, 1, input.C))
        | Flatten -> Ok(Shape3(1, 1, input.Size))
        | Dense d ->
            if d.Inputs <> input.Size then
                Error $"expects {d.Inputs} inputs, receives {input.Size} ({input})"
            else
                Ok(Shape3(1, 1, d.Outputs))

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
        | ResidualAdd _ -> int64 output.Size
        | ReLU
        | ReLU6
        | Flatten -> 0L

    let validate (model: Model) : Result<unit, string> =
        // Counts are products of sizes read from a file: kept in 64 bits, so that one past int.MaxValue cannot wrap
        // to a small count that an array of the wrong length matches.
        let checkLen what (arr: float32[]) (n: int64) =
            if n > int64 System.Array.MaxLength then
                Error $"{what} needs {n} values, more than the {System.Array.MaxLength} an array can hold"
            elif int64 arr.Length <> n then
                Error $"{what} has {arr.Length} values, expected {n}"
            else
                Ok()

        // Every window must hold at least one real element, as the integer kernels require.
        let checkPad (kernelH: int) (kernelW: int) (p: Padding) =
            if p.Top < 0 || p.Bottom < 0 || p.Left < 0 || p.Right < 0 then
                Error "padding must be non-negative"
            elif
                p.Top >= kernelH
                || p.Bottom >= kernelH
                || p.Left >= kernelW
                || p.Right >= kernelW
            then
                Error
                    $"padding {p.Top},{p.Bottom},{p.Left},{p.Right} (top, bottom, left, right) must be smaller than the kernel {kernelH}x{kernelW}"
            else
                Ok()

        let checkLayer (input: Shape3) layer =
            let conv (c: ConvSpec) perOut outC =
                if c.KernelH < 1 || c.KernelW < 1 || c.StrideH < 1 || c.StrideW < 1 then
                    Error "kernel and stride must be at least 1"
                else
                    checkPad c.KernelH c.KernelW c.Pad
                    |> Result.bind (fun () -> checkLen "weight" c.Weight (int64 outC * perOut))
                    |> Result.bind (fun () -> checkLen "bias" c.Bias (int64 outC))

            match layer with
            | Conv2d c -> conv c (int64 c.KernelH * int64 c.KernelW * int64 c.InChannels) c.OutChannels
            | Pointwise c ->
                if c.KernelH <> 1 || c.KernelW <> 1 then
                    Error "pointwise kernel must be 1x1"
                else
                    conv c (int64 c.InChannels) c.OutChannels
            | DepthwiseConv2d c ->
                if c.OutChannels <> c.InChannels then
                    Error "depthwise needs as many output channels as input channels"
                else
                    conv c (int64 c.KernelH * int64 c.KernelW) c.InChannels
            | Dense d ->
                checkLen "weight" d.Weight (int64 d.Inputs * int64 d.Outputs)
                |> Result.bind (fun () -> checkLen "bias" d.Bias (int64 d.Outputs))
            | BatchNorm b ->
                [ b.Beta; b.Mean; b.Var ]
                |> List.fold
                    (fun acc a ->
                        acc
                        |> Result.bind (fun () -> checkLen "batchnorm parameter" a (int64 b.Gamma.Length)))
                    (Ok())
            | MaxPool p
            | AvgPool p ->
                if p.KernelH < 1 || p.KernelW < 1 || p.StrideH < 1 || p.StrideW < 1 then
                    Error "pool kernel and stride must be at least 1"
                else
                    checkPad p.KernelH p.KernelW p.Pad
            | _ -> Ok()

        // inputs[k] is the input shape of layer k; lastAdd the index of the previous block's add (-1 if none).
        let inputs = ResizeArray<Shape3>()

        let residual i (shape: Shape3) lastAdd span =
            let first = i - span

            if span < 1 then
                Error $"span {span} must be at least 1"
            elif first < 0 then
                Error $"span {span} reaches before the first layer"
            elif first <= lastAdd then
                Error $"the block from layer {first} overlaps the block ending at layer {lastAdd}"
            elif inputs[first] <> shape then
                Error $"the block input {inputs[first]} (layer {first}) differs from the tensor it is added to {shape}"
            else
                Ok()

        // A tensor must fit in an array (a larger one once wrapped past int.MaxValue in Shape3.Size).
        let fits (shape: Shape3) =
            if shape.SizeInt64 > int64 System.Array.MaxLength then
                Error $"output {shape} has {shape.SizeInt64} elements, more than an array can hold"
            else
                Ok shape

        let rec go i (shape: Shape3) lastAdd layers =
            match layers with
            | [] -> Ok()
            | layer :: rest ->
                inputs.Add shape

                let check =
                    match layer with
                    | ResidualAdd span -> residual i shape lastAdd span
                    | _ -> checkLayer shape layer

                match check |> Result.bind (fun () -> outputShape shape layer) |> Result.bind fits with
                | Error e -> Error $"layer {i} ({kindName layer}): {e}"
                | Ok next -> go (i + 1) next (if layer.IsResidualAdd then i else lastAdd) rest

        if model.Input.H < 1 || model.Input.W < 1 || model.Input.C < 1 then
            Error $"input shape {model.Input} is empty"
        elif model.Input.SizeInt64 > int64 System.Array.MaxLength then
            Error $"input shape {model.Input} has more elements than an array can hold"
        else
            go 0 model.Input -1 model.Layers

    let checkFinite (model: Model) : Result<unit, string> =
        let arrays (layer: Layer) : (string * float32[]) list =
            match layer with
            | Conv2d c
            | DepthwiseConv2d c
            | Pointwise c -> [ "weight", c.Weight; "bias", c.Bias ]
            | Dense d -> [ "weight", d.Weight; "bias", d.Bias ]
            | BatchNorm b -> [
                "gamma", b.Gamma
                "beta", b.Beta
                "mean", b.Mean
                "var", b.Var
                "eps", [| b.Eps |]
              ]
            | _ -> []

        model.Layers
        |> List.indexed
        |> List.tryPick (fun (i, layer) ->
            arrays layer
            |> List.tryPick (fun (what, values) ->
                values
                |> Array.tryFindIndex (fun v -> not (System.Single.IsFinite v))
                |> Option.map (fun k ->
                    $"layer {i} ({kindName layer}): {what} {k} is {values[k]}, not a finite number")))
        |> function
            | Some e -> Error e
            | None -> Ok()

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

    let totalParams (model: Model) : int = model.Layers |> List.sumBy paramCount

    let totalMacs (model: Model) : int64 =
        describe model |> List.sumBy (fun l -> l.Macs)

    let residualBlocks (model: Model) : (int * int) list =
        model.Layers
        |> List.indexed
        |> List.choose (fun (i, l) ->
            match l with
            | ResidualAdd span -> Some(i - span, i)
            | _ -> None)

    let dropBlocks (positions: int list) (model: Model) : Model =
        let blocks = residualBlocks model |> List.toArray

        for p in positions do
            if p < 0 || p >= blocks.Length then
                invalidArg "positions" $"block {p} does not exist (model '{model.Name}' has {blocks.Length} blocks)"

        let dropped =
            positions
            |> List.map (fun p -> blocks[p])
            |> List.fold (fun (acc: Set<int>) (f, l) -> Set.union acc (Set.ofList [ f..l ])) Set.empty

        {
            model with
                Layers =
                    model.Layers
                    |> List.indexed
                    |> List.filter (fun (i, _) -> not (dropped.Contains i))
                    |> List.map snd
        }

    let peakActivationBytes (bytesPerElement: int) (model: Model) : int =
        let layers = List.toArray model.Layers
        // The skip tensor's elements held alive while layer i runs (0 outside blocks, at a block's first layer
        // (whose input it is) and at the add).
        let skip = Array.zeroCreate<int> layers.Length
        let info = describe model |> List.toArray

        for f, l in residualBlocks model do
            for i in f + 1 .. l - 1 do
                skip[i] <- info[f].InputShape.Size

        info
        |> Array.map (fun l ->
            match layers[l.Index] with
            // Fused into the layer before them (BN folding, activation clamps) or a view: no buffer of their own.
            | Flatten
            | BatchNorm _
            | ReLU
            | ReLU6 -> 0
            | _ -> (l.InputShape.Size + l.OutputShape.Size + skip[l.Index]) * bytesPerElement)
        |> Array.fold max (model.Input.Size * bytesPerElement)
