using ArTar.Backends;

namespace ArTar.Cuda;

/// <summary>One matrix and its bias in a layer's cuDNN weight space, as <c>cudnnGetRNNWeightParams</c> reports them:
/// element offsets from the start of that weight space, the matrix read row-major as Rows × Columns (cudnn_adv.h; docs/cuda.md §7).</summary>
public readonly record struct CudnnLinearLayer(int LinLayerId, long MatrixOffset, int Rows, int Columns, long BiasOffset, int BiasLength);

/// <summary>canonical[CanonicalOffset ..+Length) lives at arena[ArenaOffset ..+Length) (element offsets, float32).</summary>
public readonly record struct WeightPiece(long CanonicalOffset, long ArenaOffset, long Length);

/// <summary>
/// The map between the canonical PyTorch tensors of one layer (docs/design.md §2: weight_ih [G·H, in], weight_hh [G·H, H],
/// bias_ih [G·H], bias_hh [G·H], gate blocks of H rows) and cuDNN's per-linLayerID matrices and biases. A pure function
/// of the table cuDNN answers, so it is unit-tested on the host.
/// </summary>
public static class CudnnWeightMapping
{
    /// <summary>
    /// cuDNN's linLayerID of canonical gate <paramref name="gate"/> (cudnn_adv.h cudnnGetRNNWeightParams; docs/cuda.md §7): input-side IDs 0..G−1, recurrent
    /// G..2G−1. LSTM 0 i, 1 f, 2 c′ (= g), 3 o — PyTorch's i,f,g,o; GRU 0 r, 1 z, 2 h′ (= n) — PyTorch's r,z,n (not the
    /// order of cuDNN's equation listing, which is not the ID order); tanh RNN 0. So the gate order is the identity.
    /// </summary>
    public static int LinLayerId(CellType cell, int gate, bool recurrent)
    {
        int g = cell.Gates();
        if ((uint)gate >= (uint)g) throw new ArgumentOutOfRangeException(nameof(gate), $"a {cell.ConfigName()} cell has {g} gates");
        return (recurrent ? g : 0) + gate;
    }

    /// <summary>
    /// Where each of a layer's four canonical tensors lives in the arena: weight_ih, weight_hh, bias_ih, bias_hh by
    /// canonical name, each as runs of consecutive elements (adjacent pieces merged: one piece means a plain view).
    /// <paramref name="table"/> holds the 2·G entries cuDNN gave for this layer; <paramref name="layerOffset"/> is where
    /// the layer's weight space starts in the arena. Throws if the table disagrees with the documented shapes.
    /// </summary>
    public static IReadOnlyDictionary<string, WeightPiece[]> Map(ModelShape shape, int layer, IReadOnlyList<CudnnLinearLayer> table, long layerOffset, long weightSpaceElements)
    {
        int g = shape.Gates, h = shape.Hidden, input = shape.LayerInput(layer);
        if (table.Count != 2 * g)
            throw new ArgumentException($"layer {layer}: cuDNN gave {table.Count} linear layers, a {shape.Cell.ConfigName()} cell has {2 * g}");
        var byId = new CudnnLinearLayer?[2 * g];
        foreach (var entry in table)
        {
            if ((uint)entry.LinLayerId >= (uint)(2 * g) || byId[entry.LinLayerId] is not null)
                throw new ArgumentException($"layer {layer}: unexpected or repeated linLayerID {entry.LinLayerId}");
            byId[entry.LinLayerId] = entry;
        }
        var result = new Dictionary<string, WeightPiece[]>();
        foreach (bool recurrent in new[] { false, true })
        {
            int columns = recurrent ? h : input;
            var matrix = new List<WeightPiece>();
            var bias = new List<WeightPiece>();
            for (int gate = 0; gate < g; gate++)
            {
                int id = LinLayerId(shape.Cell, gate, recurrent);
                var e = byId[id]!.Value;
                if (e.Rows != h || e.Columns != columns)
                    throw new ArgumentException($"layer {layer}: linLayerID {id} matrix is {e.Rows}×{e.Columns}, expected {h}×{columns}");
                if (e.BiasLength != h)
                    throw new ArgumentException($"layer {layer}: linLayerID {id} bias has {e.BiasLength} elements, expected {h}");
                CheckInside(layer, id, e.MatrixOffset, (long)h * columns, weightSpaceElements);
                CheckInside(layer, id, e.BiasOffset, h, weightSpaceElements);
                // Gate block `gate` = canonical rows gate·H .. gate·H+H−1, each row `columns` wide: one H×columns matrix.
                matrix.Add(new((long)gate * h * columns, layerOffset + e.MatrixOffset, (long)h * columns));
                bias.Add(new((long)gate * h, layerOffset + e.BiasOffset, h));
            }
            result[recurrent ? ModelShape.WeightHh(layer) : ModelShape.WeightIh(layer)] = Merge(matrix);
            result[recurrent ? ModelShape.BiasHh(layer) : ModelShape.BiasIh(layer)] = Merge(bias);
        }
        return result;
    }

    /// <summary>Joins pieces that continue each other both in the canonical tensor and in the arena.</summary>
    public static WeightPiece[] Merge(IReadOnlyList<WeightPiece> pieces)
    {
        var merged = new List<WeightPiece>();
        foreach (var p in pieces.OrderBy(p => p.CanonicalOffset))
        {
            if (merged.Count > 0 && merged[^1] is var last
                && last.CanonicalOffset + last.Length == p.CanonicalOffset && last.ArenaOffset + last.Length == p.ArenaOffset)
                merged[^1] = last with { Length = last.Length + p.Length };
            else
                merged.Add(p);
        }
        return [.. merged];
    }

    /// <summary>Host-side gather: canonical[...] = arena pieces (tests and the arena's Read).</summary>
    public static void Gather(ReadOnlySpan<float> arena, IReadOnlyList<WeightPiece> pieces, Span<float> canonical)
    {
        foreach (var p in pieces) arena.Slice((int)p.ArenaOffset, (int)p.Length).CopyTo(canonical.Slice((int)p.CanonicalOffset, (int)p.Length));
    }

    /// <summary>Host-side scatter: arena pieces = canonical[...].</summary>
    public static void Scatter(ReadOnlySpan<float> canonical, IReadOnlyList<WeightPiece> pieces, Span<float> arena)
    {
        foreach (var p in pieces) canonical.Slice((int)p.CanonicalOffset, (int)p.Length).CopyTo(arena.Slice((int)p.ArenaOffset, (int)p.Length));
    }

    private static void CheckInside(int layer, int id, long offset, long length, long size)
    {
        if (offset < 0 || offset + length > size)
            throw new ArgumentException($"layer {layer}: linLayerID {id} block [{offset}, {offset + length}) lies outside the weight space of {size} elements");
    }
}

/// <summary>
/// The CUDA arena's layout (docs/design.md §4): encoder.weight at 0, decoder.bias and then each layer's cuDNN weight space at
/// offsets aligned to <see cref="AlignmentElements"/> floats (256 bytes, docs/cuda.md §7); padding stays zero.
/// Element offsets, float32. Pure: unit-tested on the host.
/// </summary>
public sealed record CudaArenaLayout(long EncoderOffset, long DecoderOffset, long[] LayerOffsets, long[] LayerElements, long Total)
{
    public const int AlignmentElements = 64;

    public static long Align(long elements) => (elements + AlignmentElements - 1) / AlignmentElements * AlignmentElements;

    /// <param name="layerWeightSpaceBytes">cudnnGetRNNWeightSpaceSize of each layer.</param>
    public static CudaArenaLayout Plan(ModelShape shape, IReadOnlyList<long> layerWeightSpaceBytes)
    {
        if (layerWeightSpaceBytes.Count != shape.Layers)
            throw new ArgumentException($"{layerWeightSpaceBytes.Count} weight-space sizes for {shape.Layers} layers");
        long offset = 0;
        long encoder = offset;
        offset = Align(offset + (long)shape.Vocab * shape.Hidden);
        long decoder = offset;
        offset = Align(offset + shape.Vocab);
        var layers = new long[shape.Layers];
        var sizes = new long[shape.Layers];
        for (int k = 0; k < shape.Layers; k++)
        {
            if (layerWeightSpaceBytes[k] <= 0 || layerWeightSpaceBytes[k] % sizeof(float) != 0)
                throw new ArgumentException($"layer {k}: weight space of {layerWeightSpaceBytes[k]} bytes is not a whole number of floats");
            layers[k] = offset;
            sizes[k] = layerWeightSpaceBytes[k] / sizeof(float);
            offset = Align(offset + sizes[k]);
        }
        return new(encoder, decoder, layers, sizes, offset);
    }
}
