using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// The embedding lookup and its gradient (docs/design.md §1; kernel: kernels/embedding.cu, launched by
/// <c>CudaBackend.EmbeddingForward</c>): rows in order, so the gradient of a repeated token adds up in row order.
/// </summary>
public sealed partial class CpuBackend<T>
{
    public void EmbeddingForward(ITensor embedding, ITensor tokens, ITensor output, int rows, int hidden)
    {
        OpContract.Embedding(nameof(EmbeddingForward), embedding, tokens, output, rows, hidden);
        var e = Data(embedding);
        var ids = Tokens(tokens)[..rows];
        var y = Data(output)[..(rows * hidden)];
        int vocab = e.Length / hidden;
        for (int r = 0; r < rows; r++)
            e.Slice(CheckToken(ids[r], vocab) * hidden, hidden).CopyTo(y.Slice(r * hidden, hidden));
    }

    public void EmbeddingBackward(ITensor dOutput, ITensor tokens, ITensor dEmbedding, int rows, int hidden)
    {
        OpContract.Embedding(nameof(EmbeddingBackward), dEmbedding, tokens, dOutput, rows, hidden);
        var dy = Data(dOutput)[..(rows * hidden)];
        var ids = Tokens(tokens)[..rows];
        var de = Data(dEmbedding);
        int vocab = de.Length / hidden;
        for (int r = 0; r < rows; r++)
        {
            var row = de.Slice(CheckToken(ids[r], vocab) * hidden, hidden);
            TensorPrimitives.Add(row, dy.Slice(r * hidden, hidden), row);
        }
    }
}
