namespace ArTar.Cli;

/// <summary>A command-line mistake: one line for the user, exit code 2; values it quotes go through <see cref="Quote.Excerpt"/>.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Positionals and <c>--name value</c> options of one command, checked against the options it accepts.
/// Options listed as repeatable (e.g. --set) may appear several times; flags take no value.
/// </summary>
public sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];
    public bool Help { get; private set; }

    public static Arguments Parse(string command, IReadOnlyList<string> args, IReadOnlyCollection<string> valued,
        IReadOnlyCollection<string>? repeatable = null, IReadOnlyCollection<string>? flags = null)
    {
        var parsed = new Arguments();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h") { parsed.Help = true; continue; }
            if (!a.StartsWith("--", StringComparison.Ordinal) || a == "--")
            {
                parsed.Positionals.Add(a);
                continue;
            }
            // --name value, or --name=value.
            int eq = a.IndexOf('=');
            string name = eq > 0 ? a[..eq] : a;
            if (flags is not null && flags.Contains(name))
            {
                if (eq > 0) throw new UsageException($"artar {command}: option {name} takes no value");
                parsed._flags.Add(name);
                continue;
            }
            if (!valued.Contains(name))
                throw new UsageException($"artar {command}: unknown option {Quote.Excerpt(name)}; see `artar {command} --help`");
            string value;
            if (eq > 0) value = a[(eq + 1)..];
            else if (i + 1 < args.Count) value = args[++i];
            else throw new UsageException($"artar {command}: option {name} needs a value; see `artar {command} --help`");
            // An empty value is a slip of the shell (--run-dir "$UNSET"), never a folder, file or number.
            if (value.Length == 0)
                throw new UsageException($"artar {command}: option {name} is given an empty value; give it a value or leave it out");
            if (!parsed._options.TryGetValue(name, out var list))
                parsed._options[name] = list = [];
            else if (repeatable is null || !repeatable.Contains(name))
                throw new UsageException($"artar {command}: option {name} given twice");
            list.Add(value);
        }
        return parsed;
    }

    /// <summary>Whether the flag (an option without a value) was given.</summary>
    public bool Has(string flag) => _flags.Contains(flag);

    public string? Get(string name) => _options.TryGetValue(name, out var v) ? v[^1] : null;

    public IReadOnlyList<string> All(string name) => _options.TryGetValue(name, out var v) ? v : [];

    public T Get<T>(string command, string name, T fallback, Func<string, T?> parse, string expected) where T : struct
    {
        string? raw = Get(name);
        if (raw is null) return fallback;
        return parse(raw) ?? throw new UsageException($"artar {command}: {name} {Quote.Excerpt(raw)}: expected {expected}");
    }

    public string One(string command, string what)
    {
        if (Positionals.Count == 1) return Positionals[0];
        throw new UsageException(Positionals.Count == 0
            ? $"artar {command}: missing {what}; see `artar {command} --help`"
            : $"artar {command}: expected one {what}, got {Quote.Excerpt(string.Join(' ', Positionals))}; see `artar {command} --help`");
    }
}
