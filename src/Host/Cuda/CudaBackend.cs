using System.Runtime.InteropServices;
using ArTar.Backends;

namespace ArTar.Cuda;

/// <summary>
/// The GPU backend (docs/design.md §4; docs/cuda.md §6): float32 device buffers, the device's primary context made current on the
/// calling thread and shared with cuBLAS and cuDNN, ONE stream for every kernel, copy and library call. Each op is one of
/// our kernels (kernels/*.cu), cuBLAS GEMMs (the tied decoder) or one cuDNN v8 call per layer (the recurrent layers,
/// FP32 with FMA math: no TF32). Nothing waits for the device inside a step except reading the losses back:
/// <see cref="TiedSoftmaxCrossEntropy"/> (one sync) and <see cref="ArTarRegularization"/> (a second, 8 bytes).
/// One op per file, named for the op (CudaBackend.Dropout.cs holds the kernels/dropout.cu declarations and their launcher);
/// its CPU reference is the same method of <see cref="Cpu.CpuBackend{T}"/>, in the file of the same name.
/// </summary>
public sealed unsafe partial class CudaBackend : IBackend
{
    private const uint Threads = 256;

    private readonly CudaContext _context;
    private readonly CudaStream _stream;
    private readonly CublasHandle _blas;
    private readonly CudnnHandle _dnn;
    private readonly CudnnDropoutDescriptor _noDropout;
    private readonly CudaKernelLibrary _kernels = new();
    private readonly Dictionary<(CellType Cell, int Input, int Hidden), CudnnRnnDescriptor> _rnnDescriptors = [];
    private readonly uint _multiprocessors;
    private readonly uint _normBlocks, _artarBlocks;
    private readonly CudaTensor _normPartials, _artarPartials, _scalars;   // _scalars: [0] CE, [1] AR, [2] TAR
    private readonly PinnedHostMemory _hostScalars;
    private CudaTensor? _rowLoss;
    private bool _disposed;

    /// <summary>Takes device <paramref name="ordinal"/> (the probe must have said yes: <see cref="CudaAvailability.Probe"/>).</summary>
    public CudaBackend(int ordinal = 0)
    {
        Probe = CudaAvailability.Probe(ordinal);
        if (!Probe.Available) throw new InvalidOperationException(Probe.ToString());
        CudaStatus.Check(CudaDriver.cuDeviceGet(out int device, ordinal));
        // Primary context, current before cuBLAS and cuDNN are created: they run on whatever context is current (CUDA Runtime API; docs/cuda.md §7).
        _context = CudaContext.RetainPrimary(device);
        CudaStatus.Check(CudaDriver.cuDeviceGetAttribute(out int sms, CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device));
        _multiprocessors = (uint)Math.Max(1, sms);
        // A blocking stream: it also orders against the legacy default stream that the synchronous copies use.
        CudaStatus.Check(CudaDriver.cuStreamCreate(out _stream, CuStreamFlags.CU_STREAM_DEFAULT));

        CudaStatus.Check(Cublas.cublasCreate_v2(out _blas));
        CudaStatus.Check(Cublas.cublasSetStream_v2(_blas, _stream));
        CudaStatus.Check(Cublas.cublasSetMathMode(_blas, CublasMath.CUBLAS_DEFAULT_MATH));   // full FP32, no TF32 (parity 1e-4)

        CudaStatus.Check(Cudnn.cudnnCreate(out _dnn));
        CudaStatus.Check(Cudnn.cudnnSetStream(_dnn, _stream));
        // cuDNN's own dropout is off (p = 0, no states): ours runs between the layers so masks equal the CPU's (docs/design.md §4).
        _noDropout = NoDropout(_dnn);

        _kernels.LoadAll();
        // Fixed grids for the two-stage reductions: the same partial sums, in the same order, every step.
        _normBlocks = 4 * _multiprocessors;
        _artarBlocks = 2 * _multiprocessors;
        _normPartials = NewTensor(_normBlocks, tokens: false);
        _artarPartials = NewTensor(2 * _artarBlocks, tokens: false);
        _scalars = NewTensor(4, tokens: false);
        _hostScalars = PinnedHostMemory.Allocate(4 * sizeof(float));
    }

    /// <summary>What the probe found: device, compute capability, driver, cuBLAS and cuDNN versions.</summary>
    public CudaProbe Probe { get; }

    public string Name => "cuda";

    /// <summary>"cuda: NVIDIA H100 80GB HBM3 (sm_90), driver 13.0, cuDNN 9.24.0, cuBLAS 13.1.1, float32".</summary>
    public string Description =>
        $"cuda: {Probe.DeviceName} (sm_{Probe.ComputeMajor}{Probe.ComputeMinor}), driver {Probe.DriverVersion / 1000}.{Probe.DriverVersion % 1000 / 10}, " +
        $"cuDNN {Probe.CudnnVersion}, cuBLAS {Probe.CublasVersion}, float32";

    /// <summary>
    /// Threads per block of the custom kernels. The defaults are what training uses; tools/Bench sweeps other values
    /// (llm.c dev/cuda style). The kernels loop over blockDim, so any multiple of 32 up to 1024 computes the same result.
    /// </summary>
    internal KernelBlocks Blocks { get; set; } = KernelBlocks.Default;

    internal CudaStream Stream => _stream;
    internal CudnnHandle Dnn => _dnn;

    // ---------------------------------------------------------------------------------------------------------------
    // Buffers and transfers

    public ITensor Allocate(long length)
    {
        Enter();
        return NewTensor(length, tokens: false);
    }

    public ITensor AllocateTokens(int length)
    {
        Enter();
        var t = NewTensor(length, tokens: true);
        t.Mirror = PinnedHostMemory.Allocate((nuint)Math.Max(1, length) * sizeof(int));
        t.Mirror.AsSpan<int>().Clear();
        CudaStatus.Check(CudaDriver.cuEventCreate(out var copied, CuEventFlags.CU_EVENT_DISABLE_TIMING));
        t.MirrorCopied = copied;
        CudaStatus.Check(CudaDriver.cuEventRecord(copied, _stream));
        return t;
    }

    /// <summary>Synchronous (not used inside a step: the model uploads only tokens).</summary>
    public void Upload(ReadOnlySpan<float> source, ITensor destination)
    {
        Enter();
        var d = Floats(destination);
        CheckFits(source.Length, d.Length, nameof(Upload));
        if (source.Length == 0) return;
        Synchronize();
        fixed (float* s = source) CudaStatus.Check(CudaDriver.cuMemcpyHtoD_v2(d.Pointer, s, (nuint)source.Length * sizeof(float)));
    }

    /// <summary>Waits for the stream, then copies.</summary>
    public void Download(ITensor source, Span<float> destination)
    {
        Enter();
        var s = Floats(source);
        CheckFits(destination.Length, s.Length, nameof(Download));
        if (destination.Length == 0) return;
        Synchronize();
        fixed (float* d = destination) CudaStatus.Check(CudaDriver.cuMemcpyDtoH_v2(d, s.Pointer, (nuint)destination.Length * sizeof(float)));
    }

    /// <summary>Asynchronous, through the tensor's pinned mirror (which waits only for its own previous copy, long done).</summary>
    public void UploadTokens(ReadOnlySpan<int> source, ITensor destination)
    {
        Enter();
        var d = Tokens(destination);
        CheckFits(source.Length, (int)d.Length, nameof(UploadTokens));
        if (source.Length == 0) return;
        CudaStatus.Check(CudaDriver.cuEventSynchronize(d.MirrorCopied!));
        var mirror = d.Mirror!.AsSpan<int>();
        source.CopyTo(mirror);
        CudaStatus.Check(CudaDriver.cuMemcpyHtoDAsync_v2(d.Pointer, (void*)d.Mirror.DangerousGetHandle(), (nuint)source.Length * sizeof(int), _stream));
        CudaStatus.Check(CudaDriver.cuEventRecord(d.MirrorCopied!, _stream));
    }

    public void Zero(ITensor tensor)
    {
        Enter();
        var t = Any(tensor);
        if (t.Length > 0) CudaStatus.Check(CudaDriver.cuMemsetD32Async(t.Pointer, 0, (nuint)t.Length, _stream));
        if (t.Mirror is { } m) { CudaStatus.Check(CudaDriver.cuEventSynchronize(t.MirrorCopied!)); m.AsSpan<int>().Clear(); }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Parameters and reserves

    public IParameterArena CreateParameters(ModelShape shape)
    {
        Enter();
        shape.Parameters();   // validates the shape
        var descriptors = new CudnnRnnDescriptor[shape.Layers];
        var sizes = new long[shape.Layers];
        for (int k = 0; k < shape.Layers; k++)
        {
            descriptors[k] = RnnDescriptor(shape.Cell, shape.LayerInput(k), shape.Hidden);
            CudaStatus.Check(Cudnn.cudnnGetRNNWeightSpaceSize(_dnn, descriptors[k], out nuint bytes));
            sizes[k] = (long)bytes;
        }
        var layout = CudaArenaLayout.Plan(shape, sizes);
        var weights = NewTensor(layout.Total, tokens: false);     // zeroed: padding stays zero in both buffers
        var gradients = NewTensor(layout.Total, tokens: false);
        var maps = new IReadOnlyDictionary<string, WeightPiece[]>[shape.Layers];
        CudaStatus.Check(Cudnn.cudnnCreateTensorDescriptor(out var matrixDescriptor));
        CudaStatus.Check(Cudnn.cudnnCreateTensorDescriptor(out var biasDescriptor));
        using (matrixDescriptor)
        using (biasDescriptor)
        {
            for (int k = 0; k < shape.Layers; k++)
            {
                ulong space = weights.At(layout.LayerOffsets[k]);
                nuint bytes = (nuint)(layout.LayerElements[k] * sizeof(float));
                var table = new List<CudnnLinearLayer>();
                for (int id = 0; id < 2 * shape.Gates; id++)
                    table.Add(LinearLayer(_dnn, descriptors[k], bytes, space, k, id, shape.Hidden, matrixDescriptor, biasDescriptor));
                maps[k] = CudnnWeightMapping.Map(shape, k, table, layout.LayerOffsets[k], layout.LayerElements[k]);
            }
        }
        return new CudaParameterArena(this, shape, layout, weights, gradients, maps, descriptors);
    }

    public IRnnReserve CreateRnnReserve(ModelShape shape, int layer, int maxSteps, int batch)
    {
        Enter();
        return new CudaRnnReserve(this, shape, layer, maxSteps, batch);
    }

    /// <summary>Waits until everything queued on the stream has run.</summary>
    public void Synchronize()
    {
        Enter();
        CudaStatus.Check(CudaDriver.cuStreamSynchronize(_stream));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _context.MakeCurrent();
        try { CudaDriver.cuStreamSynchronize(_stream); } catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        _rowLoss?.Dispose();
        _normPartials.Dispose();
        _artarPartials.Dispose();
        _scalars.Dispose();
        _hostScalars.Dispose();
        _kernels.Dispose();
        foreach (var d in _rnnDescriptors.Values) d.Dispose();
        _noDropout.Dispose();
        _dnn.Dispose();
        _blas.Dispose();
        _stream.Dispose();
        _context.Dispose();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Arena transfers (CudaParameterArena.Read/Write): one copy per piece, synchronous (checkpoints, initialisation).

    internal void Gather(CudaTensor buffer, IReadOnlyList<WeightPiece> pieces, Span<float> destination)
    {
        Synchronize();
        fixed (float* d = destination)
            foreach (var p in pieces)
                CudaStatus.Check(CudaDriver.cuMemcpyDtoH_v2(d + p.CanonicalOffset, buffer.At(p.ArenaOffset), (nuint)p.Length * sizeof(float)));
    }

    internal void Scatter(ReadOnlySpan<float> source, IReadOnlyList<WeightPiece> pieces, CudaTensor buffer)
    {
        Synchronize();
        fixed (float* s = source)
            foreach (var p in pieces)
                CudaStatus.Check(CudaDriver.cuMemcpyHtoD_v2(buffer.At(p.ArenaOffset), s + p.CanonicalOffset, (nuint)p.Length * sizeof(float)));
    }

    // ---------------------------------------------------------------------------------------------------------------

    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _context.MakeCurrent();   // .NET may have moved us to another OS thread (cuda.h cuCtxSetCurrent; docs/cuda.md §7)
    }

    private CudaTensor NewTensor(long length, bool tokens)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), $"cannot allocate {length} elements");
        var memory = DeviceMemory.Allocate((nuint)Math.Max(1, length) * sizeof(float));   // int and float are both 4 bytes
        var t = new CudaTensor(memory, memory.Pointer, length, tokens);
        CudaStatus.Check(CudaDriver.cuMemsetD32Async(memory.Pointer, 0, (nuint)Math.Max(1, length), _stream));
        return t;
    }

    private void Launch(KernelDeclaration kernel, uint grid, uint block, params ReadOnlySpan<KernelArgument> arguments) =>
        _kernels[kernel].Launch(_stream, grid, block, 0, arguments);

    private void Sgemm(CublasOperation ta, CublasOperation tb, int m, int n, int k, float alpha, ulong a, int lda, ulong b, int ldb,
        float beta, ulong c, int ldc) =>
        CudaStatus.Check(Cublas.cublasSgemm_v2(_blas, ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc));

    /// <summary>Copies scalars [first, first+count) to the host and waits: the only syncs of a step.</summary>
    private (double First, double Second) ReadScalars(int first, int count)
    {
        CudaStatus.Check(CudaDriver.cuMemcpyDtoHAsync_v2((void*)_hostScalars.DangerousGetHandle(), _scalars.At(first), (nuint)count * sizeof(float), _stream));
        CudaStatus.Check(CudaDriver.cuStreamSynchronize(_stream));
        var host = _hostScalars.AsSpan<float>();
        return (host[0], count > 1 ? host[1] : 0.0);
    }

    private CudaTensor RowLoss(int rows)
    {
        if (_rowLoss is { } r && r.Length >= rows) return r;
        if (_rowLoss is not null) { Synchronize(); _rowLoss.Dispose(); }   // grows once, at the first (longest) window
        return _rowLoss = NewTensor(rows, tokens: false);
    }

    private uint DropoutGrid(long count) => (uint)Math.Clamp(((count + 3) / 4 + Blocks.Dropout - 1) / Blocks.Dropout, 1, 8 * _multiprocessors);

    private static uint RowThreads(int hidden) => hidden >= 256 ? 256u : 128u;

    private static long Offset(ulong address, ulong space)
    {
        if (address < space || (address - space) % sizeof(float) != 0)
            throw new InvalidOperationException($"cuDNN weight address 0x{address:x} is not a float inside the weight space at 0x{space:x}");
        return (long)((address - space) / sizeof(float));
    }

    // cudnnGetRNNWeightParams describes a block as 3-D {1, rows, columns}, read row-major (cudnn_adv.h; docs/cuda.md §7); any other
    // description is taken as `rows` = H rows of count/H (the mapping then checks the columns against the documented shape).
    private static (int Rows, int Columns) MatrixShape(CudnnTensorDescriptor descriptor, int hidden)
    {
        int* dims = stackalloc int[8];
        int* strides = stackalloc int[8];
        CudaStatus.Check(Cudnn.cudnnGetTensorNdDescriptor(descriptor, 8, out var type, out int nbDims, dims, strides));
        if (type != CudnnDataType.CUDNN_DATA_FLOAT) throw new InvalidOperationException($"cuDNN weight block of type {type}, expected float");
        long count = 1;
        for (int i = 0; i < nbDims; i++) count *= dims[i];
        if (nbDims == 3 && dims[0] == 1) return (dims[1], dims[2]);
        return (hidden, (int)(count / hidden));
    }

    private CudaParameterArena Arena(IParameterArena arena) => arena as CudaParameterArena
        ?? throw new ArgumentException($"parameter arena {arena?.GetType().Name ?? "null"} does not belong to the CUDA backend");

    private static CudaRnnReserve Reserve(IRnnReserve reserve, CudaParameterArena arena, int layer, int batch)
    {
        var r = reserve as CudaRnnReserve ?? throw new ArgumentException($"RNN reserve {reserve?.GetType().Name ?? "null"} does not belong to the CUDA backend");
        if (r.Layer != layer) throw new ArgumentException($"reserve of layer {r.Layer} used for layer {layer}");
        if ((uint)layer >= (uint)arena.Shape.Layers) throw new ArgumentOutOfRangeException(nameof(layer));
        if (r.Batch != batch) throw new ArgumentException($"reserve sized for batch {r.Batch}, used with {batch}: a model of another batch size needs its own reserves");
        if (r.Descriptor != arena.LayerDescriptors[layer]) throw new ArgumentException($"reserve of layer {layer} was made for another model shape");
        return r;
    }

    private static CudaTensor Any(ITensor tensor) => tensor as CudaTensor
        ?? throw new ArgumentException($"tensor {tensor?.GetType().Name ?? "null"} does not belong to the CUDA backend");

    private static CudaTensor Floats(ITensor tensor)
    {
        var t = Any(tensor);
        return t.IsTokens ? throw new ArgumentException("expected a float tensor, got a token tensor") : t;
    }

    private static CudaTensor Tokens(ITensor tensor)
    {
        var t = Any(tensor);
        return t.IsTokens ? t : throw new ArgumentException("expected a token tensor, got a float tensor");
    }

    // The kernels trust their ids; the host checks the mirror of the last upload (the CPU refuses the same ids).
    private void CheckTokens(CudaTensor tokens, int rows, int vocab)
    {
        var ids = tokens.Mirror!.AsSpan<int>()[..rows];
        for (int r = 0; r < ids.Length; r++)
            if ((uint)ids[r] >= (uint)vocab)
                throw new ArgumentOutOfRangeException("id", $"token id {ids[r]} outside the vocabulary of {vocab}");
    }

    private static void CheckFits(long needed, long available, string op)
    {
        if (needed > available) throw new ArgumentException($"{op}: {needed} elements do not fit a tensor of {available}");
    }
}

/// <summary>
/// Threads per block of each custom kernel family (0 = the backend's choice by shape: 128/256 by hidden for the
/// embedding, 1024 for a vocabulary of 4096 or more in the softmax). Multiples of 32, at most 1024.
/// </summary>
internal sealed record KernelBlocks(uint Embedding = 0, uint Dropout = 256, uint ArTar = 256, uint SoftmaxCrossEntropy = 0, uint Norm = 256, uint Sgd = 256)
{
    public static readonly KernelBlocks Default = new();
}
