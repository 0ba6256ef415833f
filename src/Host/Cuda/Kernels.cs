using static ArTar.Cuda.KernelParameterKind;

namespace ArTar.Cuda;

// One class per kernels/*.cu module; one field per kernel, parameters in the .cu signature's order.
// The launch shapes and the CPU reference of each kernel are in the header comment of its .cu file (and docs/cuda.md).

/// <summary>kernels/embedding.cu — embedding lookup and its deterministic gradient (CpuBackend.EmbeddingForward/Backward).</summary>
public static class EmbeddingKernels
{
    public const string Module = "embedding";
    /// <summary>(float* e, const float* weight, const int* tokens, int rows, int hidden)</summary>
    public static readonly KernelDeclaration EmbeddingForward = new(Module, "embedding_forward", Pointer, Pointer, Pointer, S32, S32);
    /// <summary>(float* grad_weight, const float* grad_e, const int* tokens, int rows, int hidden) — adds into grad_weight.</summary>
    public static readonly KernelDeclaration EmbeddingBackward = new(Module, "embedding_backward", Pointer, Pointer, Pointer, S32, S32);
}

/// <summary>kernels/dropout.cu — Philox4x32-10 dropout masks, the HELPERS.md contract (CpuBackend.DropoutForward/Backward).</summary>
public static class DropoutKernels
{
    public const string Module = "dropout";
    /// <summary>(float* y, const float* x, u64 seed, u64 step, u32 site, u32 threshold, float scale, long long n)</summary>
    public static readonly KernelDeclaration DropoutForward = new(Module, "dropout_forward", Pointer, Pointer, U64, U64, U32, U32, F32, S64);
    /// <summary>(float* dx, const float* dy, u64 seed, u64 step, u32 site, u32 threshold, float scale, long long n, int accumulate)</summary>
    public static readonly KernelDeclaration DropoutBackward = new(Module, "dropout_backward", Pointer, Pointer, U64, U64, U32, U32, F32, S64, S32);
}

/// <summary>kernels/artar.cu — fused AR and TAR losses and gradients (CpuBackend.ActivationRegularization / TemporalActivationRegularization).</summary>
public static class ArTarKernels
{
    public const string Module = "artar";
    /// <summary>(float* partials, float* grad_o, float* grad_h, const float* o, const float* h, float ar_coef, float tar_coef, int steps, long long step_size)</summary>
    public static readonly KernelDeclaration ArTarForwardBackward = new(Module, "artar_forward_backward", Pointer, Pointer, Pointer, Pointer, Pointer, F32, F32, S32, S64);
    /// <summary>(float* loss, const float* partials, int blocks, float ar_coef, float tar_coef) — loss[0] = AR, loss[1] = TAR.</summary>
    public static readonly KernelDeclaration ArTarFinalize = new(Module, "artar_finalize", Pointer, Pointer, S32, F32, F32);
}

/// <summary>kernels/softmax_ce.cu — the tied decoder's softmax cross-entropy, loss and gradient (CpuBackend.TiedSoftmaxCrossEntropy).</summary>
public static class SoftmaxCrossEntropyKernels
{
    public const string Module = "softmax_ce";
    /// <summary>(float* z, float* row_loss, const float* bias, const int* targets, int vocab, float grad_scale, int write_gradient) — grid = rows.</summary>
    public static readonly KernelDeclaration SoftmaxCrossEntropy = new(Module, "softmax_cross_entropy", Pointer, Pointer, Pointer, Pointer, S32, F32, S32);
    /// <summary>(float* loss, const float* row_loss, int rows) — one block.</summary>
    public static readonly KernelDeclaration CrossEntropyMean = new(Module, "cross_entropy_mean", Pointer, Pointer, S32);
    /// <summary>(float* grad_bias, const float* grad_z, int rows, int vocab) — adds into grad_bias.</summary>
    public static readonly KernelDeclaration DecoderBiasBackward = new(Module, "decoder_bias_backward", Pointer, Pointer, S32, S32);
}

/// <summary>kernels/norm.cu — ‖g‖² over the flat gradient arena, two deterministic stages (CpuBackend.SquaredNorm).</summary>
public static class NormKernels
{
    public const string Module = "norm";
    /// <summary>(float* partials, const float* g, long long n)</summary>
    public static readonly KernelDeclaration SquaredNormPartials = new(Module, "squared_norm_partials", Pointer, Pointer, S64);
    /// <summary>(float* squared_norm, const float* partials, int count) — one block.</summary>
    public static readonly KernelDeclaration SquaredNormFinalize = new(Module, "squared_norm_finalize", Pointer, Pointer, S32);
}

/// <summary>kernels/sgd.cu — the fused clip-decay-update over the flat parameter arena (CpuBackend.ClipDecayUpdate).</summary>
public static class SgdKernels
{
    public const string Module = "sgd";
    /// <summary>(float* w, const float* g, const float* squared_norm, float clip, float lr, float wd, long long n)</summary>
    public static readonly KernelDeclaration ClipDecayUpdate = new(Module, "clip_decay_update", Pointer, Pointer, Pointer, F32, F32, F32, S64);
}
