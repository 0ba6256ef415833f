using System.Runtime.InteropServices;

namespace ArTar.Cuda;

// cuDNN 9 (libcudnn.so.9, the shim that loads libcudnn_*.so.9 beside it): handle, tensor / dropout / RNN / RNN-data
// descriptors and the v8 RNN API — the pre-v8 RNN calls no longer exist in cuDNN 9 (cudnn_adv.h of cuDNN 9; docs/design.md §4).
// 1:1 with cudnn_graph.h, cudnn_ops.h, cudnn_adv.h. Device pointers are CUdeviceptr (ulong). No logic here.
public static unsafe partial class Cudnn
{
    internal const string Library = "cudnn";

    static Cudnn() => CudaLibraries.Install();

    /// <summary>MAJOR·10000 + MINOR·100 + PATCH, e.g. 90600.</summary>
    [LibraryImport(Library)] public static partial nuint cudnnGetVersion();
    /// <summary>The CUDA runtime cuDNN links statically (MAJOR·1000 + MINOR·10, e.g. 12080): the CUDA it was built for.</summary>
    [LibraryImport(Library)] public static partial nuint cudnnGetCudartVersion();
    /// <summary>A static C string: read it, never free it.</summary>
    [LibraryImport(Library)] public static partial nint cudnnGetErrorString(CudnnStatus status);
    /// <summary>The last error message of this thread, NUL-terminated into message (at most max_size bytes).</summary>
    [LibraryImport(Library)] public static partial void cudnnGetLastErrorString(byte* message, nuint max_size);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnCreate(out CudnnHandle handle);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnDestroy(nint handle);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnSetStream(CudnnHandle handle, CudaStream streamId);

    [LibraryImport(Library)] public static partial CudnnStatus cudnnCreateTensorDescriptor(out CudnnTensorDescriptor tensorDesc);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnSetTensorNdDescriptor(CudnnTensorDescriptor tensorDesc, CudnnDataType dataType, int nbDims, int* dimA, int* strideA);
    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnGetTensorNdDescriptor(CudnnTensorDescriptor tensorDesc, int nbDimsRequested, out CudnnDataType dataType, out int nbDims, int* dimA, int* strideA);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnDestroyTensorDescriptor(nint tensorDesc);

    [LibraryImport(Library)] public static partial CudnnStatus cudnnCreateDropoutDescriptor(out CudnnDropoutDescriptor dropoutDesc);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnDestroyDropoutDescriptor(nint dropoutDesc);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnDropoutGetStatesSize(CudnnHandle handle, out nuint sizeInBytes);
    /// <summary>Dropout 0 with no states is what the RNN descriptor gets here: ArTar's own dropout runs between layers.</summary>
    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnSetDropoutDescriptor(CudnnDropoutDescriptor dropoutDesc, CudnnHandle handle, float dropout, ulong states, nuint stateSizeInBytes, ulong seed);

    [LibraryImport(Library)] public static partial CudnnStatus cudnnCreateRNNDescriptor(out CudnnRnnDescriptor rnnDesc);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnDestroyRNNDescriptor(nint rnnDesc);
    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnSetRNNDescriptor_v8(CudnnRnnDescriptor rnnDesc, CudnnRnnAlgo algo, CudnnRnnMode cellMode, CudnnRnnBiasMode biasMode,
        CudnnDirectionMode dirMode, CudnnRnnInputMode inputMode, CudnnDataType dataType, CudnnDataType mathPrec, CudnnMathType mathType,
        int inputSize, int hiddenSize, int projSize, int numLayers, CudnnDropoutDescriptor dropoutDesc, CudnnRnnAuxFlags auxFlags);

    [LibraryImport(Library)] public static partial CudnnStatus cudnnCreateRNNDataDescriptor(out CudnnRnnDataDescriptor rnnDataDesc);
    [LibraryImport(Library)] public static partial CudnnStatus cudnnDestroyRNNDataDescriptor(nint rnnDataDesc);
    /// <summary>seqLengthArray and paddingFill are HOST memory (paddingFill may be null).</summary>
    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnSetRNNDataDescriptor(CudnnRnnDataDescriptor rnnDataDesc, CudnnDataType dataType, CudnnRnnDataLayout layout,
        int maxSeqLength, int batchSize, int vectorSize, int* seqLengthArray, void* paddingFill);

    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnGetRNNWeightSpaceSize(CudnnHandle handle, CudnnRnnDescriptor rnnDesc, out nuint weightSpaceSize);
    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnGetRNNTempSpaceSizes(CudnnHandle handle, CudnnRnnDescriptor rnnDesc, CudnnForwardMode fwdMode,
        CudnnRnnDataDescriptor xDesc, out nuint workSpaceSize, out nuint reserveSpaceSize);
    /// <summary>Locates one matrix (mAddr, shape in mDesc) and its bias (bAddr, bDesc) of a pseudo-layer inside weightSpace.</summary>
    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnGetRNNWeightParams(CudnnHandle handle, CudnnRnnDescriptor rnnDesc, int pseudoLayer, nuint weightSpaceSize,
        ulong weightSpace, int linLayerID, CudnnTensorDescriptor mDesc, out ulong mAddr, CudnnTensorDescriptor bDesc, out ulong bAddr);

    /// <summary>devSeqLengths is DEVICE memory (int32[batch]).</summary>
    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnRNNForward(CudnnHandle handle, CudnnRnnDescriptor rnnDesc, CudnnForwardMode fwdMode, ulong devSeqLengths,
        CudnnRnnDataDescriptor xDesc, ulong x, CudnnRnnDataDescriptor yDesc, ulong y,
        CudnnTensorDescriptor hDesc, ulong hx, ulong hy, CudnnTensorDescriptor cDesc, ulong cx, ulong cy,
        nuint weightSpaceSize, ulong weightSpace, nuint workSpaceSize, ulong workSpace, nuint reserveSpaceSize, ulong reserveSpace);

    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnRNNBackwardData_v8(CudnnHandle handle, CudnnRnnDescriptor rnnDesc, ulong devSeqLengths,
        CudnnRnnDataDescriptor yDesc, ulong y, ulong dy, CudnnRnnDataDescriptor xDesc, ulong dx,
        CudnnTensorDescriptor hDesc, ulong hx, ulong dhy, ulong dhx, CudnnTensorDescriptor cDesc, ulong cx, ulong dcy, ulong dcx,
        nuint weightSpaceSize, ulong weightSpace, nuint workSpaceSize, ulong workSpace, nuint reserveSpaceSize, ulong reserveSpace);

    /// <summary>Must follow cudnnRNNBackwardData_v8; with WGRAD_MODE_ADD it adds into dweightSpace (zero it first).</summary>
    [LibraryImport(Library)]
    public static partial CudnnStatus cudnnRNNBackwardWeights_v8(CudnnHandle handle, CudnnRnnDescriptor rnnDesc, CudnnWgradMode addGrad, ulong devSeqLengths,
        CudnnRnnDataDescriptor xDesc, ulong x, CudnnTensorDescriptor hDesc, ulong hx, CudnnRnnDataDescriptor yDesc, ulong y,
        nuint weightSpaceSize, ulong dweightSpace, nuint workSpaceSize, ulong workSpace, nuint reserveSpaceSize, ulong reserveSpace);
}

/// <summary><c>cudnnDataType_t</c> (subset).</summary>
public enum CudnnDataType
{
    CUDNN_DATA_FLOAT = 0,
    CUDNN_DATA_DOUBLE = 1,
    CUDNN_DATA_HALF = 2,
    CUDNN_DATA_INT8 = 3,
    CUDNN_DATA_INT32 = 4,
    CUDNN_DATA_BFLOAT16 = 9,
}

/// <summary><c>cudnnMathType_t</c>. FP32 RNNs: DEFAULT (TF32 allowed on sm_80+) or FMA (strict); never TENSOR_OP (cudnn_graph.h; docs/cuda.md §7).</summary>
public enum CudnnMathType
{
    CUDNN_DEFAULT_MATH = 0,
    CUDNN_TENSOR_OP_MATH = 1,
    CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
    CUDNN_FMA_MATH = 3,
}

/// <summary><c>cudnnRNNAlgo_t</c>.</summary>
public enum CudnnRnnAlgo
{
    CUDNN_RNN_ALGO_STANDARD = 0,
    CUDNN_RNN_ALGO_PERSIST_STATIC = 1,
    CUDNN_RNN_ALGO_PERSIST_DYNAMIC = 2,
    CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H = 3,
}

/// <summary><c>cudnnForwardMode_t</c>.</summary>
public enum CudnnForwardMode
{
    CUDNN_FWD_MODE_INFERENCE = 0,
    CUDNN_FWD_MODE_TRAINING = 1,
}

/// <summary><c>cudnnRNNMode_t</c>.</summary>
public enum CudnnRnnMode
{
    CUDNN_RNN_RELU = 0,
    CUDNN_RNN_TANH = 1,
    CUDNN_LSTM = 2,
    CUDNN_GRU = 3,
}

/// <summary><c>cudnnRNNBiasMode_t</c>. DOUBLE_BIAS is 2 (cudnn_adv.h; NVIDIA's sample CLI numbers differ).</summary>
public enum CudnnRnnBiasMode
{
    CUDNN_RNN_NO_BIAS = 0,
    CUDNN_RNN_SINGLE_INP_BIAS = 1,
    CUDNN_RNN_DOUBLE_BIAS = 2,
    CUDNN_RNN_SINGLE_REC_BIAS = 3,
}

/// <summary><c>cudnnDirectionMode_t</c>.</summary>
public enum CudnnDirectionMode
{
    CUDNN_UNIDIRECTIONAL = 0,
    CUDNN_BIDIRECTIONAL = 1,
}

/// <summary><c>cudnnRNNInputMode_t</c>.</summary>
public enum CudnnRnnInputMode
{
    CUDNN_LINEAR_INPUT = 0,
    CUDNN_SKIP_INPUT = 1,
}

/// <summary><c>cudnnRNNDataLayout_t</c>. SEQ_MAJOR_* is [T][B][vector].</summary>
public enum CudnnRnnDataLayout
{
    CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED = 0,
    CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED = 1,
    CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED = 2,
}

/// <summary>auxFlags of <c>cudnnSetRNNDescriptor_v8</c> (#defines in cudnn_adv.h); PADDED_IO is required by the unpacked layouts.</summary>
[Flags]
public enum CudnnRnnAuxFlags : uint
{
    CUDNN_RNN_PADDED_IO_DISABLED = 0,
    CUDNN_RNN_PADDED_IO_ENABLED = 1u << 0,
}

/// <summary><c>cudnnWgradMode_t</c>.</summary>
public enum CudnnWgradMode
{
    CUDNN_WGRAD_MODE_ADD = 0,
    CUDNN_WGRAD_MODE_SET = 1,
}
