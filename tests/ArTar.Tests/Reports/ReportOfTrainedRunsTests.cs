using ArTar.Cli.Runs;
using System.Globalization;
using ArTar.Cli.Reports;
using ArTar.Training;

namespace ArTar.Tests.Reports;

/// <summary>artar report over an α sweep of two tiny runs that <c>artar train</c> made on PTB.</summary>
[NonParallelizable]
public class ReportOfTrainedRunsTests
{
    private string _dir = "", _sweep = "";
    private readonly double[] _alphas = [0, 2];

    [OneTimeSetUp]
    public void TrainTwo()
    {
        string data = TestData.Folder("ptb");
        _dir = TestData.TempFolder();
        _sweep = Path.Combine(_dir, "alpha-sweep");
        string config = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(config, """
            {"model": "lstm", "layers": 2, "hidden": 10, "dropout": 0.2, "dropout_h": 0.1, "beta": 1,
             "epochs": 2, "batch_size": 4, "eval_batch_size": 5, "bptt": 8, "data": "data/ptb",
             "max_train_tokens": 800, "max_eval_tokens": 400, "log_interval": 20}
            """);
        foreach (double alpha in _alphas)
        {
            string a = alpha.ToString(CultureInfo.InvariantCulture);
            var (code, _, err) = CliTests.Run("train", config, "--device", "cpu", "--data", data, "--set", $"alpha={a}",
                "--run-dir", Path.Combine(_sweep, $"tiny-alpha{a}"));
            Assert.That(code, Is.Zero, err);
        }
    }

    [OneTimeTearDown]
    public void CleanUp()
    {
        if (_dir.Length > 0) Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public void TheReportsNumbersAreTheRunsSummaries()
    {
        var (code, output, err) = CliTests.Run("report", _sweep);
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Contain("an α sweep"));
        var rows = ReportTests.ReadCsv(Path.Combine(_sweep, Report.CsvFile));
        Assert.That(rows.Select(r => r["run"]), Is.EqualTo(new[] { "tiny-alpha0", "tiny-alpha2" }));
        foreach (var row in rows)
        {
            RunSummary summary = RunDirectory.Open(Path.Combine(_sweep, row["run"])).ReadSummary();
            Assert.Multiple(() =>
            {
                Assert.That(double.Parse(row["valid_ppl"], CultureInfo.InvariantCulture), Is.EqualTo(summary.ValidPpl), "round-trips exactly");
                Assert.That(double.Parse(row["test_ppl"], CultureInfo.InvariantCulture), Is.EqualTo(summary.TestPpl));
                Assert.That(double.Parse(row["wall_seconds"], CultureInfo.InvariantCulture), Is.EqualTo(summary.WallSeconds));
                Assert.That(long.Parse(row["parameters"], CultureInfo.InvariantCulture), Is.EqualTo(summary.Parameters));
                Assert.That((row["config"], row["epochs"], row["best_epoch"], row["device"], row["state"]),
                    Is.EqualTo(("tiny", "2", summary.BestEpoch.ToString(CultureInfo.InvariantCulture), summary.Device, "finished")));
                Assert.That(row["paper_table"], Is.Empty, "tiny is no row of the paper");
                Assert.That(output, Does.Contain(summary.ValidPpl.ToString("F2", CultureInfo.InvariantCulture)));
            });
        }
        Assert.That(rows.Select(r => r["alpha"]), Is.EqualTo(new[] { "0", "2" }));
        Assert.That(ReportTests.PngSize(Path.Combine(_sweep, Report.PngFile)), Is.EqualTo((2 * ReportPlot.PanelWidth, ReportPlot.Height)));
    }

    [Test]
    public void ARunFolderAloneIsAReportOfOne()
    {
        string run = Path.Combine(_sweep, "tiny-alpha2"), out_ = Path.Combine(_dir, "one");
        var (code, output, err) = CliTests.Run("report", run, "--out", out_);
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Not.Contain("sweep"));
        Assert.That(ReportTests.ReadCsv(Path.Combine(out_, Report.CsvFile)).Single()["run"], Is.EqualTo("tiny-alpha2"));
        Assert.That(ReportTests.PngSize(Path.Combine(out_, Report.PngFile)), Is.EqualTo((ReportPlot.PanelWidth, ReportPlot.Height)));
    }
}
