using ArTar.Cli.Runs;
using ArTar.Cli;
using ArTar.Cli.Sweeps;
using ArTar.Configuration;

namespace ArTar.Tests.Sweeps;

/// <summary>--grid: the product of its axes, the member names, and bad keys and values refused before anything runs.</summary>
public class GridTests
{
    private string _dir = "", _config = "";

    [SetUp]
    public void WriteConfig()
    {
        _dir = TestData.TempFolder();
        _config = Path.Combine(_dir, "small.json");
        File.WriteAllText(_config, """{"model": "gru", "hidden": 12, "alpha": 1, "beta": 1, "epochs": 2, "data": "data/ptb"}""");
    }

    [TearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void TheGridIsTheProductOfItsAxesFirstAxisSlowest()
    {
        var points = Grid.Points([GridAxis.Parse("alpha=0,2"), GridAxis.Parse(" beta = 1, 3 ,5")]);
        Assert.That(points.Select(p => p.Suffix), Is.EqualTo(new[]
        {
            "alpha=0-beta=1", "alpha=0-beta=3", "alpha=0-beta=5", "alpha=2-beta=1", "alpha=2-beta=3", "alpha=2-beta=5",
        }));
        Assert.That(points[4].Sets, Is.EqualTo(new[] { "alpha=2", "beta=3" }));
        Assert.That(Grid.Points([]).Select(p => p.Suffix), Is.EqualTo(new[] { "" }), "no grid: one member, the config itself");
    }

    [Test]
    public void AValueThatIsNoSafeFolderNameIsWrittenWithUnderscores()
    {
        var points = Grid.Points([GridAxis.Parse("data=data/wikitext-2,../ptb"), GridAxis.Parse("lr=1e-3")]);
        Assert.That(points.Select(p => p.Suffix), Is.EqualTo(new[] { "data=data_wikitext-2-lr=1e-3", "data=.._ptb-lr=1e-3" }));
    }

    [Test]
    public void MembersAreNamedConfigThenPointAndResolvedWithSetThenGrid()
    {
        var plan = SweepPlan.Create("small", [_config], ["epochs=1"], [GridAxis.Parse("alpha=2,3"), GridAxis.Parse("beta=1")],
            Path.Combine(_dir, "runs"), TestData.Folder("ptb"));
        Assert.That(plan.Members.Select(m => m.Member.Name), Is.EqualTo(new[] { "small-alpha=2-beta=1", "small-alpha=3-beta=1" }));
        var second = plan.Members[1];
        Assert.That(second.Member.RunDirectory, Is.EqualTo(Path.Combine(_dir, "runs", "small", "small-alpha=3-beta=1")));
        Assert.That(second.Member.Sets, Is.EqualTo(new[] { "epochs=1", "alpha=3", "beta=1" }));
        Assert.That((second.Config.Alpha, second.Config.Beta, second.Config.Epochs, second.Config.Hidden), Is.EqualTo((3.0, 1.0, 1, 12)));
        Assert.That(plan.Members.Select(m => m.Start), Is.All.EqualTo(MemberStart.Fresh));
    }

    [TestCase("alpa=0,1", "--grid alpa: unknown key; the keys are model,")]
    [TestCase("alpha=0,-1", "--grid alpha: expected a number ≥ 0, got -1")]
    [TestCase("dropout=0.5,1", "--grid dropout: expected a dropout probability in [0, 1), got 1")]
    [TestCase("model=lstm,transformer", "--grid model: expected one of lstm, gru, rnn, got \"transformer\"")]
    [TestCase("hidden=12,1.5", "--grid hidden: expected an integer in [1, 65536], got 1.5")]
    [TestCase("alpha=0,,1", "--grid alpha=0,,1: an empty value")]
    [TestCase("alpha=1,1", "the value 1 is given twice")]
    [TestCase("alpha", "expected key=v1,v2,…")]
    public void ABadGridIsOneLineBeforeAnythingRuns(string grid, string expected)
    {
        string runs = Path.Combine(_dir, "runs");
        var (code, _, err) = CliTests.Run("sweep", _config, "--grid", grid, "--runs", runs, "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.StartWith("error: ").And.Contain(expected));
        Assert.That(Directory.Exists(runs), Is.False, "nothing was started");
    }

    [Test]
    public void AKeyInTwoGridsOrInSetAndGridIsOneLine()
    {
        var (code, _, err) = CliTests.Run("sweep", _config, "--grid", "alpha=0", "--grid", "alpha=1", "--runs", _dir);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("--grid alpha is given twice"));
        (code, _, err) = CliTests.Run("sweep", _config, "--grid", "alpha=0,1", "--set", "alpha=3", "--runs", _dir);
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("alpha is both in --set and in --grid"));
    }

    [Test]
    public void TwoConfigsOfOneNameWouldShareAFolderAndAreRefused()
    {
        string other = Path.Combine(_dir, "other");
        Directory.CreateDirectory(other);
        File.Copy(_config, Path.Combine(other, "small.json"));
        var e = Assert.Throws<UsageException>(() =>
            SweepPlan.Create("sweep", [_config, Path.Combine(other, "small.json")], [], [], Path.Combine(_dir, "runs"), TestData.Folder("ptb")));
        Assert.That(e!.Message, Does.Contain("two members would be named small"));
    }

    [Test]
    public void ParallelZeroAndAMissingCorpusAreOneLine()
    {
        var (code, _, err) = CliTests.Run("sweep", _config, "--parallel", "0");
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Is.EqualTo("error: artar sweep: --parallel 0: expected an integer ≥ 1, the members trained at once"));
        (code, _, err) = CliTests.Run("sweep", _config, "--runs", _dir, "--data", Path.Combine(_dir, "nowhere"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(OneLine(err), Does.Contain("member small: no corpus in").And.Contain("artar data get ptb"));
    }

    internal static string OneLine(string err)
    {
        var lines = err.TrimEnd().Split('\n');
        Assert.That(lines, Has.Length.EqualTo(1), err);
        return lines[0];
    }
}
