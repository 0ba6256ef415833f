using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ArTar.Cuda;

/// <summary><c>CUresult</c> (cuda.h), the subset a trainer meets. Other codes are named by the driver.</summary>
public enum CuResult
{
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_DEINITIALIZED = 4,
    CUDA_ERROR_STUB_LIBRARY = 34,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
    CUDA_ERROR_INVALID_PTX = 218,
    CUDA_ERROR_JIT_COMPILER_NOT_FOUND = 221,
    CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_NOT_READY = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_NOT_PERMITTED = 800,
    CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
    CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
    CUDA_ERROR_UNKNOWN = 999,
}

/// <summary><c>cublasStatus_t</c> (cublas_api.h).</summary>
public enum CublasStatus
{
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16,
}

/// <summary><c>cudnnStatus_t</c>, cuDNN 9 values — 1000-based, not cuDNN 8's 0..13 (cudnn_graph.h).</summary>
public enum CudnnStatus
{
    CUDNN_STATUS_SUCCESS = 0,
    CUDNN_STATUS_NOT_INITIALIZED = 1001,
    CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH = 1002,
    CUDNN_STATUS_DEPRECATED = 1004,
    CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED = 1008,
    CUDNN_STATUS_BAD_PARAM = 2000,
    CUDNN_STATUS_BAD_PARAM_NULL_POINTER = 2002,
    CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER = 2003,
    CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED = 2004,
    CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND = 2005,
    CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT = 2006,
    CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH = 2007,
    CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH = 2008,
    CUDNN_STATUS_NOT_SUPPORTED = 3000,
    CUDNN_STATUS_NOT_SUPPORTED_SHAPE = 3002,
    CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE = 3003,
    CUDNN_STATUS_NOT_SUPPORTED_LAYOUT = 3004,
    CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER = 3005,
    CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART = 3006,
    CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH = 3007,
    CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE = 3009,
    CUDNN_STATUS_INTERNAL_ERROR = 4000,
    CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED = 4004,
    CUDNN_STATUS_EXECUTION_FAILED = 5000,
    CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER = 5001,
    CUDNN_STATUS_EXECUTION_FAILED_CUBLAS = 5002,
    CUDNN_STATUS_EXECUTION_FAILED_CUDART = 5003,
}

/// <summary>A CUDA driver, cuBLAS or cuDNN call returned an error status (for cuDNN, with its last error string).</summary>
public sealed class CudaException(string library, string call, int status, string statusName, string? detail = null)
    : Exception($"{call} failed: {statusName} ({status})" + (string.IsNullOrEmpty(detail) ? "" : $": {detail}"))
{
    /// <summary>"CUDA driver", "cuBLAS" or "cuDNN".</summary>
    public string Library { get; } = library;
    /// <summary>The native function, e.g. <c>cuMemAlloc_v2</c>.</summary>
    public string Call { get; } = call;
    public int Status { get; } = status;
    /// <summary>The status's name as NVIDIA's headers spell it, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</summary>
    public string StatusName { get; } = statusName;
}

/// <summary>
/// The one place where a status becomes an exception naming the call and the status (STYLE: interop).
/// <c>CudaStatus.Check(CudaDriver.cuMemAlloc_v2(out p, n))</c> throws "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2)".
/// </summary>
public static class CudaStatus
{
    public static void Check(CuResult status, string? detail = null, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != CuResult.CUDA_SUCCESS) throw Failure("CUDA driver", call, (int)status, NameOf(status), detail);
    }

    public static void Check(CublasStatus status, string? detail = null, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != CublasStatus.CUBLAS_STATUS_SUCCESS) throw Failure("cuBLAS", call, (int)status, NameOf(status), detail);
    }

    public static void Check(CudnnStatus status, string? detail = null, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != CudnnStatus.CUDNN_STATUS_SUCCESS) throw Failure("cuDNN", call, (int)status, NameOf(status), WithCudnnMessage(detail, CudnnLastError()));
    }

    /// <summary>The header's name of a driver status; codes outside our enum are asked of the driver (if loaded).</summary>
    public static string NameOf(CuResult status) =>
        Enum.IsDefined(status) ? status.ToString()
        : AskLibrary(() => CudaDriver.cuGetErrorName(status, out nint s) == CuResult.CUDA_SUCCESS ? s : 0) ?? "unknown CUresult";

    public static string NameOf(CublasStatus status) =>
        Enum.IsDefined(status) ? status.ToString() : AskLibrary(() => Cublas.cublasGetStatusName(status)) ?? "unknown cublasStatus_t";

    public static string NameOf(CudnnStatus status) =>
        Enum.IsDefined(status) ? status.ToString() : AskLibrary(() => Cudnn.cudnnGetErrorString(status)) ?? "unknown cudnnStatus_t";

    /// <summary>The caller's detail and cuDNN's own account of the failure (on one line), each only if there is one.</summary>
    internal static string? WithCudnnMessage(string? detail, string? cudnnMessage)
    {
        string? said = string.IsNullOrWhiteSpace(cudnnMessage) ? null : string.Join(' ', cudnnMessage.Split(new[] { '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return said is null ? detail : string.IsNullOrEmpty(detail) ? $"cuDNN says: {said}" : $"{detail}; cuDNN says: {said}";
    }

    // cudnnGetLastErrorString names what cuDNN 9 disliked (which descriptor, which sub-library); asked only of a loaded
    // cuDNN, so a status checked without one loads nothing. Never throws.
    private static unsafe string? CudnnLastError()
    {
        if (CudaLibraries.LoadedFrom("cudnn") is null) return null;
        const int size = 1024;
        byte* message = stackalloc byte[size];
        message[0] = 0;
        try
        {
            Cudnn.cudnnGetLastErrorString(message, size);
            return Marshal.PtrToStringUTF8((nint)message);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return null;
        }
    }

    private static CudaException Failure(string library, string call, int status, string name, string? detail) =>
        new(library, FunctionName(call), status, name, detail);

    /// <summary>"CudaDriver.cuMemAlloc_v2(out p, n)" → "cuMemAlloc_v2": the native function the expression called.</summary>
    internal static string FunctionName(string expression)
    {
        int paren = expression.IndexOf('(');
        string callee = paren < 0 ? expression : expression[..paren];
        return callee[(callee.LastIndexOf('.') + 1)..].Trim();
    }

    // Library-supplied names are static C strings: read, never freed (cuda.h cuGetErrorName, cublas_api.h cublasGetStatusString, cudnn_graph.h cudnnGetErrorString). Never throws.
    private static string? AskLibrary(Func<nint> get)
    {
        try
        {
            nint s = get();
            return s == 0 ? null : Marshal.PtrToStringAnsi(s);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return null;
        }
    }
}
