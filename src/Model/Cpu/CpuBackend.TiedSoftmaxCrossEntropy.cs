using System.Buffers;
using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// The tied decoder and its cross-entropy, loss and gradients (docs/design.md §1; kernels: kernels/tied_softmax_cross_entropy.cu and
/// cuBLAS, launched by <c>CudaBackend.TiedSoftmaxCrossEntropy</c>).
/// </summary>
public sealed partial class CpuBackend<T>
{
    public double TiedSoftmaxCrossEntropy(ITensor embedding, ITensor bias, ITensor o, ITensor targets, ITensor logits,
        ITensor? dO, ITensor? dEmbedding, ITensor? dBias, int rows)
    {
        var (vocab, hidden) = OpContract.TiedSoftmaxCrossEntropy(embedding, bias, o, targets, logits, dO, dEmbedding, dBias, rows);
        bool gradients = dO is not null;
        var e = Data(embedding);
        var os = Data(o)[..(rows * hidden)];
        var z = Data(logits)[..(rows * vocab)];
        var ids = Tokens(targets)[..rows];
        foreach (int id in ids) CheckToken(id, vocab);   // before any part runs

        // z = o·Eᵀ + c: the decoder is the embedding, transposed (tied weights).
        Gemm.Multiply(false, true, rows, vocab, hidden, T.One, os, hidden, e, hidden, T.Zero, z, vocab);
        // Rows split over the cores; each row's loss is kept and the losses summed in row order, so the result does not
        // depend on the split. The bias gradient is split by columns, each summed over the rows in order.
        int parts = (long)rows * vocab >= ParallelSoftmax ? Math.Min(Environment.ProcessorCount, rows) : 1;
        double[] rowLoss = ArrayPool<double>.Shared.Rent(rows);
        try
        {
            var softmax = new SoftmaxRows(Tensor(logits), Tensor(bias), ((CpuTokens)targets).Ids, rows, vocab, gradients, rowLoss);
            if (parts > 1) WorkerPair.Run(parts, softmax);
            else softmax.Run(0, 1);
            double loss = 0.0;
            for (int r = 0; r < rows; r++) loss += rowLoss[r];
            if (gradients)
            {
                Gemm.Multiply(false, false, rows, hidden, vocab, T.One, z, vocab, e, hidden, T.Zero, Data(dO!)[..(rows * hidden)], hidden);
                Gemm.Multiply(true, false, vocab, hidden, rows, T.One, z, vocab, os, hidden, T.One, Data(dEmbedding!), hidden);
                var biasGradient = new BiasColumns(Tensor(logits), Tensor(dBias!), rows, vocab);
                if (parts > 1) WorkerPair.Run(parts, biasGradient);
                else biasGradient.Run(0, 1);
            }
            return loss / rows;
        }
        finally { ArrayPool<double>.Shared.Return(rowLoss); }
    }

    // Logits above this many elements have their softmax split over the cores.
    private const long ParallelSoftmax = 1 << 18;

    /// <summary>The row-wise part of <see cref="TiedSoftmaxCrossEntropy"/>: the rows of a part, their losses into <c>rowLoss</c>.</summary>
    private readonly struct SoftmaxRows((T[] Array, int Offset) z, (T[] Array, int Offset) c, int[] targets, int rows, int vocab,
        bool gradients, double[] rowLoss) : IParts
    {
        public void Run(int part, int parts)
        {
            var bias = c.Array.AsSpan(c.Offset, vocab);
            T invRows = T.One / T.CreateTruncating(rows);
            for (int r = (int)((long)rows * part / parts), end = (int)((long)rows * (part + 1) / parts); r < end; r++)
            {
                var zr = z.Array.AsSpan(z.Offset + r * vocab, vocab);
                TensorPrimitives.Add(zr, bias, zr);
                int y = targets[r];
                // Stable log-softmax: −log p_y = log Σ exp(z − max) + max − z_y.
                T max = TensorPrimitives.Max(zr);
                T zy = zr[y];
                TensorPrimitives.Subtract(zr, max, zr);
                TensorPrimitives.Exp(zr, zr);
                T sum = TensorPrimitives.Sum(zr);
                rowLoss[r] = double.CreateTruncating(T.Log(sum) + max - zy);
                if (gradients)
                {
                    // dz = (softmax − onehot)/rows, left in place of the logits.
                    TensorPrimitives.Multiply(zr, invRows / sum, zr);
                    zr[y] -= invRows;
                }
            }
        }
    }

    // Rows summed in T per block before the block sums are added up in double (the bias gradient's reduction).
    private const int BiasBlockRows = 32;

    /// <summary>
    /// dc[v] += Σ_r dz[r, v] for the columns of a part: blocks of <see cref="BiasBlockRows"/> rows summed in T (vectorised),
    /// the block sums added in double, rows and blocks in order. Adding 700 rows one after another in float32 lost about 30×
    /// the accuracy of libtorch's reduction on a saturated model; blocks keep each float sum short, as the other reductions do.
    /// </summary>
    private readonly struct BiasColumns((T[] Array, int Offset) dz, (T[] Array, int Offset) dc, int rows, int vocab) : IParts
    {
        public void Run(int part, int parts)
        {
            int v0 = (int)((long)vocab * part / parts), v1 = (int)((long)vocab * (part + 1) / parts), n = v1 - v0;
            T[] block = ArrayPool<T>.Shared.Rent(n);
            double[] total = ArrayPool<double>.Shared.Rent(n);
            try
            {
                var b = block.AsSpan(0, n);
                var sum = total.AsSpan(0, n);
                sum.Clear();
                for (int r0 = 0; r0 < rows; r0 += BiasBlockRows)
                {
                    dz.Array.AsSpan(dz.Offset + r0 * vocab + v0, n).CopyTo(b);
                    for (int r = r0 + 1, end = Math.Min(rows, r0 + BiasBlockRows); r < end; r++)
                        TensorPrimitives.Add(b, dz.Array.AsSpan(dz.Offset + r * vocab + v0, n), b);
                    for (int j = 0; j < n; j++) sum[j] += double.CreateTruncating(b[j]);
                }
                var d = dc.Array.AsSpan(dc.Offset + v0, n);
                for (int j = 0; j < n; j++) d[j] = T.CreateTruncating(double.CreateTruncating(d[j]) + sum[j]);
            }
            finally
            {
                ArrayPool<T>.Shared.Return(block);
                ArrayPool<double>.Shared.Return(total);
            }
        }
    }
}
