using System.Runtime.InteropServices;

namespace ArTar.Cuda;

// The CUDA driver API (libcuda.so.1), 1:1 with cuda.h. Every method is named by the symbol it binds: the
// exported _v2 names, never the unsuffixed legacy 32-bit ABI (cuda.h, its _v2 #defines). No logic here.
// CUdeviceptr = ulong, CUdevice = int, unowned handles (CUfunction) = nint.
public static unsafe partial class CudaDriver
{
    internal const string Library = "cuda";   // → libcuda.so.1 through CudaLibraries' resolver

    static CudaDriver() => CudaLibraries.Install();

    [LibraryImport(Library)] public static partial CuResult cuInit(uint Flags);
    [LibraryImport(Library)] public static partial CuResult cuDriverGetVersion(out int driverVersion);
    [LibraryImport(Library)] public static partial CuResult cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Library)] public static partial CuResult cuDeviceGetCount(out int count);
    [LibraryImport(Library)] public static partial CuResult cuDeviceGetName(byte* name, int len, int dev);
    [LibraryImport(Library)] public static partial CuResult cuDeviceGetAttribute(out int pi, CuDeviceAttribute attrib, int dev);
    [LibraryImport(Library)] public static partial CuResult cuGetErrorName(CuResult error, out nint pStr);
    [LibraryImport(Library)] public static partial CuResult cuGetErrorString(CuResult error, out nint pStr);

    [LibraryImport(Library)] public static partial CuResult cuDevicePrimaryCtxRetain(out nint pctx, int dev);
    [LibraryImport(Library)] public static partial CuResult cuDevicePrimaryCtxRelease_v2(int dev);
    [LibraryImport(Library)] public static partial CuResult cuCtxSetCurrent(nint ctx);
    [LibraryImport(Library)] public static partial CuResult cuCtxGetCurrent(out nint pctx);
    [LibraryImport(Library)] public static partial CuResult cuCtxSynchronize();

    [LibraryImport(Library)] public static partial CuResult cuMemGetInfo_v2(out nuint free, out nuint total);
    [LibraryImport(Library)] public static partial CuResult cuMemAlloc_v2(out ulong dptr, nuint bytesize);
    [LibraryImport(Library)] public static partial CuResult cuMemFree_v2(ulong dptr);
    [LibraryImport(Library)] public static partial CuResult cuMemAllocHost_v2(out nint pp, nuint bytesize);
    [LibraryImport(Library)] public static partial CuResult cuMemFreeHost(nint p);
    [LibraryImport(Library)] public static partial CuResult cuMemcpyHtoD_v2(ulong dstDevice, void* srcHost, nuint ByteCount);
    [LibraryImport(Library)] public static partial CuResult cuMemcpyDtoH_v2(void* dstHost, ulong srcDevice, nuint ByteCount);
    [LibraryImport(Library)] public static partial CuResult cuMemcpyDtoD_v2(ulong dstDevice, ulong srcDevice, nuint ByteCount);
    [LibraryImport(Library)] public static partial CuResult cuMemcpyHtoDAsync_v2(ulong dstDevice, void* srcHost, nuint ByteCount, CudaStream hStream);
    [LibraryImport(Library)] public static partial CuResult cuMemcpyDtoHAsync_v2(void* dstHost, ulong srcDevice, nuint ByteCount, CudaStream hStream);
    [LibraryImport(Library)] public static partial CuResult cuMemcpyDtoDAsync_v2(ulong dstDevice, ulong srcDevice, nuint ByteCount, CudaStream hStream);
    /// <summary>N counts 32-bit words.</summary>
    [LibraryImport(Library)] public static partial CuResult cuMemsetD32_v2(ulong dstDevice, uint ui, nuint N);
    /// <summary>No _v2 exists for the async form.</summary>
    [LibraryImport(Library)] public static partial CuResult cuMemsetD32Async(ulong dstDevice, uint ui, nuint N, CudaStream hStream);

    /// <summary>image: a NUL-terminated PTX text.</summary>
    [LibraryImport(Library)] public static partial CuResult cuModuleLoadData(out CudaModule module, void* image);
    [LibraryImport(Library)] public static partial CuResult cuModuleLoadDataEx(out CudaModule module, void* image, uint numOptions, CuJitOption* options, void** optionValues);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial CuResult cuModuleGetFunction(out nint hfunc, CudaModule hmod, string name);
    [LibraryImport(Library)] public static partial CuResult cuModuleUnload(nint hmod);
    [LibraryImport(Library)] public static partial CuResult cuFuncSetAttribute(nint hfunc, CuFunctionAttribute attrib, int value);
    /// <summary>kernelParams[i] points at the i-th argument's value; extra must be null when kernelParams is used.</summary>
    [LibraryImport(Library)]
    public static partial CuResult cuLaunchKernel(nint f, uint gridDimX, uint gridDimY, uint gridDimZ, uint blockDimX, uint blockDimY, uint blockDimZ,
        uint sharedMemBytes, CudaStream hStream, void** kernelParams, void** extra);

    [LibraryImport(Library)] public static partial CuResult cuStreamCreate(out CudaStream phStream, CuStreamFlags Flags);
    [LibraryImport(Library)] public static partial CuResult cuStreamDestroy_v2(nint hStream);
    [LibraryImport(Library)] public static partial CuResult cuStreamSynchronize(CudaStream hStream);

    [LibraryImport(Library)] public static partial CuResult cuEventCreate(out CudaEvent phEvent, CuEventFlags Flags);
    [LibraryImport(Library)] public static partial CuResult cuEventRecord(CudaEvent hEvent, CudaStream hStream);
    [LibraryImport(Library)] public static partial CuResult cuEventSynchronize(CudaEvent hEvent);
    /// <summary>The only name in CUDA 13 headers; older drivers export only <see cref="cuEventElapsedTime"/> (docs/cuda.md §7).</summary>
    [LibraryImport(Library)] public static partial CuResult cuEventElapsedTime_v2(out float pMilliseconds, CudaEvent hStart, CudaEvent hEnd);
    [LibraryImport(Library)] public static partial CuResult cuEventElapsedTime(out float pMilliseconds, CudaEvent hStart, CudaEvent hEnd);
    [LibraryImport(Library)] public static partial CuResult cuEventDestroy_v2(nint hEvent);
}

/// <summary><c>CUdevice_attribute</c> (subset).</summary>
public enum CuDeviceAttribute
{
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR = 39,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
}

/// <summary><c>CUjit_option</c> (subset). For the *_SIZE_BYTES options the value itself sits in the pointer slot.</summary>
public enum CuJitOption
{
    CU_JIT_MAX_REGISTERS = 0,
    CU_JIT_INFO_LOG_BUFFER = 3,
    CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
    CU_JIT_ERROR_LOG_BUFFER = 5,
    CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
    CU_JIT_OPTIMIZATION_LEVEL = 7,
    CU_JIT_TARGET_FROM_CUCONTEXT = 8,
    CU_JIT_LOG_VERBOSE = 12,
    CU_JIT_GENERATE_LINE_INFO = 13,
}

/// <summary><c>CUstream_flags</c>.</summary>
[Flags]
public enum CuStreamFlags : uint
{
    CU_STREAM_DEFAULT = 0x0,
    CU_STREAM_NON_BLOCKING = 0x1,
}

/// <summary><c>CUevent_flags</c>.</summary>
[Flags]
public enum CuEventFlags : uint
{
    CU_EVENT_DEFAULT = 0x0,
    CU_EVENT_BLOCKING_SYNC = 0x1,
    CU_EVENT_DISABLE_TIMING = 0x2,
    CU_EVENT_INTERPROCESS = 0x4,
}



/// <summary><c>CUfunction_attribute</c> (subset).</summary>
public enum CuFunctionAttribute
{
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
}
