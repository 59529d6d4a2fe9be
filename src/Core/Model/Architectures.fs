namespace Tern.Core

open System
open Tern.Runtime

/// Named model architectures with seeded random initialisation.
[<RequireQualifiedAccess>]
module Architectures =
    /// The activity classes of the radar seed, in output order.
    let radarClasses: string list = [ "jogging"; "jumping"; "situp"; "waving"; "other" ]

    /// He-normal weights (Box-Muller on the seeded generator), fan-in given.
    let private heNormal (rng: Random) (fanIn: int) (n: int) : float32[] =
        let std = sqrt (2.0 / float fanIn)

        Array.init n (fun _ ->
            let u1 = 1.0 - rng.NextDouble()
            let u2 = rng.NextDouble()
            float32 (std * sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2)))

    /// A convolution spec with He-initialised weights and zero bias.
    let conv (rng: Random) (inC: int) (outC: int) (k: int) (stride: int) (pad: int) : ConvSpec = {
        InChannels = inC
        OutChannels = outC
        KernelH = k
        KernelW = k
        StrideH = stride
        StrideW = stride
        Pad = Padding.symmetric pad pad
        Weight = heNormal rng (k * k * inC) (outC * k * k * inC)
        Bias = Array.zeroCreate outC
    }

    /// A depthwise spec (one k x k filter per channel).
    let depthwise (rng: Random) (channels: int) (k: int) (stride: int) (pad: int) : ConvSpec = {
        conv rng 1 channels k stride pad with
            InChannels = channels
            OutChannels = channels
            Weight = heNormal rng (k * k) (channels * k * k)
    }

    /// A batch norm in its initial state (identity on unit-variance data).
    let batchNorm (channels: int) : BatchNormSpec = {
        Gamma = Array.create channels 1.0f
        Beta = Array.zeroCreate channels
        Mean = Array.zeroCreate channels
        Var = Array.create channels 1.0f
        Eps = 1e-5f
    }

    /// A dense spec with He-initialised weights and zero bias.
    let dense (rng: Random) (inputs: int) (outputs: int) : DenseSpec = {
        Inputs = inputs
        Outputs = outputs
        Weight = heNormal rng inputs (inputs * outputs)
        Bias = Array.zeroCreate outputs
    }

    /// The default architecture in seed 000's shape for any input and class count:
    /// conv 3x3/2 (C->8) -> BN -> ReLU -> depthwise 3x3/2 -> BN -> ReLU -> pointwise 8->32 -> BN -> ReLU
    /// -> average pooling down to at most 4x4 -> flatten -> dense -> classes.
    let defaultFor (input: Shape3) (classes: string list) (seed: int) : Model =
        let rng = Random(seed)
        let half n = (n + 2 - 3) / 2 + 1
        let h, w = half (half input.H), half (half input.W)
        // Pool to at most 4x4; a side already that small is left alone.
        let kh, kw = max 1 (h / 4), max 1 (w / 4)
        let ph, pw = h / kh, w / kw

        let pool =
            if kh = 1 && kw = 1 then
                []
            else
                [
                    AvgPool {
                        KernelH = kh
                        KernelW = kw
                        StrideH = kh
                        StrideW = kw
                        Pad = Padding.none
                    }
                ]

        {
            Name = "default"
            Input = input
            Classes = classes
            Layers =
                [
                    Conv2d(conv rng input.C 8 3 2 1)
                    BatchNorm(batchNorm 8)
                    ReLU
                    DepthwiseConv2d(depthwise rng 8 3 2 1)
                    BatchNorm(batchNorm 8)
                    ReLU
                    Pointwise(conv rng 8 32 1 1 0)
                    BatchNorm(batchNorm 32)
                    ReLU
                ]
                @ pool
                @ [ Flatten; Dense(dense rng (ph * pw * 32) classes.Length) ]
            Meta = Map.empty
        }

    /// The default model for 64x64x1 spectrograms and the 5 radar classes: 3,109 parameters (3,013 once BN is
    /// folded; the seed's has 3,029).
    let defaultModel (seed: int) : Model =
        defaultFor (Shape3(64, 64, 1)) radarClasses seed

    // A 1 x k convolution over time (W), stride and padding along W only.
    let private conv1xk (rng: Random) (inC: int) (outC: int) (k: int) (stride: int) : ConvSpec = {
        InChannels = inC
        OutChannels = outC
        KernelH = 1
        KernelW = k
        StrideH = 1
        StrideW = stride
        Pad = Padding.symmetric 0 (k / 2)
        Weight = heNormal rng (k * inC) (outC * k * inC)
        Bias = Array.zeroCreate outC
    }

    /// For raw sensor windows 1 x W x C (time x axes): conv 1x5/2 (C->16) -> BN -> ReLU -> depthwise 1x5/2 ->
    /// BN -> ReLU -> pointwise 16->32 -> BN -> ReLU -> depthwise 1x5/2 -> BN -> ReLU -> pointwise 32->32 -> BN
    /// -> ReLU -> average pooling down to at most 4 wide -> flatten -> dense -> classes (3,045 parameters for
    /// 1x64x3 and 5 classes).
    let rawFor (input: Shape3) (classes: string list) (seed: int) : Model =
        if input.H <> 1 then
            invalidArg "input" $"raw1d takes 1 x W x C windows, got {input}"

        let rng = Random(seed)
        let half n = (n + 4 - 5) / 2 + 1
        let w = half (half (half input.W))
        let kw = max 1 (w / 4)
        let pw = w / kw

        let depthwise1xk (channels: int) = {
            conv1xk rng 1 channels 5 2 with
                InChannels = channels
                OutChannels = channels
                Weight = heNormal rng 5 (channels * 5)
        }

        let pool =
            if kw = 1 then
                []
            else
                [
                    AvgPool {
                        KernelH = 1
                        KernelW = kw
                        StrideH = 1
                        StrideW = kw
                        Pad = Padding.none
                    }
                ]

        {
            Name = "raw1d"
            Input = input
            Classes = classes
            Layers =
                [
                    Conv2d(conv1xk rng input.C 16 5 2)
                    BatchNorm(batchNorm 16)
                    ReLU
                    DepthwiseConv2d(depthwise1xk 16)
                    BatchNorm(batchNorm 16)
                    ReLU
                    Pointwise(conv rng 16 32 1 1 0)
                    BatchNorm(batchNorm 32)
                    ReLU
                    DepthwiseConv2d(depthwise1xk 32)
                    BatchNorm(batchNorm 32)
                    ReLU
                    Pointwise(conv rng 32 32 1 1 0)
                    BatchNorm(batchNorm 32)
                    ReLU
                ]
                @ pool
                @ [ Flatten; Dense(dense rng (pw * 32) classes.Length) ]
            Meta = Map.empty
        }

    /// A plain stack of 3x3 convolutions (pad 1, each followed by BN and ReLU) with the given widths and stride,
    /// then global average pooling (gap) or flattening, and a dense classifier: seed 001's backbone shape
    /// (widths 64, 128, 256, 384, 512), whose parameters sit in the convolutions, where filter pruning pays twice.
    let convStack
        (input: Shape3)
        (classes: string list)
        (widths: int list)
        (stride: int)
        (gap: bool)
        (seed: int)
        : Model =
        let rng = Random(seed)
        let out n = (n + 2 - 3) / stride + 1

        let convs, last =
            widths
            |> List.fold
                (fun (acc, (shape: Shape3)) width ->
                    let layers = [ Conv2d(conv rng shape.C width 3 stride 1); BatchNorm(batchNorm width); ReLU ]
                    acc @ layers, Shape3(out shape.H, out shape.W, width))
                ([], input)

        let head =
            if gap then
                [ GlobalAvgPool; Flatten; Dense(dense rng last.C classes.Length) ]
            else
                [ Flatten; Dense(dense rng last.Size classes.Length) ]

        {
            Name = "plain"
            Input = input
            Classes = classes
            Layers = convs @ head
            Meta = Map.empty
        }

    /// The "plain" architecture for any input: seed 001's five-layer stack at 1/8 of its widths (8, 16, 32, 48,
    /// 64), stride 2, global average pooling and a dense classifier (48,133 parameters, 1.01 M MACs for 64x64x1 and 5 classes).
    let plainFor (input: Shape3) (classes: string list) (seed: int) : Model =
        convStack input classes [ 8; 16; 32; 48; 64 ] 2 true seed

    /// MobileNetV2-style "blocks" for any input: stem conv 3x3/2 (C->8) -> BN -> ReLU6, then stages of inverted
    /// residual blocks (expand 1x1 -> BN -> ReLU6 -> depthwise 3x3 -> BN -> ReLU6 -> project 1x1 -> BN) with (t, c, n,
    /// s) = (2, 8, 3, 2), (2, 16, 4, 2), (2, 24, 3, 2), a stride of 2 only while the map is at least 8 on a side; a
    /// block that changes the shape (a stage's first, on 64x64) has no shortcut, the others end in ResidualAdd and
    /// can be dropped (Model.dropBlocks: 7 of them on 64x64x1, 1.03 M MACs) -> pointwise 32 -> BN -> ReLU6 -> global
    /// average pooling -> flatten -> dense -> classes.
    let blocksFor (input: Shape3) (classes: string list) (seed: int) : Model =
        let rng = Random(seed)
        let half n = (n - 1) / 2 + 1
        let cbr (l: Layer) (c: int) = [ l; BatchNorm(batchNorm c); ReLU6 ]

        let block inC outC stride =
            let hidden = 2 * inC

            cbr (Pointwise(conv rng inC hidden 1 1 0)) hidden
            @ cbr (DepthwiseConv2d(depthwise rng hidden 3 stride 1)) hidden
            @ [ Pointwise(conv rng hidden outC 1 1 0); BatchNorm(batchNorm outC) ]
            @ (if stride = 1 && inC = outC then [ ResidualAdd 8 ] else [])

        let stage (layers, c, h, w) (outC, n, wantStride) =
            let s = if wantStride = 2 && (h >= 8 || w >= 8) then 2 else 1

            let body =
                block c outC s @ List.concat (List.init (n - 1) (fun _ -> block outC outC 1))

            layers @ body, outC, (if s = 2 then half h else h), (if s = 2 then half w else w)

        let stem = cbr (Conv2d(conv rng input.C 8 3 2 1)) 8

        let body, c, _, _ =
            [ 8, 3, 2; 16, 4, 2; 24, 3, 2 ]
            |> List.fold stage (stem, 8, half input.H, half input.W)

        {
            Name = "blocks"
            Input = input
            Classes = classes
            Layers =
                body
                @ cbr (Pointwise(conv rng c 32 1 1 0)) 32
                @ [ GlobalAvgPool; Flatten; Dense(dense rng 32 classes.Length) ]
            Meta = Map.empty
        }

    /// A parametric architecture (ArchSpec) for any input: on 1 x W windows kernels are 1 x k and only W is strided.
    let ofSpec (spec: ArchSpec) (input: Shape3) (classes: string list) (seed: int) : Model =
        if spec.Widths.IsEmpty then
            invalidArg "spec" "an architecture needs at least one width"

        let rng = Random(seed)
        let k = spec.Kernel
        let oneD = input.H = 1
        // A side is halved only while it is at least 4, so that the last map keeps 2 positions a side.
        let stride (side: int) = if side >= 4 then 2 else 1
        let after (side: int) = (side - 1) / stride side + 1

        let kernel (inC: int) (outC: int) (fanIn: int) (count: int) (sh: int) (sw: int) : ConvSpec = {
            InChannels = inC
            OutChannels = outC
            KernelH = (if oneD then 1 else k)
            KernelW = k
            StrideH = sh
            StrideW = sw
            Pad = Padding.symmetric (if oneD then 0 else k / 2) (k / 2)
            Weight = heNormal rng fanIn count
            Bias = Array.zeroCreate outC
        }

        let taps = if oneD then k else k * k

        let full inC outC (h, w) =
            kernel inC outC (taps * inC) (outC * taps * inC) (stride h) (stride w)

        let dw c (sh, sw) = kernel c c taps (c * taps) sh sw
        let bnRelu c = [ BatchNorm(batchNorm c); ReLU ]

        let stage (layers, c, (h, w)) width =
            let strided = (stride h, stride w)
            let next = (after h, after w)

            let body =
                match spec.Family with
                | PlainStages -> Conv2d(full c width (h, w)) :: bnRelu width
                | SeparableStages
                | ResidualStages ->
                    DepthwiseConv2d(dw c strided) :: bnRelu c
                    @ [ Pointwise(conv rng c width 1 1 0) ]
                    @ bnRelu width

            let residual =
                match spec.Family with
                | ResidualStages ->
                    let branch =
                        DepthwiseConv2d(dw width (1, 1)) :: bnRelu width
                        @ [ Pointwise(conv rng width width 1 1 0); BatchNorm(batchNorm width) ]

                    branch @ [ ResidualAdd branch.Length ]
                | _ -> []

            layers @ body @ residual, width, next

        let h0 = if oneD then 1 else input.H
        let first = List.head spec.Widths
        let stem = Conv2d(full input.C first (h0, input.W)) :: bnRelu first
        let sides = (if oneD then 1 else after h0), after input.W

        let layers, c, (h, w) =
            spec.Widths |> List.tail |> List.fold stage (stem, first, sides)

        let head =
            match spec.Head with
            | GapHead -> [ GlobalAvgPool; Flatten; Dense(dense rng c classes.Length) ]
            | FlattenHead -> [ Flatten; Dense(dense rng (h * w * c) classes.Length) ]

        {
            Name = ArchSpec.name spec
            Input = input
            Classes = classes
            Layers = layers @ head
            Meta = Map.empty
        }

    /// Names accepted by `byName` and `forData`.
    let names: string list = [ "default"; "raw1d"; "plain"; "blocks" ]

    /// An architecture by name, or an error listing the known names (raw1d: 1x64x3 windows, 5 classes c0..c4; blocks:
    /// 64x64x1 and the radar classes).
    let byName (name: string) (seed: int) : Result<Model, string> =
        match name with
        | "default" -> Ok(defaultModel seed)
        | "raw1d" -> Ok(rawFor (Shape3(1, 64, 3)) (List.init 5 (sprintf "c%d")) seed)
        | "plain" -> Ok(plainFor (Shape3(64, 64, 1)) radarClasses seed)
        | "blocks" -> Ok(blocksFor (Shape3(64, 64, 1)) radarClasses seed)
        | other -> Error(sprintf "unknown architecture '%s' (known: %s)" other (String.concat ", " names))

    /// The smallest side input pooling may leave: the stems and stages halve every side, and a 64 x 64 radar
    /// spectrogram pooled by 4 still gives them 16 x 16, the resolution sp-sw-har's spectrograms are made at.
    [<Literal>]
    let MinPooledSide = 16

    /// "avgN-NAME" (N in 2..8): the input average-pooled N x N (1 x N for 1 x W windows), then NAME on the pooled
    /// input. A coarser resolution inside the model, for inputs whose full resolution the device budget cannot afford.
    let private (|PooledName|_|) (name: string) : (int * string) option =
        let m = Text.RegularExpressions.Regex.Match(name, "^avg([2-8])-(.+)$")

        if m.Success then
            Some(int m.Groups[1].Value, m.Groups[2].Value)
        else
            None

    /// An architecture by name shaped to a data set's input and classes, or an error.
    let rec forData (name: string) (input: Shape3) (classes: string list) (seed: int) : Result<Model, string> =
        match name with
        | PooledName(n, inner) ->
            let ph = if input.H = 1 then 1 else n

            if input.H % ph <> 0 || input.W % n <> 0 then
                Error $"architecture '{name}': the input {input} does not divide into {ph} x {n} pools"
            elif (ph > 1 && input.H / ph < MinPooledSide) || input.W / n < MinPooledSide then
                Error
                    $"architecture '{name}': pooling the input {input} by {n} leaves {input.H / ph} x {input.W / n}; pooled sides must stay at least {MinPooledSide}"
            else
                forData inner (Shape3(input.H / ph, input.W / n, input.C)) classes seed
                |> Result.map (fun m -> {
                    m with
                        Name = $"avg{n}-{m.Name}"
                        Input = input
                        Layers =
                            AvgPool {
                                KernelH = ph
                                KernelW = n
                                StrideH = ph
                                StrideW = n
                                Pad = Padding.none
                            }
                            :: m.Layers
                })
        | "default" -> Ok(defaultFor input classes seed)
        | "raw1d" when input.H <> 1 -> Error $"raw1d takes 1 x W x C windows, got {input}"
        | "raw1d" -> Ok(rawFor input classes seed)
        | "plain" -> Ok(plainFor input classes seed)
        | "blocks" -> Ok(blocksFor input classes seed)
        | other ->
            match ArchSpec.tryParse other with
            | Some(Ok spec) -> Ok(ofSpec spec input classes seed)
            | Some(Error e) -> Error e
            | None ->
                Error(
                    sprintf
                        "unknown architecture '%s' (known: %s, or a parametric one such as sep-16-32-32-k3-gap, each after avgN- to pool the input N x N first)"
                        other
                        (String.concat ", " names)
                )
