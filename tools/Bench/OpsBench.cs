// Suite "ops": every IBackend operation of CpuBackend<float> at the ptb-650 and wt2-650 shapes (B 20, T 35), as the
// median of repeats, with GFLOP/s against the FMA peak or GB/s against the copy bandwidth measured in the same run.
using ArTar.Backends;
using ArTar.Cpu;

namespace ArTar.Bench;

/// <summary>One timed op. Rate is GFLOP/s (Unit "GFLOP/s") or GB/s (Unit "GB/s"); PercentOfCeiling divides it by the matching ceiling.</summary>
internal sealed record OpRow(string Shape, string Op, string Launch, double Ms, double Rate, string Unit, double PercentOfCeiling, string Ceiling,
    double? MaxRelativeError = null, bool? Checked = null);

internal static class OpsBench
{
    /// <summary>The two shapes of issue 6: PTB and WikiText-2 vocabularies, the 650-unit 2-layer LSTM, B 20, T 35.</summary>
    public static readonly (string Name, ModelShape Shape, int Batch, int Steps)[] Shapes =
    [
        ("ptb-650", new ModelShape(CellType.Lstm, 10000, 650, 2), 20, 35),
        ("wt2-650", new ModelShape(CellType.Lstm, 33278, 650, 2), 20, 35),
    ];

    public static int Run(string[] args)
    {
        if (args is ["--self-check"]) return SelfCheck();
        var o = Options.Parse("ops", args, "artifacts/bench-ops.json");
        if (o is null) return 2;
        var ceilings = Ceilings.RunCpu(Math.Min(o.Seconds, 0.5));
        var rows = RunCpu(ceilings, o.Seconds);
        Machine.WriteJson(o.Json, new { suite = "ops", date = Machine.Date(), cpu = Machine.CpuName(), load = Machine.LoadAverage(), ceilings, ops = rows });
        return 0;
    }

    public static List<OpRow> RunCpu(CpuCeilings c, double seconds)
    {
        Console.WriteLine($"== ops (CPU, CpuBackend<float>, GEMM kernel {Gemm.KernelName}): median of repeats over ~{seconds:F1} s each, load {Machine.LoadAverage()}");
        Console.WriteLine("   bytes: each operand read or written once (embedding rows, [T,B,H] activations, the whole arena); FLOPs: 2 per multiply-add of the GEMMs");
        PrintHeader();
        var rows = new List<OpRow>();
        using var backend = new CpuBackend<float>();
        foreach (var (name, shape, batch, steps) in Shapes)
        {
            using var w = new OpWorkload(backend, shape, batch, steps);
            var times = new Dictionary<string, double>();
            foreach (var op in w.Cases)
            {
                op.Reset();
                double ms = Machine.MedianMs(op.Run, seconds);
                times[op.Name] = ms;
                if (op.Minus is { } minus) ms -= times[minus];
                var row = Row(name, op, "", ms, c.FmaPeakGflops, c.BandwidthGBps, "FMA peak", "bandwidth");
                rows.Add(row);
                Print(row);
            }
        }
        Console.WriteLine();
        return rows;
    }

    /// <summary>
    /// The check the GPU suite makes before timing, tried where there is no GPU: every op of CpuBackend&lt;float&gt; against
    /// CpuBackend&lt;double&gt; on a small model (within <see cref="Tolerance"/>), and Reset + Run twice giving the same bits
    /// (so a sweep of launch configurations compares like with like). `ops --self-check`; seconds.
    /// </summary>
    public static int SelfCheck()
    {
        var shape = new ModelShape(CellType.Lstm, 1000, 64, 2);
        using var d = new CpuBackend<double>();
        using var f = new CpuBackend<float>();
        using var reference = new OpWorkload(d, shape, 4, 5);
        using var w = new OpWorkload(f, shape, 4, 5);
        int failed = 0;
        for (int i = 0; i < w.Cases.Count; i++)
        {
            float[] expected = Evaluate(reference.Cases[i]);
            float[] first = Evaluate(w.Cases[i]), second = Evaluate(w.Cases[i]);
            double error = RelativeError(first, expected), repeat = RelativeError(second, first);
            bool ok = error <= Tolerance && repeat == 0;
            if (!ok) failed++;
            Console.WriteLine($"{w.Cases[i].Name,-36} float vs double {error,9:E1}   reset+run twice {repeat,7:E0}   {(ok ? "ok" : "FAIL")}");
        }
        Console.WriteLine(failed == 0 ? "ops self-check: all ops agree" : $"ops self-check: {failed} op(s) FAILED");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>FP32 against a reference with other summation orders (cuBLAS, cuDNN, tree reductions, float64): well inside 1e-3 of the largest value.</summary>
    public const double Tolerance = 1e-3;

    /// <summary>The op's result from its initial inputs: Reset, Run, read back.</summary>
    public static float[] Evaluate(OpCase op)
    {
        op.Reset();
        op.Run();
        return op.Result();
    }

    /// <summary>max |actual − expected| / max |expected|; infinity for a length mismatch or a NaN.</summary>
    public static double RelativeError(float[] actual, float[] expected)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        double diff = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double e = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(e)) return double.PositiveInfinity;
            diff = Math.Max(diff, e);
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }
        return diff / Math.Max(scale, 1e-30);
    }

    public static OpRow Row(string shape, OpCase op, string launch, double ms, double flopPeak, double bandwidth, string flopCeiling, string bandwidthCeiling,
        double? maxRelativeError = null, bool? @checked = null)
    {
        bool compute = op.Flops > 0;
        double rate = compute ? op.Flops / (ms * 1e6) : op.Bytes / (ms * 1e6);
        double ceiling = compute ? flopPeak : bandwidth;
        return new OpRow(shape, op.Name, launch, ms, rate, compute ? "GFLOP/s" : "GB/s", 100 * rate / ceiling, compute ? flopCeiling : bandwidthCeiling,
            maxRelativeError, @checked);
    }

    public static void PrintHeader() =>
        Console.WriteLine($"{"shape",-8} {"op",-36} {"launch",-10} {"ms",9} {"rate",10} {"unit",-8} {"% ceiling",9} {"of",-10} {"check",10}");

    public static void Print(OpRow r) =>
        Console.WriteLine($"{r.Shape,-8} {r.Op,-36} {r.Launch,-10} {r.Ms,9:F3} {r.Rate,10:F1} {r.Unit,-8} {r.PercentOfCeiling,8:F1}% {r.Ceiling,-10} " +
                          (r.Checked is null ? "" : r.Checked.Value ? $"{r.MaxRelativeError,10:E1}" : $"FAIL {r.MaxRelativeError:E1}"));
}
