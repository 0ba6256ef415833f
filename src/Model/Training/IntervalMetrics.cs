using ArTar.Models;

namespace ArTar.Training;

/// <summary>Means over the windows since the last metrics record (word_language_model's log interval).</summary>
internal sealed class IntervalMetrics
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
