using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

using ArTar.Cli.Runs;
using ArTar.Cuda;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// Runs a sweep's members, each as its own `artar train` process, at most <c>parallel</c> at once; a stop request
/// sends SIGTERM to every running member (it finishes its step and writes last.safetensors), starts no more, and
/// waits for them. Exit code: 0 all finished, 1 some failed, 130 stopped (docs/sweeps.md).
/// </summary>
public sealed class SweepRunner(SweepPlan plan, SelfCommand self, string device, string? data, int parallel, SweepDisplay display)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);

    public int Run(CancellationToken stop)
    {
        Directory.CreateDirectory(plan.Folder);
        var runs = plan.Members.Select(m => new MemberRun(m, Path.Combine(plan.Folder, m.Member.Name + ".log"))).ToList();
        display.Start(plan, runs, parallel);
        bool signalled = false;
        while (true)
        {
            if (stop.IsCancellationRequested && !signalled)
            {
                signalled = true;
                foreach (var r in runs.Where(r => r.State == MemberState.Running && !r.Process!.HasExited))
                    Posix.kill(r.Process!.Id, Posix.SIGTERM);
            }
            foreach (var r in runs.Where(r => r.State == MemberState.Running && r.Process!.HasExited))
                Reap(r, signalled);
            foreach (var r in runs.Where(r => r.State == MemberState.Waiting))
            {
                if (stop.IsCancellationRequested || runs.Count(x => x.State == MemberState.Running) >= parallel) break;
                Launch(r);
            }
            foreach (var r in runs) r.Observe();
            display.Update(runs);
            if (!runs.Any(r => r.State == MemberState.Running) && (signalled || !runs.Any(r => r.State == MemberState.Waiting)))
                break;
            stop.WaitHandle.WaitOne(Poll);
        }
        display.Finish(runs, signalled);
        if (signalled) return Program.Stopped;
        if (runs.Any(r => r.State == MemberState.Failed)) return Program.Failed;
        return runs.Any(r => r.State == MemberState.Stopped) ? Program.Stopped : Program.Ok;
    }

    /// <summary>The `artar train` arguments of a member: a new run in its folder, or --resume of the folder.</summary>
    public IReadOnlyList<string> TrainArguments(PlannedMember m)
    {
        List<string> args = m.Start == MemberStart.Resume
            // Only epochs may change on resuming; the sweep's value wins (SweepPlan lets it differ).
            ? ["train", "--resume", m.Member.RunDirectory, "--set", string.Create(CultureInfo.InvariantCulture, $"epochs={m.Config.Epochs}")]
            : ["train", m.Member.ConfigPath, "--run-dir", m.Member.RunDirectory, .. m.Member.Sets.SelectMany(s => new[] { "--set", s })];
        args.AddRange(["--device", device]);
        if (data is not null) args.AddRange(["--data", data]);
        return args;
    }

    private void Launch(MemberRun r)
    {
        var args = TrainArguments(r.Planned);
        var start = self.Start(args);
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        StreamWriter? log = null;
        try
        {
            log = new StreamWriter(new FileStream(r.LogPath, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {DateTime.Now:yyyy-MM-dd HH:mm:ss} artar {string.Join(' ', args)}"));
            if (r.Planned.Start == MemberStart.Restart) SweepPlan.ClearUnstarted(r.Member);
            var process = new Process { StartInfo = start };
            var output = log;
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.WriteLine(e.Data); };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (output) output.WriteLine(e.Data);
                if (e.Data.StartsWith("error: ", StringComparison.Ordinal)) r.Error = e.Data["error: ".Length..];
            };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            r.Process = process;
            r.State = MemberState.Running;
            _logs[r] = log;
        }
        catch (Exception e) when (e is Win32Exception or IOException or UnauthorizedAccessException)
        {
            r.State = MemberState.Failed;
            r.Error = $"could not start artar train ({e.Message})";
            log?.WriteLine($"error: {r.Error}");
            log?.Dispose();
        }
    }

    private void Reap(MemberRun r, bool signalled)
    {
        r.Process!.WaitForExit();   // and for the output it had still to be read
        int code = r.Process.ExitCode;
        r.ExitCode = code;
        r.Process.Dispose();
        if (_logs.Remove(r, out var log)) lock (log) log.Dispose();
        r.State = code switch
        {
            Program.Ok => MemberState.Done,
            Program.Stopped => MemberState.Stopped,
            // SIGTERM before train had installed its handler (still starting): nothing to lose, the next sweep starts it again.
            _ when signalled && code is not (Program.Failed or Program.BadInput) => MemberState.Stopped,
            _ => MemberState.Failed,
        };
        if (r.State == MemberState.Failed) r.Error ??= $"artar train exited with {code}";
    }

    private readonly Dictionary<MemberRun, StreamWriter> _logs = [];
}
