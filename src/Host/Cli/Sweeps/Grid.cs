using System.Text;
using ArTar.Configuration;

namespace ArTar.Cli.Sweeps;

/// <summary>One <c>--grid key=v1,v2,…</c>: a config key and the values it takes, as typed.</summary>
public sealed record GridAxis(string Key, IReadOnlyList<string> Values)
{
    /// <summary>Reads <c>key=v1,v2,…</c>; the key and each value are checked by <see cref="Grid.Check"/>, against a config.</summary>
    public static GridAxis Parse(string text)
    {
        int eq = text.IndexOf('=');
        if (eq <= 0)
            throw new UsageException($"artar sweep: --grid {text}: expected key=v1,v2,…, e.g. --grid alpha=0,1,3");
        string key = text[..eq].Trim();
        var values = text[(eq + 1)..].Split(',').Select(v => v.Trim()).ToList();
        if (values.Any(v => v.Length == 0))
            throw new UsageException($"artar sweep: --grid {text}: an empty value; separate values by single commas, e.g. --grid {key}=0,1,3");
        if (values.GroupBy(v => v, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new UsageException($"artar sweep: --grid {text}: the value {twice.Key} is given twice");
        return new GridAxis(key, values);
    }

    /// <summary>The assignment <c>key=value</c> as --set takes it.</summary>
    public string Assignment(string value) => $"{Key}={value}";
}

/// <summary>
/// The product of the --grid axes: one point per combination, the first axis varying slowest. A point's name is
/// <c>key=value</c> per axis joined by "-" (ptb-650-alpha=2-beta=1), with any character of a value other than
/// letters, digits, '.', '+', '_' and '-' written as '_', so that it is a safe folder name (docs/sweeps.md).
/// </summary>
public static class Grid
{
    /// <summary>Each point: its name suffix ("alpha=2-beta=1", "" with no axes) and its assignments.</summary>
    public static IReadOnlyList<(string Suffix, IReadOnlyList<string> Sets)> Points(IReadOnlyList<GridAxis> axes)
    {
        IEnumerable<(string Suffix, IReadOnlyList<string> Sets)> points = [("", [])];
        foreach (var axis in axes)
            points = points.SelectMany(p => axis.Values.Select(v =>
                (p.Suffix.Length == 0 ? NamePart(axis, v) : $"{p.Suffix}-{NamePart(axis, v)}", (IReadOnlyList<string>)[.. p.Sets, axis.Assignment(v)])));
        return [.. points];
    }

    /// <summary>
    /// Every value of every axis applied to <paramref name="config"/> (range and type by
    /// <see cref="RunConfig.WithOverride"/>); a key also in --set or in two --grid is refused. Errors name --grid.
    /// </summary>
    public static void Check(IReadOnlyList<GridAxis> axes, IReadOnlyList<string> sets, RunConfig config)
    {
        var setKeys = sets.Select(s => s.Split('=', 2)[0].Trim()).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var axis in axes)
        {
            if (!seen.Add(axis.Key))
                throw new UsageException($"artar sweep: --grid {axis.Key} is given twice; put all its values in one --grid {axis.Key}=v1,v2,…");
            if (setKeys.Contains(axis.Key))
                throw new UsageException($"artar sweep: {axis.Key} is both in --set and in --grid; keep one");
            foreach (string value in axis.Values)
            {
                try { config.WithOverride(axis.Assignment(value)); }
                // WithOverride names its --set; here the value came from --grid.
                catch (ConfigException e) when (e.Message.StartsWith("--set ", StringComparison.Ordinal))
                { throw new ConfigException($"{config.Source}: --grid {e.Message["--set ".Length..]}"); }
            }
        }
    }

    private static string NamePart(GridAxis axis, string value)
    {
        var safe = new StringBuilder(value.Length);
        foreach (char c in value)
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '+' or '_' or '-' ? c : '_');
        return $"{axis.Key}={safe}";
    }
}
