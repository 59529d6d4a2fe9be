namespace Tern.Core

open Tern.Runtime

/// Structural pruning: removing output channels (filters) of a layer together with everything that depends on
/// them, turning dead channels into such removals (repacking), and re-estimating batch-norm statistics.
/// Layers are never removed, so layer indices stay valid across surgeries.
[<RequireQualifiedAccess>]
module Surgery =

    let private keepOf (n: int) (drop: Set<int>) : int[] = [|
        for c in 0 .. n - 1 do
            if not (drop.Contains c) then
                c
    |]

    // Keeps whole rows (one per kept index) of a row-major array.
    let private keepRows (rowLen: int) (keep: int[]) (a: float32[]) : float32[] =
        keep |> Array.collect (fun r -> Array.sub a (r * rowLen) rowLen)

    let private pick (keep: int[]) (a: float32[]) : float32[] = keep |> Array.map (fun i -> a[i])

    // Conv/Pointwise weight rows are (kh, kw, ic): keeps the kept input channels at every kernel position.
    let private keepInputChannels (c: ConvSpec) (keep: int[]) : ConvSpec =
        let positions = c.KernelH * c.KernelW
        let rowLen = positions * c.InChannels

        let weight = [|
            for o in 0 .. c.OutChannels - 1 do
                for p in 0 .. positions - 1 do
                    for ic in keep do
                        yield c.Weight[o * rowLen + p * c.InChannels + ic]
        |]

        {
            c with
                InChannels = keep.Length
                Weight = weight
        }

    let private batchNormKeep (keep: int[]) (b: BatchNormSpec) : BatchNormSpec = {
        b with
            Gamma = pick keep b.Gamma
            Beta = pick keep b.Beta
            Mean = pick keep b.Mean
            Var = pick keep b.Var
    }

    /// Where the channels of a producer layer end: the consumer that reads them (a Conv2d, Pointwise or Dense
    /// taking them as inputs), the channel-wise layers in between (BatchNorm, activations, pooling, depthwise,
    /// Flatten), and the layer whose output the consumer reads (for energy measurements).
    type Chain = {
        Producer: int
        /// Layers strictly between producer and consumer, in order.
        Between: int list
        Consumer: int
        /// Index of the last layer before the consumer whose output still has the producer's channels as its C
        /// dimension (the producer itself when nothing channel-wise follows); Flatten ends that.
        LastChannelled: int
    }

    /// The chain from layer `index` to the consumer of its output channels, or why its channels cannot be removed.
    let chain (model: Model) (index: int) : Result<Chain, string> =
        let layers = List.toArray model.Layers

        let producerOk =
            if index < 0 || index >= layers.Length then
                Error $"layer {index} does not exist (the model has {layers.Length})"
            else
                match layers[index] with
                | Conv2d _
                | Pointwise _
                | Dense _ -> Ok()
                | DepthwiseConv2d _ ->
                    Error $"layer {index} (depthwise) has its channels from the layer before it: remove them there"
                | other -> Error $"layer {index} ({Model.kindName other}) has no filters"

        let rec walk j (between: int list) (lastChannelled: int) (flattened: bool) =
            if j >= layers.Length then
                Error $"the channels of layer {index} are the model's outputs"
            else
                match layers[j] with
                | Conv2d _
                | Pointwise _
                | Dense _ ->
                    Ok {
                        Producer = index
                        Between = List.rev between
                        Consumer = j
                        LastChannelled = lastChannelled
                    }
                | Flatten -> walk (j + 1) (j :: between) lastChannelled true
                | BatchNorm _
                | ReLU
                | ReLU6
                | MaxPool _
                | AvgPool _
                | GlobalAvgPool
                | DepthwiseConv2d _ when not flattened -> walk (j + 1) (j :: between) j flattened
                | ReLU
                | ReLU6 -> walk (j + 1) (j :: between) lastChannelled flattened
                | other ->
                    Error
                        $"the channels of layer {index} reach layer {j} ({Model.kindName other}), which cannot lose channels"

        // A tensor on the way that enters a residual block is also its shortcut: the add needs all its channels.
        let shortcut (ch: Chain) =
            match
                Model.residualBlocks model
                |> List.tryFind (fun (first, _) -> first > ch.Producer && first <= ch.Consumer)
            with
            | Some(first, _) ->
                Error $"the channels of layer {index} also feed the shortcut of the residual block at layer {first}"
            | None -> Ok ch

        producerOk
        |> Result.bind (fun () -> walk (index + 1) [] index false)
        |> Result.bind shortcut

    /// Layers whose filters can be removed (Conv2d, Pointwise and hidden Dense layers whose channels reach a consumer).
    let prunable (model: Model) : int list =
        model.Layers
        |> List.mapi (fun i _ -> i)
        |> List.filter (fun i -> Result.isOk (chain model i))

    let private removeOne (index: int) (drop: Set<int>) (model: Model) : Result<Model, string> =
        match chain model index with
        | Error e -> Error e
        | Ok ch ->
            let layers = List.toArray model.Layers
            let shapes = Model.shapes model |> List.toArray
            let outC = shapes[index + 1].C

            if drop |> Set.exists (fun c -> c < 0 || c >= outC) then
                Error $"layer {index} has channels 0..{outC - 1}; asked to remove {Set.toList drop}"
            elif drop.Count >= outC then
                Error $"removing all {outC} channels of layer {index} would disconnect the model"
            else
                let keep = keepOf outC drop

                layers[index] <-
                    match layers[index] with
                    | Conv2d c ->
                        Conv2d {
                            c with
                                OutChannels = keep.Length
                                Weight = keepRows (c.Weight.Length / c.OutChannels) keep c.Weight
                                Bias = pick keep c.Bias
                        }
                    | Pointwise c ->
                        Pointwise {
                            c with
                                OutChannels = keep.Length
                                Weight = keepRows c.InChannels keep c.Weight
                                Bias = pick keep c.Bias
                        }
                    | Dense d ->
                        Dense {
                            d with
                                Outputs = keep.Length
                                Weight = keepRows d.Inputs keep d.Weight
                                Bias = pick keep d.Bias
                        }
                    | other -> other

                // After Flatten the channels are spread over H*W positions of the flat vector (HWC order).
                let mutable flatKeep: int[] option = None

                for j in ch.Between do
                    match layers[j] with
                    | BatchNorm b -> layers[j] <- BatchNorm(batchNormKeep keep b)
                    | DepthwiseConv2d c ->
                        layers[j] <-
                            DepthwiseConv2d {
                                c with
                                    InChannels = keep.Length
                                    OutChannels = keep.Length
                                    Weight = keepRows (c.KernelH * c.KernelW) keep c.Weight
                                    Bias = pick keep c.Bias
                            }
                    | Flatten ->
                        let s = shapes[j]

                        flatKeep <-
                            Some [|
                                for p in 0 .. s.H * s.W - 1 do
                                    for c in keep do
                                        yield p * s.C + c
                            |]
                    | _ -> ()

                let consumerInput = shapes[ch.Consumer]

                layers[ch.Consumer] <-
                    match layers[ch.Consumer] with
                    | Conv2d c -> Conv2d(keepInputChannels c keep)
                    | Pointwise c -> Pointwise(keepInputChannels c keep)
                    | Dense d ->
                        let inputs =
                            match flatKeep with
                            | Some k -> k
                            | None ->
                                // Dense reads an H x W x C tensor flattened in HWC order.
                                [|
                                    for p in 0 .. consumerInput.H * consumerInput.W - 1 do
                                        for c in keep do
                                            yield p * consumerInput.C + c
                                |]

                        Dense {
                            d with
                                Inputs = inputs.Length
                                Weight = [|
                                    for o in 0 .. d.Outputs - 1 do
                                        for i in inputs do
                                            yield d.Weight[o * d.Inputs + i]
                                |]
                        }
                    | other -> other

                let result = {
                    model with
                        Layers = List.ofArray layers
                }

                Model.validate result |> Result.map (fun () -> result)

    /// Removes output channels `drop` of layer `index` and everything that depends on them: BN parameters and
    /// depthwise filters on the way, and the consumer's input channels (or the Dense inputs they flatten to).
    /// Removing nothing returns the model unchanged.
    let removeFilters (index: int) (drop: Set<int>) (model: Model) : Result<Model, string> =
        if drop.IsEmpty then
            chain model index |> Result.map (fun _ -> model)
        else
            removeOne index drop model

    /// Applies several removals, each naming channels of the given model's layer (indices do not shift).
    let removeMany (plan: Map<int, Set<int>>) (model: Model) : Result<Model, string> =
        plan
        |> Map.fold (fun acc index drop -> acc |> Result.bind (removeFilters index drop)) (Ok model)

    /// Channels repacking removed from each layer, with their energies.
    type Repacked = {
        Layer: int
        Removed: int list
        Kept: int
    }

    /// Seed 003's repacking: for every prunable layer, the channels whose mean squared activation where the consumer
    /// reads them is at most `relative` times the layer's mean channel energy (0 = exactly zero only) over the
    /// calibration inputs are removed. An exactly-zero channel contributes nothing, so removing it leaves outputs
    /// unchanged. At least one channel is kept per layer.
    let repack (relative: float) (calibration: Tensor list) (model: Model) : Model * Repacked list =
        if calibration.IsEmpty then
            invalidArg "calibration" "repacking needs at least one calibration input"

        let chains =
            prunable model |> List.choose (fun i -> chain model i |> Result.toOption)

        // One forward pass per calibration input measures every layer the consumers read.
        let energies =
            PruneCriteria.activationEnergies model (chains |> List.map _.LastChannelled |> List.distinct) calibration

        let plan = [
            for ch in chains do
                let i = ch.Producer
                let energy = energies[ch.LastChannelled]
                let mean = Array.average energy

                let dead =
                    energy
                    |> Array.indexed
                    |> Array.filter (fun (_, e) -> e = 0.0 || e <= relative * mean)
                    |> Array.map fst
                    |> Array.truncate (energy.Length - 1)

                if dead.Length > 0 then
                    yield i, Set.ofArray dead, energy.Length
        ]

        let repacked =
            match removeMany (plan |> List.map (fun (i, d, _) -> i, d) |> Map.ofList) model with
            | Ok m -> m
            | Error e -> failwith $"repacking produced an invalid model: {e}"

        repacked,
        plan
        |> List.map (fun (i, d, n) -> {
            Layer = i
            Removed = Set.toList d
            Kept = n - d.Count
        })

    /// Re-estimates every BatchNorm's mean and variance (population variance) from the calibration inputs, in
    /// layer order: each BN sees activations computed with the statistics already re-estimated before it.
    let reestimateBatchNorm (calibration: Tensor list) (model: Model) : Model =
        if calibration.IsEmpty then
            invalidArg "calibration" "re-estimating batch norm needs at least one calibration input"

        let starts = Model.residualBlocks model |> List.map fst |> Set.ofList
        let layers = List.toArray model.Layers
        let mutable acts = calibration
        // Blocks never nest or overlap, so one saved block input is enough.
        let mutable skip = calibration

        for j in 0 .. layers.Length - 1 do
            if starts.Contains j then
                skip <- acts

            match layers[j] with
            | BatchNorm b ->
                let c = b.Gamma.Length
                let sum = Array.zeroCreate<float> c
                let sq = Array.zeroCreate<float> c
                let mutable count = 0

                for t in acts do
                    for i in 0 .. t.Data.Length - 1 do
                        let v = float t.Data[i]
                        sum[i % c] <- sum[i % c] + v
                        sq[i % c] <- sq[i % c] + v * v

                    count <- count + t.Data.Length / c

                let n = float count
                let mean = sum |> Array.map (fun s -> s / n)

                layers[j] <-
                    BatchNorm {
                        b with
                            Mean = mean |> Array.map float32
                            Var = Array.init c (fun k -> float32 (max 0.0 (sq[k] / n - mean[k] * mean[k])))
                    }
            | _ -> ()

            acts <-
                match layers[j] with
                | ResidualAdd _ ->
                    List.map2
                        (fun (x: Tensor) (s: Tensor) -> {
                            x with
                                Data = Array.map2 (+) x.Data s.Data
                        })
                        acts
                        skip
                | layer -> acts |> List.map (Forward.layer layer)

        {
            model with
                Layers = List.ofArray layers
        }
