namespace Tern.Runtime;

/// <summary>What an integer layer computes. The numbering is part of the model file format.</summary>
public enum IntLayerKind : byte
{
    /// <summary>KxK convolution, weights per output channel in (kh, kw, ic) order.</summary>
    Conv = 1,
    /// <summary>Depthwise KxK convolution (multiplier 1), weights per channel in (kh, kw) order.</summary>
    Depthwise = 2,
    /// <summary>1x1 convolution, weights per output channel in ic order.</summary>
    Pointwise = 3,
    /// <summary>Fully connected on the HWC-flattened input, weights per output in input order.</summary>
    Dense = 4,
    MaxPool = 5,
    AvgPool = 6,
    /// <summary>Average over the whole H x W plane; output is 1x1xC.</summary>
    GlobalAvgPool = 7,
    /// <summary>Reshape to 1x1x(H*W*C); no data moves.</summary>
    Flatten = 8,
    /// <summary>Residual add: the current tensor plus the input of an earlier layer (see <see cref="IntAddLayer"/>).</summary>
    Add = 9,
}

/// <summary>How the weights of a convolution-like layer are stored.</summary>
public enum WeightKind : byte
{
    /// <summary>int8 symmetric per output channel, q in [-127, 127].</summary>
    Int8 = 1,
    /// <summary>t in {-1, 0, +1}, 2 bits per weight (see <see cref="PackedTernary"/>).</summary>
    Ternary = 2,
}

/// <summary>One layer of an integer model. Activations are int8 HWC with a per-tensor zero point.</summary>
public abstract class IntLayer
{
    protected IntLayer(string name, Shape3 input, Shape3 output)
    {
        Name = name;
        Input = input;
        Output = output;
    }

    public string Name { get; }
    public Shape3 Input { get; }
    public Shape3 Output { get; }
    public abstract IntLayerKind Kind { get; }

    /// <summary>Number of stored parameters (weights, biases; not the requantization constants).</summary>
    public abstract int ParameterCount { get; }

    /// <summary>Multiply-accumulates (or adds, for ternary and pooling) per inference.</summary>
    public abstract long MacCount { get; }

    /// <summary>Bytes of constant data the device stores for this layer (weights, bias, M, S).</summary>
    public abstract int WeightBytes { get; }

    /// <summary>Checks every invariant a kernel relies on; throws <see cref="InvalidDataException"/> naming the first violation.</summary>
    public abstract void Validate();
}
