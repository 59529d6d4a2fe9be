namespace Tern.Runtime;

/// <summary>
/// An integer-only model: int8 HWC input with (InputScale, InputZero), a chain of layers, int8 logits.
/// The host quantizes a float input once (round half away from zero); everything after is integer.
/// </summary>
public sealed class IntModel
{
    public IntModel(string name, Shape3 input, float inputScale, int inputZero, IntLayer[] layers, string[] classNames)
    {
        Name = name;
        Input = input;
        InputScale = inputScale;
        InputZero = inputZero;
        Layers = layers;
        ClassNames = classNames;
    }

    public string Name { get; }
    public Shape3 Input { get; }
    public float InputScale { get; }
    public int InputZero { get; }
    public IntLayer[] Layers { get; }
    public string[] ClassNames { get; }

    public Shape3 Output => Layers.Length == 0 ? Input : Layers[^1].Output;

    /// <summary>Checks shapes chain and every layer's invariants; throws <see cref="InvalidDataException"/> naming the first problem.</summary>
    public void Validate()
    {
        if (InputZero is < -128 or > 127) throw new InvalidDataException($"model input zero point {InputZero} is outside [-128, 127]");
        if (!(InputScale > 0) || float.IsInfinity(InputScale)) throw new InvalidDataException($"model input scale {InputScale} must be a positive finite number");
        var shape = Input;
        for (int i = 0; i < Layers.Length; i++)
        {
            var l = Layers[i];
            if (l.Input != shape) throw new InvalidDataException($"layer {i} '{l.Name}' expects input {l.Input} but receives {shape}");
            l.Validate();
            shape = l.Output;
        }
    }
}
