using Tern.Runtime.Kernels;

namespace Tern.Runtime.Engine;

/// <summary>
/// Runs an <see cref="IntModel"/> with one kernel mode. Built once per (model, mode): validates the model,
/// prepares the optimized weights, plans and owns its activation arena and scratch. Not thread-safe: use one
/// runner per thread (as <see cref="RunBatch"/> does).
/// </summary>
public sealed class Runner
{
    private delegate void Step(ReadOnlySpan<sbyte> input, Span<sbyte> output);

    private readonly sbyte[] arena;
    private readonly short[] scratch16;
    private readonly int[] scratch32;
    private readonly Step?[] steps;

    /// <summary>Validates the model and prepares it; throws <see cref="InvalidDataException"/> naming the first problem.</summary>
    public Runner(IntModel model, KernelMode mode, SimdLevel simd = SimdLevel.Auto)
    {
        if (mode is not (KernelMode.Scalar or KernelMode.Optimized))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown kernel mode");
        model.Validate();
        Model = model;
        Mode = mode;
        Simd = mode == KernelMode.Scalar ? SimdLevel.None : SimdLevels.Resolve(simd);
        Plan = MemoryPlan.Create(model);
        arena = new sbyte[Plan.ArenaBytes];
        var prepared = model.Layers.Select(Prepare).ToArray();
        scratch16 = new short[prepared.OfType<ConvS8.Prepared>().Select(p => p.ScratchLength).DefaultIfEmpty(0).Max()];
        scratch32 = new int[prepared.Select(p => p switch
        {
            ConvT2.Prepared q => q.ScratchLength,
            DepthwiseS8.Prepared q => q.ScratchLength,
            DepthwiseT2.Prepared q => q.ScratchLength,
            AvgPoolS8.Prepared q => q.ScratchLength,
            _ => 0,
        }).DefaultIfEmpty(0).Max()];
        steps = model.Layers.Select((l, i) => l is IntAddLayer a ? AddStep(a, prepared[i], Plan.Layers[i]) : MakeStep(l, prepared[i])).ToArray();
    }

    public IntModel Model { get; }
    public KernelMode Mode { get; }

    /// <summary>The SIMD level the optimized kernels use (None in scalar mode).</summary>
    public SimdLevel Simd { get; }

    public MemoryPlan Plan { get; }

    /// <summary>Bytes of the activation arena (the peak of input + output over layers, plus a live skip tensor).</summary>
    public int ArenaBytes => Plan.ArenaBytes;

    /// <summary>Bytes of kernel scratch besides the arena (host-side buffers for the optimized bodies).</summary>
    public int ScratchBytes => scratch16.Length * sizeof(short) + scratch32.Length * sizeof(int);

    private object? Prepare(IntLayer layer)
    {
        if (Mode == KernelMode.Scalar) return null;
        return layer switch
        {
            IntConvLayer c when c.Kind == IntLayerKind.Depthwise && c.WeightKind == WeightKind.Int8 => DepthwiseS8.Prepare(c, Simd),
            IntConvLayer c when c.Kind == IntLayerKind.Depthwise => DepthwiseT2.Prepare(c, Simd),
            IntConvLayer c when c.WeightKind == WeightKind.Int8 => ConvS8.Prepare(c, Simd),
            IntConvLayer c => ConvT2.Prepare(c, Simd),
            IntPoolLayer p when p.Kind == IntLayerKind.MaxPool => MaxPoolS8.Prepare(p, Simd),
            IntPoolLayer p => AvgPoolS8.Prepare(p, Simd),
            IntFlattenLayer => null,
            IntAddLayer a => AddS8.Prepare(a, Simd),
            _ => throw new InvalidDataException($"layer '{layer.Name}' ({layer.Kind}) has no kernel"),
        };
    }

    // A residual add also reads its skip tensor, which the plan keeps alive in the arena.
    private Step AddStep(IntAddLayer layer, object? prepared, LayerBuffers slot)
    {
        int offset = slot.SkipOffset, bytes = layer.Input.Size;
        return prepared is AddS8.Prepared p
            ? (i, o) => AddS8.Optimized(p, i, arena.AsSpan(offset, bytes), o)
            : (i, o) => AddS8.Scalar(layer, i, arena.AsSpan(offset, bytes), o);
    }

    private Step? MakeStep(IntLayer layer, object? prepared) => (layer, prepared) switch
    {
        (IntFlattenLayer, _) => null,
        (_, ConvS8.Prepared p) => (i, o) => ConvS8.Optimized(p, i, o, scratch16),
        (_, ConvT2.Prepared p) => (i, o) => ConvT2.Optimized(p, i, o, scratch32),
        (_, DepthwiseS8.Prepared p) => (i, o) => DepthwiseS8.Optimized(p, i, o, scratch32),
        (_, DepthwiseT2.Prepared p) => (i, o) => DepthwiseT2.Optimized(p, i, o, scratch32),
        (_, MaxPoolS8.Prepared p) => (i, o) => MaxPoolS8.Optimized(p, i, o),
        (_, AvgPoolS8.Prepared p) => (i, o) => AvgPoolS8.Optimized(p, i, o, scratch32),
        (IntConvLayer c, null) when c.Kind == IntLayerKind.Depthwise && c.WeightKind == WeightKind.Int8 => (i, o) => DepthwiseS8.Scalar(c, i, o),
        (IntConvLayer c, null) when c.Kind == IntLayerKind.Depthwise => (i, o) => DepthwiseT2.Scalar(c, i, o),
        (IntConvLayer c, null) when c.WeightKind == WeightKind.Int8 => (i, o) => ConvS8.Scalar(c, i, o),
        (IntConvLayer c, null) => (i, o) => ConvT2.Scalar(c, i, o),
        (IntPoolLayer p, null) when p.Kind == IntLayerKind.MaxPool => (i, o) => MaxPoolS8.Scalar(p, i, o),
        (IntPoolLayer p, null) => (i, o) => AvgPoolS8.Scalar(p, i, o),
        _ => throw new InvalidDataException($"layer '{layer.Name}' ({layer.Kind}) has no kernel"),
    };

    private void Execute(ReadOnlySpan<sbyte> input, Action<int, ReadOnlySpan<sbyte>>? onLayer)
    {
        if (input.Length != Model.Input.Size)
            throw new ArgumentException($"input has {input.Length} elements, model '{Model.Name}' expects {Model.Input.Size}", nameof(input));
        input.CopyTo(arena.AsSpan(Plan.InputOffset, input.Length));
        for (int i = 0; i < steps.Length; i++)
        {
            var slot = Plan.Layers[i];
            var output = arena.AsSpan(slot.OutputOffset, slot.OutputBytes);
            steps[i]?.Invoke(arena.AsSpan(slot.InputOffset, slot.InputBytes), output);
            onLayer?.Invoke(i, output);
        }
    }

    /// <summary>Runs one inference; output must have the model's output size.</summary>
    public void Run(ReadOnlySpan<sbyte> input, Span<sbyte> output)
    {
        if (output.Length != Model.Output.Size)
            throw new ArgumentException($"output has {output.Length} elements, model '{Model.Name}' produces {Model.Output.Size}", nameof(output));
        Execute(input, null);
        arena.AsSpan(Plan.OutputOffset, output.Length).CopyTo(output);
    }

    /// <summary>Runs one inference and returns the int8 logits.</summary>
    public sbyte[] Run(sbyte[] input)
    {
        var output = new sbyte[Model.Output.Size];
        Run(input, output);
        return output;
    }

    /// <summary>Runs one inference and returns every layer's output in order (for layer-by-layer diffs).</summary>
    public sbyte[][] RunLayers(sbyte[] input)
    {
        var outputs = new sbyte[steps.Length][];
        Execute(input, (i, o) => outputs[i] = o.ToArray());
        return outputs;
    }

    /// <summary>
    /// Split inference, device side: runs layers 0..count-1 and returns the output of layer count-1 (a copy of the
    /// input when count is 0).
    /// </summary>
    public sbyte[] RunPrefix(sbyte[] input, int count)
    {
        if (count < 0 || count > steps.Length)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"model '{Model.Name}' has {steps.Length} layers");
        RefuseInsideBlock(count, nameof(count));
        if (count == 0)
        {
            if (input.Length != Model.Input.Size)
                throw new ArgumentException($"input has {input.Length} elements, model '{Model.Name}' expects {Model.Input.Size}", nameof(input));
            return (sbyte[])input.Clone();
        }
        sbyte[]? result = null;
        Execute(input, (i, o) => { if (i == count - 1) result = o.ToArray(); });
        return result!;
    }

    /// <summary>
    /// Split inference, host side: runs layers first..end on the given input of layer first (the output of layer
    /// first-1, e.g. a decoded feature map) and returns the int8 logits. RunSuffix(k, RunPrefix(x, k)) = Run(x).
    /// </summary>
    public sbyte[] RunSuffix(int first, ReadOnlySpan<sbyte> activation)
    {
        if (first < 0 || first > steps.Length)
            throw new ArgumentOutOfRangeException(nameof(first), first, $"model '{Model.Name}' has {steps.Length} layers");
        RefuseInsideBlock(first, nameof(first));
        int expected = first == 0 ? Model.Input.Size : Plan.Layers[first - 1].OutputBytes;
        if (activation.Length != expected)
            throw new ArgumentException($"activation has {activation.Length} elements, layer {first} of model '{Model.Name}' takes {expected}", nameof(activation));
        if (first == steps.Length)
            return activation.ToArray();
        activation.CopyTo(arena.AsSpan(Plan.Layers[first].InputOffset, activation.Length));
        for (int i = first; i < steps.Length; i++)
        {
            var slot = Plan.Layers[i];
            steps[i]?.Invoke(arena.AsSpan(slot.InputOffset, slot.InputBytes), arena.AsSpan(slot.OutputOffset, slot.OutputBytes));
        }
        return arena.AsSpan(Plan.OutputOffset, Model.Output.Size).ToArray();
    }

    private void RefuseInsideBlock(int split, string parameter)
    {
        if (!Model.CanSplitAt(split))
            throw new ArgumentException(
                $"model '{Model.Name}' cannot be split after layer {split - 1}: it lies inside a residual block, whose add still needs the block's input",
                parameter);
    }

    /// <summary>
    /// Runs many inputs on up to maxDegreeOfParallelism threads, one runner per worker; results are in input
    /// order and identical to running them one by one.
    /// </summary>
    public static sbyte[][] RunBatch(IntModel model, KernelMode mode, sbyte[][] inputs, int maxDegreeOfParallelism)
    {
        if (maxDegreeOfParallelism < 1)
            throw new ArgumentOutOfRangeException(nameof(maxDegreeOfParallelism), maxDegreeOfParallelism, "must be at least 1");
        // The first runner is built here, so an invalid model or input fails on the caller's thread, unwrapped.
        var first = new Runner(model, mode);
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i].Length != model.Input.Size)
                throw new ArgumentException($"input {i} has {inputs[i].Length} elements, model '{model.Name}' expects {model.Input.Size}", nameof(inputs));
        var results = new sbyte[inputs.Length][];
        int workers = Math.Max(1, Math.Min(maxDegreeOfParallelism, inputs.Length));
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            var runner = w == 0 ? first : new Runner(model, mode);
            for (int i = w; i < inputs.Length; i += workers)
                results[i] = runner.Run(inputs[i]);
        });
        return results;
    }

    /// <summary>Index of the first maximum (ties go to the lowest index); throws on an empty span.</summary>
    public static int Argmax(ReadOnlySpan<sbyte> values)
    {
        if (values.IsEmpty) throw new ArgumentException("argmax of an empty vector", nameof(values));
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
