namespace Tern.Studies

open Tern.Core

open System.Diagnostics

/// Which residual blocks go first when fewer are retained (seed 003: a fixed drop order).
type DropOrder =
    /// The last blocks first, keeping the early high-resolution ones (seed 003's suffix order).
    | Suffix
    /// The blocks whose residual branch adds the least energy to its input first (sum of squares of the branch
    /// output over that of the block input, on the calibration inputs).
    | BranchEnergy

/// Settings of seed 003's hybrid pruning search.
type SearchStudyConfig = {
    Seed: int
    /// A block-structured architecture (Architectures.forData; "blocks").
    Architecture: string
    DropOrder: DropOrder
    /// Fraction of the subjects that form the validation set (the search's subsets and the final verification).
    Validation: float
    /// Baseline training (no early stopping: the validation set is the search's).
    Train: TrainConfig
    /// The decision protocol; its Target is replaced by the baseline's validation accuracy minus AllowedDrop.
    Protocol: DecisionProtocol
    /// The accuracy target is the baseline's full-validation accuracy minus this.
    AllowedDrop: float
    /// Learning rate of the short fine-tunes (Adam, constant).
    FineTuneRate: float
    /// Sparsity grid: 0, step, ..., max.
    SparsityStep: float
    SparsityMax: float
    Budget: Budget
    /// Measures a candidate's device instructions per inference (the CLI lowers it to ternary and runs it on the
    /// emulated board); called only when the budget limits instructions, once per candidate.
    MeasureInstructions: (Model -> int64) option
    /// Repacking after the sparsity search removes channels whose energy is at most this fraction of their layer's
    /// mean (0 = exactly dead channels only).
    Repack: float
    /// Training inputs (evenly spaced) for BN re-estimation, repacking and the lowering.
    Calibration: int
    Threads: int
    Augment: Augmentation option
}

/// One of the two searches of the study.
type SearchStage<'c> = { Result: SearchResult<'c>; Grid: 'c[] }

type SearchStudyResult = {
    Architecture: string
    BaselineAccuracy: float
    Target: float
    /// Droppable blocks of the baseline.
    Blocks: int
    /// Block positions in the order they are dropped.
    DropSequence: int list
    BlockSearch: SearchStage<int>
    SparsitySearch: SearchStage<float>
    /// Retained blocks and global unstructured sparsity chosen (None when no candidate met the target).
    BStar: int option
    RStar: float option
    /// Full-validation accuracy of the final model (after repacking).
    Accuracy: float
    /// Classification metrics of the final model on the whole validation set (its Accuracy is Accuracy).
    FinalMetrics: ClassMetrics
    /// The final model: blocks dropped, weights pruned (zeros), dead channels repacked.
    Model: Model
    Repacked: Surgery.Repacked list
    /// Channels repacking would have removed but did not, because the repacked model missed the target.
    RepackUndone: int
    BaselineReduction: ModelReduction
    /// Fraction of conv and dense weights that are zero in the final model.
    WeightSparsity: float
    /// Budget violations of the final model (empty when it fits; with no candidate found, the baseline's).
    BudgetViolations: string list
    ValidationSamples: int
    Seconds: float
}

type SearchProgress =
    | SearchBaselineEpoch of EpochLog
    | Evaluated of stage: string * index: int * seconds: float

/// Seed 003's pipeline: a block-structured baseline; bisection over the number of retained blocks B (dropping the
/// last blocks first), each candidate judged by the cheap decision protocol (BN re-estimation, 1-3 epochs of
/// fine-tuning, repeated validation subsets); then bisection over the global L1-percentile sparsity r of the
/// chosen model (masks that stay zero through fine-tuning); then repacking of dead channels and a final check on
/// the full validation set.
[<RequireQualifiedAccess>]
module StudySearch =

    /// The "blocks" architecture, 25 % of the subjects for validation, 25 baseline epochs (Adam 3e-3 cosine), the
    /// default protocol (2 epochs, 20 % subsets, 2 repeats, tolerance 0.02), a 0.01 allowed drop, sparsity grid
    /// 0..0.95 step 0.05, no budget, repacking of exactly dead channels, 128 calibration inputs.
    let defaultConfig: SearchStudyConfig = {
        Seed = 1
        Architecture = "blocks"
        DropOrder = Suffix
        Validation = 0.25
        Train = {
            Train.defaultConfig with
                Epochs = 25
                Optimizer = Adam(3e-3, 0.9, 0.999, 1e-8)
                Patience = None
        }
        Protocol = Search.defaultProtocol 0.0
        AllowedDrop = 0.01
        FineTuneRate = 5e-4
        SparsityStep = 0.05
        SparsityMax = 0.95
        Budget = {
            MaxFlops = None
            MaxParams = None
            MaxInstructions = None
        }
        MeasureInstructions = None
        Repack = 0.0
        Calibration = 128
        Threads = 0
        Augment = None
    }

    /// Keeps the first `retain` droppable blocks (the fixed drop order removes the last ones first).
    let retainBlocks (retain: int) (model: Model) : Model =
        let n = (Model.residualBlocks model).Length
        Model.dropBlocks [ retain .. n - 1 ] model

    /// Keeps `retain` blocks, dropping the first n - retain positions of `sequence`.
    let retainBlocksBy (sequence: int list) (retain: int) (model: Model) : Model =
        let n = (Model.residualBlocks model).Length
        Model.dropBlocks (List.truncate (n - retain) sequence) model

    /// Per residual block, the energy its branch adds relative to its input over the calibration inputs.
    let branchEnergy (calibration: Tensor list) (model: Model) : float[] =
        let blocks = Model.residualBlocks model |> List.toArray
        let num = Array.zeroCreate<float> blocks.Length
        let den = Array.zeroCreate<float> blocks.Length

        let sumSq (t: Tensor) =
            t.Data |> Array.sumBy (fun v -> float v * float v)

        for x in calibration do
            // inputs[i] is what enters layer i: the block input at its first layer, the branch output at its add.
            let inputs = Array.ofList (x :: Forward.activations model x)

            blocks
            |> Array.iteri (fun k (first, last) ->
                num[k] <- num[k] + sumSq inputs[last]
                den[k] <- den[k] + sumSq inputs[first])

        Array.map2 (fun n d -> if d > 0.0 then n / d else n) num den

    /// Block positions in the order they are dropped (ties to the later block).
    let dropSequence (order: DropOrder) (calibration: Tensor list) (model: Model) : int list =
        let n = (Model.residualBlocks model).Length

        match order with
        | Suffix -> [ n - 1 .. -1 .. 0 ]
        | BranchEnergy ->
            let e = branchEnergy calibration model

            [ 0 .. n - 1 ]
            |> List.sortWith (fun a b ->
                let c = compare e[a] e[b]
                if c <> 0 then c else compare b a)

    /// Zeroes the weights the masks prune.
    let applyMasks (masks: Map<int, bool[]>) (model: Model) : Model =
        let mask (i: int) (w: float32[]) =
            match masks.TryFind i with
            | Some keep -> Array.map2 (fun v k -> if k then v else 0.0f) w keep
            | None -> w

        {
            model with
                Layers =
                    model.Layers
                    |> List.mapi (fun i l ->
                        match l with
                        | Conv2d c -> Conv2d { c with Weight = mask i c.Weight }
                        | DepthwiseConv2d c -> DepthwiseConv2d { c with Weight = mask i c.Weight }
                        | Pointwise c -> Pointwise { c with Weight = mask i c.Weight }
                        | Dense d -> Dense { d with Weight = mask i d.Weight }
                        | other -> other)
        }

    /// Non-zero conv and dense weights plus every other parameter: what a sparse model stores.
    let nonZeroParams (model: Model) : int =
        model.Layers
        |> List.sumBy (fun l ->
            let nz (w: float32[]) =
                w |> Array.sumBy (fun v -> if v = 0.0f then 0 else 1)

            match l with
            | Conv2d c
            | DepthwiseConv2d c
            | Pointwise c -> nz c.Weight + c.Bias.Length
            | Dense d -> nz d.Weight + d.Bias.Length
            | other -> Model.paramCount other)

    /// Fraction of zero weights over conv and dense layers.
    let weightSparsity (model: Model) : float =
        let weights =
            model.Layers
            |> List.collect (function
                | Conv2d c
                | DepthwiseConv2d c
                | Pointwise c -> [ c.Weight ]
                | Dense d -> [ d.Weight ]
                | _ -> [])

        let total = weights |> List.sumBy Array.length
        let zeros = weights |> List.sumBy (Array.sumBy (fun v -> if v = 0.0f then 1 else 0))
        if total = 0 then 0.0 else float zeros / float total

    /// Runs the study; deterministic for a seed. Throws ArgumentException on bad data or settings.
    let run (cfg: SearchStudyConfig) (data: Dataset) (progress: SearchProgress -> unit) : SearchStudyResult =
        match Dataset.validate data with
        | Error e -> invalidArg "data" e
        | Ok() -> ()

        match Search.validate cfg.Protocol with
        | Error e -> invalidArg "cfg" e
        | Ok() -> ()

        let total = Stopwatch.StartNew()
        let seed = cfg.Seed
        let all = Array.init data.Samples.Length id
        let trainIdx, validIdx = Splits.groupHoldout cfg.Validation seed all data.Subjects

        if validIdx.Length = 0 then
            invalidArg "data" "the search needs at least two subjects (one for validation)"

        let train = Dataset.pick trainIdx data
        let validX, validY = Dataset.pick validIdx data
        let augment = defaultArg cfg.Augment data.Augment
        let calibration = Pipeline.calibrationInputs data.Shape cfg.Calibration (fst train)

        let initial =
            match Architectures.forData cfg.Architecture data.Shape data.Classes seed with
            | Ok m -> m
            | Error e -> invalidArg "cfg" e

        let blocks = (Model.residualBlocks initial).Length

        if cfg.Budget.MaxInstructions.IsSome && cfg.MeasureInstructions.IsNone then
            invalidArg "cfg" "an instruction budget needs a way to measure instructions (MeasureInstructions)"

        let instructions (m: Model) =
            match cfg.Budget.MaxInstructions, cfg.MeasureInstructions with
            | Some _, Some measure -> Some(measure m)
            | _ -> None

        if blocks = 0 then
            invalidArg "cfg" $"architecture {cfg.Architecture} has no droppable residual blocks"

        let trainCfg = {
            cfg.Train with
                Seed = seed
                Threads = cfg.Threads
                Augment = augment
        }

        let baseline =
            (Train.fit trainCfg initial train None (fun log -> progress (SearchBaselineEpoch log))).Model

        let accuracyOn (idx: int[]) (model: Model) =
            (Train.evaluate model (idx |> Array.map (fun i -> validX[i])) (idx |> Array.map (fun i -> validY[i])))
                .Accuracy

        let fullValidation (model: Model) =
            (Train.evaluate model validX validY).Accuracy

        let baseAcc = fullValidation baseline
        let target = baseAcc - cfg.AllowedDrop
        let protocol = { cfg.Protocol with Target = target }

        let subsetSize =
            (Search.subset protocol.Seed 0 protocol.SubsetFraction validY).Length

        let fineTune (masks: Map<int, bool[]>) (repeat: int) (model: Model) : Model =
            let c = {
                trainCfg with
                    Epochs = protocol.FineTuneEpochs
                    Optimizer = Adam(cfg.FineTuneRate, 0.9, 0.999, 1e-8)
                    Schedule = Constant
                    Seed = seed * 100 + repeat
                    Masks = masks
            }

            (Train.fit c model train None ignore).Model

        // The fine-tuned model of each (stage, index) at repeat 0, kept for the verification.
        let tuned = System.Collections.Generic.Dictionary<string * int, Model>()

        let screen (stage: string) (prepare: int -> Model * Map<int, bool[]>) (index: int) : float list =
            let watch = Stopwatch.StartNew()
            let model, masks = prepare index

            let accs = [
                for r in 0 .. protocol.Repeats - 1 do
                    let m = fineTune masks r model

                    if r = 0 then
                        tuned[(stage, index)] <- m

                    yield accuracyOn (Search.subset protocol.Seed r protocol.SubsetFraction validY) m
            ]

            progress (Evaluated(stage, index, watch.Elapsed.TotalSeconds))
            accs

        let verifyModel (stage: string) (prepare: int -> Model * Map<int, bool[]>) (index: int) : Model =
            match tuned.TryGetValue((stage, index)) with
            | true, m -> m
            | _ ->
                let model, masks = prepare index
                let m = fineTune masks 0 model
                tuned[(stage, index)] <- m
                m

        // Stage 1: retained blocks, least aggressive (all kept) first.
        let blockGrid = Search.blockGrid blocks

        let sequence = dropSequence cfg.DropOrder calibration baseline

        let prepareBlocks (index: int) =
            if index = 0 then
                baseline, Map.empty
            else
                Surgery.reestimateBatchNorm calibration (retainBlocksBy sequence blockGrid[index] baseline), Map.empty

        let blockCosts (b: int) =
            let m = retainBlocksBy sequence b baseline

            {
                Flops = Model.totalMacs m
                Params = Model.totalParams m
                Instructions = instructions m
            }

        // One search: bisection over a grid whose index 0 is `start` itself; the result and the chosen model.
        let searchStage
            (stage: string)
            (grid: 'c[])
            (start: Model)
            (prepare: int -> Model * Map<int, bool[]>)
            (costs: 'c -> Costs)
            (seedOffset: int)
            =
            let modelAt i =
                if i = 0 then start else verifyModel stage prepare i

            let result =
                Search.bisect
                    grid
                    costs
                    cfg.Budget
                    (fun i _ -> screen stage prepare i)
                    {
                        protocol with
                            Seed = protocol.Seed + seedOffset
                    }
                    subsetSize
                    (fun c -> fullValidation (modelAt (Array.findIndex ((=) c) grid)))

            result, (result.Chosen |> Option.map modelAt |> Option.defaultValue start)

        let blockResult, structured =
            searchStage "blocks" blockGrid baseline prepareBlocks blockCosts 0

        let bStar = blockResult.Chosen |> Option.map (fun i -> blockGrid[i])

        // Stage 2: global L1-percentile sparsity on the chosen backbone, masks kept through fine-tuning.
        let sparsityGrid = Search.sparsityGrid cfg.SparsityStep cfg.SparsityMax

        let prepareSparsity (index: int) =
            let masks = PruneCriteria.unstructuredMasks sparsityGrid[index] structured
            Surgery.reestimateBatchNorm calibration (applyMasks masks structured), masks

        let sparsityCosts (r: float) =
            let m = applyMasks (PruneCriteria.unstructuredMasks r structured) structured

            {
                Flops = Model.totalMacs m
                Params = nonZeroParams m
                Instructions = instructions m
            }

        let sparsityResult, sparse =
            searchStage "sparsity" sparsityGrid structured prepareSparsity sparsityCosts 1

        let rStar = sparsityResult.Chosen |> Option.map (fun i -> sparsityGrid[i])

        // Repacking removes channels that were dead on the calibration inputs; if that costs the target on the
        // validation set, the unrepacked model stands.
        let final, repacked, undone, accuracy =
            let r, report = Surgery.repack cfg.Repack calibration sparse
            let repackedAccuracy = fullValidation r

            if repackedAccuracy >= target then
                r, report, 0, repackedAccuracy
            else
                let sparseAccuracy = fullValidation sparse

                if sparseAccuracy < target then
                    r, report, 0, repackedAccuracy
                else
                    sparse, [], report |> List.sumBy (fun x -> x.Removed.Length), sparseAccuracy

        {
            Architecture = cfg.Architecture
            BaselineAccuracy = baseAcc
            Target = target
            Blocks = blocks
            DropSequence = sequence
            BlockSearch = {
                Result = blockResult
                Grid = blockGrid
            }
            SparsitySearch = {
                Result = sparsityResult
                Grid = sparsityGrid
            }
            BStar = bStar
            RStar = rStar
            Accuracy = accuracy
            FinalMetrics = Train.evaluate final validX validY
            Model = final
            Repacked = repacked
            RepackUndone = undone
            BaselineReduction = Reduction.compare baseline final
            WeightSparsity = weightSparsity final
            BudgetViolations =
                Search.budgetViolations cfg.Budget {
                    Flops = Model.totalMacs final
                    Params = nonZeroParams final
                    Instructions = instructions final
                }
            ValidationSamples = validIdx.Length
            Seconds = total.Elapsed.TotalSeconds
        }
