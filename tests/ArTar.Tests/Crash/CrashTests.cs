using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ArTar.Checkpoints;
using ArTar.Cli.Runs;
using ArTar.Training;

namespace ArTar.Tests.Crash;

/// <summary>
/// The real program killed with SIGKILL (or stopped with SIGTERM, or failed with ENOSPC) at chosen system calls
/// (strace's fault injection), then continued: after every fault each checkpoint on disk loads, the log has lost no
/// epoch, and `--resume` (or, before config.json is in place, the same --run-dir) ends at exactly the uninterrupted
/// run's result.
/// </summary>
[NonParallelizable]
public class CrashTests
{
    private const int Epochs = 3;
    private string _dir = "", _config = "", _whole = "";
    private List<Call> _calls = [];
    private string? _noStrace;

    /// <summary>One rename, openat or fsync of the main thread in the uninterrupted run's trace, and its ordinal among calls of its kind.</summary>
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
        var (code, output) = Start(["-f", "--seccomp-bpf", "-qq", "-o", trace, "-e", "trace=openat,/^rename,fsync", "dotnet", .. Train("--run-dir", _whole)]);
        Assert.That(code, Is.Zero, output);
        _calls = MainThreadCalls(trace);
    }

    [OneTimeTearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    // Each kill point: the occurrence-th call of the uninterrupted run's main thread that names the file, and whether
    // the kill comes as the call is entered (before it runs) or as it returns (after it ran).
    [TestCase("config.json", 1, Before, TestName = "KillBeforeConfigJsonIsInPlaceThenTheSameRunDirStartsAgain")]
    [TestCase("metrics.jsonl", 2, Before, TestName = "KillMidEpochOneBeforeAnyCheckpointThenResumeStartsAgain")]
    [TestCase("best.safetensors", 1, Before, TestName = "KillInsideTheFirstCheckpointWriteThenResume")]
    [TestCase("last.safetensors", 1, After, TestName = "KillRightAfterTheFirstLastCheckpointIsRenamedThenResume")]
    [TestCase("metrics.jsonl", 7, Before, TestName = "KillMidEpochTwoThenResume")]
    [TestCase("last.safetensors", 2, Before, TestName = "KillInsideTheSecondLastCheckpointWriteThenResume")]
    [TestCase("summary.json", 1, Before, TestName = "KillBeforeSummaryJsonIsInPlaceThenResume")]
    public void KilledRunContinuesToTheUninterruptedResult(string file, int occurrence, string when) =>
        FailThenContinue(file, occurrence, when);

    [Test]
    public void SigtermWhileTheRunStartsUpStopsAtStepZeroThenResume() =>
        // As config.json is renamed into place, long before the first step: the handler is already there, so the run
        // stops (exit 130) with a checkpoint of step 0 instead of dying without one.
        FailThenContinue("config.json", 1, "signal=TERM");

    [Test]
    public void AFullDiskAtTheFirstCheckpointIsOneLineThenResume() =>
        // rename(2) into best.safetensors of epoch 1 fails with ENOSPC (the directory has no room for the entry).
        FailThenContinue("best.safetensors", 1, "error=ENOSPC");

    [Test]
    public void AFullDiskWhenTheFirstCheckpointIsFlushedIsOneLineThenResume() =>
        // fsync(2) of best.safetensors' temporary file of epoch 1 (the call before its rename) fails with ENOSPC.
        FailThenContinue("best.safetensors", 1, "error=ENOSPC", offset: -1);

    private const string Before = "signal=KILL", After = "after";

    /// <summary>
    /// The fault at the occurrence-th call naming the file (or <paramref name="offset"/> calls from it). Renames and
    /// fsyncs come in the same order in every run; an openat's ordinal can move by one when the GC reads
    /// /proc/meminfo on the main thread, so openat marks only kill points that a call more or less does not change.
    /// </summary>
    private void FailThenContinue(string file, int occurrence, string fault, int offset = 0)
    {
        if (_noStrace is not null)
            Assert.Ignore(_noStrace);
        var naming = _calls.Select((c, i) => (c, i)).Where(x => x.c.Text.Contains("/" + file + "\"", StringComparison.Ordinal)).ToList();
        Assert.That(naming, Has.Count.GreaterThanOrEqualTo(occurrence), $"the uninterrupted run has no call #{occurrence} naming {file}");
        var at = _calls[naming[occurrence - 1].i + offset];

        string run = Path.Combine(_dir, $"{file}-{occurrence}-{fault.Replace('=', '-')}-{at.Name}");
        // Not --seccomp-bpf here: strace 6.1 injects nothing with it. "After" holds the call's return for 20 s,
        // and the test kills the program once the call's effect (the renamed file) is on disk.
        string inject = fault == After ? "delay_exit=20000000" : fault;
        using var strace = Begin(["-f", "-qq", "-o", "/dev/null", "-e", $"trace={at.Name}",
            "-e", $"inject={at.Name}:{inject}:when={at.Ordinal}", "dotnet", .. Train("--run-dir", run)]);
        if (fault == After)
        {
            var waited = Stopwatch.StartNew();
            while (!File.Exists(Path.Combine(run, file)) && !strace.HasExited && waited.Elapsed < TimeSpan.FromSeconds(60))
                Thread.Sleep(20);
            // The program first, then strace, which would otherwise sit out its delay before it noticed.
            string children = File.ReadAllText($"/proc/{strace.Id}/task/{strace.Id}/children");
            using (var kill = Process.Start("kill", ["-KILL", children.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]])) kill.WaitForExit();
            strace.Kill();
        }
        var (code, output) = End(strace);
        if (fault.StartsWith("error=", StringComparison.Ordinal))
        {
            // A failed write is a failed run (exit 1) told in one line, not a stack trace.
            Assert.That(code, Is.EqualTo(Program.Failed), $"{at.Text}:\n{output}");
            string[] errors = [.. output.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal))];
            Assert.That(errors, Has.Length.EqualTo(1), output);
            Assert.That(output, Does.Not.Contain("   at "), "a stack trace");
        }
        else if (fault == "signal=TERM")
        {
            Assert.That(code, Is.EqualTo(Program.Stopped), $"{at.Text}:\n{output}");
            Assert.That(Checkpoint.Load(Path.Combine(run, "last.safetensors")).Metadata.Training.Step, Is.Zero);
        }
        else
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
        using var process = Begin(arguments, program);
        return End(process);
    }

    private static Process Begin(string[] arguments, bool program = false)
    {
        var start = new ProcessStartInfo(program ? arguments[0] : "strace") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in program ? arguments[1..] : arguments) start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { lock (process) Output(process).AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (process) Output(process).AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static (int Code, string Output) End(Process process)
    {
        Assert.That(process.WaitForExit(120_000), Is.True, "the run did not end within two minutes");
        process.WaitForExit();   // the output's end
        lock (process) return (process.ExitCode, Output(process).ToString());
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Process, System.Text.StringBuilder> Outputs = [];

    private static System.Text.StringBuilder Output(Process p) => Outputs.GetOrCreateValue(p);

    /// <summary>The rename, openat and fsync calls of the traced process's first thread (where the trainer runs), in order.</summary>
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

    /// <summary>Why the kill points cannot run here, or null: they need strace (Debian package strace; .ci/run installs it) and ptrace.</summary>
    private static string? StraceMissing()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("strace", "-f -qq -o /dev/null true") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null : $"strace cannot trace here ({err.Trim()}); the kill points need it";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "strace is not installed; the kill points need it (apt-get install strace)";
        }
    }
}
