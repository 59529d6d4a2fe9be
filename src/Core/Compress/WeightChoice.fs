namespace Tern.Core

/// How weights are quantized: the lowering stores them so, and QAT trains for it.
type WeightChoice =
    | Int8Weights
    | TernaryWeights of TernaryThreshold * AlphaMode

/// Options of the lowering.
type LowerOptions = {
    Weights: WeightChoice
    /// Conv and dense layers (0 = the first of them in model order, BatchNorms aside) that keep int8 weights whatever
    /// Weights says. Ternary networks keep their first layer at 8 bits: its few weights see the raw sensor
    /// channels, and ternarizing them cost sp-sw-har (accelerometer and gyroscope) most of its ternary loss.
    Int8Layers: Set<int>
} with

    /// int8 per-channel weights.
    static member Int8 = {
        Weights = Int8Weights
        Int8Layers = Set.empty
    }

    /// Ternary weights, TWN threshold 0.7 * mean|W|, alpha per output channel, every layer.
    static member Ternary = {
        Weights = TernaryWeights(ThresholdRatio 0.7, AlphaPerChannel)
        Int8Layers = Set.empty
    }

    /// The weights of the conv or dense layer at this position among them (0 = the first).
    member o.WeightsAt(ordinal: int) : WeightChoice =
        if o.Int8Layers.Contains ordinal then
            Int8Weights
        else
            o.Weights
