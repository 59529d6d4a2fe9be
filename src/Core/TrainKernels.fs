namespace Tern.Core

open System
open System.Numerics
open Tern.Runtime

/// Per-sample forward and backward kernels of training, in two versions: `Naive` (straightforward loops with
/// double accumulation, the oracle) and `Fast` (im2col-style loops vectorised with Vector<float32>).
/// Layouts are Forward.fs's: activations HWC, one sample after another in a batch array, so a kernel is given
/// the sample's offset. Parameter-gradient outputs are ADDED to (the caller gives each sample a zeroed slot);
/// input gradients are OVERWRITTEN.
[<RequireQualifiedAccess>]
module TrainKernels =

    // ---- vector helpers (one shared loop each: vector body, scalar tail) ----

    /// y[yo..yo+n) += a * x[xo..xo+n).
    let axpy (a: float32) (x: float32[]) (xo: int) (y: float32[]) (yo: int) (n: int) : unit =
        let vs = Vector<float32>.Count
        let mutable i = 0

        if n >= vs then
            let va = Vector<float32>(a)

            while i <= n - vs do
                let r = Vector<float32>(y, yo + i) + va * Vector<float32>(x, xo + i)
                r.CopyTo(y, yo + i)
                i <- i + vs

        while i < n do
            y[yo + i] <- y[yo + i] + a * x[xo + i]
            i <- i + 1

    /// y[yo..yo+n) += a[ao..) * b[bo..), element-wise.
    let mulAdd (a: float32[]) (ao: int) (b: float32[]) (bo: int) (y: float32[]) (yo: int) (n: int) : unit =
        let vs = Vector<float32>.Count
        let mutable i = 0

        while i <= n - vs do
            let r = Vector<float32>(y, yo + i) + Vector<float32>(a, ao + i) * Vector<float32>(b, bo + i)
            r.CopyTo(y, yo + i)
            i <- i + vs

        while i < n do
            y[yo + i] <- y[yo + i] + a[ao + i] * b[bo + i]
            i <- i + 1

    /// Dot product of a[ao..ao+n) and b[bo..bo+n) (vector lanes summed in a fixed order, then the tail).
    let dot (a: float32[]) (ao: int) (b: float32[]) (bo: int) (n: int) : float32 =
        let vs = Vector<float32>.Count
        let mutable i = 0
        let mutable acc = Vector<float32>.Zero

        while i <= n - vs do
            acc <- acc + Vector<float32>(a, ao + i) * Vector<float32>(b, bo + i)
            i <- i + vs

        let mutable s = Vector.Sum acc

        while i < n do
            s <- s + a[ao + i] * b[bo + i]
            i <- i + 1

        s

    /// Transposes a rows x cols matrix into dst (cols x rows).
    let transpose (src: float32[]) (rows: int) (cols: int) (dst: float32[]) : unit =
        for r in 0 .. rows - 1 do
            for c in 0 .. cols - 1 do
                dst[c * rows + r] <- src[r * cols + c]

    /// True when a convolution reads its input pixel by pixel (1x1 kernel, stride 1, no padding): no im2col needed.
    let isPointLike (c: ConvSpec) : bool =
        c.KernelH = 1 && c.KernelW = 1 && c.StrideH = 1 && c.StrideW = 1 && c.PadH = 0 && c.PadW = 0

    /// Scratch floats per sample the fast convolution needs (im2col matrix and one patch-gradient row).
    let convScratch (depthwise: bool) (c: ConvSpec) (inS: Shape3) (outS: Shape3) : int =
        if depthwise then
            c.KernelH * c.KernelW * inS.C
        elif isPointLike c then
            0
        else
            let k = c.KernelH * c.KernelW * inS.C
            outS.H * outS.W * k + k

    // ---- naive kernels: the oracle ----

    /// Naive convolution forward of one sample (Conv2d and Pointwise, or DepthwiseConv2d when depthwise).
    let convForwardNaive
        (depthwise: bool)
        (c: ConvSpec)
        (w: float32[])
        (inS: Shape3)
        (outS: Shape3)
        (x: float32[])
        (xo: int)
        (y: float32[])
        (yo: int)
        : unit =
        let perOut = if depthwise then c.KernelH * c.KernelW else c.KernelH * c.KernelW * inS.C

        for oh in 0 .. outS.H - 1 do
            for ow in 0 .. outS.W - 1 do
                for oc in 0 .. outS.C - 1 do
                    let mutable acc = float c.Bias[oc]

                    for kh in 0 .. c.KernelH - 1 do
                        let ih = oh * c.StrideH - c.PadH + kh

                        if ih >= 0 && ih < inS.H then
                            for kw in 0 .. c.KernelW - 1 do
                                let iw = ow * c.StrideW - c.PadW + kw

                                if iw >= 0 && iw < inS.W then
                                    let pixel = xo + (ih * inS.W + iw) * inS.C

                                    if depthwise then
                                        acc <- acc + float w[oc * perOut + kh * c.KernelW + kw] * float x[pixel + oc]
                                    else
                                        let wb = oc * perOut + (kh * c.KernelW + kw) * inS.C

                                        for ic in 0 .. inS.C - 1 do
                                            acc <- acc + float w[wb + ic] * float x[pixel + ic]

                    y[yo + (oh * outS.W + ow) * outS.C + oc] <- float32 acc

    /// Naive convolution backward of one sample: adds dW and dB, writes dX when needDx.
    let convBackwardNaive
        (depthwise: bool)
        (c: ConvSpec)
        (w: float32[])
        (inS: Shape3)
        (outS: Shape3)
        (x: float32[])
        (xo: int)
        (dy: float32[])
        (dyo: int)
        (needDx: bool)
        (dx: float32[])
        (dxo: int)
        (dw: float32[])
        (dwo: int)
        (db: float32[])
        (dbo: int)
        : unit =
        let perOut = if depthwise then c.KernelH * c.KernelW else c.KernelH * c.KernelW * inS.C
        let dxAcc = if needDx then Array.zeroCreate<float> inS.Size else [||]

        for oc in 0 .. outS.C - 1 do
            let wAcc = Array.zeroCreate<float> perOut
            let mutable bAcc = 0.0

            for oh in 0 .. outS.H - 1 do
                for ow in 0 .. outS.W - 1 do
                    let g = float dy[dyo + (oh * outS.W + ow) * outS.C + oc]
                    bAcc <- bAcc + g

                    for kh in 0 .. c.KernelH - 1 do
                        let ih = oh * c.StrideH - c.PadH + kh

                        if ih >= 0 && ih < inS.H then
                            for kw in 0 .. c.KernelW - 1 do
                                let iw = ow * c.StrideW - c.PadW + kw

                                if iw >= 0 && iw < inS.W then
                                    let pixel = (ih * inS.W + iw) * inS.C

                                    if depthwise then
                                        let k = kh * c.KernelW + kw
                                        wAcc[k] <- wAcc[k] + g * float x[xo + pixel + oc]

                                        if needDx then
                                            dxAcc[pixel + oc] <- dxAcc[pixel + oc] + g * float w[oc * perOut + k]
                                    else
                                        for ic in 0 .. inS.C - 1 do
                                            let k = (kh * c.KernelW + kw) * inS.C + ic
                                            wAcc[k] <- wAcc[k] + g * float x[xo + pixel + ic]

                                            if needDx then
                                                dxAcc[pixel + ic] <- dxAcc[pixel + ic] + g * float w[oc * perOut + k]

            for k in 0 .. perOut - 1 do
                dw[dwo + oc * perOut + k] <- dw[dwo + oc * perOut + k] + float32 wAcc[k]

            db[dbo + oc] <- db[dbo + oc] + float32 bAcc

        if needDx then
            for i in 0 .. inS.Size - 1 do
                dx[dxo + i] <- float32 dxAcc[i]

    /// Naive dense forward of one sample.
    let denseForwardNaive (d: DenseSpec) (w: float32[]) (x: float32[]) (xo: int) (y: float32[]) (yo: int) : unit =
        for o in 0 .. d.Outputs - 1 do
            let mutable acc = float d.Bias[o]

            for i in 0 .. d.Inputs - 1 do
                acc <- acc + float w[o * d.Inputs + i] * float x[xo + i]

            y[yo + o] <- float32 acc

    /// Naive dense backward of one sample: adds dW and dB, writes dX when needDx.
    let denseBackwardNaive
        (d: DenseSpec)
        (w: float32[])
        (x: float32[])
        (xo: int)
        (dy: float32[])
        (dyo: int)
        (needDx: bool)
        (dx: float32[])
        (dxo: int)
        (dw: float32[])
        (dwo: int)
        (db: float32[])
        (dbo: int)
        : unit =
        for o in 0 .. d.Outputs - 1 do
            let g = dy[dyo + o]
            db[dbo + o] <- db[dbo + o] + g

            for i in 0 .. d.Inputs - 1 do
                dw[dwo + o * d.Inputs + i] <- float32 (float dw[dwo + o * d.Inputs + i] + float g * float x[xo + i])

        if needDx then
            for i in 0 .. d.Inputs - 1 do
                let mutable acc = 0.0

                for o in 0 .. d.Outputs - 1 do
                    acc <- acc + float dy[dyo + o] * float w[o * d.Inputs + i]

                dx[dxo + i] <- float32 acc

    // ---- fast kernels ----

    /// Fast Conv2d/Pointwise forward of one sample; wt is the weight transposed to (kh, kw, ic) x outC.
    /// The im2col matrix of the sample is left in scratch (at so) for the backward pass.
    let convForwardFast
        (c: ConvSpec)
        (wt: float32[])
        (inS: Shape3)
        (outS: Shape3)
        (x: float32[])
        (xo: int)
        (scratch: float32[])
        (so: int)
        (y: float32[])
        (yo: int)
        : unit =
        let k = c.KernelH * c.KernelW * inS.C
        let oc = outS.C
        let pixels = outS.H * outS.W
        let point = isPointLike c

        if not point then
            // im2col: one row of k values per output pixel, zeros where the window reads padding.
            for oh in 0 .. outS.H - 1 do
                for ow in 0 .. outS.W - 1 do
                    let row = so + (oh * outS.W + ow) * k

                    for kh in 0 .. c.KernelH - 1 do
                        let ih = oh * c.StrideH - c.PadH + kh

                        for kw in 0 .. c.KernelW - 1 do
                            let iw = ow * c.StrideW - c.PadW + kw
                            let dst = row + (kh * c.KernelW + kw) * inS.C

                            if ih >= 0 && ih < inS.H && iw >= 0 && iw < inS.W then
                                Array.Copy(x, xo + (ih * inS.W + iw) * inS.C, scratch, dst, inS.C)
                            else
                                Array.Clear(scratch, dst, inS.C)

        let col, co = if point then x, xo else scratch, so

        for p in 0 .. pixels - 1 do
            let yr = yo + p * oc
            Array.Copy(c.Bias, 0, y, yr, oc)
            let cr = co + p * k

            for j in 0 .. k - 1 do
                let a = col[cr + j]
                // Inputs after ReLU are often exactly zero; skipping them changes nothing in the sum.
                if a <> 0.0f then
                    axpy a wt (j * oc) y yr oc

    /// Fast Conv2d/Pointwise backward of one sample (after convForwardFast left the im2col matrix in scratch).
    let convBackwardFast
        (c: ConvSpec)
        (w: float32[])
        (inS: Shape3)
        (outS: Shape3)
        (x: float32[])
        (xo: int)
        (scratch: float32[])
        (so: int)
        (dy: float32[])
        (dyo: int)
        (needDx: bool)
        (dx: float32[])
        (dxo: int)
        (dw: float32[])
        (dwo: int)
        (db: float32[])
        (dbo: int)
        : unit =
        let k = c.KernelH * c.KernelW * inS.C
        let oc = outS.C
        let pixels = outS.H * outS.W
        let point = isPointLike c
        let col, co = if point then x, xo else scratch, so

        for p in 0 .. pixels - 1 do
            let dr = dyo + p * oc
            let cr = co + p * k

            for o in 0 .. oc - 1 do
                let g = dy[dr + o]

                if g <> 0.0f then
                    db[dbo + o] <- db[dbo + o] + g
                    axpy g col cr dw (dwo + o * k) k

        if needDx then
            Array.Clear(dx, dxo, inS.Size)

            if point then
                for p in 0 .. pixels - 1 do
                    let dr = dyo + p * oc

                    for o in 0 .. oc - 1 do
                        let g = dy[dr + o]

                        if g <> 0.0f then
                            axpy g w (o * k) dx (dxo + p * k) k
            else
                // One patch-gradient row (after the im2col matrix in scratch), then scattered back onto the input.
                let pr = so + pixels * k

                for oh in 0 .. outS.H - 1 do
                    for ow in 0 .. outS.W - 1 do
                        let dr = dyo + (oh * outS.W + ow) * oc
                        Array.Clear(scratch, pr, k)

                        for o in 0 .. oc - 1 do
                            let g = dy[dr + o]

                            if g <> 0.0f then
                                axpy g w (o * k) scratch pr k

                        for kh in 0 .. c.KernelH - 1 do
                            let ih = oh * c.StrideH - c.PadH + kh

                            if ih >= 0 && ih < inS.H then
                                for kw in 0 .. c.KernelW - 1 do
                                    let iw = ow * c.StrideW - c.PadW + kw

                                    if iw >= 0 && iw < inS.W then
                                        axpy
                                            1.0f
                                            scratch
                                            (pr + (kh * c.KernelW + kw) * inS.C)
                                            dx
                                            (dxo + (ih * inS.W + iw) * inS.C)
                                            inS.C

    /// Fast depthwise forward of one sample; wt is the weight transposed to (kh, kw) x channels.
    let depthwiseForwardFast
        (c: ConvSpec)
        (wt: float32[])
        (inS: Shape3)
        (outS: Shape3)
        (x: float32[])
        (xo: int)
        (y: float32[])
        (yo: int)
        : unit =
        let ch = inS.C

        for oh in 0 .. outS.H - 1 do
            for ow in 0 .. outS.W - 1 do
                let yr = yo + (oh * outS.W + ow) * ch
                Array.Copy(c.Bias, 0, y, yr, ch)

                for kh in 0 .. c.KernelH - 1 do
                    let ih = oh * c.StrideH - c.PadH + kh

                    if ih >= 0 && ih < inS.H then
                        for kw in 0 .. c.KernelW - 1 do
                            let iw = ow * c.StrideW - c.PadW + kw

                            if iw >= 0 && iw < inS.W then
                                mulAdd x (xo + (ih * inS.W + iw) * ch) wt ((kh * c.KernelW + kw) * ch) y yr ch

    /// Fast depthwise backward of one sample; the weight gradient is gathered transposed in scratch, then added to dw.
    let depthwiseBackwardFast
        (c: ConvSpec)
        (wt: float32[])
        (inS: Shape3)
        (outS: Shape3)
        (x: float32[])
        (xo: int)
        (scratch: float32[])
        (so: int)
        (dy: float32[])
        (dyo: int)
        (needDx: bool)
        (dx: float32[])
        (dxo: int)
        (dw: float32[])
        (dwo: int)
        (db: float32[])
        (dbo: int)
        : unit =
        let ch = inS.C
        let kk = c.KernelH * c.KernelW
        Array.Clear(scratch, so, kk * ch)

        if needDx then
            Array.Clear(dx, dxo, inS.Size)

        for oh in 0 .. outS.H - 1 do
            for ow in 0 .. outS.W - 1 do
                let dr = dyo + (oh * outS.W + ow) * ch

                for i in 0 .. ch - 1 do
                    db[dbo + i] <- db[dbo + i] + dy[dr + i]

                for kh in 0 .. c.KernelH - 1 do
                    let ih = oh * c.StrideH - c.PadH + kh

                    if ih >= 0 && ih < inS.H then
                        for kw in 0 .. c.KernelW - 1 do
                            let iw = ow * c.StrideW - c.PadW + kw

                            if iw >= 0 && iw < inS.W then
                                let pixel = (ih * inS.W + iw) * ch
                                let wk = (kh * c.KernelW + kw) * ch
                                mulAdd x (xo + pixel) dy dr scratch (so + wk) ch

                                if needDx then
                                    mulAdd wt wk dy dr dx (dxo + pixel) ch

        for i in 0 .. ch - 1 do
            for j in 0 .. kk - 1 do
                dw[dwo + i * kk + j] <- dw[dwo + i * kk + j] + scratch[so + j * ch + i]

    /// Fast dense forward of one sample.
    let denseForwardFast (d: DenseSpec) (w: float32[]) (x: float32[]) (xo: int) (y: float32[]) (yo: int) : unit =
        for o in 0 .. d.Outputs - 1 do
            y[yo + o] <- d.Bias[o] + dot w (o * d.Inputs) x xo d.Inputs

    /// Fast dense backward of one sample.
    let denseBackwardFast
        (d: DenseSpec)
        (w: float32[])
        (x: float32[])
        (xo: int)
        (dy: float32[])
        (dyo: int)
        (needDx: bool)
        (dx: float32[])
        (dxo: int)
        (dw: float32[])
        (dwo: int)
        (db: float32[])
        (dbo: int)
        : unit =
        if needDx then
            Array.Clear(dx, dxo, d.Inputs)

        for o in 0 .. d.Outputs - 1 do
            let g = dy[dyo + o]
            db[dbo + o] <- db[dbo + o] + g

            if g <> 0.0f then
                axpy g x xo dw (dwo + o * d.Inputs) d.Inputs

                if needDx then
                    axpy g w (o * d.Inputs) dx dxo d.Inputs

    // ---- layers without parameters (simple loops serve both paths) ----

    /// Max or average pooling forward of one sample; for max, the index (within the sample) of the first maximum
    /// of each window is written to arg.
    let poolForward
        (isMax: bool)
        (p: PoolSpec)
        (inS: Shape3)
        (outS: Shape3)
        (x: float32[])
        (xo: int)
        (y: float32[])
        (yo: int)
        (arg: int[])
        : unit =
        let count = float (p.KernelH * p.KernelW)

        for oh in 0 .. outS.H - 1 do
            for ow in 0 .. outS.W - 1 do
                for c in 0 .. inS.C - 1 do
                    let o = (oh * outS.W + ow) * inS.C + c
                    let mutable acc = if isMax then Double.NegativeInfinity else 0.0
                    let mutable best = -1

                    for kh in 0 .. p.KernelH - 1 do
                        for kw in 0 .. p.KernelW - 1 do
                            let i = ((oh * p.StrideH + kh) * inS.W + ow * p.StrideW + kw) * inS.C + c
                            let v = float x[xo + i]

                            if isMax then
                                if best < 0 || v > acc then
                                    acc <- v
                                    best <- i
                            else
                                acc <- acc + v

                    if isMax then
                        y[yo + o] <- float32 acc
                        arg[yo + o] <- best
                    else
                        y[yo + o] <- float32 (acc / count)

    /// Max or average pooling backward of one sample (max uses the indices poolForward recorded).
    let poolBackward
        (isMax: bool)
        (p: PoolSpec)
        (inS: Shape3)
        (outS: Shape3)
        (dy: float32[])
        (dyo: int)
        (arg: int[])
        (dx: float32[])
        (dxo: int)
        : unit =
        Array.Clear(dx, dxo, inS.Size)
        let count = float32 (p.KernelH * p.KernelW)

        for o in 0 .. outS.Size - 1 do
            let g = dy[dyo + o]

            if isMax then
                dx[dxo + arg[dyo + o]] <- dx[dxo + arg[dyo + o]] + g
            else
                let c = o % inS.C
                let ow = (o / inS.C) % outS.W
                let oh = o / inS.C / outS.W
                let share = g / count

                for kh in 0 .. p.KernelH - 1 do
                    for kw in 0 .. p.KernelW - 1 do
                        let i = ((oh * p.StrideH + kh) * inS.W + ow * p.StrideW + kw) * inS.C + c
                        dx[dxo + i] <- dx[dxo + i] + share

    /// Global average pooling forward of one sample.
    let globalAvgForward (inS: Shape3) (x: float32[]) (xo: int) (y: float32[]) (yo: int) : unit =
        let n = float (inS.H * inS.W)

        for c in 0 .. inS.C - 1 do
            let mutable acc = 0.0

            for p in 0 .. inS.H * inS.W - 1 do
                acc <- acc + float x[xo + p * inS.C + c]

            y[yo + c] <- float32 (acc / n)

    /// Global average pooling backward of one sample.
    let globalAvgBackward (inS: Shape3) (dy: float32[]) (dyo: int) (dx: float32[]) (dxo: int) : unit =
        let n = float32 (inS.H * inS.W)

        for i in 0 .. inS.Size - 1 do
            dx[dxo + i] <- dy[dyo + i % inS.C] / n

    /// ReLU (cap = +infinity) or ReLU6 (cap = 6) forward over a range.
    let clampForward (cap: float32) (x: float32[]) (xo: int) (y: float32[]) (yo: int) (n: int) : unit =
        for i in 0 .. n - 1 do
            y[yo + i] <- min (max x[xo + i] 0.0f) cap

    /// ReLU/ReLU6 backward: the gradient passes where the input lies strictly inside (0, cap).
    let clampBackward (cap: float32) (x: float32[]) (xo: int) (dy: float32[]) (dyo: int) (dx: float32[]) (dxo: int) (n: int) : unit =
        for i in 0 .. n - 1 do
            let v = x[xo + i]
            dx[dxo + i] <- if v > 0.0f && v < cap then dy[dyo + i] else 0.0f

    // ---- batch normalisation over a whole batch ----

    /// Inference-mode BatchNorm of one sample with running statistics (Forward.fs's formula).
    let batchNormInfer (b: BatchNormSpec) (ch: int) (x: float32[]) (xo: int) (y: float32[]) (yo: int) (n: int) : unit =
        for i in 0 .. n - 1 do
            let c = i % ch
            let scale = float b.Gamma[c] / sqrt (float b.Var[c] + float b.Eps)
            y[yo + i] <- float32 (scale * (float x[xo + i] - float b.Mean[c]) + float b.Beta[c])

    /// Training-mode BatchNorm statistics from per-sample partial sums: partial holds, for each sample, ch sums
    /// (of x, or of (x - mean)^2); they are added in sample order so the result does not depend on scheduling.
    let reducePartials (partial: float[]) (samples: int) (ch: int) (dst: float[]) : unit =
        Array.Clear(dst, 0, ch)

        for s in 0 .. samples - 1 do
            for c in 0 .. ch - 1 do
                dst[c] <- dst[c] + partial[s * ch + c]
