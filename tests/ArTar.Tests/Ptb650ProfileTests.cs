using System.Diagnostics;
using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>
/// Where the time of a CPU training step at ptb-650 shapes goes: every backend op of the step timed with a Stopwatch,
/// medians over several steps after warm-up. Explicit (tens of seconds). Run with
/// <c>dotnet test -c Release --project tests/ArTar.Tests --filter "FullyQualifiedName~Ptb650ProfileTests" --output detailed</c>;
/// env ARTAR_PROFILE_STEPS sets the number of timed steps (default 8).
/// </summary>
[Explicit("tens of seconds on 2 cores"), Category("Slow")]
public class Ptb650ProfileTests
{
    [Test]
    public void TimeEachOpOfATrainingStep()
    {
        const int batch = Ptb650Step.Batch, steps = Ptb650Step.Steps;
        var backend = new TimedBackend(new CpuBackend<float>());
        var step = new Ptb650Step(backend);
        var reg = new Regularization(Dropout: 0.5, DropoutH: 0.4, Alpha: 5, Beta: 2, Seed: 1111);
        int timed = int.TryParse(Environment.GetEnvironmentVariable("ARTAR_PROFILE_STEPS"), out int n) ? n : 8;

        var totals = new List<double>();
        var ops = new Dictionary<string, List<double>>();
        var cpu = new List<double>();
        var opsCpu = new Dictionary<string, List<double>>();
        for (int s = 0; s < timed + 2; s++)
        {
            backend.Times.Clear();
            backend.CpuTimes.Clear();
            double cpu0 = ProcessCpuSeconds();
            var clock = Stopwatch.StartNew();
            step.Run(s, reg);
            double total = clock.Elapsed.TotalSeconds;
            double cpuS = ProcessCpuSeconds() - cpu0;
            if (s < 2) continue;   // warm-up (JIT, buffer pools)
            totals.Add(total);
            cpu.Add(cpuS);
            foreach (var (k, v) in backend.Times) (ops.TryGetValue(k, out var l) ? l : ops[k] = []).Add(v);
            foreach (var (k, v) in backend.CpuTimes) (opsCpu.TryGetValue(k, out var l) ? l : opsCpu[k] = []).Add(v);
        }
        static double Median(List<double> x) { var s = x.Order().ToArray(); return s[s.Length / 2]; }
        double med = Median(totals);
        TestContext.Out.WriteLine($"ptb-650 training step, {timed} steps: median {med * 1e3:F1} ms (min {totals.Min() * 1e3:F1}, max {totals.Max() * 1e3:F1}), " +
            $"{batch * steps / med:F0} tokens/s; CPU {Median(cpu) * 1e3:F1} ms per step (cores busy {Median(cpu) / med:F2}); load {File.ReadAllText("/proc/loadavg").Trim()}");
        TestContext.Out.WriteLine($"  {"op",-36} {"wall ms",9} {"CPU ms",9}");
        double sum = 0, sumCpu = 0;
        foreach (var (k, v) in ops)
        {
            double m = Median(v), mc = Median(opsCpu[k]);
            sum += m;
            sumCpu += mc;
            TestContext.Out.WriteLine($"  {k,-36} {m * 1e3,9:F2} {mc * 1e3,9:F2}");
        }
        TestContext.Out.WriteLine($"  {"(sum of op medians)",-36} {sum * 1e3,9:F2} {sumCpu * 1e3,9:F2}");
        Assert.That(med, Is.GreaterThan(0));
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>CPU time of the whole process (all threads), ns resolution: steady while other jobs share the cores.</summary>
    private static double ProcessCpuSeconds() => ClockGetTime(2 /* CLOCK_PROCESS_CPUTIME_ID */, out var t) == 0 ? t.Seconds + t.Nanoseconds * 1e-9 : double.NaN;

    /// <summary>Forwards every op to the CPU backend and adds its wall time under the op's name (and layer).</summary>
    private sealed class TimedBackend(IBackend inner) : BackendDecorator(inner)
    {
        public readonly Dictionary<string, double> Times = [];
        public readonly Dictionary<string, double> CpuTimes = [];
        private readonly Stopwatch _clock = new();

        protected override T Op<T>(string name, Func<T> call)
        {
            double cpu0 = ProcessCpuSeconds();
            _clock.Restart();
            T result = call();
            double t = _clock.Elapsed.TotalSeconds;
            Times[name] = Times.GetValueOrDefault(name) + t;
            CpuTimes[name] = CpuTimes.GetValueOrDefault(name) + ProcessCpuSeconds() - cpu0;
            return result;
        }
    }
}
