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
