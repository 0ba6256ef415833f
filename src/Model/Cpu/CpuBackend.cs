using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// The reference backend: every op of <see cref="IBackend"/> in managed code, generic over the element type
/// (float for training, double for the gradient checks). Matrix products go through <c>Gemm.Multiply</c>;
/// elementwise work through TensorPrimitives (vectorised). Nothing is allocated inside an op, and nothing is cached
/// between calls: work split over the cores is a struct (<see cref="IParts"/>), so the backend is reentrant.
/// One op per file, named for the op (CpuBackend.Dropout.cs, CpuBackend.Rnn.cs, …), as its kernel and its CUDA launcher are.
/// </summary>
public sealed partial class CpuBackend<T> : IBackend where T : unmanaged, IFloatingPointIeee754<T>
{
    // Sums of many squares are taken chunk by chunk in T (vectorised) and added up in double.
    private const int ReductionChunk = 4096;

    public string Name => typeof(T) == typeof(float) ? "cpu-float32" : typeof(T) == typeof(double) ? "cpu-float64" : $"cpu-{typeof(T).Name}";

    public string Description => $"cpu: {Environment.ProcessorCount} cores, {(typeof(T) == typeof(float) ? "float32" : typeof(T) == typeof(double) ? "float64" : typeof(T).Name)}";

    public ITensor Allocate(long length)
    {
        if (length < 0 || length > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(length), $"cannot allocate {length} elements on the CPU");
        return new CpuTensor<T>(new T[length], 0, (int)length);
    }

    public ITensor AllocateTokens(int length) => new CpuTokens(length);

    public void Upload(ReadOnlySpan<float> source, ITensor destination)
    {
        var d = Data(destination);
        CheckFits(source.Length, d.Length, nameof(Upload));
        for (int i = 0; i < source.Length; i++) d[i] = T.CreateTruncating(source[i]);
    }

    public void Download(ITensor source, Span<float> destination)
    {
        var s = Data(source);
        CheckFits(destination.Length, s.Length, nameof(Download));
        for (int i = 0; i < destination.Length; i++) destination[i] = float.CreateTruncating(s[i]);
    }

    public void UploadTokens(ReadOnlySpan<int> source, ITensor destination)
    {
        var d = Tokens(destination);
        CheckFits(source.Length, d.Length, nameof(UploadTokens));
        source.CopyTo(d);
    }

    public void Zero(ITensor tensor)
    {
        if (tensor is CpuTokens tokens) tokens.Ids.AsSpan().Clear();
        else Data(tensor).Clear();
    }

    public IParameterArena CreateParameters(ModelShape shape) => new CpuParameterArena<T>(shape);

    public IRnnReserve CreateRnnReserve(ModelShape shape, int layer, int maxSteps, int batch) =>
        new CpuRnnReserve<T>(shape, layer, maxSteps, batch);

    // Passes over more than this many elements (the gradient arena of a real model) are split over the cores.
    private static int ArenaParts(int length) => length >= 1 << 20 ? Math.Min(2, Environment.ProcessorCount) : 1;

    private static int Chunks(int length) => (length + ReductionChunk - 1) / ReductionChunk;

    /// <summary>Part p's elements: a range of whole <see cref="ReductionChunk"/>-element chunks (the last one may be short).</summary>
    private static (int From, int To) ChunkRange(int length, int part, int parts)
    {
        int chunks = Chunks(length);
        int c0 = (int)((long)chunks * part / parts), c1 = (int)((long)chunks * (part + 1) / parts);
        return (c0 * ReductionChunk, Math.Min(length, c1 * ReductionChunk));
    }

    public void Dispose() { }

    /// <summary>The elements behind a handle of this backend (tests and the model's host-side checks use it).</summary>
    public static Span<T> Data(ITensor tensor) => tensor switch
    {
        CpuTensor<T> t => t.Span,
        null => throw new ArgumentNullException(nameof(tensor)),
        _ => throw new ArgumentException($"tensor {tensor.GetType().Name} does not belong to the {typeof(T).Name} CPU backend"),
    };

    private static (T[] Array, int Offset) Tensor(ITensor tensor) => tensor is CpuTensor<T> t ? (t.Array, t.Offset)
        : throw new ArgumentException($"tensor {tensor?.GetType().Name ?? "null"} does not belong to the {typeof(T).Name} CPU backend");

    public static Span<int> Tokens(ITensor tensor) => tensor as CpuTokens is { } t ? t.Ids
        : throw new ArgumentException($"expected a CPU token tensor, got {tensor?.GetType().Name ?? "null"}");

    private static CpuParameterArena<T> Arena(IParameterArena arena) => arena as CpuParameterArena<T>
        ?? throw new ArgumentException($"parameter arena {arena?.GetType().Name ?? "null"} does not belong to the {typeof(T).Name} CPU backend");

    private static double SumOfSquares(ReadOnlySpan<T> x)
    {
        double sum = 0.0;
        for (int i = 0; i < x.Length; i += ReductionChunk)
            sum += double.CreateTruncating(TensorPrimitives.SumOfSquares(x.Slice(i, Math.Min(ReductionChunk, x.Length - i))));
        return sum;
    }

    private static int CheckToken(int id, int vocab) =>
        (uint)id < (uint)vocab ? id : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} outside the vocabulary of {vocab}");

    private static void CheckFits(int needed, int available, string op)
    {
        if (needed > available) throw new ArgumentException($"{op}: {needed} elements do not fit a tensor of {available}");
    }
}
