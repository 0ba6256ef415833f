using System.Globalization;

using ArTar.Cli.Runs;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// The sweep on the terminal: one line per member (state, epoch, lr, last valid perplexity, ETA), redrawn in place
/// with ANSI cursor movement on a terminal, or a plain line whenever a member's state or epoch changes otherwise;
/// at the end a table of member, state, epochs, valid and test perplexity.
/// </summary>
/// <param name="width">Terminal columns: a redrawn line is cut to fit, or it would wrap (0: no limit).</param>
/// <param name="height">Terminal rows: more members than fit are shown as plain lines, as the cursor cannot move back above the screen (0: no limit).</param>
public sealed class SweepDisplay(TextWriter output, bool interactive, int width = 0, int height = 0)
{
    private bool _interactive = interactive;
    private int _drawn;   // lines of the last redraw, to move the cursor back over
    private readonly Dictionary<string, string> _shown = [];
    private int _nameWidth;

    /// <summary>A display on the console: in place when standard output is a terminal (as ProgressReporter decides).</summary>
    public static SweepDisplay ForConsole(TextWriter stdout)
    {
        bool interactive = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        int width = 0, height = 0;
        if (interactive)
        {
            try { (width, height) = (Console.WindowWidth, Console.WindowHeight); }
            catch (IOException) { }
        }
        return new SweepDisplay(stdout, interactive, width, height);
    }

    public void Start(SweepPlan plan, IReadOnlyList<MemberRun> runs, int parallel)
    {
        _nameWidth = runs.Max(r => r.Member.Name.Length);
        if (height > 0 && runs.Count >= height) _interactive = false;
        int earlier = runs.Count(r => r.Earlier), resume = runs.Count(r => r.Planned.Start == MemberStart.Resume);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sweep {plan.Name}: {runs.Count} member{(runs.Count == 1 ? "" : "s")} in {plan.Folder} ({earlier} finished earlier, {resume} to resume), {parallel} at a time; each member's output in {Path.Combine(plan.Folder, "<member>.log")}"));
        output.Flush();
    }

    public void Update(IReadOnlyList<MemberRun> runs)
    {
        if (_interactive)
        {
            // Back to the first member's line (ESC [ n F), then each line cleared (ESC [ 2 K) and written again.
            if (_drawn > 0) output.Write($"\e[{_drawn}F");
            foreach (var r in runs)
            {
                string line = Line(r);
                output.Write("\e[2K" + (width > 0 && line.Length >= width ? line[..(width - 1)] : line) + "\n");
            }
            _drawn = runs.Count;
        }
        else
        {
            // A new line only when the state or the epoch changes, not for every lr or ETA.
            foreach (var r in runs)
            {
                string key = $"{r.State} {r.Progress.EpochsDone}";
                if (_shown.TryGetValue(r.Member.Name, out string? shown) && shown == key) continue;
                _shown[r.Member.Name] = key;
                output.WriteLine(Line(r));
            }
        }
        output.Flush();
    }

    public void Finish(IReadOnlyList<MemberRun> runs, bool stopped)
    {
        if (!_interactive) output.WriteLine();
        string[] head = ["member", "state", "epochs", "valid", "test"];
        var rows = runs.Select(r => new[]
        {
            r.Member.Name,
            r.State.ToString().ToLowerInvariant() + (r.Earlier ? " (earlier)" : ""),
            $"{r.Summary?.Epochs ?? r.Progress.EpochsDone}/{r.Planned.Config.Epochs}",
            Ppl(r.Summary?.ValidPpl ?? r.Progress.BestValidPpl),
            Ppl(r.Summary?.TestPpl ?? double.NaN),
        }).ToList();
        int[] widths = [.. head.Select((h, i) => Math.Max(h.Length, rows.Max(row => row[i].Length)))];
        string rule = "+" + string.Join("+", widths.Select(w => new string('-', w + 2))) + "+";
        string Row(string[] cells) => "| " + string.Join(" | ", cells.Select((c, i) => i < 2 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))) + " |";
        output.WriteLine(rule);
        output.WriteLine(Row(head));
        output.WriteLine(rule);
        foreach (var row in rows) output.WriteLine(Row(row));
        output.WriteLine(rule);
        foreach (var r in runs.Where(r => r.State == MemberState.Failed))
            output.WriteLine($"{r.Member.Name} failed: {r.Error} (see {r.LogPath})");
        if (stopped || runs.Any(r => r.State == MemberState.Stopped))
            output.WriteLine("stopped; run the same `artar sweep …` again to resume the stopped members");
        output.Flush();
    }

    /// <summary>A member's live line, e.g. "ptb-650-alpha=2  running  epoch 3/80  lr 20  valid 120.31  ETA 1:02:13".</summary>
    public string Line(MemberRun r)
    {
        var p = r.Progress;
        string name = r.Member.Name.PadRight(_nameWidth);
        int epochs = r.Planned.Config.Epochs;
        return r.State switch
        {
            MemberState.Waiting => $"{name}  waiting" + (r.Planned.Start == MemberStart.Resume ? $"  (to resume at epoch {p.EpochsDone + 1}/{epochs})" : ""),
            MemberState.Running => string.Create(CultureInfo.InvariantCulture,
                $"{name}  running  epoch {Math.Max(p.Epoch, 1)}/{epochs}  lr {(double.IsNaN(p.Lr) ? "-" : p.Lr.ToString("G4", CultureInfo.InvariantCulture))}  valid {Ppl(p.LastValidPpl)}  ETA {Duration(r.EtaSeconds)}"),
            MemberState.Done => string.Create(CultureInfo.InvariantCulture,
                $"{name}  done     {r.Summary?.Epochs ?? p.EpochsDone}/{epochs} epochs  valid {Ppl(r.Summary?.ValidPpl ?? p.BestValidPpl)}  test {Ppl(r.Summary?.TestPpl ?? double.NaN)}{(r.Earlier ? "  (finished earlier)" : "")}"),
            MemberState.Stopped => $"{name}  stopped  epoch {Math.Max(p.Epoch, 1)}/{epochs}, step {p.Step}  valid {Ppl(p.LastValidPpl)}",
            _ => $"{name}  failed   {r.Error}",
        };
    }

    // As the progress line shows them, with "-" for a figure a member does not have yet.
    private static string Ppl(double ppl) => double.IsNaN(ppl) ? "-" : ProgressReporter.Ppl(ppl);

    private static string Duration(double seconds) => double.IsFinite(seconds) ? ProgressReporter.Duration(seconds) : "-";
}
