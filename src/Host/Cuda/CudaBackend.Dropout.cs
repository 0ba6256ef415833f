using ArTar.Backends;
using static ArTar.Cuda.KernelParameterKind;

namespace ArTar.Cuda;

/// <summary>kernels/dropout.cu — Philox4x32-10 dropout masks, the docs/backend.md contract (CpuBackend.DropoutForward/Backward).</summary>
public static class DropoutKernels
{
    public const string Module = "dropout";
    /// <summary>(float* y, const float* x, u64 seed, u64 step, u32 site, u32 threshold, float scale, long long n)</summary>
    public static readonly KernelDeclaration DropoutForward = new(Module, "dropout_forward", Pointer, Pointer, U64, U64, U32, U32, F32, S64);
    /// <summary>(float* dx, const float* dy, u64 seed, u64 step, u32 site, u32 threshold, float scale, long long n, int accumulate)</summary>
    public static readonly KernelDeclaration DropoutBackward = new(Module, "dropout_backward", Pointer, Pointer, U64, U64, U32, U32, F32, S64, S32);
}

/// <summary>Dropout with the Philox masks on the GPU; CPU reference <see cref="Cpu.CpuBackend{T}.DropoutForward"/> (bit for bit).</summary>
public sealed unsafe partial class CudaBackend
{
    public void DropoutForward(ITensor x, ITensor y, long count, DropoutMask mask)
    {
        Enter();
        var xs = Floats(x);
        var ys = Floats(y);
        OpContract.Dropout(nameof(DropoutForward), xs, ys, count, mask);
        if (count == 0) return;
        Launch(DropoutKernels.DropoutForward, DropoutGrid(count), Blocks.Dropout,
            KernelArgument.Pointer(ys.Pointer), KernelArgument.Pointer(xs.Pointer), KernelArgument.U64(mask.Seed), KernelArgument.U64((ulong)mask.Step),
            (uint)mask.Site, mask.Threshold, (float)mask.Scale, count);
    }

    public void DropoutBackward(ITensor dy, ITensor dx, long count, DropoutMask mask, bool accumulate)
    {
        Enter();
        var dys = Floats(dy);
        var dxs = Floats(dx);
        OpContract.Dropout(nameof(DropoutBackward), dys, dxs, count, mask);
        if (count == 0) return;
        Launch(DropoutKernels.DropoutBackward, DropoutGrid(count), Blocks.Dropout,
            KernelArgument.Pointer(dxs.Pointer), KernelArgument.Pointer(dys.Pointer), KernelArgument.U64(mask.Seed), KernelArgument.U64((ulong)mask.Step),
            (uint)mask.Site, mask.Threshold, (float)mask.Scale, count, accumulate ? 1 : 0);
    }
}
