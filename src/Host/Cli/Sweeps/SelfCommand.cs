using System.Reflection;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// How a script starts this program again: the executable, then the arguments before the command
/// (<c>dotnet …/artar.dll</c>, or just <c>…/artar</c> for the apphost).
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
}
