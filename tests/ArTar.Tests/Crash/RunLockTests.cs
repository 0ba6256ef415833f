using System.Diagnostics;
using System.Globalization;
using ArTar.Cli.Runs;

namespace ArTar.Tests.Crash;

/// <summary>One trainer per run folder: the .lock flock, seen by flock(1) and by a second real `artar train`.</summary>
[NonParallelizable]
public class RunLockTests
{
    private string _dir = "", _config = "";

    [OneTimeSetUp]
    public void WriteConfig()
    {
        _dir = TestData.TempFolder();
        _config = Path.Combine(_dir, "tiny.json");
        // Enough epochs that a run is still going when the second one starts; each is stopped with SIGTERM.
        File.WriteAllText(_config, """
            {"model": "gru", "layers": 1, "hidden": 12, "epochs": 1000, "batch_size": 4, "eval_batch_size": 5, "bptt": 8,
             "data": "data/ptb", "max_train_tokens": 1000, "max_eval_tokens": 600, "log_interval": 1}
            """);
    }

    [OneTimeTearDown]
    public void CleanUp() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void TheLockIsAnFlockThatTheKernelSeesAndNamesItsHolder()
    {
        string folder = Path.Combine(_dir, "flock");
        string lockFile = Path.Combine(folder, RunLock.FileName);
        using (RunDirectory.CreateAt(folder, "{}", ["<eos>"]))
        {
            Assert.That(File.Exists(lockFile));
            Assert.That(Flock(lockFile), Is.EqualTo(1), "flock -n took a lock the run holds");
            // Another lock of the folder fails naming this process (read without .NET's own flock).
            var e = Assert.Throws<RunInUseException>(() => RunLock.Take(folder));
            Assert.That(e!.Message, Does.Contain($"pid {Environment.ProcessId} holds {lockFile}"));
        }
        Assert.That(Flock(lockFile), Is.Zero, "the lock outlived its run");
    }

    [Test]
    public void OfTwoTrainersStartedAtOnceOnOneNewRunDirOneRunsAndTheOtherNamesIt()
    {
        string run = Path.Combine(_dir, "twice");
        string[] train = [TestData.ArtarDll, "train", _config, "--device", "cpu", "--data", TestData.Folder("ptb"), "--run-dir", run];
        OneRunsTheOtherIsRefused(Start(train), Start(train), run);

        // The stopped run, resumed twice at once: again one runs.
        string[] resume = [TestData.ArtarDll, "train", "--resume", run, "--device", "cpu", "--data", TestData.Folder("ptb")];
        OneRunsTheOtherIsRefused(Start(resume), Start(resume), run);
    }

    private static void OneRunsTheOtherIsRefused(Process a, Process b, string run)
    {
        using (a)
        using (b)
        {
            var outputs = new[] { a, b }.Select(p => (p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync())).ToArray();
            var waited = Stopwatch.StartNew();
            while (!a.HasExited && !b.HasExited && waited.Elapsed < TimeSpan.FromSeconds(60))
                Thread.Sleep(50);
            Assert.That(a.HasExited || b.HasExited, Is.True, "both trainers are running in one folder");
            var (loser, winner, err) = a.HasExited ? (a, b, outputs[0].Item2) : (b, a, outputs[1].Item2);
            Assert.That(loser.ExitCode, Is.EqualTo(Program.BadInput), err.Result);
            Assert.That(err.Result.TrimEnd(), Does.Not.Contain("\n").And.Contain($"is in use: pid {winner.Id} holds {Path.Combine(run, RunLock.FileName)}"));
            Assert.That(winner.HasExited, Is.False, "the trainer that holds the lock ended");
            // Stopped once it has a step done, so the folder has a checkpoint to resume.
            string metrics = Path.Combine(run, "metrics.jsonl");
            while (!(File.Exists(metrics) && File.ReadAllText(metrics).Contains("\"step\"")) && waited.Elapsed < TimeSpan.FromSeconds(90))
                Thread.Sleep(50);
            using (var kill = Process.Start("kill", ["-TERM", winner.Id.ToString(CultureInfo.InvariantCulture)])) kill.WaitForExit();
            Assert.That(winner.WaitForExit(60_000), Is.True, "the run did not stop within a minute of SIGTERM");
            Assert.That(winner.ExitCode, Is.EqualTo(Program.Stopped), outputs[a == winner ? 0 : 1].Item2.Result);
        }
    }

    private static Process Start(string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        return Process.Start(start)!;
    }

    /// <summary>flock(1)'s exit code for a non-blocking exclusive lock of the file: 0 taken, 1 held by another.</summary>
    private static int Flock(string path)
    {
        using var p = Process.Start("flock", ["-n", "-E", "1", path, "true"]);
        p.WaitForExit();
        return p.ExitCode;
    }
}
