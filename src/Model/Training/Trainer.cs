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
/// The training loop of the paper's section 3 (docs/design.md §1), read top to bottom: for each epoch, BPTT windows with the
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
    private readonly TrainingPlan _plan;
    private readonly Regularization _regularization;
    private readonly int[] _inputs, _targets;
    private readonly string _vocabularySha256;
    private readonly IReadOnlyDictionary<string, string> _corpusSha256;
    private TrainingState _state;

    public Trainer(RunConfig config, Corpus corpus, IBackend backend, TrainingFiles files, ITrainingObserver observer)
    {
        _config = config;
        _corpus = corpus;
        _backend = backend;
        _files = files;
        _observer = observer;
        // Everything that can be wrong with the config for this data is found before anything is allocated.
        _plan = TrainingPlan.For(config, corpus);
        _parameters = backend.CreateParameters(_plan.Shape);
        _train = new LanguageModel(backend, _parameters, config.BatchSize, _plan.TrainSteps);
        _eval = new LanguageModel(backend, _parameters, config.EvalBatchSize, _plan.EvalSteps);
        _squaredNorm = backend.Allocate(1);
        _regularization = new Regularization(config.Dropout, config.DropoutH, config.Alpha, config.Beta, config.Seed);
        int rows = Math.Max(_plan.TrainSteps * config.BatchSize, _plan.EvalSteps * config.EvalBatchSize);
        _inputs = new int[rows];
        _targets = new int[rows];
        _vocabularySha256 = Checkpoint.VocabularySha256(corpus.Vocabulary.Words);
        _corpusSha256 = CorpusFiles.Sha256(corpus.Folder);
        ParameterInit.Initialize(_parameters, config.Seed);
        _state = TrainingState.Start(config.Lr);
    }

    public IParameterArena Parameters => _parameters;

    public ModelShape Shape => _parameters.Shape;

    /// <summary>
    /// Continues from a checkpoint this trainer's config wrote: its weights, its <see cref="TrainingState"/> and, when it
    /// was taken mid-epoch, the hidden state carried into its next window (every layer's, exactly [batch, hidden]).
    /// </summary>
    public void Resume(Checkpoint last)
    {
        last.CheckMatches(Shape, _vocabularySha256);
        CheckCorpus(last);
        var state = last.Metadata.Training;
        int windows = _plan.Train.WindowCount(_config.Bptt);
        if (state.Window > windows)
            throw new CheckpointException(last.Path, $"its training state is at window {state.Window}, outside this run's 0..{windows} windows an epoch, so it cannot be resumed");
        var carried = CarriedState(last, state);
        foreach (var t in last.Tensors) _parameters.Write(t.Name, t.Data);
        _train.ResetState();
        foreach (var (tensor, target) in carried) _backend.Upload(tensor.Data, target);
        _state = state;
        // The epoch line is logged before the checkpoint is renamed into place, so a crash in between leaves a line
        // past this checkpoint: it is dropped here and written again when that epoch ends again.
        _files.Metrics.KeepEpochsThrough(_state.Epoch, _state.Step);
        _observer.Notice(string.Create(CultureInfo.InvariantCulture,
            $"resumed from {last.Path}: epoch {_state.Epoch + 1}, window {_state.Window}, step {_state.Step}, lr {_state.Lr:G6}"));
    }

    /// <summary>
    /// The corpus files must be the ones the checkpoint was trained on: the same vocabulary can come with other text
    /// (valid and test swapped, a changed train.txt), and a resumed run on it would differ without a word.
    /// </summary>
    private void CheckCorpus(Checkpoint last)
    {
        if (last.Metadata.CorpusSha256 is not { } trained)
        {
            _observer.Notice($"{last.Path} keeps no hashes of its corpus files (an older checkpoint): resuming without checking that {_corpus.Folder} holds the same text");
            return;
        }
        foreach (var (split, hash) in _corpusSha256)
            if (trained.TryGetValue(split, out string? was) && !string.Equals(was, hash, StringComparison.OrdinalIgnoreCase))
                throw new CheckpointException(last.Path,
                    $"was trained on another {split}.txt (sha256 {was[..Math.Min(12, was.Length)]}) than {Path.Combine(_corpus.Folder, split + ".txt")} (sha256 {hash[..12]}); resume on the data it was trained on, or train anew");
    }

    /// <summary>
    /// The state tensors of a mid-epoch checkpoint and where each goes; without every one of them a resumed run would
    /// silently differ from the uninterrupted one, so a missing or misshapen one is refused.
    /// </summary>
    private List<(NamedTensor Tensor, ITensor Target)> CarriedState(Checkpoint last, TrainingState state)
    {
        var expected = new List<(string Name, ITensor Target)>();
        for (int l = 0; l < Shape.Layers; l++)
        {
            expected.Add((HiddenName(l), _train.HiddenState(l)));
            if (_train.CellState(l) is { } c) expected.Add((CellName(l), c));
        }
        int[] shape = [_config.BatchSize, _config.Hidden];
        var carried = new List<(NamedTensor, ITensor)>();
        foreach (var (name, target) in expected)
        {
            var tensor = last.State.FirstOrDefault(t => t.Name == name);
            if (state.Window == 0) continue;   // an epoch's end: the next epoch starts from zero state
            if (tensor is null)
                throw new CheckpointException(last.Path, $"stops mid-epoch (window {state.Window}) but has no {name}, the state carried into its next window, so it cannot be resumed exactly");
            if (!tensor.Shape.SequenceEqual(shape))
                throw new CheckpointException(last.Path, $"{name} has shape {SafeTensors.FormatShape(tensor.Shape)}, this run carries {SafeTensors.FormatShape(shape)}");
            carried.Add((tensor, target));
        }
        string? stray = last.State.Select(t => t.Name).FirstOrDefault(n => expected.All(e => e.Name != n));
        if (stray is not null)
            throw new CheckpointException(last.Path, $"holds {stray}, which is no state of this {Shape.Cell.ConfigName()} model with {Shape.Layers} layers");
        return carried;
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
            double validLoss = Evaluate(_eval, _plan.Valid);
            int epoch = _state.Epoch + 1;
            if (!double.IsFinite(validLoss))
                throw new TrainingException(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {epoch}: validation loss is {validLoss}; the run stops here{LastGood()}"));
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
            // Logged before the checkpoints: a crash after this line and before last.safetensors is renamed leaves the
            // line past the checkpoint, and Resume drops it; logged after, a crash in between would lose it for good.
            var metrics = new EpochMetrics(epoch, Math.Exp(trainLoss), Math.Exp(validLoss), lrUsed, epochClock.Elapsed.TotalSeconds);
            _files.Metrics.Append(metrics);
            if (improved) Save(_files.BestCheckpoint, clock, withHiddenState: false);
            SaveLast(clock, withHiddenState: false);
            _observer.EndEpoch(metrics, improved);
            if (!improved)
                _observer.Notice(string.Create(CultureInfo.InvariantCulture, $"validation did not improve: lr {lrUsed:G6} → {_state.Lr:G6}"));
        }
        Finish(clock);
        return RunOutcome.Finished;
    }

    /// <summary>The end of a failed run's line: what it keeps, which before the first checkpoint is nothing.</summary>
    private string LastGood() => File.Exists(_files.LastCheckpoint)
        ? $" and {_files.LastCheckpoint} keeps the last good weights (try a smaller lr or clip)"
        : " before its first checkpoint, so no weights are kept (train anew with a smaller lr or clip, in another run folder)";

    /// <summary>One epoch from the current window on; false if <paramref name="stop"/> asked to stop (after a whole step).</summary>
    private bool TrainEpoch(CancellationToken stop, Stopwatch clock)
    {
        var windows = _plan.Train.Windows(_config.Bptt).ToList();
        _observer.BeginEpoch(_state.Epoch + 1, _config.Epochs, windows.Count);
        if (_state.Window == 0) _train.ResetState();   // docs/design.md §1: zero state at the start of each epoch
        var interval = new IntervalMetrics();
        for (int w = _state.Window; w < windows.Count; w++)
        {
            if (stop.IsCancellationRequested) return false;
            var window = windows[w];
            int rows = window.Length * _config.BatchSize;
            long started = Stopwatch.GetTimestamp();
            _plan.Train.Inputs(window, _inputs.AsSpan(0, rows));
            _plan.Train.Targets(window, _targets.AsSpan(0, rows));

            // forward (CE + AR + TAR), backward, clip, weight decay, update — docs/design.md §1.
            var loss = _train.ForwardWithLossGradients(_inputs.AsSpan(0, rows), _targets.AsSpan(0, rows), window.Length, _regularization, _state.Step);
            if (!double.IsFinite(loss.Total))
                throw new TrainingException(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {_state.Epoch + 1}, step {_state.Step}: the loss is not finite (CE {loss.CrossEntropy}, AR {loss.Ar}, TAR {loss.Tar}); the run stops here{LastGood()}"));
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
        }
        return true;
    }

    /// <summary>Mean cross-entropy per token over a split (no dropout, no AR/TAR), state reset at the start (docs/design.md §1).</summary>
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
            sum += model.Evaluate(inputs.AsSpan(0, rows), targets.AsSpan(0, rows), window.Length) * rows;
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
        double valid = Evaluate(_eval, _plan.Valid), test = Evaluate(_eval, _plan.Test);
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
            ConfigName = _config.Name,
            CorpusSha256 = _corpusSha256.Count > 0 ? _corpusSha256 : null,
            VocabularySha256 = _vocabularySha256,
            Model = Shape,
            Training = _state with { Seconds = _state.Seconds + clock.Elapsed.TotalSeconds },
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
        try { Checkpoint.Save(path, metadata, (name, destination) => _parameters.Read(name, destination), state); }
        catch (CheckpointException e) when (e.InnerException is IOException or UnauthorizedAccessException)
        {
            // A full disk or a lost permission: the run failed (exit 1), it was no bad input; the last checkpoint is intact.
            throw new TrainingException($"{e.Message}; the run stops here: make room and continue with: artar train --resume {_files.Folder}");
        }
    }

    private NamedTensor Download(string name, int[] shape, ITensor tensor)
    {
        var data = new float[shape[0] * shape[1]];
        _backend.Download(tensor, data);
        return new NamedTensor(name, shape, data);
    }

    private static string HiddenName(int layer) => $"{Checkpoint.StatePrefix}h_l{layer}";

    private static string CellName(int layer) => $"{Checkpoint.StatePrefix}c_l{layer}";

    public void Dispose()
    {
        _train.Dispose();
        _eval.Dispose();
        _squaredNorm.Dispose();
        _parameters.Dispose();
    }
}
