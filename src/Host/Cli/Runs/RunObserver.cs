using ArTar.Training;

namespace ArTar.Cli.Runs;

/// <summary>
/// What the program shows of a training run: the progress on the terminal, and curves.png in the run folder
/// redrawn from metrics.jsonl at the end of each epoch.
/// </summary>
public sealed class RunObserver(ProgressReporter progress, RunDirectory run, string title) : ITrainingObserver
{
    public void Start(RunInfo info) => progress.Start(info);

    public void Notice(string line) => progress.Notice(line);

    public void BeginEpoch(int epoch, int epochs, int windows) => progress.BeginEpoch(epoch, epochs, windows);

    public void Window(long tokens, double loss, double ce, double lr) => progress.Window(tokens, loss, ce, lr);

    public void EndEpoch(EpochMetrics metrics, bool best)
    {
        run.WriteCurves(title);
        progress.EndEpoch(metrics, best);
    }

    public void Finish(RunSummary summary) => progress.Finish(summary);
}
