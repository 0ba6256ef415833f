// What every suite records about the run: the CPU, the load other processes put on it, medians, and the JSON writer.
using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ArTar.Bench;

internal static class Machine
{
    /// <summary>The 1/5/15-minute load averages: other processes share these cores and skew the figures.</summary>
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    /// <summary>Share of the machine's CPU time that was idle over one second (from /proc/stat; -1 elsewhere).</summary>
    public static double IdlePercent()
    {
        static (long Idle, long Total)? Read()
        {
            if (!File.Exists("/proc/stat")) return null;
            var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
            return (f[3] + f[4], f.Sum());
        }
        var a = Read();
        Thread.Sleep(1000);
        var b = Read();
        if (a is not { } x || b is not { } y || y.Total == x.Total) return -1;
        return 100.0 * (y.Idle - x.Idle) / (y.Total - x.Total);
    }

    public static string CpuName()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name")) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return "unknown";
    }

    public static string Date() => DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    public static double Median(IReadOnlyList<double> xs)
    {
        if (xs.Count == 0) return double.NaN;
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>
    /// Median milliseconds of <paramref name="once"/> over repeats filling about <paramref name="seconds"/> (at least
    /// <paramref name="minRepeats"/>), after one untimed call (JIT, buffers, thread pool).
    /// </summary>
    public static double MedianMs(Action once, double seconds, int minRepeats = 3, int maxRepeats = 1000)
    {
        once();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < minRepeats || (total.Elapsed.TotalSeconds < seconds && times.Count < maxRepeats))
        {
            long t0 = Stopwatch.GetTimestamp();
            once();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return Median(times);
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public static void WriteJson(string path, object report)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllText(path, JsonSerializer.Serialize(report, Json));
        Console.WriteLine($"wrote {path}");
    }

    /// <summary>A config by name (ptb-650 → config/ptb-650.json), looked up from the working folder, then beside the build.</summary>
    public static string ConfigPath(string nameOrPath)
    {
        if (File.Exists(nameOrPath)) return nameOrPath;
        string file = nameOrPath.EndsWith(".json", StringComparison.Ordinal) ? nameOrPath : $"{nameOrPath}.json";
        foreach (var dir in new[] { "config", Path.Combine(AppContext.BaseDirectory, "..", "config"), Path.Combine(AppContext.BaseDirectory, "config") })
            if (File.Exists(Path.Combine(dir, Path.GetFileName(file)))) return Path.Combine(dir, Path.GetFileName(file));
        return nameOrPath;   // RunConfig.Load then says it is missing, in one line
    }
}

/// <summary>The options every suite shares: --json PATH, --seconds S (per measurement), and suite-specific ones.</summary>
internal sealed class Options
{
    public string Json = "";
    public double Seconds = 1.0;
    public int Steps = 20, EvalSteps = 30, Warmup = 3;
    public string Device = "cpu";
    public List<string> Configs = [];

    /// <summary>Parses <paramref name="args"/>; on a bad option prints one line and returns null.</summary>
    public static Options? Parse(string suite, string[] args, string defaultJson)
    {
        var o = new Options { Json = defaultJson };
        for (int i = 0; i < args.Length; i++)
        {
            string? Value() => i + 1 < args.Length ? args[++i] : null;
            bool Positive(out int n) { n = 0; return Value() is { } v && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out n) && n > 0; }
            bool ok = true;
            switch (args[i])
            {
                case "--json" or "--out": if (Value() is { } j) o.Json = j; else ok = false; break;
                case "--seconds": ok = Value() is { } s && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out o.Seconds) && o.Seconds > 0; break;
                case "--steps": ok = Positive(out o.Steps); break;
                case "--eval-steps": ok = Positive(out o.EvalSteps); break;
                case "--warmup": ok = Positive(out o.Warmup); break;
                case "--device": if (Value() is "cpu" or "cuda") o.Device = args[i]; else ok = false; break;
                case "--config": if (Value() is { } c) o.Configs.Add(c); else ok = false; break;
                default: ok = false; break;
            }
            if (!ok)
            {
                Console.Error.WriteLine($"{suite}: bad option '{args[i]}'; options: --json PATH (default {defaultJson}), --seconds S, --steps N, --eval-steps N, --warmup N, --device cpu|cuda, --config NAME|FILE");
                return null;
            }
        }
        return o;
    }
}
