using System.Diagnostics;

namespace ArTar.Tests.Sweeps;

/// <summary>
/// The real Slurm the cluster tests submit to (CI: tools/slurm/cluster.sh install &amp;&amp; start); tests that need it
/// are ignored with the reason when there is none.
/// </summary>
internal static class SlurmCluster
{
    /// <summary>Why no job can run here (<paramref name="sinfo"/> missing, failing, or no node idle or mixed), or null when one can.</summary>
    public static string? Unavailable(string sinfo = "sinfo")
    {
        ProcessResult result;
        try { result = Run(sinfo, ["-h", "-o", "%t"], TimeSpan.FromSeconds(30)); }
        catch (System.ComponentModel.Win32Exception)
        {
            return $"{sinfo} is not on the PATH: Slurm is not installed (start one with tools/slurm/cluster.sh install && tools/slurm/cluster.sh start)";
        }
        if (result.Code != 0)
            return $"{sinfo} failed ({result.Code}): {result.Output.Trim()} (is the cluster up? tools/slurm/cluster.sh start)";
        var states = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (!states.Any(s => s is "idle" or "mix" or "alloc"))
            return $"no Slurm node can take a job ({sinfo}: {string.Join(", ", states.DefaultIfEmpty("no nodes"))}); see tools/slurm/cluster.sh status";
        return null;
    }

    // Asked once: sinfo takes about 9 s to give up on a controller that is down.
    private static readonly Lazy<string?> Reason = new(() => Unavailable());

    /// <summary>Ignores the calling test when <see cref="Unavailable"/> gives a reason.</summary>
    public static void Require()
    {
        if (Reason.Value is { } reason) Assert.Ignore(reason);
    }

    public sealed record ProcessResult(int Code, string Output);

    /// <summary>Runs a program to its end (killed after <paramref name="timeout"/>); stdout and stderr together.</summary>
    public static ProcessResult Run(string program, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;
        using var p = Process.Start(start)!;
        var error = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', start.ArgumentList)} did not end within {timeout.TotalSeconds} s");
        }
        return new ProcessResult(p.ExitCode, output.Result + error.Result);
    }

    /// <summary>A Slurm command that must succeed; its output.</summary>
    public static string Command(string program, params string[] args)
    {
        var r = Run(program, args, TimeSpan.FromSeconds(30));
        Assert.That(r.Code, Is.Zero, $"{program} {string.Join(' ', args)}: {r.Output}");
        return r.Output;
    }

    /// <summary>The state squeue gives a job or array task (RUNNING, PENDING, …), or "" once it has left the queue.</summary>
    public static string State(string job)
    {
        // squeue refuses a job id it no longer knows (exit 1): the job has left the queue.
        var r = Run("squeue", ["-h", "-j", job, "-o", "%T"], TimeSpan.FromSeconds(30));
        return r.Code == 0 ? r.Output.Trim() : "";
    }

    /// <summary>Polls until <paramref name="done"/> holds; false after <paramref name="timeout"/>.</summary>
    public static bool WaitFor(Func<bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!done())
        {
            if (clock.Elapsed > timeout) return false;
            Thread.Sleep(500);
        }
        return true;
    }
}
