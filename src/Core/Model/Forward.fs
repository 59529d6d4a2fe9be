namespace Tern.Core

open Tern.Runtime

[<RequireQualifiedAccess>]
module Forward =

    // Shared by Conv2d, Pointwise (kernel 1x1) and, with groups = channels, DepthwiseConv2d.
    // Weight rows: Conv/Pointwise (kh, kw, ic); Depthwise (kh, kw). Padding positions read as zero, so they are skipped.
    let private conv (depthwise: bool) (c: ConvSpec) (x: Tensor) (outShape: Shape3) : Tensor =
        let inS = x.Shape
        let src = x.Data
        let dst = Array.zeroCreate<float32> outShape.Size
        let outC = outShape.C

        let perOut =
            if depthwise then
                c.KernelH * c.KernelW
            else
                c.KernelH * c.KernelW * inS.C

        for oh in 0 .. outShape.H - 1 do
            for ow in 0 .. outShape.W - 1 do
                for oc in 0 .. outC - 1 do
                    let mutable acc = float c.Bias[oc]
                    let rowBase = oc * perOut

                    for kh in 0 .. c.KernelH - 1 do
                        let ih = oh * c.StrideH - c.Pad.Top + kh

                        if ih >= 0 && ih < inS.H then
                            for kw in 0 .. c.KernelW - 1 do
                                let iw = ow * c.StrideW - c.Pad.Left + kw

                                if iw >= 0 && iw < inS.W then
                                    let pixel = (ih * inS.W + iw) * inS.C

                                    if depthwise then
                                        acc <-
                                            acc + float c.Weight[rowBase + kh * c.KernelW + kw] * float src[pixel + oc]
                                    else
                                        let wBase = rowBase + (kh * c.KernelW + kw) * inS.C

                                        for ic in 0 .. inS.C - 1 do
                                            acc <- acc + float c.Weight[wBase + ic] * float src[pixel + ic]

                    dst[(oh * outShape.W + ow) * outC + oc] <- float32 acc

        { Shape = outShape; Data = dst }

    let private dense (d: DenseSpec) (x: Tensor) (outShape: Shape3) : Tensor =
        let src = x.Data
        let dst = Array.zeroCreate<float32> d.Outputs

        for o in 0 .. d.Outputs - 1 do
            let mutable acc = float d.Bias[o]
            let rowBase = o * d.Inputs

            for i in 0 .. d.Inputs - 1 do
                acc <- acc + float d.Weight[rowBase + i] * float src[i]

            dst[o] <- float32 acc

        { Shape = outShape; Data = dst }

    let private batchNorm (b: BatchNormSpec) (x: Tensor) : Tensor =
        let ch = x.Shape.C
        // Per-channel scale computed once; the formula is the spec's gamma*(x-mean)/sqrt(var+eps)+beta.
        let scale =
            Array.init ch (fun c -> float b.Gamma[c] / sqrt (float b.Var[c] + float b.Eps))

        let dst = Array.zeroCreate<float32> x.Data.Length

        for i in 0 .. dst.Length - 1 do
            let c = i % ch
            dst[i] <- float32 (scale[c] * (float x.Data[i] - float b.Mean[c]) + float b.Beta[c])

        { Shape = x.Shape; Data = dst }

    let private pool (isMax: bool) (p: PoolSpec) (x: Tensor) (outShape: Shape3) : Tensor =
        let inS = x.Shape
        let src = x.Data
        let dst = Array.zeroCreate<float32> outShape.Size
        let count = float (p.KernelH * p.KernelW)

        for oh in 0 .. outShape.H - 1 do
            for ow in 0 .. outShape.W - 1 do
                for c in 0 .. inS.C - 1 do
                    let mutable acc = if isMax then System.Double.NegativeInfinity else 0.0

                    for kh in 0 .. p.KernelH - 1 do
                        for kw in 0 .. p.KernelW - 1 do
                            let ih = oh * p.StrideH - p.Pad.Top + kh
                            let iw = ow * p.StrideW - p.Pad.Left + kw
                            // A padded position holds zero: it counts in the average and in the maximum.
                            let v =
                                if ih >= 0 && ih < inS.H && iw >= 0 && iw < inS.W then
                                    float src[(ih * inS.W + iw) * inS.C + c]
                                else
                                    0.0

                            acc <- if isMax then max acc v else acc + v

                    dst[(oh * outShape.W + ow) * inS.C + c] <- float32 (if isMax then acc else acc / count)

        { Shape = outShape; Data = dst }

    let private globalAvgPool (x: Tensor) : Tensor =
        let s = x.Shape
        let sums = Array.zeroCreate<float> s.C

        for i in 0 .. x.Data.Length - 1 do
            sums[i % s.C] <- sums[i % s.C] + float x.Data[i]

        let n = float (s.H * s.W)

        {
            Shape = Shape3(1, 1, s.C)
            Data = sums |> Array.map (fun v -> float32 (v / n))
        }

    // Applies a layer whose parameters and input shape have already been checked; skip gives the input of an
    // earlier layer by index (what a ResidualAdd adds).
    let private apply (skip: int -> Tensor) (l: Layer) (x: Tensor) (outShape: Shape3) : Tensor =
        match l with
        | Conv2d c
        | Pointwise c -> conv false c x outShape
        | DepthwiseConv2d c -> conv true c x outShape
        | Dense d -> dense d x outShape
        | BatchNorm b -> batchNorm b x
        | ReLU -> {
            Shape = x.Shape
            Data = x.Data |> Array.map (fun v -> max v 0.0f)
          }
        | ReLU6 -> {
            Shape = x.Shape
            Data = x.Data |> Array.map (fun v -> min (max v 0.0f) 6.0f)
          }
        | MaxPool p -> pool true p x outShape
        | AvgPool p -> pool false p x outShape
        | GlobalAvgPool -> globalAvgPool x
        // A copy, so that no two tensors handed out share an array.
        | Flatten -> {
            Shape = outShape
            Data = Array.copy x.Data
          }
        | ResidualAdd span ->
            let b = (skip span).Data
            // float32 sums: the same single rounding whether accumulated in double or not.
            {
                Shape = x.Shape
                Data = Array.init x.Data.Length (fun i -> x.Data[i] + b[i])
            }

    let private checkInput (model: Model) (x: Tensor) : Shape3 list =
        match Model.validate model with
        | Error e -> invalidArg "model" $"model '{model.Name}' is invalid: {e}"
        | Ok() ->
            if x.Shape <> model.Input then
                invalidArg "input" $"model '{model.Name}' expects input {model.Input}, got {x.Shape}"

            if x.Data.Length <> x.Shape.Size then
                invalidArg "input" $"input tensor of shape {x.Shape} holds {x.Data.Length} values"

            Model.shapes model |> List.tail

    let layer (l: Layer) (x: Tensor) : Tensor =
        let single = {
            Name = Model.kindName l
            Input = x.Shape
            Layers = [ l ]
            Classes = []
            Meta = Map.empty
        }

        match checkInput single x with
        | [ outShape ] -> apply (fun _ -> invalidArg "l" "a residual add needs its block") l x outShape
        | _ -> invalidArg "l" "one layer must give one output shape"

    // Every layer's output; inputs[k] is layer k's input, which a later ResidualAdd reads.
    let private outputs (model: Model) (x: Tensor) : Tensor list =
        let outShapes = checkInput model x |> List.toArray
        let layers = List.toArray model.Layers
        let inputs = Array.zeroCreate<Tensor>(layers.Length + 1)
        inputs[0] <- x

        for k in 0 .. layers.Length - 1 do
            inputs[k + 1] <- apply (fun span -> inputs[k - span]) layers[k] inputs[k] outShapes[k]

        inputs |> Array.toList |> List.tail

    let activations (model: Model) (x: Tensor) : Tensor list = outputs model x

    let run (model: Model) (x: Tensor) : Tensor =
        match List.tryLast (outputs model x) with
        | Some y -> y
        | None -> x
