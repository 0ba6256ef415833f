using ArTar.Cli.Runs;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using ArTar.Cli.Sweeps;
using ArTar.Configuration;
using ArTar.Training;

namespace ArTar.Tests.Sweeps;

/// <summary>
/// Sweeps of tiny models run by the real program: each member its own `artar train` process, resumed without
/// retraining what finished, stopped by SIGTERM with checkpoints, two at once with --parallel 2.
/// </summary>
[NonParallelizable]
public class SweepRunTests
{
    private string _dir = "", _config = "";

    [SetUp]
    public void WriteConfig()
    {
        _dir = TestData.TempFolder();
        _config = Path.Combine(_dir, "small.json");
        File.WriteAllText(_config, """
            {"model": "gru", "layers": 2, "hidden": 12, "dropout": 0.2, "dropout_h": 0.1, "alpha": 1, "beta": 1,
             "epochs": 1, "batch_size": 4, "eval_batch_size": 5, "bptt": 8, "data": "data/ptb",
             "max_train_tokens": 1000, "max_eval_tokens": 600, "log_interval": 1}
            """);
    }

    [TearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    private string Runs => Path.Combine(_dir, "runs");
    private string Member(string name) => Path.Combine(Runs, "small", name);

    /// <summary>`artar sweep …` in-process, members started as `dotnet artar.dll train …`.</summary>
    private (int Code, string Out) Sweep(params string[] args)
    {
        var output = new StringWriter();
        int code = SweepCommand.Run([_config, "--runs", Runs, "--device", "cpu", "--data", TestData.Folder("ptb"), .. args],
            output, TextWriter.Null, new SelfCommand("dotnet", [TestData.ArtarDll]));
        return (code, output.ToString());
    }

    /// <summary>`dotnet artar.dll sweep …` as its own process (for SIGTERM), its output collected as it comes.</summary>
    private sealed class SweepProcess : IDisposable
    {
        private readonly StringBuilder _out = new();
        public Process Process { get; }

        public SweepProcess(string workingDirectory, params string[] args)
        {
            var start = new SelfCommand("dotnet", [TestData.ArtarDll]).Start(["sweep", .. args]);
            start.WorkingDirectory = workingDirectory;
            start.RedirectStandardOutput = start.RedirectStandardError = true;
            Process = new Process { StartInfo = start };
            Process.OutputDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
            Process.ErrorDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
            Process.Start();
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
        }

        public string Output { get { lock (_out) return _out.ToString(); } }

        public void Terminate()
        {
            using var kill = Process.Start("kill", ["-TERM", Process.Id.ToString(CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }

        public int Exit()
        {
            Assert.That(Process.WaitForExit(90_000), Is.True, "the sweep did not end within 90 s\n" + Output);
            Process.WaitForExit();
            return Process.ExitCode;
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.Dispose();
        }
    }

    private SweepProcess Start(params string[] args) =>
        new(_dir, [_config, "--runs", Runs, "--device", "cpu", "--data", TestData.Folder("ptb"), .. args]);

    private static bool HasStep(string run)
    {
        string metrics = Path.Combine(run, "metrics.jsonl");
        return File.Exists(metrics) && MemberProgress.Read(metrics).Step > 0;
    }

    private static void WaitFor(Func<bool> condition, SweepProcess sweep, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(sweep.Process.HasExited, Is.False, $"the sweep ended before {what}\n{sweep.Output}");
            Assert.That(waited.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)), $"no {what} within 60 s\n{sweep.Output}");
            Thread.Sleep(50);
        }
    }

    [Test]
    public void ParallelTwoTrainsTwoAtOnceAndSigtermStopsBothWithCheckpoints()
    {
        string a = Member("small-alpha=0"), b = Member("small-alpha=1");
        using var sweep = Start("--grid", "alpha=0,1", "--set", "epochs=1000", "--parallel", "2");
        // Neither can finish (1000 epochs): both logging steps at the same moment is two members at once.
        WaitFor(() => HasStep(a) && HasStep(b), sweep, "steps of both members");
        long stepA = MemberProgress.Read(Path.Combine(a, "metrics.jsonl")).Step;
        WaitFor(() => MemberProgress.Read(Path.Combine(a, "metrics.jsonl")).Step > stepA && HasStep(b), sweep, "a growing metrics.jsonl");
        // A second sweep of the same folder while this one runs would start the same members again: refused.
        var (code, _, err) = CliTests.Run("sweep", _config, "--grid", "alpha=0,1", "--set", "epochs=1000", "--runs", Runs, "--device", "cpu");
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(GridTests.OneLine(err), Does.Contain("another artar sweep is running the members of"));
        sweep.Terminate();
        Assert.That(sweep.Exit(), Is.EqualTo(Program.Stopped), sweep.Output);
        foreach (string run in new[] { a, b })
        {
            Assert.That(File.Exists(Path.Combine(run, "last.safetensors")), Is.True, run);
            Assert.That(File.Exists(Path.Combine(run, "summary.json")), Is.False, run);
            Assert.That(File.ReadAllText(run + ".log"), Does.Contain("stopped after step"), run);
        }
        Assert.That(sweep.Output, Does.Contain("| small-alpha=0 | stopped |").And.Contain("again to resume"));
    }

    [Test]
    public void ASweepResumesAfterAnInterruptionWithoutRetrainingFinishedMembers()
    {
        string done = Member("small-epochs=1"), stopped = Member("small-epochs=1000");
        using (var first = Start("--grid", "epochs=1,1000"))
        {
            WaitFor(() => HasStep(stopped), first, "a step of the second member");
            first.Terminate();
            Assert.That(first.Exit(), Is.EqualTo(Program.Stopped), first.Output);
        }
        Assert.That(File.Exists(Path.Combine(done, "summary.json")), Is.True);
        Assert.That(File.Exists(Path.Combine(stopped, "last.safetensors")), Is.True);
        string best = Path.Combine(done, "best.safetensors");
        byte[] bytes = File.ReadAllBytes(best);
        DateTime written = File.GetLastWriteTimeUtc(best);
        long stepStopped = MemberProgress.Read(Path.Combine(stopped, "metrics.jsonl")).Step;

        using (var second = Start("--grid", "epochs=1,1000"))
        {
            WaitFor(() => File.ReadAllText(stopped + ".log").Contains("resumed from")
                          && MemberProgress.Read(Path.Combine(stopped, "metrics.jsonl")).Step > stepStopped, second, "the stopped member resuming");
            second.Terminate();
            Assert.That(second.Exit(), Is.EqualTo(Program.Stopped), second.Output);
            Assert.That(second.Output, Does.Contain("(1 finished earlier, 1 to resume)").And.Contain("| small-epochs=1    | done (earlier) |"));
        }
        Assert.That(File.ReadAllBytes(best), Is.EqualTo(bytes));
        Assert.That(File.GetLastWriteTimeUtc(best), Is.EqualTo(written));
        Assert.That(File.ReadAllText(done + ".log").Split('\n').Count(l => l.StartsWith("# ")), Is.EqualTo(1), "the finished member trained once");
        Assert.That(File.ReadAllText(stopped + ".log"), Does.Contain($"resumed from {Path.Combine(stopped, "last.safetensors")}"));
    }

    [Test]
    public void AFailedMemberIsReportedAndTheOthersStillRunAndAnUnstartedFolderStartsAgain()
    {
        // What a start that never finished a step leaves: config.json and vocab.txt, here of the member lr=20.
        string unstarted = Member("small-lr=20");
        Directory.CreateDirectory(unstarted);
        File.WriteAllText(Path.Combine(unstarted, "config.json"), RunConfig.Load(_config).WithOverride("lr=20").ToJson());
        File.WriteAllText(Path.Combine(unstarted, "vocab.txt"), "<eos>\n");
        // lr 1e300 makes the weights infinite after one step: that member fails.
        var (code, output) = Sweep("--grid", "lr=1e300,20");
        Assert.That(code, Is.EqualTo(Program.Failed), output);
        Assert.That(output, Does.Contain("| small-lr=1e300 | failed |").And.Contain("| small-lr=20    | done   |"));
        Assert.That(output, Does.Contain("small-lr=1e300 failed: epoch 1, step 1: the loss is not finite"));
        var summary = RunDirectory.Open(unstarted).ReadSummary();
        Assert.That(summary.Epochs, Is.EqualTo(1));
        Assert.That(File.ReadAllLines(Path.Combine(unstarted, "vocab.txt")), Has.Length.EqualTo(10000), "vocab.txt written anew by the run");
    }

    [Test]
    public void ANamedSweepTrainsItsConfigsAndALaterSweepOfMoreEpochsContinuesAFinishedMember()
    {
        string sweeps = Path.Combine(_dir, "sweeps");
        Directory.CreateDirectory(sweeps);
        File.WriteAllText(Path.Combine(sweeps, "mini.json"), """{"description": "one small config", "configs": ["small"]}""");
        int Mini(params string[] args) => SweepCommand.Run(["mini", "--runs", Runs, "--device", "cpu", "--data", TestData.Folder("ptb"), .. args],
            TextWriter.Null, TextWriter.Null, new SelfCommand("dotnet", [TestData.ArtarDll]), sweeps);

        Assert.That(Mini(), Is.EqualTo(Program.Ok));
        string run = Path.Combine(Runs, "mini", "small");
        Assert.That(RunDirectory.Open(run).ReadSummary().Epochs, Is.EqualTo(1));
        // epochs may differ from the folder's config: the sweep's value wins, and the finished run goes on.
        Assert.That(Mini("--set", "epochs=2"), Is.EqualTo(Program.Ok));
        Assert.That(RunDirectory.Open(run).ReadSummary().Epochs, Is.EqualTo(2));
        Assert.That(RunDirectory.Open(run).Metrics.ReadEpochs().Select(e => e.Epoch), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(File.ReadAllText(run + ".log"), Does.Contain("artar train --resume " + run + " --set epochs=2"));
    }

    [Test]
    public void AMemberFolderHoldingAnotherConfigIsOneLineBeforeAnythingRuns()
    {
        string other = Member("small-alpha=0");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "config.json"), RunConfig.Load(_config).WithOverride("alpha=5").ToJson());
        var (code, _, err) = CliTests.Run("sweep", _config, "--grid", "alpha=1,0", "--runs", Runs, "--data", TestData.Folder("ptb"));
        Assert.That(code, Is.EqualTo(Program.BadInput));
        Assert.That(GridTests.OneLine(err), Does.Contain($"{Path.Combine(other, "config.json")} holds another config than member small-alpha=0 would train (alpha 5 there, 0 here)"));
        Assert.That(Directory.Exists(Member("small-alpha=1")), Is.False, "the member before it did not start");
        Assert.That(Directory.GetFiles(other), Has.Length.EqualTo(1));
    }

    [Test]
    public void AnUnknownSweepListsTheKnownOnes()
    {
        using var sweep = new SweepProcess(TestData.RepoRoot, "tabel1");
        Assert.That(sweep.Exit(), Is.EqualTo(Program.BadInput));
        Assert.That(sweep.Output.Trim(), Is.EqualTo(
            "error: artar sweep: unknown sweep \"tabel1\"; the sweeps are paper, table1, table2, table3, table4, table6 (config/sweeps/), or give config files"));
    }
}
