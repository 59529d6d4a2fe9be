namespace Tern.Core

/// The float reference forward pass on HWC float32 tensors.
/// Sums are accumulated in double and cast to float32 once per output element, everywhere.
[<RequireQualifiedAccess>]
module Forward =

    /// Applies one layer; throws ArgumentException if the layer does not accept the tensor's shape or its parameters
    /// are malformed (a ResidualAdd alone has no block input, so it is rejected).
    val layer: l: Layer -> x: Tensor -> Tensor

    /// Output of every layer, in order (the input itself is not included); validates the model once.
    val activations: model: Model -> x: Tensor -> Tensor list

    /// Runs the model on one input and returns the last layer's output (the input if there are no layers).
    val run: model: Model -> x: Tensor -> Tensor
