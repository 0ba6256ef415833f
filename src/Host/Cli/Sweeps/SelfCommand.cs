using System.Diagnostics;
using System.Reflection;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// How to start this program again as a child process: the running executable, or <c>dotnet artar.dll</c> when it
/// runs under the dotnet host (tests pass <c>new SelfCommand("dotnet", [artar.dll])</c>).
/// </summary>
public sealed record SelfCommand(string FileName, IReadOnlyList<string> PrefixArguments)
{
    public static SelfCommand Current()
    {
        string process = Environment.ProcessPath ?? throw new InvalidOperationException("the path of the running program is unknown");
        bool host = Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        string? entry = Assembly.GetEntryAssembly()?.Location;
        return host && !string.IsNullOrEmpty(entry) ? new SelfCommand(process, [entry]) : new SelfCommand(process, []);
    }

    /// <summary>A start description of artar with <paramref name="arguments"/> (no shell: each argument passed as it is).</summary>
    public ProcessStartInfo Start(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(FileName) { UseShellExecute = false };
        foreach (string a in PrefixArguments.Concat(arguments))
            start.ArgumentList.Add(a);
        return start;
    }
}
