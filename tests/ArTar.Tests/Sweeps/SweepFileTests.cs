using ArTar.Cli;
using ArTar.Cli.Sweeps;

namespace ArTar.Tests.Sweeps;

/// <summary>The sweep files of config/sweeps/: every config they name exists, and paper is the union of the tables.</summary>
public class SweepFileTests
{
    private static string Folder => Path.Combine(TestData.RepoRoot, "config", "sweeps");

    private static IEnumerable<string> Names(string sweep) =>
        SweepFile.ConfigPaths(Path.Combine(Folder, sweep + ".json")).Select(p => Path.GetFileNameWithoutExtension(p));

    [Test]
    public void EverySweepFileResolvesToConfigsThatExist()
    {
        Assert.That(SweepFile.Known(Folder), Is.EqualTo(new[] { "paper", "table1", "table2", "table3", "table4", "table6" }));
        foreach (string sweep in SweepFile.Known(Folder))
        {
            var paths = SweepFile.ConfigPaths(Path.Combine(Folder, sweep + ".json"));
            Assert.That(paths, Is.Not.Empty, sweep);
            Assert.That(paths, Is.All.Matches<string>(File.Exists), sweep);
            Assert.That(paths, Is.Unique, sweep);
        }
    }

    [Test]
    public void TheTablesHoldThePapersRows()
    {
        Assert.That(Names("table1"), Is.EqualTo(new[] { 0, 1, 3, 5, 7, 9 }.Select(a => $"ptb-650-alpha{a}")));
        Assert.That(Names("table2"), Is.EqualTo(new[] { "ptb-650-alpha0" }.Concat(Enumerable.Range(1, 5).Select(b => $"ptb-650-beta{b}"))));
        Assert.That(Names("table3"), Is.EquivalentTo(new[] { 650, 950, 1500 }.SelectMany(h => new[] { $"ptb-{h}", $"ptb-{h}-baseline" })));
        Assert.That(Names("table4"), Is.EquivalentTo(new[] { "wt2-650", "wt2-650-baseline" }));
        Assert.That(Names("table6"), Is.EquivalentTo(new[] { "ptb-gru-650", "ptb-rnn-650", "ptb-rnn-650-lr5" }.SelectMany(c => new[] { c, c + "-baseline" })));
    }

    [Test]
    public void PaperIsTheUnionOfTheTablesEachConfigOnce()
    {
        var tables = new[] { "table1", "table2", "table3", "table4", "table6" }.SelectMany(Names).Distinct().ToList();
        Assert.That(Names("paper"), Is.EqualTo(tables));
        Assert.That(tables, Has.Count.EqualTo(25), "6 + 6 + 6 + 2 + 6, the α=0 row shared by Tables 1 and 2");
    }

    [Test]
    public void HelpShowsTheSweepCommandAndItsOptions()
    {
        Assert.That(CliTests.Run("--help").Out, Does.Contain("artar sweep SWEEP|CONFIG…"));
        var (code, output, _) = CliTests.Run("sweep", "--help");
        Assert.That(code, Is.Zero);
        foreach (string option in new[] { "--grid KEY=V1,V2,…", "--set KEY=VALUE", "--parallel N", "--device auto|cpu|cuda", "--runs DIR", "--data DIR", "docs/sweeps.md" })
            Assert.That(output, Does.Contain(option));
    }

    [Test]
    public void ASweepFileNamingAMissingConfigOrSweepIsRefused()
    {
        string dir = TestData.TempFolder();
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "sweeps"));
            string bad = Path.Combine(dir, "sweeps", "bad.json");
            File.WriteAllText(bad, """{"description": "x", "configs": ["nope"]}""");
            Assert.That(Assert.Throws<UsageException>(() => SweepFile.ConfigPaths(bad))!.Message, Does.Contain("config \"nope\" not found"));
            File.WriteAllText(bad, """{"sweeps": ["bad"]}""");
            Assert.That(Assert.Throws<UsageException>(() => SweepFile.ConfigPaths(bad))!.Message, Does.Contain("names itself"));
            File.WriteAllText(bad, """{"config": ["ptb-650"]}""");
            Assert.That(SweepFile.IsSweepFile(bad), Is.False, "a file with neither configs nor sweeps is read as a run config");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
