using System.Runtime.InteropServices;
using ArTar.Configuration;

using ArTar.Cli.Runs;
using ArTar.Cuda;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// <c>artar sweep SWEEP|CONFIG… [options]</c>: the members of a sweep file, of a list of configs, or of a config and
/// its --grid, each trained as its own `artar train` process in runs/&lt;sweep&gt;/&lt;member&gt;/ (docs/sweeps.md).
/// </summary>
public static class SweepCommand
{
    /// <param name="self">How to start `artar train` (tests: <c>dotnet artar.dll</c>).</param>
    /// <param name="sweepsFolder">Where sweep names are looked up.</param>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, SelfCommand self, string sweepsFolder = SweepFile.DefaultFolder)
    {
        var a = Arguments.Parse("sweep", args, ["--parallel", "--device", "--runs", "--set", "--grid", "--data", "--name", .. SlurmOptions.OptionNames],
            ["--set", "--grid"], ["--slurm", "--submit"]);
        if (a.Help) { stdout.Write(Help.Sweep); return Program.Ok; }
        int parallel = a.Get("sweep", "--parallel", 1, s => int.TryParse(s, out int n) && n >= 1 ? n : null, "an integer ≥ 1, the members trained at once");
        string device = a.Get("--device") ?? "auto";
        if (!DeviceSelection.Devices.Contains(device))
            throw new UsageException($"artar sweep: --device {device}: expected auto, cpu or cuda");
        bool slurm = a.Has("--slurm");
        if (!slurm && SlurmOptions.OptionNames.Concat(["--submit"]).FirstOrDefault(o => o != "--device" && (a.Get(o) is not null || a.Has(o))) is { } stray)
            throw new UsageException($"artar sweep: {stray} is an option of --slurm; add --slurm to write a Slurm job array (docs/slurm.md)");
        var axes = a.All("--grid").Select(GridAxis.Parse).ToList();
        var (name, configs) = Resolve(a.Positionals, sweepsFolder);
        if (a.Get("--name") is { } given)
        {
            if (given is "." or ".." || given.Length == 0 || given.IndexOfAny(['/', '\\']) >= 0)
                throw new UsageException($"artar sweep: --name {given}: expected a folder name (no '/'), e.g. --name alpha-seeds");
            name = given;
        }
        string runsRoot = a.Get("--runs") ?? "runs";
        // Held from before the member folders are read until the last member has ended.
        using var held = SweepLock.IfExists(SweepPlan.FolderOf(runsRoot, name));
        var plan = SweepPlan.Create(name, configs, a.All("--set"), axes, runsRoot, a.Get("--data"));
        using var taken = held ?? SweepLock.Take(plan.Folder);
        if (slurm)
        {
            if (a.Get("--data") is not null)
                throw new UsageException("artar sweep --slurm: --data does not reach the array's tasks; export ARTAR_DATA=DIR instead (the script passes it on)");
            if (a.Get("--parallel") is not null)
                throw new UsageException("artar sweep --slurm: --parallel does not apply (Slurm runs the array's tasks as it schedules them)");
            // One array task per member; each trains or resumes its member as `artar sweep` would (docs/slurm.md).
            var options = SlurmOptions.Parse(a, "artar sweep --slurm") with { Device = device };
            return SlurmCommand.Run(plan.Name, plan.Folder, plan.Members.Select(m => m.Member).ToList(), options, a.Has("--submit"), stdout, self);
        }
        var runner = new SweepRunner(plan, self, device, a.Get("--data"), parallel, SweepDisplay.ForConsole(stdout));

        // Ctrl-C and SIGTERM stop every member after its step (they resume on the next `artar sweep`).
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        try { return runner.Run(stop.Token); }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    /// <summary>The sweep's default name and its config files: a sweep name or file, or config files.</summary>
    private static (string Name, IReadOnlyList<string> Configs) Resolve(IReadOnlyList<string> positionals, string sweepsFolder)
    {
        if (positionals.Count == 0)
            throw new UsageException($"artar sweep: missing SWEEP; give a sweep ({KnownList(sweepsFolder)}), a sweep file, or config files; see `artar sweep --help`");
        if (positionals.Count == 1)
        {
            string p = positionals[0];
            if (!p.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && !File.Exists(p))
            {
                string file = Path.Combine(sweepsFolder, p + ".json");
                if (!File.Exists(file))
                    throw new UsageException(SweepFile.Known(sweepsFolder).Count > 0
                        ? $"artar sweep: unknown sweep \"{p}\"; the sweeps are {KnownList(sweepsFolder)} ({sweepsFolder}/), or give config files"
                        : $"artar sweep: unknown sweep \"{p}\": {sweepsFolder}/ holds no sweep files (run artar from the repository's root), or give config files");
                return (p, SweepFile.ConfigPaths(file));
            }
            if (SweepFile.IsSweepFile(p))
                return (Path.GetFileNameWithoutExtension(p), SweepFile.ConfigPaths(p));
            return (Path.GetFileNameWithoutExtension(p), [p]);
        }
        if (positionals.FirstOrDefault(SweepFile.IsSweepFile) is { } sweep)
            throw new UsageException($"artar sweep: {sweep} is a sweep file; give one sweep, or config files only");
        if (positionals.FirstOrDefault(p => !File.Exists(p)) is { } missing)
            throw new ConfigException($"{missing}: config file not found (give config files such as config/ptb-650.json, or one sweep name)");
        return ("sweep", positionals);
    }

    private static string KnownList(string folder) =>
        SweepFile.Known(folder) is { Count: > 0 } known ? string.Join(", ", known) : $"none: {folder} holds no sweep files";
}
