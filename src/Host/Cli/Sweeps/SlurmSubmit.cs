using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace ArTar.Cli.Sweeps;

/// <summary>Submits an sbatch script and reads back the job id; a missing or refusing sbatch is one line (<see cref="UsageException"/>).</summary>
public static class SlurmSubmit
{
    /// <summary>Runs <c>sbatch --parsable SCRIPT</c>; <paramref name="sbatch"/> is the program (found on the PATH).</summary>
    public static long Run(string scriptPath, string sbatch = "sbatch")
    {
        var start = new ProcessStartInfo(sbatch)
        {
            ArgumentList = { "--parsable", scriptPath },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process? process;
        try { process = Process.Start(start); }
        catch (Win32Exception)
        {
            throw new UsageException($"--submit: {sbatch} was not found (Slurm's client tools are not installed here); submit {scriptPath} with sbatch where they are, or leave out --submit");
        }
        using var p = process ?? throw new UsageException($"--submit: {sbatch} did not start");
        var error = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new UsageException($"--submit: sbatch {scriptPath} refused the job (exit {p.ExitCode}): {LastLine(error.Result)}");
        return ParseJobId(output)
            ?? throw new UsageException($"--submit: sbatch {scriptPath} printed no job id (\"{LastLine(output)}\"); see squeue");
    }

    /// <summary>The job id of <c>sbatch --parsable</c>'s output: "12345", or "12345;cluster" on a federation.</summary>
    public static long? ParseJobId(string output)
    {
        string line = LastLine(output);
        int semicolon = line.IndexOf(';');
        if (semicolon >= 0) line = line[..semicolon];
        return long.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out long id) && id > 0 ? id : null;
    }

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
}
