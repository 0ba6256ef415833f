using System.Diagnostics;
using System.Globalization;
using ArTar.Checkpoints;

namespace ArTar.Tests.Sweeps;

/// <summary>The signal Slurm sends before a time limit (--signal=B:USR1, passed on by the script) stops `artar train` as SIGTERM does.</summary>
[Category("Slurm")]
public class SlurmSignalTests
{
    [Test]
    public void Sigusr1FinishesTheStepWritesACheckpointAndExits130()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("SIGUSR1 is signal 10 on Linux only; elsewhere it is another number and kill -USR1 another signal");
        string dir = TestData.TempFolder(), run = Path.Combine(dir, "usr1");
        try
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in new[] { TestData.ArtarDll, "train", Path.Combine(TestData.RepoRoot, "config", "ptb-tiny.json"), "--device", "cpu",
                         "--data", TestData.Folder("ptb"), "--run-dir", run, "--set", "hidden=16", "--set", "bptt=10", "--set", "epochs=1000",
                         "--set", "max_eval_tokens=2000", "--set", "log_interval=1" })
                start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            string metrics = Path.Combine(run, "metrics.jsonl");
            SlurmCluster.WaitFor(() => process.HasExited || (File.Exists(metrics) && File.ReadAllText(metrics).Contains("\"step\"")), TimeSpan.FromSeconds(60));
            Assert.That(process.HasExited, Is.False, "the run ended before it could be stopped");
            SlurmCluster.Run("kill", ["-USR1", process.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
            Assert.That(process.WaitForExit(60_000), Is.True, "the run did not stop within a minute of SIGUSR1");
            Assert.That(process.ExitCode, Is.EqualTo(Program.Stopped), output.Result);
            Assert.That(output.Result, Does.Contain("continue with: artar train --resume " + run));
            Assert.That(Checkpoint.Load(Path.Combine(run, "last.safetensors")).Metadata.Training.Step, Is.GreaterThan(0));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
