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
    private sealed class TimedBackend(IBackend inner) : IBackend
    {
        public readonly Dictionary<string, double> Times = [];
        public readonly Dictionary<string, double> CpuTimes = [];
        private readonly Stopwatch _clock = new();

        private void Time(string name, Action run)
        {
            double cpu0 = ProcessCpuSeconds();
            _clock.Restart();
            run();
            double t = _clock.Elapsed.TotalSeconds;
            Times[name] = Times.GetValueOrDefault(name) + t;
            CpuTimes[name] = CpuTimes.GetValueOrDefault(name) + ProcessCpuSeconds() - cpu0;
        }

        public string Name => inner.Name;
        public string Description => inner.Description;
        public ITensor Allocate(long length) => inner.Allocate(length);
        public ITensor AllocateTokens(int length) => inner.AllocateTokens(length);
        public void Upload(ReadOnlySpan<float> source, ITensor destination) => inner.Upload(source, destination);
        public void Download(ITensor source, Span<float> destination) => inner.Download(source, destination);
        public void UploadTokens(ReadOnlySpan<int> source, ITensor destination) => inner.UploadTokens(source, destination);
        public void Zero(ITensor tensor) => Time($"Zero {tensor.Length}", () => inner.Zero(tensor));
        public void Copy(ITensor source, ITensor destination) => Time("Copy", () => inner.Copy(source, destination));
        public IParameterArena CreateParameters(ModelShape shape) => inner.CreateParameters(shape);
        public IRnnReserve CreateRnnReserve(ModelShape shape, int layer, int maxSteps, int batch) => inner.CreateRnnReserve(shape, layer, maxSteps, batch);
        public void EmbeddingForward(ITensor embedding, ITensor tokens, ITensor output, int rows, int hidden) =>
            Time("EmbeddingForward", () => inner.EmbeddingForward(embedding, tokens, output, rows, hidden));
        public void EmbeddingBackward(ITensor dOutput, ITensor tokens, ITensor dEmbedding, int rows, int hidden) =>
            Time("EmbeddingBackward", () => inner.EmbeddingBackward(dOutput, tokens, dEmbedding, rows, hidden));
        public void DropoutForward(ITensor x, ITensor y, long count, DropoutMask mask) =>
            Time($"DropoutForward site {mask.Site}", () => inner.DropoutForward(x, y, count, mask));
        public void DropoutBackward(ITensor dy, ITensor dx, long count, DropoutMask mask, bool accumulate) =>
            Time($"DropoutBackward site {mask.Site}", () => inner.DropoutBackward(dy, dx, count, mask, accumulate));
        public void RnnForward(IParameterArena parameters, int layer, ITensor x, ITensor h0, ITensor? c0, ITensor y, ITensor hT, ITensor? cT,
            IRnnReserve reserve, int steps, int batch, bool training) =>
            Time($"RnnForward layer {layer}", () => inner.RnnForward(parameters, layer, x, h0, c0, y, hT, cT, reserve, steps, batch, training));
        public void RnnBackward(IParameterArena parameters, int layer, ITensor dy, ITensor dx, ITensor dh0, ITensor? dc0, IRnnReserve reserve) =>
            Time($"RnnBackward layer {layer}", () => inner.RnnBackward(parameters, layer, dy, dx, dh0, dc0, reserve));
        public ArTarLoss ArTarRegularization(ITensor o, ITensor h, ITensor? dO, ITensor? dH, int steps, int batch, int hidden, double alpha, double beta)
        {
            ArTarLoss r = default;
            Time("ArTarRegularization", () => r = inner.ArTarRegularization(o, h, dO, dH, steps, batch, hidden, alpha, beta));
            return r;
        }
        public double TiedSoftmaxCrossEntropy(ITensor embedding, ITensor bias, ITensor o, ITensor targets, ITensor logits,
            ITensor? dO, ITensor? dEmbedding, ITensor? dBias, int rows)
        {
            double r = 0;
            Time("TiedSoftmaxCrossEntropy", () => r = inner.TiedSoftmaxCrossEntropy(embedding, bias, o, targets, logits, dO, dEmbedding, dBias, rows));
            return r;
        }
        public void GradientSquaredNorm(ITensor gradients, ITensor squaredNorm) =>
            Time("GradientSquaredNorm", () => inner.GradientSquaredNorm(gradients, squaredNorm));
        public void ClipDecayUpdate(ITensor weights, ITensor gradients, ITensor squaredNorm, double clip, double lr, double weightDecay) =>
            Time("ClipDecayUpdate", () => inner.ClipDecayUpdate(weights, gradients, squaredNorm, clip, lr, weightDecay));
        public void Dispose() => inner.Dispose();
    }
}
