namespace ArTar.Training;

/// <summary>The block printed when a run starts; each field is one line the trainer has already formatted.</summary>
/// <param name="Model">E.g. "lstm, 2 layers, hidden 650, vocabulary 10000".</param>
/// <param name="Config">E.g. "ptb-650: epochs 80, batch 20, bptt 35, lr 20, clip 0.25, dropout 0.4, alpha 2, beta 1".</param>
/// <param name="Data">E.g. "ptb at /data/ptb: train 929,589 tokens, valid 73,760, test 82,430".</param>
public sealed record RunInfo(string Device, long Parameters, string Model, string Config, string Data, string RunFolder);

/// <summary>
/// What the <see cref="Trainer"/> tells whoever watches a run, in order: <see cref="Start"/>, then per epoch
/// <see cref="BeginEpoch"/>, <see cref="Window"/> per step and <see cref="EndEpoch"/>, and <see cref="Finish"/> at the end;
/// <see cref="Notice"/> at any time. The program's implementation draws the progress line and curves.png; the trainer
/// itself writes nothing to a console.
/// </summary>
public interface ITrainingObserver
{
    void Start(RunInfo run);

    /// <summary>A line for the user (resumed from …, lr annealed …, stopped …).</summary>
    void Notice(string line);

    void BeginEpoch(int epoch, int epochs, int windows);

    /// <summary>One training step: its tokens, total loss, cross-entropy and the lr it used.</summary>
    void Window(long tokens, double loss, double ce, double lr);

    /// <summary>An epoch ended and its line is in metrics.jsonl; <paramref name="best"/> when it is the best model so far.</summary>
    void EndEpoch(EpochMetrics metrics, bool best);

    /// <summary>The run finished; <paramref name="summary"/> is what summary.json holds.</summary>
    void Finish(RunSummary summary);
}
