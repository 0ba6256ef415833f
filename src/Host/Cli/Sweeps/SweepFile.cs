using System.Text.Json;

namespace ArTar.Cli.Sweeps;

/// <summary>
/// A sweep file of config/sweeps/: <c>{"description": …, "configs": ["ptb-650-alpha0", …]}</c>, config names resolved in
/// the folder above (config/), or <c>{"description": …, "sweeps": ["table1", …]}</c>, the union of other sweep files of
/// the same folder (docs/sweeps.md).
/// </summary>
public static class SweepFile
{
    /// <summary>The sweeps of the repository, run from its root.</summary>
    public const string DefaultFolder = "config/sweeps";

    /// <summary>The names of the sweep files in <paramref name="folder"/>, sorted.</summary>
    public static IReadOnlyList<string> Known(string folder) =>
        Directory.Exists(folder)
            ? [.. Directory.GetFiles(folder, "*.json").Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal)]
            : [];

    /// <summary>True if <paramref name="path"/> is a JSON object with "configs" or "sweeps" (no run config has either key).</summary>
    public static bool IsSweepFile(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            using var document = JsonDocument.Parse(ReadText(path), Options);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && (document.RootElement.TryGetProperty("configs", out _) || document.RootElement.TryGetProperty("sweeps", out _));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>The config files a sweep file names, in order, each once (a "sweeps" file: the union of its sweeps).</summary>
    public static IReadOnlyList<string> ConfigPaths(string path)
    {
        var paths = new List<string>();
        Collect(path, paths, []);
        return paths;
    }

    private static void Collect(string path, List<string> paths, HashSet<string> open)
    {
        string full = Path.GetFullPath(path);
        if (!open.Add(full))
            throw new UsageException($"{path}: the sweep names itself through its \"sweeps\"; remove the cycle");
        string folder = Path.GetDirectoryName(full)!;
        var (configs, sweeps) = Read(path);
        foreach (string name in configs)
        {
            string config = Path.Combine(Path.GetDirectoryName(folder)!, name + ".json");
            if (!File.Exists(config))
                throw new UsageException($"{path}: config \"{name}\" not found ({config} does not exist); name a file of config/ without .json");
            if (!paths.Any(p => Path.GetFullPath(p) == Path.GetFullPath(config)))
                paths.Add(config);
        }
        foreach (string name in sweeps)
        {
            string sweep = Path.Combine(folder, name + ".json");
            if (!File.Exists(sweep))
                throw new UsageException($"{path}: sweep \"{name}\" not found ({sweep} does not exist); the sweeps are {string.Join(", ", Known(folder))}");
            Collect(sweep, paths, open);
        }
        open.Remove(full);
    }

    /// <summary>A sweep file's text: only a regular file, of at most a config's size (a FIFO would block, /dev/zero never end).</summary>
    private static string ReadText(string path)
    {
        using var stream = InputFile.OpenRegular(path, ArTar.Configuration.RunConfig.MaxFileBytes, "a sweep file", "give a sweep file such as config/sweeps/table1.json",
            problem => new UsageException($"{Quote.Path(path)}: {problem}"));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static (IReadOnlyList<string> Configs, IReadOnlyList<string> Sweeps) Read(string path)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(ReadText(path), Options); }
        catch (JsonException e) { throw new UsageException($"{path}: not valid JSON ({e.Message}); fix the sweep file"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException($"{path}: cannot read the sweep file ({e.Message})"); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new UsageException($"{path}: a sweep file is a JSON object, e.g. {{\"description\": \"…\", \"configs\": [\"ptb-650\"]}}");
            List<string> configs = [], sweeps = [];
            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "description":
                        if (property.Value.ValueKind != JsonValueKind.String)
                            throw new UsageException($"{path}: \"description\" must be a string");
                        break;
                    case "configs": configs = Names(path, property); break;
                    case "sweeps": sweeps = Names(path, property); break;
                    default:
                        throw new UsageException($"{path}: key \"{property.Name}\" is not a sweep key; the keys are description (a string), configs and sweeps (lists of names)");
                }
            }
            if (configs.Count + sweeps.Count == 0)
                throw new UsageException($"{path}: names no configs; give \"configs\": [\"ptb-650\", …] or \"sweeps\": [\"table1\", …]");
            return (configs, sweeps);
        }
    }

    private static List<string> Names(string path, JsonProperty property)
    {
        if (property.Value.ValueKind == JsonValueKind.Array
            && property.Value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String && e.GetString() is { Length: > 0 } s && s.IndexOfAny(['/', '\\']) < 0))
            return [.. property.Value.EnumerateArray().Select(e => e.GetString()!)];
        throw new UsageException($"{path}: \"{property.Name}\" must be a list of names without .json or folders, e.g. [\"ptb-650\"]");
    }

    private static readonly JsonDocumentOptions Options = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
}
