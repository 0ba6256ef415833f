// libtorch (TorchSharp, CPU) reference for training throughput: the exact model and training step of docs/design.md §1,
// built from stock torch ops, timed as tokens/s of a full training step and of an evaluation step.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ArTar.Configuration;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ArTar.Bench;

/// <summary>
/// Median timings of one config on libtorch. Tokens per step: B·T for training, eval batch·T for evaluation.
/// TrainCoresBusy = process CPU time / wall time over the timed training steps: near the thread count when the
/// cores were ours, lower when other processes took them.
/// </summary>
public sealed record TorchFigures(
    string Config, string Cell, int Vocab, int Hidden, int Layers, int Batch, int Bptt, int EvalBatch, int Threads,
    double TrainTokensPerSec, double EvalTokensPerSec, double TrainMsPerStep, double EvalMsPerStep,
    double TrainMsMin, double TrainMsMax, double EvalMsMin, double EvalMsMax,
    int TrainSteps, int EvalSteps, int Warmup, double FirstLoss, double TrainCoresBusy);

public static class TorchReference
{
    /// <summary>PTB's vocabulary size; the benchmark feeds random ids, so no corpus is read.</summary>
    public const int PtbVocab = 10000;

    /// <summary>
    /// Times <paramref name="trainSteps"/> training steps and <paramref name="evalSteps"/> evaluation steps of
    /// <paramref name="config"/>'s model on libtorch with <paramref name="threads"/> intra-op threads, after
    /// <paramref name="warmup"/> untimed steps of each, and returns the medians.
    /// </summary>
    public static TorchFigures Measure(RunConfig config, int vocab = PtbVocab, int trainSteps = 20, int evalSteps = 30,
                                       int warmup = 3, int threads = 2)
    {
        torch.set_num_threads(threads);
        torch.manual_seed((long)config.Seed);
        using var model = new ReferenceModel(config, vocab);
        var parameters = model.Parameters();
        using var sgd = torch.optim.SGD(parameters, config.Lr, weight_decay: config.Wdecay);

        int T = config.Bptt, B = config.BatchSize, E = config.EvalBatchSize;
        using var trainStream = torch.randint(vocab, [(long)(warmup + trainSteps) * T + 1, B], dtype: ScalarType.Int64);
        using var evalStream = torch.randint(vocab, [(long)(warmup + evalSteps) * T + 1, E], dtype: ScalarType.Int64);

        var state = model.ZeroState(B);
        var trainMs = new List<double>();
        double firstLoss = double.NaN;
        using var process = Process.GetCurrentProcess();
        TimeSpan cpuStart = TimeSpan.Zero;
        for (int k = 0; k < warmup + trainSteps; k++)
        {
            if (k == warmup) { process.Refresh(); cpuStart = process.TotalProcessorTime; }
            var clock = Stopwatch.StartNew();
            double loss = model.TrainStep(trainStream, k * T, T, ref state, parameters, sgd, config.Clip);
            clock.Stop();
            if (k == 0) firstLoss = loss;
            if (k >= warmup) trainMs.Add(clock.Elapsed.TotalMilliseconds);
        }
        process.Refresh();
        double coresBusy = (process.TotalProcessorTime - cpuStart).TotalMilliseconds / trainMs.Sum();
        ReferenceModel.Dispose(state);

        state = model.ZeroState(E);  // evaluation starts from a zero state (docs/design.md §1)
        var evalMs = new List<double>();
        for (int k = 0; k < warmup + evalSteps; k++)
        {
            var clock = Stopwatch.StartNew();
            model.EvalStep(evalStream, k * T, T, ref state);
            clock.Stop();
            if (k >= warmup) evalMs.Add(clock.Elapsed.TotalMilliseconds);
        }
        ReferenceModel.Dispose(state);

        double trainMed = Median(trainMs), evalMed = Median(evalMs);
        return new TorchFigures(config.Name, config.Model.ConfigName(), vocab, config.Hidden, config.Layers, B, T, E,
            torch.get_num_threads(),
            B * T / (trainMed / 1000), E * T / (evalMed / 1000), trainMed, evalMed,
            trainMs.Min(), trainMs.Max(), evalMs.Min(), evalMs.Max(), trainSteps, evalSteps, warmup, firstLoss, coresBusy);
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>
    /// docs/design.md §1 in torch ops: tied embedding/decoder E (V×H), one torch RNN module per layer so that the
    /// between-layer dropout is ours (dph, not variational), input and output dropout dp, AR and TAR on the last layer.
    /// </summary>
    private sealed class ReferenceModel : IDisposable
    {
        private readonly RunConfig _c;
        private readonly Parameter _encoder;      // encoder.weight = decoder.weight
        private readonly Parameter _decoderBias;  // decoder.bias
        private readonly nn.Module[] _layers;

        public ReferenceModel(RunConfig c, int vocab)
        {
            _c = c;
            int H = c.Hidden;
            _encoder = new Parameter(torch.empty(vocab, H).uniform_(-0.1, 0.1));
            _decoderBias = new Parameter(torch.zeros(vocab));
            // torch's default RNN init is U(-1/√H, 1/√H) for every weight and bias, as docs/design.md §1 asks.
            _layers = Enumerable.Range(0, c.Layers).Select(nn.Module (_) => c.Model switch
            {
                CellType.Lstm => nn.LSTM(H, H),
                CellType.Gru => nn.GRU(H, H),
                _ => nn.RNN(H, H, nonLinearity: nn.NonLinearities.Tanh),
            }).ToArray();
        }

        public List<Parameter> Parameters() =>
            [_encoder, .. _layers.SelectMany(l => l.parameters()), _decoderBias];

        /// <summary>Per layer: h, and c for an LSTM (null otherwise).</summary>
        public (Tensor H, Tensor? C)[] ZeroState(int batch) =>
            _layers.Select(_ => (torch.zeros(1, batch, _c.Hidden), _c.Model == CellType.Lstm ? torch.zeros(1, batch, _c.Hidden) : null)).ToArray();

        public static void Dispose((Tensor H, Tensor? C)[] state)
        {
            foreach (var (h, c) in state) { h.Dispose(); c?.Dispose(); }
        }

        /// <summary>Forward of one window: returns (o, h^L), o the dropped output fed to the decoder, h^L the undropped last layer.</summary>
        private (Tensor O, Tensor Last) Forward(Tensor x, (Tensor H, Tensor? C)[] state, (Tensor H, Tensor? C)[] next, bool training)
        {
            var (T, B) = (x.shape[0], x.shape[1]);
            var input = F.dropout(_encoder.index_select(0, x.reshape(-1)).view(T, B, _c.Hidden), _c.Dropout, training);
            Tensor h = input;
            for (int l = 0; l < _layers.Length; l++)
            {
                if (l > 0) h = F.dropout(h, _c.DropoutH, training);  // between layer l and l+1 (site l)
                switch (_layers[l])
                {
                    case LSTM lstm:
                        var (yl, hn, cn) = lstm.forward(h, (state[l].H, state[l].C!));
                        h = yl; next[l] = (hn, cn);
                        break;
                    case GRU gru:
                        var (yg, hg) = gru.forward(h, state[l].H);
                        h = yg; next[l] = (hg, null);
                        break;
                    case RNN rnn:
                        var (yr, hr) = rnn.forward(h, state[l].H);
                        h = yr; next[l] = (hr, null);
                        break;
                }
            }
            return (F.dropout(h, _c.Dropout, training), h);
        }

        /// <summary>TiedSoftmaxCrossEntropy: z = o·Eᵀ + c, mean CE over T·B.</summary>
        private Tensor CrossEntropy(Tensor o, Tensor y) =>
            F.cross_entropy(F.linear(o.reshape(-1, _c.Hidden), _encoder, _decoderBias), y.reshape(-1));

        /// <summary>Forward, loss = CE + AR + TAR, backward, clip, SGD with weight decay; state carried, detached.</summary>
        public double TrainStep(Tensor stream, int row, int T, ref (Tensor H, Tensor? C)[] state,
                                List<Parameter> parameters, SGD sgd, double clip)
        {
            var next = new (Tensor H, Tensor? C)[state.Length];
            double value;
            using (torch.NewDisposeScope())
            {
                var x = stream.narrow(0, row, T);
                var y = stream.narrow(0, row + 1, T);
                var (o, last) = Forward(x, state, next, training: true);
                var ce = CrossEntropy(o, y);
                var ar = _c.Alpha * o.pow(2).mean();                                          // AR: α·mean(o²)
                var loss = ce + ar;
                if (T > 1)  // TAR: β·mean((h^L[t+1] − h^L[t])²) on the undropped last layer, inside the window
                    loss = loss + _c.Beta * (last.narrow(0, 1, T - 1) - last.narrow(0, 0, T - 1)).pow(2).mean();
                sgd.zero_grad();
                loss.backward();
                nn.utils.clip_grad_norm_(parameters, clip);
                sgd.step();
                value = ce.item<float>();
                for (int l = 0; l < next.Length; l++)  // truncated BPTT: no gradient crosses a window
                    next[l] = (next[l].H.detach().MoveToOuterDisposeScope(), next[l].C?.detach().MoveToOuterDisposeScope());
            }
            Dispose(state);
            state = next;
            return value;
        }

        /// <summary>Evaluation forward: no dropout, no AR/TAR, no gradient.</summary>
        public double EvalStep(Tensor stream, int row, int T, ref (Tensor H, Tensor? C)[] state)
        {
            var next = new (Tensor H, Tensor? C)[state.Length];
            double value;
            using (torch.no_grad())
            using (torch.NewDisposeScope())
            {
                var (o, _) = Forward(stream.narrow(0, row, T), state, next, training: false);
                value = CrossEntropy(o, stream.narrow(0, row + 1, T)).item<float>();
                for (int l = 0; l < next.Length; l++)
                    next[l] = (next[l].H.MoveToOuterDisposeScope(), next[l].C?.MoveToOuterDisposeScope());
            }
            Dispose(state);
            state = next;
            return value;
        }

        public void Dispose()
        {
            _encoder.Dispose();
            _decoderBias.Dispose();
            foreach (var l in _layers) l.Dispose();
        }
    }

    // ---- suite "torch" ---------------------------------------------------------------------------------------

    /// <summary>
    /// <c>torch [--config FILE]… [--steps N] [--eval-steps N] [--warmup N] [--threads N] [--vocab V] [--json PATH]</c>;
    /// default configs: config/ptb-650.json and config/ptb-tiny.json.
    /// </summary>
    public static int Run(string[] args)
    {
        var configs = new List<string>();
        int steps = 20, evalSteps = 30, warmup = 3, threads = 2, vocab = PtbVocab;
        string json = "artifacts/bench-torch.json";
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ConfigException($"torch: {args[i]} needs a value");
            int Count(string what) => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
                ? n : throw new ConfigException($"torch: {what} must be a positive integer");
            try
            {
                switch (args[i])
                {
                    case "--config": configs.Add(Value()); break;
                    case "--steps": steps = Count("--steps"); break;
                    case "--eval-steps": evalSteps = Count("--eval-steps"); break;
                    case "--warmup": warmup = Count("--warmup"); break;
                    case "--threads": threads = Count("--threads"); break;
                    case "--vocab": vocab = Count("--vocab"); break;
                    case "--json": json = Value(); break;
                    default:
                        Console.Error.WriteLine($"torch: unknown option {args[i]}; options: --config FILE --steps N --eval-steps N --warmup N --threads N --vocab V --json PATH");
                        return 2;
                }
            }
            catch (ConfigException e) { Console.Error.WriteLine(e.Message); return 2; }
        }
        if (configs.Count == 0) configs = ["config/ptb-650.json", "config/ptb-tiny.json"];

        var loaded = new List<RunConfig>();
        foreach (var path in configs)
        {
            try { loaded.Add(RunConfig.Load(path)); }
            catch (ConfigException e) { Console.Error.WriteLine($"{e.Message} (run from the repository root, or pass --config)"); return 2; }
        }

        try { torch.set_num_threads(threads); }
        catch (Exception e) when (e is DllNotFoundException or NotSupportedException or TypeInitializationException)
        {
            // TorchSharp's own message is a page of probing trace; one line is enough for a user.
            string glue = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
            Console.Error.WriteLine($"torch: libtorch did not load ({e.GetType().Name}); rebuild with `dotnet build tools/Bench -c Release` so {glue} is patched for this libstdc++ (docs/benchmarks.md), and run `ldd {glue}` to see what else is missing");
            return 1;
        }
        Console.WriteLine($"libtorch CPU reference: torch.get_num_threads() = {torch.get_num_threads()}, {Environment.ProcessorCount} logical CPUs, load {LoadAverage()}");
        Console.WriteLine($"{"config",-12} {"cell",-5} {"H",5} {"B",3} {"T",3} {"train tok/s",12} {"eval tok/s",12} {"ms/step",9} {"eval ms",8} {"step min..max ms",18} {"cores busy",10}");
        var results = new List<TorchFigures>();
        foreach (var config in loaded)
        {
            var r = Measure(config, vocab, steps, evalSteps, warmup, threads);
            results.Add(r);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Config,-12} {r.Cell,-5} {r.Hidden,5} {r.Batch,3} {r.Bptt,3} {r.TrainTokensPerSec,12:F0} {r.EvalTokensPerSec,12:F0} {r.TrainMsPerStep,9:F1} {r.EvalMsPerStep,8:F1} {$"{r.TrainMsMin:F0}..{r.TrainMsMax:F0}",18} {r.TrainCoresBusy,10:F2}"));
        }

        string? dir = Path.GetDirectoryName(Path.GetFullPath(json));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllText(json, JsonSerializer.Serialize(new
        {
            suite = "torch",
            date = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            load = LoadAverage(),
            threads = torch.get_num_threads(),
            results,
        }, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"wrote {json}");
        return 0;
    }

    /// <summary>The 1/5/15-minute load averages, since other processes share these cores and skew the figures.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
