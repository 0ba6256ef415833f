using ArTar.Backends;
using static ArTar.Cuda.KernelParameterKind;

namespace ArTar.Cuda;

/// <summary>kernels/clip_decay_update.cu — the fused clip-decay-update over the flat parameter arena (CpuBackend.ClipDecayUpdate).</summary>
public static class ClipDecayUpdateKernels
{
    public const string Module = "clip_decay_update";
    /// <summary>(float* w, const float* g, const float* squared_norm, float clip, float lr, float wd, long long n)</summary>
    public static readonly KernelDeclaration ClipDecayUpdate = new(Module, "clip_decay_update", Pointer, Pointer, Pointer, F32, F32, F32, S64);
}

/// <summary>The clip-decay-update over the whole arena; CPU reference <see cref="Cpu.CpuBackend{T}.ClipDecayUpdate"/>.</summary>
public sealed unsafe partial class CudaBackend
{
    public void ClipDecayUpdate(ITensor weights, ITensor gradients, ITensor squaredNorm, double clip, double lr, double weightDecay)
    {
        Enter();
        OpContract.ClipDecayUpdate(weights, gradients, squaredNorm);
        var w = Floats(weights); var g = Floats(gradients); var s = Floats(squaredNorm);
        if (w.Length == 0) return;
        uint grid = (uint)Math.Clamp((w.Length + Blocks.Sgd - 1) / Blocks.Sgd, 1, 16 * _multiprocessors);
        Launch(ClipDecayUpdateKernels.ClipDecayUpdate, grid, Blocks.Sgd, KernelArgument.Pointer(w.Pointer), KernelArgument.Pointer(g.Pointer), KernelArgument.Pointer(s.Pointer),
            (float)clip, (float)lr, (float)weightDecay, w.Length);
    }
}
