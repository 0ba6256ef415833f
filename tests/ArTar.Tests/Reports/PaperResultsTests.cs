using ArTar.Cli.Reports;
using ArTar.Configuration;

namespace ArTar.Tests.Reports;

/// <summary>config/paper/results.json against the paper's text, row by row where spot-checked, and against config/.</summary>
public class PaperResultsTests
{
    private static PaperResults Paper => PaperResults.Published;

    [Test]
    public void Table3FirstPairIsTheH650Baseline78_2_74_8AndArTar72_0_68_9()
    {
        PaperRow baseline = Paper.Find("ptb-650-baseline")!, arTar = Paper.Find("ptb-650")!;
        Assert.Multiple(() =>
        {
            Assert.That((baseline.Table, baseline.Valid, baseline.Test, baseline.Parameters), Is.EqualTo((3, 78.2, 74.8, "13M")));
            Assert.That(baseline.Row, Is.EqualTo("PTB, LSTM (tied) h = 650, dp = 0.5, dph = 0.4"));
            // ptb-650 is also Table 5's row; Table 3 comes first.
            Assert.That((arTar.Table, arTar.Valid, arTar.Test), Is.EqualTo((3, 72.0, 68.9)));
            Assert.That(Paper.Table(5).Rows.Count(r => r.Configs.Contains("ptb-650")), Is.EqualTo(1));
        });
    }

    // One row of each other table, as the paper prints it.
    [TestCase("ptb-650-alpha7", 1, 73.0, null)]
    [TestCase("ptb-650-alpha9", 1, 74.0, null)]
    [TestCase("ptb-1500-baseline", 3, 71.3, 68.3)]
    [TestCase("wt2-650", 4, 85.8, 81.8)]
    [TestCase("wt2-650-baseline", 4, 88.8, 84.9)]
    [TestCase("ptb-rnn-650-baseline", 6, 712.3, 667.5)]
    [TestCase("ptb-gru-650", 6, 83.9, 81.1)]
    [TestCase("ptb-rnn-650-lr5", 6, 232.1, 227.8)]
    public void AConfigFindsItsRow(string config, int table, double valid, double? test)
    {
        PaperRow row = Paper.Find(config)!;
        Assert.That((row.Table, row.Valid, row.Test), Is.EqualTo((table, (double?)valid, test)));
    }

    [Test]
    public void Table5HoldsThePublishedModelsWithTheirSpread()
    {
        var rows = Paper.Table(5).Rows;
        Assert.That(rows, Has.Count.EqualTo(16));
        PaperRow rhn = rows.Single(r => r.Row == "Zilly et al. (2016) - Variational RHN (tied)");
        Assert.That((rhn.Parameters, rhn.Valid, rhn.Test), Is.EqualTo(("23M", (double?)67.9, (double?)65.4)));
        PaperRow gal = rows.Single(r => r.Row == "Gal & Ghahramani (2016) - Variational LSTM (large)");
        Assert.That((gal.Valid, gal.ValidSd, gal.Test, gal.TestSd), Is.EqualTo(((double?)77.9, (double?)0.3, (double?)75.2, (double?)0.2)));
        PaperRow nas = rows.Single(r => r.Parameters == "54M");
        Assert.That((nas.Row, nas.Valid, nas.Test), Is.EqualTo(("Zoph & Le (2016) - NAS Cell (tied)", (double?)null, (double?)62.4)));
    }

    [Test]
    public void Table2SaysItsValuesAreMissingAndHasNoRows()
    {
        Assert.That(Paper.Table(2).Rows, Is.Empty);
        Assert.That(Paper.Table(2).Note, Does.StartWith("Missing"));
        Assert.That(Paper.Find("ptb-650-beta2"), Is.Null);
        Assert.That(Paper.Table(1).Note, Does.StartWith("Uncertain"));
    }

    [Test]
    public void EachTableHasTheRowsOfThePaper()
    {
        Assert.That(Paper.Tables.Select(t => (t.Table, t.Rows.Count)), Is.EqualTo(new[] { (1, 6), (2, 0), (3, 6), (4, 4), (5, 16), (6, 4) }));
        Assert.That(Paper.Tables.SelectMany(t => t.Rows).All(r => r.Table >= 1), "each row knows its table");
    }

    [Test]
    public void EveryConfigARowNamesExistsWithTheRowsHyperparameters()
    {
        var named = Paper.Tables.SelectMany(t => t.Rows).SelectMany(r => r.Configs.Select(c => (Row: r, Config: c))).ToList();
        Assert.That(named.Select(n => n.Config).Distinct().Count(), Is.EqualTo(20), "every paper config of docs/configs.md but the β sweep");
        foreach (var (row, name) in named)
        {
            var config = RunConfig.Load(Path.Combine(TestData.RepoRoot, "config", name + ".json"));
            Assert.That(row.Differences(config), Is.Null, $"{name} vs Table {row.Table}: {row.Row}");
        }
    }

    [Test]
    public void TheEmbeddedCopyIsTheFileInConfig()
    {
        var file = PaperResults.Parse(File.ReadAllText(Path.Combine(TestData.RepoRoot, "config", "paper", "results.json")), "results.json");
        Assert.That(file.Tables.SelectMany(t => t.Rows), Is.EqualTo(Paper.Tables.SelectMany(t => t.Rows)).Using<PaperRow>(SameRow));
    }

    private static bool SameRow(PaperRow a, PaperRow b) =>
        a with { Configs = [] } == b with { Configs = [] } && a.Configs.SequenceEqual(b.Configs);

    [Test]
    public void DifferencesNameTheKeysThatDiffer()
    {
        var config = RunConfig.Load(Path.Combine(TestData.RepoRoot, "config", "ptb-650.json")).WithOverride("alpha=2").WithOverride("hidden=12");
        Assert.That(Paper.Find("ptb-650")!.Differences(config), Is.EqualTo("hidden 12 vs 650, alpha 2 vs 5"));
    }

    [Test]
    public void ADamagedFileNamesItself()
    {
        Assert.That(() => PaperResults.Parse("""{"paper": "x", "reading": "y", "tables": [{"table": 1}]}""", "results.json"),
            Throws.TypeOf<InvalidDataException>().With.Message.StartsWith("results.json:"));
        Assert.That(() => PaperResults.Parse("{", "results.json"), Throws.TypeOf<InvalidDataException>());
    }
}
