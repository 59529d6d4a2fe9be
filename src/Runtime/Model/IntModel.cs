using System.Collections.ObjectModel;

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

    /// <summary>Where the model came from, as key-value text (docs/model-file.md lists the keys); empty for a model
    /// Tern made itself. The model file keeps it; kernels never read it.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = ReadOnlyDictionary<string, string>.Empty;

    public Shape3 Output => Layers.Length == 0 ? Input : Layers[^1].Output;

    /// <summary>Checks shapes chain and every layer's invariants; throws <see cref="InvalidDataException"/> naming the first problem.</summary>
    public void Validate()
    {
        if (InputZero is < -128 or > 127) throw new InvalidDataException($"model input zero point {InputZero} is outside [-128, 127]");
        if (!(InputScale > 0) || float.IsInfinity(InputScale)) throw new InvalidDataException($"model input scale {InputScale} must be a positive finite number");
        var shape = Input;
        int lastAdd = -1;
        for (int i = 0; i < Layers.Length; i++)
        {
            var l = Layers[i];
            if (l.Input != shape) throw new InvalidDataException($"layer {i} '{l.Name}' expects input {l.Input} but receives {shape}");
            l.Validate();
            if (l is IntAddLayer add)
            {
                int first = i - add.Span;
                if (first < 0) throw new InvalidDataException($"layer {i} '{l.Name}': span {add.Span} reaches before the first layer");
                if (first <= lastAdd) throw new InvalidDataException($"layer {i} '{l.Name}': the block from layer {first} overlaps the block ending at layer {lastAdd}");
                if (Layers[first].Input != l.Input)
                    throw new InvalidDataException($"layer {i} '{l.Name}': the block input {Layers[first].Input} (layer {first}) differs from {l.Input}");
                lastAdd = i;
            }
            shape = l.Output;
        }
    }

    /// <summary>
    /// Whether inference can be split after the first count layers (0..Layers.Length): not inside a residual block,
    /// where the block's input would still be needed by its add.
    /// </summary>
    public bool CanSplitAt(int count) =>
        count >= 0 && count <= Layers.Length && !Blocks().Any(b => b.First < count && count <= b.Last);

    /// <summary>(first, last) layer indices of every residual block: last is an <see cref="IntAddLayer"/>, whose skip
    /// tensor is the input of layer first. Blocks do not overlap (<see cref="Validate"/>).</summary>
    public IReadOnlyList<(int First, int Last)> Blocks()
    {
        var blocks = new List<(int, int)>();
        for (int i = 0; i < Layers.Length; i++)
            if (Layers[i] is IntAddLayer add) blocks.Add((i - add.Span, i));
        return blocks;
    }
}
