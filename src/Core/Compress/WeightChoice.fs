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
