// Suite "gpu" (tools/gpu-check.sh runs it as `ArTar.Bench.dll gpu --json PATH`): the GPU ceilings (device-to-device
// copy, cuBLAS SGEMM in FP32 and TF32), every op of CudaBackend at the ptb-650 and wt2-650 shapes, each custom kernel
// checked against CpuBackend<float> and then timed at several block sizes (llm.c dev/cuda), and the training throughput
// of ptb-650 and ptb-tiny beside PyTorch with cuDNN. Without a GPU: the probe's reason, a JSON saying skipped, exit 0.
using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;

namespace ArTar.Bench;

internal sealed record GpuCeilings(string Device, double CopyGBps, long CopyBytes, double SgemmFp32Gflops, double SgemmTf32Gflops, int GemmSize);

internal static unsafe class GpuBench
{
    /// <summary>Block sizes tried per kernel family; the first of each list that is also the default is marked in the table.</summary>
    private static readonly uint[] BlockSizes = [64, 128, 256, 512, 1024];
    private static readonly uint[] SoftmaxBlockSizes = [128, 256, 512, 1024];

    public static int Run(string[] args)
    {
        var o = Options.Parse("gpu", args, "artifacts/bench-gpu.json");
        if (o is null) return 2;
        var probe = CudaAvailability.Probe();
        if (!probe.Available)
        {
            Console.WriteLine($"gpu: skipped: {probe}");
            Machine.WriteJson(o.Json, new { suite = "gpu", date = Machine.Date(), skipped = probe.ToString() });
            return 0;
        }
        CudaBackend cuda;
        try { cuda = new CudaBackend(); }
        catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
        {
            Console.Error.WriteLine($"gpu: the CUDA backend did not start although the probe found {probe}: {e.Message}");
            Machine.WriteJson(o.Json, new { suite = "gpu", date = Machine.Date(), failed = e.Message });
            return 1;
        }
        using var _ = cuda;
        Console.WriteLine($"== gpu: {cuda.Description}");
        // The JSON is rewritten after each part, so a run stopped by the check's timeout keeps the parts it finished.
        void Write(string done, GpuCeilings ceilings, List<OpRow>? ops, List<ThroughputRow>? throughput) =>
            Machine.WriteJson(o.Json, new { suite = "gpu", date = Machine.Date(), device = cuda.Description, done, ceilings, ops, throughput,
                checksFailed = ops?.Count(r => r.Checked == false) });
        var ceilings = MeasureCeilings(cuda, o.Seconds);
        Write("ceilings", ceilings, null, null);
        var ops = RunOps(cuda, ceilings, o.Seconds);
        Write("ceilings, ops", ceilings, ops, null);
        var throughput = ThroughputBench.RunOn(cuda, o);
        Write("ceilings, ops, throughput", ceilings, ops, throughput);
        int failed = ops.Count(r => r.Checked == false);
        if (failed > 0) Console.WriteLine($"gpu: {failed} kernel result(s) differ from the CPU reference (FAIL rows above)");
        return failed > 0 ? 1 : 0;
    }

    // ---- ceilings ----------------------------------------------------------------------------------------------

    public static GpuCeilings MeasureCeilings(CudaBackend cuda, double seconds)
    {
        cuda.Synchronize();
        var stream = cuda.Stream;
        const long copyBytes = 1L << 30;   // 1 GiB each way: far past the L2 of any current GPU
        double copyGBps;
        using (var a = DeviceMemory.Allocate((nuint)copyBytes))
        using (var b = DeviceMemory.Allocate((nuint)copyBytes))
        {
            CudaStatus.Check(CudaDriver.cuMemsetD32Async(a.Pointer, 0x3f800000, (nuint)(copyBytes / 4), stream));
            double ms = TimeMs(cuda, () => CudaStatus.Check(CudaDriver.cuMemcpyDtoDAsync_v2(b.Pointer, a.Pointer, (nuint)copyBytes, stream)), seconds);
            copyGBps = 2.0 * copyBytes / (ms * 1e6);   // read + write
        }

        const int n = 8192;
        double fp32, tf32;
        using (var a = DeviceMemory.Allocate((nuint)n * n * 4))
        using (var b = DeviceMemory.Allocate((nuint)n * n * 4))
        using (var c = DeviceMemory.Allocate((nuint)n * n * 4))
        {
            CudaStatus.Check(CudaDriver.cuMemsetD32Async(a.Pointer, 0x3c23d70a, (nuint)n * n, stream));   // 0.01f
            CudaStatus.Check(CudaDriver.cuMemsetD32Async(b.Pointer, 0x3c23d70a, (nuint)n * n, stream));
            CudaStatus.Check(Cublas.cublasCreate_v2(out var blas));
            using (blas)
            {
                CudaStatus.Check(Cublas.cublasSetStream_v2(blas, stream));
                void Gemm() => Sgemm(blas, n, a.Pointer, b.Pointer, c.Pointer);
                CudaStatus.Check(Cublas.cublasSetMathMode(blas, CublasMath.CUBLAS_DEFAULT_MATH));
                fp32 = 2.0 * n * n * n / (TimeMs(cuda, Gemm, seconds) * 1e6);
                CudaStatus.Check(Cublas.cublasSetMathMode(blas, CublasMath.CUBLAS_TF32_TENSOR_OP_MATH));
                tf32 = 2.0 * n * n * n / (TimeMs(cuda, Gemm, seconds) * 1e6);
            }
        }
        var g = new GpuCeilings(cuda.Probe.DeviceName ?? "cuda", copyGBps, copyBytes, fp32, tf32, n);
        Console.WriteLine($"{"ceiling (GPU)",-44} {"value",12}");
        Console.WriteLine($"{$"device-to-device copy {copyBytes >> 20} MiB",-44} {copyGBps,8:F0} GB/s      (read + write)");
        Console.WriteLine($"{$"cuBLAS SGEMM {n}³ FP32",-44} {fp32,8:F0} GFLOP/s");
        Console.WriteLine($"{$"cuBLAS SGEMM {n}³ TF32 tensor ops",-44} {tf32,8:F0} GFLOP/s");
        Console.WriteLine();
        return g;
    }

    private static void Sgemm(CublasHandle blas, int n, ulong a, ulong b, ulong c)
    {
        float one = 1, zero = 0;
        CudaStatus.Check(Cublas.cublasSgemm_v2(blas, CublasOperation.CUBLAS_OP_N, CublasOperation.CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n));
    }

    /// <summary>
    /// Device milliseconds of one call of <paramref name="work"/> (CUDA events around a batch of calls; median of 5
    /// batches sized to about seconds/5 each). Ops that read a loss back sync inside: their gaps count, as in a step.
    /// </summary>
    private static double TimeMs(CudaBackend cuda, Action work, double seconds)
    {
        work();
        cuda.Synchronize();
        CudaStatus.Check(CudaDriver.cuEventCreate(out var start, CuEventFlags.CU_EVENT_DEFAULT));
        CudaStatus.Check(CudaDriver.cuEventCreate(out var end, CuEventFlags.CU_EVENT_DEFAULT));
        using (start)
        using (end)
        {
            double Batch(int calls)
            {
                CudaStatus.Check(CudaDriver.cuEventRecord(start, cuda.Stream));
                for (int i = 0; i < calls; i++) work();
                CudaStatus.Check(CudaDriver.cuEventRecord(end, cuda.Stream));
                CudaStatus.Check(CudaDriver.cuEventSynchronize(end));
                return CudaEvents.ElapsedMilliseconds(start, end) / calls;
            }
            double one = Math.Max(Batch(1), 1e-3);
            int calls = (int)Math.Clamp(seconds / 5 * 1000 / one, 1, 2000);
            var times = new List<double>();
            for (int k = 0; k < 5; k++) times.Add(Batch(calls));
            return Machine.Median(times);
        }
    }

    // ---- ops ---------------------------------------------------------------------------------------------------

    public static List<OpRow> RunOps(CudaBackend cuda, GpuCeilings g, double seconds)
    {
        Console.WriteLine($"== ops (GPU): each result checked against CpuBackend<float> (max |gpu − cpu| / max |cpu|, limit {OpsBench.Tolerance:E0}) before it is timed; device time by CUDA events");
        OpsBench.PrintHeader();
        var rows = new List<OpRow>();
        using var cpu = new CpuBackend<float>();
        var defaults = cuda.Blocks;
        foreach (var (name, shape, batch, steps) in OpsBench.Shapes)
        {
            using var reference = new OpWorkload(cpu, shape, batch, steps);
            using var w = new OpWorkload(cuda, shape, batch, steps);
            var times = new Dictionary<string, double>();
            for (int i = 0; i < w.Cases.Count; i++)
            {
                var op = w.Cases[i];
                float[] expected = OpsBench.Evaluate(reference.Cases[i]);
                foreach (var (label, blocks) in LaunchConfigurations(op.Family, defaults))
                {
                    cuda.Blocks = blocks;
                    double error = OpsBench.RelativeError(OpsBench.Evaluate(op), expected);
                    bool ok = error <= OpsBench.Tolerance;
                    double ms = ok ? TimeMs(cuda, op.Run, seconds) : double.NaN;
                    if (blocks == defaults) times[op.Name] = ms;
                    if (op.Minus is { } minus && times.TryGetValue(minus, out double before)) ms -= before;
                    var row = OpsBench.Row(name, op, label, ms, g.SgemmFp32Gflops, g.CopyGBps, "SGEMM fp32", "D2D copy", error, ok);
                    rows.Add(row);
                    OpsBench.Print(row);
                }
                cuda.Blocks = defaults;
            }
        }
        Console.WriteLine();
        return rows;
    }

    /// <summary>The default launch first ("default"), then each other block size of that kernel family; cuDNN ops have one.</summary>
    private static IEnumerable<(string Label, KernelBlocks Blocks)> LaunchConfigurations(string family, KernelBlocks d)
    {
        yield return ("default", d);
        Func<uint, KernelBlocks>? with = family switch
        {
            "embedding" => b => d with { Embedding = b },
            "dropout" => b => d with { Dropout = b },
            "artar_regularization" => b => d with { ArTar = b },
            "softmax" => b => d with { SoftmaxCrossEntropy = b },
            "gradient_squared_norm" => b => d with { Norm = b },
            "clip_decay_update" => b => d with { Sgd = b },
            _ => null,
        };
        if (with is null) yield break;
        foreach (uint b in family == "softmax" ? SoftmaxBlockSizes : BlockSizes)
            yield return ($"block {b}", with(b));
    }
}
