using System.Buffers;
using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// ‖g‖² over the whole gradient arena (docs/design.md §1; kernels: kernels/gradient_squared_norm.cu, launched by
/// <c>CudaBackend.GradientSquaredNorm</c>): chunk sums in T, added in chunk order in double.
/// </summary>
public sealed partial class CpuBackend<T>
{
    public void GradientSquaredNorm(ITensor gradients, ITensor squaredNorm)
    {
        OpContract.GradientSquaredNorm(squaredNorm);
        var g = Tensor(gradients);
        int length = checked((int)gradients.Length), chunks = Chunks(length), parts = ArenaParts(length);
        double[] chunkSums = ArrayPool<double>.Shared.Rent(chunks);
        try
        {
            var body = new SquaredNormChunks(g, length, chunkSums);
            if (parts > 1) WorkerPair.Run(parts, body);
            else body.Run(0, 1);
            // Chunk sums added in chunk order: the same number whatever the split (and as one thread summing chunk by chunk).
            double sum = 0.0;
            for (int k = 0; k < chunks; k++) sum += chunkSums[k];
            Data(squaredNorm)[0] = T.CreateTruncating(sum);
        }
        finally { ArrayPool<double>.Shared.Return(chunkSums); }
    }

    /// <summary>Σg² of each <see cref="ReductionChunk"/>-element chunk of a part's whole chunks.</summary>
    private readonly struct SquaredNormChunks((T[] Array, int Offset) g, int length, double[] chunkSums) : IParts
    {
        public void Run(int part, int parts)
        {
            var (i0, i1) = ChunkRange(length, part, parts);
            for (int i = i0; i < i1; i += ReductionChunk)
                chunkSums[i / ReductionChunk] = double.CreateTruncating(
                    TensorPrimitives.SumOfSquares(g.Array.AsSpan(g.Offset + i, Math.Min(ReductionChunk, i1 - i))));
        }
    }
}
