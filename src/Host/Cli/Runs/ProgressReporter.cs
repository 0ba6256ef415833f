using System.Globalization;

using ArTar.Training;

namespace ArTar.Cli.Runs;

/// <summary>
/// What a user watches while a run trains. On a terminal: one progress line per epoch, redrawn in place with '\r'
/// (windows done, tokens/s, ETA, the epoch's mean loss and perplexity so far, lr). Otherwise (CI, a log file):
/// a plain line every <c>logInterval</c> windows. Then one line per epoch and, at the end, a table of perplexities.
/// </summary>
public sealed class ProgressReporter : ITrainingObserver
{
    private const int BarWidth = 24;

    private readonly TextWriter _out;
    private readonly bool _interactive;
    private readonly int _logInterval;
    private readonly TimeProvider _time;
    private readonly int _width;
    private readonly TimeSpan _redrawEvery = TimeSpan.FromMilliseconds(100);

    private int _epoch, _epochs, _windows;
    private long _epochStart, _lastDraw;
    private long _tokens;
    private int _done;
    private double _sumLoss, _sumCe;
    private double _lr;  // constant within an epoch (annealing happens between epochs)
    private int _lastLineLength;
    private bool _lineOpen;

    /// <param name="output">Where to write (Console.Out in the program, a StringWriter in tests).</param>
    /// <param name="interactive">Redraw a progress bar in place; false for plain periodic lines.</param>
    /// <param name="logInterval">Windows between plain lines (word_language_model's --log-interval, 200).</param>
    /// <param name="time">The clock for tokens/s and ETA; <see cref="TimeProvider.System"/> if null.</param>
    /// <param name="width">Terminal columns; a redrawn line is kept narrower, or it would wrap and '\r' could not
    /// redraw it (0: no limit).</param>
    public ProgressReporter(TextWriter output, bool interactive, int logInterval = 200, TimeProvider? time = null, int width = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(logInterval, 1);
        _out = output;
        _interactive = interactive;
        _logInterval = logInterval;
        _time = time ?? TimeProvider.System;
        _width = width;
    }

    /// <summary>For the program: a progress bar when standard output is a terminal, plain lines when redirected.</summary>
    public static ProgressReporter ForConsole(int logInterval = 200)
    {
        bool interactive = !Console.IsOutputRedirected;
        int width = 0;
        if (interactive)
        {
            try { width = Console.WindowWidth; }
            catch (IOException) { }
        }
        return new(Console.Out, interactive, logInterval, width: width);
    }

    public void Start(RunInfo run)
    {
        _out.WriteLine($"device      {run.Device}");
        _out.WriteLine($"model       {run.Model}, {run.Parameters.ToString("N0", CultureInfo.InvariantCulture)} parameters");
        _out.WriteLine($"config      {run.Config}");
        _out.WriteLine($"data        {run.Data}");
        _out.WriteLine($"run folder  {run.RunFolder}");
        _out.Flush();
    }

    /// <summary>A one-line notice (resumed from …, new best model saved, …), not breaking a progress line.</summary>
    public void Notice(string line)
    {
        EndLine();
        _out.WriteLine(line);
        _out.Flush();
    }

    /// <param name="epoch">1-based.</param>
    /// <param name="windows">Training windows in this epoch.</param>
    public void BeginEpoch(int epoch, int epochs, int windows)
    {
        EndLine();
        (_epoch, _epochs, _windows) = (epoch, epochs, windows);
        (_done, _tokens, _sumLoss, _sumCe) = (0, 0, 0, 0);
        _epochStart = _time.GetTimestamp();
        _lastDraw = long.MinValue;
    }

    /// <summary>After each training window: its token count (B·T), loss (CE+AR+TAR) and cross-entropy, and the lr.</summary>
    public void Window(long tokens, double loss, double ce, double lr)
    {
        _done++;
        _tokens += tokens;
        _sumLoss += loss;
        _sumCe += ce;
        _lr = lr;
        long now = _time.GetTimestamp();
        if (_interactive)
        {
            if (_done == _windows || _lastDraw == long.MinValue || _time.GetElapsedTime(_lastDraw, now) >= _redrawEvery)
            {
                string line = Line(now, bar: true);
                if (_width > 0 && line.Length >= _width)
                    line = Line(now, bar: false);
                Redraw(_width > 0 && line.Length >= _width ? line[..(_width - 1)] : line);
                _lastDraw = now;
            }
        }
        else if (_done % _logInterval == 0 || _done == _windows)
        {
            _out.WriteLine(Line(now, bar: false));
            _out.Flush();
        }
    }

    /// <summary>The epoch's closing line (ends the progress line first).</summary>
    public void EndEpoch(EpochMetrics m, bool best)
    {
        EndLine();
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"end of epoch {m.Epoch,3} | {m.Seconds,7:F1} s | train ppl {Ppl(m.TrainPpl)} | valid ppl {Ppl(m.ValidPpl)} | lr {m.Lr:G4}{(best ? " | best" : "")}"));
        _out.Flush();
    }

    /// <summary>The closing table: the best-validation model's perplexities (paper §3).</summary>
    public void Finish(RunSummary s)
    {
        EndLine();
        string rule = "+-------+------------+";
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{s.Config}: {s.Epochs} epochs in {Duration(s.WallSeconds)} on {s.Device}; best model from epoch {s.BestEpoch}"));
        _out.WriteLine(rule);
        _out.WriteLine("| split | perplexity |");
        _out.WriteLine(rule);
        _out.WriteLine($"| valid | {Ppl(s.ValidPpl),10} |");
        _out.WriteLine($"| test  | {Ppl(s.TestPpl),10} |");
        _out.WriteLine(rule);
        _out.Flush();
    }

    private string Line(long now, bool bar)
    {
        double seconds = _time.GetElapsedTime(_epochStart, now).TotalSeconds;
        double tokensPerSecond = seconds > 0 ? _tokens / seconds : 0;
        double eta = _done > 0 ? seconds / _done * (_windows - _done) : 0;
        string progress;
        if (bar)
        {
            int filled = _windows > 0 ? (int)((long)BarWidth * _done / _windows) : BarWidth;
            progress = $"[{new string('#', filled)}{new string('-', BarWidth - filled)}] {_done}/{_windows}";
        }
        else
        {
            progress = $"{_done,6}/{_windows} windows";
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"epoch {_epoch}/{_epochs} {progress} | {Rate(tokensPerSecond)} tok/s | ETA {Duration(eta)} | loss {_sumLoss / _done:F3} | ppl {Ppl(Math.Exp(_sumCe / _done))} | lr {_lr:G4}");
    }

    private void Redraw(string line)
    {
        // Pad with spaces so a shorter line fully covers the previous one.
        _out.Write('\r' + line.PadRight(_lastLineLength));
        _out.Flush();
        _lastLineLength = line.Length;
        _lineOpen = true;
    }

    private void EndLine()
    {
        if (!_lineOpen)
            return;
        _out.WriteLine();
        _lineOpen = false;
        _lastLineLength = 0;
    }

    /// <summary>A perplexity as every table of the program shows it ("inf" when not finite).</summary>
    internal static string Ppl(double ppl) =>
        double.IsFinite(ppl) ? ppl.ToString(ppl >= 1e5 ? "0.00e+0" : "F2", CultureInfo.InvariantCulture) : "inf";

    private static string Rate(double perSecond) => perSecond switch
    {
        >= 1e6 => (perSecond / 1e6).ToString("F2", CultureInfo.InvariantCulture) + "M",
        >= 1e3 => (perSecond / 1e3).ToString("F1", CultureInfo.InvariantCulture) + "k",
        _ => perSecond.ToString("F0", CultureInfo.InvariantCulture),
    };

    /// <summary>"m:ss" or "h:mm:ss".</summary>
    internal static string Duration(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, Math.Round(seconds)));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
    }
}
