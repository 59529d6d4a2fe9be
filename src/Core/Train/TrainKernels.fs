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
            let r =
                Vector<float32>(y, yo + i)
                + Vector<float32>(a, ao + i) * Vector<float32>(b, bo + i)

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
        c.KernelH = 1
        && c.KernelW = 1
        && c.StrideH = 1
        && c.StrideW = 1
        && Padding.isNone c.Pad

    /// Scratch floats per sample the fast convolution needs: the im2col matrix (unless point-like) and one
    /// patch-gradient row; for depthwise, the weight gradient transposed.
    let convScratch (depthwise: bool) (c: ConvSpec) (inS: Shape3) (outS: Shape3) : int =
        if depthwise then
            c.KernelH * c.KernelW * inS.C
        else
            let k = c.KernelH * c.KernelW * inS.C
            (if isPointLike c then 0 else outS.H * outS.W * k) + k

    // Short copies and clears as plain loops: Array.Copy's call costs more than moving a few floats.
    let private copy (src: float32[]) (so: int) (dst: float32[]) (dstO: int) (n: int) =
        for i in 0 .. n - 1 do
            dst[dstO + i] <- src[so + i]

    let private clear (dst: float32[]) (o: int) (n: int) =
        for i in 0 .. n - 1 do
            dst[o + i] <- 0.0f

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
        let perOut =
            if depthwise then
                c.KernelH * c.KernelW
            else
                c.KernelH * c.KernelW * inS.C

        for oh in 0 .. outS.H - 1 do
            for ow in 0 .. outS.W - 1 do
                for oc in 0 .. outS.C - 1 do
                    let mutable acc = float c.Bias[oc]

                    for kh in 0 .. c.KernelH - 1 do
                        let ih = oh * c.StrideH - c.Pad.Top + kh

                        if ih >= 0 && ih < inS.H then
                            for kw in 0 .. c.KernelW - 1 do
                                let iw = ow * c.StrideW - c.Pad.Left + kw

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
        let perOut =
            if depthwise then
                c.KernelH * c.KernelW
            else
                c.KernelH * c.KernelW * inS.C

        let dxAcc = if needDx then Array.zeroCreate<float> inS.Size else [||]

        for oc in 0 .. outS.C - 1 do
            let wAcc = Array.zeroCreate<float> perOut
            let mutable bAcc = 0.0

            for oh in 0 .. outS.H - 1 do
                for ow in 0 .. outS.W - 1 do
                    let g = float dy[dyo + (oh * outS.W + ow) * outS.C + oc]
                    bAcc <- bAcc + g

                    for kh in 0 .. c.KernelH - 1 do
                        let ih = oh * c.StrideH - c.Pad.Top + kh

                        if ih >= 0 && ih < inS.H then
                            for kw in 0 .. c.KernelW - 1 do
                                let iw = ow * c.StrideW - c.Pad.Left + kw

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
                        let ih = oh * c.StrideH - c.Pad.Top + kh

                        for kw in 0 .. c.KernelW - 1 do
                            let iw = ow * c.StrideW - c.Pad.Left + kw
                            let dst = row + (kh * c.KernelW + kw) * inS.C

                            if ih >= 0 && ih < inS.H && iw >= 0 && iw < inS.W then
                                copy x (xo + (ih * inS.W + iw) * inS.C) scratch dst inS.C
                            else
                                clear scratch dst inS.C

        let col, co = if point then x, xo else scratch, so
        let vs = Vector<float32>.Count

        // out[p, o] = bias[o] + sum_j col[p, j] * wt[j, o]: a block of output channels stays in a register.
        for p in 0 .. pixels - 1 do
            let yr = yo + p * oc
            let cr = co + p * k
            let mutable o = 0

            while o <= oc - vs do
                let mutable acc = Vector<float32>(c.Bias, o)

                for j in 0 .. k - 1 do
                    acc <- acc + Vector<float32>(col[cr + j]) * Vector<float32>(wt, j * oc + o)

                acc.CopyTo(y, yr + o)
                o <- o + vs

            while o < oc do
                let mutable acc = c.Bias[o]

                for j in 0 .. k - 1 do
                    acc <- acc + col[cr + j] * wt[j * oc + o]

                y[yr + o] <- acc
                o <- o + 1

    /// Fast Conv2d/Pointwise backward of one sample (after convForwardFast left the im2col matrix in scratch);
    /// w is the weight (outC x k). dW = col^T dY and dX = dY W, each block accumulated in a register.
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
        let vs = Vector<float32>.Count
        let mutable o = 0

        while o <= oc - vs do
            let mutable bacc = Vector<float32>.Zero

            for p in 0 .. pixels - 1 do
                bacc <- bacc + Vector<float32>(dy, dyo + p * oc + o)

            for l in 0 .. vs - 1 do
                db[dbo + o + l] <- db[dbo + o + l] + bacc[l]

            for j in 0 .. k - 1 do
                let mutable acc = Vector<float32>.Zero

                for p in 0 .. pixels - 1 do
                    acc <-
                        acc
                        + Vector<float32>(col[co + p * k + j]) * Vector<float32>(dy, dyo + p * oc + o)

                for l in 0 .. vs - 1 do
                    dw[dwo + (o + l) * k + j] <- dw[dwo + (o + l) * k + j] + acc[l]

            o <- o + vs

        while o < oc do
            let mutable bacc = 0.0f

            for p in 0 .. pixels - 1 do
                bacc <- bacc + dy[dyo + p * oc + o]

            db[dbo + o] <- db[dbo + o] + bacc

            for j in 0 .. k - 1 do
                let mutable acc = 0.0f

                for p in 0 .. pixels - 1 do
                    acc <- acc + col[co + p * k + j] * dy[dyo + p * oc + o]

                dw[dwo + o * k + j] <- dw[dwo + o * k + j] + acc

            o <- o + 1

        if needDx then
            // The patch gradient of pixel p (k values): straight into dx when point-like, else into scratch
            // and then scattered back onto the input pixels the window read.
            let pr = so + (if point then 0 else pixels * k)

            if not point then
                Array.Clear(dx, dxo, inS.Size)

            for oh in 0 .. outS.H - 1 do
                for ow in 0 .. outS.W - 1 do
                    let p = oh * outS.W + ow
                    let dr = dyo + p * oc
                    let dst, dsto = if point then dx, dxo + p * k else scratch, pr
                    let mutable j = 0

                    while j <= k - vs do
                        let mutable acc = Vector<float32>.Zero

                        for o in 0 .. oc - 1 do
                            acc <- acc + Vector<float32>(dy[dr + o]) * Vector<float32>(w, o * k + j)

                        acc.CopyTo(dst, dsto + j)
                        j <- j + vs

                    while j < k do
                        let mutable acc = 0.0f

                        for o in 0 .. oc - 1 do
                            acc <- acc + dy[dr + o] * w[o * k + j]

                        dst[dsto + j] <- acc
                        j <- j + 1

                    if not point then
                        for kh in 0 .. c.KernelH - 1 do
                            let ih = oh * c.StrideH - c.Pad.Top + kh

                            if ih >= 0 && ih < inS.H then
                                for kw in 0 .. c.KernelW - 1 do
                                    let iw = ow * c.StrideW - c.Pad.Left + kw

                                    if iw >= 0 && iw < inS.W then
                                        let src = pr + (kh * c.KernelW + kw) * inS.C
                                        let d = dxo + (ih * inS.W + iw) * inS.C

                                        for i in 0 .. inS.C - 1 do
                                            dx[d + i] <- dx[d + i] + scratch[src + i]

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
                copy c.Bias 0 y yr ch

                for kh in 0 .. c.KernelH - 1 do
                    let ih = oh * c.StrideH - c.Pad.Top + kh

                    if ih >= 0 && ih < inS.H then
                        for kw in 0 .. c.KernelW - 1 do
                            let iw = ow * c.StrideW - c.Pad.Left + kw

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
                    let ih = oh * c.StrideH - c.Pad.Top + kh

                    if ih >= 0 && ih < inS.H then
                        for kw in 0 .. c.KernelW - 1 do
                            let iw = ow * c.StrideW - c.Pad.Left + kw

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

    /// Residual add of one sample (y = a + b over n values) or, in the backward pass, the sum of the body's and the
    /// shortcut's gradients; float32 adds, so both paths and Forward.fs compute the same values.
    let add (a: float32[]) (b: float32[]) (o: int) (y: float32[]) (n: int) : unit =
        let vs = Vector<float32>.Count
        let mutable i = 0

        while i <= n - vs do
            (Vector<float32>(a, o + i) + Vector<float32>(b, o + i)).CopyTo(y, o + i)
            i <- i + vs

        while i < n do
            y[o + i] <- a[o + i] + b[o + i]
            i <- i + 1

    /// Max or average pooling forward of one sample; for max, the index (within the sample) of the first maximum
    /// of each window is written to arg (-1 when it is a padded position, which holds zero and has no gradient).
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
                    let mutable first = true

                    for kh in 0 .. p.KernelH - 1 do
                        for kw in 0 .. p.KernelW - 1 do
                            let ih = oh * p.StrideH - p.Pad.Top + kh
                            let iw = ow * p.StrideW - p.Pad.Left + kw
                            let inside = ih >= 0 && ih < inS.H && iw >= 0 && iw < inS.W
                            // a padded position holds zero (index -1): it counts in the average and the maximum
                            let i = if inside then (ih * inS.W + iw) * inS.C + c else -1
                            let v = if inside then float x[xo + i] else 0.0

                            if isMax then
                                if first || v > acc then
                                    acc <- v
                                    best <- i
                                    first <- false
                            else
                                acc <- acc + v

                    if isMax then
                        y[yo + o] <- float32 acc
                        arg[yo + o] <- best
                    else
                        y[yo + o] <- float32 (acc / count)

    /// Max or average pooling backward of one sample (max uses the indices poolForward recorded); padded positions
    /// take their share of an average's gradient with them.
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
                let i = arg[dyo + o]

                if i >= 0 then
                    dx[dxo + i] <- dx[dxo + i] + g
            else
                let c = o % inS.C
                let ow = (o / inS.C) % outS.W
                let oh = o / inS.C / outS.W
                let share = g / count

                for kh in 0 .. p.KernelH - 1 do
                    for kw in 0 .. p.KernelW - 1 do
                        let ih = oh * p.StrideH - p.Pad.Top + kh
                        let iw = ow * p.StrideW - p.Pad.Left + kw

                        if ih >= 0 && ih < inS.H && iw >= 0 && iw < inS.W then
                            let i = (ih * inS.W + iw) * inS.C + c
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
    let clampBackward
        (cap: float32)
        (x: float32[])
        (xo: int)
        (dy: float32[])
        (dyo: int)
        (dx: float32[])
        (dxo: int)
        (n: int)
        : unit =
        for i in 0 .. n - 1 do
            let v = x[xo + i]
            dx[dxo + i] <- if v > 0.0f && v < cap then dy[dyo + i] else 0.0f

    /// Vectorised ReLU/ReLU6 forward over a range.
    let clampForwardFast (cap: float32) (x: float32[]) (xo: int) (y: float32[]) (yo: int) (n: int) : unit =
        let vs = Vector<float32>.Count
        let vcap = Vector<float32>(cap)
        let mutable i = 0

        while i <= n - vs do
            Vector.Min(Vector.Max(Vector<float32>(x, xo + i), Vector<float32>.Zero), vcap).CopyTo(y, yo + i)
            i <- i + vs

        while i < n do
            y[yo + i] <- min (max x[xo + i] 0.0f) cap
            i <- i + 1

    /// Vectorised ReLU/ReLU6 backward: the gradient passes where the input lies strictly inside (0, cap).
    let clampBackwardFast
        (cap: float32)
        (x: float32[])
        (xo: int)
        (dy: float32[])
        (dyo: int)
        (dx: float32[])
        (dxo: int)
        (n: int)
        : unit =
        let vs = Vector<float32>.Count
        let vcap = Vector<float32>(cap)
        let mutable i = 0

        while i <= n - vs do
            let v = Vector<float32>(x, xo + i)

            let inside =
                Vector.BitwiseAnd(Vector.GreaterThan(v, Vector<float32>.Zero), Vector.LessThan(v, vcap))

            Vector.ConditionalSelect(inside, Vector<float32>(dy, dyo + i), Vector<float32>.Zero).CopyTo(dx, dxo + i)
            i <- i + vs

        while i < n do
            let v = x[xo + i]
            dx[dxo + i] <- if v > 0.0f && v < cap then dy[dyo + i] else 0.0f
            i <- i + 1

    /// Vectorised average pooling forward of one sample (channels in blocks); padded positions add zero.
    let avgPoolForwardFast
        (p: PoolSpec)
        (inS: Shape3)
        (outS: Shape3)
        (x: float32[])
        (xo: int)
        (y: float32[])
        (yo: int)
        : unit =
        let ch = inS.C
        let inv = 1.0f / float32 (p.KernelH * p.KernelW)

        for oh in 0 .. outS.H - 1 do
            for ow in 0 .. outS.W - 1 do
                let yr = yo + (oh * outS.W + ow) * ch
                clear y yr ch

                for kh in 0 .. p.KernelH - 1 do
                    let ih = oh * p.StrideH - p.Pad.Top + kh

                    if ih >= 0 && ih < inS.H then
                        for kw in 0 .. p.KernelW - 1 do
                            let iw = ow * p.StrideW - p.Pad.Left + kw

                            if iw >= 0 && iw < inS.W then
                                axpy 1.0f x (xo + (ih * inS.W + iw) * ch) y yr ch

                for c in 0 .. ch - 1 do
                    y[yr + c] <- y[yr + c] * inv

    /// Vectorised average pooling backward of one sample (padded positions keep their share).
    let avgPoolBackwardFast
        (p: PoolSpec)
        (inS: Shape3)
        (outS: Shape3)
        (dy: float32[])
        (dyo: int)
        (dx: float32[])
        (dxo: int)
        : unit =
        let ch = inS.C
        let inv = 1.0f / float32 (p.KernelH * p.KernelW)
        Array.Clear(dx, dxo, inS.Size)

        for oh in 0 .. outS.H - 1 do
            for ow in 0 .. outS.W - 1 do
                let dr = dyo + (oh * outS.W + ow) * ch

                for kh in 0 .. p.KernelH - 1 do
                    let ih = oh * p.StrideH - p.Pad.Top + kh

                    if ih >= 0 && ih < inS.H then
                        for kw in 0 .. p.KernelW - 1 do
                            let iw = ow * p.StrideW - p.Pad.Left + kw

                            if iw >= 0 && iw < inS.W then
                                let d = dxo + (ih * inS.W + iw) * ch

                                for c in 0 .. ch - 1 do
                                    dx[d + c] <- dx[d + c] + dy[dr + c] * inv

    /// Per-channel sums of one sample (positions x ch values) into dst at dsto, in float32 vector blocks.
    let channelSumsFast (x: float32[]) (xo: int) (positions: int) (ch: int) (dst: float[]) (dsto: int) : unit =
        let vs = Vector<float32>.Count
        let mutable c = 0

        while c <= ch - vs do
            let mutable acc = Vector<float32>.Zero

            for p in 0 .. positions - 1 do
                acc <- acc + Vector<float32>(x, xo + p * ch + c)

            for l in 0 .. vs - 1 do
                dst[dsto + c + l] <- float acc[l]

            c <- c + vs

        while c < ch do
            let mutable acc = 0.0f

            for p in 0 .. positions - 1 do
                acc <- acc + x[xo + p * ch + c]

            dst[dsto + c] <- float acc
            c <- c + 1

    /// Per-channel sums of a * b over one sample, like channelSumsFast.
    let channelDotsFast
        (a: float32[])
        (b: float32[])
        (o: int)
        (positions: int)
        (ch: int)
        (dst: float[])
        (dsto: int)
        : unit =
        let vs = Vector<float32>.Count
        let mutable c = 0

        while c <= ch - vs do
            let mutable acc = Vector<float32>.Zero

            for p in 0 .. positions - 1 do
                acc <- acc + Vector<float32>(a, o + p * ch + c) * Vector<float32>(b, o + p * ch + c)

            for l in 0 .. vs - 1 do
                dst[dsto + c + l] <- float acc[l]

            c <- c + vs

        while c < ch do
            let mutable acc = 0.0f

            for p in 0 .. positions - 1 do
                acc <- acc + a[o + p * ch + c] * b[o + p * ch + c]

            dst[dsto + c] <- float acc
            c <- c + 1

    /// y = (x + shift[c]) * scale[c] + offset[c] per channel over one sample (positions x ch), vectorised;
    /// BatchNorm's normalisation (shift -mean, scale 1/std, offset 0) and its affine step both have this form.
    let channelAffineFast
        (x: float32[])
        (xo: int)
        (shift: float32[])
        (scale: float32[])
        (offset: float32[])
        (positions: int)
        (y: float32[])
        (yo: int)
        : unit =
        let ch = scale.Length
        let vs = Vector<float32>.Count

        for p in 0 .. positions - 1 do
            let r = p * ch
            let mutable c = 0

            while c <= ch - vs do
                let v =
                    (Vector<float32>(x, xo + r + c) + Vector<float32>(shift, c))
                    * Vector<float32>(scale, c)
                    + Vector<float32>(offset, c)

                v.CopyTo(y, yo + r + c)
                c <- c + vs

            while c < ch do
                y[yo + r + c] <- (x[xo + r + c] + shift[c]) * scale[c] + offset[c]
                c <- c + 1

    /// BatchNorm input gradient over one sample: dx = k1[c] * (dy - c1[c] - xhat * c2[c]), vectorised.
    let batchNormDxFast
        (dy: float32[])
        (xhat: float32[])
        (o: int)
        (k1: float32[])
        (c1: float32[])
        (c2: float32[])
        (positions: int)
        (dx: float32[])
        : unit =
        let ch = k1.Length
        let vs = Vector<float32>.Count

        for p in 0 .. positions - 1 do
            let r = o + p * ch
            let mutable c = 0

            while c <= ch - vs do
                let v =
                    Vector<float32>(k1, c)
                    * (Vector<float32>(dy, r + c)
                       - Vector<float32>(c1, c)
                       - Vector<float32>(xhat, r + c) * Vector<float32>(c2, c))

                v.CopyTo(dx, r + c)
                c <- c + vs

            while c < ch do
                dx[r + c] <- k1[c] * (dy[r + c] - c1[c] - xhat[r + c] * c2[c])
                c <- c + 1

    // ---- batch normalisation over a whole batch ----

    /// Inference-mode BatchNorm of one sample with running statistics (Forward.fs's formula); scale holds the
    /// per-channel gamma / sqrt(var + eps) in double.
    let batchNormInfer
        (b: BatchNormSpec)
        (scale: float[])
        (x: float32[])
        (xo: int)
        (y: float32[])
        (yo: int)
        (n: int)
        : unit =
        let ch = scale.Length

        for p in 0..ch .. n - 1 do
            for c in 0 .. ch - 1 do
                y[yo + p + c] <- float32 (scale[c] * (float x[xo + p + c] - float b.Mean[c]) + float b.Beta[c])

    /// Training-mode BatchNorm statistics from per-sample partial sums: partial holds, for each sample, ch sums
    /// (of x, or of (x - mean)^2); they are added in sample order so the result does not depend on scheduling.
    let reducePartials (partial: float[]) (samples: int) (ch: int) (dst: float[]) : unit =
        Array.Clear(dst, 0, ch)

        for s in 0 .. samples - 1 do
            for c in 0 .. ch - 1 do
                dst[c] <- dst[c] + partial[s * ch + c]
