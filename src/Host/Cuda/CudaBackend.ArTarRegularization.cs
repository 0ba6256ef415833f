using ArTar.Backends;
using static ArTar.Cuda.KernelParameterKind;

namespace ArTar.Cuda;

/// <summary>kernels/artar_regularization.cu — fused AR and TAR losses and gradients (<see cref="ArTar.Cpu.CpuBackend{T}.ArTarRegularization"/>).</summary>
public static class ArTarRegularizationKernels
{
    public const string Module = "artar_regularization";
    /// <summary>(float* partials, float* grad_o, float* grad_h, const float* o, const float* h, float ar_coef, float tar_coef, int steps, long long step_size)</summary>
    public static readonly KernelDeclaration ArTarForwardBackward = new(Module, "artar_forward_backward", Pointer, Pointer, Pointer, Pointer, Pointer, F32, F32, S32, S64);
    /// <summary>(float* loss, const float* partials, int blocks, float ar_coef, float tar_coef) — loss[0] = AR, loss[1] = TAR.</summary>
    public static readonly KernelDeclaration ArTarFinalize = new(Module, "artar_finalize", Pointer, Pointer, S32, F32, F32);
}

/// <summary>AR and TAR in one fused pass on the GPU; CPU reference <see cref="Cpu.CpuBackend{T}.ArTarRegularization"/>.</summary>
public sealed unsafe partial class CudaBackend
{
    public ArTarLoss ArTarRegularization(ITensor o, ITensor h, ITensor? dO, ITensor? dH, int steps, int batch, int hidden,
        double alpha, double beta)
    {
        Enter();
        OpContract.ArTarRegularization(o, h, dO, dH, steps, batch, hidden);
        long bh = (long)batch * hidden, n = steps * bh;
        var os = Floats(o); var hs = Floats(h);
        if ((alpha == 0.0 && beta == 0.0) || n == 0) return new ArTarLoss(0.0, 0.0);
        double arCoef = alpha / n, tarCoef = steps > 1 ? beta / ((steps - 1) * bh) : 0.0;
        // The kernel always adds its gradients: without them it writes into scratch (not a path the model takes).
        CudaTensor? scratchO = null, scratchH = null;
        var go = dO is null ? (scratchO = NewTensor(n, false)) : Floats(dO);
        var gh = dH is null ? (scratchH = NewTensor(n, false)) : Floats(dH);
        uint grid = (uint)Math.Clamp((n + Blocks.ArTar - 1) / Blocks.ArTar, 1, _artarBlocks);
        Launch(ArTarRegularizationKernels.ArTarForwardBackward, grid, Blocks.ArTar, KernelArgument.Pointer(_artarPartials.Pointer), KernelArgument.Pointer(go.Pointer),
            KernelArgument.Pointer(gh.Pointer), KernelArgument.Pointer(os.Pointer), KernelArgument.Pointer(hs.Pointer),
            (float)arCoef, (float)tarCoef, steps, bh);
        Launch(ArTarRegularizationKernels.ArTarFinalize, 1, Threads, KernelArgument.Pointer(_scalars.At(1)), KernelArgument.Pointer(_artarPartials.Pointer),
            (int)grid, (float)arCoef, (float)tarCoef);
        var (ar, tar) = ReadScalars(1, 2);   // the step's second (8-byte) sync
        scratchO?.Dispose();
        scratchH?.Dispose();
        return new ArTarLoss(ar, tar);
    }
}
