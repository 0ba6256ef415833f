using ArTar.Backends;
using static ArTar.Cuda.KernelParameterKind;

namespace ArTar.Cuda;

/// <summary>kernels/embedding.cu — embedding lookup and its deterministic gradient (CpuBackend.EmbeddingForward/Backward).</summary>
public static class EmbeddingKernels
{
    public const string Module = "embedding";
    /// <summary>(float* e, const float* weight, const int* tokens, int rows, int hidden)</summary>
    public static readonly KernelDeclaration EmbeddingForward = new(Module, "embedding_forward", Pointer, Pointer, Pointer, S32, S32);
    /// <summary>(float* grad_weight, const float* grad_e, const int* tokens, int rows, int hidden) — adds into grad_weight.</summary>
    public static readonly KernelDeclaration EmbeddingBackward = new(Module, "embedding_backward", Pointer, Pointer, Pointer, S32, S32);
}

/// <summary>The embedding lookup and its gradient on the GPU; CPU reference <see cref="Cpu.CpuBackend{T}.EmbeddingForward"/>.</summary>
public sealed unsafe partial class CudaBackend
{
    public void EmbeddingForward(ITensor embedding, ITensor tokens, ITensor output, int rows, int hidden)
    {
        Enter();
        var e = Floats(embedding);
        var x = Tokens(tokens);
        var y = Floats(output);
        OpContract.Embedding(nameof(EmbeddingForward), e, x, y, rows, hidden);
        CheckTokens(x, rows, (int)(e.Length / hidden));
        if (rows == 0) return;
        Launch(EmbeddingKernels.EmbeddingForward, (uint)rows, Blocks.Embedding != 0 ? Blocks.Embedding : RowThreads(hidden),
            KernelArgument.Pointer(y.Pointer), KernelArgument.Pointer(e.Pointer), KernelArgument.Pointer(x.Pointer), rows, hidden);
    }

    public void EmbeddingBackward(ITensor dOutput, ITensor tokens, ITensor dEmbedding, int rows, int hidden)
    {
        Enter();
        var dy = Floats(dOutput);
        var x = Tokens(tokens);
        var de = Floats(dEmbedding);
        OpContract.Embedding(nameof(EmbeddingBackward), de, x, dy, rows, hidden);
        CheckTokens(x, rows, (int)(de.Length / hidden));
        if (rows == 0) return;
        Launch(EmbeddingKernels.EmbeddingBackward, (uint)rows, Blocks.Embedding != 0 ? Blocks.Embedding : RowThreads(hidden),
            KernelArgument.Pointer(de.Pointer), KernelArgument.Pointer(dy.Pointer), KernelArgument.Pointer(x.Pointer), rows, hidden);
    }
}
