using System.Globalization;
using System.Text;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// The sbatch script of a sweep: a job array with one task per member (docs/slurm.md). Each task trains its member
/// in its run folder, resumes it when a last.safetensors is there, and stops it with a checkpoint on the signal
/// Slurm sends before the time limit (then requeues itself), so no task loses more than one step's work.
/// </summary>
public static class SlurmArray
{
    public const string ScriptName = "sweep.sbatch";

    /// <summary>Seconds before the time limit at which Slurm sends SIGUSR1 (at most; a tenth of a short limit).</summary>
    public const int SignalLeadSeconds = 300;

    /// <summary>The environment variables a task needs from the submitting shell, exported by the script itself.</summary>
    public static readonly IReadOnlyList<string> ExportedVariables = ["ARTAR_DATA", "DOTNET_ROOT"];

    /// <summary>
    /// Writes <see cref="ScriptName"/> into <paramref name="sweepFolder"/> (created if absent) for the current
    /// directory and environment; returns its path.
    /// </summary>
    public static string Write(string sweepName, string sweepFolder, IReadOnlyList<SweepMember> members, SlurmOptions options, SelfCommand self)
    {
        var environment = new List<KeyValuePair<string, string>>();
        foreach (string name in ExportedVariables)
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
                environment.Add(new(name, Path.GetFullPath(value)));
        string text = Text(sweepName, Path.GetFullPath(sweepFolder), members, options, self, Environment.CurrentDirectory, environment);
        Directory.CreateDirectory(sweepFolder);
        string path = Path.Combine(sweepFolder, ScriptName);
        // Written beside and renamed, so a script being read by sbatch is never half written.
        string partial = path + ".partial";
        File.WriteAllText(partial, text);
        File.Move(partial, path, overwrite: true);
        return path;
    }

    /// <summary>
    /// The script text. Relative paths are taken from <paramref name="workingDirectory"/>, which the tasks also run in
    /// (a config's relative "data" path means what it means here); <paramref name="environment"/> is exported as given.
    /// </summary>
    public static string Text(string sweepName, string sweepFolder, IReadOnlyList<SweepMember> members, SlurmOptions options,
        SelfCommand self, string workingDirectory, IReadOnlyList<KeyValuePair<string, string>> environment)
    {
        const string command = "artar sweep --slurm";
        options.Validate(command);
        CheckMembers(command, sweepName, members);
        string Full(string path) => Path.GetFullPath(path, workingDirectory);
        sweepFolder = Full(sweepFolder);
        if (sweepFolder.Contains('\n'))
            throw new UsageException($"{command}: the sweep folder {sweepFolder} has a line break in its name; an #SBATCH line cannot hold it");

        var s = new StringBuilder();
        s.Append("#!/bin/bash\n");
        s.Append($"# Sweep {OneLine(sweepName)}: a job array, one task per member; written by `artar sweep --slurm` (docs/slurm.md).\n");
        s.Append($"# Submit: sbatch {OneLine(Path.Combine(sweepFolder, ScriptName))}\n");
        s.Append($"#SBATCH --job-name={JobName(sweepName)}\n");
        s.Append($"#SBATCH --array=0-{members.Count - 1}\n");
        // The script's own lines, per task; the trainer's go to train.log in the member's run folder.
        s.Append($"#SBATCH --output={SbatchArgument(OutputPattern(sweepFolder))}\n");
        s.Append("#SBATCH --open-mode=append\n");
        s.Append("#SBATCH --requeue\n");
        s.Append("#SBATCH --ntasks=1\n");
        // B: signals the batch shell, which passes it on to the trainer (the trainer is no job step of its own).
        s.Append($"#SBATCH --signal=B:USR1@{SignalLead(options.Time)}\n");
        if (options.Partition is { } partition) s.Append($"#SBATCH --partition={partition}\n");
        if (options.Time is { } time) s.Append($"#SBATCH --time={time}\n");
        if (options.CpusPerTask is { } cpus) s.Append(CultureInfo.InvariantCulture, $"#SBATCH --cpus-per-task={cpus}\n");
        if (options.GpusPerTask is { } gpus) s.Append(CultureInfo.InvariantCulture, $"#SBATCH --gpus-per-task={gpus}\n");
        s.Append("set -u\n");
        s.Append($"cd {Quote(workingDirectory)} || exit 1\n");
        // Slurm passes on the submitting shell's environment by default (--export=ALL); these are set here so that
        // the script also works when submitted from another shell or with --export=NONE.
        foreach (var (name, value) in environment)
            s.Append($"export {name}={Quote(value)}\n");
        s.Append($"artar=({string.Join(' ', new[] { self.FileName }.Concat(self.PrefixArguments).Select(Quote))})\n");
        s.Append(options.Device is { } device ? $"device=(--device {Quote(device)})\n" : "device=()\n");
        s.Append("\n");
        s.Append("case \"${SLURM_ARRAY_TASK_ID:-}\" in\n");
        for (int i = 0; i < members.Count; i++)
        {
            var m = members[i];
            string sets = string.Join(' ', m.Sets.Select(a => "--set " + Quote(a)));
            s.Append(CultureInfo.InvariantCulture,
                $"  {i}) member={Quote(m.Name)}; config={Quote(Full(m.ConfigPath))}; dir={Quote(Full(m.RunDirectory))}; sets=({sets}) ;;\n");
        }
        s.Append($"  *) echo \"no member for array task ${{SLURM_ARRAY_TASK_ID:-(none: submit this with sbatch)}} in sweep \"{Quote(sweepName)}; exit 2 ;;\n");
        s.Append("esac\n");
        s.Append(Body);
        return s.ToString();
    }

    /// <summary>The same for every sweep: pick the start (new, resume, nothing to do), run the trainer, pass signals on.</summary>
    private const string Body = """

        if [ -f "$dir/summary.json" ]; then
          echo "member $member: $dir/summary.json is there, the run is finished"
          exit 0
        elif [ -f "$dir/last.safetensors" ]; then
          train=(train --resume "$dir")
        else
          if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
            # Started but killed before its first checkpoint: kept aside, since --run-dir takes only a new or empty folder.
            mv "$dir" "$dir.unfinished-$SLURM_JOB_ID" && echo "member $member: $dir had no last.safetensors; moved to $dir.unfinished-$SLURM_JOB_ID"
          fi
          train=(train "$config" --run-dir "$dir" "${sets[@]}")
        fi
        echo "member $member: array task $SLURM_ARRAY_TASK_ID, job $SLURM_JOB_ID on $(hostname), restart ${SLURM_RESTART_COUNT:-0}: artar ${train[*]} ${device[*]}"

        # The trainer's output goes to train.log in its run folder from the moment the folder is there; a start refused
        # before that (bad config, missing data) stays in this task's Slurm output. The copier ignores the signals
        # (scancel --full sends them to every process of the task), or the trainer's last lines would be lost.
        into_run_log() {
          trap '' TERM USR1
          while IFS= read -r line; do
            if [ -d "$dir" ]; then printf '%s\n' "$line" >>"$dir/train.log"; exec cat >>"$dir/train.log"; fi
            printf '%s\n' "$line"
          done
        }
        fifo=$(mktemp -u "${TMPDIR:-/tmp}/artar-$SLURM_JOB_ID.XXXXXX")
        mkfifo "$fifo" || exit 1
        into_run_log <"$fifo" & log=$!

        # SIGTERM (scancel, preemption, the time limit itself) and SIGUSR1 (--signal, before the time limit) both make
        # the trainer finish its step, write last.safetensors and exit 130. On SIGUSR1 the task then requeues itself.
        requeue=0 trainer=""
        trap '[ -n "$trainer" ] && kill -TERM "$trainer" 2>/dev/null' TERM
        trap 'requeue=1; [ -n "$trainer" ] && kill -USR1 "$trainer" 2>/dev/null' USR1
        "${artar[@]}" "${train[@]}" "${device[@]}" >"$fifo" 2>&1 & trainer=$!
        # A trapped signal ends `wait` early; wait again until the trainer is gone, then once more for its status.
        until wait "$trainer"; ! kill -0 "$trainer" 2>/dev/null; do :; done
        wait "$trainer"; status=$?
        wait "$log"; rm -f "$fifo"
        if [ "$status" -eq 130 ] && [ "$requeue" -eq 1 ]; then
          echo "member $member: stopped before the time limit with a checkpoint; requeued to resume"
          scontrol requeue "$SLURM_JOB_ID"
        fi
        echo "member $member: artar exited with $status"
        exit "$status"

        """;

    /// <summary>The per-task Slurm output: %A the array's job id, %a the task; a literal '%' doubled.</summary>
    public static string OutputPattern(string sweepFolder) => Path.Combine(sweepFolder.Replace("%", "%%"), "slurm-%A_%a.out");

    /// <summary>The Slurm output of one task, as <see cref="OutputPattern"/> names it.</summary>
    public static string OutputPath(string sweepFolder, long jobId, int task) =>
        Path.Combine(sweepFolder, string.Create(CultureInfo.InvariantCulture, $"slurm-{jobId}_{task}.out"));

    /// <summary>A tenth of the time limit, at most <see cref="SignalLeadSeconds"/>; Slurm may send it up to a minute early.</summary>
    private static int SignalLead(string? time) =>
        time is null ? SignalLeadSeconds : Math.Clamp(SlurmOptions.TimeLimitSeconds(time)!.Value / 10, 1, SignalLeadSeconds);

    private static void CheckMembers(string command, string sweepName, IReadOnlyList<SweepMember> members)
    {
        if (members.Count == 0)
            throw new UsageException($"{command}: sweep {sweepName} has no members; nothing to submit");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in members)
        {
            if (string.IsNullOrWhiteSpace(m.Name) || !names.Add(m.Name))
                throw new UsageException($"{command}: sweep {sweepName}: member name '{m.Name}' is empty or used twice; each array task needs its own");
            // Bash cannot hold a NUL byte in a string; everything else is quoted.
            if (new[] { m.Name, m.ConfigPath, m.RunDirectory }.Concat(m.Sets).Any(v => v.Contains('\0')))
                throw new UsageException($"{command}: sweep {sweepName}: member {m.Name} has a NUL character in its name, config, folder or --set");
        }
    }

    /// <summary>One word for bash: single-quoted, each ' written as '\'' (nothing inside single quotes is special).</summary>
    public static string Quote(string value) => "'" + value.Replace("'", "'\\''") + "'";

    /// <summary>
    /// One value on an #SBATCH line: sbatch splits at blanks outside double quotes and reads '\' as an escape (tried
    /// with Slurm 22.05: a '\ ' does not keep a blank, a '#' inside the quotes is kept), so the value is double-quoted
    /// with '"' and '\' escaped.
    /// </summary>
    public static string SbatchArgument(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    /// <summary>A job name squeue shows well: the sweep's name with anything but [A-Za-z0-9._-] made '_'.</summary>
    private static string JobName(string sweepName) =>
        "artar-" + new string(sweepName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray());

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
