using System.Globalization;
using System.Text.RegularExpressions;

using ArTar.Cuda;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// What each array task asks Slurm for (null: the cluster's default), and the device it trains on.
/// <see cref="Validate"/> turns a bad value into one line (<see cref="UsageException"/>).
/// </summary>
public sealed partial record SlurmOptions(string? Partition = null, string? Time = null, int? GpusPerTask = null, int? CpusPerTask = null, string? Device = null)
{
    /// <summary>The command-line options <see cref="Parse"/> reads, for the command's list of valued options.</summary>
    public static readonly IReadOnlyList<string> OptionNames = ["--partition", "--time", "--gpus-per-task", "--cpus-per-task", "--device"];

    /// <summary>The options of <paramref name="a"/>, checked; <paramref name="command"/> names the command in messages.</summary>
    public static SlurmOptions Parse(Arguments a, string command)
    {
        var options = new SlurmOptions(a.Get("--partition"), a.Get("--time"),
            Count(a, command, "--gpus-per-task"), Count(a, command, "--cpus-per-task"), a.Get("--device"));
        options.Validate(command);
        return options;
    }

    /// <summary>Throws a one-line <see cref="UsageException"/> for the first value Slurm or artar would refuse.</summary>
    public void Validate(string command)
    {
        if (Partition is not null && !PartitionPattern().IsMatch(Partition))
            throw new UsageException($"{command}: --partition {Partition}: expected a Slurm partition name (letters, digits, '_', '-', '.'; several joined by ',')");
        if (Time is not null && TimeLimitSeconds(Time) is null)
            throw new UsageException($"{command}: --time {Time}: expected HH:MM:SS or D-HH:MM:SS, more than zero (e.g. 04:00:00 or 1-12:00:00)");
        if (GpusPerTask is < 1)
            throw new UsageException($"{command}: --gpus-per-task {GpusPerTask}: expected a whole number, 1 or more (leave it out for no GPU)");
        if (CpusPerTask is < 1)
            throw new UsageException($"{command}: --cpus-per-task {CpusPerTask}: expected a whole number, 1 or more");
        if (Device is not null && !DeviceSelection.Devices.Contains(Device))
            throw new UsageException($"{command}: --device {Device}: expected {string.Join(", ", DeviceSelection.Devices)}");
    }

    /// <summary>The seconds of a time limit in HH:MM:SS or D-HH:MM:SS; null if it is not one, or zero.</summary>
    public static int? TimeLimitSeconds(string time)
    {
        var m = TimePattern().Match(time);
        if (!m.Success) return null;
        int Part(string name) => m.Groups[name].Success ? int.Parse(m.Groups[name].Value, CultureInfo.InvariantCulture) : 0;
        int days = Part("d"), hours = Part("h"), minutes = Part("m"), seconds = Part("s");
        if (minutes > 59 || seconds > 59 || (m.Groups["d"].Success && hours > 23)) return null;
        long total = ((days * 24L + hours) * 60 + minutes) * 60 + seconds;
        return total is > 0 and <= int.MaxValue ? (int)total : null;
    }

    private static int? Count(Arguments a, string command, string name)
    {
        string? raw = a.Get(name);
        if (raw is null) return null;
        return int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new UsageException($"{command}: {name} {raw}: expected a whole number, 1 or more");
    }

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+(,[A-Za-z0-9_.\-]+)*$")]
    private static partial Regex PartitionPattern();

    [GeneratedRegex(@"^(?:(?<d>[0-9]{1,3})-)?(?<h>[0-9]{1,3}):(?<m>[0-9]{2}):(?<s>[0-9]{2})$")]
    private static partial Regex TimePattern();
}
