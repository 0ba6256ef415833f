using ArTar.Cli.Runs;
using System.Buffers.Binary;
using System.Globalization;
using ArTar.Cli.Reports;
using ArTar.Configuration;
using ArTar.Training;

namespace ArTar.Tests.Reports;

/// <summary>artar report on run folders written by hand with <see cref="RunDirectory"/> and <see cref="MetricsLog"/>: finished, stopped, damaged.</summary>
public class ReportTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = TestData.TempFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static RunConfig PaperConfig(string name) => RunConfig.Load(Path.Combine(TestData.RepoRoot, "config", name + ".json"));

    /// <summary>A run folder of <paramref name="config"/> with epoch lines of these validation perplexities, and summary.json if given.</summary>
    internal static RunDirectory WriteRun(string path, RunConfig config, double[] valid, RunSummary? summary)
    {
        var run = RunDirectory.CreateAt(path, config.ToJson(), ["<eos>", "the", "cat"]);
        for (int e = 0; e < valid.Length; e++)
        {
            run.Metrics.Append(new StepMetrics(e + 1, 10 * (e + 1), 20, 5, 5, 0, 0, 1000));
            run.Metrics.Append(new EpochMetrics(e + 1, valid[e] * 1.5, valid[e], 20, 60));
        }
        if (summary is not null) run.WriteSummary(summary);
        return run;
    }

    private static RunSummary Summary(string config, double valid, double test, int epochs = 3) => new()
    {
        Config = config, Device = "cpu (test)", Parameters = 13_316_000, Epochs = epochs, BestEpoch = epochs - 1,
        ValidPpl = valid, TestPpl = test, WallSeconds = 3600.5,
    };

    private static (int Code, string Out, string Err) Report(params string[] args) => CliTests.Run(["report", .. args]);

    /// <summary>results.csv read back: RFC 4180 fields, by column name.</summary>
    internal static List<Dictionary<string, string>> ReadCsv(string path)
    {
        var lines = new List<List<string>>();
        string text = File.ReadAllText(path);
        var field = new System.Text.StringBuilder();
        var line = new List<string>();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { line.Add(field.ToString()); field.Clear(); }
            else if (c == '\n') { line.Add(field.ToString()); field.Clear(); lines.Add(line); line = []; }
            else field.Append(c);
        }
        Assert.That(field.Length + line.Count, Is.Zero, "the csv ends with a newline");
        Assert.That(lines[0], Is.EqualTo(Cli.Reports.Report.CsvHeader));
        Assert.That(lines.Skip(1).Select(l => l.Count), Is.All.EqualTo(lines[0].Count));
        return [.. lines.Skip(1).Select(l => lines[0].Zip(l).ToDictionary(p => p.First, p => p.Second))];
    }

    internal static (int Width, int Height) PngSize(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.That(bytes[..8], Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10 }), "a PNG signature");
        return (BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    [Test]
    public void APaperConfigIsComparedWithItsRow()
    {
        WriteRun(Path.Combine(_dir, "ptb-650"), PaperConfig("ptb-650"), [90, 80, 75.25], Summary("ptb-650", 75.25, 71.5));
        var (code, output, err) = Report(_dir);
        Assert.That(code, Is.Zero, err);
        var row = ReadCsv(Path.Combine(_dir, "results.csv")).Single();
        Assert.Multiple(() =>
        {
            Assert.That((row["config"], row["paper_table"], row["paper_valid"], row["paper_test"]), Is.EqualTo(("ptb-650", "3", "72", "68.9")));
            Assert.That(double.Parse(row["valid_diff"], CultureInfo.InvariantCulture), Is.EqualTo(75.25 - 72.0).Within(1e-12));
            Assert.That(double.Parse(row["test_diff"], CultureInfo.InvariantCulture), Is.EqualTo(71.5 - 68.9).Within(1e-12));
            Assert.That((row["cell"], row["hidden"], row["alpha"], row["beta"], row["dropout"], row["dropout_h"]), Is.EqualTo(("lstm", "650", "5", "2", "0.5", "0.4")));
            Assert.That((row["parameters"], row["epochs"], row["best_epoch"], row["wall_seconds"], row["device"]), Is.EqualTo(("13316000", "3", "2", "3600.5", "cpu (test)")));
            Assert.That(output, Does.Contain("ptb-650").And.Contain("75.25").And.Contain("Table 3").And.Contain("+3.25"));
            string md = File.ReadAllText(Path.Combine(_dir, "results.md"));
            Assert.That(md, Does.Contain("| ptb-650 | ptb-650 | finished | lstm | 650 | 5 | 2 | 0.5 | 0.4 | 13.3M | 3 | 2 | 75.25 | 71.50 | 60 min | cpu (test) | Table 3 | 72.00 | 68.90 | +3.25 | +2.60 |"));
            Assert.That(md, Does.Contain("- Table 3: ").And.Contain("![validation curves](results.png)"));
        });
    }

    [Test]
    public void ARunOfAPaperConfigChangedWithSetIsNotCompared()
    {
        WriteRun(Path.Combine(_dir, "ptb-650"), PaperConfig("ptb-650").WithOverride("alpha=2"), [90], Summary("ptb-650", 90, 88, epochs: 1));
        Assert.That(Report(_dir).Code, Is.Zero);
        var row = ReadCsv(Path.Combine(_dir, "results.csv")).Single();
        Assert.That((row["paper_table"], row["paper_mismatch"], row["paper_valid"], row["valid_diff"]), Is.EqualTo(("3", "alpha 2 vs 5", "", "")));
        Assert.That(File.ReadAllText(Path.Combine(_dir, "results.md")), Does.Contain("its config differs from the paper's row (alpha 2 vs 5)"));
    }

    [Test]
    public void AStoppedRunShowsItsStateAndLastEpoch()
    {
        // No summary.json: stopped (or still running) after three epochs; the folder name carries the config name.
        WriteRun(Path.Combine(_dir, "ptb-gru-650-20261201-101500"), PaperConfig("ptb-gru-650"), [300, 200, 150.5], null);
        var (code, output, _) = Report(_dir);
        Assert.That(code, Is.Zero);
        var row = ReadCsv(Path.Combine(_dir, "results.csv")).Single();
        Assert.Multiple(() =>
        {
            Assert.That((row["config"], row["state"], row["epochs"], row["valid_ppl"], row["test_ppl"], row["best_epoch"]),
                Is.EqualTo(("ptb-gru-650", "stopped at epoch 3", "3", "150.5", "", "")));
            Assert.That(row["wall_seconds"], Is.EqualTo("180"), "the finished epochs' time");
            // Its model is the one the config and vocab.txt describe: GRU, V = 3, H = 650, 2 layers.
            Assert.That(row["parameters"], Is.EqualTo((3 * 650 + 2 * (2 * 3 * 650 * 650 + 2 * 3 * 650) + 3).ToString(CultureInfo.InvariantCulture)));
            Assert.That(row["paper_valid"], Is.EqualTo("83.9"));
            Assert.That(output, Does.Contain("stopped at epoch 3"));
            Assert.That(File.ReadAllText(Path.Combine(_dir, "results.md")), Does.Contain("| stopped at epoch 3 |").And.Contain("| 150.50 | — |"));
        });
    }

    [Test]
    public void ADamagedSummaryIsNamedInItsRowAndTheOtherRunsStand()
    {
        WriteRun(Path.Combine(_dir, "a"), PaperConfig("ptb-650"), [90, 80], Summary("ptb-650", 80, 77, epochs: 2));
        var bad = WriteRun(Path.Combine(_dir, "b"), PaperConfig("ptb-650-baseline"), [95, 85], null);
        File.WriteAllText(bad.SummaryPath, "{\"config\": \"ptb-650-baseline\", \"valid_ppl\": ");
        var (code, _, err) = Report(_dir);
        Assert.That(code, Is.Zero, err);
        var rows = ReadCsv(Path.Combine(_dir, "results.csv"));
        Assert.That(rows.Select(r => r["run"]), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(rows[0]["state"], Is.EqualTo("finished"));
        Assert.That(rows[1]["state"], Does.StartWith("summary.json is damaged ("));
        Assert.That((rows[1]["valid_ppl"], rows[1]["test_ppl"]), Is.EqualTo(("85", "")), "the last epoch line stands in");
    }

    [Test]
    public void ADamagedConfigIsNamedInItsRow()
    {
        var run = WriteRun(Path.Combine(_dir, "ptb-650-20261201-101500"), PaperConfig("ptb-650"), [90, 85], null);
        File.WriteAllText(run.ConfigPath, "{\"model\": \"lstm\", \"hidden\": ");
        WriteRun(Path.Combine(_dir, "ptb-650-alpha1"), PaperConfig("ptb-650-alpha1"), [88], null);
        var (code, output, err) = Report(_dir);
        Assert.That(code, Is.Zero, err);
        var row = ReadCsv(Path.Combine(_dir, "results.csv"))[0];
        Assert.That(row["state"], Does.StartWith("config.json is damaged (").And.Contain("not valid JSON"));
        Assert.That((row["config"], row["cell"], row["hidden"], row["valid_ppl"], row["paper_mismatch"]), Is.EqualTo(("ptb-650", "", "", "85", "config.json unreadable")));
        Assert.That(output, Does.Not.Contain("sweep"), "a run of unknown config is no member of a sweep");
    }

    [Test]
    public void ADivergedRunIsInfinityInTheCsv()
    {
        var config = PaperConfig("ptb-rnn-650");
        WriteRun(Path.Combine(_dir, "rnn"), config, [double.PositiveInfinity], Summary("ptb-rnn-650", double.PositiveInfinity, double.PositiveInfinity, epochs: 1));
        Assert.That(Report(_dir).Code, Is.Zero);
        var row = ReadCsv(Path.Combine(_dir, "results.csv")).Single();
        Assert.That((row["valid_ppl"], row["valid_diff"]), Is.EqualTo(("Infinity", "")));
        Assert.That(File.ReadAllText(Path.Combine(_dir, "results.md")), Does.Contain("| ∞ | ∞ |"));
    }

    [Test]
    public void RunsThatDifferInBetaAloneAreABetaSweep()
    {
        foreach (int beta in new[] { 3, 1, 2 })
            WriteRun(Path.Combine(_dir, $"ptb-650-beta{beta}"), PaperConfig($"ptb-650-beta{beta}"), [100 + beta], null);
        string out_ = Path.Combine(_dir, "report");
        var (code, output, _) = Report(_dir, "--out", out_);
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain("a β sweep"));
        Assert.That(ReadCsv(Path.Combine(out_, "results.csv")).Select(r => r["beta"]), Is.EqualTo(new[] { "1", "2", "3" }), "ordered by β");
        Assert.That(PngSize(Path.Combine(out_, "results.png")), Is.EqualTo((2 * ReportPlot.PanelWidth, ReportPlot.Height)), "two panels");

        // One run of another dropout: no longer a sweep of β alone.
        WriteRun(Path.Combine(_dir, "other"), PaperConfig("ptb-650-beta1").WithOverride("dropout=0.3"), [90], null);
        (code, output, _) = Report(_dir, "--out", out_);
        Assert.That(output, Does.Not.Contain("sweep"));
        Assert.That(PngSize(Path.Combine(out_, "results.png")), Is.EqualTo((ReportPlot.PanelWidth, ReportPlot.Height)), "curves alone");
    }

    [Test]
    public void SeveralFoldersAreReportedTogetherIntoTheFirst()
    {
        string a = Path.Combine(_dir, "table3"), b = Path.Combine(_dir, "table6");
        WriteRun(Path.Combine(a, "ptb-650"), PaperConfig("ptb-650"), [80], Summary("ptb-650", 80, 77, epochs: 1));
        WriteRun(Path.Combine(b, "deep", "ptb-gru-650"), PaperConfig("ptb-gru-650"), [95], null);
        Assert.That(Report(a, b).Code, Is.Zero);
        Assert.That(ReadCsv(Path.Combine(a, "results.csv")).Select(r => r["run"]),
            Is.EqualTo(new[] { Path.Combine("table3", "ptb-650"), Path.Combine("table6", "deep", "ptb-gru-650") }));
        Assert.That(File.Exists(Path.Combine(b, "results.csv")), Is.False);
    }

    [Test]
    public void AReportIsRewrittenWholeAndLeavesNoTemporaryFile()
    {
        WriteRun(Path.Combine(_dir, "ptb-650"), PaperConfig("ptb-650"), [80], Summary("ptb-650", 80, 77, epochs: 1));
        Assert.That(Report(_dir).Code, Is.Zero);
        Assert.That(Report(_dir).Code, Is.Zero, "a second report over the first");
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "results.csv", "results.md", "results.png" }));
        Assert.That(ReadCsv(Path.Combine(_dir, "results.csv")), Has.Count.EqualTo(1), "the report's own files are no run");
    }

    [Test]
    public void LinksAreNotFollowed()
    {
        // A link back to a folder above would make the search endless (or the whole disk, as /proc/self/root does).
        string root = Path.Combine(_dir, "loop");
        Directory.CreateDirectory(Path.Combine(root, "a"));
        Directory.CreateSymbolicLink(Path.Combine(root, "a", "up"), root);
        WriteRun(Path.Combine(root, "run"), PaperConfig("ptb-650"), [80], null);
        var (code, output, err) = CliTests.Run("report", root, "--out", Path.Combine(_dir, "out"));
        Assert.That(code, Is.Zero, err);
        Assert.That(File.ReadAllLines(Path.Combine(_dir, "out", "results.csv")), Has.Length.EqualTo(2), "the header and the one run, found once");
    }

    [Test]
    public void BadInputIsOneLineAndExitTwo()
    {
        string empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(Path.Combine(empty, "sub"));
        string file = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(file, "x");
        string missing = Path.Combine(_dir, "none");
        WriteRun(Path.Combine(_dir, "run"), PaperConfig("ptb-650"), [80], null);
        foreach (var (args, expected) in new[]
        {
            (new string[0], "artar report: missing DIR"),
            ([missing], $"artar report: {missing} does not exist; give a run folder or a folder of run folders"),
            ([empty], $"artar report: {empty} holds no run (no config.json in it or below it)"),
            ([file], $"artar report: {file} is a file"),
            ([Path.Combine(_dir, "run"), "--out", file], $"artar report: --out {file} is a file"),
            ([Path.Combine(_dir, "run"), "--out", Path.Combine(file, "sub")], $"artar report: --out {Path.Combine(file, "sub")}: cannot create the folder"),
            ([_dir, "--bogus", "1"], "artar report: unknown option --bogus"),
        })
        {
            var (code, _, err) = Report(args);
            Assert.That(code, Is.EqualTo(Program.BadInput), string.Join(' ', args));
            Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1), err);
            Assert.That(err, Does.StartWith("error: " + expected));
        }
        Assert.That(File.ReadAllText(file), Is.EqualTo("x"), "nothing overwritten");
        Assert.That(File.Exists(Path.Combine(_dir, "results.md")), Is.False);
    }

    [Test]
    public void AReportThatCannotBeWrittenIsOneLineAndExitOne()
    {
        WriteRun(Path.Combine(_dir, "ptb-650"), PaperConfig("ptb-650"), [80], null);
        Directory.CreateDirectory(Path.Combine(_dir, Cli.Reports.Report.CsvFile));   // a folder where the file would go
        var (code, _, err) = Report(_dir);
        Assert.That(code, Is.EqualTo(Program.Failed));
        Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1), err);
        Assert.That(err, Does.StartWith($"error: artar report: cannot write the report into {_dir}: "));
    }

    [Test]
    public void HelpDescribesTheReport()
    {
        Assert.That(Report("--help").Out, Does.Contain("usage: artar report DIR... [--out DIR]").And.Contain("results.png"));
        Assert.That(CliTests.Run("--help").Out, Does.Contain("artar report DIR"));
    }
}
