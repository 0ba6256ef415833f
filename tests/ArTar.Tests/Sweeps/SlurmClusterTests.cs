using ArTar.Cli.Runs;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ArTar.Cli.Sweeps;
using ArTar.Training;

namespace ArTar.Tests.Sweeps;

/// <summary>
/// Sweeps submitted to a real Slurm (one node on this machine: tools/slurm/cluster.sh), each member a real
/// `dotnet artar.dll train` of a shortened ptb-tiny; ignored with the reason when no cluster is up.
/// </summary>
[Category("Slurm"), NonParallelizable]
public partial class SlurmClusterTests
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);
    private string _dir = "", _sweep = "", _job = "";

    [SetUp]
    public void Prepare()
    {
        _dir = _job = "";
        SlurmCluster.Require();
        TestData.Folder("ptb");
        _dir = TestData.TempFolder();
        // A space, a quote and a dollar in every path the script and its #SBATCH lines carry.
        _sweep = Path.Combine(_dir, "it's a $weep");
    }

    [TearDown]
    public void RemoveFolder()
    {
        // A test that failed half way leaves no task behind writing into a deleted folder.
        if (_job.Length > 0) SlurmCluster.Run("scancel", [_job], TimeSpan.FromSeconds(30));
        if (_dir.Length > 0) Directory.Delete(_dir, recursive: true);
    }

    private SweepMember Member(string name, params string[] sets) =>
        new(name, Path.Combine(TestData.RepoRoot, "config", "ptb-tiny.json"), Path.Combine(_sweep, name),
            ["max_eval_tokens=2000", "hidden=16", "bptt=10", "log_interval=1", "data=" + TestData.Folder("ptb"), .. sets]);

    /// <summary>Writes and submits the sweep as `artar sweep --slurm --submit` does; the job id it printed.</summary>
    private string Submit(params SweepMember[] members)
    {
        var stdout = new StringWriter();
        int code = SlurmCommand.Run("test", _sweep, members, new SlurmOptions(Time: "00:10:00", Device: "cpu"), submit: true, stdout,
            new SelfCommand("dotnet", [TestData.ArtarDll]));
        Assert.That(code, Is.Zero);
        var m = SubmittedPattern().Match(stdout.ToString());
        Assert.That(m.Success, Is.True, stdout.ToString());
        return _job = m.Groups[1].Value;
    }

    /// <summary>Everything a failed assertion should show: each task's Slurm output and train.log.</summary>
    private string Logs(string job, params SweepMember[] members)
    {
        var s = new System.Text.StringBuilder();
        for (int i = 0; i < members.Count(); i++)
            foreach (string f in new[] { SlurmArray.OutputPath(_sweep, long.Parse(job, CultureInfo.InvariantCulture), i), Path.Combine(members[i].RunDirectory, "train.log") })
                s.Append($"\n== {f}\n").Append(File.Exists(f) ? File.ReadAllText(f) : "(missing)");
        return s.ToString();
    }

    private void WaitForTheQueueToEmpty(string job, params SweepMember[] members)
    {
        if (!SlurmCluster.WaitFor(() => SlurmCluster.State(job) == "", JobTimeout))
        {
            SlurmCluster.Run("scancel", [job], TimeSpan.FromSeconds(30));
            Assert.Fail($"job {job} was still queued after {JobTimeout.TotalMinutes} minutes ({SlurmCluster.State(job)}){Logs(job, members)}");
        }
    }

    [Test]
    public void AThreeMemberArrayTrainsEveryMemberInItsFolder()
    {
        SweepMember[] members = [Member("lstm", "epochs=1", "max_train_tokens=4000"),
            Member("gru \"small\"", "epochs=1", "max_train_tokens=4000", "model=gru"),
            Member("rnn", "epochs=1", "max_train_tokens=4000", "model=rnn")];
        string job = Submit(members);
        WaitForTheQueueToEmpty(job, members);
        for (int i = 0; i < members.Length; i++)
        {
            var run = RunDirectory.Open(members[i].RunDirectory);
            Assert.That(File.Exists(run.SummaryPath), Is.True, $"member {members[i].Name} has no summary.json{Logs(job, members)}");
            var summary = run.ReadSummary();
            Assert.That(summary.Epochs, Is.EqualTo(1));
            Assert.That(summary.ValidPpl, Is.GreaterThan(1).And.LessThan(1e5));
            Assert.That(File.ReadAllText(run.ConfigPath), Does.Contain(i == 0 ? "\"lstm\"" : i == 1 ? "\"gru\"" : "\"rnn\""));
            string log = File.ReadAllText(Path.Combine(run.Folder, "train.log"));
            Assert.That(log, Does.Contain(run.Folder).And.Contain("test"));
            string slurm = File.ReadAllText(SlurmArray.OutputPath(_sweep, long.Parse(job, CultureInfo.InvariantCulture), i));
            Assert.That(slurm, Does.Contain($"member {members[i].Name}: array task {i}, job").And.Contain("--run-dir").And.Contain("artar exited with 0"));
        }
    }

    /// <summary>Starts a one-member sweep of three epochs and waits until its first epoch is logged.</summary>
    private (string Job, SweepMember Member, string FirstEpoch) StartAndWaitForEpochOne()
    {
        var member = Member("long", "epochs=3", "max_train_tokens=20000");
        string job = Submit(member);
        string metrics = Path.Combine(member.RunDirectory, "metrics.jsonl");
        string EpochLines() => File.Exists(metrics) ? string.Join('\n', File.ReadAllLines(metrics).Where(l => l.Contains("\"kind\":\"epoch\""))) : "";
        bool epochOne = SlurmCluster.WaitFor(() => EpochLines().Length > 0 || SlurmCluster.State(job) == "", JobTimeout);
        Assert.That(epochOne && SlurmCluster.State(job) == "RUNNING", Is.True, $"the task is not running with an epoch done{Logs(job, member)}");
        return (job, member, EpochLines());
    }

    /// <summary>The finished run read back: the epochs of metrics.jsonl in order, the steps rising, and the log's resume line.</summary>
    private static void AssertResumedAndFinished(string job, SweepMember member, string firstEpoch, string logs)
    {
        var run = RunDirectory.Open(member.RunDirectory);
        Assert.That(File.Exists(run.SummaryPath), Is.True, $"no summary.json after the requeue{logs}");
        Assert.That(run.ReadSummary().Epochs, Is.EqualTo(3));
        string log = File.ReadAllText(Path.Combine(run.Folder, "train.log"));
        Assert.That(log, Does.Contain("stopped after step").And.Contain($"resumed from {run.LastCheckpointPath}: epoch "), logs);
        var lines = File.ReadAllLines(Path.Combine(run.Folder, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var epochs = lines.Where(l => l.GetProperty("kind").GetString() == "epoch").Select(l => l.GetProperty("epoch").GetInt32());
        Assert.That(epochs, Is.EqualTo(new[] { 1, 2, 3 }));
        // The first epoch's line is the one written before the stop: the log continued, it did not start over.
        Assert.That(File.ReadAllText(Path.Combine(run.Folder, "metrics.jsonl")), Does.Contain(firstEpoch.Split('\n')[0]));
        var steps = lines.Where(l => l.GetProperty("kind").GetString() == "step").Select(l => l.GetProperty("step").GetInt64()).ToList();
        Assert.That(steps, Is.Ordered.Ascending.And.Unique);
        Assert.That(steps[^1], Is.EqualTo(300), "3 epochs of 100 windows: 20,000 tokens in 20 streams of bptt 10");
    }

    /// <summary>
    /// Lets a requeued task start now instead of after Slurm's two minutes. Not at once: a start in the second of the
    /// requeue's kill was seen refused by slurmd ("Job 10 already killed, do not launch batch job"; exit 1, no resume).
    /// </summary>
    private static void StartNow(string task)
    {
        Thread.Sleep(TimeSpan.FromSeconds(2));
        SlurmCluster.Command("scontrol", "update", $"JobId={task}", "StartTime=now");
    }

    [Test]
    public void ACancelledTaskRequeuedResumesWhereItStopped()
    {
        var (job, member, firstEpoch) = StartAndWaitForEpochOne();
        string task = job + "_0";
        // --full: SIGTERM to the batch shell and the trainer, as a cancellation or preemption sends it (without it,
        // scancel --signal reaches only job steps, and the trainer is none).
        SlurmCluster.Command("scancel", "--full", "--signal=TERM", task);
        Assert.That(SlurmCluster.WaitFor(() => SlurmCluster.State(task) == "", TimeSpan.FromMinutes(1)), Is.True, $"the task did not stop on SIGTERM{Logs(job, member)}");
        Assert.That(File.Exists(RunDirectory.Open(member.RunDirectory).SummaryPath), Is.False, "the run finished before it was stopped");
        SlurmCluster.Command("scontrol", "requeue", task);
        StartNow(task);
        WaitForTheQueueToEmpty(job, member);
        AssertResumedAndFinished(job, member, firstEpoch, Logs(job, member));
        string slurm = File.ReadAllText(SlurmArray.OutputPath(_sweep, long.Parse(job, CultureInfo.InvariantCulture), 0));
        Assert.That(slurm, Does.Contain("restart 1: artar train --resume").And.Contain("artar exited with 130").And.Contain("artar exited with 0"));
    }

    [Test]
    public void TheSignalBeforeTheTimeLimitCheckpointsAndRequeuesTheTask()
    {
        var (job, member, firstEpoch) = StartAndWaitForEpochOne();
        string task = job + "_0";
        // What --signal=B:USR1@… sends before the time limit: SIGUSR1 to the batch shell only.
        SlurmCluster.Command("scancel", "--batch", "--signal=USR1", task);
        Assert.That(SlurmCluster.WaitFor(() => SlurmCluster.State(task) == "PENDING", TimeSpan.FromMinutes(1)), Is.True,
            $"the task did not requeue itself ({SlurmCluster.State(task)}){Logs(job, member)}");
        StartNow(task);
        WaitForTheQueueToEmpty(job, member);
        AssertResumedAndFinished(job, member, firstEpoch, Logs(job, member));
        string slurm = File.ReadAllText(SlurmArray.OutputPath(_sweep, long.Parse(job, CultureInfo.InvariantCulture), 0));
        Assert.That(slurm, Does.Contain("stopped before the time limit with a checkpoint; requeued to resume").And.Contain("restart 1: artar train --resume"));
    }

    [GeneratedRegex(@"submitted job ([0-9]+) ")]
    private static partial Regex SubmittedPattern();
}
