// The CPU ceilings every other figure is a fraction of: the FMA peak (compute-bound ops) and the copy bandwidth of a
// large array (memory-bound ops), both over all cores, measured in the same run as the figures they divide.
using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace ArTar.Bench;

/// <summary>
/// One run's CPU ceilings. FmaPeakGflops = the per-core FMA rate (GFLOP per CPU-second) × cores: what the cores give
/// when they are ours, steady when other processes share them (FmaWallGflops is the wall-clock figure of this run).
/// Bandwidths count bytes read plus bytes written; BandwidthGBps, the memory-bound ops' ceiling, is the best of copy,
/// read and in-place update (y += x: no write-allocate traffic, the pattern of the arena's update).
/// </summary>
internal sealed record CpuCeilings(int Threads, double FmaPeakGflops, double FmaWallGflops, double FmaVector512Gflops, double FmaVector256Gflops,
    double FmaGflopPerCpuSecond, double CopyGBps, double ReadGBps, double UpdateGBps, double CachedCopyGBps, long CopyBytes, long CachedCopyBytes)
{
    public double BandwidthGBps => Math.Max(CopyGBps, Math.Max(ReadGBps, UpdateGBps));

    public void Print()
    {
        Console.WriteLine($"{"ceiling",-44} {"value",12}");
        Console.WriteLine($"{$"FMA peak float32, {Threads} cores",-44} {FmaPeakGflops,8:F1} GFLOP/s   ({FmaGflopPerCpuSecond:F1} per CPU-second × {Threads}; wall clock {FmaWallGflops:F1}: Vector512 {FmaVector512Gflops:F1}, Vector256 {FmaVector256Gflops:F1})");
        Console.WriteLine($"{$"copy {CopyBytes >> 20} MiB → {CopyBytes >> 20} MiB (DRAM), {Threads} threads",-44} {CopyGBps,8:F1} GB/s      (read + write)");
        Console.WriteLine($"{$"read (sum) {CopyBytes >> 20} MiB (DRAM), {Threads} threads",-44} {ReadGBps,8:F1} GB/s");
        Console.WriteLine($"{$"update y += x, {CopyBytes >> 20} MiB (DRAM), {Threads} threads",-44} {UpdateGBps,8:F1} GB/s      (read 2 + write 1)");
        Console.WriteLine($"{"memory bandwidth (best of the three)",-44} {BandwidthGBps,8:F1} GB/s");
        Console.WriteLine($"{$"copy {CachedCopyBytes >> 10} KiB (cache-resident), {Threads} threads",-44} {CachedCopyGBps,8:F1} GB/s      (read + write)");
    }
}

internal static class Ceilings
{
    /// <summary>FMA peak and bandwidths over <paramref name="threads"/> threads, each measurement lasting about <paramref name="seconds"/>.</summary>
    public static CpuCeilings MeasureCpu(int threads, double seconds)
    {
        double cpu512 = 0, cpu256 = 0;
        double peak512 = Vector512.IsHardwareAccelerated ? FmaPeak(threads, wide: true, seconds, out cpu512) : 0;
        double peak256 = Vector256.IsHardwareAccelerated ? FmaPeak(threads, wide: false, seconds, out cpu256) : 0;
        const long large = 256L << 20, cached = 512L << 10;   // 256 MiB per array: far beyond any L3 here; 512 KiB: fits L2 per core
        double copy = Bandwidth(threads, large, seconds, Traffic.Copy);
        double read = Bandwidth(threads, large, seconds, Traffic.Read);
        double update = Bandwidth(threads, large, seconds, Traffic.Update);
        double cachedCopy = Bandwidth(threads, cached * threads, seconds, Traffic.Copy);
        double perCpu = Math.Max(cpu512, cpu256);
        return new CpuCeilings(threads, Math.Max(perCpu * threads, Math.Max(peak512, peak256)), Math.Max(peak512, peak256), peak512, peak256, perCpu,
            copy, read, update, cachedCopy, large, cached * threads);
    }

    /// <summary>
    /// The FMA ceiling: every core runs 12 independent accumulator chains of vector FMAs (enough to cover the
    /// latency × throughput of any current x86 FMA unit), all started together; GFLOP/s of all cores together.
    /// </summary>
    public static double FmaPeak(int threads, bool wide, double seconds, out double perCpuSecond)
    {
        long iters = 1 << 20;
        while (true)
        {
            double s = RunTogether(threads, _ => Sink += wide ? Fma512(iters) : Fma256(iters), out double cpu);
            double gflop = threads * iters * 12.0 * 2 * (wide ? Vector512<float>.Count : Vector256<float>.Count) / 1e9;
            perCpuSecond = gflop / cpu;
            if (s >= seconds / 2) return gflop / s;
            iters = (long)(iters * Math.Max(2, seconds / 2 / Math.Max(s, 1e-3) * 1.1));
        }
    }

    public enum Traffic { Copy, Read, Update }

    /// <summary>
    /// GB/s of a copy (read + write bytes), a read-only sum or an in-place update y += x (2 reads + 1 write) over <paramref name="bytes"/> per array, split in one
    /// contiguous slice per thread; the best of repeated passes over about <paramref name="seconds"/>.
    /// </summary>
    public static double Bandwidth(int threads, long bytes, double seconds, Traffic traffic)
    {
        bool read = traffic == Traffic.Read;
        long n = bytes / sizeof(float);
        var src = GC.AllocateUninitializedArray<float>((int)n, pinned: true);
        var dst = read ? [] : GC.AllocateUninitializedArray<float>((int)n, pinned: true);
        long slice = (n / threads + 15) & ~15L;
        // Touch every page from the thread that will use it (first-touch placement), and warm up.
        RunTogether(threads, t => { var (a, len) = Slice(t); src.AsSpan(a, len).Fill(1f); if (!read) dst.AsSpan(a, len).Clear(); }, out _);
        double best = 0;
        var total = Stopwatch.StartNew();
        int passes = 0;
        while (passes < 3 || total.Elapsed.TotalSeconds < seconds)
        {
            int reps = (int)Math.Max(1, (1L << 31) / bytes);   // small arrays: many passes per timing, so each lasts milliseconds
            double s = RunTogether(threads, t =>
            {
                var (a, len) = Slice(t);
                for (int r = 0; r < reps; r++)
                {
                    if (read) Sink += System.Numerics.Tensors.TensorPrimitives.Sum<float>(src.AsSpan(a, len));
                    else if (traffic == Traffic.Update) System.Numerics.Tensors.TensorPrimitives.Add<float>(dst.AsSpan(a, len), src.AsSpan(a, len), dst.AsSpan(a, len));
                    else src.AsSpan(a, len).CopyTo(dst.AsSpan(a, len));
                }
            }, out _);
            best = Math.Max(best, (read ? 1 : traffic == Traffic.Update ? 3 : 2) * (double)n * sizeof(float) * reps / s / 1e9);
            passes++;
        }
        return best;

        (int Start, int Length) Slice(int t)
        {
            long a = Math.Min(n, t * slice), b = Math.Min(n, a + slice);
            return ((int)a, (int)(b - a));
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/>(t) on <paramref name="threads"/> fresh threads released together; returns the
    /// longest time one thread took (each times itself, so a descheduled main thread cannot shorten it) and the CPU seconds.
    /// </summary>
    private static double RunTogether(int threads, Action<int> work, out double cpuSeconds)
    {
        using var start = new Barrier(threads + 1);
        var workers = new Thread[threads];
        var seconds = new double[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                start.SignalAndWait();
                long t0 = Stopwatch.GetTimestamp();
                work(id);
                seconds[id] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            });
            workers[t].Start();
        }
        using var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        start.SignalAndWait();
        foreach (var w in workers) w.Join();
        process.Refresh();
        cpuSeconds = (process.TotalProcessorTime - cpu0).TotalSeconds;
        return seconds.Max();
    }

    private static volatile float Sink;

    private static float Fma512(long iters)
    {
        Vector512<float> m = Vector512.Create(0.9999f), d = Vector512.Create(1e-4f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0 + d, a2 = a1 + d, a3 = a2 + d, a4 = a3 + d, a5 = a4 + d,
            a6 = a5 + d, a7 = a6 + d, a8 = a7 + d, a9 = a8 + d, a10 = a9 + d, a11 = a10 + d;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, d); a1 = Vector512.FusedMultiplyAdd(a1, m, d);
            a2 = Vector512.FusedMultiplyAdd(a2, m, d); a3 = Vector512.FusedMultiplyAdd(a3, m, d);
            a4 = Vector512.FusedMultiplyAdd(a4, m, d); a5 = Vector512.FusedMultiplyAdd(a5, m, d);
            a6 = Vector512.FusedMultiplyAdd(a6, m, d); a7 = Vector512.FusedMultiplyAdd(a7, m, d);
            a8 = Vector512.FusedMultiplyAdd(a8, m, d); a9 = Vector512.FusedMultiplyAdd(a9, m, d);
            a10 = Vector512.FusedMultiplyAdd(a10, m, d); a11 = Vector512.FusedMultiplyAdd(a11, m, d);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    private static float Fma256(long iters)
    {
        Vector256<float> m = Vector256.Create(0.9999f), d = Vector256.Create(1e-4f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0 + d, a2 = a1 + d, a3 = a2 + d, a4 = a3 + d, a5 = a4 + d,
            a6 = a5 + d, a7 = a6 + d, a8 = a7 + d, a9 = a8 + d, a10 = a9 + d, a11 = a10 + d;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, d); a1 = Vector256.FusedMultiplyAdd(a1, m, d);
            a2 = Vector256.FusedMultiplyAdd(a2, m, d); a3 = Vector256.FusedMultiplyAdd(a3, m, d);
            a4 = Vector256.FusedMultiplyAdd(a4, m, d); a5 = Vector256.FusedMultiplyAdd(a5, m, d);
            a6 = Vector256.FusedMultiplyAdd(a6, m, d); a7 = Vector256.FusedMultiplyAdd(a7, m, d);
            a8 = Vector256.FusedMultiplyAdd(a8, m, d); a9 = Vector256.FusedMultiplyAdd(a9, m, d);
            a10 = Vector256.FusedMultiplyAdd(a10, m, d); a11 = Vector256.FusedMultiplyAdd(a11, m, d);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    // ---- suite "ceilings" --------------------------------------------------------------------------------------

    public static int Run(string[] args)
    {
        var o = Options.Parse("ceilings", args, "artifacts/bench-ceilings.json");
        if (o is null) return 2;
        var c = RunCpu(o.Seconds);
        Machine.WriteJson(o.Json, new { suite = "ceilings", date = Machine.Date(), cpu = Machine.CpuName(), load = Machine.LoadAverage(), ceilings = c });
        return 0;
    }

    public static CpuCeilings RunCpu(double seconds)
    {
        Console.WriteLine($"== ceilings (CPU): {Machine.CpuName()}, {Environment.ProcessorCount} cores, load {Machine.LoadAverage()}");
        var c = MeasureCpu(Environment.ProcessorCount, seconds);
        c.Print();
        Console.WriteLine();
        return c;
    }
}
