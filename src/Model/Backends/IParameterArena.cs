namespace ArTar.Backends;

/// <summary>
/// Every parameter of a model in one flat buffer and every gradient in a twin of the same layout (docs/design.md §4),
/// so the gradient norm and clip-decay-update are one pass each. The layout (order, alignment, padding)
/// is the backend's business; callers reach parameters only through their canonical names (docs/design.md §2).
/// Padding, if any, is kept at zero in both buffers.
/// </summary>
public interface IParameterArena : IDisposable
{
    ModelShape Shape { get; }

    /// <summary>Canonical names and shapes, in canonical order (<see cref="ModelShape.Parameters"/>).</summary>
    IReadOnlyList<ParameterSpec> Specs { get; }

    /// <summary>The whole parameter buffer (padding included).</summary>
    ITensor Weights { get; }

    /// <summary>The whole gradient buffer, same layout as <see cref="Weights"/>.</summary>
    ITensor Gradients { get; }

    /// <summary>The view of one parameter, row-major in its canonical shape.</summary>
    ITensor Weight(string name);

    /// <summary>The view of one parameter's gradient.</summary>
    ITensor Gradient(string name);

    /// <summary>Copies a parameter to the host as float32, row-major (checkpoints).</summary>
    void Read(string name, Span<float> destination);

    /// <summary>Sets a parameter from float32 host values, row-major (checkpoints, initialisation).</summary>
    void Write(string name, ReadOnlySpan<float> source);
}
