namespace Tern.Core

/// The int8 activation grids of a model: the grid of a tensor range, and which tensors own one (the lowering
/// derives those, QAT learns them, pools and fused activations share their input's).
[<RequireQualifiedAccess>]
module ActivationGrid =

    /// The int8 grid of a tensor range [lo, hi]: asymmetric, the range widened to contain 0.
    val ofRange: lo: float -> hi: float -> QParams

    /// The activation fused into layer i (a ReLU or ReLU6 right after it), unless a residual block starts at it: the
    /// block input would then be the tensor before the activation, which the integer model does not keep.
    val fusedActivation: layers: Layer[] -> i: int -> Layer option

    /// The tensors the integer model quantizes, by range index of the BN-folded model (0 = input, i + 1 = output
    /// of folded layer i), each mapped to the range index whose int8 parameters it uses: itself for the input and
    /// for each conv/depthwise/pointwise/dense output (after a fused ReLU/ReLU6), whose ranges `lower` derives;
    /// the grid of the pool's input for each pool output (the integer pools keep their input's scale and zero point).
    val ofModel: model: Model -> Map<int, int>

    /// The range indices whose [lo, hi] the lowering of the model uses (ofModel' own ranges).
    val ownRanges: model: Model -> Set<int>
