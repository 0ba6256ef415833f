using ArTar.Backends;
using static ArTar.Cuda.KernelParameterKind;

namespace ArTar.Cuda;

/// <summary>kernels/tied_softmax_cross_entropy.cu — the tied decoder's softmax cross-entropy, loss and gradient (CpuBackend.TiedSoftmaxCrossEntropy).</summary>
public static class TiedSoftmaxCrossEntropyKernels
{
    public const string Module = "tied_softmax_cross_entropy";
    /// <summary>(float* z, float* row_loss, const float* bias, const int* targets, int vocab, float grad_scale, int write_gradient) — grid = rows.</summary>
    public static readonly KernelDeclaration SoftmaxCrossEntropy = new(Module, "softmax_cross_entropy", Pointer, Pointer, Pointer, Pointer, S32, F32, S32);
    /// <summary>(float* loss, const float* row_loss, int rows) — one block.</summary>
    public static readonly KernelDeclaration CrossEntropyMean = new(Module, "cross_entropy_mean", Pointer, Pointer, S32);
    /// <summary>(float* grad_bias, const float* grad_z, int rows, int vocab) — adds into grad_bias.</summary>
    public static readonly KernelDeclaration DecoderBiasBackward = new(Module, "decoder_bias_backward", Pointer, Pointer, S32, S32);
}

/// <summary>The tied decoder (cuBLAS) and its softmax cross-entropy (our kernels); CPU reference <see cref="Cpu.CpuBackend{T}.TiedSoftmaxCrossEntropy"/>.</summary>
public sealed unsafe partial class CudaBackend
{
    public double TiedSoftmaxCrossEntropy(ITensor embedding, ITensor bias, ITensor o, ITensor targets, ITensor logits,
        ITensor? dO, ITensor? dEmbedding, ITensor? dBias, int rows)
    {
        Enter();
        var (vocab, hidden) = OpContract.TiedSoftmaxCrossEntropy(embedding, bias, o, targets, logits, dO, dEmbedding, dBias, rows);
        bool gradients = dO is not null;
        var e = Floats(embedding); var c = Floats(bias); var os = Floats(o); var y = Tokens(targets); var z = Floats(logits);
        CheckTokens(y, rows, vocab);
        var rowLoss = RowLoss(rows);

        // z = o·Eᵀ (row-major [rows,V]; docs/cuda.md §7: Y = X·Wᵀ with W = E [V,H]).
        Sgemm(CublasOperation.CUBLAS_OP_T, CublasOperation.CUBLAS_OP_N, vocab, rows, hidden, 1f, e.Pointer, hidden, os.Pointer, hidden, 0f, z.Pointer, vocab);
        uint block = Blocks.SoftmaxCrossEntropy != 0 ? Blocks.SoftmaxCrossEntropy : vocab >= 4096 ? 1024u : Threads;
        Launch(TiedSoftmaxCrossEntropyKernels.SoftmaxCrossEntropy, (uint)rows, block, KernelArgument.Pointer(z.Pointer), KernelArgument.Pointer(rowLoss.Pointer),
            KernelArgument.Pointer(c.Pointer), KernelArgument.Pointer(y.Pointer), vocab, (float)(1.0f / rows), gradients ? 1 : 0);
        Launch(TiedSoftmaxCrossEntropyKernels.CrossEntropyMean, 1, Threads, KernelArgument.Pointer(_scalars.At(0)), KernelArgument.Pointer(rowLoss.Pointer), rows);
        if (gradients)
        {
            var gO = Floats(dO!); var gE = Floats(dEmbedding!); var gc = Floats(dBias!);
            // dO = dz·E ("input grad"), dE += dzᵀ·o ("weight grad", β = 1), dc += Σ_rows dz.
            Sgemm(CublasOperation.CUBLAS_OP_N, CublasOperation.CUBLAS_OP_N, hidden, rows, vocab, 1f, e.Pointer, hidden, z.Pointer, vocab, 0f, gO.Pointer, hidden);
            Sgemm(CublasOperation.CUBLAS_OP_N, CublasOperation.CUBLAS_OP_T, hidden, vocab, rows, 1f, os.Pointer, hidden, z.Pointer, vocab, 1f, gE.Pointer, hidden);
            Launch(TiedSoftmaxCrossEntropyKernels.DecoderBiasBackward, (uint)((vocab + Threads - 1) / Threads), Threads,
                KernelArgument.Pointer(gc.Pointer), KernelArgument.Pointer(z.Pointer), rows, vocab);
        }
        return ReadScalars(0, 1).First;   // the step's one sync for the loss, after the gradient work is queued
    }
}
