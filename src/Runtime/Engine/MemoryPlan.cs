namespace Tern.Runtime.Engine;

/// <summary>Where one layer reads and writes in the arena (byte offsets; activations are int8, one byte each).</summary>
public readonly record struct LayerBuffers(int InputOffset, int InputBytes, int OutputOffset, int OutputBytes)
{
    /// <summary>True for a layer whose output is its input seen with another shape (Flatten): nothing moves.</summary>
    public bool IsView => InputOffset == OutputOffset && InputBytes == OutputBytes;
}

/// <summary>
/// Static ping-pong plan of one activation arena: each computing layer reads at one end of the arena and
/// writes at the other, so its input and output never overlap; the next layer reads where the last wrote.
/// Flatten is a view and stays in place. The arena is the peak over layers of input + output bytes
/// (and at least the model input).
/// </summary>
public sealed class MemoryPlan
{
    private MemoryPlan(int arenaBytes, int inputOffset, LayerBuffers[] layers)
    {
        ArenaBytes = arenaBytes;
        InputOffset = inputOffset;
        LayerSlots = layers;
    }

    private LayerBuffers[] LayerSlots { get; }

    /// <summary>Size of the one arena every activation lives in.</summary>
    public int ArenaBytes { get; }

    /// <summary>Where the model input is copied before the first layer.</summary>
    public int InputOffset { get; }

    /// <summary>Input and output placement of each layer, in model order.</summary>
    public IReadOnlyList<LayerBuffers> Layers => LayerSlots;

    /// <summary>Where the model output (the last layer's output, or the input if there are no layers) lies.</summary>
    public int OutputOffset => LayerSlots.Length == 0 ? InputOffset : LayerSlots[^1].OutputOffset;

    /// <summary>Plans the arena for a model whose layer shapes chain (see <see cref="IntModel.Validate"/>).</summary>
    public static MemoryPlan Create(IntModel model)
    {
        var layers = model.Layers;
        int arena = model.Input.Size;
        foreach (var l in layers)
            if (l.Kind != IntLayerKind.Flatten)
                arena = Math.Max(arena, checked(l.Input.Size + l.Output.Size));
        var slots = new LayerBuffers[layers.Length];
        // The current tensor starts at the low end; every computing layer writes at the opposite end.
        int offset = 0;
        bool atLow = true;
        for (int i = 0; i < layers.Length; i++)
        {
            var l = layers[i];
            int inBytes = l.Input.Size, outBytes = l.Output.Size;
            if (l.Kind == IntLayerKind.Flatten)
            {
                slots[i] = new LayerBuffers(offset, inBytes, offset, outBytes);
                continue;
            }
            int outOffset = atLow ? arena - outBytes : 0;
            slots[i] = new LayerBuffers(offset, inBytes, outOffset, outBytes);
            offset = outOffset;
            atLow = !atLow;
        }
        return new MemoryPlan(arena, 0, slots);
    }
}
