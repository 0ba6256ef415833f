using System.Numerics;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>The CPU arena: parameters back to back in canonical order, no padding; gradients in a twin array.</summary>
public sealed class CpuParameterArena<T> : IParameterArena where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dictionary<string, (CpuTensor<T> Weight, CpuTensor<T> Gradient)> _views = [];

    internal CpuParameterArena(ModelShape shape)
    {
        Shape = shape;
        Specs = shape.Parameters();
        long total = Specs.Sum(s => s.Count);
        if (total > Array.MaxLength)
            throw new ArgumentException($"model has {total} parameters, more than one CPU array holds");
        var weights = new T[total];
        var gradients = new T[total];
        Weights = new CpuTensor<T>(weights, 0, weights.Length);
        Gradients = new CpuTensor<T>(gradients, 0, gradients.Length);
        int offset = 0;
        foreach (var spec in Specs)
        {
            _views.Add(spec.Name, (new CpuTensor<T>(weights, offset, (int)spec.Count), new CpuTensor<T>(gradients, offset, (int)spec.Count)));
            offset += (int)spec.Count;
        }
        Encoder = _views[ModelShape.EncoderWeight];
        Decoder = _views[ModelShape.DecoderBias];
        Layers = new LayerViews[shape.Layers];
        for (int k = 0; k < shape.Layers; k++)
            Layers[k] = new(_views[ModelShape.WeightIh(k)], _views[ModelShape.WeightHh(k)], _views[ModelShape.BiasIh(k)], _views[ModelShape.BiasHh(k)]);
    }

    /// <summary>The four tensors of one layer and their gradients, looked up once (no string building in a step).</summary>
    internal readonly record struct LayerViews(
        (CpuTensor<T> Weight, CpuTensor<T> Gradient) WeightIh, (CpuTensor<T> Weight, CpuTensor<T> Gradient) WeightHh,
        (CpuTensor<T> Weight, CpuTensor<T> Gradient) BiasIh, (CpuTensor<T> Weight, CpuTensor<T> Gradient) BiasHh);

    internal (CpuTensor<T> Weight, CpuTensor<T> Gradient) Encoder { get; }
    internal (CpuTensor<T> Weight, CpuTensor<T> Gradient) Decoder { get; }
    internal LayerViews[] Layers { get; }

    public ModelShape Shape { get; }
    public IReadOnlyList<ParameterSpec> Specs { get; }
    public CpuTensor<T> Weights { get; }
    public CpuTensor<T> Gradients { get; }
    ITensor IParameterArena.Weights => Weights;
    ITensor IParameterArena.Gradients => Gradients;

    public CpuTensor<T> Weight(string name) => View(name).Weight;
    public CpuTensor<T> Gradient(string name) => View(name).Gradient;
    ITensor IParameterArena.Weight(string name) => Weight(name);
    ITensor IParameterArena.Gradient(string name) => Gradient(name);

    public void Read(string name, Span<float> destination)
    {
        var w = Weight(name).Span;
        CheckLength(name, w.Length, destination.Length);
        for (int i = 0; i < w.Length; i++) destination[i] = float.CreateTruncating(w[i]);
    }

    public void Write(string name, ReadOnlySpan<float> source)
    {
        var w = Weight(name).Span;
        CheckLength(name, w.Length, source.Length);
        for (int i = 0; i < w.Length; i++) w[i] = T.CreateTruncating(source[i]);
    }

    public void Dispose() { }

    private (CpuTensor<T> Weight, CpuTensor<T> Gradient) View(string name) =>
        _views.TryGetValue(name, out var v) ? v
            : throw new KeyNotFoundException($"no parameter '{name}' in a {Shape.Cell.ConfigName()} model with {Shape.Layers} layers");

    private static void CheckLength(string name, int expected, int got)
    {
        if (expected != got)
            throw new ArgumentException($"parameter '{name}' has {expected} elements, the buffer {got}");
    }
}
