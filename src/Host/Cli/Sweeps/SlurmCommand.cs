using System.Globalization;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// <c>artar sweep SWEEP --slurm [--submit]</c>: writes runs/SWEEP/sweep.sbatch (<see cref="SlurmArray"/>) and, with
/// --submit, submits it (<see cref="SlurmSubmit"/>). Bad input throws a one-line <see cref="UsageException"/>, as the
/// other commands do; <see cref="Program.Execute"/> prints it and exits 2.
/// </summary>
public static class SlurmCommand
{
    public static int Run(string sweepName, IReadOnlyList<SweepMember> members, SlurmOptions options, bool submit, TextWriter stdout) =>
        Run(sweepName, Path.Combine("runs", sweepName), members, options, submit, stdout, SelfCommand.Current());

    /// <summary>The same with the sweep's folder, the command a task starts artar with, and the sbatch program given.</summary>
    public static int Run(string sweepName, string sweepFolder, IReadOnlyList<SweepMember> members, SlurmOptions options, bool submit,
        TextWriter stdout, SelfCommand self, string sbatch = "sbatch")
    {
        string script;
        try { script = SlurmArray.Write(sweepName, sweepFolder, members, options, self); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"artar sweep --slurm: cannot write {Path.Combine(sweepFolder, SlurmArray.ScriptName)}: {e.Message}");
        }
        string tasks = members.Count == 1 ? "1 array task" : $"{members.Count} array tasks";
        stdout.WriteLine($"wrote {script}: {tasks}, one per member of sweep {sweepName}");
        if (!submit)
        {
            stdout.WriteLine($"submit it with: sbatch {script}");
            return Program.Ok;
        }
        long job = SlurmSubmit.Run(script, sbatch);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"submitted job {job} ({tasks}); watch it with: squeue -j {job}; each member's output is in its run folder's train.log"));
        return Program.Ok;
    }
}
