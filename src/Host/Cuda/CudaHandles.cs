using System.Runtime.InteropServices;

namespace ArTar.Cuda;

/// <summary>
/// The device's primary context, retained, shared with cuBLAS and cuDNN (docs/design.md §4; cuda.h cuDevicePrimaryCtxRetain).
/// Retaining does not make it current: call <see cref="MakeCurrent"/> on every thread that issues CUDA calls.
/// </summary>
public sealed class CudaContext : SafeHandle
{
    // The live primary context, so other handles can free their resources on any thread (finalizer included).
    private static nint s_live;

    public int Device { get; }

    private CudaContext(nint context, int device) : base(0, true)
    {
        SetHandle(context);
        Device = device;
    }

    public override bool IsInvalid => handle == 0;

    public static CudaContext RetainPrimary(int device)
    {
        CudaStatus.Check(CudaDriver.cuDevicePrimaryCtxRetain(out nint context, device));
        var result = new CudaContext(context, device);
        s_live = context;
        result.MakeCurrent();
        return result;
    }

    public void MakeCurrent() => CudaStatus.Check(CudaDriver.cuCtxSetCurrent(handle));

    /// <summary>Makes the live primary context current for a resource release; false when it is gone (and its resources with it).</summary>
    internal static bool MakeCurrentForRelease()
    {
        nint live = Volatile.Read(ref s_live);
        return live != 0 && CudaDriver.cuCtxSetCurrent(live) == CuResult.CUDA_SUCCESS;
    }

    protected override bool ReleaseHandle()
    {
        Interlocked.CompareExchange(ref s_live, 0, handle);
        CudaDriver.cuDevicePrimaryCtxRelease_v2(Device);
        return true;
    }
}

/// <summary>A driver or library object owned by the primary context: destroyed with that context current; skipped once it is gone.</summary>
public abstract class CudaOwnedHandle() : SafeHandle(0, true)
{
    public override bool IsInvalid => handle == 0;

    /// <summary>The raw native handle, for diagnostics and for the few calls that take it unwrapped.</summary>
    public nint Value => handle;

    protected abstract void Destroy(nint value);

    protected sealed override bool ReleaseHandle()
    {
        if (CudaContext.MakeCurrentForRelease()) Destroy(handle);
        return true;   // a release must not throw; a failed destroy leaks at worst until the context goes
    }
}

public sealed class CudaStream : CudaOwnedHandle
{
    protected override void Destroy(nint value) => CudaDriver.cuStreamDestroy_v2(value);
}

public sealed class CudaEvent : CudaOwnedHandle
{
    protected override void Destroy(nint value) => CudaDriver.cuEventDestroy_v2(value);
}

public sealed class CudaModule : CudaOwnedHandle
{
    protected override void Destroy(nint value) => CudaDriver.cuModuleUnload(value);
}

public sealed class CublasHandle : CudaOwnedHandle
{
    protected override void Destroy(nint value) => Cublas.cublasDestroy_v2(value);
}

public sealed class CudnnHandle : CudaOwnedHandle
{
    protected override void Destroy(nint value) => Cudnn.cudnnDestroy(value);
}

public sealed class CudnnTensorDescriptor : CudaOwnedHandle
{
    protected override void Destroy(nint value) => Cudnn.cudnnDestroyTensorDescriptor(value);
}

public sealed class CudnnDropoutDescriptor : CudaOwnedHandle
{
    protected override void Destroy(nint value) => Cudnn.cudnnDestroyDropoutDescriptor(value);
}

public sealed class CudnnRnnDescriptor : CudaOwnedHandle
{
    protected override void Destroy(nint value) => Cudnn.cudnnDestroyRNNDescriptor(value);
}

public sealed class CudnnRnnDataDescriptor : CudaOwnedHandle
{
    protected override void Destroy(nint value) => Cudnn.cudnnDestroyRNNDataDescriptor(value);
}

/// <summary>A cuMemAlloc'd device buffer (not cleared). Keep this object alive while kernels use <see cref="Pointer"/>.</summary>
public sealed class DeviceMemory : CudaOwnedHandle
{
    public nuint Bytes { get; private set; }

    /// <summary>The CUdeviceptr.</summary>
    public ulong Pointer => (ulong)handle;

    public static DeviceMemory Allocate(nuint bytes)
    {
        var memory = new DeviceMemory();
        CudaStatus.Check(CudaDriver.cuMemAlloc_v2(out ulong pointer, bytes));
        memory.SetHandle((nint)pointer);
        memory.Bytes = bytes;
        return memory;
    }

    protected override void Destroy(nint value) => CudaDriver.cuMemFree_v2((ulong)value);
}

/// <summary>Page-locked host memory (cuMemAllocHost_v2), for asynchronous copies.</summary>
public sealed class PinnedHostMemory : CudaOwnedHandle
{
    public nuint Bytes { get; private set; }

    public static PinnedHostMemory Allocate(nuint bytes)
    {
        var memory = new PinnedHostMemory();
        CudaStatus.Check(CudaDriver.cuMemAllocHost_v2(out nint pointer, bytes));
        memory.SetHandle(pointer);
        memory.Bytes = bytes;
        return memory;
    }

    public unsafe Span<T> AsSpan<T>() where T : unmanaged => new((void*)handle, checked((int)(Bytes / (nuint)sizeof(T))));

    protected override void Destroy(nint value) => CudaDriver.cuMemFreeHost(value);
}

public static class CudaEvents
{
    /// <summary>Milliseconds between two recorded events: cuEventElapsedTime_v2 (CUDA 13 headers), else the v1 export (older drivers).</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        float ms;
        try
        {
            CudaStatus.Check(CudaDriver.cuEventElapsedTime_v2(out ms, start, end));
        }
        catch (EntryPointNotFoundException)
        {
            CudaStatus.Check(CudaDriver.cuEventElapsedTime(out ms, start, end));
        }
        return ms;
    }
}
