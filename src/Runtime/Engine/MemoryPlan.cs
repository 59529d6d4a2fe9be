namespace Tern.Runtime.Engine;

/// <summary>
/// Where one layer reads and writes in the arena (byte offsets; activations are int8, one byte each). A residual
/// add also reads its skip tensor at SkipOffset (-1 for every other layer).
/// </summary>
public readonly record struct LayerBuffers(int InputOffset, int InputBytes, int OutputOffset, int OutputBytes, int SkipOffset = -1)
{
    /// <summary>True for a layer whose output is its input seen with another shape (Flatten): nothing moves.</summary>
    public bool IsView => InputOffset == OutputOffset && InputBytes == OutputBytes;
}

/// <summary>
/// Static ping-pong plan of one activation arena: each computing layer reads at one end of the arena and
/// writes at the other, so its input and output never overlap; the next layer reads where the last wrote.
/// Flatten is a view and stays in place. Residual blocks: the block input (the skip tensor) stays where it is, at
/// one end of the arena, while the block's layers ping-pong in the rest; the add then writes its sum in place over
/// the skip tensor (element by element, each read before it is written), so after a block the current tensor is
/// back where the block's input was. The arena is the peak over layers of the bytes alive: input + output, plus
/// the skip tensor inside a block (and at least the model input).
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

    /// <summary>Bytes alive while each layer runs (what the arena must hold), for a model whose shapes chain.</summary>
    public static int[] LiveBytes(IntModel model)
    {
        var layers = model.Layers;
        var live = new int[layers.Length];
        var skip = new int[layers.Length];
        foreach (var (first, last) in model.Blocks())
            for (int i = first + 1; i < last; i++)
                skip[i] = layers[first].Input.Size;
        for (int i = 0; i < layers.Length; i++)
            live[i] = layers[i].Kind == IntLayerKind.Flatten ? 0 : checked(layers[i].Input.Size + layers[i].Output.Size + skip[i]);
        return live;
    }

    /// <summary>Plans the arena for a model that validates (see <see cref="IntModel.Validate"/>).</summary>
    public static MemoryPlan Create(IntModel model)
    {
        var layers = model.Layers;
        int arena = Math.Max(model.Input.Size, LiveBytes(model).DefaultIfEmpty(0).Max());
        var firstOf = new Dictionary<int, int>();
        foreach (var (first, last) in model.Blocks()) firstOf[first] = last;
        var slots = new LayerBuffers[layers.Length];
        // The current tensor starts at the low end of the region [lo, hi); every computing layer writes at the
        // opposite end. Inside a block the region excludes the skip tensor.
        int offset = 0, lo = 0, hi = arena;
        bool atLow = true;
        int skipOffset = -1, skipBytes = 0;
        bool skipAtLow = false;
        for (int i = 0; i < layers.Length; i++)
        {
            var l = layers[i];
            int inBytes = l.Input.Size, outBytes = l.Output.Size;
            if (firstOf.ContainsKey(i))
            {
                // The block input stays put at its end of the arena; the block runs in the rest.
                skipOffset = offset;
                skipBytes = inBytes;
                skipAtLow = atLow;
                if (atLow) lo = offset + skipBytes;
                else hi = offset;
            }
            if (l.Kind == IntLayerKind.Flatten)
            {
                slots[i] = new LayerBuffers(offset, inBytes, offset, outBytes);
                continue;
            }
            if (l.Kind == IntLayerKind.Add)
            {
                // In place over the skip tensor; the block's region is given back.
                slots[i] = new LayerBuffers(offset, inBytes, skipOffset, outBytes, skipOffset);
                offset = skipOffset;
                atLow = skipAtLow;
                lo = 0;
                hi = arena;
                continue;
            }
            int outOffset = atLow ? hi - outBytes : lo;
            slots[i] = new LayerBuffers(offset, inBytes, outOffset, outBytes);
            offset = outOffset;
            atLow = !atLow;
        }
        return new MemoryPlan(arena, 0, slots);
    }
}
