namespace Tern.Core

open System
open System.Numerics
open MathNet.Numerics.IntegralTransforms

/// Scores for pruning: per-filter L1 norms, the global L1 percentile with unstructured keep-masks (seed 003),
/// the energy spectral density of each filter's feature map in a frequency band (seed 001, eqs. 1-4) and the
/// mean activation energy used to repack channels (seed 003). Everywhere a LOW score means "pruned first".
/// All functions are pure and deterministic; ties are always broken towards the lower index.
[<RequireQualifiedAccess>]
module PruneCriteria =

    /// What ranks the output channels of a layer.
    type Criterion =
        /// Sum of |w| over the filter (Li et al.); needs no data.
        | L1
        /// Energy spectral density of the centred low-frequency box of the feature map (seed 001's choice).
        | LowFrequency
        /// Energy spectral density of the bins outside that box (seed 001's ablation, "Algo-High").
        | HighFrequency
        /// Energy spectral density over all bins (seed 001's ablation, "Algo-Overall").
        | Overall

    /// Parsing and naming of criteria.
    [<RequireQualifiedAccess>]
    module Criterion =
        /// The command-line name: "l1", "low", "high" or "overall".
        let name (c: Criterion) : string =
            match c with
            | L1 -> "l1"
            | LowFrequency -> "low"
            | HighFrequency -> "high"
            | Overall -> "overall"

        /// Parses "l1", "low", "high" or "overall" (case and surrounding blanks ignored).
        let parse (s: string) : Result<Criterion, string> =
            match (if isNull s then "" else s.Trim().ToLowerInvariant()) with
            | "l1" -> Ok L1
            | "low" -> Ok LowFrequency
            | "high" -> Ok HighFrequency
            | "overall" -> Ok Overall
            | other -> Error $"unknown pruning criterion '{other}' (expected l1, low, high or overall)"

    /// Half-sizes of the centred low-frequency box: bin (u, v) is low when |u'| < TauU and |v'| < TauV.
    type SpectralBand = { TauU: int; TauV: int }

    /// The low, high and overall energy spectral densities of one feature map (each a mean of |F|^2 over its bins).
    type Energies = {
        Low: float
        High: float
        Overall: float
    }

    let private roundHalfAway (x: float) : int =
        int (Math.Round(x, MidpointRounding.AwayFromZero))

    // ---------------------------------------------------------------------------------------------------------
    // Filters and weights

    /// Indices of the prunable conv-like layers (Conv2d, DepthwiseConv2d, Pointwise), in model order.
    let convLayers (model: Model) : int list =
        model.Layers
        |> List.indexed
        |> List.choose (fun (i, l) ->
            match l with
            | Conv2d _
            | DepthwiseConv2d _
            | Pointwise _ -> Some i
            | _ -> None)

    // Weight array and number of output rows of a layer that has filters, if it has any.
    let private weightRows (layer: Layer) : (float32[] * int) option =
        match layer with
        | Conv2d c
        | DepthwiseConv2d c
        | Pointwise c -> Some(c.Weight, c.OutChannels)
        | Dense d -> Some(d.Weight, d.Outputs)
        | _ -> None

    /// Sum of |w| per output channel (one weight row each, see ConvSpec); for Dense per output row.
    let filterL1 (layer: Layer) : float[] =
        match weightRows layer with
        | None -> invalidArg "layer" $"a {Model.kindName layer} layer has no filters"
        | Some(weight, rows) ->
            if rows < 1 || weight.Length % rows <> 0 then
                invalidArg "layer" $"{weight.Length} weights do not split into {rows} rows"

            let perRow = weight.Length / rows

            Array.init rows (fun r ->
                let mutable acc = 0.0

                for i in r * perRow .. (r + 1) * perRow - 1 do
                    acc <- acc + abs (float weight[i])

                acc)

    // Every conv-like and Dense weight of the model: (layer index, weights), in model order. Biases are excluded.
    let private prunableWeights (model: Model) : (int * float32[]) list =
        model.Layers
        |> List.indexed
        |> List.choose (fun (i, l) -> weightRows l |> Option.map (fun (w, _) -> i, w))

    let private checkFraction (name: string) (x: float) =
        if Double.IsNaN x || x < 0.0 || x > 1.0 then
            invalidArg name $"{name} must lie in [0, 1], got {x}"

    // Global flat indices (layers concatenated in model order) sorted by ascending |w|, ties by lower index.
    let private magnitudeOrder (all: float[]) : int[] =
        let order = Array.init all.Length id

        Array.sortInPlaceWith
            (fun a b ->
                let c = compare all[a] all[b]
                if c <> 0 then c else compare a b)
            order

        order

    let private pruneCount (sparsity: float) (total: int) : int =
        min total (roundHalfAway (sparsity * float total))

    /// The global L1 percentile (seed 003) of |w| over all conv-like and Dense weights (biases excluded): the k-th
    /// smallest |w| with k = round-half-away(sparsity * N), i.e. the nearest-rank quantile rounded to the nearest
    /// rank rather than up; -infinity when k = 0 (nothing to prune) or the model has no weights. Pruning every
    /// weight with |w| <= threshold removes at least k weights, and more when other weights tie with the k-th
    /// (e.g. several exact zeros), so the achieved fraction can exceed sparsity by the ties' share;
    /// unstructuredMasks removes exactly k.
    let globalThreshold (sparsity: float) (model: Model) : float =
        checkFraction "sparsity" sparsity

        let all =
            prunableWeights model
            |> List.map snd
            |> Array.concat
            |> Array.map (fun w -> abs (float w))

        let k = pruneCount sparsity all.Length

        if k = 0 then
            Double.NegativeInfinity
        else
            (Array.sort all)[k - 1]

    /// Keep-masks (false = pruned) by layer index for every conv-like and Dense layer, laid out like the layer's
    /// Weight array: exactly round-half-away(sparsity * N) of the N weights are pruned, smallest |w| first, ties
    /// broken by the lower flat index (layers concatenated in model order). Masks nest as sparsity grows.
    let unstructuredMasks (sparsity: float) (model: Model) : Map<int, bool[]> =
        checkFraction "sparsity" sparsity
        let layers = prunableWeights model

        let all =
            layers |> List.map snd |> Array.concat |> Array.map (fun w -> abs (float w))

        let keep = Array.create all.Length true
        let order = magnitudeOrder all

        for j in 0 .. pruneCount sparsity all.Length - 1 do
            keep[order[j]] <- false

        layers
        |> List.mapFold (fun start (i, w) -> (i, Array.sub keep start w.Length), start + w.Length) 0
        |> fst
        |> Map.ofList

    // ---------------------------------------------------------------------------------------------------------
    // Energy spectral density (seed 001)

    /// Default band: TauU = max 1 (ceil (h / 4)), TauV = max 1 (ceil (w / 4)).
    let defaultBand (h: int) (w: int) : SpectralBand = {
        TauU = max 1 (int (ceil (float h * 0.25)))
        TauV = max 1 (int (ceil (float w * 0.25)))
    }

    /// Signed frequency of DFT bin u out of n: u for u <= n/2, u - n above (the fft-shift's centring).
    let signedFrequency (n: int) (u: int) : int = if u <= n / 2 then u else u - n

    /// Whether bin (u, v) of an h x w spectrum lies in the centred low box |u'| < TauU and |v'| < TauV.
    /// Seed 001's eq. 3 keeps "u < tau_u, v < tau_v" on a spectrum drawn centred (fft-shifted, DC in the middle),
    /// where the paper says the energy concentrates; this reads it as a box around DC in signed frequencies.
    let isLowBin (band: SpectralBand) (h: int) (w: int) (u: int) (v: int) : bool =
        abs (signedFrequency h u) < band.TauU && abs (signedFrequency w v) < band.TauV

    /// Number of bins of an h x w spectrum inside the low box (at least 1 when both taus are >= 1: DC).
    let lowBinCount (band: SpectralBand) (h: int) (w: int) : int =
        let count n tau =
            Seq.init n (fun u -> abs (signedFrequency n u) < tau)
            |> Seq.filter id
            |> Seq.length

        count h band.TauU * count w band.TauV

    /// Slow 2-D DFT by eq. 2's double sum, F(u, v) = sum_x sum_y O(x, y) exp(-2 pi i (u x / h + v y / w)), of an
    /// h x w map given row-major; result row-major as (re, im). Indices run from 0 (eq. 2's 1-based x, y only
    /// multiply F(u, v) by a unit phase, leaving every |F|^2 unchanged). The test oracle for the FFT path.
    let directDft (h: int) (w: int) (values: float[]) : (float * float)[] =
        if h < 1 || w < 1 || values.Length <> h * w then
            invalidArg "values" $"a {h}x{w} map needs {h * w} values, got {values.Length}"

        Array.init (h * w) (fun k ->
            let u, v = k / w, k % w
            let mutable re = 0.0
            let mutable im = 0.0

            for x in 0 .. h - 1 do
                for y in 0 .. w - 1 do
                    // Reduce the phase numerators modulo the period so the angle stays small and exact in integers.
                    let angle =
                        -2.0 * Math.PI * (float ((u * x) % h) / float h + float ((v * y) % w) / float w)

                    re <- re + values[x * w + y] * cos angle
                    im <- im + values[x * w + y] * sin angle

            re, im)

    // The unnormalised 2-D DFT of eq. 2 of an h x w map (row-major), as 1-D transforms over the rows, then the
    // columns. FourierOptions.Matlab is forward exponent -i with no forward scaling (1/n only on the inverse).
    // MathNet's Forward2D is not used: its managed provider throws NotSupportedException for multi-dim transforms.
    let private fft2 (h: int) (w: int) (values: float[]) : Complex[] =
        let spectrum = values |> Array.map (fun x -> Complex(x, 0.0))
        let row = Array.zeroCreate<Complex> w

        for u in 0 .. h - 1 do
            Array.blit spectrum (u * w) row 0 w
            Fourier.Forward(row, FourierOptions.Matlab)
            Array.blit row 0 spectrum (u * w) w

        let column = Array.zeroCreate<Complex> h

        for v in 0 .. w - 1 do
            for u in 0 .. h - 1 do
                column[u] <- spectrum[u * w + v]

            Fourier.Forward(column, FourierOptions.Matlab)

            for u in 0 .. h - 1 do
                spectrum[u * w + v] <- column[u]

        spectrum

    /// Low, high and overall energy spectral densities (eq. 4) of one h x w map given row-major, from the plain
    /// unnormalised DFT of eq. 2 (MathNet's FFT, FourierOptions.Matlab, rows then columns).
    /// E_band = (1/M_band) sum over the band's M_band bins of |F|^2; High is 0 when the low box covers every bin.
    let mapEnergies (band: SpectralBand) (h: int) (w: int) (values: float[]) : Energies =
        if h < 1 || w < 1 || values.Length <> h * w then
            invalidArg "values" $"a {h}x{w} map needs {h * w} values, got {values.Length}"

        let spectrum = fft2 h w values
        let mutable low = 0.0
        let mutable high = 0.0
        let mutable lowBins = 0

        for u in 0 .. h - 1 do
            for v in 0 .. w - 1 do
                let z = spectrum[u * w + v]
                let e = z.Real * z.Real + z.Imaginary * z.Imaginary

                if isLowBin band h w u v then
                    low <- low + e
                    lowBins <- lowBins + 1
                else
                    high <- high + e

        let highBins = h * w - lowBins

        {
            Low = (if lowBins = 0 then 0.0 else low / float lowBins)
            High = (if highBins = 0 then 0.0 else high / float highBins)
            Overall = (low + high) / float (h * w)
        }

    let private pick (c: Criterion) (e: Energies) : float =
        match c with
        | LowFrequency -> e.Low
        | HighFrequency -> e.High
        | Overall -> e.Overall
        | L1 -> invalidArg "criterion" "l1 scores weights, not feature maps"

    /// Per channel of an HWC feature map, the criterion's energy spectral density in the given band.
    let channelEnergyIn (band: SpectralBand) (criterion: Criterion) (map: Tensor) : float[] =
        let s = map.Shape
        let plane = Array.zeroCreate<float>(s.H * s.W)

        Array.init s.C (fun c ->
            for p in 0 .. s.H * s.W - 1 do
                plane[p] <- float map.Data[p * s.C + c]

            mapEnergies band s.H s.W plane |> pick criterion)

    /// Per channel of an HWC feature map, the criterion's energy spectral density in the default band of its size.
    let channelEnergy (criterion: Criterion) (map: Tensor) : float[] =
        channelEnergyIn (defaultBand map.Shape.H map.Shape.W) criterion map

    // ---------------------------------------------------------------------------------------------------------
    // Data-driven scores

    // The listed layers' outputs for every calibration input: one forward pass per input (which validates the
    // model), however many layers are asked for.
    let private outputsOf (model: Model) (layers: int list) (calibration: Tensor list) : Map<int, Tensor list> =
        for layer in layers do
            if layer < 0 || layer >= model.Layers.Length then
                invalidArg "layer" $"layer {layer} is outside the model's {model.Layers.Length} layers"

        if List.isEmpty calibration then
            invalidArg "calibration" "the calibration batch is empty"

        let perInput =
            calibration
            |> List.map (fun x ->
                let acts = Array.ofList (Forward.activations model x)
                layers |> List.map (fun l -> acts[l]))

        layers
        |> List.mapi (fun k l -> l, perInput |> List.map (List.item k))
        |> Map.ofList

    let private checkPrunable (model: Model) (layer: int) =
        match List.tryItem layer model.Layers |> Option.bind weightRows with
        | Some _ -> ()
        | None -> invalidArg "layer" $"layer {layer} is not a convolution-like or dense layer"

    // Element-wise mean of equally long score vectors.
    let private mean (rows: float[] list) : float[] =
        let n = float rows.Length
        rows |> List.reduce (Array.map2 (+)) |> Array.map (fun s -> s / n)

    /// Per output channel, the mean over the calibration batch of the criterion's energy spectral density of the
    /// layer's own output (before any BatchNorm or activation after it), as seed 001's O_i,j; default band.
    let spectralScores (criterion: Criterion) (model: Model) (layer: int) (calibration: Tensor list) : float[] =
        checkPrunable model layer

        (outputsOf model [ layer ] calibration)[layer]
        |> List.map (channelEnergy criterion)
        |> mean

    // Per channel, the mean over the batch and all positions of f applied to a layer's outputs.
    let private channelMeanOf (f: float -> float) (outputs: Tensor list) : float[] =
        outputs
        |> List.map (fun t ->
            let s = t.Shape
            let acc = Array.zeroCreate<float> s.C

            for i in 0 .. t.Data.Length - 1 do
                acc[i % s.C] <- acc[i % s.C] + f (float t.Data[i])

            acc |> Array.map (fun a -> a / float (s.H * s.W)))
        |> mean

    let private channelMean (f: float -> float) (model: Model) (layer: int) (calibration: Tensor list) =
        channelMeanOf f (Map.find layer (outputsOf model [ layer ] calibration))

    /// Mean activation energy per channel of layer's OUTPUT (any layer): mean over batch and positions of x^2,
    /// i.e. the squared RMS activation of seed 003's repacking rule.
    let activationEnergy (model: Model) (layer: int) (calibration: Tensor list) : float[] =
        channelMean (fun x -> x * x) model layer calibration

    /// activationEnergy of several layers from one forward pass per calibration input.
    let activationEnergies (model: Model) (layers: int list) (calibration: Tensor list) : Map<int, float[]> =
        outputsOf model layers calibration
        |> Map.map (fun _ outputs -> channelMeanOf (fun x -> x * x) outputs)

    /// Mean |x| per channel of layer's OUTPUT (any layer) over batch and positions: seed 003's "mean activation
    /// magnitude".
    let meanAbsActivation (model: Model) (layer: int) (calibration: Tensor list) : float[] =
        channelMean abs model layer calibration

    /// Per output channel of a conv-like or Dense layer, the criterion's score (L1 ignores the calibration).
    let scores (criterion: Criterion) (model: Model) (layer: int) (calibration: Tensor list) : float[] =
        match criterion with
        | L1 ->
            checkPrunable model layer
            filterL1 model.Layers[layer]
        | _ -> spectralScores criterion model layer calibration

    /// scores of several layers; the spectral criteria take one forward pass per calibration input for all of them.
    let scoresOf
        (criterion: Criterion)
        (model: Model)
        (layers: int list)
        (calibration: Tensor list)
        : Map<int, float[]> =
        for layer in layers do
            checkPrunable model layer

        match criterion with
        | L1 -> layers |> List.map (fun l -> l, filterL1 model.Layers[l]) |> Map.ofList
        | _ ->
            outputsOf model layers calibration
            |> Map.map (fun _ outputs -> outputs |> List.map (channelEnergy criterion) |> mean)

    /// Channel indices by ascending score, ties by lower index (the pruning order).
    let rank (scores: float[]) : int[] =
        let order = Array.init scores.Length id

        Array.sortInPlaceWith
            (fun a b ->
                let c = compare scores[a] scores[b]
                if c <> 0 then c else compare a b)
            order

        order

    /// The channels to prune at a pruning ratio: the lowest-ranked round-half-away(ratio * n), capped at n - 1 so
    /// one channel always stays. Seed 001's kept counts (26/51/102/154/205 of 64/128/256/384/512 at 0.6,
    /// 19/38/77/115/154 at 0.7) follow; keep = round-half-away(n * (1 - ratio)) gives the same there and differs
    /// only when ratio * n ends in exactly .5, where this rule prunes the extra channel.
    let toPrune (ratio: float) (scores: float[]) : Set<int> =
        checkFraction "ratio" ratio
        let n = scores.Length
        let count = min (max 0 (n - 1)) (roundHalfAway (ratio * float n))
        rank scores |> Array.truncate count |> Set.ofArray
