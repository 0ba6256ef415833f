using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ArTar.Checkpoints;
using ArTar.Cli.Runs;
using ArTar.Training;

namespace ArTar.Tests.Crash;

/// <summary>
/// The real program killed with SIGKILL at chosen system calls (strace's fault injection), then continued: after every
/// kill each checkpoint on disk loads, the log has lost no epoch, and `--resume` (or, before config.json is in place,
/// the same --run-dir) ends at exactly the uninterrupted run's result.
/// </summary>
[NonParallelizable]
public class CrashTests
{
    private const int Epochs = 3;
    private string _dir = "", _config = "", _whole = "";
    private List<Call> _calls = [];
    private string? _noStrace;

    /// <summary>One rename or openat of the main thread in the uninterrupted run's trace, and its ordinal among calls of its kind.</summary>
    private sealed record Call(string Name, int Ordinal, string Text);

    [OneTimeSetUp]
    public void RunOnceWithoutAKill()
    {
        _dir = TestData.TempFolder();
        _config = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(_config, $$"""
            {"model": "lstm", "layers": 2, "hidden": 12, "dropout": 0.2, "dropout_h": 0.1, "alpha": 1, "beta": 1,
             "epochs": {{Epochs}}, "batch_size": 4, "eval_batch_size": 5, "bptt": 8, "data": "data/ptb",
             "max_train_tokens": 1000, "max_eval_tokens": 600, "log_interval": 10}
            """);
        _noStrace = StraceMissing();
        if (_noStrace is not null)
            return;
        // The reference run, traced: where each kill point falls is read off its calls.
        _whole = Path.Combine(_dir, "whole");
        string trace = Path.Combine(_dir, "whole.trace");
        var (code, output) = Start(["-f", "--seccomp-bpf", "-qq", "-o", trace, "-e", "trace=openat,/^rename", "dotnet", .. Train("--run-dir", _whole)]);
        Assert.That(code, Is.Zero, output);
        _calls = MainThreadCalls(trace);
    }

    [OneTimeTearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    // Each kill point: which call of the uninterrupted run's main thread the kill comes at (before the call runs).
    [TestCase("config.json", 1, 0, TestName = "KillBeforeConfigJsonIsInPlaceThenTheSameRunDirStartsAgain")]
    [TestCase("metrics.jsonl", 2, 0, TestName = "KillMidEpochOneBeforeAnyCheckpointThenResumeStartsAgain")]
    [TestCase("best.safetensors", 1, 0, TestName = "KillInsideTheFirstCheckpointWriteThenResume")]
    [TestCase("last.safetensors", 1, 1, TestName = "KillRightAfterTheFirstLastCheckpointIsRenamedThenResume")]
    [TestCase("metrics.jsonl", 7, 0, TestName = "KillMidEpochTwoThenResume")]
    [TestCase("last.safetensors", 2, 0, TestName = "KillInsideTheSecondLastCheckpointWriteThenResume")]
    [TestCase("summary.json", 1, 0, TestName = "KillBeforeSummaryJsonIsInPlaceThenResume")]
    public void KilledRunContinuesToTheUninterruptedResult(string file, int occurrence, int callsAfter)
    {
        if (_noStrace is not null)
            Assert.Ignore(_noStrace);
        // The occurrence-th call naming the file, or the call callsAfter after it (a kill just after a rename).
        var naming = _calls.Select((c, i) => (c, i)).Where(x => x.c.Text.Contains("/" + file + "\"", StringComparison.Ordinal)).ToList();
        Assert.That(naming, Has.Count.GreaterThanOrEqualTo(occurrence), $"the uninterrupted run has no call #{occurrence} naming {file}");
        var at = _calls[naming[occurrence - 1].i + callsAfter];

        string run = Path.Combine(_dir, $"{file}-{occurrence}-{callsAfter}");
        // Not --seccomp-bpf here: strace 6.1 injects nothing with it.
        var (code, output) = Start(["-f", "-qq", "-o", "/dev/null", "-e", $"trace={at.Name}",
            "-e", $"inject={at.Name}:signal=KILL:when={at.Ordinal}", "dotnet", .. Train("--run-dir", run)]);
        Assert.That(code, Is.Not.Zero, $"the run was not killed at {at.Text}:\n{output}");
        Assert.That(File.Exists(Path.Combine(run, "summary.json")), Is.False, $"the run finished before {at.Text}");

        // What the kill left: every checkpoint whole, and no epoch missing from the log (one past the checkpoint at most,
        // the line logged before the checkpoint that the kill kept from its place; resume drops it).
        foreach (string checkpoint in Directory.GetFiles(run, "*.safetensors"))
            Assert.DoesNotThrow(() => Checkpoint.Load(checkpoint), checkpoint);
        string last = Path.Combine(run, "last.safetensors");
        int saved = File.Exists(last) ? Checkpoint.Load(last).Metadata.Training.Epoch : 0;
        var logged = EpochLines(run);
        Assert.That(logged, Is.EqualTo(Enumerable.Range(1, saved)).Or.EqualTo(Enumerable.Range(1, saved + 1)),
            $"epoch lines after a kill at {at.Text}, last.safetensors at epoch {saved}");

        // Continued: with --resume once config.json is there (the same --run-dir says so), else the same --run-dir again.
        if (File.Exists(Path.Combine(run, "config.json")))
        {
            (code, output) = Start(["dotnet", .. Train("--run-dir", run)], program: true);
            Assert.That(code, Is.EqualTo(Program.BadInput), output);
            Assert.That(output, Does.Contain("--resume " + run));
            (code, output) = Start(["dotnet", TestData.ArtarDll, "train", "--resume", run, "--device", "cpu", "--data", TestData.Folder("ptb")], program: true);
        }
        else
            (code, output) = Start(["dotnet", .. Train("--run-dir", run)], program: true);
        Assert.That(code, Is.Zero, output);

        // The same result as the run that was never killed, and a log that reads as one run.
        var best = Checkpoint.Load(Path.Combine(run, "best.safetensors")).Tensors.ToDictionary(t => t.Name, t => t.Data);
        foreach (var t in Checkpoint.Load(Path.Combine(_whole, "best.safetensors")).Tensors)
            Assert.That(best[t.Name], Is.EqualTo(t.Data), $"best.safetensors {t.Name} after a kill at {at.Text}");
        RunSummary whole = RunSummary.Read(Path.Combine(_whole, "summary.json")), resumed = RunSummary.Read(Path.Combine(run, "summary.json"));
        Assert.That((resumed.ValidPpl, resumed.TestPpl, resumed.BestEpoch), Is.EqualTo((whole.ValidPpl, whole.TestPpl, whole.BestEpoch)));
        // The config's name is kept in the checkpoints; a run resumed before its first one takes it from the folder name.
        if (saved > 0)
            Assert.That(resumed.Config, Is.EqualTo(whole.Config));
        Assert.That(EpochLines(run), Is.EqualTo(Enumerable.Range(1, Epochs)));
        Assert.That(Directory.GetFiles(run, ".*.tmp"), Is.Empty, "temporary files a kill left");
    }

    private static int[] EpochLines(string run) => [.. new MetricsLog(Path.Combine(run, "metrics.jsonl")).ReadEpochs().Select(e => e.Epoch)];

    private string[] Train(string option, string value) =>
        [TestData.ArtarDll, "train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), option, value];

    /// <summary>strace (or, with <paramref name="program"/>, the program itself) in its own process; its exit code and output.</summary>
    private static (int Code, string Output) Start(string[] arguments, bool program = false)
    {
        var start = new ProcessStartInfo(program ? arguments[0] : "strace") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in program ? arguments[1..] : arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.That(process.WaitForExit(120_000), Is.True, "the run did not end within two minutes");
        return (process.ExitCode, stdout + stderr.Result);
    }

    /// <summary>The rename and openat calls of the traced process's first thread (where the trainer runs), in order.</summary>
    private static List<Call> MainThreadCalls(string trace)
    {
        var lines = File.ReadAllLines(trace);
        string main = lines[0].Split(' ')[0];
        var counts = new Dictionary<string, int>();
        var calls = new List<Call>();
        foreach (string line in lines)
        {
            var m = Regex.Match(line, @"^(\d+) +(\w+)\(");
            if (!m.Success || m.Groups[1].Value != main) continue;
            string name = m.Groups[2].Value;
            counts[name] = counts.GetValueOrDefault(name) + 1;
            calls.Add(new Call(name, counts[name], line));
        }
        return calls;
    }

    /// <summary>Why the kill points cannot run here, or null: they need strace (Debian package strace; .ci/run installs it).</summary>
    private static string? StraceMissing()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("strace", "-V") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null : "strace -V failed; the kill points need strace (apt-get install strace)";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "strace is not installed; the kill points need it (apt-get install strace)";
        }
    }
}
