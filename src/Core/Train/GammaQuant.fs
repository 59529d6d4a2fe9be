namespace Tern.Core

open System

/// How the network's input is quantized before it sees it (seed 002, gamma-QUANT).
type InputMethod =
    /// No quantization: the values as recorded.
    | RawInput
    /// The seed's linear N-bit baseline on [-1, 1] (gamma = 1, mu = 0, eps = 0; nothing learned).
    | LinearInput
    /// One learned gamma and mu for every input value (eq. 7).
    | GammaGlobal
    /// One learned gamma and mu per input channel (accelerometer axis).
    | GammaPerAxis

/// An input quantizer stage: method, bit depth and its (learned) parameters. Gamma and Mu hold one entry for
/// GammaGlobal, one per channel for GammaPerAxis and none for RawInput/LinearInput.
type InputStage = {
    Method: InputMethod
    Bits: int
    Channels: int
    Gamma: float[]
    Mu: float[]
    Eps: float
}

/// Settings of the joint training of an input stage and the network.
type GammaTrainConfig = {
    /// The network's training (epochs, batch, optimiser, schedule, patience, seed, threads).
    Train: TrainConfig
    /// Adam base rate of gamma and mu; it follows the network's schedule.
    QuantRate: float
    /// Range gamma is kept in after every update.
    GammaMin: float
    GammaMax: float
}

/// One epoch of joint training (Epoch is 1-based); Gamma/Mu are the stage's values after the epoch.
type GammaEpoch = {
    Epoch: int
    TrainLoss: float
    TrainAccuracy: float
    ValidLoss: float option
    ValidAccuracy: float option
    Gamma: float[]
    Mu: float[]
}

/// The trained network and stage (best epoch's when early stopping was on), the history and the best epoch.
type GammaFitResult = {
    Model: Model
    Stage: InputStage
    History: GammaEpoch list
    BestEpoch: int
}

/// gamma-QUANT input quantization (seed 002, eq. 7) trained jointly with the network: the forward pass maps
/// x -> N-bit code -> code / (2^N - 1) * 2 - 1; the backward pass goes straight through the rounding.
[<RequireQualifiedAccess>]
module GammaQuant =

    /// The seed's initial gamma (small accelerations resolved more finely than large ones).
    let initialGamma: float = 0.4

    /// The seed's eps in (|x - mu| + eps)^gamma.
    let defaultEps: float = 1e-3

    /// Network defaults of Study plus Adam 1e-2 for gamma and mu, gamma kept in [0.05, 4].
    let defaultConfig: GammaTrainConfig = {
        Train = {
            Train.defaultConfig with
                Epochs = 30
                BatchSize = 64
                Optimizer = Adam(3e-3, 0.9, 0.999, 1e-8)
                Patience = Some 8
                ClassWeighted = true
        }
        QuantRate = 1e-2
        GammaMin = 0.05
        GammaMax = 4.0
    }

    /// The method's name as the study reports it: raw, linear, gamma-global, gamma-per-axis.
    let methodName (m: InputMethod) : string =
        match m with
        | RawInput -> "raw"
        | LinearInput -> "linear"
        | GammaGlobal -> "gamma-global"
        | GammaPerAxis -> "gamma-per-axis"

    /// Whether the stage has parameters to learn.
    let learnable (m: InputMethod) : bool =
        match m with
        | GammaGlobal
        | GammaPerAxis -> true
        | RawInput
        | LinearInput -> false

    /// A fresh stage: gamma 0.4, mu 0, eps 1e-3 for the gamma methods. Throws on bits outside 1..16.
    let create (m: InputMethod) (bits: int) (channels: int) : InputStage =
        if m <> RawInput && (bits < 1 || bits > 16) then
            invalidArg "bits" $"input quantization supports 1..16 bits, got {bits}"

        if channels < 1 then
            invalidArg "channels" $"need at least one channel, got {channels}"

        let n =
            match m with
            | GammaGlobal -> 1
            | GammaPerAxis -> channels
            | RawInput
            | LinearInput -> 0

        {
            Method = m
            Bits = (if m = RawInput then 0 else bits)
            Channels = channels
            Gamma = Array.create n initialGamma
            Mu = Array.zeroCreate n
            Eps = (if learnable m then defaultEps else 0.0)
        }

    let private levels (bits: int) = float ((1 <<< bits) - 1)

    // Parameter slot of value i of an HWC sample: the channel for per-axis, 0 for global.
    let private slot (stage: InputStage) (i: int) =
        if stage.Method = GammaPerAxis then
            i % stage.Channels
        else
            0

    /// The N-bit code of value i of a sample (RawInput has none: ArgumentException).
    let code (stage: InputStage) (i: int) (x: float) : int =
        match stage.Method with
        | RawInput -> invalidArg "stage" "the raw stage has no codes"
        | LinearInput -> Quantize.Gamma.linear stage.Bits x
        | GammaGlobal
        | GammaPerAxis ->
            let k = slot stage i
            Quantize.Gamma.quantize stage.Bits stage.Gamma[k] stage.Mu[k] stage.Eps x

    /// The network input of one HWC sample: codes mapped back to [-1, 1] (raw: the values unchanged).
    let apply (stage: InputStage) (x: float32[]) : float32[] =
        match stage.Method with
        | RawInput -> Array.copy x
        | _ ->
            let l = levels stage.Bits

            x
            |> Array.mapi (fun i v -> float32 (float (code stage i (float v)) / l * 2.0 - 1.0))

    /// The stage before rounding: clamp(value, 0, 2^N - 1) / (2^N - 1) * 2 - 1 (what the backward pass
    /// differentiates; raw is the identity).
    let continuous (stage: InputStage) (x: float32[]) : float[] =
        match stage.Method with
        | RawInput -> x |> Array.map float
        | _ ->
            let l = levels stage.Bits

            x
            |> Array.mapi (fun i v ->
                let k = slot stage i

                let u =
                    match stage.Method with
                    | LinearInput -> Quantize.Gamma.value stage.Bits 1.0 0.0 0.0 (float v)
                    | _ -> Quantize.Gamma.value stage.Bits stage.Gamma[k] stage.Mu[k] stage.Eps (float v)

                max 0.0 (min l u) / l * 2.0 - 1.0)

    /// Adds to dGamma and dMu the gradient of the loss with respect to the stage's parameters, given the
    /// loss's gradient with respect to the network input of sample x: straight through the rounding, zero
    /// where the clamp to [0, 2^N - 1] is active.
    let accumulate (stage: InputStage) (x: float32[]) (dInput: float32[]) (dGamma: float[]) (dMu: float[]) : unit =
        if learnable stage.Method then
            let l = levels stage.Bits
            let scale = 2.0 / l

            for i in 0 .. x.Length - 1 do
                let g = float dInput[i]

                if g <> 0.0 then
                    let k = slot stage i
                    let v = float x[i]
                    let u = Quantize.Gamma.value stage.Bits stage.Gamma[k] stage.Mu[k] stage.Eps v

                    if u >= 0.0 && u <= l then
                        let _, dg, dm =
                            Quantize.Gamma.gradient stage.Bits stage.Gamma[k] stage.Mu[k] stage.Eps v

                        dGamma[k] <- dGamma[k] + g * scale * dg
                        dMu[k] <- dMu[k] + g * scale * dm

    /// Gradient of sum_i upstream[i] * (network input i) with respect to (gamma, mu), summed over the samples.
    let gradient (stage: InputStage) (samples: float32[][]) (upstream: float32[][]) : float[] * float[] =
        let dg = Array.zeroCreate stage.Gamma.Length
        let dm = Array.zeroCreate stage.Mu.Length
        Array.iter2 (fun x d -> accumulate stage x d dg dm) samples upstream
        dg, dm

    // Adam on the few quantizer parameters, in double precision.
    type private QuantAdam = {
        M: float[]
        V: float[]
        mutable T: int
    }

    let private adamStep (a: QuantAdam) (rate: float) (values: float[]) (grad: float[]) =
        let b1, b2, eps = 0.9, 0.999, 1e-8
        a.T <- a.T + 1
        let c1 = 1.0 - Math.Pow(b1, float a.T)
        let c2 = 1.0 - Math.Pow(b2, float a.T)

        for i in 0 .. values.Length - 1 do
            a.M[i] <- b1 * a.M[i] + (1.0 - b1) * grad[i]
            a.V[i] <- b2 * a.V[i] + (1.0 - b2) * grad[i] * grad[i]
            values[i] <- values[i] - rate * (a.M[i] / c1) / (sqrt (a.V[i] / c2) + eps)

    // Class-weighted (when weights are given) mean cross-entropy and accuracy of logits.
    let private lossOf (weights: float32[] option) (logits: float32[][]) (labels: int[]) =
        let mutable total = 0.0
        let mutable sumW = 0.0
        let mutable correct = 0

        for n in 0 .. logits.Length - 1 do
            let z = logits[n]
            let top = Array.max z
            let lse = float top + log (z |> Array.sumBy (fun v -> exp (float (v - top))))

            let w =
                weights |> Option.map (fun w -> float w[labels[n]]) |> Option.defaultValue 1.0

            total <- total + w * (lse - float z[labels[n]])
            sumW <- sumW + w

            if Tensor.argmax z = labels[n] then
                correct <- correct + 1

        (if sumW > 0.0 then total / sumW else 0.0), float correct / float (max 1 logits.Length)

    /// Trains the network and the stage's gamma and mu together (seeded shuffling as Train.fit, early stopping
    /// on the validation split, the best epoch's network and stage kept). Deterministic for a seed and
    /// bit-identical for any thread count. Throws ArgumentException on bad input.
    let fit
        (cfg: GammaTrainConfig)
        (model: Model)
        (stage: InputStage)
        (train: float32[][] * int[])
        (valid: (float32[][] * int[]) option)
        (progress: GammaEpoch -> unit)
        : GammaFitResult =
        let samples, labels = train
        let tc = cfg.Train
        Train.checkTrainingSet train tc.Epochs

        if stage.Channels <> model.Input.C then
            invalidArg "stage" $"the stage has {stage.Channels} channels, the model's input {model.Input.C}"

        let outputs = (Model.shapes model |> List.last).Size

        if labels |> Array.exists (fun l -> l < 0 || l >= outputs) then
            invalidArg "train" $"labels must lie in 0..{outputs - 1}"

        let weights =
            if tc.ClassWeighted then
                Some(Train.classWeights outputs labels)
            else
                None

        let s = Train.session tc model weights

        let live = {
            stage with
                Gamma = Array.copy stage.Gamma
                Mu = Array.copy stage.Mu
        }

        let learn = learnable stage.Method
        let n = stage.Gamma.Length

        let adam = {
            M = Array.zeroCreate (2 * n)
            V = Array.zeroCreate (2 * n)
            T = 0
        }
        // A fixed stage quantizes the training set once.
        let fixedInputs = if learn then [||] else samples |> Array.map (apply live)
        let rng = Random(tc.Seed)
        let order = Array.init samples.Length id
        let history = ResizeArray<GammaEpoch>()
        let mutable best = None
        let mutable bestScore = nan
        let mutable bestEpoch = 0
        let mutable waited = 0
        let mutable stopped = false
        let mutable epoch = 0
        let baseRate = Optim.baseRate tc.Optimizer

        while epoch < tc.Epochs && not stopped do
            let rate = Schedule.rate tc.Schedule baseRate tc.Epochs epoch

            let qRate =
                if baseRate > 0.0 then
                    cfg.QuantRate * rate / baseRate
                else
                    0.0

            // The only randomness of training (besides augmentation draws).
            Train.shuffle rng order

            let mutable lossSum = 0.0
            let mutable correct = 0

            for start in 0 .. tc.BatchSize .. order.Length - 1 do
                let m = min tc.BatchSize (order.Length - start)
                let idx = Array.sub order start m
                let ys = idx |> Array.map (fun i -> labels[i])

                if learn then
                    let xs = idx |> Array.map (fun i -> samples[i])
                    let inputs = xs |> Array.map (apply live)
                    let l, c, dIn = Train.stepWithInputGradients s inputs ys rate
                    let dg, dm = gradient live xs dIn
                    let values = Array.append live.Gamma live.Mu
                    adamStep adam qRate values (Array.append dg dm)

                    for k in 0 .. n - 1 do
                        live.Gamma[k] <- max cfg.GammaMin (min cfg.GammaMax values[k])
                        live.Mu[k] <- max -1.0 (min 1.0 values[n + k])

                    lossSum <- lossSum + l * float m
                    correct <- correct + c
                else
                    let l, c = Train.step s (idx |> Array.map (fun i -> fixedInputs[i])) ys rate
                    lossSum <- lossSum + l * float m
                    correct <- correct + c

            let vLoss, vAcc =
                match valid with
                | Some(vx, vy) when vx.Length > 0 ->
                    let logits =
                        Train.outputs tc.Path false (Train.sessionModel s) (vx |> Array.map (apply live))

                    let l, a = lossOf weights logits vy
                    Some l, Some a
                | _ -> None, None

            let log = {
                Epoch = epoch + 1
                TrainLoss = lossSum / float samples.Length
                TrainAccuracy = float correct / float samples.Length
                ValidLoss = vLoss
                ValidAccuracy = vAcc
                Gamma = Array.copy live.Gamma
                Mu = Array.copy live.Mu
            }

            history.Add log
            progress log

            match tc.Patience, vLoss, vAcc with
            | Some patience, Some l, Some a ->
                let score = if tc.Monitor = ValidLoss then l else -a

                if Double.IsNaN bestScore || score < bestScore then
                    bestScore <- score
                    bestEpoch <- epoch + 1

                    best <-
                        Some(
                            Train.sessionModel s,
                            {
                                live with
                                    Gamma = Array.copy live.Gamma
                                    Mu = Array.copy live.Mu
                            }
                        )

                    waited <- 0
                else
                    waited <- waited + 1

                    if waited >= patience then
                        stopped <- true
            | _ -> bestEpoch <- epoch + 1

            epoch <- epoch + 1

        let finalModel, finalStage =
            best |> Option.defaultWith (fun () -> Train.sessionModel s, live)

        {
            Model = finalModel
            Stage = finalStage
            History = List.ofSeq history
            BestEpoch = bestEpoch
        }

    /// Classification metrics of the network on the stage's quantization of the samples.
    let evaluate (model: Model) (stage: InputStage) (samples: float32[][]) (labels: int[]) : ClassMetrics =
        Train.evaluate model (samples |> Array.map (apply stage)) labels
