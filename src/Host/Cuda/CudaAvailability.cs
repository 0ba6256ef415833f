using System.Runtime.InteropServices;

namespace ArTar.Cuda;

/// <summary>What <see cref="CudaAvailability.Probe"/> found: a usable device with its libraries, or the one-line reason why not.</summary>
public sealed record CudaProbe(
    bool Available,
    string? Reason,
    string? DeviceName = null,
    int ComputeMajor = 0,
    int ComputeMinor = 0,
    int DriverVersion = 0,
    string? CublasVersion = null,
    string? CudnnVersion = null)
{
    /// <summary>One line for the log: "CUDA: NVIDIA H100 80GB HBM3 (sm_90), driver 13.0, cuBLAS 13.1.1, cuDNN 9.24.0", or the reason.</summary>
    public override string ToString() => Available
        ? $"CUDA: {DeviceName} (sm_{ComputeMajor}{ComputeMinor}), driver {DriverVersion / 1000}.{DriverVersion % 1000 / 10}, cuBLAS {CublasVersion}, cuDNN {CudnnVersion}"
        : $"CUDA unavailable: {Reason}";
}

/// <summary>
/// Can this process train on a GPU? <c>--device auto</c> uses the answer to fall back to the CPU with one line,
/// <c>--device cuda</c> to fail with that line (DESIGN §4). Checks, in order: the build has PTX, libcuda loads, a device
/// exists, its compute capability is at least 8.0 (the PTX targets sm_80), cuBLAS and cuDNN 9 load. Creates no context.
/// </summary>
public static class CudaAvailability
{
    public const int MinimumComputeMajor = 8;

    /// <summary>Never throws: every failure becomes <see cref="CudaProbe.Reason"/>.</summary>
    public static CudaProbe Probe(int ordinal = 0)
    {
        try
        {
            return ProbeUnchecked(ordinal);
        }
        catch (Exception e)
        {
            return new CudaProbe(false, $"probe failed: {e.GetType().Name}: {e.Message}");
        }
    }

    private static unsafe CudaProbe ProbeUnchecked(int ordinal)
    {
        if (PtxModules.Names.Count == 0)
            return new(false, "this build has no PTX kernels (built without clang-14 or nvcc); rebuild where one is on the PATH");
        if (!CudaLibraries.TryLoad("cuda", out _))
            return new(false, "no NVIDIA driver: " + CudaLibraries.NotFoundMessage("cuda"));

        var init = CudaDriver.cuInit(0);
        if (init == CuResult.CUDA_ERROR_NO_DEVICE) return new(false, "no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE)");
        if (init != CuResult.CUDA_SUCCESS) return new(false, $"the CUDA driver did not initialise (cuInit: {CudaStatus.NameOf(init)})");
        CudaStatus.Check(CudaDriver.cuDeviceGetCount(out int count));
        if (count == 0) return new(false, "no CUDA device");
        if (ordinal < 0 || ordinal >= count) return new(false, $"CUDA device {ordinal} does not exist ({count} present)");

        CudaStatus.Check(CudaDriver.cuDriverGetVersion(out int driver));
        CudaStatus.Check(CudaDriver.cuDeviceGet(out int device, ordinal));
        byte* name = stackalloc byte[256];
        CudaStatus.Check(CudaDriver.cuDeviceGetName(name, 256, device));
        string deviceName = Marshal.PtrToStringUTF8((nint)name) ?? "?";
        CudaStatus.Check(CudaDriver.cuDeviceGetAttribute(out int major, CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device));
        CudaStatus.Check(CudaDriver.cuDeviceGetAttribute(out int minor, CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device));
        if (major < MinimumComputeMajor)
            return new(false, $"{deviceName} has compute capability {major}.{minor}; the kernels need 8.0 or newer", deviceName, major, minor, driver);

        if (!CudaLibraries.TryLoad("cublas", out _))
            return new(false, "no cuBLAS: " + CudaLibraries.NotFoundMessage("cublas"), deviceName, major, minor, driver);
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.MAJOR_VERSION, out int bMajor));
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.MINOR_VERSION, out int bMinor));
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.PATCH_LEVEL, out int bPatch));
        string cublas = $"{bMajor}.{bMinor}.{bPatch}";

        if (!CudaLibraries.TryLoad("cudnn", out _))
            return new(false, "no cuDNN 9: " + CudaLibraries.NotFoundMessage("cudnn"), deviceName, major, minor, driver, cublas);
        ulong v = Cudnn.cudnnGetVersion();
        if (v / 10000 != 9) return new(false, $"cuDNN {v / 10000}.{v / 100 % 100} found; the RNN calls need cuDNN 9", deviceName, major, minor, driver, cublas);
        string cudnn = $"{v / 10000}.{v / 100 % 100}.{v % 100}";

        return new(true, null, deviceName, major, minor, driver, cublas, cudnn);
    }
}
