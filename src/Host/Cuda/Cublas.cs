using System.Runtime.InteropServices;

namespace ArTar.Cuda;

// cuBLAS v2 (libcublas.so.13, or .so.12), 1:1 with cublas_api.h under the exported names (cublasCreate → cublasCreate_v2 …;
// cublas_v2.h). Matrices are column-major; device pointers are CUdeviceptr (ulong); alpha/beta are host
// pointers (CUBLAS_POINTER_MODE_HOST, the default). No logic here.
public static unsafe partial class Cublas
{
    internal const string Library = "cublas";

    static Cublas() => CudaLibraries.Install();

    [LibraryImport(Library)] public static partial CublasStatus cublasCreate_v2(out CublasHandle handle);
    [LibraryImport(Library)] public static partial CublasStatus cublasDestroy_v2(nint handle);
    [LibraryImport(Library)] public static partial CublasStatus cublasGetProperty(LibraryPropertyType type, out int value);
    /// <summary>The CUDA runtime version cuBLAS was built with (CUDART_VERSION: MAJOR·1000 + MINOR·10, e.g. 13000).</summary>
    [LibraryImport(Library)] public static partial nuint cublasGetCudartVersion();
    [LibraryImport(Library)] public static partial nint cublasGetStatusName(CublasStatus status);
    [LibraryImport(Library)] public static partial nint cublasGetStatusString(CublasStatus status);
    /// <summary>Resets the workspace to the default pool: call <see cref="cublasSetWorkspace_v2"/> after it (cuBLAS's cublasSetStream; docs/cuda.md §7).</summary>
    [LibraryImport(Library)] public static partial CublasStatus cublasSetStream_v2(CublasHandle handle, CudaStream streamId);
    [LibraryImport(Library)] public static partial CublasStatus cublasSetWorkspace_v2(CublasHandle handle, ulong workspace, nuint workspaceSizeInBytes);
    [LibraryImport(Library)] public static partial CublasStatus cublasSetMathMode(CublasHandle handle, CublasMath mode);
    [LibraryImport(Library)] public static partial CublasStatus cublasSetPointerMode_v2(CublasHandle handle, CublasPointerMode mode);

    [LibraryImport(Library)]
    public static partial CublasStatus cublasSgemm_v2(CublasHandle handle, CublasOperation transa, CublasOperation transb,
        int m, int n, int k, float* alpha, ulong A, int lda, ulong B, int ldb, float* beta, ulong C, int ldc);

    [LibraryImport(Library)]
    public static partial CublasStatus cublasSgemmStridedBatched(CublasHandle handle, CublasOperation transa, CublasOperation transb,
        int m, int n, int k, float* alpha, ulong A, int lda, long strideA, ulong B, int ldb, long strideB,
        float* beta, ulong C, int ldc, long strideC, int batchCount);

    [LibraryImport(Library)]
    public static partial CublasStatus cublasGemmEx(CublasHandle handle, CublasOperation transa, CublasOperation transb,
        int m, int n, int k, void* alpha, ulong A, CudaDataType Atype, int lda, ulong B, CudaDataType Btype, int ldb,
        void* beta, ulong C, CudaDataType Ctype, int ldc, CublasComputeType computeType, CublasGemmAlgo algo);
}

/// <summary><c>cublasOperation_t</c>.</summary>
public enum CublasOperation
{
    CUBLAS_OP_N = 0,
    CUBLAS_OP_T = 1,
    CUBLAS_OP_C = 2,
}

/// <summary><c>cublasPointerMode_t</c>.</summary>
public enum CublasPointerMode
{
    CUBLAS_POINTER_MODE_HOST = 0,
    CUBLAS_POINTER_MODE_DEVICE = 1,
}

/// <summary><c>cublasMath_t</c>. DEFAULT keeps FP32 exact; TF32_TENSOR_OP opts FP32 GEMMs into TF32 (docs/design.md §6 parity note).</summary>
public enum CublasMath
{
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
    CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16,
}

/// <summary><c>cublasComputeType_t</c> (subset).</summary>
public enum CublasComputeType
{
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_PEDANTIC = 69,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
}

/// <summary><c>cublasGemmAlgo_t</c> (subset).</summary>
public enum CublasGemmAlgo
{
    CUBLAS_GEMM_DEFAULT = -1,
}

/// <summary><c>cudaDataType</c> (library_types.h, subset).</summary>
public enum CudaDataType
{
    CUDA_R_32F = 0,
    CUDA_R_64F = 1,
    CUDA_R_16F = 2,
    CUDA_R_8I = 3,
    CUDA_R_32I = 10,
    CUDA_R_16BF = 14,
}

/// <summary><c>libraryPropertyType</c> (library_types.h), for <c>cublasGetProperty</c>: the version without a handle.</summary>
public enum LibraryPropertyType
{
    MAJOR_VERSION = 0,
    MINOR_VERSION = 1,
    PATCH_LEVEL = 2,
}
