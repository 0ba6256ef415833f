// The CPU GEMM against this machine's FMA peak, on the ptb-650 shapes (B=20, T=35 → 700 rows, H=650, V=10000).
using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Encodings.Web;
using System.Text.Json;
using ArTar.Cpu;

namespace ArTar.Bench;

internal static class GemmBench
{
    private record Shape(string Name, bool TransA, bool TransB, int M, int N, int K);

    // op(A) is m×k, op(B) is k×n; a trans flag means the operand is stored the other way round, as the model stores it.
    private static readonly Shape[] Shapes =
    [
        new("decoder forward   o·Eᵀ", false, true, 700, 10000, 650),
        new("decoder dH        dZ·E", false, false, 700, 650, 10000),
        new("decoder dE        dZᵀ·o", true, false, 10000, 650, 700),
        new("lstm input proj   X·W_ihᵀ", false, true, 700, 2600, 650),
        new("lstm recur step   h·W_hhᵀ", false, true, 20, 2600, 650),
        new("lstm dX           dG·W_ih", false, false, 700, 650, 2600),
        new("lstm dW_ih        dGᵀ·X", true, false, 2600, 650, 700),
        new("lstm dh step      dG_t·W_hh", false, false, 20, 650, 2600),
        new("lstm dW_hh step   dG_tᵀ·h", true, false, 2600, 650, 20),
        new("(lstm recur step, W_hhᵀ stored)", false, false, 20, 2600, 650),
    ];

    public static int Run(string[] args)
    {
        string outPath = "artifacts/bench-gemm.json";
        double seconds = 1.0;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--out" when i + 1 < args.Length: outPath = args[++i]; break;
                case "--seconds" when i + 1 < args.Length && double.TryParse(args[i + 1], out var s) && s > 0: seconds = s; i++; break;
                default:
                    Console.Error.WriteLine($"gemm: unknown option '{args[i]}'; options: --out <file.json> (default {outPath}), --seconds <per shape> (default {seconds})");
                    return 2;
            }
        }

        int threads = Environment.ProcessorCount;
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        double idle = Machine.IdlePercent();
        Console.WriteLine($"gemm: {threads} cores, Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}, " +
                          $"GEMM kernel {Gemm.KernelName}, load {load}, idle over the last second {idle:F0}%");

        // Wall-clock GFLOP/s is what a run sees; GFLOP per CPU-second (summed over threads) is what the code does
        // while it holds a core, the steadier figure when other processes share the machine.
        double cpu512 = 0, cpu256 = 0;
        double peak512 = Vector512.IsHardwareAccelerated ? Ceilings.FmaPeak(threads, wide: true, seconds, out cpu512) : 0;
        double peak256 = Vector256.IsHardwareAccelerated ? Ceilings.FmaPeak(threads, wide: false, seconds, out cpu256) : 0;
        double peak = Math.Max(peak512, peak256), peakCpu = Math.Max(cpu512, cpu256);
        Console.WriteLine($"FMA peak (float32, {threads} threads): Vector512 {peak512:F1} GFLOP/s, Vector256 {peak256:F1} GFLOP/s; " +
                          $"per CPU-second {peakCpu:F1} GFLOP");
        Console.WriteLine();
        Console.WriteLine($"{"shape",-30} {"m",6} {"n",6} {"k",6} {"ms",9} {"GFLOP/s",8} {"% peak",7} {"cpu ms",9} {"% peak/cpu-s",12}");

        var rows = new List<object>();
        foreach (var s in Shapes)
        {
            double ms = TimeGemm(s, seconds, out double cpuMs);
            double gflops = 2.0 * s.M * s.N * s.K / (ms * 1e6);
            double gflopsCpu = 2.0 * s.M * s.N * s.K / (cpuMs * 1e6);
            Console.WriteLine($"{s.Name,-30} {s.M,6} {s.N,6} {s.K,6} {ms,9:F3} {gflops,8:F1} {100 * gflops / peak,6:F1}% {cpuMs,9:F3} {100 * gflopsCpu / peakCpu,11:F1}%");
            rows.Add(new
            {
                shape = s.Name, m = s.M, n = s.N, k = s.K, transA = s.TransA, transB = s.TransB, ms, gflops, percentOfPeak = 100 * gflops / peak,
                cpuMs, gflopsPerCpuSecond = gflopsCpu, percentOfPeakPerCpuSecond = 100 * gflopsCpu / peakCpu,
            });
        }

        var report = new
        {
            suite = "gemm",
            date = DateTime.UtcNow.ToString("u"),
            cpu = Machine.CpuName(),
            cores = threads,
            kernel = Gemm.KernelName,
            loadAverageBefore = load,
            idlePercentBefore = idle,
            loadAverageAfter = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a",
            elementType = "float32",
            fmaPeakGflops = peak,
            fmaPeakVector512Gflops = peak512,
            fmaPeakVector256Gflops = peak256,
            fmaPeakGflopPerCpuSecond = peakCpu,
            shapes = rows,
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        Console.WriteLine($"\nwrote {outPath}");
        return 0;
    }

    /// <summary>Median milliseconds of one product, over repeats filling about <paramref name="seconds"/>.</summary>
    private static double TimeGemm(Shape s, double seconds, out double cpuMs)
    {
        var rng = new Random(1);
        float[] a = RandomArray(rng, s.M * s.K), b = RandomArray(rng, s.K * s.N), c = new float[s.M * s.N];
        int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
        void Once() => Gemm.Multiply(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, lda, b, ldb, 0f, c, s.N);

        Once();                                                  // JIT, packing buffers, thread pool
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        while (times.Count < 3 || (total.Elapsed.TotalSeconds < seconds && times.Count < 1000))
        {
            long t0 = Stopwatch.GetTimestamp();
            Once();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / times.Count;
        times.Sort();
        return times[times.Count / 2];
    }

    private static float[] RandomArray(Random rng, int length)
    {
        var x = new float[length];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
