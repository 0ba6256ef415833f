using System.Diagnostics;
using ArTar.Training;

using ArTar.Cli.Runs;
using ArTar.Cuda;

namespace ArTar.Cli.Sweeps;

/// <summary>What the terminal shows of a member: waiting, running, done, failed, or stopped with a checkpoint.</summary>
public enum MemberState { Waiting, Running, Done, Failed, Stopped }

/// <summary>One member while the sweep runs: its process, its log, and the progress read from its metrics.jsonl.</summary>
public sealed class MemberRun(PlannedMember planned, string logPath)
{
    public PlannedMember Planned { get; } = planned;
    public SweepMember Member => Planned.Member;
    /// <summary>runs/&lt;sweep&gt;/&lt;member&gt;.log: the output of each `artar train` of the member, appended.</summary>
    public string LogPath { get; } = logPath;
    public MemberState State { get; set; } = planned.Start == MemberStart.Finished ? MemberState.Done : MemberState.Waiting;
    /// <summary>Finished before this sweep started (skipped).</summary>
    public bool Earlier => Planned.Start == MemberStart.Finished;
    public Process? Process { get; set; }
    public int? ExitCode { get; set; }
    /// <summary>The last "error: …" line the member's train printed.</summary>
    public string? Error { get; set; }
    public MemberProgress Progress { get; private set; } = MemberProgress.None;
    public RunSummary? Summary { get; private set; }

    private long _rateStart, _rateStartStep = -1;
    private MemberState? _observed;   // the state of the last read: a member not running is read once per state

    /// <summary>Seconds left at the rate seen since this sweep first saw a step; NaN until an epoch has shown how many steps it has.</summary>
    public double EtaSeconds
    {
        get
        {
            if (State != MemberState.Running || Progress.StepsPerEpoch <= 0 || _rateStartStep < 0 || Progress.Step <= _rateStartStep) return double.NaN;
            double rate = (Progress.Step - _rateStartStep) / Stopwatch.GetElapsedTime(_rateStart).TotalSeconds;
            return (Progress.StepsPerEpoch * Planned.Config.Epochs - Progress.Step) / rate;
        }
    }

    /// <summary>Reads metrics.jsonl (and summary.json once done) again; of a member not running, only after its state changed.</summary>
    public void Observe()
    {
        if (State != MemberState.Running && State == _observed) return;
        _observed = State;
        var run = Member.RunDirectory;
        Progress = MemberProgress.Read(Path.Combine(run, "metrics.jsonl"));
        if (State == MemberState.Running && _rateStartStep < 0 && Progress.Step > 0)
            (_rateStart, _rateStartStep) = (Stopwatch.GetTimestamp(), Progress.Step);
        if (State == MemberState.Done && Summary is null && File.Exists(Path.Combine(run, "summary.json")))
        {
            try { Summary = RunDirectory.Open(run).ReadSummary(); }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException) { }
        }
    }
}
