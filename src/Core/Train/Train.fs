namespace Tern.Core

open System
open System.Diagnostics
open System.Threading.Tasks
open Tern.Runtime

/// Which implementation of the training kernels a session uses.
type TrainPath =
    /// Straightforward loops, one sample after another on one thread: the oracle and the benchmark baseline.
    | Naive
    /// Vectorised im2col-style kernels, the samples of a batch spread over threads.
    | Optimised

/// What early stopping watches on the validation split.
type EarlyStopOn =
    | ValidLoss
    | ValidAccuracy

/// Fake quantization of activations during training (int8 activation QAT). A range index names a tensor as
/// Lower does: 0 is the model input, i + 1 the output of layer i.
///
/// Forward: q(x) = (clamp(roundHalfAway(x / s) + z, -128, 127) - z) * s with s, z = ActivationGrid.ofRange lo hi
/// (the grid Lower uses), so training sees the integer model's grid. Backward (straight-through,
/// PACT-style): dq/dx = 1 where the code is inside [-128, 127] and 0 where it clamps; dq/dlo = 1 where it clamps
/// below and dq/dhi = 1 where it clamps above (the derivative of the smooth surrogate clamp(x, lo, hi)), 0 elsewhere.
type ActivationQuant = {
    /// Initial [lo, hi] by range index of the tensors fake-quantized on a range of their own.
    Ranges: Map<int, float * float>
    /// Tensors rounded onto another range's grid, without a range of their own (range index -> index of the range
    /// used): pool outputs, which the integer model keeps on its input's scale and zero point.
    Follow: Map<int, int>
    /// Range indices whose bounds stay fixed (no gradient step).
    Frozen: Set<int>
    /// The bounds' learning rate relative to the weights'.
    RateScale: float
}

/// Training settings.
type TrainConfig = {
    Epochs: int
    BatchSize: int
    Optimizer: Optimizer
    Schedule: Schedule
    /// L2 coefficient, applied to Conv2d/DepthwiseConv2d/Pointwise/Dense weights only: never to biases or to
    /// BatchNorm gamma and beta (decaying those only fights the normalisation).
    WeightDecay: float
    /// Weight the loss of each class by its inverse training frequency (see Train.classWeights).
    ClassWeighted: bool
    /// Label smoothing e in [0, 1): cross-entropy against (1 - e) one-hot + e / K (SoftmaxLoss); 0 is off.
    LabelSmoothing: float
    /// Exponential moving average of the weights, per step (e.g. 0.99; 0 is off): validation, the best epoch and
    /// the returned model use the average (parameters, running statistics and activation ranges alike). Off by
    /// default: +0.8 pp on sp-sw-har's LOSO, -0.1 to -0.6 pp on the radar (docs/training-options.md).
    Ema: float
    /// Knowledge distillation: the teacher model (run in inference mode on the same, augmented, batch) and the
    /// blend (SoftmaxLoss.sample); the teacher's input and outputs must be the student's. None trains on labels alone.
    Distill: (Model * Distillation) option
    /// With a validation split: stop after this many epochs without improvement of Monitor and return the best
    /// epoch's weights. None trains every epoch and returns the last weights.
    Patience: int option
    Monitor: EarlyStopOn
    /// Seeds the shuffling (the IR has no dropout); the same seed gives identical weights.
    Seed: int
    /// Worker threads per batch, 0 for every core. Results are bit-identical for any value: each sample is
    /// computed alone and per-sample gradients are added in sample order.
    Threads: int
    Path: TrainPath
    /// Quantization-aware hook: given (layer index, raw weights) returns the weights the forward pass uses;
    /// the gradient passes straight through to the raw weights. None is the identity.
    WeightTransform: (int -> float32[] -> float32[]) option
    /// Keep-masks of weights by layer index (Conv2d, DepthwiseConv2d, Pointwise, Dense): false entries are
    /// set to zero and stay zero through every update (magnitude pruning).
    Masks: Map<int, bool[]>
    Augment: Augmentation
    /// Fake-quantized activations with learned ranges (see ActivationQuant); None costs nothing.
    ActivationQuant: ActivationQuant option
}

/// One epoch of training (Epoch is 1-based).
type EpochLog = {
    Epoch: int
    Epochs: int
    LearningRate: float
    TrainLoss: float
    TrainAccuracy: float
    ValidLoss: float option
    ValidAccuracy: float option
    Seconds: float
}

/// The trained model (best epoch's weights when early stopping was on), the history and the best epoch (1-based).
type TrainResult = {
    Model: Model
    History: EpochLog list
    BestEpoch: int
    StoppedEarly: bool
}

/// Loss and gradients of one batch in training mode: parameters as (layer index, name, gradient) with names
/// weight/bias or gamma/beta, and the gradient of the loss with respect to each input sample.
type Gradients = {
    Loss: float
    Params: (int * string * float32[]) list
    Inputs: float32[][]
}

type internal Param = {
    Name: string
    Values: float32[]
    Grad: float32[]
    /// One gradient slot per sample of a batch, added up in sample order.
    Slots: float32[]
    State: ParamState
    Decay: bool
    Keep: bool[] option
}

type internal Node = {
    Index: int
    /// The layer whose parameter arrays are the live, trained ones (shared with Params and the running statistics).
    Live: Layer
    In: Shape3
    Out: Shape3
    Params: Param[]
    mutable Eff: float32[]
    /// Effective weights transposed for the fast forward kernels.
    Wt: float32[]
    Y: float32[]
    DX: float32[]
    Scratch: float32[]
    ScratchLen: int
    Arg: int[]
    XHat: float32[]
    Mean: float[]
    InvStd: float[]
    Partial: float[]
    Sums: float[]
    /// Per-channel float32 factors of the vectorised BatchNorm.
    ChanA: float32[]
    ChanB: float32[]
    ChanC: float32[]
    Zeros: float32[]
    Ones: float32[]
}

/// One fake-quantized tensor of a session.
type internal QuantPoint = {
    /// Range index of the tensor (0 = input, i + 1 = output of layer i).
    Index: int
    /// The range [lo, hi] whose grid it uses (Values = [| lo; hi |]); shared by a follower with its source.
    Range: Param
    /// Whether this point owns Range (its gradient and update); followers only round.
    Owns: bool
    Learn: bool
    Size: int
    /// Per element of the batch: 0 inside the grid, -1 clamped below, +1 clamped above.
    Region: sbyte[]
    /// Per sample: the gradient sums to lo and hi, added up in sample order.
    Partial: float[]
}

/// A model being trained: parameter copies, batch buffers and optimiser state.
type TrainSession = internal {
    Config: TrainConfig
    Model: Model
    Nodes: Node[]
    Capacity: int
    Input: float32[]
    LossGrad: float32[]
    ClassWeights: float32[] option
    Threads: int
    mutable NeedInputGrad: bool
    /// Fake quantization by range index (length = layers + 1); empty when ActivationQuant is None.
    QuantAt: QuantPoint option[]
    /// First layer of each residual block -> the block's ResidualAdd (the shortcut's gradient joins there).
    BlockEnds: Map<int, int>
    /// The distillation teacher's session (inference mode only) and the blend; None without Distill.
    Teacher: (TrainSession * Distillation) option
}

/// Float training of every layer kind: forward and backward, SGD/Adam, schedules, early stopping.
[<RequireQualifiedAccess>]
module Train =

    /// Adam 1e-3, 30 epochs of 32, cosine schedule, weight decay 1e-4, early stopping after 8 epochs on validation loss.
    let defaultConfig: TrainConfig = {
        Epochs = 30
        BatchSize = 32
        Optimizer = Adam(1e-3, 0.9, 0.999, 1e-8)
        Schedule = Cosine 0
        WeightDecay = 1e-4
        ClassWeighted = false
        LabelSmoothing = 0.0
        Ema = 0.0
        Distill = None
        Patience = Some 8
        Monitor = ValidLoss
        Seed = 1
        Threads = 0
        Path = Optimised
        WeightTransform = None
        Masks = Map.empty
        Augment = NoAugmentation
        ActivationQuant = None
    }

    /// Inverse class frequencies normalised so that their mean over the samples is 1: N / (P * count) with P the
    /// number of classes present; a class without samples gets 0.
    let classWeights (classes: int) (labels: int[]) : float32[] =
        let counts = Array.zeroCreate<int> classes
        labels |> Array.iter (fun l -> counts[l] <- counts[l] + 1)
        let present = counts |> Array.filter (fun c -> c > 0) |> Array.length

        counts
        |> Array.map (fun c ->
            if c = 0 then
                0.0f
            else
                float32 (float labels.Length / (float present * float c)))

    let private forEach (threads: int) (n: int) (body: int -> unit) =
        if threads <= 1 || n <= 1 then
            for i in 0 .. n - 1 do
                body i
        else
            Parallel.For(0, n, ParallelOptions(MaxDegreeOfParallelism = threads), (fun i -> body i))
            |> ignore

    let private makeNode
        (cfg: TrainConfig)
        (capacity: int)
        (i: int)
        (layer: Layer)
        (inS: Shape3)
        (outS: Shape3)
        : Node =
        let keep = cfg.Masks.TryFind i

        let param name (values: float32[]) decay (keep: bool[] option) =
            let v = Array.copy values

            keep
            |> Option.iter (fun k ->
                if k.Length <> v.Length then
                    invalidArg "cfg" $"mask of layer {i} has {k.Length} entries, the weights {v.Length}"

                for j in 0 .. v.Length - 1 do
                    if not k[j] then
                        v[j] <- 0.0f)

            {
                Name = name
                Values = v
                Grad = Array.zeroCreate v.Length
                Slots = Array.zeroCreate (capacity * v.Length)
                State = Optim.newState v.Length
                Decay = decay
                Keep = keep
            }

        let fast = cfg.Path = Optimised

        let live, ps, scratch =
            match layer with
            | Conv2d c
            | Pointwise c
            | DepthwiseConv2d c ->
                let w = param "weight" c.Weight true keep
                let b = param "bias" c.Bias false None

                let spec = {
                    c with
                        Weight = w.Values
                        Bias = b.Values
                }

                let depthwise = layer.IsDepthwiseConv2d

                let live =
                    match layer with
                    | Conv2d _ -> Conv2d spec
                    | Pointwise _ -> Pointwise spec
                    | _ -> DepthwiseConv2d spec

                live,
                [| w; b |],
                (if fast then
                     TrainKernels.convScratch depthwise c inS outS
                 else
                     0)
            | Dense d ->
                let w = param "weight" d.Weight true keep
                let b = param "bias" d.Bias false None

                Dense {
                    d with
                        Weight = w.Values
                        Bias = b.Values
                },
                [| w; b |],
                0
            | BatchNorm b ->
                let g = param "gamma" b.Gamma false None
                let be = param "beta" b.Beta false None

                BatchNorm {
                    b with
                        Gamma = g.Values
                        Beta = be.Values
                        Mean = Array.copy b.Mean
                        Var = Array.copy b.Var
                },
                [| g; be |],
                0
            | other ->
                if keep.IsSome then
                    invalidArg "cfg" $"mask given for layer {i} ({Model.kindName other}), which has no weights"

                other, [||], 0

        let isBn = live.IsBatchNorm

        {
            Index = i
            Live = live
            In = inS
            Out = outS
            Params = ps
            Eff = (if ps.Length > 0 then ps[0].Values else [||])
            Wt =
                (if ps.Length > 0 && fast then
                     Array.zeroCreate ps[0].Values.Length
                 else
                     [||])
            Y = Array.zeroCreate (capacity * outS.Size)
            DX = Array.zeroCreate (capacity * inS.Size)
            Scratch = Array.zeroCreate (capacity * scratch)
            ScratchLen = scratch
            Arg =
                (if layer.IsMaxPool then
                     Array.zeroCreate (capacity * outS.Size)
                 else
                     [||])
            XHat =
                (if isBn then
                     Array.zeroCreate (capacity * inS.Size)
                 else
                     [||])
            Mean = Array.zeroCreate (if isBn then inS.C else 0)
            InvStd = Array.zeroCreate (if isBn then inS.C else 0)
            Partial = Array.zeroCreate (if isBn then capacity * inS.C * 2 else 0)
            Sums = Array.zeroCreate (if isBn then inS.C * 2 else 0)
            ChanA = Array.zeroCreate (if isBn then inS.C else 0)
            ChanB = Array.zeroCreate (if isBn then inS.C else 0)
            ChanC = Array.zeroCreate (if isBn then inS.C else 0)
            Zeros = Array.zeroCreate (if isBn then inS.C else 0)
            Ones = Array.create (if isBn then inS.C else 0) 1.0f
        }

    // The fake-quantized tensors of a session by range index (an empty array when the hook is off).
    let private quantPoints (cfg: TrainConfig) (capacity: int) (shapes: Shape3[]) : QuantPoint option[] =
        match cfg.ActivationQuant with
        | None -> [||]
        | Some aq ->
            let count = shapes.Length
            let at = Array.create count None

            let check what (i: int) =
                if i < 0 || i >= count then
                    invalidArg "cfg" $"activation quantization: {what} range index {i} is outside 0..{count - 1}"

            let point i range owns learn =
                let size = shapes[i].Size

                {
                    Index = i
                    Range = range
                    Owns = owns
                    Learn = learn
                    Size = size
                    Region = Array.zeroCreate (capacity * size)
                    Partial = Array.zeroCreate (if owns then capacity * 2 else 0)
                }

            for KeyValue(i, (lo, hi)) in aq.Ranges do
                check "a" i

                if not (Double.IsFinite lo && Double.IsFinite hi) || lo > hi then
                    invalidArg "cfg" $"activation quantization: range {i} is [{lo}, {hi}]"

                // The grid always holds 0 (Quantize.affine widens the range), so the bounds are kept that way.
                let values = [| float32 (min lo 0.0); float32 (max hi 0.0) |]

                let range = {
                    Name = $"range{i}"
                    Values = values
                    Grad = Array.zeroCreate 2
                    Slots = [||]
                    State = Optim.newState 2
                    Decay = false
                    Keep = None
                }

                at[i] <- Some(point i range true (not (aq.Frozen.Contains i)))

            for KeyValue(i, source) in aq.Follow do
                check "a following" i

                match (if source >= 0 && source < count then at[source] else None), at[i] with
                | _, Some _ ->
                    invalidArg "cfg" $"activation quantization: range index {i} both has a range and follows one"
                | Some src, None when src.Owns -> at[i] <- Some(point i src.Range false false)
                | _ -> invalidArg "cfg" $"activation quantization: range index {i} follows {source}, which has no range"

            at

    /// Fake quantization of one value on a grid: (clamp(roundHalfAway(x / s) + z) - z) * s, and where the code
    /// fell: -1 clamped below, 0 inside, +1 clamped above.
    let fakeQuant (p: QParams) (x: float32) : float32 * int =
        let c = Quantize.roundHalfAway (float x / p.Scale) + float p.ZeroPoint

        if c < float p.QMin then
            float32 (p.Scale * float (p.QMin - p.ZeroPoint)), -1
        elif c > float p.QMax then
            float32 (p.Scale * float (p.QMax - p.ZeroPoint)), 1
        else
            float32 (p.Scale * (c - float p.ZeroPoint)), 0

    // Fake-quantizes n samples of a tensor in place, recording each element's region for the backward pass.
    let private quantForward (threads: int) (q: QuantPoint) (t: float32[]) (n: int) =
        let p = ActivationGrid.ofRange (float q.Range.Values[0]) (float q.Range.Values[1])

        forEach threads n (fun i ->
            for j in i * q.Size .. (i + 1) * q.Size - 1 do
                let v, r = fakeQuant p t[j]
                t[j] <- v
                q.Region[j] <- sbyte r)

    // Straight-through backward in place on the gradient of the quantized tensor: kept inside, moved to the lower
    // (upper) bound's gradient where the code clamped below (above). Per-sample sums, then in sample order.
    let private quantBackward (threads: int) (q: QuantPoint) (dy: float32[]) (n: int) =
        let owns = q.Owns

        forEach threads n (fun i ->
            let mutable dlo = 0.0
            let mutable dhi = 0.0

            for j in i * q.Size .. (i + 1) * q.Size - 1 do
                let r = q.Region[j]

                if r <> 0y then
                    if r < 0y then
                        dlo <- dlo + float dy[j]
                    else
                        dhi <- dhi + float dy[j]

                    dy[j] <- 0.0f

            if owns then
                q.Partial[2 * i] <- dlo
                q.Partial[2 * i + 1] <- dhi)

        if owns then
            let mutable dlo = 0.0
            let mutable dhi = 0.0

            for i in 0 .. n - 1 do
                dlo <- dlo + q.Partial[2 * i]
                dhi <- dhi + q.Partial[2 * i + 1]

            q.Range.Grad[0] <- float32 dlo
            q.Range.Grad[1] <- float32 dhi

    let rec private create
        (cfg: TrainConfig)
        (model: Model)
        (classWeights: float32[] option)
        (capacity: int)
        : TrainSession =
        SoftmaxLoss.check cfg.LabelSmoothing (cfg.Distill |> Option.map snd)

        match Model.validate model with
        | Error e -> invalidArg "model" $"model '{model.Name}' is invalid: {e}"
        | Ok() ->
            if model.Layers.IsEmpty then
                invalidArg "model" "a model without layers has nothing to train"

            if capacity < 1 then
                invalidArg "cfg" $"batch size must be at least 1, is {capacity}"

            let shapes = Model.shapes model |> List.toArray

            let nodes =
                model.Layers
                |> List.toArray
                |> Array.mapi (fun i l -> makeNode cfg capacity i l shapes[i] shapes[i + 1])

            let outputs = shapes[shapes.Length - 1].Size

            classWeights
            |> Option.iter (fun w ->
                if w.Length <> outputs then
                    invalidArg "classWeights" $"{w.Length} class weights for {outputs} outputs")

            let quantAt = quantPoints cfg capacity shapes

            // The teacher runs plain float inference on the student's batches: same path and threads, nothing else.
            let teacher =
                cfg.Distill
                |> Option.map (fun (t, d) ->
                    let tOut = (Model.shapes t |> List.last).Size

                    if t.Input <> model.Input || tOut <> outputs then
                        invalidArg
                            "cfg"
                            $"the teacher '{t.Name}' maps {t.Input} to {tOut} outputs, the student {model.Input} to {outputs}"

                    let tc = {
                        defaultConfig with
                            Path = cfg.Path
                            Threads = cfg.Threads
                            BatchSize = capacity
                    }

                    create tc t None capacity, d)

            {
                Config = cfg
                Model = model
                Nodes = nodes
                Capacity = capacity
                Input = Array.zeroCreate (capacity * model.Input.Size)
                LossGrad = Array.zeroCreate (capacity * outputs)
                ClassWeights = classWeights
                Threads =
                    (if cfg.Path = Naive then 1
                     elif cfg.Threads <= 0 then Environment.ProcessorCount
                     else cfg.Threads)
                NeedInputGrad = false
                QuantAt = quantAt
                BlockEnds = Model.residualBlocks model |> Map.ofList
                Teacher = teacher
            }

    // Effective weights for this batch (the QAT hook) and their transposes for the fast kernels.
    let private prepareWeights (s: TrainSession) =
        for node in s.Nodes do
            if node.Params.Length > 0 && not node.Live.IsBatchNorm then
                let raw = node.Params[0].Values

                let eff =
                    match s.Config.WeightTransform with
                    | Some f ->
                        let e = f node.Index raw

                        if e.Length <> raw.Length then
                            invalidOp
                                $"weight transform of layer {node.Index} returned {e.Length} values for {raw.Length}"

                        e
                    | None -> raw

                node.Eff <- eff

                if s.Config.Path = Optimised then
                    match node.Live with
                    | Conv2d c
                    | Pointwise c -> TrainKernels.transpose eff c.OutChannels (eff.Length / c.OutChannels) node.Wt
                    | DepthwiseConv2d c -> TrainKernels.transpose eff c.OutChannels (c.KernelH * c.KernelW) node.Wt
                    | _ -> ()

    // Training-mode BatchNorm: statistics over the batch and all positions, running statistics updated with
    // momentum 0.1 (the variance unbiased), as PyTorch. Sums are per sample first (in parallel), then added in
    // sample order, so they do not depend on scheduling.
    let private batchNormTrain (s: TrainSession) (node: Node) (b: BatchNormSpec) (x: float32[]) (n: int) =
        let ch = node.In.C
        let size = node.In.Size
        let m = float (n * size / ch)
        let sums = node.Sums
        let part = node.Partial
        let mean = node.Mean
        let invStd = node.InvStd

        let fast = s.Config.Path = Optimised
        let positions = size / ch

        forEach s.Threads n (fun i ->
            let pb = i * ch

            if fast then
                TrainKernels.channelSumsFast x (i * size) positions ch part pb
            else
                Array.Clear(part, pb, ch)

                for p in i * size .. ch .. (i + 1) * size - 1 do
                    for c in 0 .. ch - 1 do
                        part[pb + c] <- part[pb + c] + float x[p + c])

        TrainKernels.reducePartials part n ch sums

        for c in 0 .. ch - 1 do
            mean[c] <- sums[c] / m
            node.ChanA[c] <- float32 -mean[c]

        forEach s.Threads n (fun i ->
            let pb = i * ch

            if fast then
                // Centred values go to XHat first (overwritten below by the normalised ones).
                TrainKernels.channelAffineFast
                    x
                    (i * size)
                    node.ChanA
                    node.Ones
                    node.Zeros
                    positions
                    node.XHat
                    (i * size)

                TrainKernels.channelDotsFast node.XHat node.XHat (i * size) positions ch part pb
            else
                Array.Clear(part, pb, ch)

                for p in i * size .. ch .. (i + 1) * size - 1 do
                    for c in 0 .. ch - 1 do
                        let d = float x[p + c] - mean[c]
                        part[pb + c] <- part[pb + c] + d * d)

        TrainKernels.reducePartials part n ch sums

        for c in 0 .. ch - 1 do
            let var = sums[c] / m
            invStd[c] <- 1.0 / sqrt (var + float b.Eps)
            b.Mean[c] <- float32 (0.9 * float b.Mean[c] + 0.1 * mean[c])
            let unbiased = if m > 1.0 then var * m / (m - 1.0) else var
            b.Var[c] <- float32 (0.9 * float b.Var[c] + 0.1 * unbiased)

        for c in 0 .. ch - 1 do
            node.ChanB[c] <- float32 invStd[c]

        forEach s.Threads n (fun i ->
            if fast then
                let o = i * size
                TrainKernels.channelAffineFast x o node.ChanA node.ChanB node.Zeros positions node.XHat o
                TrainKernels.channelAffineFast node.XHat o node.Zeros b.Gamma b.Beta positions node.Y o
            else
                for p in i * size .. ch .. (i + 1) * size - 1 do
                    for c in 0 .. ch - 1 do
                        let xh = float32 ((float x[p + c] - mean[c]) * invStd[c])
                        node.XHat[p + c] <- xh
                        node.Y[p + c] <- float32 (float b.Gamma[c] * float xh + float b.Beta[c]))

    let private batchNormBackward
        (s: TrainSession)
        (node: Node)
        (b: BatchNormSpec)
        (dy: float32[])
        (n: int)
        (needDx: bool)
        =
        let ch = node.In.C
        let size = node.In.Size
        let m = float (n * size / ch)
        let part = node.Partial
        let sums = node.Sums
        let xhat = node.XHat

        // Sums of dy and dy * xhat per channel, per sample first, then in sample order.
        let fast = s.Config.Path = Optimised
        let positions = size / ch

        forEach s.Threads n (fun i ->
            let pb = i * ch * 2

            if fast then
                TrainKernels.channelSumsFast dy (i * size) positions ch part pb
                TrainKernels.channelDotsFast dy xhat (i * size) positions ch part (pb + ch)
            else
                Array.Clear(part, pb, ch * 2)

                for p in i * size .. ch .. (i + 1) * size - 1 do
                    for c in 0 .. ch - 1 do
                        let g = float dy[p + c]
                        part[pb + c] <- part[pb + c] + g
                        part[pb + ch + c] <- part[pb + ch + c] + g * float xhat[p + c])

        TrainKernels.reducePartials part n (ch * 2) sums
        let gamma = node.Params[0]
        let beta = node.Params[1]

        for c in 0 .. ch - 1 do
            beta.Grad[c] <- float32 sums[c]
            gamma.Grad[c] <- float32 sums[ch + c]

        if needDx && fast then
            for c in 0 .. ch - 1 do
                node.ChanA[c] <- float32 (float b.Gamma[c] * node.InvStd[c])
                node.ChanB[c] <- float32 (sums[c] / m)
                node.ChanC[c] <- float32 (sums[ch + c] / m)

            forEach s.Threads n (fun i ->
                TrainKernels.batchNormDxFast dy xhat (i * size) node.ChanA node.ChanB node.ChanC positions node.DX)
        elif needDx then
            forEach s.Threads n (fun i ->
                for p in i * size .. ch .. (i + 1) * size - 1 do
                    for c in 0 .. ch - 1 do
                        let v =
                            float b.Gamma[c]
                            * node.InvStd[c]
                            * (float dy[p + c] - sums[c] / m - float xhat[p + c] * sums[ch + c] / m)

                        node.DX[p + c] <- float32 v)

    let private forwardNode (s: TrainSession) (node: Node) (x: float32[]) (n: int) (training: bool) =
        let inN = node.In.Size
        let outN = node.Out.Size
        let fast = s.Config.Path = Optimised
        let each = forEach s.Threads n

        match node.Live with
        | Conv2d c
        | Pointwise c ->
            each (fun i ->
                if fast then
                    TrainKernels.convForwardFast
                        c
                        node.Wt
                        node.In
                        node.Out
                        x
                        (i * inN)
                        node.Scratch
                        (i * node.ScratchLen)
                        node.Y
                        (i * outN)
                else
                    TrainKernels.convForwardNaive false c node.Eff node.In node.Out x (i * inN) node.Y (i * outN))
        | DepthwiseConv2d c ->
            each (fun i ->
                if fast then
                    TrainKernels.depthwiseForwardFast c node.Wt node.In node.Out x (i * inN) node.Y (i * outN)
                else
                    TrainKernels.convForwardNaive true c node.Eff node.In node.Out x (i * inN) node.Y (i * outN))
        | Dense d ->
            each (fun i ->
                if fast then
                    TrainKernels.denseForwardFast d node.Eff x (i * inN) node.Y (i * outN)
                else
                    TrainKernels.denseForwardNaive d node.Eff x (i * inN) node.Y (i * outN))
        | BatchNorm b ->
            if training then
                batchNormTrain s node b x n
            else
                let scale =
                    Array.init node.In.C (fun c -> float b.Gamma[c] / sqrt (float b.Var[c] + float b.Eps))

                each (fun i -> TrainKernels.batchNormInfer b scale x (i * inN) node.Y (i * inN) inN)
        | ReLU
        | ReLU6 ->
            let cap = if node.Live.IsReLU then Single.PositiveInfinity else 6.0f

            each (fun i ->
                if fast then
                    TrainKernels.clampForwardFast cap x (i * inN) node.Y (i * inN) inN
                else
                    TrainKernels.clampForward cap x (i * inN) node.Y (i * inN) inN)
        | MaxPool p ->
            each (fun i -> TrainKernels.poolForward true p node.In node.Out x (i * inN) node.Y (i * outN) node.Arg)
        | AvgPool p ->
            each (fun i ->
                if fast then
                    TrainKernels.avgPoolForwardFast p node.In node.Out x (i * inN) node.Y (i * outN)
                else
                    TrainKernels.poolForward false p node.In node.Out x (i * inN) node.Y (i * outN) node.Arg)
        | GlobalAvgPool -> each (fun i -> TrainKernels.globalAvgForward node.In x (i * inN) node.Y (i * outN))
        | Flatten -> Array.Copy(x, 0, node.Y, 0, n * inN)
        | ResidualAdd span ->
            // The block input: the model input or the output of the layer before the block (as fake-quantized).
            let first = node.Index - span
            let skip = if first = 0 then s.Input else s.Nodes[first - 1].Y
            each (fun i -> TrainKernels.add x skip (i * inN) node.Y inN)

    // Per-sample gradient slots added in sample order: the sum never depends on how samples met threads.
    let private reduceSlots (p: Param) (n: int) =
        let len = p.Values.Length
        Array.Clear(p.Grad, 0, len)

        for i in 0 .. n - 1 do
            TrainKernels.axpy 1.0f p.Slots (i * len) p.Grad 0 len

    let private backwardNode (s: TrainSession) (node: Node) (x: float32[]) (dy: float32[]) (n: int) (needDx: bool) =
        let inN = node.In.Size
        let outN = node.Out.Size
        let fast = s.Config.Path = Optimised
        let each = forEach s.Threads n

        let withSlots (body: int -> float32[] -> int -> float32[] -> int -> unit) =
            let w = node.Params[0]
            let b = node.Params[1]
            let wl = w.Values.Length
            let bl = b.Values.Length

            each (fun i ->
                Array.Clear(w.Slots, i * wl, wl)
                Array.Clear(b.Slots, i * bl, bl)
                body i w.Slots (i * wl) b.Slots (i * bl))

            reduceSlots w n
            reduceSlots b n

        match node.Live with
        | Conv2d c
        | Pointwise c ->
            withSlots (fun i dw dwo db dbo ->
                if fast then
                    TrainKernels.convBackwardFast
                        c
                        node.Eff
                        node.In
                        node.Out
                        x
                        (i * inN)
                        node.Scratch
                        (i * node.ScratchLen)
                        dy
                        (i * outN)
                        needDx
                        node.DX
                        (i * inN)
                        dw
                        dwo
                        db
                        dbo
                else
                    TrainKernels.convBackwardNaive
                        false
                        c
                        node.Eff
                        node.In
                        node.Out
                        x
                        (i * inN)
                        dy
                        (i * outN)
                        needDx
                        node.DX
                        (i * inN)
                        dw
                        dwo
                        db
                        dbo)
        | DepthwiseConv2d c ->
            withSlots (fun i dw dwo db dbo ->
                if fast then
                    TrainKernels.depthwiseBackwardFast
                        c
                        node.Wt
                        node.In
                        node.Out
                        x
                        (i * inN)
                        node.Scratch
                        (i * node.ScratchLen)
                        dy
                        (i * outN)
                        needDx
                        node.DX
                        (i * inN)
                        dw
                        dwo
                        db
                        dbo
                else
                    TrainKernels.convBackwardNaive
                        true
                        c
                        node.Eff
                        node.In
                        node.Out
                        x
                        (i * inN)
                        dy
                        (i * outN)
                        needDx
                        node.DX
                        (i * inN)
                        dw
                        dwo
                        db
                        dbo)
        | Dense d ->
            withSlots (fun i dw dwo db dbo ->
                if fast then
                    TrainKernels.denseBackwardFast
                        d
                        node.Eff
                        x
                        (i * inN)
                        dy
                        (i * outN)
                        needDx
                        node.DX
                        (i * inN)
                        dw
                        dwo
                        db
                        dbo
                else
                    TrainKernels.denseBackwardNaive
                        d
                        node.Eff
                        x
                        (i * inN)
                        dy
                        (i * outN)
                        needDx
                        node.DX
                        (i * inN)
                        dw
                        dwo
                        db
                        dbo)
        | BatchNorm b -> batchNormBackward s node b dy n needDx
        | _ when not needDx -> ()
        | ReLU
        | ReLU6 ->
            let cap = if node.Live.IsReLU then Single.PositiveInfinity else 6.0f

            each (fun i ->
                if fast then
                    TrainKernels.clampBackwardFast cap x (i * inN) dy (i * outN) node.DX (i * inN) inN
                else
                    TrainKernels.clampBackward cap x (i * inN) dy (i * outN) node.DX (i * inN) inN)
        | MaxPool p ->
            each (fun i -> TrainKernels.poolBackward true p node.In node.Out dy (i * outN) node.Arg node.DX (i * inN))
        | AvgPool p ->
            each (fun i ->
                if fast then
                    TrainKernels.avgPoolBackwardFast p node.In node.Out dy (i * outN) node.DX (i * inN)
                else
                    TrainKernels.poolBackward false p node.In node.Out dy (i * outN) node.Arg node.DX (i * inN))
        | GlobalAvgPool -> each (fun i -> TrainKernels.globalAvgBackward node.In dy (i * outN) node.DX (i * inN))
        | Flatten
        | ResidualAdd _ -> Array.Copy(dy, 0, node.DX, 0, n * inN)

    // The loss of SoftmaxLoss.sample (label smoothing, distillation from the teacher's logits when given), optionally
    // class-weighted per sample (weighted mean as PyTorch: divided by the sum of the batch's weights). Returns the
    // weighted loss sum, the weight sum and the correct count; fills LossGrad.
    let private lossAndGrad
        (s: TrainSession)
        (labels: int[])
        (teacher: float32[] option)
        (n: int)
        : float * float * int =
        let last = s.Nodes[s.Nodes.Length - 1]
        let k = last.Out.Size
        let z = last.Y

        let weight i =
            match s.ClassWeights with
            | Some w -> float w[labels[i]]
            | None -> 1.0

        let mutable sumW = 0.0

        for i in 0 .. n - 1 do
            sumW <- sumW + weight i

        let mutable total = 0.0
        let mutable correct = 0

        for i in 0 .. n - 1 do
            let o = i * k
            let logits = Array.init k (fun j -> float z[o + j])
            let mutable best = 0

            for j in 1 .. k - 1 do
                if logits[j] > logits[best] then
                    best <- j

            if best = labels[i] then
                correct <- correct + 1

            let soft =
                match s.Teacher, teacher with
                | Some(_, d), Some t -> Some(d, Array.init k (fun j -> float t[o + j]))
                | _ -> None

            let loss, grad = SoftmaxLoss.sample s.Config.LabelSmoothing soft logits labels[i]
            let w = weight i
            total <- total + w * loss
            let scale = if sumW > 0.0 then w / sumW else 0.0

            for j in 0 .. k - 1 do
                s.LossGrad[o + j] <- float32 (scale * grad[j])

        total, sumW, correct

    // Forward (and, when asked, backward) of one batch; returns weighted loss sum, weight sum and correct count.
    let rec private runBatch (s: TrainSession) (inputs: float32[][]) (labels: int[]) (training: bool) (backward: bool) =
        let n = inputs.Length
        let inN = s.Model.Input.Size
        let outputs = s.Nodes[s.Nodes.Length - 1].Out.Size

        if n < 1 || n > s.Capacity then
            invalidArg "inputs" $"a batch holds 1 to {s.Capacity} samples, got {n}"

        if labels.Length <> n then
            invalidArg "labels" $"{n} samples but {labels.Length} labels"

        for i in 0 .. n - 1 do
            if inputs[i].Length <> inN then
                invalidArg "inputs" $"sample {i} has {inputs[i].Length} values, the model takes {inN} ({s.Model.Input})"

            if labels[i] < 0 || labels[i] >= outputs then
                invalidArg "labels" $"label {labels[i]} of sample {i} is outside 0..{outputs - 1}"

            Array.Copy(inputs[i], 0, s.Input, i * inN, inN)

        prepareWeights s
        let last = s.Nodes.Length - 1
        let quant = s.QuantAt.Length > 0

        let quantAt k = if quant then s.QuantAt[k] else None

        quantAt 0 |> Option.iter (fun q -> quantForward s.Threads q s.Input n)

        for k in 0..last do
            let x = if k = 0 then s.Input else s.Nodes[k - 1].Y
            forwardNode s s.Nodes[k] x n training

            quantAt (k + 1)
            |> Option.iter (fun q -> quantForward s.Threads q s.Nodes[k].Y n)

        // The teacher's logits of the same batch, in inference mode.
        let teacher =
            s.Teacher
            |> Option.map (fun (t, _) ->
                runBatch t inputs labels false false |> ignore
                t.Nodes[t.Nodes.Length - 1].Y)

        let result = lossAndGrad s labels teacher n

        if backward then
            // A learned input range needs the gradient at the input, which the first layer otherwise skips.
            let inputRange = quantAt 0 |> Option.exists (fun q -> q.Learn)

            for k in last .. -1 .. 0 do
                let x = if k = 0 then s.Input else s.Nodes[k - 1].Y
                let dy = if k = last then s.LossGrad else s.Nodes[k + 1].DX
                quantAt (k + 1) |> Option.iter (fun q -> quantBackward s.Threads q dy n)
                let needDx = k > 0 || s.NeedInputGrad || inputRange
                backwardNode s s.Nodes[k] x dy n needDx

                // A block's input also reached its add directly: its gradient is the body's plus the shortcut's.
                match s.BlockEnds.TryFind k with
                | Some last when needDx ->
                    let size = s.Nodes[k].In.Size
                    let dx = s.Nodes[k].DX
                    forEach s.Threads n (fun i -> TrainKernels.add dx s.Nodes[last].DX (i * size) dx size)
                | _ -> ()

            quantAt 0
            |> Option.iter (fun q ->
                if q.Learn || s.NeedInputGrad then
                    quantBackward s.Threads q s.Nodes[0].DX n)

        result

    /// A training session on a copy of the model's parameters (batches of up to cfg.BatchSize samples).
    let session (cfg: TrainConfig) (model: Model) (classWeights: float32[] option) : TrainSession =
        create cfg model classWeights cfg.BatchSize

    /// One mini-batch forward, backward and update at the given rate; returns the batch loss and correct count.
    let step (s: TrainSession) (inputs: float32[][]) (labels: int[]) (rate: float) : float * int =
        let total, sumW, correct = runBatch s inputs labels true true

        for node in s.Nodes do
            for p in node.Params do
                let decay = if p.Decay then s.Config.WeightDecay else 0.0
                Optim.update s.Config.Optimizer rate decay p.Keep p.State p.Values p.Grad

        match s.Config.ActivationQuant with
        | Some aq ->
            for q in s.QuantAt do
                match q with
                | Some q when q.Owns && q.Learn ->
                    let r = q.Range
                    Optim.update s.Config.Optimizer (rate * aq.RateScale) 0.0 None r.State r.Values r.Grad
                    // Keep 0 inside the range, as the grid does anyway.
                    r.Values[0] <- min r.Values[0] 0.0f
                    r.Values[1] <- max r.Values[1] 0.0f
                | _ -> ()
        | None -> ()

        (if sumW > 0.0 then total / sumW else 0.0), correct

    /// As step, and also returns the gradient of the batch loss with respect to each input sample: what a trained
    /// stage in front of the network (an input quantizer) needs to learn jointly with it.
    let stepWithInputGradients
        (s: TrainSession)
        (inputs: float32[][])
        (labels: int[])
        (rate: float)
        : float * int * float32[][] =
        s.NeedInputGrad <- true

        try
            let loss, correct = step s inputs labels rate
            let inN = s.Model.Input.Size
            loss, correct, Array.init inputs.Length (fun i -> Array.sub s.Nodes[0].DX (i * inN) inN)
        finally
            s.NeedInputGrad <- false

    /// The session's current activation ranges [lo, hi] by range index (empty when the hook is off).
    let activationRanges (s: TrainSession) : Map<int, float * float> =
        s.QuantAt
        |> Array.choose (function
            | Some q when q.Owns -> Some(q.Index, (float q.Range.Values[0], float q.Range.Values[1]))
            | _ -> None)
        |> Map.ofArray

    /// The session's current parameters and running statistics as a model (raw weights, before any transform).
    let sessionModel (s: TrainSession) : Model =
        let layers =
            s.Nodes
            |> Array.map (fun node ->
                match node.Live with
                | Conv2d c ->
                    Conv2d {
                        c with
                            Weight = Array.copy c.Weight
                            Bias = Array.copy c.Bias
                    }
                | Pointwise c ->
                    Pointwise {
                        c with
                            Weight = Array.copy c.Weight
                            Bias = Array.copy c.Bias
                    }
                | DepthwiseConv2d c ->
                    DepthwiseConv2d {
                        c with
                            Weight = Array.copy c.Weight
                            Bias = Array.copy c.Bias
                    }
                | Dense d ->
                    Dense {
                        d with
                            Weight = Array.copy d.Weight
                            Bias = Array.copy d.Bias
                    }
                | BatchNorm b ->
                    BatchNorm {
                        b with
                            Gamma = Array.copy b.Gamma
                            Beta = Array.copy b.Beta
                            Mean = Array.copy b.Mean
                            Var = Array.copy b.Var
                    }
                | other -> other)
            |> Array.toList

        { s.Model with Layers = layers }

    let private helperConfig (path: TrainPath) (n: int) = {
        defaultConfig with
            Path = path
            BatchSize = max 1 n
            Threads = 2
    }

    /// Outputs (logits) of each sample, computed as one batch; training=true uses batch statistics in BatchNorm.
    let outputs (path: TrainPath) (training: bool) (model: Model) (inputs: float32[][]) : float32[][] =
        let s = create (helperConfig path inputs.Length) model None (max 1 inputs.Length)
        runBatch s inputs (Array.zeroCreate inputs.Length) training false |> ignore
        let last = s.Nodes[s.Nodes.Length - 1]
        let k = last.Out.Size
        Array.init inputs.Length (fun i -> Array.sub last.Y (i * k) k)

    /// Inference-mode outputs (logits) as the training forward pass of cfg computes them: its Path, WeightTransform
    /// and ActivationQuant (the ranges given there), in batches of cfg.BatchSize (model unchanged).
    let outputsWith (cfg: TrainConfig) (model: Model) (inputs: float32[][]) : float32[][] =
        // Logits need no teacher.
        let s = create { cfg with Distill = None } model None (max 1 cfg.BatchSize)
        let last = s.Nodes[s.Nodes.Length - 1]
        let k = last.Out.Size
        let result = Array.zeroCreate inputs.Length

        for start in 0 .. s.Capacity .. inputs.Length - 1 do
            let n = min s.Capacity (inputs.Length - start)
            runBatch s (Array.sub inputs start n) (Array.zeroCreate n) false false |> ignore

            for i in 0 .. n - 1 do
                result[start + i] <- Array.sub last.Y (i * k) k

        result

    /// Training-mode loss of one batch (naive path, model unchanged): the function finite differences probe.
    let loss (model: Model) (classWeights: float32[] option) (inputs: float32[][]) (labels: int[]) : float =
        let s =
            create (helperConfig Naive inputs.Length) model classWeights (max 1 inputs.Length)

        let total, sumW, _ = runBatch s inputs labels true false
        if sumW > 0.0 then total / sumW else 0.0

    /// Loss and gradients of one batch in training mode on the given path (model unchanged).
    let gradients
        (path: TrainPath)
        (model: Model)
        (classWeights: float32[] option)
        (inputs: float32[][])
        (labels: int[])
        : Gradients =
        let s =
            create (helperConfig path inputs.Length) model classWeights (max 1 inputs.Length)

        s.NeedInputGrad <- true
        let total, sumW, _ = runBatch s inputs labels true true
        let inN = model.Input.Size

        {
            Loss = (if sumW > 0.0 then total / sumW else 0.0)
            Params = [
                for node in s.Nodes do
                    for p in node.Params -> node.Index, p.Name, Array.copy p.Grad
            ]
            Inputs = Array.init inputs.Length (fun i -> Array.sub s.Nodes[0].DX (i * inN) inN)
        }

    /// Training-mode gradients of one batch under cfg (its Path, WeightTransform, ActivationQuant and Masks; model
    /// unchanged), with the gradients (d lo, d hi) of the loss with respect to each activation range by range index.
    let gradientsWith
        (cfg: TrainConfig)
        (model: Model)
        (inputs: float32[][])
        (labels: int[])
        : Gradients * Map<int, float * float> =
        let s = create cfg model None (max 1 inputs.Length)
        s.NeedInputGrad <- true
        let total, sumW, _ = runBatch s inputs labels true true
        let inN = model.Input.Size

        let g = {
            Loss = (if sumW > 0.0 then total / sumW else 0.0)
            Params = [
                for node in s.Nodes do
                    for p in node.Params -> node.Index, p.Name, Array.copy p.Grad
            ]
            Inputs = Array.init inputs.Length (fun i -> Array.sub s.Nodes[0].DX (i * inN) inN)
        }

        let ranges =
            s.QuantAt
            |> Array.choose (function
                | Some q when q.Owns -> Some(q.Index, (float q.Range.Grad[0], float q.Range.Grad[1]))
                | _ -> None)
            |> Map.ofArray

        g, ranges

    // Inference-mode loss and accuracy over a whole split, in batches of the session's capacity.
    let private validate (s: TrainSession) (samples: float32[][]) (labels: int[]) : float * float =
        let mutable total = 0.0
        let mutable sumW = 0.0
        let mutable correct = 0

        for start in 0 .. s.Capacity .. samples.Length - 1 do
            let n = min s.Capacity (samples.Length - start)

            let t, w, c =
                runBatch s (Array.sub samples start n) (Array.sub labels start n) false false

            total <- total + t
            sumW <- sumW + w
            correct <- correct + c

        (if sumW > 0.0 then total / sumW else 0.0), float correct / float (max 1 samples.Length)

    /// Rejects an empty training set, samples without labels and a negative epoch count (ArgumentException).
    let checkTrainingSet (samples: float32[][], labels: int[]) (epochs: int) : unit =
        if samples.Length = 0 then
            invalidArg "train" "no training samples"

        if samples.Length <> labels.Length then
            invalidArg "train" $"{samples.Length} samples but {labels.Length} labels"

        if epochs < 0 then
            invalidArg "cfg" "epochs must not be negative"

    /// Fisher-Yates shuffle of order in place on the seeded generator: every training loop's epoch order.
    let shuffle (rng: Random) (order: int[]) : unit =
        for i in order.Length - 1 .. -1 .. 1 do
            let j = rng.Next(i + 1)
            let t = order[i]
            order[i] <- order[j]
            order[j] <- t

    // Every array the returned model takes from a session: parameters (pruned weights are zero in the session from
    // its creation, so their average stays zero), BatchNorm's running statistics and the activation ranges.
    let private averagedArrays (s: TrainSession) : float32[][] = [|
        for node in s.Nodes do
            for p in node.Params do
                yield p.Values

            match node.Live with
            | BatchNorm b ->
                yield b.Mean
                yield b.Var
            | _ -> ()
        for q in s.QuantAt do
            match q with
            | Some q when q.Owns -> yield q.Range.Values
            | _ -> ()
    |]

    /// The exponential moving average of a session's weights (TrainConfig.Ema), updated after every step.
    type private WeightAverage(s: TrainSession, decay: float) =
        let live = averagedArrays s
        let average = live |> Array.map Array.copy
        let mutable steps = 0

        /// Moves the average towards the live arrays; the decay warms up as (1 + t) / (10 + t), so early steps,
        /// far from where training ends, fade fast.
        member _.Update() =
            let d = float32 (min decay (float (1 + steps) / float (10 + steps)))
            steps <- steps + 1

            for i in 0 .. live.Length - 1 do
                let a = live[i]
                let e = average[i]

                for j in 0 .. a.Length - 1 do
                    e[j] <- d * e[j] + (1.0f - d) * a[j]

        /// Runs f with the average in the session's place, then puts the live values back.
        member _.With(f: unit -> 'T) : 'T =
            let saved = live |> Array.map Array.copy
            live |> Array.iteri (fun i a -> Array.blit average[i] 0 a 0 a.Length)

            try
                f ()
            finally
                live |> Array.iteri (fun i a -> Array.blit saved[i] 0 a 0 a.Length)

    /// Trains a copy of the model; calls progress after every epoch. Throws ArgumentException on bad input.
    let fit
        (cfg: TrainConfig)
        (model: Model)
        (train: float32[][] * int[])
        (valid: (float32[][] * int[]) option)
        (progress: EpochLog -> unit)
        : TrainResult =
        let samples, labels = train
        checkTrainingSet train cfg.Epochs

        let outputs = (Model.shapes model |> List.last).Size

        let weights =
            if cfg.ClassWeighted then
                if labels |> Array.exists (fun l -> l < 0 || l >= outputs) then
                    invalidArg "train" $"labels must lie in 0..{outputs - 1}"

                Some(classWeights outputs labels)
            else
                None

        if not (cfg.Ema >= 0.0 && cfg.Ema < 1.0) then
            invalidArg "cfg" $"Ema must lie in [0, 1), not {cfg.Ema}"

        let s = session cfg model weights

        let average =
            if cfg.Ema > 0.0 then
                Some(WeightAverage(s, cfg.Ema))
            else
                None

        // Validation, the kept model and the returned one see the average when there is one.
        let averaged f =
            match average with
            | Some a -> a.With f
            | None -> f ()

        let rng = Random(cfg.Seed)
        let order = Array.init samples.Length id
        let history = ResizeArray<EpochLog>()
        let mutable best = None
        let mutable bestScore = nan
        let mutable bestEpoch = 0
        let mutable waited = 0
        let mutable stopped = false
        let mutable epoch = 0

        while epoch < cfg.Epochs && not stopped do
            let watch = Stopwatch.StartNew()

            let rate =
                Schedule.rate cfg.Schedule (Optim.baseRate cfg.Optimizer) cfg.Epochs epoch

            // The only randomness of training (besides augmentation draws).
            shuffle rng order

            let mutable lossSum = 0.0
            let mutable correct = 0

            for start in 0 .. cfg.BatchSize .. order.Length - 1 do
                let n = min cfg.BatchSize (order.Length - start)
                let idx = Array.sub order start n

                let batch =
                    idx
                    |> Array.map (fun i -> Augment.apply cfg.Augment s.Model.Input rng samples[i])

                let l, c = step s batch (idx |> Array.map (fun i -> labels[i])) rate
                average |> Option.iter (fun a -> a.Update())

                lossSum <- lossSum + l * float n
                correct <- correct + c

            let vLoss, vAcc =
                match valid with
                | Some(vx, vy) when vx.Length > 0 ->
                    let l, a = averaged (fun () -> validate s vx vy)
                    Some l, Some a
                | _ -> None, None

            let log = {
                Epoch = epoch + 1
                Epochs = cfg.Epochs
                LearningRate = rate
                TrainLoss = lossSum / float samples.Length
                TrainAccuracy = float correct / float samples.Length
                ValidLoss = vLoss
                ValidAccuracy = vAcc
                Seconds = watch.Elapsed.TotalSeconds
            }

            history.Add log
            progress log

            match cfg.Patience, vLoss, vAcc with
            | Some patience, Some l, Some a ->
                let score = if cfg.Monitor = ValidLoss then l else -a

                if Double.IsNaN bestScore || score < bestScore then
                    bestScore <- score
                    bestEpoch <- epoch + 1
                    best <- Some(averaged (fun () -> sessionModel s))
                    waited <- 0
                else
                    waited <- waited + 1

                    if waited >= patience then
                        stopped <- true
            | _ -> bestEpoch <- epoch + 1

            epoch <- epoch + 1

        {
            Model =
                match best with
                | Some m -> m
                | None -> averaged (fun () -> sessionModel s)
            History = List.ofSeq history
            BestEpoch = bestEpoch
            StoppedEarly = stopped
        }

    /// The class each sample is predicted as by the model in inference mode (Forward.run, argmax).
    let predict (model: Model) (samples: float32[][]) : int[] =
        samples
        |> Array.Parallel.map (fun x -> (Forward.run model (Tensor.ofArray model.Input x)).Data |> Tensor.argmax)

    /// Classification metrics (Metrics.compute: accuracy, macro F1, per class, confusion) of the model in inference
    /// mode against the labels.
    let evaluate (model: Model) (samples: float32[][]) (labels: int[]) : ClassMetrics =
        if samples.Length <> labels.Length then
            invalidArg "labels" $"{samples.Length} samples but {labels.Length} labels"

        let k = (Model.shapes model |> List.last).Size

        let names =
            if model.Classes.Length = k then
                model.Classes
            else
                List.init k string

        Metrics.compute names labels (predict model samples)
