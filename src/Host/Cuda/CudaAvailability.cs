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
    string? CudnnVersion = null,
    int CublasCudaVersion = 0,
    int CudnnCudaVersion = 0)
{
    /// <summary>One line for the log: "CUDA: NVIDIA H100 80GB HBM3 (sm_90), driver 13.0, cuBLAS 13.1.1, cuDNN 9.24.0", or the reason.</summary>
    public override string ToString() => Available
        ? $"CUDA: {DeviceName} (sm_{ComputeMajor}{ComputeMinor}), driver {CudaAvailability.CudaVersion(DriverVersion)}, cuBLAS {CublasVersion}, cuDNN {CudnnVersion}"
        : $"CUDA unavailable: {Reason}";
}

/// <summary>
/// Can this process train on a GPU? <c>--device auto</c> uses the answer to fall back to the CPU with one line,
/// <c>--device cuda</c> to fail with that line (docs/cuda.md §2). Checks, in order: the build has PTX, libcuda loads, a device
/// exists, its compute capability is at least 8.0 (the PTX targets sm_80), cuBLAS and cuDNN 9 load, and both were built
/// for the same CUDA major version (<see cref="CudaMajorMismatch"/>). Creates no context.
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
            return new(false, "no NVIDIA driver: " + CudaLibraries.FailureMessage("cuda"));

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
            return new(false, "no cuBLAS: " + CudaLibraries.FailureMessage("cublas"), deviceName, major, minor, driver);
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.MAJOR_VERSION, out int bMajor));
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.MINOR_VERSION, out int bMinor));
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.PATCH_LEVEL, out int bPatch));
        string cublas = $"{bMajor}.{bMinor}.{bPatch}";
        int cublasCuda = (int)Cublas.cublasGetCudartVersion();

        if (!CudaLibraries.TryLoad("cudnn", out _))
            return new(false, "no cuDNN 9: " + CudaLibraries.FailureMessage("cudnn"), deviceName, major, minor, driver, cublas, CublasCudaVersion: cublasCuda);
        ulong v = Cudnn.cudnnGetVersion();
        int cudnnCuda = (int)Cudnn.cudnnGetCudartVersion();
        string cudnn = $"{v / 10000}.{v / 100 % 100}.{v % 100}";
        if (v / 10000 != 9)
            return new(false, $"cuDNN {v / 10000}.{v / 100 % 100} found; the RNN calls need cuDNN 9", deviceName, major, minor, driver, cublas, cudnn, cublasCuda, cudnnCuda);
        if (CudaMajorMismatch(CudaLibraries.LoadedFrom("cublas")!, cublasCuda, CudaLibraries.LoadedFrom("cudnn")!, cudnnCuda) is { } mismatch)
            return new(false, mismatch, deviceName, major, minor, driver, cublas, cudnn, cublasCuda, cudnnCuda);

        return new(true, null, deviceName, major, minor, driver, cublas, cudnn, cublasCuda, cudnnCuda);
    }

    /// <summary>
    /// The refusal when cuBLAS and cuDNN were built for different CUDA major versions (cuDNN for CUDA 12 would look for
    /// libcublas.so.12 beside a loaded libcublas.so.13), naming both files; null when they agree or a version is unknown (0).
    /// </summary>
    public static string? CudaMajorMismatch(string cublasFile, int cublasCuda, string cudnnFile, int cudnnCuda) =>
        cublasCuda == 0 || cudnnCuda == 0 || cublasCuda / 1000 == cudnnCuda / 1000 ? null
        : $"cuDNN {cudnnFile} is built for CUDA {CudaVersion(cudnnCuda)} but cuBLAS {cublasFile} for CUDA {CudaVersion(cublasCuda)}; "
          + $"install the cuDNN of CUDA {cublasCuda / 1000} (pip: nvidia-cudnn-cu{cublasCuda / 1000}) or set {CudaLibraries.PathVariable} to folders holding a matching pair";

    /// <summary>A CUDA version as the driver and CUDART_VERSION encode it (MAJOR·1000 + MINOR·10): 12080 → "12.8".</summary>
    public static string CudaVersion(int encoded) => $"{encoded / 1000}.{encoded % 1000 / 10}";
}
