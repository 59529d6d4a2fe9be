namespace Tern.Core

/// How weights are quantized: the lowering stores them so, and QAT trains for it.
type WeightChoice =
    | Int8Weights
    | TernaryWeights of TernaryThreshold * AlphaMode

/// Options of the lowering.
type LowerOptions = {
    Weights: WeightChoice
} with

    /// int8 per-channel weights.
    static member Int8 = { Weights = Int8Weights }

    /// Ternary weights, TWN threshold 0.7 * mean|W|, alpha per output channel.
    static member Ternary = {
        Weights = TernaryWeights(ThresholdRatio 0.7, AlphaPerChannel)
    }

/// The int8 activation grids of a model: the grid of a tensor range, and which tensors own one (the lowering
/// derives those, QAT learns them, pools and fused activations share their input's).
[<RequireQualifiedAccess>]
module ActivationGrid =
    /// The int8 grid of a tensor range [lo, hi]: asymmetric, the range widened to contain 0.
    let ofRange (lo: float) (hi: float) : QParams = Quantize.affine 8 Asymmetric lo hi

    /// The activation fused into layer i (a ReLU or ReLU6 right after it), unless a residual block starts at it: the
    /// block input would then be the tensor before the activation, which the integer model does not keep.
    let fusedActivation (layers: Layer[]) (i: int) : Layer option =
        if i + 1 < layers.Length then
            let startsBlock =
                layers
                |> Array.indexed
                |> Array.exists (fun (j, l) ->
                    match l with
                    | ResidualAdd span -> j - span = i + 1
                    | _ -> false)

            match layers[i + 1] with
            | ReLU
            | ReLU6 when not startsBlock -> Some layers[i + 1]
            | _ -> None
        else
            None

    /// The tensors the integer model quantizes, by range index of the BN-folded model (0 = input, i + 1 = output
    /// of folded layer i), each mapped to the range index whose int8 parameters it uses: itself for the input and
    /// for each conv/depthwise/pointwise/dense output (after a fused ReLU/ReLU6), whose ranges `lower` derives;
    /// the grid of the pool's input for each pool output (the integer pools keep their input's scale and zero point).
    let ofModel (model: Model) : Map<int, int> =
        let layers = (Fold.batchNorm model).Layers |> List.toArray
        let mutable grids = Map [ 0, 0 ]
        let mutable current = 0
        let mutable i = 0

        while i < layers.Length do
            let consumed = if (fusedActivation layers i).IsSome then 2 else 1
            let outIndex = i + consumed

            match layers[i] with
            | Conv2d _
            | DepthwiseConv2d _
            | Pointwise _
            | Dense _ ->
                grids <- grids.Add(outIndex, outIndex)
                current <- outIndex
            | ResidualAdd _ ->
                // The sum needs its own range (it is wider than either term).
                grids <- grids.Add(outIndex, outIndex)
                current <- outIndex
            | MaxPool _
            | AvgPool _
            | GlobalAvgPool -> grids <- grids.Add(outIndex, current)
            | _ -> ()

            i <- i + consumed

        grids

    /// The range indices whose [lo, hi] the lowering of the model uses (ofModel' own ranges).
    let ownRanges (model: Model) : Set<int> =
        ofModel model
        |> Seq.choose (fun kv -> if kv.Key = kv.Value then Some kv.Key else None)
        |> Set.ofSeq
