namespace Tern.Runtime;

/// <summary>HWC tensor viewed as 1x1x(H*W*C); the bytes are already in that order, so nothing moves.</summary>
public sealed class IntFlattenLayer : IntLayer
{
    public IntFlattenLayer(string name, Shape3 input)
        : base(name, input, new Shape3(1, 1, input.Size)) { }

    public override IntLayerKind Kind => IntLayerKind.Flatten;
    public override int ParameterCount => 0;
    public override long MacCount => 0;
    public override int WeightBytes => 0;
    public override void Validate() { }
}
