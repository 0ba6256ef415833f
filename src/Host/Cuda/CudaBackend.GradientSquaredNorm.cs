using ArTar.Backends;
using static ArTar.Cuda.KernelParameterKind;

namespace ArTar.Cuda;

/// <summary>kernels/gradient_squared_norm.cu — ‖g‖² over the flat gradient arena, two deterministic stages (<see cref="ArTar.Cpu.CpuBackend{T}.GradientSquaredNorm"/>).</summary>
public static class GradientSquaredNormKernels
{
    public const string Module = "gradient_squared_norm";
    /// <summary>(float* partials, const float* g, long long n)</summary>
    public static readonly KernelDeclaration SquaredNormPartials = new(Module, "squared_norm_partials", Pointer, Pointer, S64);
    /// <summary>(float* squared_norm, const float* partials, int count) — one block.</summary>
    public static readonly KernelDeclaration SquaredNormFinalize = new(Module, "squared_norm_finalize", Pointer, Pointer, S32);
}

/// <summary>‖g‖² of the whole gradient arena in two deterministic stages; CPU reference <see cref="Cpu.CpuBackend{T}.GradientSquaredNorm"/>.</summary>
public sealed unsafe partial class CudaBackend
{
    public void GradientSquaredNorm(ITensor gradients, ITensor squaredNorm)
    {
        Enter();
        OpContract.GradientSquaredNorm(squaredNorm);
        var g = Floats(gradients); var s = Floats(squaredNorm);
        Launch(GradientSquaredNormKernels.SquaredNormPartials, _normBlocks, Blocks.Norm, KernelArgument.Pointer(_normPartials.Pointer), KernelArgument.Pointer(g.Pointer), g.Length);
        Launch(GradientSquaredNormKernels.SquaredNormFinalize, 1, Threads, KernelArgument.Pointer(s.Pointer), KernelArgument.Pointer(_normPartials.Pointer), (int)_normBlocks);
    }
}
