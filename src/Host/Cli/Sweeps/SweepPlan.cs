using System.Text.Json;
using System.Text.Json.Nodes;
using ArTar.Configuration;
using ArTar.Data;
using ArTar.Training;

using ArTar.Cli.Runs;
using ArTar.Cuda;

namespace ArTar.Cli.Sweeps;

/// <summary>What a member's folder asks for when the sweep starts (docs/sweeps.md, resume rules).</summary>
public enum MemberStart
{
    /// <summary>No folder, or an empty one: <c>artar train CONFIG --run-dir …</c>.</summary>
    Fresh,
    /// <summary>Only what a start that never finished a step leaves (config.json, vocab.txt, …): those files are removed, then as Fresh.</summary>
    Restart,
    /// <summary>last.safetensors and no summary (or a summary of fewer epochs): <c>artar train --resume …</c>.</summary>
    Resume,
    /// <summary>summary.json of as many epochs as the sweep asks: skipped.</summary>
    Finished,
}

/// <summary>A member with its resolved config and how its folder says to start it.</summary>
public sealed record PlannedMember(SweepMember Member, RunConfig Config, MemberStart Start);

/// <summary>
/// A sweep, resolved and checked before anything runs: its name, and each member's config (base config, --set, grid
/// point), folder runs/&lt;sweep&gt;/&lt;member&gt;/ and start.
/// </summary>
public sealed record SweepPlan(string Name, string Folder, IReadOnlyList<PlannedMember> Members)
{
    /// <summary>The files a run that never finished a step may leave (RunDirectory, MetricsLog, curves); nothing else is removed.</summary>
    private static readonly string[] StartFiles = ["config.json", "vocab.txt", "metrics.jsonl", "curves.png", RunLock.FileName];

    /// <param name="name">The sweep's folder name under <paramref name="runsRoot"/>.</param>
    /// <param name="configs">The config files, in order.</param>
    /// <param name="sets">--set, applied to every member before its grid point.</param>
    public static SweepPlan Create(string name, IReadOnlyList<string> configs, IReadOnlyList<string> sets, IReadOnlyList<GridAxis> axes,
        string runsRoot, string? cliData)
    {
        string folder = FolderOf(runsRoot, name);
        var members = new List<PlannedMember>();
        foreach (string path in configs)
        {
            var config = RunConfig.Load(path);
            foreach (string assignment in sets)
                config = config.WithOverride(assignment);
            Grid.Check(axes, sets, config);
            foreach (var (suffix, point) in Grid.Points(axes))
            {
                string member = suffix.Length == 0 ? config.Name : $"{config.Name}-{suffix}";
                var resolved = point.Aggregate(config, (c, a) => c.WithOverride(a));
                if (members.FirstOrDefault(m => m.Member.Name == member) is { } other)
                    throw new UsageException($"artar sweep: two members would be named {member} ({other.Member.ConfigPath} and {path}); rename a config or change a grid value");
                var sweepMember = new SweepMember(member, path, Path.Combine(folder, member), [.. sets, .. point]);
                members.Add(new PlannedMember(sweepMember, resolved, StartOf(sweepMember, resolved)));
            }
        }
        CheckData(members, cliData);
        return new SweepPlan(name, folder, members);
    }

    /// <summary>runs/&lt;sweep&gt;/: the folder of the sweep's member folders and logs.</summary>
    public static string FolderOf(string runsRoot, string name) => Path.Combine(runsRoot, name);

    /// <summary>Removes what a start that never finished a step left in a Restart member's folder.</summary>
    public static void ClearUnstarted(SweepMember member)
    {
        foreach (string file in StartFiles)
            File.Delete(Path.Combine(member.RunDirectory, file));
    }

    private static MemberStart StartOf(SweepMember member, RunConfig config)
    {
        string dir = member.RunDirectory;
        if (File.Exists(dir))
            throw new UsageException($"artar sweep: {dir} is a file where member {member.Name} would train; move it away");
        // A run's .lock stays in its folder (RunLock), and a crash can leave temporary files; `artar train` reuses such a folder.
        if (!Directory.Exists(dir) || Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName)
                .All(f => f == RunLock.FileName || RunDirectory.IsTemporary(f!)))
            return MemberStart.Fresh;
        if (!File.Exists(Path.Combine(dir, "config.json")))
            throw new UsageException($"artar sweep: {dir} holds files but no config.json, so it is no run of member {member.Name}; move it away");
        var run = RunDirectory.Open(dir);
        RunConfig there;
        try { there = RunConfig.Load(run.ConfigPath); }
        catch (ConfigException e) { throw new UsageException($"artar sweep: member {member.Name}: {e.Message}; move {dir} away to train it anew"); }
        // The number of epochs may differ: the sweep's value wins (a longer sweep continues finished members).
        if (Difference(there with { Epochs = config.Epochs }, config) is { } key)
            throw new UsageException($"artar sweep: {run.ConfigPath} holds another config than member {member.Name} would train ({key}); move {dir} away, or sweep with that folder's settings");
        if (File.Exists(run.SummaryPath))
        {
            RunSummary summary;
            try { summary = run.ReadSummary(); }
            catch (JsonException e) { throw new UsageException($"artar sweep: {run.SummaryPath} is damaged ({e.Message}); remove it to resume the member from last.safetensors"); }
            if (summary.Epochs >= config.Epochs) return MemberStart.Finished;
        }
        if (File.Exists(run.LastCheckpointPath)) return MemberStart.Resume;
        if (Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).FirstOrDefault(f => !StartFiles.Contains(f) && !RunDirectory.IsTemporary(f!)) is { } extra)
            throw new UsageException($"artar sweep: {dir} has no last.safetensors to resume from but holds {extra}; move it away to train member {member.Name} anew");
        return MemberStart.Restart;
    }

    /// <summary>The first key whose value differs, as "alpha 1 there, 2 here"; null if the configs are the same.</summary>
    private static string? Difference(RunConfig there, RunConfig here)
    {
        var a = JsonNode.Parse(there.ToJson())!.AsObject();
        var b = JsonNode.Parse(here.ToJson())!.AsObject();
        foreach (var (key, value) in b)
            if (!JsonNode.DeepEquals(a[key], value))
                return $"{key} {a[key]?.ToJsonString()} there, {value?.ToJsonString()} here";
        return null;
    }

    /// <summary>Every member's corpus folder holds train.txt, so that no member fails for a missing corpus.</summary>
    private static void CheckData(IEnumerable<PlannedMember> members, string? cliData)
    {
        foreach (var m in members.Where(m => m.Start != MemberStart.Finished))
        {
            string folder = Corpus.ResolveFolder(m.Config.Data, cliData, Environment.GetEnvironmentVariable("ARTAR_DATA"));
            if (!File.Exists(Path.Combine(folder, "train.txt")))
                throw new UsageException($"artar sweep: member {m.Member.Name}: no corpus in {folder} (no train.txt); run `artar data get {Path.GetFileName(Path.TrimEndingDirectorySeparator(folder))}` or pass --data DIR");
        }
    }
}
