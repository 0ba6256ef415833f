// Suite "throughput": tokens/s of a full training step (LanguageModel.ForwardWithLossGradients + Backward + GradientSquaredNorm +
// ClipDecayUpdate, exactly the trainer's step, docs/design.md §1) and of an evaluation step, median over repeated steps after
// warm-up, on random ids from a fixed seed; beside it, in the same run, the same model and step on libtorch (CPU) or
// PyTorch with cuDNN (GPU), and ours/theirs.
using System.Diagnostics;
using System.Globalization;
using ArTar.Backends;
using ArTar.Configuration;
using ArTar.Cuda;
using ArTar.Models;

namespace ArTar.Bench;

/// <summary>Our figures for one config on one device. CoresBusy: process CPU time / wall time over the timed training steps.</summary>
internal sealed record OurThroughput(string Config, string Device, int Vocab, int Hidden, int Layers, int Batch, int Bptt, int EvalBatch,
    double TrainTokensPerSec, double EvalTokensPerSec, double TrainMsPerStep, double EvalMsPerStep, double TrainMsMin, double TrainMsMax,
    int TrainSteps, int EvalSteps, int Warmup, double FirstLoss, double TrainCoresBusy);

/// <summary>A reference's figures (libtorch or PyTorch) and ours/theirs; Skipped says why there are none.</summary>
internal sealed record ThroughputRow(OurThroughput Ours, string Reference, double? ReferenceTrainTokensPerSec, double? ReferenceEvalTokensPerSec,
    double? TrainRatio, double? EvalRatio, string? Skipped, object? ReferenceDetail);

internal static class ThroughputBench
{
    public const int PtbVocab = 10000;
    public static readonly string[] DefaultConfigs = ["ptb-650", "ptb-tiny"];

    public static int Run(string[] args)
    {
        var o = Options.Parse("throughput", args, "artifacts/bench-throughput.json");
        if (o is null) return 2;
        IBackend backend;
        try { backend = DeviceSelection.Create(o.Device, Console.Out); }
        catch (DeviceException e)
        {
            Console.WriteLine($"throughput --device {o.Device}: skipped: {e.Message}");
            Machine.WriteJson(o.Json, new { suite = "throughput", device = o.Device, date = Machine.Date(), skipped = e.Message });
            return 0;
        }
        using (backend)
        {
            var rows = RunOn(backend, o);
            if (rows is null) return 2;
            Machine.WriteJson(o.Json, new { suite = "throughput", device = backend.Description, date = Machine.Date(), cpu = Machine.CpuName(), load = Machine.LoadAverage(), results = rows });
        }
        return 0;
    }

    /// <summary>Ours and the reference for each config of <paramref name="o"/> (default ptb-650, ptb-tiny); null after a config error.</summary>
    public static List<ThroughputRow>? RunOn(IBackend backend, Options o)
    {
        var configs = new List<RunConfig>();
        foreach (var name in o.Configs.Count > 0 ? o.Configs : [.. DefaultConfigs])
        {
            try { configs.Add(RunConfig.Load(Machine.ConfigPath(name))); }
            catch (ConfigException e) { Console.Error.WriteLine($"throughput: {e.Message} (run from the repository root, or pass --config FILE)"); return null; }
        }
        bool gpu = backend is CudaBackend;
        Console.WriteLine($"== throughput ({backend.Description}): median of {o.Steps} training and {o.EvalSteps} evaluation steps after {o.Warmup} warm-up, vocabulary {PtbVocab}, load {Machine.LoadAverage()}");
        Console.WriteLine($"{"config",-10} {"who",-22} {"train tok/s",12} {"eval tok/s",12} {"ms/step",9} {"eval ms",8} {"min..max ms",14} {"busy",5} {"ours/theirs train",18} {"eval",6}");
        var rows = new List<ThroughputRow>();
        foreach (var config in configs)
        {
            var ours = Measure(backend, config, PtbVocab, o.Steps, o.EvalSteps, o.Warmup);
            Print(config.Name, "ours " + (gpu ? "cuda" : "cpu"), ours.TrainTokensPerSec, ours.EvalTokensPerSec, ours.TrainMsPerStep, ours.EvalMsPerStep, ours.TrainMsMin, ours.TrainMsMax, ours.TrainCoresBusy, null, null);
            var row = gpu ? PyTorchReference.Compare(ours, config) : LibtorchCompare(ours, config, o);
            if (row.Skipped is { } why) Console.WriteLine($"{config.Name,-10} {row.Reference,-22} skipped: {why}");
            else Print(config.Name, row.Reference, row.ReferenceTrainTokensPerSec!.Value, row.ReferenceEvalTokensPerSec!.Value, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, row.TrainRatio, row.EvalRatio);
            rows.Add(row);
        }
        Console.WriteLine();
        return rows;
    }

    private static void Print(string config, string who, double train, double eval, double ms, double evalMs, double min, double max, double busy, double? ratio, double? evalRatio) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{config,-10} {who,-22} {train,12:F0} {eval,12:F0} {Num(ms, "F1"),9} {Num(evalMs, "F1"),8} {(double.IsNaN(min) ? "" : $"{min:F0}..{max:F0}"),14} {Num(busy, "F2"),5} {(ratio is { } r ? $"{r:F2}×" : ""),18} {(evalRatio is { } e ? $"{e:F2}×" : ""),6}"));

    private static string Num(double x, string format) => double.IsNaN(x) ? "" : x.ToString(format, CultureInfo.InvariantCulture);

    private static ThroughputRow LibtorchCompare(OurThroughput ours, RunConfig config, Options o)
    {
#if ARTAR_TORCH
        try
        {
            var t = TorchReference.Measure(config, ours.Vocab, o.Steps, o.EvalSteps, o.Warmup, Environment.ProcessorCount);
            return new ThroughputRow(ours, $"libtorch cpu ({t.Threads} thr)", t.TrainTokensPerSec, t.EvalTokensPerSec,
                ours.TrainTokensPerSec / t.TrainTokensPerSec, ours.EvalTokensPerSec / t.EvalTokensPerSec, null, t);
        }
        catch (Exception e) when (e is DllNotFoundException or NotSupportedException or TypeInitializationException)
        {
            return new ThroughputRow(ours, "libtorch cpu", null, null, null, null, $"libtorch did not load ({e.GetType().Name}); see docs/benchmarks.md", null);
        }
#else
        return new ThroughputRow(ours, "libtorch cpu", null, null, null, null, "built without the libtorch reference (-p:ArTarTorchReference=false)", null);
#endif
    }

    /// <summary>
    /// Our training and evaluation throughput for <paramref name="config"/>'s model with a vocabulary of <paramref name="vocab"/>:
    /// each training step is the trainer's (forward with CE + AR + TAR, backward, global norm, clip-decay-update), each
    /// evaluation step a forward without dropout; on a GPU every step ends with a synchronize so its time is the device's.
    /// </summary>
    public static OurThroughput Measure(IBackend backend, RunConfig config, int vocab, int trainSteps, int evalSteps, int warmup)
    {
        var shape = new ModelShape(config.Model, vocab, config.Hidden, config.Layers);
        int T = config.Bptt, B = config.BatchSize, E = config.EvalBatchSize;
        using var parameters = backend.CreateParameters(shape);
        ParameterInit.Initialize(parameters, config.Seed);
        using var train = new LanguageModel(backend, parameters, B, T);
        using var eval = new LanguageModel(backend, parameters, E, T);
        using var squaredNorm = backend.Allocate(1);
        var reg = new Regularization(config.Dropout, config.DropoutH, config.Alpha, config.Beta, config.Seed);
        var cuda = backend as CudaBackend;

        var rng = new Random(1234);
        int[] Stream(int batch, int windows) { var s = new int[(windows * T + 1) * batch]; for (int i = 0; i < s.Length; i++) s[i] = rng.Next(vocab); return s; }
        var trainStream = Stream(B, warmup + trainSteps);
        var evalStream = Stream(E, warmup + evalSteps);

        var trainMs = new List<double>();
        double firstLoss = double.NaN;
        using var process = Process.GetCurrentProcess();
        var cpuStart = TimeSpan.Zero;
        train.ResetState();
        for (int k = 0; k < warmup + trainSteps; k++)
        {
            if (k == warmup) { process.Refresh(); cpuStart = process.TotalProcessorTime; }
            var x = trainStream.AsSpan(k * T * B, T * B);
            var y = trainStream.AsSpan(k * T * B + B, T * B);
            long t0 = Stopwatch.GetTimestamp();
            var loss = train.ForwardWithLossGradients(x, y, T, reg, k);
            train.Backward();
            backend.GradientSquaredNorm(parameters.Gradients, squaredNorm);
            backend.ClipDecayUpdate(parameters.Weights, parameters.Gradients, squaredNorm, config.Clip, config.Lr, config.Wdecay);
            cuda?.Synchronize();
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (k == 0) firstLoss = loss.CrossEntropy;
            if (k >= warmup) trainMs.Add(ms);
        }
        process.Refresh();
        double busy = (process.TotalProcessorTime - cpuStart).TotalMilliseconds / trainMs.Sum();

        var evalMs = new List<double>();
        eval.ResetState();
        for (int k = 0; k < warmup + evalSteps; k++)
        {
            var x = evalStream.AsSpan(k * T * E, T * E);
            var y = evalStream.AsSpan(k * T * E + E, T * E);
            long t0 = Stopwatch.GetTimestamp();
            eval.Evaluate(x, y, T);
            cuda?.Synchronize();
            if (k >= warmup) evalMs.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        double trainMed = Machine.Median(trainMs), evalMed = Machine.Median(evalMs);
        return new OurThroughput(config.Name, backend.Name, vocab, config.Hidden, config.Layers, B, T, E,
            B * T / (trainMed / 1000), E * T / (evalMed / 1000), trainMed, evalMed, trainMs.Min(), trainMs.Max(),
            trainSteps, evalSteps, warmup, firstLoss, busy);
    }
}
