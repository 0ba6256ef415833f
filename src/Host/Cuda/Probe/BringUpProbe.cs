using System.Globalization;
using System.Runtime.InteropServices;
using ArTar.Backends;
using ArTar.Cpu;

namespace ArTar.Cuda.Probe;

/// <summary>
/// <c>artar device --probe</c> (docs/cuda.md, "Bring-up probe"): the CUDA engine brought up one stage at a time, so the
/// first run on a GPU names every cause at once. Driver, device and context; each PTX module on its own; cuBLAS and one
/// SGEMM; cuDNN; the <see cref="CudaBackend"/>; each op of our kernels on tiny inputs against <see cref="CpuBackend{T}"/>;
/// cuDNN's RNN descriptor and weight layout at the ptb-650 shapes per cell; one RNN layer forward and backward per cell.
/// The DAG and the table are <see cref="BringUpRunner"/>'s; cuDNN's answers and exceptions go to the detail log.
/// </summary>
public sealed unsafe class BringUpProbe : IDisposable
{
    /// <summary>Norm-wise relative error allowed against the CPU float64 reference (as the Gpu tests).</summary>
    public const double Tolerance = 1e-4;

    // config/ptb-650.json: the shapes whose cuDNN answers the paper's runs depend on.
    private const int PaperVocab = 10000, PaperHidden = 650, PaperLayers = 2;
    private const long GiB = 1L << 30;

    private static readonly CellType[] Cells = [CellType.Lstm, CellType.Gru, CellType.Rnn];

    private readonly TextWriter _log;
    private readonly int _ordinal;
    private readonly CpuBackend<double> _cpu = new();
    private readonly CpuBackend<float> _cpu32 = new();
    private int _device;
    private CudaContext? _context;
    private CublasHandle? _blas;
    private CudnnHandle? _dnn;
    private CudnnDropoutDescriptor? _noDropout;
    private CudaBackend? _backend;
    private IBackend? _gpu;   // the backend the op and layer stages check: _backend, or a test's stand-in

    public BringUpProbe(TextWriter log, int ordinal = 0)
    {
        _log = log;
        _ordinal = ordinal;
    }

    /// <summary>
    /// The op and layer checks with <paramref name="standIn"/> in the GPU's place (tests: CpuBackend&lt;float&gt; must pass
    /// them, so no comparison is against zeros or tighter than float32 allows).
    /// </summary>
    internal BringUpProbe(TextWriter log, IBackend standIn) : this(log) => _gpu = standIn;

    /// <summary>One stage per op of our kernels, with the kernels it launches: together every <see cref="KernelDeclaration"/>.</summary>
    internal IReadOnlyList<(string Stage, KernelDeclaration[] Kernels, Func<StageResult> Check)> OpStages() =>
    [
        ("op EmbeddingForward", [EmbeddingKernels.EmbeddingForward], EmbeddingForward),
        ("op EmbeddingBackward", [EmbeddingKernels.EmbeddingBackward], EmbeddingBackward),
        ("op DropoutForward", [DropoutKernels.DropoutForward], DropoutForward),
        ("op DropoutBackward", [DropoutKernels.DropoutBackward], DropoutBackward),
        ("op ArTarRegularization", [ArTarRegularizationKernels.ArTarForwardBackward, ArTarRegularizationKernels.ArTarFinalize], ArTarRegularization),
        ("op TiedSoftmaxCrossEntropy", [TiedSoftmaxCrossEntropyKernels.SoftmaxCrossEntropy, TiedSoftmaxCrossEntropyKernels.CrossEntropyMean,
            TiedSoftmaxCrossEntropyKernels.DecoderBiasBackward], TiedSoftmaxCrossEntropy),
        ("op GradientSquaredNorm", [GradientSquaredNormKernels.SquaredNormPartials, GradientSquaredNormKernels.SquaredNormFinalize], GradientSquaredNorm),
        ("op ClipDecayUpdate", [ClipDecayUpdateKernels.ClipDecayUpdate], ClipDecayUpdate),
    ];

    /// <summary>The PTX modules to load: those embedded and those the declarations name (one missing from the build fails its stage).</summary>
    public static IReadOnlyList<string> Modules { get; } = PtxModules.Names.Concat(CudaKernelLibrary.Declarations.Select(d => d.Module))
        .Distinct().Order(StringComparer.Ordinal).ToArray();

    public static string ModuleStage(string module) => "module " + module;

    /// <summary>Every stage, in dependency order (each names only earlier stages).</summary>
    public IReadOnlyList<BringUpStage> Stages()
    {
        var stages = new List<BringUpStage>
        {
            new("cuInit", [], CuInit),
            new("device", ["cuInit"], Device),
            new("context", ["device"], Context),
        };
        foreach (var module in Modules) stages.Add(new(ModuleStage(module), ["context"], () => Module(module)));
        stages.Add(new("cublasCreate", ["context"], CublasCreate));
        stages.Add(new("sgemm", ["cublasCreate"], Sgemm));
        stages.Add(new("cudnnCreate", ["context"], CudnnCreate));
        // The backend loads every module and creates its own handles: it needs what those stages checked alone.
        stages.Add(new("backend", ["cublasCreate", "cudnnCreate", .. Modules.Select(ModuleStage)], Backend));
        foreach (var (name, kernels, check) in OpStages())
        {
            string[] needs = ["backend", .. kernels.Select(k => ModuleStage(k.Module)).Distinct()];
            if (name == "op TiedSoftmaxCrossEntropy") needs = [.. needs, "sgemm"];   // its logits and gradients are cuBLAS GEMMs
            stages.Add(new(name, needs, check));
        }
        // cuDNN's RNN calls last: native code that crashes the process would take no other stage with it.
        foreach (var cell in Cells) stages.Add(new($"cudnn {cell.ConfigName()} ptb-650", ["cudnnCreate"], () => PaperWeights(cell)));
        foreach (var (name, check) in LayerStages()) stages.Add(new(name, ["backend"], check));
        return stages;
    }

    /// <summary>One RNN layer forward and backward through the backend, per cell.</summary>
    internal IReadOnlyList<(string Stage, Func<StageResult> Check)> LayerStages() =>
        [.. Cells.Select(cell => ($"cudnn {cell.ConfigName()} layer", (Func<StageResult>)(() => RnnLayer(cell))))];

    /// <summary>Runs every stage (never throws from a stage); the caller formats the rows with <see cref="BringUpRunner.FormatTable"/>.</summary>
    public IReadOnlyList<StageRow> Run() => BringUpRunner.Run(Stages(), _log);

    // -------------------------------------------------------------------------------------------------------------
    // Driver, device, context, modules

    private StageResult CuInit()
    {
        if (!CudaLibraries.TryLoad("cuda", out _)) return StageResult.Skipped(CudaLibraries.NotFoundMessage("cuda"));
        _log.WriteLine($"  libcuda.so.1: {CudaLibraries.LoadedFrom("cuda")}");
        CudaStatus.Check(CudaDriver.cuInit(0));
        CudaStatus.Check(CudaDriver.cuDriverGetVersion(out int driver));
        return StageResult.Ok($"driver {driver / 1000}.{driver % 1000 / 10} ({driver})");
    }

    private StageResult Device()
    {
        CudaStatus.Check(CudaDriver.cuDeviceGetCount(out int count));
        if (_ordinal >= count) return StageResult.Failed($"device {_ordinal} does not exist ({count} present)");
        CudaStatus.Check(CudaDriver.cuDeviceGet(out _device, _ordinal));
        byte* name = stackalloc byte[256];
        CudaStatus.Check(CudaDriver.cuDeviceGetName(name, 256, _device));
        string deviceName = Marshal.PtrToStringUTF8((nint)name) ?? "?";
        int Attribute(CuDeviceAttribute a)
        {
            CudaStatus.Check(CudaDriver.cuDeviceGetAttribute(out int value, a, _device));
            return value;
        }
        int major = Attribute(CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = Attribute(CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        int sms = Attribute(CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        _log.WriteLine($"  max threads/block {Attribute(CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK)}, " +
            $"shared memory/block {Attribute(CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK)} B, " +
            $"L2 {Attribute(CuDeviceAttribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)} B");
        if (major < CudaAvailability.MinimumComputeMajor)
            return StageResult.Failed($"{deviceName} has compute capability {major}.{minor}; the PTX targets sm_80, so 8.0 or newer is needed");
        return StageResult.Ok($"{deviceName} (sm_{major}{minor}), {sms} multiprocessors, device {_ordinal} of {count}");
    }

    private StageResult Context()
    {
        _context = CudaContext.RetainPrimary(_device);
        CudaStatus.Check(CudaDriver.cuMemGetInfo_v2(out nuint free, out nuint total));
        return StageResult.Ok(FormattableString.Invariant($"primary context current; {(double)free / GiB:F1} of {(double)total / GiB:F1} GiB free"));
    }

    /// <summary>JIT-compiles one module (the JIT's error log is in the message of a refusal) and resolves each kernel declared in it.</summary>
    private StageResult Module(string module)
    {
        _context!.MakeCurrent();
        var header = PtxModules.ReadText(module).Split('\n').Select(l => l.Trim())
            .Where(l => l.StartsWith(".version", StringComparison.Ordinal) || l.StartsWith(".target", StringComparison.Ordinal)).ToArray();
        _log.WriteLine($"  kernels/{module}.ptx: {string.Join(", ", header)}");
        using var loaded = CudaKernelLibrary.LoadModule(module);
        var entries = CudaKernelLibrary.Declarations.Where(d => d.Module == module).ToArray();
        foreach (var d in entries)
            CudaStatus.Check(CudaDriver.cuModuleGetFunction(out _, loaded, d.Entry), $"{d.Entry} in kernels/{module}.ptx");
        if (entries.Length == 0) return StageResult.Failed($"kernels/{module}.ptx is embedded but no KernelDeclaration names it (src/Host/Cuda/Kernels.cs)");
        return StageResult.Ok($"{string.Join(" ", header)}; {string.Join(", ", entries.Select(e => e.Entry))}");
    }

    // -------------------------------------------------------------------------------------------------------------
    // cuBLAS, cuDNN, the backend

    private StageResult CublasCreate()
    {
        if (!CudaLibraries.TryLoad("cublas", out _)) return StageResult.Failed(CudaLibraries.NotFoundMessage("cublas"));
        _log.WriteLine($"  cuBLAS: {CudaLibraries.LoadedFrom("cublas")}; cuBLASLt: {CudaLibraries.LoadedFrom("cublasLt") ?? "not loaded"}");
        _context!.MakeCurrent();
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.MAJOR_VERSION, out int major));
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.MINOR_VERSION, out int minor));
        CudaStatus.Check(Cublas.cublasGetProperty(LibraryPropertyType.PATCH_LEVEL, out int patch));
        CudaStatus.Check(Cublas.cublasCreate_v2(out var blas));
        _blas = blas;
        CudaStatus.Check(Cublas.cublasSetMathMode(blas, CublasMath.CUBLAS_DEFAULT_MATH));
        return StageResult.Ok($"cuBLAS {major}.{minor}.{patch}, handle created, FP32 math");
    }

    /// <summary>The tied decoder's forward GEMM, z = o·Eᵀ row-major (<see cref="CudaBackend.TiedSoftmaxCrossEntropy"/>), against a host loop.</summary>
    private StageResult Sgemm()
    {
        const int vocab = 37, rows = 5, hidden = 11;
        var e = Random(vocab * hidden, 1);
        var o = Random(rows * hidden, 2);
        var expected = new float[rows * vocab];
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < vocab; v++)
            {
                double sum = 0;
                for (int k = 0; k < hidden; k++) sum += (double)o[r * hidden + k] * e[v * hidden + k];
                expected[r * vocab + v] = (float)sum;
            }
        _context!.MakeCurrent();
        using var de = ToDevice(e);
        using var dO = ToDevice(o);
        using var dz = DeviceMemory.Allocate((nuint)expected.Length * sizeof(float));
        float one = 1f, zero = 0f;
        CudaStatus.Check(Cublas.cublasSgemm_v2(_blas!, CublasOperation.CUBLAS_OP_T, CublasOperation.CUBLAS_OP_N, vocab, rows, hidden,
            &one, de.Pointer, hidden, dO.Pointer, hidden, &zero, dz.Pointer, vocab));
        CudaStatus.Check(CudaDriver.cuCtxSynchronize());
        var z = new float[expected.Length];
        fixed (float* p = z) CudaStatus.Check(CudaDriver.cuMemcpyDtoH_v2(p, dz.Pointer, (nuint)z.Length * sizeof(float)));
        var parity = new Parity(_log);
        parity.Close($"z = o·Eᵀ [{rows}×{hidden}]·[{vocab}×{hidden}]ᵀ", z, expected);
        return parity.Result();
    }

    private StageResult CudnnCreate()
    {
        if (!CudaLibraries.TryLoad("cudnn", out _)) return StageResult.Failed(CudaLibraries.NotFoundMessage("cudnn"));
        _log.WriteLine($"  cuDNN: {CudaLibraries.LoadedFrom("cudnn")}; built against CUDA runtime {Cudnn.cudnnGetCudartVersion()}");
        ulong v = Cudnn.cudnnGetVersion();
        string version = $"{v / 10000}.{v / 100 % 100}.{v % 100}";
        if (v / 10000 != 9) return StageResult.Failed($"cuDNN {version} found; the RNN calls need cuDNN 9");
        _context!.MakeCurrent();
        CudaStatus.Check(Cudnn.cudnnCreate(out var dnn));
        _dnn = dnn;
        _noDropout = CudaBackend.NoDropout(dnn);
        return StageResult.Ok($"cuDNN {version}, handle and p = 0 dropout descriptor created");
    }

    private StageResult Backend()
    {
        _gpu = _backend = new CudaBackend(_ordinal);
        return StageResult.Ok(_backend.Description);
    }

    // -------------------------------------------------------------------------------------------------------------
    // Our kernels, one op at a time, against the CPU backend (inputs as in tests/ArTar.Tests/Gpu/CudaOpParityTests.cs)

    private StageResult EmbeddingForward()
    {
        const int vocab = 50, hidden = 37, rows = 40;
        var table = Random(vocab * hidden, 1);
        var ids = RandomTokens(rows, 12, 2);
        float[] Run(IBackend b)
        {
            using var e = Put(b, table); using var x = PutTokens(b, ids); using var y = b.Allocate(rows * hidden);
            b.EmbeddingForward(e, x, y, rows, hidden);
            return Get(b, y);
        }
        var parity = new Parity(_log);
        parity.Exact("y (a lookup is a copy)", Run(_gpu!), Run(_cpu));
        return parity.Result();
    }

    private StageResult EmbeddingBackward()
    {
        const int vocab = 50, hidden = 37, rows = 40;
        var ids = RandomTokens(rows, 12, 2);   // few distinct ids: many rows add into one
        var dy = Random(rows * hidden, 3);
        var dE0 = Random(vocab * hidden, 4);
        float[] Run(IBackend b)
        {
            using var x = PutTokens(b, ids); using var g = Put(b, dy); using var de = Put(b, dE0);
            b.EmbeddingBackward(g, x, de, rows, hidden);
            return Get(b, de);
        }
        var parity = new Parity(_log);
        parity.Close("dE (accumulated)", Run(_gpu!), Run(_cpu));
        return parity.Result();
    }

    private static readonly DropoutMask ProbeMask = new(0.3, 0xDEADBEEF_12345678UL, (1L << 32) + 7, 2);

    private StageResult DropoutForward()
    {
        const int n = 1001;   // not a multiple of 4
        var x = Random(n, 5);
        float[] Run(IBackend b)
        {
            using var xs = Put(b, x); using var y = b.Allocate(n);
            b.DropoutForward(xs, y, n, ProbeMask);
            return Get(b, y);
        }
        var gpu = Run(_gpu!);
        var parity = new Parity(_log);
        parity.Exact("y (bit for bit against the float CPU)", gpu, Run(_cpu32));
        parity.Note($"{gpu.Count(v => v == 0)} of {n} dropped at p = {ProbeMask.Probability}");
        return parity.Result();
    }

    private StageResult DropoutBackward()
    {
        const int n = 1001;
        var dy = Random(n, 5);
        var dx0 = Random(n, 6);
        (float[] Added, float[] Set) Run(IBackend b)
        {
            using var dys = Put(b, dy); using var dx = Put(b, dx0); using var dxSet = Put(b, dx0);
            b.DropoutBackward(dys, dx, n, ProbeMask, accumulate: true);
            b.DropoutBackward(dys, dxSet, n, ProbeMask, accumulate: false);
            return (Get(b, dx), Get(b, dxSet));
        }
        var gpu = Run(_gpu!);
        var cpu = Run(_cpu32);
        var parity = new Parity(_log);
        parity.Exact("dx accumulated", gpu.Added, cpu.Added);
        parity.Exact("dx set", gpu.Set, cpu.Set);
        return parity.Result();
    }

    private StageResult ArTarRegularization()
    {
        const int steps = 6, batch = 3, hidden = 10, n = steps * batch * hidden;
        const double alpha = 2.0, beta = 1.0;
        var o = Random(n, 20); var h = Random(n, 21); var dO0 = Random(n, 22); var dH0 = Random(n, 23);
        (ArTarLoss Loss, float[] DO, float[] DH) Run(IBackend b)
        {
            using var os = Put(b, o); using var hs = Put(b, h); using var dO = Put(b, dO0); using var dH = Put(b, dH0);
            var loss = b.ArTarRegularization(os, hs, dO, dH, steps, batch, hidden, alpha, beta);
            return (loss, Get(b, dO), Get(b, dH));
        }
        var gpu = Run(_gpu!);
        var cpu = Run(_cpu);
        var parity = new Parity(_log);
        parity.Close("AR", gpu.Loss.Ar, cpu.Loss.Ar);
        parity.Close("TAR", gpu.Loss.Tar, cpu.Loss.Tar);
        parity.Close("dO", gpu.DO, cpu.DO);
        parity.Close("dH", gpu.DH, cpu.DH);
        return parity.Result();
    }

    private StageResult TiedSoftmaxCrossEntropy()
    {
        const int vocab = 5000, hidden = 24, rows = 15;   // V ≥ 4096: the 1024-thread launch that ptb's 10,000 words take
        var e = Random(vocab * hidden, 30, 0.5); var c = Random(vocab, 31, 0.5); var o = Random(rows * hidden, 32);
        var y = RandomTokens(rows, vocab, 33); var dE0 = Random(vocab * hidden, 34); var dc0 = Random(vocab, 35);
        (double Loss, double Eval, float[] DO, float[] DE, float[] Dc) Run(IBackend b)
        {
            using var es = Put(b, e); using var cs = Put(b, c); using var os = Put(b, o); using var ys = PutTokens(b, y);
            using var z = b.Allocate((long)rows * vocab); using var dO = b.Allocate(rows * hidden);
            using var dE = Put(b, dE0); using var dc = Put(b, dc0);
            double eval = b.TiedSoftmaxCrossEntropy(es, cs, os, ys, z, null, null, null, rows);
            double loss = b.TiedSoftmaxCrossEntropy(es, cs, os, ys, z, dO, dE, dc, rows);
            return (loss, eval, Get(b, dO), Get(b, dE), Get(b, dc));
        }
        var gpu = Run(_gpu!);
        var cpu = Run(_cpu);
        var parity = new Parity(_log);
        parity.Close("CE", gpu.Loss, cpu.Loss);
        parity.Close("CE without gradients", gpu.Eval, cpu.Eval);
        parity.Close("dO", gpu.DO, cpu.DO);
        parity.Close("dE", gpu.DE, cpu.DE);
        parity.Close("dc", gpu.Dc, cpu.Dc);
        return parity.Result();
    }

    private StageResult GradientSquaredNorm()
    {
        const int n = 100_003;
        var g = Random(n, 41, 0.01);
        float Run(IBackend b)
        {
            using var gs = Put(b, g); using var s = b.Allocate(1);
            b.GradientSquaredNorm(gs, s);
            return Get(b, s)[0];
        }
        var parity = new Parity(_log);
        parity.Close("‖g‖²", Run(_gpu!), Run(_cpu));
        return parity.Result();
    }

    /// <summary>‖g‖² is given (uploaded): this stage needs only the sgd module, not the norm's.</summary>
    private StageResult ClipDecayUpdate()
    {
        const int n = 100_003;
        var w = Random(n, 40); var g = Random(n, 41, 0.01);
        double squaredNorm = g.Sum(v => (double)v * v);
        var parity = new Parity(_log);
        foreach (double clip in new[] { 0.25, 1e6 })   // clipping active, and not
        {
            float[] Run(IBackend b)
            {
                using var ws = Put(b, w); using var gs = Put(b, g); using var s = Put(b, [(float)squaredNorm]);
                b.ClipDecayUpdate(ws, gs, s, clip, 20.0, 1e-7);
                return Get(b, ws);
            }
            var gpu = Run(_gpu!);
            var cpu = Run(_cpu);
            parity.Close($"w, clip {clip}", gpu, cpu);
            parity.Close($"the update alone, clip {clip}", Subtract(gpu, w), Subtract(cpu, w), 1e-3);
        }
        return parity.Result();
    }

    // -------------------------------------------------------------------------------------------------------------
    // cuDNN's RNN at the paper's shapes, and one layer on tiny data

    /// <summary>
    /// What <see cref="CudaBackend.CreateParameters"/> asks cuDNN for a ptb-650 model, on the probe's own handle: each layer's
    /// descriptor, weight-space size and every cudnnGetRNNWeightParams answer (logged), mapped by <see cref="CudnnWeightMapping"/>.
    /// </summary>
    private StageResult PaperWeights(CellType cell)
    {
        _context!.MakeCurrent();
        var shape = new ModelShape(cell, PaperVocab, PaperHidden, PaperLayers);
        var descriptors = new CudnnRnnDescriptor[shape.Layers];
        var sizes = new long[shape.Layers];
        try
        {
            for (int k = 0; k < shape.Layers; k++)
            {
                descriptors[k] = CudaBackend.NewRnnDescriptor(cell, shape.LayerInput(k), shape.Hidden, _noDropout!);
                CudaStatus.Check(Cudnn.cudnnGetRNNWeightSpaceSize(_dnn!, descriptors[k], out nuint bytes), $"layer {k}");
                sizes[k] = (long)bytes;
                _log.WriteLine($"  layer {k}: input {shape.LayerInput(k)}, hidden {shape.Hidden}: weight space {bytes} bytes");
            }
            var layout = CudaArenaLayout.Plan(shape, sizes);
            CudaStatus.Check(Cudnn.cudnnCreateTensorDescriptor(out var matrixDescriptor));
            CudaStatus.Check(Cudnn.cudnnCreateTensorDescriptor(out var biasDescriptor));
            var split = new List<string>();
            using (matrixDescriptor)
            using (biasDescriptor)
            {
                for (int k = 0; k < shape.Layers; k++)
                {
                    nuint bytes = (nuint)sizes[k];
                    using var space = DeviceMemory.Allocate(bytes);
                    var table = new List<CudnnLinearLayer>();
                    for (int id = 0; id < 2 * shape.Gates; id++)
                    {
                        var entry = CudaBackend.LinearLayer(_dnn!, descriptors[k], bytes, space.Pointer, k, id, shape.Hidden, matrixDescriptor, biasDescriptor);
                        _log.WriteLine($"  layer {k} linLayerID {id}: matrix {Dims(matrixDescriptor)} at element {entry.MatrixOffset} " +
                            $"(read {entry.Rows}×{entry.Columns}), bias {Dims(biasDescriptor)} at element {entry.BiasOffset} ({entry.BiasLength})");
                        table.Add(entry);
                    }
                    var map = CudnnWeightMapping.Map(shape, k, table, layout.LayerOffsets[k], layout.LayerElements[k]);
                    foreach (var (name, pieces) in map)
                    {
                        _log.WriteLine($"  {name}: {pieces.Length} piece(s): " +
                            string.Join(", ", pieces.Select(p => $"canonical {p.CanonicalOffset} → arena {p.ArenaOffset} ({p.Length})")));
                        if (pieces.Length > 1) split.Add($"{name} in {pieces.Length} pieces");
                    }
                }
            }
            string sizesText = string.Join(" + ", sizes.Select(s => s.ToString("N0", CultureInfo.InvariantCulture)));
            return StageResult.Ok($"weight space {sizesText} bytes; {2 * shape.Gates} matrices and biases a layer map to the canonical tensors; " +
                (split.Count == 0 ? "each tensor one run" : "gathered by piece: " + string.Join(", ", split)));
        }
        finally
        {
            foreach (var d in descriptors) d?.Dispose();
        }
    }

    /// <summary>One layer's training forward and its backward (data, then weights) against CPU float64, as RnnLayerForwardAndBackward.</summary>
    private StageResult RnnLayer(CellType cell)
    {
        const int hidden = 16, batch = 3, steps = 5, maxSteps = 7, layer = 1;
        var shape = new ModelShape(cell, 10, hidden, 2);
        bool lstm = cell == CellType.Lstm;
        var weights = shape.Parameters().Select((s, i) => (s.Name, Values: Random((int)s.Count, 100 + i, 0.4))).ToArray();
        int n = steps * batch * hidden, bh = batch * hidden;
        var x = Random(n, 10); var h0 = Random(bh, 11); var c0 = Random(bh, 12); var dy = Random(n, 13);
        string[] own = [ModelShape.WeightIh(layer), ModelShape.WeightHh(layer), ModelShape.BiasIh(layer), ModelShape.BiasHh(layer)];
        Dictionary<string, float[]> Run(IBackend b)
        {
            using var arena = b.CreateParameters(shape);
            foreach (var (name, values) in weights) arena.Write(name, values);
            using var reserve = b.CreateRnnReserve(shape, layer, maxSteps, batch);
            using var xs = Put(b, x); using var h = Put(b, h0); using var c = Put(b, c0);
            using var y = b.Allocate((long)maxSteps * batch * hidden); using var hT = b.Allocate(bh); using var cT = b.Allocate(bh);
            using var dys = Put(b, dy); using var dx = b.Allocate((long)maxSteps * batch * hidden);
            using var dh0 = b.Allocate(bh); using var dc0 = b.Allocate(bh);
            b.RnnForward(arena, layer, xs, h, lstm ? c : null, y, hT, lstm ? cT : null, reserve, steps, batch, training: true);
            var result = new Dictionary<string, float[]> { ["forward y"] = Get(b, y, n), ["forward hT"] = Get(b, hT) };
            if (lstm) result["forward cT"] = Get(b, cT);
            b.RnnBackward(arena, layer, dys, dx, dh0, lstm ? dc0 : null, reserve);
            result["backward-data dx"] = Get(b, dx, n);
            result["backward-data dh0"] = Get(b, dh0);
            if (lstm) result["backward-data dc0"] = Get(b, dc0);
            foreach (var name in own)
            {
                var g = new float[shape.Parameters().Single(s => s.Name == name).Count];
                if (arena is CudaParameterArena cuda) cuda.ReadGradient(name, g);
                else b.Download(arena.Gradient(name), g);
                result["backward-weights " + name] = g;
            }
            return result;
        }
        var gpu = Run(_gpu!);
        var cpu = Run(_cpu);
        var parity = new Parity(_log);
        foreach (var (key, expected) in cpu) parity.Close(key, gpu[key], expected);
        return parity.Result();
    }

    // -------------------------------------------------------------------------------------------------------------

    /// <summary>Frees in the order that keeps the primary context alive for every release; never throws.</summary>
    public void Dispose()
    {
        try
        {
            _context?.MakeCurrent();
            _noDropout?.Dispose();
            _dnn?.Dispose();
            _blas?.Dispose();
            _backend?.Dispose();
        }
        catch (Exception e)
        {
            _log.WriteLine($"  releasing the probe's CUDA objects: {e.GetType().Name}: {e.Message}");
        }
        _context?.Dispose();
    }

    /// <summary>"float [1, 650, 650] strides [422500, 650, 1]": a tensor descriptor as cuDNN filled it.</summary>
    private static string Dims(CudnnTensorDescriptor descriptor)
    {
        int* dims = stackalloc int[8];
        int* strides = stackalloc int[8];
        CudaStatus.Check(Cudnn.cudnnGetTensorNdDescriptor(descriptor, 8, out var type, out int nbDims, dims, strides));
        var d = new int[Math.Min(nbDims, 8)];
        var s = new int[d.Length];
        for (int i = 0; i < d.Length; i++) { d[i] = dims[i]; s[i] = strides[i]; }
        return $"{type} [{string.Join(", ", d)}] strides [{string.Join(", ", s)}]";
    }

    private static DeviceMemory ToDevice(float[] values)
    {
        var memory = DeviceMemory.Allocate((nuint)values.Length * sizeof(float));
        fixed (float* p = values) CudaStatus.Check(CudaDriver.cuMemcpyHtoD_v2(memory.Pointer, p, (nuint)values.Length * sizeof(float)));
        return memory;
    }

    // Fresh inputs and host↔backend copies of the op checks; the Gpu parity tests (GpuTestBase) use the same ones.
    internal static float[] Random(int count, int seed, double scale = 1.0)
    {
        var rng = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return values;
    }

    internal static int[] RandomTokens(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(vocab)).ToArray();
    }

    internal static ITensor Put(IBackend backend, float[] values)
    {
        var t = backend.Allocate(values.Length);
        backend.Upload(values, t);
        return t;
    }

    internal static ITensor PutTokens(IBackend backend, int[] ids)
    {
        var t = backend.AllocateTokens(ids.Length);
        backend.UploadTokens(ids, t);
        return t;
    }

    internal static float[] Get(IBackend backend, ITensor t, long count = -1)
    {
        var values = new float[count < 0 ? t.Length : count];
        backend.Download(t, values);
        return values;
    }

    private static float[] Subtract(float[] a, float[] b) => a.Zip(b, (x, y) => x - y).ToArray();

    /// <summary>
    /// A stage's comparisons, each logged. The result: ok with each comparison's relative error ("exact" when bit for bit),
    /// summed up as the worst of them when there are many; or FAILED naming every comparison above its tolerance.
    /// </summary>
    private sealed class Parity(TextWriter log)
    {
        private const int Listed = 4;
        private readonly List<(string What, double Error)> _seen = [];
        private readonly List<string> _notes = [], _bad = [];

        public void Close(string what, float[] actual, float[] expected, double tolerance = Tolerance)
        {
            if (actual.Length != expected.Length) { Bad(what, $"{actual.Length} values, the CPU has {expected.Length}"); return; }
            if (expected.All(v => v == 0)) { Bad(what, "the CPU reference is all zeros, nothing compared"); return; }
            double diff = 0, norm = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                double d = (double)actual[i] - expected[i];
                diff += d * d;
                norm += (double)expected[i] * expected[i];
            }
            Error(what, Math.Sqrt(diff / norm), tolerance);
        }

        public void Close(string what, double actual, double expected)
        {
            log.WriteLine($"  {what}: {actual:R} vs CPU {expected:R}");
            Error(what, Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-30), Tolerance);
        }

        public void Exact(string what, float[] actual, float[] expected)
        {
            if (actual.Length != expected.Length) { Bad(what, $"{actual.Length} values, the CPU has {expected.Length}"); return; }
            int differ = actual.Zip(expected).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
            if (differ > 0) { Bad(what, $"{differ} of {actual.Length} values differ from the CPU's"); return; }
            log.WriteLine($"  {what}: identical ({actual.Length} values)");
            _seen.Add((what, 0));
        }

        public void Note(string text)
        {
            log.WriteLine($"  {text}");
            _notes.Add(text);
        }

        public StageResult Result()
        {
            if (_bad.Count > 0) return StageResult.Failed(string.Join("; ", _bad));
            var worst = _seen.MaxBy(s => s.Error);
            IEnumerable<string> parts = _seen.Count <= Listed
                ? _seen.Select(s => $"{s.What} {Text(s.Error)}")
                : [$"{_seen.Count} comparisons, worst relative error {Text(worst.Error)} ({worst.What})"];
            return StageResult.Ok(string.Join("; ", parts.Concat(_notes)));
        }

        private static string Text(double error) => error == 0 ? "exact" : error.ToString("0.0e+0", CultureInfo.InvariantCulture);

        private void Error(string what, double error, double tolerance)
        {
            if (error >= tolerance || double.IsNaN(error)) { Bad(what, $"relative error {Text(error)}, above {tolerance.ToString("0.#e+0", CultureInfo.InvariantCulture)}"); return; }
            log.WriteLine($"  {what}: relative error {Text(error)}");
            _seen.Add((what, error));
        }

        private void Bad(string what, string why)
        {
            log.WriteLine($"  {what}: {why}");
            _bad.Add($"{what}: {why}");
        }
    }
}
