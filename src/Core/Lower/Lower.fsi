namespace Tern.Core

open Tern.Runtime

/// Float model + calibration inputs -> integer model, per the integer contract (docs/arithmetic.md).
[<RequireQualifiedAccess>]
module Lower =

    /// Seeded uniform [0, 1) inputs of the model's input shape (a stand-in until real data is used).
    val randomCalibration: seed: int -> count: int -> shape: Shape3 -> Tensor list

    /// Quantizes a float input for the model (round half away from zero, clamped to int8).
    val quantizeInput: model: IntModel -> input: Tensor -> sbyte[]

    /// Scale and zero point of the model's int8 output (the logits).
    val outputParams: model: IntModel -> float * int

    /// Dequantizes int8 codes with a scale and zero point.
    val dequantize: scale: float * zero: int -> codes: sbyte[] -> float32[]

    /// Largest |accumulator| a conv-like layer can reach: |bias| + fan-in * 255 * max|w|.
    val accumulatorBound: layer: IntConvLayer -> int64

    /// Fraction of zero weights over the conv-like layers (int8 zeros and ternary zero codes).
    val weightSparsity: model: IntModel -> float

    /// Bits (with sign) the largest bias of a model needs.
    val biasBits: model: IntModel -> int

    /// As `lower`, with activation ranges [lo, hi] given by range index (0 = input, i + 1 = output of BN-folded
    /// layer i, as ActivationGrid.ofModel): a given range replaces the min-max observation of that tensor (e.g. ranges
    /// learned by quantization-aware training). Calibration may be empty when every needed range is given.
    val lowerWith:
        options: LowerOptions ->
        given: Map<int, (float * float)> ->
        calibration: Tensor list ->
        model: Model ->
            Result<IntModel, string>

    /// Lowers a float model to an integer model. BatchNorm layers are folded first; calibration
    /// inputs fix the activation ranges (min-max). Errors name the layer that cannot be lowered.
    val lower: options: LowerOptions -> calibration: Tensor list -> model: Model -> Result<IntModel, string>
