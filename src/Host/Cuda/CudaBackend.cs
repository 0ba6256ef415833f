using System.Runtime.InteropServices;
using ArTar.Backends;

namespace ArTar.Cuda;

/// <summary>
/// The GPU backend (DESIGN §4; docs/cuda.md §6): float32 device buffers, the device's primary context made current on the
/// calling thread and shared with cuBLAS and cuDNN, ONE stream for every kernel, copy and library call. Each op is one of
/// our kernels (kernels/*.cu), cuBLAS GEMMs (the tied decoder) or one cuDNN v8 call per layer (the recurrent layers,
/// FP32 with FMA math: no TF32). Nothing waits for the device inside a step except reading the losses back:
/// <see cref="TiedSoftmaxCrossEntropy"/> (one sync) and <see cref="ArTarRegularization"/> (a second, 8 bytes).
/// The CPU reference of every op is <c>CpuBackend&lt;T&gt;</c>, the same method name.
/// </summary>
public sealed unsafe class CudaBackend : IBackend
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
        // Primary context, current before cuBLAS and cuDNN are created: they run on whatever context is current (cuda-interop.md §3.1).
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
        // cuDNN's own dropout is off (p = 0, no states): ours runs between the layers so masks equal the CPU's (DESIGN §4).
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

    public void Copy(ITensor source, ITensor destination)
    {
        Enter();
        var s = Floats(source);
        var d = Floats(destination);
        CheckFits(s.Length, d.Length, nameof(Copy));
        if (s.Length > 0) CudaStatus.Check(CudaDriver.cuMemcpyDtoDAsync_v2(d.Pointer, s.Pointer, (nuint)s.Length * sizeof(float), _stream));
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

    /// <summary>One cuDNN RNN descriptor per (cell, input, hidden): ONE layer, double bias, FP32 data and math, FMA only (no TF32).</summary>
    internal CudnnRnnDescriptor RnnDescriptor(CellType cell, int input, int hidden)
    {
        if (_rnnDescriptors.TryGetValue((cell, input, hidden), out var d)) return d;
        return _rnnDescriptors[(cell, input, hidden)] = NewRnnDescriptor(cell, input, hidden, _noDropout);
    }

    /// <summary>A new descriptor as <see cref="RnnDescriptor"/> describes it (also the bring-up probe's, on its own handle).</summary>
    internal static CudnnRnnDescriptor NewRnnDescriptor(CellType cell, int input, int hidden, CudnnDropoutDescriptor noDropout)
    {
        CudaStatus.Check(Cudnn.cudnnCreateRNNDescriptor(out var d));
        var mode = cell switch
        {
            CellType.Lstm => CudnnRnnMode.CUDNN_LSTM,
            CellType.Gru => CudnnRnnMode.CUDNN_GRU,
            _ => CudnnRnnMode.CUDNN_RNN_TANH,
        };
        CudaStatus.Check(Cudnn.cudnnSetRNNDescriptor_v8(d, CudnnRnnAlgo.CUDNN_RNN_ALGO_STANDARD, mode, CudnnRnnBiasMode.CUDNN_RNN_DOUBLE_BIAS,
            CudnnDirectionMode.CUDNN_UNIDIRECTIONAL, CudnnRnnInputMode.CUDNN_LINEAR_INPUT, CudnnDataType.CUDNN_DATA_FLOAT,
            CudnnDataType.CUDNN_DATA_FLOAT, CudnnMathType.CUDNN_FMA_MATH, input, hidden, hidden, 1, noDropout,
            CudnnRnnAuxFlags.CUDNN_RNN_PADDED_IO_ENABLED));
        return d;
    }

    /// <summary>A dropout descriptor with p = 0 and no states, for the RNN descriptors (see the constructor).</summary>
    internal static CudnnDropoutDescriptor NoDropout(CudnnHandle dnn)
    {
        CudaStatus.Check(Cudnn.cudnnCreateDropoutDescriptor(out var d));
        CudaStatus.Check(Cudnn.cudnnSetDropoutDescriptor(d, dnn, 0f, 0, 0, 0));
        return d;
    }

    /// <summary>
    /// cudnnGetRNNWeightParams for one linLayerID of layer <paramref name="layer"/>'s weight space at <paramref name="space"/>,
    /// as a table row; the two descriptors keep cuDNN's answer (the bring-up probe logs them).
    /// </summary>
    internal static CudnnLinearLayer LinearLayer(CudnnHandle dnn, CudnnRnnDescriptor descriptor, nuint bytes, ulong space, int layer, int id, int hidden,
        CudnnTensorDescriptor matrixDescriptor, CudnnTensorDescriptor biasDescriptor)
    {
        CudaStatus.Check(Cudnn.cudnnGetRNNWeightParams(dnn, descriptor, 0, bytes, space, id,
            matrixDescriptor, out ulong matrix, biasDescriptor, out ulong bias), $"layer {layer}, linLayerID {id}");
        if (matrix == 0 || bias == 0) throw new InvalidOperationException($"cuDNN gave no matrix or bias for layer {layer}, linLayerID {id}");
        var (rows, columns) = MatrixShape(matrixDescriptor, hidden);
        var (biasRows, biasColumns) = MatrixShape(biasDescriptor, hidden);
        return new(id, Offset(matrix, space), rows, columns, Offset(bias, space), biasRows * biasColumns);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The operations (IBackend; CPU reference: CpuBackend<T>, same names)

    public void EmbeddingForward(ITensor embedding, ITensor tokens, ITensor output, int rows, int hidden)
    {
        Enter();
        var e = Floats(embedding);
        var x = Tokens(tokens);
        var y = Floats(output);
        CheckRows(rows, hidden, x, y, nameof(EmbeddingForward));
        CheckTokens(x, rows, (int)(e.Length / hidden));
        if (rows == 0) return;
        Launch(EmbeddingKernels.EmbeddingForward, (uint)rows, Blocks.Embedding != 0 ? Blocks.Embedding : RowThreads(hidden),
            KernelArgument.Pointer(y.Pointer), KernelArgument.Pointer(e.Pointer), KernelArgument.Pointer(x.Pointer), rows, hidden);
    }

    public void EmbeddingBackward(ITensor dOutput, ITensor tokens, ITensor dEmbedding, int rows, int hidden)
    {
        Enter();
        var dy = Floats(dOutput);
        var x = Tokens(tokens);
        var de = Floats(dEmbedding);
        CheckRows(rows, hidden, x, dy, nameof(EmbeddingBackward));
        CheckTokens(x, rows, (int)(de.Length / hidden));
        if (rows == 0) return;
        Launch(EmbeddingKernels.EmbeddingBackward, (uint)rows, Blocks.Embedding != 0 ? Blocks.Embedding : RowThreads(hidden),
            KernelArgument.Pointer(de.Pointer), KernelArgument.Pointer(dy.Pointer), KernelArgument.Pointer(x.Pointer), rows, hidden);
    }

    public void DropoutForward(ITensor x, ITensor y, long count, DropoutMask mask)
    {
        Enter();
        mask.Validate();
        var xs = Floats(x);
        var ys = Floats(y);
        CheckCount(count, xs, ys, nameof(DropoutForward));
        if (count == 0) return;
        Launch(DropoutKernels.DropoutForward, DropoutGrid(count), Blocks.Dropout,
            KernelArgument.Pointer(ys.Pointer), KernelArgument.Pointer(xs.Pointer), KernelArgument.U64(mask.Seed), KernelArgument.U64((ulong)mask.Step),
            (uint)mask.Site, mask.Threshold, (float)mask.Scale, count);
    }

    public void DropoutBackward(ITensor dy, ITensor dx, long count, DropoutMask mask, bool accumulate)
    {
        Enter();
        mask.Validate();
        var dys = Floats(dy);
        var dxs = Floats(dx);
        CheckCount(count, dys, dxs, nameof(DropoutBackward));
        if (count == 0) return;
        Launch(DropoutKernels.DropoutBackward, DropoutGrid(count), Blocks.Dropout,
            KernelArgument.Pointer(dxs.Pointer), KernelArgument.Pointer(dys.Pointer), KernelArgument.U64(mask.Seed), KernelArgument.U64((ulong)mask.Step),
            (uint)mask.Site, mask.Threshold, (float)mask.Scale, count, accumulate ? 1 : 0);
    }

    public void RnnForward(IParameterArena parameters, int layer, ITensor x, ITensor h0, ITensor? c0,
        ITensor y, ITensor hT, ITensor? cT, IRnnReserve reserve, int steps, int batch, bool training)
    {
        Enter();
        var arena = Arena(parameters);
        var r = Reserve(reserve, arena, layer, batch);
        bool lstm = r.Cell == CellType.Lstm;
        if (lstm != (c0 is not null) || lstm != (cT is not null))
            throw new ArgumentException($"RnnForward: cell states are given for an LSTM and only for it (cell {r.Cell.ConfigName()})");
        var xs = Floats(x); var ys = Floats(y); var h = Floats(h0); var hOut = Floats(hT);
        CheckFits((long)steps * batch * r.Input, xs.Length, "RnnForward x");
        CheckFits((long)steps * batch * r.Hidden, ys.Length, "RnnForward y");
        CheckFits((long)batch * r.Hidden, Math.Min(h.Length, hOut.Length), "RnnForward state");
        if (h.Pointer == hOut.Pointer) throw new ArgumentException("RnnForward: hT must not alias h0");
        ulong c = c0 is null ? 0 : Floats(c0).Pointer, cOut = cT is null ? 0 : Floats(cT).Pointer;
        r.Use(steps);
        r.HasForward = false;
        CudaStatus.Check(Cudnn.cudnnRNNForward(_dnn, r.Descriptor,
            training ? CudnnForwardMode.CUDNN_FWD_MODE_TRAINING : CudnnForwardMode.CUDNN_FWD_MODE_INFERENCE, r.SequenceLengths.Pointer,
            r.XDescriptor, xs.Pointer, r.YDescriptor, ys.Pointer, r.HDescriptor, h.Pointer, hOut.Pointer, r.CDescriptor, c, cOut,
            arena.LayerBytes(layer), arena.LayerWeights(layer), r.WorkspaceBytes, r.Workspace.Pointer,
            training ? r.ReserveBytes : 0, training ? r.ReserveSpace.Pointer : 0), r.Label);
        if (!training) return;
        // cuDNN's backward calls take x, y, hx, cx again: LanguageModel keeps them untouched until then (docs/backend.md).
        (r.X, r.Y, r.H0, r.C0, r.HasForward) = (xs.Pointer, ys.Pointer, h.Pointer, c, true);
    }

    public void RnnBackward(IParameterArena parameters, int layer, ITensor dy, ITensor dx, ITensor dh0, ITensor? dc0, IRnnReserve reserve)
    {
        Enter();
        var arena = Arena(parameters);
        var r = Reserve(reserve, arena, layer, reserve.Batch);
        if (!r.HasForward) throw new InvalidOperationException($"RnnBackward of layer {layer} needs a training RnnForward on its reserve first");
        bool lstm = r.Cell == CellType.Lstm;
        if (lstm != (dc0 is not null)) throw new ArgumentException("RnnBackward: dc0 is given for an LSTM and only for it");
        var dys = Floats(dy); var dxs = Floats(dx); var dh = Floats(dh0);
        CheckFits((long)r.Steps * r.Batch * r.Hidden, dys.Length, "RnnBackward dy");
        CheckFits((long)r.Steps * r.Batch * r.Input, dxs.Length, "RnnBackward dx");
        ulong dc = dc0 is null ? 0 : Floats(dc0).Pointer;
        ulong zero = r.ZeroState.Pointer;
        r.HasForward = false;
        // Data first, then weights: the weight gradient reads what the data pass leaves in the reserve (cuda-interop.md §4.7).
        CudaStatus.Check(Cudnn.cudnnRNNBackwardData_v8(_dnn, r.Descriptor, r.SequenceLengths.Pointer,
            r.YDescriptor, r.Y, dys.Pointer, r.XDescriptor, dxs.Pointer,
            r.HDescriptor, r.H0, zero, dh.Pointer, r.CDescriptor, r.C0, lstm ? zero : 0, dc,
            arena.LayerBytes(layer), arena.LayerWeights(layer), r.WorkspaceBytes, r.Workspace.Pointer, r.ReserveBytes, r.ReserveSpace.Pointer),
            r.Label);
        // ADD into the gradient arena (zeroed by the model before the window): accumulates, as IBackend asks.
        CudaStatus.Check(Cudnn.cudnnRNNBackwardWeights_v8(_dnn, r.Descriptor, CudnnWgradMode.CUDNN_WGRAD_MODE_ADD, r.SequenceLengths.Pointer,
            r.XDescriptor, r.X, r.HDescriptor, r.H0, r.YDescriptor, r.Y,
            arena.LayerBytes(layer), arena.LayerGradients(layer), r.WorkspaceBytes, r.Workspace.Pointer, r.ReserveBytes, r.ReserveSpace.Pointer),
            r.Label);
    }

    public ArTarLoss ArTarRegularization(ITensor o, ITensor h, ITensor? dO, ITensor? dH, int steps, int batch, int hidden,
        double alpha, double beta)
    {
        Enter();
        if ((dO is null) != (dH is null)) throw new ArgumentException("ArTarRegularization takes both gradients or neither");
        long bh = (long)batch * hidden, n = steps * bh;
        var os = Floats(o); var hs = Floats(h);
        CheckFits(n, Math.Min(os.Length, hs.Length), nameof(ArTarRegularization));
        if ((alpha == 0.0 && beta == 0.0) || n == 0) return new ArTarLoss(0.0, 0.0);
        double arCoef = alpha / n, tarCoef = steps > 1 ? beta / ((steps - 1) * bh) : 0.0;
        // The kernel always adds its gradients: without them it writes into scratch (not a path the model takes).
        CudaTensor? scratchO = null, scratchH = null;
        var go = dO is null ? (scratchO = NewTensor(n, false)) : Floats(dO);
        var gh = dH is null ? (scratchH = NewTensor(n, false)) : Floats(dH);
        CheckFits(n, Math.Min(go.Length, gh.Length), nameof(ArTarRegularization));
        uint grid = (uint)Math.Clamp((n + Blocks.ArTar - 1) / Blocks.ArTar, 1, _artarBlocks);
        Launch(ArTarKernels.ArTarForwardBackward, grid, Blocks.ArTar, KernelArgument.Pointer(_artarPartials.Pointer), KernelArgument.Pointer(go.Pointer),
            KernelArgument.Pointer(gh.Pointer), KernelArgument.Pointer(os.Pointer), KernelArgument.Pointer(hs.Pointer),
            (float)arCoef, (float)tarCoef, steps, bh);
        Launch(ArTarKernels.ArTarFinalize, 1, Threads, KernelArgument.Pointer(_scalars.At(1)), KernelArgument.Pointer(_artarPartials.Pointer),
            (int)grid, (float)arCoef, (float)tarCoef);
        var (ar, tar) = ReadScalars(1, 2);   // the step's second (8-byte) sync
        scratchO?.Dispose();
        scratchH?.Dispose();
        return new ArTarLoss(ar, tar);
    }

    public double TiedSoftmaxCrossEntropy(ITensor embedding, ITensor bias, ITensor o, ITensor targets, ITensor logits,
        ITensor? dO, ITensor? dEmbedding, ITensor? dBias, int rows)
    {
        Enter();
        bool gradients = dO is not null;
        if (gradients != (dEmbedding is not null) || gradients != (dBias is not null))
            throw new ArgumentException("TiedSoftmaxCrossEntropy takes all three gradients or none");
        var e = Floats(embedding); var c = Floats(bias); var os = Floats(o); var y = Tokens(targets); var z = Floats(logits);
        int vocab = (int)c.Length, hidden = (int)(e.Length / vocab);
        CheckFits((long)rows * hidden, os.Length, "TiedSoftmaxCrossEntropy o");
        CheckFits((long)rows * vocab, z.Length, "TiedSoftmaxCrossEntropy logits");
        CheckFits(rows, y.Length, "TiedSoftmaxCrossEntropy targets");
        CheckTokens(y, rows, vocab);
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "cross-entropy over no rows");
        var rowLoss = RowLoss(rows);

        // z = o·Eᵀ (row-major [rows,V]; cuda-interop.md §3.3 "forward Y = X·Wᵀ" with W = E [V,H]).
        Sgemm(CublasOperation.CUBLAS_OP_T, CublasOperation.CUBLAS_OP_N, vocab, rows, hidden, 1f, e.Pointer, hidden, os.Pointer, hidden, 0f, z.Pointer, vocab);
        uint block = Blocks.SoftmaxCrossEntropy != 0 ? Blocks.SoftmaxCrossEntropy : vocab >= 4096 ? 1024u : Threads;
        Launch(SoftmaxCrossEntropyKernels.SoftmaxCrossEntropy, (uint)rows, block, KernelArgument.Pointer(z.Pointer), KernelArgument.Pointer(rowLoss.Pointer),
            KernelArgument.Pointer(c.Pointer), KernelArgument.Pointer(y.Pointer), vocab, (float)(1.0f / rows), gradients ? 1 : 0);
        Launch(SoftmaxCrossEntropyKernels.CrossEntropyMean, 1, Threads, KernelArgument.Pointer(_scalars.At(0)), KernelArgument.Pointer(rowLoss.Pointer), rows);
        if (gradients)
        {
            var gO = Floats(dO!); var gE = Floats(dEmbedding!); var gc = Floats(dBias!);
            CheckFits((long)rows * hidden, gO.Length, "TiedSoftmaxCrossEntropy dO");
            // dO = dz·E ("input grad"), dE += dzᵀ·o ("weight grad", β = 1), dc += Σ_rows dz.
            Sgemm(CublasOperation.CUBLAS_OP_N, CublasOperation.CUBLAS_OP_N, hidden, rows, vocab, 1f, e.Pointer, hidden, z.Pointer, vocab, 0f, gO.Pointer, hidden);
            Sgemm(CublasOperation.CUBLAS_OP_N, CublasOperation.CUBLAS_OP_T, hidden, vocab, rows, 1f, os.Pointer, hidden, z.Pointer, vocab, 1f, gE.Pointer, hidden);
            Launch(SoftmaxCrossEntropyKernels.DecoderBiasBackward, (uint)((vocab + Threads - 1) / Threads), Threads,
                KernelArgument.Pointer(gc.Pointer), KernelArgument.Pointer(z.Pointer), rows, vocab);
        }
        return ReadScalars(0, 1).First;   // the step's one sync for the loss, after the gradient work is queued
    }

    public void GradientSquaredNorm(ITensor gradients, ITensor squaredNorm)
    {
        Enter();
        var g = Floats(gradients); var s = Floats(squaredNorm);
        CheckFits(1, s.Length, nameof(GradientSquaredNorm));
        Launch(NormKernels.SquaredNormPartials, _normBlocks, Blocks.Norm, KernelArgument.Pointer(_normPartials.Pointer), KernelArgument.Pointer(g.Pointer), g.Length);
        Launch(NormKernels.SquaredNormFinalize, 1, Threads, KernelArgument.Pointer(s.Pointer), KernelArgument.Pointer(_normPartials.Pointer), (int)_normBlocks);
    }

    public void ClipDecayUpdate(ITensor weights, ITensor gradients, ITensor squaredNorm, double clip, double lr, double weightDecay)
    {
        Enter();
        var w = Floats(weights); var g = Floats(gradients); var s = Floats(squaredNorm);
        if (w.Length != g.Length) throw new ArgumentException("ClipDecayUpdate needs weights and gradients of one length");
        if (w.Length == 0) return;
        uint grid = (uint)Math.Clamp((w.Length + Blocks.Sgd - 1) / Blocks.Sgd, 1, 16 * _multiprocessors);
        Launch(SgdKernels.ClipDecayUpdate, grid, Blocks.Sgd, KernelArgument.Pointer(w.Pointer), KernelArgument.Pointer(g.Pointer), KernelArgument.Pointer(s.Pointer),
            (float)clip, (float)lr, (float)weightDecay, w.Length);
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
        _context.MakeCurrent();   // .NET may have moved us to another OS thread (cuda-interop.md §3.1, §5.9)
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

    // cudnnGetRNNWeightParams describes a block as 3-D {1, rows, columns}, read row-major (cuda-interop.md §4.5); any other
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

    private static void CheckRows(int rows, int hidden, CudaTensor tokens, CudaTensor data, string op)
    {
        if (rows < 0 || hidden <= 0) throw new ArgumentOutOfRangeException(nameof(rows), $"{op}: rows {rows}, hidden {hidden}");
        CheckFits(rows, tokens.Length, op);
        CheckFits((long)rows * hidden, data.Length, op);
    }

    private static void CheckCount(long count, CudaTensor a, CudaTensor b, string op)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        CheckFits(count, Math.Min(a.Length, b.Length), op);
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
