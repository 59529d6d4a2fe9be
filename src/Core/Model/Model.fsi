namespace Tern.Core

open Tern.Runtime

/// Zero padding around a map, in elements on each side. Padded positions hold real zero (in the integer model: the
/// input's zero point). Top and left shift the windows; bottom and right only add windows at the far edges.
type Padding = {
    Top: int
    Bottom: int
    Left: int
    Right: int
}

[<RequireQualifiedAccess>]
module Padding =

    /// No padding.
    val none: Padding

    /// The same padding above and below (h) and left and right (w).
    val symmetric: h: int -> w: int -> Padding

    /// Whether bottom equals top and right equals left.
    val isSymmetric: p: Padding -> bool

    /// Whether every side is zero.
    val isNone: p: Padding -> bool

/// A convolution-like layer's geometry and float parameters.
/// Weight layout per output channel (one row each): Conv (kh, kw, ic); Depthwise (kh, kw); Pointwise (ic).
type ConvSpec = {
    InChannels: int
    OutChannels: int
    KernelH: int
    KernelW: int
    StrideH: int
    StrideW: int
    Pad: Padding
    Weight: float32[]
    Bias: float32[]
}

/// Fully connected layer on the HWC-flattened input; Weight is Outputs rows of Inputs.
type DenseSpec = {
    Inputs: int
    Outputs: int
    Weight: float32[]
    Bias: float32[]
}

/// Batch normalisation with running statistics (inference form).
type BatchNormSpec = {
    Gamma: float32[]
    Beta: float32[]
    Mean: float32[]
    Var: float32[]
    Eps: float32
}

/// Pooling window; padded positions hold zero (an average counts them, as PyTorch's count_include_pad does).
type PoolSpec = {
    KernelH: int
    KernelW: int
    StrideH: int
    StrideW: int
    Pad: Padding
}

/// The layers of a float model.
type Layer =
    | Conv2d of ConvSpec
    | DepthwiseConv2d of ConvSpec
    | Pointwise of ConvSpec
    | BatchNorm of BatchNormSpec
    | ReLU
    | ReLU6
    | MaxPool of PoolSpec
    | AvgPool of PoolSpec
    | GlobalAvgPool
    | Flatten
    | Dense of DenseSpec

    /// Adds to the current tensor the tensor that entered the layer `span` positions before this one (the input
    /// of a residual block: layers [i - span .. i], shapes equal; blocks may follow each other, never overlap).
    | ResidualAdd of span: int

/// A float model: input shape (HWC), a chain of layers, class names for the outputs, and metadata: where the model
/// came from (keys in docs/model-file.md, e.g. "source.file"); empty for models made by Tern itself.
type Model = {
    Name: string
    Input: Shape3
    Layers: Layer list
    Classes: string list
    Meta: Map<string, string>
}

/// Per-layer facts for reports.
type LayerInfo = {
    Index: int
    Name: string
    Kind: string
    InputShape: Shape3
    OutputShape: Shape3
    Params: int
    Macs: int64
}

[<RequireQualifiedAccess>]
module Model =

    /// Short lower-case name of a layer kind (used in reports and layer names).
    val kindName: layer: Layer -> string

    /// Output shape of a layer for a given input shape, or an error naming the mismatch.
    val outputShape: input: Shape3 -> layer: Layer -> Result<Shape3, string>

    /// Number of trainable parameters (BatchNorm counts gamma and beta, as PyTorch does).
    val paramCount: layer: Layer -> int

    /// Checks that shapes chain and parameter[]s have the right lengths.
    val validate: model: Model -> Result<unit, string>

    /// Checks that every parameter is a finite number (a diverged training leaves NaN or infinity behind); the
    /// error names the layer, the parameter and its position.
    val checkFinite: model: Model -> Result<unit, string>

    /// Shapes after every layer (first element is the input shape); throws if the model is invalid.
    val shapes: model: Model -> Shape3 list

    /// Per-layer table: names are kind plus position, e.g. "conv2d_0".
    val describe: model: Model -> LayerInfo list

    /// Total parameters.
    val totalParams: model: Model -> int

    /// Total multiply-accumulates.
    val totalMacs: model: Model -> int64

    /// (first, last) layer indices of every residual block (last is its ResidualAdd), in model order.
    val residualBlocks: model: Model -> (int * int) list

    /// Removes the listed blocks (positions in residualBlocks); throws ArgumentException on an unknown position.
    /// The identity shortcut keeps shapes chaining, so a valid model stays valid.
    val dropBlocks: positions: int list -> model: Model -> Model

    /// Activation memory of the deployed plan (Engine.MemoryPlan): max over layers of input + output bytes; BatchNorm
    /// and activations are fused away and Flatten is a view, so they need no buffer (int8 = 1 byte per element).
    /// Inside a residual block the block input stays alive: the layers after the first also hold it, and the add
    /// writes in place over it (its cost is the two tensors it adds).
    val peakActivationBytes: bytesPerElement: int -> model: Model -> int
