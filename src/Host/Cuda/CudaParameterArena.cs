using ArTar.Backends;

namespace ArTar.Cuda;

/// <summary>
/// The CUDA arena (docs/design.md §4, docs/cuda.md §6): one device buffer for every parameter and a twin for the gradients, laid
/// out by <see cref="CudaArenaLayout"/> — encoder.weight, decoder.bias, then each layer's cuDNN weight space, 256-byte
/// aligned, padding zero. The RNN tensors are wherever cuDNN's <c>cudnnGetRNNWeightParams</c> puts them, mapped to
/// their canonical names by <see cref="CudnnWeightMapping"/>; Read/Write gather and scatter per piece, so they work
/// whatever the layout, and Weight/Gradient give a view whenever a tensor is one run.
/// </summary>
public sealed class CudaParameterArena : IParameterArena
{
    private readonly CudaBackend _backend;
    private readonly Dictionary<string, WeightPiece[]> _pieces = [];
    private readonly Dictionary<string, (CudaTensor Weight, CudaTensor Gradient)> _views = [];

    internal CudaParameterArena(CudaBackend backend, ModelShape shape, CudaArenaLayout layout, CudaTensor weights, CudaTensor gradients,
        IReadOnlyList<IReadOnlyDictionary<string, WeightPiece[]>> layerMaps, CudnnRnnDescriptor[] layerDescriptors)
    {
        _backend = backend;
        Shape = shape;
        Specs = shape.Parameters();
        Layout = layout;
        Weights = weights;
        Gradients = gradients;
        LayerDescriptors = layerDescriptors;
        _pieces[ModelShape.EncoderWeight] = [new(0, layout.EncoderOffset, (long)shape.Vocab * shape.Hidden)];
        _pieces[ModelShape.DecoderBias] = [new(0, layout.DecoderOffset, shape.Vocab)];
        foreach (var map in layerMaps)
            foreach (var (name, pieces) in map) _pieces[name] = pieces;
        foreach (var spec in Specs)
        {
            var pieces = _pieces[spec.Name];
            if (pieces.Sum(p => p.Length) != spec.Count)
                throw new InvalidOperationException($"arena: {spec.Name} maps {pieces.Sum(p => p.Length)} elements, its shape has {spec.Count}");
            if (pieces.Length == 1)
                _views[spec.Name] = (new CudaTensor(null, weights.At(pieces[0].ArenaOffset), spec.Count, false),
                                     new CudaTensor(null, gradients.At(pieces[0].ArenaOffset), spec.Count, false));
        }
    }

    public ModelShape Shape { get; }
    public IReadOnlyList<ParameterSpec> Specs { get; }
    public CudaArenaLayout Layout { get; }
    public CudaTensor Weights { get; }
    public CudaTensor Gradients { get; }
    ITensor IParameterArena.Weights => Weights;
    ITensor IParameterArena.Gradients => Gradients;
    internal CudnnRnnDescriptor[] LayerDescriptors { get; }

    /// <summary>Where a canonical tensor lives: runs of the arena (one run for every tensor cuDNN's packed layout gives).</summary>
    public IReadOnlyList<WeightPiece> Pieces(string name) => _pieces.TryGetValue(name, out var p) ? p : throw Unknown(name);

    /// <summary>Layer <paramref name="layer"/>'s weight space in the parameter buffer (what cuDNN's RNN calls take).</summary>
    internal ulong LayerWeights(int layer) => Weights.At(Layout.LayerOffsets[layer]);
    internal ulong LayerGradients(int layer) => Gradients.At(Layout.LayerOffsets[layer]);
    internal nuint LayerBytes(int layer) => (nuint)(Layout.LayerElements[layer] * sizeof(float));

    public ITensor Weight(string name) => View(name).Weight;
    public ITensor Gradient(string name) => View(name).Gradient;

    public void Read(string name, Span<float> destination) => _backend.Gather(Weights, Pieces(name), destination[..Check(name, destination.Length)]);

    /// <summary>A gradient by name, gathered like <see cref="Read"/> (tests; the trainer has no need of it).</summary>
    public void ReadGradient(string name, Span<float> destination) => _backend.Gather(Gradients, Pieces(name), destination[..Check(name, destination.Length)]);

    public void Write(string name, ReadOnlySpan<float> source) => _backend.Scatter(source[..Check(name, source.Length)], Pieces(name), Weights);

    public void Dispose()
    {
        Weights.Dispose();
        Gradients.Dispose();
    }

    private (CudaTensor Weight, CudaTensor Gradient) View(string name)
    {
        if (_views.TryGetValue(name, out var v)) return v;
        throw _pieces.ContainsKey(name)
            ? new NotSupportedException($"parameter '{name}' is not one contiguous run of cuDNN's weight space; use Read/Write")
            : Unknown(name);
    }

    private int Check(string name, int length)
    {
        long count = Pieces(name).Sum(p => p.Length);
        if (count != length) throw new ArgumentException($"parameter '{name}' has {count} elements, the buffer {length}");
        return length;
    }

    private KeyNotFoundException Unknown(string name) =>
        new($"no parameter '{name}' in a {Shape.Cell.ConfigName()} model with {Shape.Layers} layers");
}
