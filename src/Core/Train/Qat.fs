namespace Tern.Core

open System
open System.Diagnostics

/// Settings of quantization-aware ternary fine-tuning with magnitude pruning.
type QatConfig = {
    /// Fine-tuning epochs of the BN-folded model.
    Epochs: int
    BatchSize: int
    /// Adam base learning rate; the rate follows Schedule over all QAT epochs.
    LearningRate: float
    Schedule: Schedule
    /// L2 coefficient on conv/dense weights (0 leaves the ternary thresholds to the data).
    WeightDecay: float
    /// Fraction of each conv/dense layer's weights forced to zero at the end of the ramp.
    Sparsity: float
    /// Fraction of the epochs over which the pruned fraction ramps up (cubic) to Sparsity.
    RampFraction: float
    /// Ternarization as the lowering does it (LowerOptions.Ternary: ThresholdRatio 0.7, AlphaPerChannel).
    Threshold: TernaryThreshold
    AlphaMode: AlphaMode
    /// Training-time augmentation of the fine-tuning samples.
    Augment: Augmentation
    /// Seeds the shuffling; the same seed gives identical weights.
    Seed: int
    /// Worker threads per batch, 0 for every core (results do not depend on it).
    Threads: int
    /// Fake-quantize activations (int8, learned ranges) in the forward pass, on the tensors the lowering quantizes.
    ActivationQuant: bool
    /// Training inputs (evenly spaced) whose min-max initialises the activation ranges.
    RangeCalibration: int
    /// The range bounds' learning rate relative to the weights'.
    RangeRate: float
    /// Learn the input's range too (costs the first layer's input gradient); otherwise it stays at its min-max.
    LearnInputRange: bool
    /// Label smoothing of the fine-tuning loss (TrainConfig.LabelSmoothing); 0 is off.
    LabelSmoothing: float
    /// Knowledge distillation from the float model QAT starts from (BatchNorm folded, which is its inference mode) into
    /// its quantized self, on the same augmented batches; None trains on the labels alone.
    Distill: Distillation option
    /// Conv and dense layers (0 = the first of them) trained for, and lowered to, int8 weights instead of ternary
    /// ones (LowerOptions.Int8Layers); they are never pruned (int8 weights are stored densely).
    Int8Layers: Set<int>
}

/// Fraction of pruned weights and of zero ternary codes over all conv/dense layers.
type QatSparsity = {
    /// Weights held at zero by the pruning masks.
    Pruned: float
    /// Zero weights as the lowering will store them: ternary zero codes (TWN zeros and pruned zeros), and the zeros of
    /// any int8 layer.
    Ternary: float
}

/// One QAT epoch: the float training log, the pruned fraction in force and, with a validation split, the
/// accuracy of the ternary (alpha * t) float model on it.
type QatEpoch = {
    Log: EpochLog
    Pruned: float
    TernaryValidAccuracy: float option
}

/// The fine-tuned model and its facts.
type QatResult = {
    /// The BN-folded model with the latent (real-valued, pruned) weights. `Lower.lower LowerOptions.Ternary`
    /// (with the config's Threshold and AlphaMode) ternarizes exactly these weights to the trained codes.
    Latent: Model
    /// The same model with every conv/dense weight replaced by what the QAT forward pass used: alpha * t
    /// (trainTernary) or s_c * q (trainInt8).
    Ternary: Model
    /// Learned activation ranges [lo, hi] by range index (ActivationGrid.ofModel); empty without activation quant.
    Ranges: Map<int, float * float>
    /// The lowering that reproduces the trained weights: `Lower.lowerWith Lowering Ranges calibration Latent`.
    Lowering: LowerOptions
    /// Keep-masks by layer index of Latent (false = pruned).
    Masks: Map<int, bool[]>
    Sparsity: QatSparsity
    History: QatEpoch list
    /// 1-based epoch whose weights were kept (best ternary validation accuracy once the ramp is complete,
    /// else the last epoch).
    BestEpoch: int
}

/// Quantization-aware training: BN folded first, then fine-tuning with the forward pass on TWN-ternarized (or int8)
/// weights (straight-through gradient to the latent weights), magnitude pruning on a cubic schedule, and int8
/// fake-quantized activations with learned ranges (Train's ActivationQuant) on exactly the tensors the lowering
/// quantizes, so that the integer model's activation grid is the one trained on.
[<RequireQualifiedAccess>]
module Qat =

    /// 80 epochs of 32, Adam 1e-2 with a cosine schedule, no weight decay, 45 % pruning ramped over the first
    /// half, TWN threshold 0.5 * mean|w| (seed 000 and TWN use 0.7; 0.5 kept sp-sw-har's LOSO ternary macro-F1
    /// within 0.017 of FP32 instead of 0.027, and the radar study at 0.964 vs 0.966) with alpha per output channel;
    /// QatResult.Lowering carries the threshold to the lowering. Tuned on the
    /// radar simulator (5 folds): rate 1e-2 beat 3e-3, 1e-3 and 3e-4, and 80 epochs beat 40 and 120. Activations
    /// are NOT fake-quantized by default: on the radar study (5 folds, one run each) mean integer ternary accuracy
    /// was 0.966 without, 0.953 with ranges learned at the weights' rate and no better at a tenth of it; min-max
    /// calibration already agrees with the integer model on >= 98.5 % of inputs. ActivationQuant = true turns it on
    /// (ranges from min-max over 256 training inputs; the input's range stays at its min-max). No label smoothing and
    /// no distillation: distilling the FP32 model (T 4, a 0.5) cost sp-sw-har's LOSO ternary macro-F1 0.8 pp.
    let defaultConfig: QatConfig = {
        Epochs = 80
        BatchSize = 32
        LearningRate = 1e-2
        Schedule = Cosine 0
        WeightDecay = 0.0
        Sparsity = 0.45
        RampFraction = 0.5
        Threshold = ThresholdRatio 0.5
        AlphaMode = AlphaPerChannel
        Augment = NoAugmentation
        Seed = 1
        Threads = 0
        ActivationQuant = false
        RangeCalibration = 256
        RangeRate = 1.0
        LearnInputRange = false
        LabelSmoothing = 0.0
        Distill = None
        Int8Layers = Set.empty
    }

    /// int8 fine-tuning: 20 epochs of 32, Adam 1e-3 with a cosine schedule, no pruning, activation quantization on.
    /// (Not tuned: int8 weights sit close to the float ones, so a short, gentle fine-tuning suffices.)
    let defaultInt8Config: QatConfig = {
        defaultConfig with
            Epochs = 20
            LearningRate = 1e-3
            Sparsity = 0.0
            ActivationQuant = true
    }

    /// Output rows (channels) of each conv/dense layer, by layer index: the rows TWN computes alpha over.
    let weightRows (model: Model) : Map<int, int> =
        model.Layers
        |> List.indexed
        |> List.choose (fun (i, layer) ->
            match layer with
            | Conv2d c
            | DepthwiseConv2d c
            | Pointwise c -> Some(i, c.OutChannels)
            | Dense d -> Some(i, d.Outputs)
            | _ -> None)
        |> Map.ofList

    let internal weightsOf (layer: Layer) : float32[] option =
        match layer with
        | Conv2d c
        | DepthwiseConv2d c
        | Pointwise c -> Some c.Weight
        | Dense d -> Some d.Weight
        | _ -> None

    let private withWeights (layer: Layer) (w: float32[]) : Layer =
        match layer with
        | Conv2d c -> Conv2d { c with Weight = w }
        | DepthwiseConv2d c -> DepthwiseConv2d { c with Weight = w }
        | Pointwise c -> Pointwise { c with Weight = w }
        | Dense d -> Dense { d with Weight = w }
        | other -> other

    /// The weights alpha[row] * t the lowering stores for these weights (float32), rows = output channels.
    let ternaryWeights (threshold: TernaryThreshold) (mode: AlphaMode) (rows: int) (weights: float32[]) : float32[] =
        Quantize.ternarize threshold mode rows weights
        |> Quantize.ternaryValues
        |> Array.map float32

    /// The weights s_c * q that Lower's Int8Weights stores (per-channel symmetric int8), rows = output channels.
    let int8Weights (rows: int) (weights: float32[]) : float32[] =
        let ps = Quantize.perChannel 8 Symmetric rows weights
        let fanIn = weights.Length / rows

        weights
        |> Array.mapi (fun j w ->
            let p = ps[j / fanIn]
            float32 (p.Scale * float (Quantize.quantize p (float w))))

    /// The position of each conv/dense layer among them (0 = the first), by layer index.
    let weightOrdinals (model: Model) : Map<int, int> =
        model.Layers
        |> List.indexed
        |> List.filter (fun (_, layer) -> (weightsOf layer).IsSome)
        |> List.mapi (fun k (i, _) -> i, k)
        |> Map.ofList

    /// The model with each conv/dense layer's weights replaced by f (its position among them, its rows, its weights).
    let private mapWeights (f: int -> int -> float32[] -> float32[]) (model: Model) : Model =
        let rows = weightRows model
        let ordinals = weightOrdinals model

        {
            model with
                Layers =
                    model.Layers
                    |> List.mapi (fun i layer ->
                        match weightsOf layer with
                        | Some w -> withWeights layer (f ordinals[i] rows[i] w)
                        | None -> layer)
        }

    /// The values the lowering stores for one conv/dense layer's weights (rows = output channels): s_c * q for int8,
    /// alpha[row] * t for ternary.
    let storedWeights (weights: WeightChoice) (rows: int) (w: float32[]) : float32[] =
        match weights with
        | Int8Weights -> int8Weights rows w
        | TernaryWeights(threshold, mode) -> ternaryWeights threshold mode rows w

    /// The model with every conv/dense weight array replaced by what this lowering stores for it (its
    /// Int8Layers int8, the others as its Weights).
    let quantizedModel (lowering: LowerOptions) (model: Model) : Model =
        model
        |> mapWeights (fun ordinal rows w -> storedWeights (lowering.WeightsAt ordinal) rows w)

    /// The model with every conv/dense weight array replaced by its int8 values s_c * q.
    let int8Model (model: Model) : Model = quantizedModel LowerOptions.Int8 model

    /// The model with every conv/dense weight array replaced by its ternary values alpha * t.
    let ternaryModel (threshold: TernaryThreshold) (mode: AlphaMode) (model: Model) : Model =
        quantizedModel
            {
                Weights = TernaryWeights(threshold, mode)
                Int8Layers = Set.empty
            }
            model

    /// Fraction of zero ternary codes over all conv/dense weights of the model.
    let ternarySparsity (threshold: TernaryThreshold) (mode: AlphaMode) (model: Model) : float =
        let rows = weightRows model
        let mutable zeros = 0L
        let mutable total = 0L

        model.Layers
        |> List.iteri (fun i layer ->
            match weightsOf layer with
            | Some w ->
                let t = Quantize.ternarize threshold mode rows[i] w
                zeros <- zeros + int64 (t.Codes |> Array.filter (fun c -> c = 0y) |> Array.length)
                total <- total + int64 w.Length
            | None -> ())

        if total = 0L then 0.0 else float zeros / float total

    /// Target pruned fraction after `epoch` (1-based) of `rampEpochs`: final * (1 - (1 - e/r)^3), final from r on.
    let cubicSparsity (final: float) (rampEpochs: int) (epoch: int) : float =
        if rampEpochs <= 0 then
            final
        else
            let x = min 1.0 (float (max 0 epoch) / float rampEpochs)
            final * (1.0 - Math.Pow(1.0 - x, 3.0))

    /// Keep-mask pruning ceil(fraction * n) weights of smallest |w| / (mean |w| of its row): the row
    /// normalisation matches per-channel ternary scales, so a channel of small folded weights is not wiped
    /// out. Weights already pruned (previous false entries) stay pruned; ties go to the lower index.
    let magnitudeMask (rows: int) (fraction: float) (previous: bool[] option) (weights: float32[]) : bool[] =
        let n = weights.Length
        let perRow = n / max 1 rows

        let rowMean =
            Array.init rows (fun r ->
                let mutable s = 0.0

                for j in r * perRow .. r * perRow + perRow - 1 do
                    s <- s + abs (float weights[j])

                s / float (max 1 perRow))

        let score i =
            match previous with
            | Some p when not p[i] -> -1.0
            | _ ->
                let m = rowMean[i / max 1 perRow]
                if m > 0.0 then abs (float weights[i]) / m else 0.0

        let count =
            int (Math.Ceiling(Math.Round(fraction * float n, 9)))
            |> max (
                match previous with
                | Some p -> p |> Array.filter not |> Array.length
                | None -> 0
            )
            |> min n

        let order = Array.init n id |> Array.sortBy (fun i -> score i, i)
        let keep = Array.create n true

        for k in 0 .. count - 1 do
            keep[order[k]] <- false

        keep

    /// The model as QAT's pruning at `sparsity` leaves it: in every conv/dense layer the lowering keeps ternary, the
    /// weights magnitudeMask drops set to zero (int8 layers are never pruned). The masks are row-normalised, so
    /// folding a BatchNorm's per-channel scale into the weights first drops the same weights.
    let prunedAsQat (lowering: LowerOptions) (sparsity: float) (model: Model) : Model =
        if sparsity <= 0.0 then
            model
        else
            model
            |> mapWeights (fun ordinal rows w ->
                if lowering.Int8Layers.Contains ordinal then
                    w
                else
                    let keep = magnitudeMask rows sparsity None w
                    Array.map2 (fun k x -> if k then x else 0.0f) keep w)

    let private prunedFraction (masks: Map<int, bool[]>) (model: Model) : float =
        let total =
            model.Layers
            |> List.sumBy (fun l -> weightsOf l |> Option.map Array.length |> Option.defaultValue 0)

        let pruned =
            masks |> Seq.sumBy (fun kv -> kv.Value |> Array.filter not |> Array.length)

        if total = 0 then 0.0 else float pruned / float total

    // Copies the optimiser state (moments and step counts) between sessions of the same model, so that renewing
    // the masks does not restart Adam.
    let private carryState (from: TrainSession) (into: TrainSession) =
        let copy (p: Param) (q: Param) =
            Array.blit p.State.First 0 q.State.First 0 p.State.First.Length
            Array.blit p.State.Second 0 q.State.Second 0 p.State.Second.Length
            q.State.Steps <- p.State.Steps

        Array.iter2 (fun (a: Node) (b: Node) -> Array.iter2 copy a.Params b.Params) from.Nodes into.Nodes

        Array.iter2
            (fun (a: QuantPoint option) (b: QuantPoint option) ->
                match a, b with
                | Some a, Some b when a.Owns && b.Owns -> copy a.Range b.Range
                | _ -> ())
            from.QuantAt
            into.QuantAt

    /// Initial activation quantization for the BN-folded model: every tensor the lowering quantizes, its range
    /// the min-max over the inputs of the model with effective (quantized) weights; pools follow their input's grid.
    let initialActivationQuant (cfg: QatConfig) (effective: Model) (inputs: Tensor list) : ActivationQuant =
        let grids = ActivationGrid.ofModel effective
        let own = grids |> Map.filter (fun k v -> k = v)
        let ranges = Collections.Generic.Dictionary<int, float * float>()

        let observe i (t: Tensor) =
            if own.ContainsKey i then
                let lo, hi = Quantize.minMax t.Data

                let lo, hi =
                    match ranges.TryGetValue i with
                    | true, (a, b) -> min a lo, max b hi
                    | _ -> min 0.0 lo, max 0.0 hi

                ranges[i] <- (lo, hi)

        for x in inputs do
            observe 0 x
            Forward.activations effective x |> List.iteri (fun i t -> observe (i + 1) t)

        {
            Ranges =
                own
                |> Map.map (fun i _ -> if ranges.ContainsKey i then ranges[i] else (0.0, 0.0))
            Follow = grids |> Map.filter (fun k v -> k <> v)
            Frozen = (if cfg.LearnInputRange then Set.empty else Set.singleton 0)
            RateScale = cfg.RangeRate
        }

    /// Logits of the QAT forward pass of a result in inference mode: its quantized weights (Ternary) and, when it
    /// learned ranges, activations fake-quantized on them as in training (Optimised path, batches of 64).
    let outputs (result: QatResult) (inputs: float32[][]) : float32[][] =
        let grids = ActivationGrid.ofModel result.Ternary

        let aq =
            if result.Ranges.IsEmpty then
                None
            else
                Some {
                    Ranges = result.Ranges
                    Follow = grids |> Map.filter (fun k v -> k <> v)
                    Frozen = result.Ranges |> Map.keys |> Set.ofSeq
                    RateScale = 0.0
                }

        let cfg = {
            Train.defaultConfig with
                BatchSize = 64
                Threads = 2
                ActivationQuant = aq
        }

        Train.outputsWith cfg result.Ternary inputs

    // Fraction of exactly zero weights among the conv/dense weights of a model.
    let private zeroFraction (model: Model) : float =
        let ws = model.Layers |> List.choose weightsOf |> Array.concat

        if ws.Length = 0 then
            0.0
        else
            float (ws |> Array.filter (fun w -> w = 0.0f) |> Array.length) / float ws.Length

    // The shared fine-tuning loop of trainTernary and trainInt8: the forward pass uses the weights `lowering` stores.
    let private fineTune
        (cfg: QatConfig)
        (lowering: LowerOptions)
        (model: Model)
        (train: float32[][] * int[])
        (valid: (float32[][] * int[]) option)
        (progress: QatEpoch -> unit)
        : QatResult =
        let samples, labels = train
        Train.checkTrainingSet train cfg.Epochs

        if not (cfg.Sparsity >= 0.0 && cfg.Sparsity < 1.0) then
            invalidArg "cfg" $"sparsity must lie in [0, 1), got {cfg.Sparsity}"

        let folded = Fold.batchNorm model
        let rows = weightRows folded
        let ordinals = weightOrdinals folded
        let effective = quantizedModel lowering
        let zeros = effective >> zeroFraction

        let transform (i: int) (w: float32[]) : float32[] =
            match rows.TryFind i with
            | Some r -> storedWeights (lowering.WeightsAt ordinals[i]) r w
            | None -> w

        let rampEpochs =
            if cfg.Sparsity > 0.0 then
                max 1 (int (Math.Ceiling(float cfg.Epochs * cfg.RampFraction)))
            else
                0

        let activationQuant =
            if cfg.ActivationQuant then
                // Evenly spaced training inputs, as the study's calibration.
                let n = samples.Length
                let m = max 1 (min cfg.RangeCalibration n)

                let inputs =
                    List.init m (fun k -> Tensor.ofArray folded.Input samples[int (int64 k * int64 n / int64 m)])

                Some(initialActivationQuant cfg (effective folded) inputs)
            else
                None

        let trainCfg = {
            Train.defaultConfig with
                Epochs = cfg.Epochs
                BatchSize = cfg.BatchSize
                Optimizer = Adam(cfg.LearningRate, 0.9, 0.999, 1e-8)
                Schedule = cfg.Schedule
                WeightDecay = cfg.WeightDecay
                Patience = None
                Seed = cfg.Seed
                Threads = cfg.Threads
                Path = Optimised
                WeightTransform = Some transform
                Masks = Map.empty
                ActivationQuant = activationQuant
                LabelSmoothing = cfg.LabelSmoothing
                Distill = cfg.Distill |> Option.map (fun d -> folded, d)
        }

        // Accuracy of the QAT forward pass (quantized weights, and activations with the given ranges) on a split.
        let quantAccuracy (latent: Model) (ranges: Map<int, float * float>) (vx: float32[][]) (vy: int[]) =
            match activationQuant with
            | Some aq ->
                let outs =
                    Train.outputsWith
                        {
                            trainCfg with
                                ActivationQuant = Some { aq with Ranges = ranges }
                        }
                        latent
                        vx

                let correct =
                    Array.map2 (fun (o: float32[]) y -> if Tensor.argmax o = y then 1 else 0) outs vy
                    |> Array.sum

                float correct / float (max 1 vx.Length)
            | None -> (Train.evaluate (effective latent) vx vy).Accuracy

        let rng = Random(cfg.Seed)
        let order = Array.init samples.Length id
        let history = ResizeArray<QatEpoch>()
        let mutable masks: Map<int, bool[]> = Map.empty
        let mutable current = folded
        let mutable session = Train.session trainCfg folded None

        let mutable best: (Model * Map<int, bool[]> * Map<int, float * float> * int) option =
            None

        let mutable bestAcc = -1.0

        for epoch in 0 .. cfg.Epochs - 1 do
            let watch = Stopwatch.StartNew()

            // Renew the masks at the start of each ramp epoch. Optim.update keeps pruned weights at zero only for
            // the masks a session was made with, so a new mask means a new session; the optimiser state and the
            // learned activation ranges move over.
            if epoch < rampEpochs then
                let target = cubicSparsity cfg.Sparsity rampEpochs (epoch + 1)
                current <- Train.sessionModel session

                masks <-
                    current.Layers
                    |> List.indexed
                    |> List.choose (fun (i, layer) ->
                        match weightsOf layer with
                        | Some w when not (lowering.Int8Layers.Contains ordinals[i]) ->
                            Some(i, magnitudeMask rows[i] target (masks.TryFind i) w)
                        | _ -> None)
                    |> Map.ofList

                let nextCfg = {
                    trainCfg with
                        Masks = masks
                        ActivationQuant =
                            activationQuant
                            |> Option.map (fun aq -> {
                                aq with
                                    Ranges = Train.activationRanges session
                            })
                }

                let next = Train.session nextCfg current None
                carryState session next
                session <- next

            let rate = Schedule.rate cfg.Schedule cfg.LearningRate cfg.Epochs epoch

            // The only randomness of training (besides augmentation draws).
            Train.shuffle rng order

            let mutable lossSum = 0.0
            let mutable correct = 0

            for start in 0 .. cfg.BatchSize .. order.Length - 1 do
                let n = min cfg.BatchSize (order.Length - start)
                let idx = Array.sub order start n

                let batch =
                    idx
                    |> Array.map (fun i -> Augment.apply cfg.Augment folded.Input rng samples[i])

                let l, c = Train.step session batch (idx |> Array.map (fun i -> labels[i])) rate

                lossSum <- lossSum + l * float n
                correct <- correct + c

            let latent = Train.sessionModel session
            let ranges = Train.activationRanges session

            let validAcc =
                match valid with
                | Some(vx, vy) when vx.Length > 0 -> Some(quantAccuracy latent ranges vx vy)
                | _ -> None

            let pruned = prunedFraction masks folded

            let entry = {
                Log = {
                    Epoch = epoch + 1
                    Epochs = cfg.Epochs
                    LearningRate = rate
                    TrainLoss = lossSum / float samples.Length
                    TrainAccuracy = float correct / float samples.Length
                    ValidLoss = None
                    ValidAccuracy = validAcc
                    Seconds = watch.Elapsed.TotalSeconds
                }
                Pruned = pruned
                TernaryValidAccuracy = validAcc
            }

            history.Add entry
            progress entry

            // Only models at the full target sparsity compete; ties go to the later (lower-rate) epoch.
            match validAcc with
            | Some acc when epoch + 1 >= rampEpochs && acc >= bestAcc ->
                bestAcc <- acc
                best <- Some(latent, masks, ranges, epoch + 1)
            | _ -> ()

        let latent, finalMasks, finalRanges, bestEpoch =
            match best with
            | Some b -> b
            | None -> Train.sessionModel session, masks, Train.activationRanges session, cfg.Epochs


        {
            Latent = latent
            Ternary = effective latent
            Ranges = finalRanges
            Lowering = lowering
            Masks = finalMasks
            Sparsity = {
                Pruned = prunedFraction finalMasks latent
                Ternary = zeros latent
            }
            History = List.ofSeq history
            BestEpoch = bestEpoch
        }

    /// Fine-tunes a trained float model (with or without BatchNorm) for ternary weights: folds BN, then trains
    /// with the forward pass on TWN weights (and, with cfg.ActivationQuant, int8 fake-quantized activations with
    /// learned ranges) and prunes by magnitude on a cubic schedule (masks renewed every epoch of the ramp). With a
    /// validation split the kept weights are those of the best quantized validation accuracy after the ramp.
    /// Throws ArgumentException on bad input.
    let trainTernary
        (cfg: QatConfig)
        (model: Model)
        (train: float32[][] * int[])
        (valid: (float32[][] * int[]) option)
        (progress: QatEpoch -> unit)
        : QatResult =
        fineTune
            cfg
            {
                Weights = TernaryWeights(cfg.Threshold, cfg.AlphaMode)
                Int8Layers = cfg.Int8Layers
            }
            model
            train
            valid
            progress

    /// Fine-tunes a trained float model for int8 weights (per-channel symmetric, exactly as Lower's Int8Weights)
    /// with int8 fake-quantized activations as trainTernary (defaultInt8Config: no pruning). Sparsity.Ternary then
    /// holds the fraction of zero int8 weights. Throws ArgumentException on bad input.
    let trainInt8
        (cfg: QatConfig)
        (model: Model)
        (train: float32[][] * int[])
        (valid: (float32[][] * int[]) option)
        (progress: QatEpoch -> unit)
        : QatResult =
        fineTune cfg LowerOptions.Int8 model train valid progress
