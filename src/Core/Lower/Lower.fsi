namespace Tern.Core

open Tern.Runtime

/// Float model + calibration inputs -> integer model, per the integer contract (docs/arithmetic.md).
[<RequireQualifiedAccess>]
module Lower =

    /// Seeded uniform [0, 1) inputs of the model's input shape (a stand-in until real data is used).
    val randomCalibration: seed: int -> count: int -> shape: Shape3 -> Tensor list

    /// Quantizes a float input on the model's input grid (InputScale, InputZero): round half away from zero,
    /// clamped to int8. The one input quantizer: the rig and the host evaluations call it (or `quantizeSamples`).
    val quantizeInput: model: IntModel -> input: Tensor -> sbyte[]

    /// `quantizeInput` of each float sample (HWC, the model's input size).
    val quantizeSamples: model: IntModel -> samples: float32[][] -> sbyte[][]

    /// Scale and zero point of layer `layer`'s int8 output; layer -1 is the model's input. A layer that keeps its
    /// input's codes (flatten) has the grid of the nearest quantizing layer before it. Throws ArgumentException
    /// past the last layer.
    val outputGrid: model: IntModel -> layer: int -> float * int

    /// Scale and zero point of the model's int8 output (the logits): the last layer's output grid.
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
