using ArTar.Cli.Runs;
using ArTar.Cli.Sweeps;
using ArTar.Configuration;
using ArTar.Training;

namespace ArTar.Tests.Sweeps;

/// <summary>The live lines read from what the trainer writes (MetricsLog, summary.json), in place on a terminal or plain.</summary>
public class SweepDisplayTests
{
    private string _dir = "";

    [SetUp]
    public void Folder() => _dir = TestData.TempFolder();

    [TearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    private MemberRun Member(string name, MemberStart start, MemberState state)
    {
        string run = Path.Combine(_dir, name);
        Directory.CreateDirectory(run);
        var planned = new PlannedMember(new SweepMember(name, "small.json", run, []), new RunConfig { Epochs = 4 }, start);
        return new MemberRun(planned, run + ".log") { State = state };
    }

    [Test]
    public void ALineShowsEpochLrAndLastValidFromMetricsAndATornLineIsSkipped()
    {
        var r = Member("small-alpha=2", MemberStart.Fresh, MemberState.Running);
        var log = new MetricsLog(Path.Combine(r.Member.RunDirectory, "metrics.jsonl"));
        log.Append(new StepMetrics(1, 10, 20, 6, 5.9, 0.05, 0.05, 1000));
        log.Append(new EpochMetrics(1, 400, 300.5, 20, 12));
        log.Append(new StepMetrics(2, 20, 5, 5, 4.9, 0.05, 0.05, 1000));
        File.AppendAllText(log.Path, "{\"kind\":\"step\",\"epo");   // a line torn by a crash
        r.Observe();
        Assert.That(r.Progress, Is.EqualTo(new MemberProgress(2, 20, 5, 1, 300.5, 300.5, 10)));
        var display = new SweepDisplay(TextWriter.Null, interactive: false);
        Assert.That(display.Line(r), Does.Match(@"^small-alpha=2  running  epoch 2/4  lr 5  valid 300\.50  ETA -$"));
    }

    [Test]
    public void OnATerminalTheLinesAreRedrawnInPlaceAndCutToTheWidth()
    {
        var runs = new[] { Member("a", MemberStart.Fresh, MemberState.Waiting), Member("b", MemberStart.Resume, MemberState.Waiting) };
        var output = new StringWriter();
        var display = new SweepDisplay(output, interactive: true, width: 20);
        display.Start(new SweepPlan("s", _dir, [.. runs.Select(r => r.Planned)]), runs, 1);
        display.Update(runs);
        display.Update(runs);
        string[] lines = output.ToString().Split('\n');
        Assert.That(lines[1], Is.EqualTo("\e[2Ka  waiting"));
        Assert.That(lines[2], Is.EqualTo("\e[2Kb  waiting  (to res"), "cut to 19 columns so that it does not wrap");
        Assert.That(lines[3], Does.StartWith("\e[2F\e[2Ka  waiting"), "the second draw moves back two lines");
    }

    [Test]
    public void TheTableShowsTheSummaryOfAFinishedMember()
    {
        var done = Member("done", MemberStart.Finished, MemberState.Done);
        RunDirectory.Open(WithConfig(done)).WriteSummary(new RunSummary
        {
            Config = "small", Device = "cpu", Parameters = 1, Epochs = 4, BestEpoch = 3, ValidPpl = 123.456, TestPpl = 118.9, WallSeconds = 1,
        });
        var stopped = Member("stopped", MemberStart.Resume, MemberState.Stopped);
        done.Observe();
        stopped.Observe();
        var output = new StringWriter();
        new SweepDisplay(output, interactive: false).Finish([done, stopped], stopped: true);
        Assert.That(output.ToString(), Does.Contain("| done    | done (earlier) |    4/4 | 123.46 | 118.90 |"));
        Assert.That(output.ToString(), Does.Contain("| stopped | stopped        |    0/4 |      - |      - |"));
        Assert.That(output.ToString(), Does.Contain("again to resume"));
    }

    private static string WithConfig(MemberRun r)
    {
        File.WriteAllText(Path.Combine(r.Member.RunDirectory, "config.json"), r.Planned.Config.ToJson());
        return r.Member.RunDirectory;
    }
}
