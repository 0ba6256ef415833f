using System.Diagnostics;
using System.Reflection;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// How to start this program again as a child process: the running executable, or <c>dotnet artar.dll</c> when it
/// runs under the dotnet host (tests pass <c>new SelfCommand("dotnet", [artar.dll])</c>).
/// </summary>
public sealed record SelfCommand(string FileName, IReadOnlyList<string> PrefixArguments)
{
    /// <summary>The way this process was started: <see cref="Environment.ProcessPath"/>, with the entry assembly when that is the dotnet host.</summary>
    public static SelfCommand Current()
    {
        string process = Environment.ProcessPath
            ?? throw new UsageException("cannot tell which executable this process is (no Environment.ProcessPath); run artar as `dotnet artar.dll` or its apphost");
        bool dotnetHost = Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        // A single-file build has no assembly path; then the process itself is the program.
        if (dotnetHost && Assembly.GetEntryAssembly()?.Location is { Length: > 0 } program)
            return new SelfCommand(process, [program]);
        return new SelfCommand(process, []);
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
