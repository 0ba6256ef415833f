using System.Diagnostics;
using System.Globalization;
using ArTar.Backends;
using ArTar.Checkpoints;
using ArTar.Configuration;
using ArTar.Data;
using ArTar.Models;

namespace ArTar.Training;

/// <summary>A run that cannot go on (a non-finite loss): one line for the user. The last good checkpoint stays in place.</summary>
public sealed class TrainingException(string message) : Exception(message);

public enum RunOutcome
{
    /// <summary>Every epoch ran; test perplexity of the best model is in summary.json.</summary>
    Finished,
    /// <summary>Stopped on request (Ctrl-C, SIGTERM) after a whole step; last.safetensors resumes it.</summary>
    Stopped,
}

/// <summary>
/// The training loop of the paper's section 3 (DESIGN §1), read top to bottom: for each epoch, BPTT windows with the
/// hidden state carried between them; per window forward (CE + AR + TAR), backward, global-norm clip, weight decay,
/// SGD update; then validation, lr ÷ 4 when it did not improve, the best model kept, and at the end test perplexity
/// of the best model. Every number a resumed run needs is in the checkpoint, so stopping and resuming repeats the
/// uninterrupted run bit for bit on the same backend.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly RunConfig _config;
    private readonly Corpus _corpus;
    private readonly IBackend _backend;
    private readonly TrainingFiles _files;
    private readonly ITrainingObserver _observer;
    private readonly IParameterArena _parameters;
    private readonly LanguageModel _train, _eval;
    private readonly ITensor _squaredNorm;
    private readonly BatchedStream _trainData, _validData, _testData;
    private readonly Regularization _regularization;
    private readonly int[] _inputs, _targets;
    private readonly string _vocabularySha256;
    private State _state;

    /// <summary>Where a run stands: with the fixed data order, this, the weights and the carried hidden state are everything.</summary>
    private sealed record State
    {
        public int Epoch { get; init; }            // epochs completed
        public int Window { get; init; }           // windows done in the current epoch
        public long Step { get; init; }            // steps done in the run: the dropout masks' counter
        public double Lr { get; init; }
        public double BestValidLoss { get; init; } = double.PositiveInfinity;
        public int BestEpoch { get; init; }
        public double Seconds { get; init; }       // training wall time before this process
        public double EpochCeSum { get; init; }    // Σ CE·rows over the current epoch's windows so far
        public long EpochRows { get; init; }
    }

    /// <summary>Test seams: called after each step with (step, trainer); the validation loss of each epoch may be replaced.</summary>
    internal Action<long, Trainer>? AfterStep { get; set; }
    internal Func<int, double, double>? ValidationLossOverride { get; set; }

    public Trainer(RunConfig config, Corpus corpus, IBackend backend, TrainingFiles files, ITrainingObserver observer)
    {
        _config = config;
        _corpus = corpus;
        _backend = backend;
        _files = files;
        _observer = observer;
        var shape = new ModelShape(config.Model, corpus.Vocabulary.Count, config.Hidden, config.Layers);
        _trainData = new BatchedStream(corpus.Train, config.BatchSize, $"the train split of {corpus.Folder}");
        _validData = new BatchedStream(corpus.Valid, config.EvalBatchSize, $"the valid split of {corpus.Folder}");
        _testData = new BatchedStream(corpus.Test, config.EvalBatchSize, $"the test split of {corpus.Folder}");
        // No window runs past its stream's last row: a bptt longer than the data allocates only what a window can use.
        int trainSteps = Math.Min(config.Bptt, _trainData.Rows - 1);
        int evalSteps = Math.Min(config.Bptt, Math.Max(_validData.Rows, _testData.Rows) - 1);
        if (shape.ParameterCount > Array.MaxLength)
            throw new ConfigException(string.Create(CultureInfo.InvariantCulture,
                $"{config.Source}: {config.Model.ConfigName()} with hidden {shape.Hidden}, layers {shape.Layers} and vocabulary {shape.Vocab} has {shape.ParameterCount:N0} parameters, more than {Array.MaxLength:N0} in one arena; lower hidden or layers"));
        CheckWindowFits(config, shape, config.BatchSize, trainSteps, "batch_size");
        CheckWindowFits(config, shape, config.EvalBatchSize, evalSteps, "eval_batch_size");
        _parameters = backend.CreateParameters(shape);
        _train = new LanguageModel(backend, _parameters, config.BatchSize, trainSteps);
        _eval = new LanguageModel(backend, _parameters, config.EvalBatchSize, evalSteps);
        _squaredNorm = backend.Allocate(1);
        _regularization = new Regularization(config.Dropout, config.DropoutH, config.Alpha, config.Beta, config.Seed);
        int rows = Math.Max(trainSteps * config.BatchSize, evalSteps * config.EvalBatchSize);
        _inputs = new int[rows];
        _targets = new int[rows];
        _vocabularySha256 = Checkpoint.VocabularySha256(corpus.Vocabulary.Words);
        ParameterInit.Initialize(_parameters, config.Seed);
        _state = new State { Lr = config.Lr };
    }

    /// <summary>A window's logits ([T·B, V]) or activations ([T·B, H]) must fit one array: a config error, not a failed allocation.</summary>
    private static void CheckWindowFits(RunConfig config, ModelShape shape, int batch, int steps, string batchKey)
    {
        long elements = (long)batch * steps * Math.Max(shape.Vocab, shape.Hidden);
        if (elements > Array.MaxLength)
            throw new ConfigException(string.Create(CultureInfo.InvariantCulture,
                $"{config.Source}: {batchKey} {batch} × bptt {steps} × {(shape.Vocab >= shape.Hidden ? $"vocabulary {shape.Vocab}" : $"hidden {shape.Hidden}")} = {elements:N0} values in one window's tensor, more than {Array.MaxLength:N0}; lower {batchKey} or bptt"));
    }

    public IParameterArena Parameters => _parameters;

    public ModelShape Shape => _parameters.Shape;

    /// <summary>Continues from a checkpoint this trainer's config wrote (weights, counters, carried state).</summary>
    public void Resume(Checkpoint last)
    {
        last.CheckMatches(Shape, _vocabularySha256);
        foreach (var t in last.Tensors) _parameters.Write(t.Name, t.Data);
        var m = last.Metadata;
        _state = new State
        {
            Epoch = m.Epoch,
            Window = Extra<int>(last, "window"),
            Step = m.Step,
            Lr = m.Lr,
            BestValidLoss = m.BestValidLoss,
            BestEpoch = Extra<int>(last, "best_epoch"),
            Seconds = m.Seconds,
            EpochCeSum = Extra<double>(last, "epoch_ce_sum"),
            EpochRows = Extra<long>(last, "epoch_rows"),
        };
        int windows = _trainData.WindowCount(_config.Bptt);
        if (_state.Window < 0 || _state.Window > windows)
            throw new CheckpointException(last.Path, $"its metadata 'window' is {_state.Window}, outside this run's 0..{windows} windows an epoch, so it cannot be resumed");
        _train.ResetState();
        for (int l = 0; l < Shape.Layers; l++)
        {
            if (last.State.FirstOrDefault(t => t.Name == HiddenName(l)) is { } h) _backend.Upload(h.Data, _train.HiddenState(l));
            if (last.State.FirstOrDefault(t => t.Name == CellName(l)) is { } c && _train.CellState(l) is { } cs) _backend.Upload(c.Data, cs);
        }
        _files.Metrics.KeepEpochsThrough(_state.Epoch);
        _observer.Notice(string.Create(CultureInfo.InvariantCulture,
            $"resumed from {last.Path}: epoch {_state.Epoch + 1}, window {_state.Window}, step {_state.Step}, lr {_state.Lr:G6}"));
    }

    public RunOutcome Run(CancellationToken stop)
    {
        _observer.Start(new RunInfo(_backend.Description, Shape.ParameterCount, Shape.ToString(), _config.ToString(),
            string.Create(CultureInfo.InvariantCulture, $"{_corpus.Folder}: train {_corpus.Train.Length:N0} tokens, valid {_corpus.Valid.Length:N0}, test {_corpus.Test.Length:N0}"),
            _files.Folder));
        var clock = Stopwatch.StartNew();
        while (_state.Epoch < _config.Epochs)
        {
            var epochClock = Stopwatch.StartNew();
            if (!TrainEpoch(stop, clock))
            {
                SaveLast(clock, withHiddenState: true);
                _observer.Notice($"stopped after step {_state.Step}; continue with: artar train --resume {_files.Folder}");
                return RunOutcome.Stopped;
            }
            double trainLoss = _state.EpochCeSum / _state.EpochRows;
            double validLoss = Evaluate(_eval, _validData);
            int epoch = _state.Epoch + 1;
            validLoss = ValidationLossOverride?.Invoke(epoch, validLoss) ?? validLoss;
            if (!double.IsFinite(validLoss))
                throw new TrainingException(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {epoch}: validation loss is {validLoss}; the run stops here and {_files.LastCheckpoint} keeps the last good weights (try a smaller lr or clip)"));
            double lrUsed = _state.Lr;
            bool improved = validLoss < _state.BestValidLoss;
            _state = _state with
            {
                Epoch = epoch,
                Window = 0,
                EpochCeSum = 0,
                EpochRows = 0,
                BestValidLoss = improved ? validLoss : _state.BestValidLoss,
                BestEpoch = improved ? epoch : _state.BestEpoch,
                // Section 3: "divided by four each time the validation perplexity did not improve".
                Lr = improved ? _state.Lr : _state.Lr / 4,
            };
            if (improved) Save(_files.BestCheckpoint, clock, withHiddenState: false);
            SaveLast(clock, withHiddenState: false);
            var metrics = new EpochMetrics(epoch, Math.Exp(trainLoss), Math.Exp(validLoss), lrUsed, epochClock.Elapsed.TotalSeconds);
            _files.Metrics.Append(metrics);
            _observer.EndEpoch(metrics, improved);
            if (!improved)
                _observer.Notice(string.Create(CultureInfo.InvariantCulture, $"validation did not improve: lr {lrUsed:G6} → {_state.Lr:G6}"));
        }
        Finish(clock);
        return RunOutcome.Finished;
    }

    /// <summary>One epoch from the current window on; false if <paramref name="stop"/> asked to stop (after a whole step).</summary>
    private bool TrainEpoch(CancellationToken stop, Stopwatch clock)
    {
        var windows = _trainData.Windows(_config.Bptt).ToList();
        _observer.BeginEpoch(_state.Epoch + 1, _config.Epochs, windows.Count);
        if (_state.Window == 0) _train.ResetState();   // DESIGN §1: zero state at the start of each epoch
        var interval = new IntervalMetrics();
        for (int w = _state.Window; w < windows.Count; w++)
        {
            if (stop.IsCancellationRequested) return false;
            var window = windows[w];
            int rows = window.Length * _config.BatchSize;
            long started = Stopwatch.GetTimestamp();
            _trainData.Inputs(window, _inputs.AsSpan(0, rows));
            _trainData.Targets(window, _targets.AsSpan(0, rows));

            // forward (CE + AR + TAR), backward, clip, weight decay, update — DESIGN §1.
            var loss = _train.Forward(_inputs.AsSpan(0, rows), _targets.AsSpan(0, rows), window.Length, _regularization, _state.Step);
            if (!double.IsFinite(loss.Total))
                throw new TrainingException(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {_state.Epoch + 1}, step {_state.Step}: the loss is not finite (CE {loss.CrossEntropy}, AR {loss.Ar}, TAR {loss.Tar}); the run stops here and {_files.LastCheckpoint} keeps the last good weights (try a smaller lr or clip)"));
            _train.Backward();
            _backend.GradientSquaredNorm(_parameters.Gradients, _squaredNorm);
            _backend.ClipDecayUpdate(_parameters.Weights, _parameters.Gradients, _squaredNorm, _config.Clip, _state.Lr, _config.Wdecay);

            _state = _state with
            {
                Window = w + 1,
                Step = _state.Step + 1,
                EpochCeSum = _state.EpochCeSum + loss.CrossEntropy * rows,
                EpochRows = _state.EpochRows + rows,
            };
            interval.Add(loss, rows, Stopwatch.GetElapsedTime(started).TotalSeconds);
            _observer.Window(rows, loss.Total, loss.CrossEntropy, _state.Lr);
            if (interval.Steps == _config.LogInterval || w == windows.Count - 1)
            {
                _files.Metrics.Append(interval.ToMetrics(_state.Epoch + 1, _state.Step, _state.Lr));
                interval = new IntervalMetrics();
            }
            AfterStep?.Invoke(_state.Step, this);
        }
        return true;
    }

    /// <summary>Mean cross-entropy per token over a split (no dropout, no AR/TAR), state reset at the start (DESIGN §1).</summary>
    public static double Evaluate(LanguageModel model, BatchedStream data)
    {
        model.ResetState();
        int batch = model.Batch;
        var inputs = new int[model.MaxSteps * batch];
        var targets = new int[model.MaxSteps * batch];
        double sum = 0;
        long count = 0;
        foreach (var window in data.Windows(model.MaxSteps))
        {
            int rows = window.Length * batch;
            data.Inputs(window, inputs.AsSpan(0, rows));
            data.Targets(window, targets.AsSpan(0, rows));
            sum += model.Forward(inputs.AsSpan(0, rows), targets.AsSpan(0, rows), window.Length, null, 0).CrossEntropy * rows;
            count += rows;
        }
        return sum / count;
    }

    /// <summary>The best model's validation and test perplexity, written to summary.json and shown as a table.</summary>
    private void Finish(Stopwatch clock)
    {
        if (File.Exists(_files.BestCheckpoint))
        {
            var best = Checkpoint.Load(_files.BestCheckpoint, Shape, _vocabularySha256);
            foreach (var t in best.Tensors) _parameters.Write(t.Name, t.Data);
        }
        double valid = Evaluate(_eval, _validData), test = Evaluate(_eval, _testData);
        var summary = new RunSummary
        {
            Config = _config.Name,
            Device = _backend.Description,
            Parameters = Shape.ParameterCount,
            Epochs = _state.Epoch,
            BestEpoch = _state.BestEpoch,
            ValidPpl = Math.Exp(valid),
            TestPpl = Math.Exp(test),
            WallSeconds = _state.Seconds + clock.Elapsed.TotalSeconds,
        };
        summary.Write(_files.Summary);
        _observer.Finish(summary);
    }

    private void SaveLast(Stopwatch clock, bool withHiddenState) => Save(_files.LastCheckpoint, clock, withHiddenState);

    private void Save(string path, Stopwatch clock, bool withHiddenState)
    {
        var metadata = new CheckpointMetadata
        {
            Config = _config.ToJson(),
            VocabularySha256 = _vocabularySha256,
            Model = Shape,
            Epoch = _state.Epoch,
            Step = _state.Step,
            DropoutStep = _state.Step,
            Seed = _config.Seed,
            Lr = _state.Lr,
            BestValidLoss = _state.BestValidLoss,
            Seconds = _state.Seconds + clock.Elapsed.TotalSeconds,
            Extra = new Dictionary<string, string>
            {
                ["window"] = Invariant(_state.Window),
                ["best_epoch"] = Invariant(_state.BestEpoch),
                ["epoch_ce_sum"] = _state.EpochCeSum.ToString("R", CultureInfo.InvariantCulture),
                ["epoch_rows"] = Invariant(_state.EpochRows),
            },
        };
        List<NamedTensor> state = [];
        if (withHiddenState)
        {
            int[] shape = [_config.BatchSize, _config.Hidden];
            for (int l = 0; l < Shape.Layers; l++)
            {
                state.Add(Download(HiddenName(l), shape, _train.HiddenState(l)));
                if (_train.CellState(l) is { } c) state.Add(Download(CellName(l), shape, c));
            }
        }
        Checkpoint.Save(path, metadata, (name, destination) => _parameters.Read(name, destination), state);
    }

    private NamedTensor Download(string name, int[] shape, ITensor tensor)
    {
        var data = new float[shape[0] * shape[1]];
        _backend.Download(tensor, data);
        return new NamedTensor(name, shape, data);
    }

    private static string HiddenName(int layer) => $"{Checkpoint.StatePrefix}h_l{layer}";

    private static string CellName(int layer) => $"{Checkpoint.StatePrefix}c_l{layer}";

    private static T Extra<T>(Checkpoint c, string key) where T : ISpanParsable<T>
    {
        if (!c.Metadata.Extra.TryGetValue(key, out string? v))
            throw new CheckpointException(c.Path, $"its metadata has no '{key}': it was not written by the ArTar trainer, so it cannot be resumed");
        return T.TryParse(v, CultureInfo.InvariantCulture, out T? value) ? value
            : throw new CheckpointException(c.Path, $"its metadata '{key}' is '{v}', not a number: the file is damaged, so it cannot be resumed");
    }

    private static string Invariant<T>(T value) where T : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    public void Dispose()
    {
        _train.Dispose();
        _eval.Dispose();
        _squaredNorm.Dispose();
        _parameters.Dispose();
    }

    /// <summary>Means over the windows since the last metrics record (word_language_model's log interval).</summary>
    private sealed class IntervalMetrics
    {
        private double _loss, _ce, _ar, _tar, _seconds;
        private long _rows;

        public int Steps { get; private set; }

        public void Add(WindowLoss loss, int rows, double seconds)
        {
            Steps++;
            _loss += loss.Total;
            _ce += loss.CrossEntropy;
            _ar += loss.Ar;
            _tar += loss.Tar;
            _rows += rows;
            _seconds += seconds;
        }

        public StepMetrics ToMetrics(int epoch, long step, double lr) =>
            new(epoch, step, lr, _loss / Steps, _ce / Steps, _ar / Steps, _tar / Steps, _seconds > 0 ? _rows / _seconds : 0);
    }
}
