using System.Globalization;
using System.Text;
using ArTar.Configuration;

using ArTar.Cli.Runs;

namespace ArTar.Cli.Reports;

/// <summary>One line of the report: a run, and the paper's row for its config where the run reproduces it.</summary>
/// <param name="Paper">The paper's row for the run's config name; null if the paper has none.</param>
/// <param name="PaperMismatch">Where the run's config.json differs from that row ("alpha 2 vs 5"); its figures are then not compared.</param>
public sealed record ReportRow(RunResult Run, PaperRow? Paper, string? PaperMismatch)
{
    /// <summary>The paper's row when the run's hyperparameters are the row's; null otherwise.</summary>
    public PaperRow? Compared => PaperMismatch is null ? Paper : null;

    /// <summary>Ours − paper (positive: our perplexity is higher); NaN where either is missing.</summary>
    public double ValidDifference => Difference(Run.ValidPpl, Compared?.Valid);
    public double TestDifference => Difference(Run.TestPpl, Compared?.Test);

    private static double Difference(double ours, double? paper) => paper is { } p && double.IsFinite(ours) ? ours - p : double.NaN;
}

/// <summary>Which hyperparameter the runs sweep: α or β, when they differ in that alone.</summary>
public enum Sweep { None, Alpha, Beta }

/// <summary>
/// <c>artar report</c>: every run under the given folders beside the paper's numbers, written as results.md,
/// results.csv and results.png (docs/report.md).
/// </summary>
public sealed class Report
{
    public const string MarkdownFile = "results.md", CsvFile = "results.csv", PngFile = "results.png";

    private readonly PaperResults _paper;

    private Report(IReadOnlyList<ReportRow> rows, Sweep sweep, PaperResults paper)
    {
        Rows = rows;
        Sweep = sweep;
        _paper = paper;
    }

    public IReadOnlyList<ReportRow> Rows { get; }
    public Sweep Sweep { get; }

    /// <summary>
    /// The runs under <paramref name="folders"/>: each is a run folder (it has config.json) or a folder whose
    /// subfolders, at any depth, hold run folders. A folder that does not exist or holds no run is a <see cref="UsageException"/>.
    /// </summary>
    public static Report Build(IReadOnlyList<string> folders, PaperResults paper)
    {
        var runs = new List<RunResult>();
        foreach (string folder in folders)
        {
            if (File.Exists(folder))
                throw new UsageException($"artar report: {folder} is a file; give a run folder or a folder of run folders (e.g. runs/table3)");
            if (!Directory.Exists(folder))
                throw new UsageException($"artar report: {folder} does not exist; give a run folder or a folder of run folders (e.g. runs/table3)");
            var found = RunFolders(folder).ToList();
            if (found.Count == 0)
                throw new UsageException($"artar report: {folder} holds no run (no config.json in it or below it); give a folder made by `artar train`");
            foreach (string run in found)
                runs.Add(RunResult.Read(run, Label(folder, run, folders.Count > 1)));
        }
        var rows = runs.Select(r =>
        {
            PaperRow? row = paper.Find(r.ConfigName);
            string? mismatch = row is null ? null : r.Config is null ? "config.json unreadable" : row.Differences(r.Config);
            return new ReportRow(r, row, mismatch);
        }).ToList();
        Sweep sweep = DetectSweep(runs);
        if (sweep != Sweep.None)
            rows = [.. rows.OrderBy(r => SweptValue(r.Run.Config!, sweep))];
        return new Report(rows, sweep, paper);
    }

    /// <summary>α when every run's config equals the others' but for α, and α takes two values or more; β likewise.</summary>
    public static Sweep DetectSweep(IReadOnlyList<RunResult> runs)
    {
        if (runs.Count < 2 || runs.Any(r => r.Config is null))
            return Sweep.None;
        var configs = runs.Select(r => r.Config! with { Source = "", Name = "" }).ToList();
        foreach (Sweep sweep in new[] { Sweep.Alpha, Sweep.Beta })
        {
            var rest = configs.Select(c => sweep == Sweep.Alpha ? c with { Alpha = 0 } : c with { Beta = 0 }).Distinct().Count();
            var values = configs.Select(c => SweptValue(c, sweep)).Distinct().Count();
            if (rest == 1 && values >= 2)
                return sweep;
        }
        return Sweep.None;
    }

    public static double SweptValue(RunConfig config, Sweep sweep) => sweep == Sweep.Alpha ? config.Alpha : config.Beta;

    /// <summary>Writes results.md, results.csv and results.png into <paramref name="outFolder"/> (created if absent).</summary>
    public void Write(string outFolder)
    {
        Directory.CreateDirectory(outFolder);
        AtomicFile.WriteAllText(Path.Combine(outFolder, CsvFile), Csv());
        AtomicFile.WriteAllText(Path.Combine(outFolder, MarkdownFile), Markdown());
        AtomicFile.WriteAllBytes(Path.Combine(outFolder, PngFile), ReportPlot.RenderPng(this));
    }

    // The columns of every form of the report: heading, the value as the csv holds it, the value as people read it.
    private sealed record Column(string Heading, string CsvName, Func<ReportRow, string> Csv, Func<ReportRow, string> Text, bool CsvOnly = false);

    private static readonly Column[] Columns =
    [
        new("run", "run", r => r.Run.Label, r => r.Run.Label),
        new("config", "config", r => r.Run.ConfigName, r => r.Run.ConfigName),
        new("state", "state", r => r.Run.State, r => r.Run.State),
        new("cell", "cell", r => r.Run.Config?.Model.ConfigName() ?? "", r => r.Run.Config?.Model.ConfigName() ?? Dash),
        new("h", "hidden", r => Invariant(r.Run.Config?.Hidden), r => Text(r.Run.Config?.Hidden)),
        new("α", "alpha", r => Invariant(r.Run.Config?.Alpha), r => Text(r.Run.Config?.Alpha)),
        new("β", "beta", r => Invariant(r.Run.Config?.Beta), r => Text(r.Run.Config?.Beta)),
        new("dp", "dropout", r => Invariant(r.Run.Config?.Dropout), r => Text(r.Run.Config?.Dropout)),
        new("dph", "dropout_h", r => Invariant(r.Run.Config?.DropoutH), r => Text(r.Run.Config?.DropoutH)),
        new("params", "parameters", r => Invariant(r.Run.Parameters), r => r.Run.Parameters is { } p ? Millions(p) : Dash),
        new("epochs", "epochs", r => Invariant(r.Run.EpochsTrained), r => Text(r.Run.EpochsTrained)),
        new("best", "best_epoch", r => Invariant(r.Run.BestEpoch), r => Text(r.Run.BestEpoch)),
        new("valid", "valid_ppl", r => Number(r.Run.ValidPpl), r => Perplexity(r.Run.ValidPpl)),
        new("test", "test_ppl", r => Number(r.Run.TestPpl), r => Perplexity(r.Run.TestPpl)),
        new("wall", "wall_seconds", r => Number(r.Run.WallSeconds), r => Duration(r.Run.WallSeconds)),
        new("device", "device", r => r.Run.Device ?? "", r => r.Run.Device ?? Dash),
        new("paper", "paper_table", r => r.Paper is { } p ? Invariant(p.Table) : "", PaperText),
        new("", "paper_mismatch", r => r.PaperMismatch ?? "", r => "", CsvOnly: true),
        new("paper valid", "paper_valid", r => Invariant(r.Compared?.Valid), r => Perplexity(r.Compared?.Valid)),
        new("paper test", "paper_test", r => Invariant(r.Compared?.Test), r => Perplexity(r.Compared?.Test)),
        new("Δ valid", "valid_diff", r => Number(r.ValidDifference), r => Signed(r.ValidDifference)),
        new("Δ test", "test_diff", r => Number(r.TestDifference), r => Signed(r.TestDifference)),
    ];

    private const string Dash = "—";

    // The md and console tables leave out what only a program reading the csv needs (the md has it as notes).
    private static IEnumerable<Column> Shown => Columns.Where(c => !c.CsvOnly);

    /// <summary>The csv's header, in column order.</summary>
    public static IReadOnlyList<string> CsvHeader => [.. Columns.Select(c => c.CsvName)];

    /// <summary>results.csv: a header line, then one line per run; numbers round-trip, a missing value is empty (RFC 4180 quoting).</summary>
    public string Csv()
    {
        var b = new StringBuilder();
        b.AppendJoin(',', Columns.Select(c => c.CsvName)).Append('\n');
        foreach (ReportRow row in Rows)
            b.AppendJoin(',', Columns.Select(c => Quote(c.Csv(row)))).Append('\n');
        return b.ToString();
    }

    /// <summary>results.md: the table, how to read it, the notes of the paper tables it cites, and the figure.</summary>
    public string Markdown()
    {
        var b = new StringBuilder("# Results\n\n");
        b.Append("Valid and test are the perplexities of each run's best-validation model (a run still going, or stopped, shows its ")
         .Append("last epoch's validation perplexity and no test). Paper: the table whose row the run's config reproduces, and that row's ")
         .Append("published figures; Δ is ours − paper.\n\n");
        b.Append("| ").AppendJoin(" | ", Shown.Select(c => c.Heading)).Append(" |\n");
        b.Append('|').Append(string.Concat(Shown.Select(_ => " --- |"))).Append('\n');
        foreach (ReportRow row in Rows)
            b.Append("| ").AppendJoin(" | ", Shown.Select(c => c.Text(row).Replace("|", "\\|"))).Append(" |\n");
        var tables = Rows.Where(r => r.Paper is not null).Select(r => r.Paper!.Table).Distinct().Order().ToList();
        if (tables.Count > 0 || Rows.Any(r => r.PaperMismatch is not null))
        {
            b.Append("\nNotes:\n\n");
            foreach (ReportRow row in Rows.Where(r => r.PaperMismatch is not null))
                b.Append($"- {row.Run.Label}: not compared with Table {row.Paper!.Table}, its config differs from the paper's row ({row.PaperMismatch}).\n");
            foreach (int table in tables)
                b.Append($"- Table {table}: {_paper.Table(table).Note}\n");
        }
        b.Append($"\n![validation curves]({PngFile})\n");
        return b.ToString();
    }

    /// <summary>The table for the console, columns padded to their widest cell.</summary>
    public string ConsoleTable()
    {
        Column[] shown = [.. Shown];
        var cells = new List<string[]> { shown.Select(c => c.Heading).ToArray() };
        cells.AddRange(Rows.Select(r => shown.Select(c => c.Text(r)).ToArray()));
        int[] widths = [.. shown.Select((_, i) => cells.Max(line => line[i].Length))];
        var b = new StringBuilder();
        foreach (string[] line in cells)
            b.Append(string.Join("  ", line.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd()).Append('\n');
        return b.ToString();
    }

    private static string PaperText(ReportRow r) =>
        r.Paper is null ? Dash : r.PaperMismatch is null ? $"Table {r.Paper.Table}" : $"Table {r.Paper.Table} (config differs)";

    private static string Label(string root, string run, bool severalRoots)
    {
        string relative = Path.GetRelativePath(root, run);
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)));
        if (relative == ".") return Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(run)));
        return severalRoots ? Path.Combine(name, relative) : relative;
    }

    // Deep enough for runs/<grid>/<sweep>/<member>/; a bound, since symbolic links can make a folder its own descendant.
    private const int MaxDepth = 8;

    // A run folder is one with config.json; its own subfolders are not searched.
    private static IEnumerable<string> RunFolders(string folder, int depth = 0)
    {
        if (File.Exists(Path.Combine(folder, "config.json")))
        {
            yield return folder;
            yield break;
        }
        if (depth == MaxDepth)
            yield break;
        IEnumerable<string> children;
        try { children = Directory.GetDirectories(folder).Order(StringComparer.Ordinal).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { yield break; }
        // Links are not followed: /proc/self/root, or a link to a folder above, would make the search the whole disk.
        foreach (string child in children.Where(c => new DirectoryInfo(c).LinkTarget is null))
            foreach (string run in RunFolders(child, depth + 1))
                yield return run;
    }

    private static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{field.Replace("\"", "\"\"")}\"" : field;

    private static string Invariant<T>(T? value) where T : struct, IFormattable =>
        value is { } v ? v.ToString(null, CultureInfo.InvariantCulture) : "";

    private static string Invariant<T>(T value) where T : struct, IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    private static string Text<T>(T? value) where T : struct, IFormattable =>
        value is { } v ? v.ToString(null, CultureInfo.InvariantCulture) : Dash;

    private static string Text<T>(T value) where T : struct, IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    // Round-trip form; NaN (no value) is empty; a diverged run's +∞ is "Infinity", as summary.json writes it.
    private static string Number(double value) => double.IsNaN(value) ? "" : value.ToString("R", CultureInfo.InvariantCulture);

    private static string Perplexity(double? value) =>
        value is not { } v || double.IsNaN(v) ? Dash : double.IsPositiveInfinity(v) ? "∞" : v.ToString("F2", CultureInfo.InvariantCulture);

    private static string Signed(double value) => double.IsNaN(value) ? Dash : value.ToString("+0.00;−0.00;0.00", CultureInfo.InvariantCulture);

    private static string Millions(long count) => (count / 1e6).ToString("F1", CultureInfo.InvariantCulture) + "M";

    private static string Duration(double seconds) => seconds switch
    {
        double.NaN => Dash,
        < 90 => seconds.ToString("F0", CultureInfo.InvariantCulture) + " s",
        < 5400 => (seconds / 60).ToString("F0", CultureInfo.InvariantCulture) + " min",
        _ => (seconds / 3600).ToString("F1", CultureInfo.InvariantCulture) + " h",
    };
}
