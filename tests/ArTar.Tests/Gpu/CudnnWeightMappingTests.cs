using ArTar.Backends;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Gpu;

/// <summary>
/// The map between cuDNN's linear-layer IDs and the canonical PyTorch tensors, on the host, from the table cuDNN would give
/// (cudnn_adv.h cudnnGetRNNWeightParams; docs/cuda.md §7): no GPU needed. Each canonical element is traced to the exact cuDNN matrix/bias element it must land in.
/// </summary>
public class CudnnWeightMappingTests
{
    // The packed layout cuDNN documents and PyTorch relies on: every matrix in linLayerID order (input side, then
    // recurrent), then every bias in the same order; matrices row-major H × columns.
    private static List<CudnnLinearLayer> PackedTable(CellType cell, int hidden, int input, out long size)
    {
        int g = cell.Gates();
        var table = new List<CudnnLinearLayer>();
        long offset = 0;
        var matrixOffsets = new long[2 * g];
        for (int id = 0; id < 2 * g; id++)
        {
            matrixOffsets[id] = offset;
            offset += (long)hidden * (id < g ? input : hidden);
        }
        for (int id = 0; id < 2 * g; id++)
        {
            table.Add(new(id, matrixOffsets[id], hidden, id < g ? input : hidden, offset, hidden));
            offset += hidden;
        }
        size = offset;
        return table;
    }

    // A layout no cuDNN has promised: per ID matrix then its bias, IDs in reverse order, gaps between blocks.
    private static List<CudnnLinearLayer> ScatteredTable(CellType cell, int hidden, int input, out long size)
    {
        int g = cell.Gates();
        var table = new List<CudnnLinearLayer>();
        long offset = 3;
        for (int id = 2 * g - 1; id >= 0; id--)
        {
            int columns = id < g ? input : hidden;
            long matrix = offset;
            offset += (long)hidden * columns + 5;
            table.Add(new(id, matrix, hidden, columns, offset, hidden));
            offset += hidden + 7;
        }
        size = offset;
        return table;
    }

    [TestCase(CellType.Lstm, 0, 0)] [TestCase(CellType.Lstm, 1, 1)] [TestCase(CellType.Lstm, 2, 2)] [TestCase(CellType.Lstm, 3, 3)]
    [TestCase(CellType.Gru, 0, 0)] [TestCase(CellType.Gru, 1, 1)] [TestCase(CellType.Gru, 2, 2)]
    [TestCase(CellType.Rnn, 0, 0)]
    public void CanonicalGateMapsToTheDocumentedLinLayerId(CellType cell, int gate, int inputId)
    {
        // cudnnGetRNNWeightParams's linLayerID (docs/cuda.md §7): LSTM 0 i, 1 f, 2 c' (g), 3 o; GRU 0 r, 1 z, 2 h' (n); recurrent IDs are G further on.
        Assert.That(CudnnWeightMapping.LinLayerId(cell, gate, recurrent: false), Is.EqualTo(inputId));
        Assert.That(CudnnWeightMapping.LinLayerId(cell, gate, recurrent: true), Is.EqualTo(inputId + cell.Gates()));
    }

    [TestCase(CellType.Lstm)]
    [TestCase(CellType.Gru)]
    [TestCase(CellType.Rnn)]
    public void PackedLayoutGivesOneContiguousRunPerTensor(CellType cell)
    {
        int h = 5, g = cell.Gates();
        var shape = new ModelShape(cell, 11, h, 2);
        var table = PackedTable(cell, h, h, out long size);
        var map = CudnnWeightMapping.Map(shape, 1, table, layerOffset: 640, size);
        long gh = (long)g * h;
        Assert.That(map[ModelShape.WeightIh(1)], Is.EqualTo(new[] { new WeightPiece(0, 640, gh * h) }));
        Assert.That(map[ModelShape.WeightHh(1)], Is.EqualTo(new[] { new WeightPiece(0, 640 + gh * h, gh * h) }));
        Assert.That(map[ModelShape.BiasIh(1)], Is.EqualTo(new[] { new WeightPiece(0, 640 + 2 * gh * h, gh) }));
        Assert.That(map[ModelShape.BiasHh(1)], Is.EqualTo(new[] { new WeightPiece(0, 640 + 2 * gh * h + gh, gh) }));
    }

    [TestCase(CellType.Lstm, false)]
    [TestCase(CellType.Gru, false)]
    [TestCase(CellType.Rnn, false)]
    [TestCase(CellType.Lstm, true)]
    [TestCase(CellType.Gru, true)]
    public void EveryCanonicalElementLandsInItsCudnnGateRowAndColumn(CellType cell, bool scattered)
    {
        int h = 4, input = 4, g = cell.Gates(), layer = 0;
        var shape = new ModelShape(cell, 9, h, 1);
        var table = scattered ? ScatteredTable(cell, h, input, out long size) : PackedTable(cell, h, input, out size);
        const long layerOffset = 128;
        var map = CudnnWeightMapping.Map(shape, layer, table, layerOffset, size);
        var arena = new float[layerOffset + size + 16];
        var byId = table.ToDictionary(e => e.LinLayerId);

        // Canonical element value codes (tensor, gate, row, column); scatter, then find each in cuDNN's block for its gate.
        foreach (var (tensor, name) in new[] { (1, ModelShape.WeightIh(layer)), (2, ModelShape.WeightHh(layer)), (3, ModelShape.BiasIh(layer)), (4, ModelShape.BiasHh(layer)) })
        {
            bool matrix = tensor <= 2, recurrent = tensor % 2 == 0;
            int columns = matrix ? (recurrent ? h : input) : 1;
            var canonical = new float[g * h * columns];
            for (int gate = 0; gate < g; gate++)
                for (int row = 0; row < h; row++)
                    for (int col = 0; col < columns; col++)
                        canonical[(gate * h + row) * columns + col] = Code(tensor, gate, row, col);
            CudnnWeightMapping.Scatter(canonical, map[name], arena);

            for (int gate = 0; gate < g; gate++)
            {
                var e = byId[(recurrent ? g : 0) + gate];   // documented ID of this gate (PyTorch order = cuDNN ID order)
                for (int row = 0; row < h; row++)
                    for (int col = 0; col < columns; col++)
                    {
                        long at = layerOffset + (matrix ? e.MatrixOffset + (long)row * columns + col : e.BiasOffset + row);
                        Assert.That(arena[at], Is.EqualTo(Code(tensor, gate, row, col)), $"{name} gate {gate} row {row} col {col}");
                    }
            }
            var back = new float[canonical.Length];
            CudnnWeightMapping.Gather(arena, map[name], back);
            Assert.That(back, Is.EqualTo(canonical));
            Assert.That(map[name].Length, scattered ? Is.EqualTo(g) : Is.EqualTo(1), "pieces");
        }
        // Nothing outside the layer's blocks was touched (padding stays zero).
        int written = arena.Count(v => v != 0);
        Assert.That(written, Is.EqualTo(2 * g * h + g * h * input + g * h * h));
    }

    private static float Code(int tensor, int gate, int row, int col) => tensor * 10000 + gate * 1000 + row * 10 + col + 1;

    [Test]
    public void TablesThatContradictTheShapesAreRefused()
    {
        var shape = new ModelShape(CellType.Lstm, 7, 3, 1);
        var table = PackedTable(CellType.Lstm, 3, 3, out long size);
        Assert.Throws<ArgumentException>(() => CudnnWeightMapping.Map(shape, 0, table.Take(7).ToList(), 0, size), "missing ID");
        var wrongShape = table.ToList();
        wrongShape[5] = wrongShape[5] with { Columns = 2 };
        Assert.Throws<ArgumentException>(() => CudnnWeightMapping.Map(shape, 0, wrongShape, 0, size), "wrong matrix shape");
        var repeated = table.ToList();
        repeated[1] = repeated[1] with { LinLayerId = 0 };
        Assert.Throws<ArgumentException>(() => CudnnWeightMapping.Map(shape, 0, repeated, 0, size), "repeated ID");
        Assert.Throws<ArgumentException>(() => CudnnWeightMapping.Map(shape, 0, table, 0, size - 1), "outside the weight space");
        Assert.Throws<ArgumentOutOfRangeException>(() => CudnnWeightMapping.LinLayerId(CellType.Gru, 3, false));
    }

    [Test]
    public void ArenaLayoutAlignsEveryBlockAndKeepsThemApart()
    {
        var shape = new ModelShape(CellType.Gru, Vocab: 1001, Hidden: 13, Layers: 3);
        long[] bytes = [4 * 1175, 4 * 1100, 4 * 1175];
        var layout = CudaArenaLayout.Plan(shape, bytes);
        Assert.That(layout.EncoderOffset, Is.EqualTo(0));
        var starts = new List<(long Start, long Length)> { (layout.EncoderOffset, 1001L * 13), (layout.DecoderOffset, 1001) };
        for (int k = 0; k < 3; k++) starts.Add((layout.LayerOffsets[k], layout.LayerElements[k]));
        Assert.That(layout.LayerElements, Is.EqualTo(new long[] { 1175, 1100, 1175 }));
        foreach (var (start, _) in starts) Assert.That(start % CudaArenaLayout.AlignmentElements, Is.Zero, "256-byte aligned");
        for (int i = 1; i < starts.Count; i++) Assert.That(starts[i].Start, Is.GreaterThanOrEqualTo(starts[i - 1].Start + starts[i - 1].Length));
        Assert.That(layout.Total, Is.GreaterThanOrEqualTo(starts[^1].Start + starts[^1].Length));
        Assert.That(layout.Total % CudaArenaLayout.AlignmentElements, Is.Zero);
        Assert.Throws<ArgumentException>(() => CudaArenaLayout.Plan(shape, [4, 4]));
        Assert.Throws<ArgumentException>(() => CudaArenaLayout.Plan(shape, [6, 4, 4]));
    }
}
