using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ArTar.Configuration;

/// <summary>A user-facing configuration error: one line, naming the key and the file.</summary>
public sealed class ConfigException(string message) : Exception(message);

/// <summary>
/// Every hyperparameter of the paper under the paper's names (section 3; docs/design.md §1), plus a few run settings.
/// Loaded strictly: an unknown key, a wrong type or an out-of-range value is a <see cref="ConfigException"/>.
/// </summary>
public sealed record RunConfig
{
    public CellType Model { get; init; } = CellType.Lstm;
    public int Layers { get; init; } = 2;
    public int Hidden { get; init; } = 650;
    /// <summary>dp: dropout on the word vectors and on the last layer's output.</summary>
    public double Dropout { get; init; } = 0.5;
    /// <summary>dph: dropout between recurrent layers.</summary>
    public double DropoutH { get; init; } = 0.4;
    /// <summary>α, the AR coefficient (mean of squares of the dropped output).</summary>
    public double Alpha { get; init; }
    /// <summary>β, the TAR coefficient (mean of squared differences of the undropped last layer).</summary>
    public double Beta { get; init; }
    public double Lr { get; init; } = 20;
    /// <summary>Global gradient-norm clip; 0.25 rather than the paper's 10, see docs/design.md §1.</summary>
    public double Clip { get; init; } = 0.25;
    public double Wdecay { get; init; } = 1e-7;
    public int Epochs { get; init; } = 80;
    public int BatchSize { get; init; } = 20;
    public int EvalBatchSize { get; init; } = 10;
    public int Bptt { get; init; } = 35;
    public ulong Seed { get; init; } = 1111;
    /// <summary>Corpus folder holding train.txt, valid.txt, test.txt (overridden by --data or ARTAR_DATA).</summary>
    public string Data { get; init; } = "data/ptb";
    /// <summary>Training steps between progress lines and metrics records.</summary>
    public int LogInterval { get; init; } = 200;
    /// <summary>Use only the first N tokens of the training split (0 = all): for demos and tests.</summary>
    public long MaxTrainTokens { get; init; }
    /// <summary>Use only the first N tokens of the validation and test splits (0 = all).</summary>
    public long MaxEvalTokens { get; init; }

    /// <summary>Where the config came from, for messages ("config/ptb-650.json", "--set").</summary>
    public string Source { get; init; } = "defaults";
    /// <summary>Name of the experiment: the config file name without extension.</summary>
    public string Name { get; init; } = "run";

    private delegate RunConfig Setter(RunConfig c, JsonNode value, string where);

    private sealed record Key(string Name, string Kind, Setter Set, Func<RunConfig, object> Get, string Help);

    // One table: the JSON name, its kind, how to set and read it, and its meaning. Loader, --set, ToJson and --help all read it.
    private static readonly Key[] Keys =
    [
        new("model", "lstm|gru|rnn", (c, v, w) => c with { Model = ParseCell(v, w) }, c => c.Model.ConfigName(), "recurrent cell"),
        new("layers", "integer ≥ 1", (c, v, w) => c with { Layers = Int(v, w, 1, 16) }, c => c.Layers, "recurrent layers (L)"),
        new("hidden", "integer ≥ 1", (c, v, w) => c with { Hidden = Int(v, w, 1, 1 << 16) }, c => c.Hidden, "hidden and embedding size (H)"),
        new("dropout", "number in [0,1)", (c, v, w) => c with { Dropout = Probability(v, w) }, c => c.Dropout, "dp: dropout on word vectors and the final output"),
        new("dropout_h", "number in [0,1)", (c, v, w) => c with { DropoutH = Probability(v, w) }, c => c.DropoutH, "dph: dropout between recurrent layers"),
        new("alpha", "number ≥ 0", (c, v, w) => c with { Alpha = NonNegative(v, w) }, c => c.Alpha, "AR coefficient α"),
        new("beta", "number ≥ 0", (c, v, w) => c with { Beta = NonNegative(v, w) }, c => c.Beta, "TAR coefficient β"),
        new("lr", "number > 0", (c, v, w) => c with { Lr = Positive(v, w) }, c => c.Lr, "initial SGD learning rate"),
        new("clip", "number ≥ 0", (c, v, w) => c with { Clip = NonNegative(v, w) }, c => c.Clip, "gradient-norm clip (0 = none)"),
        new("wdecay", "number ≥ 0", (c, v, w) => c with { Wdecay = NonNegative(v, w) }, c => c.Wdecay, "weight decay"),
        new("epochs", "integer ≥ 1", (c, v, w) => c with { Epochs = Int(v, w, 1, 100000) }, c => c.Epochs, "maximum epochs"),
        new("batch_size", "integer ≥ 1", (c, v, w) => c with { BatchSize = Int(v, w, 1, 1 << 20) }, c => c.BatchSize, "training batch size (B)"),
        new("eval_batch_size", "integer ≥ 1", (c, v, w) => c with { EvalBatchSize = Int(v, w, 1, 1 << 20) }, c => c.EvalBatchSize, "evaluation batch size"),
        new("bptt", "integer ≥ 2", (c, v, w) => c with { Bptt = Int(v, w, 2, 1 << 20) }, c => c.Bptt, "BPTT window length (T)"),
        new("seed", "integer ≥ 0", (c, v, w) => c with { Seed = ULong(v, w) }, c => c.Seed, "seed for init and dropout masks"),
        new("data", "string", (c, v, w) => c with { Data = Str(v, w) }, c => c.Data, "corpus folder with train/valid/test.txt"),
        new("log_interval", "integer ≥ 1", (c, v, w) => c with { LogInterval = Int(v, w, 1, int.MaxValue) }, c => c.LogInterval, "steps between progress records"),
        new("max_train_tokens", "integer ≥ 0", (c, v, w) => c with { MaxTrainTokens = Long(v, w) }, c => c.MaxTrainTokens, "first N training tokens only (0 = all)"),
        new("max_eval_tokens", "integer ≥ 0", (c, v, w) => c with { MaxEvalTokens = Long(v, w) }, c => c.MaxEvalTokens, "first N valid/test tokens only (0 = all)"),
    ];

    /// <summary>Key names with their kind and meaning, for --help.</summary>
    public static IEnumerable<(string Name, string Kind, string Help)> Describe() => Keys.Select(k => (k.Name, k.Kind, k.Help));

    /// <summary>The largest config file <see cref="Load"/> reads: a config is a few hundred bytes, 1 MB is no config.</summary>
    public const int MaxFileBytes = 1_000_000;

    public static RunConfig Load(string path)
    {
        string shown = Quote.Path(path);
        if (Directory.Exists(path))
            throw new ConfigException($"{shown}: is a folder; give a config file such as config/ptb-650.json");
        if (!File.Exists(path))
            throw new ConfigException($"{shown}: config file not found (give a path such as config/ptb-650.json)");
        string text;
        try
        {
            using var stream = InputFile.OpenRegular(path, MaxFileBytes, "a config file", "give a config file such as config/ptb-650.json",
                problem => new ConfigException($"{shown}: {problem}"));
            using var reader = new StreamReader(stream);
            text = reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new ConfigException($"{shown}: cannot read the config file ({Quote.Excerpt(e.Message, 200)})"); }
        return Parse(text, path);
    }

    public static RunConfig Parse(string json, string source)
    {
        string shown = Quote.Path(source);
        if (string.IsNullOrWhiteSpace(json))
            throw new ConfigException($"{shown}: empty; a config is a JSON object of hyperparameters, e.g. {{\"model\": \"lstm\", \"hidden\": 650}}");
        JsonDocument document;
        try { document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e)
        { throw new ConfigException($"{shown}: not valid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1} ({WithoutPosition(e.Message)}); fix the file's syntax"); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ConfigException($"{shown}: the config must be a JSON object of hyperparameters, e.g. {{\"model\": \"lstm\", \"hidden\": 650}}");
            var config = new RunConfig { Source = source, Name = Path.GetFileNameWithoutExtension(source) };
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                string where = $"{shown}: key \"{Quote.Excerpt(property.Name)}\"";
                if (!seen.Add(property.Name))
                    throw new ConfigException($"{where}: appears twice; keep one");
                config = Apply(config, property.Name, JsonNode.Parse(property.Value.GetRawText()), where);
            }
            return config;
        }
    }

    /// <summary>Applies a command-line override <c>key=value</c>; the value is read as JSON, or as a string if it is not JSON.</summary>
    public RunConfig WithOverride(string assignment)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0)
            throw new ConfigException($"--set {Quote.Excerpt(assignment)}: expected key=value, e.g. --set alpha=2");
        string name = assignment[..eq].Trim(), raw = assignment[(eq + 1)..].Trim();
        JsonNode? value;
        try { value = JsonNode.Parse(raw); }
        catch (JsonException) { value = JsonValue.Create(raw); }
        string where = $"--set {Quote.Excerpt(name)}";
        return Apply(this, name, value, where) with { Source = $"{Source} + {where}" };
    }

    private static RunConfig Apply(RunConfig config, string name, JsonNode? value, string where)
    {
        // "tied" is no key any more (every model of the paper is tied, and ArTar implements only that); run folders and
        // checkpoints written before it was removed say "tied": true, which still reads.
        if (name == "tied" && value is not null)
        {
            _ = Tied_(value, where);
            return config;
        }
        var key = Array.Find(Keys, k => k.Name == name)
            ?? throw new ConfigException($"{where}: unknown key; the keys are {string.Join(", ", Keys.Select(k => k.Name))}");
        if (value is null)
            throw new ConfigException($"{where}: null is not allowed; expected {key.Kind}");
        return key.Set(config, value, where);
    }

    /// <summary>The resolved config as JSON, every key present: written into each run directory and checkpoint.</summary>
    public string ToJson()
    {
        var obj = new JsonObject();
        foreach (var k in Keys)
            obj[k.Name] = JsonSerializer.SerializeToNode(k.Get(this));
        return obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static double Number(JsonNode v, string where, string expected)
    {
        if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.Number && jv.TryGetValue(out double d) && double.IsFinite(d))
            return d;
        throw new ConfigException($"{where}: expected {expected}, got {Show(v)}");
    }

    private static int Int(JsonNode v, string where, int min, int max)
    {
        double d = Number(v, where, $"an integer in [{min}, {max}]");
        if (d != Math.Floor(d) || d < min || d > max)
            throw new ConfigException($"{where}: expected an integer in [{min}, {max}], got {Show(v)}");
        return (int)d;
    }

    private static long Long(JsonNode v, string where) =>
        WholeNumber(v) is { } u && u <= long.MaxValue ? (long)u : throw new ConfigException($"{where}: expected an integer ≥ 0, got {Show(v)}");

    private static ulong ULong(JsonNode v, string where) =>
        WholeNumber(v) ?? throw new ConfigException($"{where}: expected an integer in [0, 2^64), got {Show(v)}");

    /// <summary>A JSON number that is a whole number ≥ 0: digits up to 2^64 − 1, or an exponent form such as 1e3 up to 2^53 (exact in a double).</summary>
    private static ulong? WholeNumber(JsonNode v)
    {
        if (v is not JsonValue jv || jv.GetValueKind() != JsonValueKind.Number) return null;
        if (jv.TryGetValue(out ulong u)) return u;
        return jv.TryGetValue(out double d) && d >= 0 && d <= 9007199254740992.0 && d == Math.Floor(d) ? (ulong)d : null;
    }

    private static double Probability(JsonNode v, string where)
    {
        double d = Number(v, where, "a number in [0, 1)");
        if (d < 0 || d >= 1) throw new ConfigException($"{where}: expected a dropout probability in [0, 1), got {Show(v)}");
        return d;
    }

    private static double NonNegative(JsonNode v, string where)
    {
        double d = Number(v, where, "a number ≥ 0");
        if (d < 0) throw new ConfigException($"{where}: expected a number ≥ 0, got {Show(v)}");
        return d;
    }

    private static double Positive(JsonNode v, string where)
    {
        double d = Number(v, where, "a number > 0");
        if (d <= 0) throw new ConfigException($"{where}: expected a number > 0, got {Show(v)}");
        return d;
    }

    private static string Str(JsonNode v, string where)
    {
        if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String && jv.GetValue<string>() is { Length: > 0 } s) return s;
        throw new ConfigException($"{where}: expected a non-empty string, got {Show(v)}");
    }

    private static bool Tied_(JsonNode v, string where)
    {
        if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.True) return true;
        if (v is JsonValue jf && jf.GetValueKind() == JsonValueKind.False)
            throw new ConfigException($"{where}: untied decoders are not implemented (every model of the paper is tied); use true");
        throw new ConfigException($"{where}: expected true, got {Show(v)}");
    }

    private static CellType ParseCell(JsonNode v, string where)
    {
        string? s = v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : null;
        return s switch
        {
            "lstm" => CellType.Lstm,
            "gru" => CellType.Gru,
            "rnn" => CellType.Rnn,
            _ => throw new ConfigException($"{where}: expected one of lstm, gru, rnn, got {Show(v)}"),
        };
    }

    // System.Text.Json ends its messages with " LineNumber: 0 | BytePositionInLine: 1." (0-based); the error says it 1-based.
    private static string WithoutPosition(string message) =>
        message.IndexOf(" LineNumber:", StringComparison.Ordinal) is int i and >= 0 ? message[..i] : message;

    // Relaxed escaping: a value is shown as typed ("ħidden", "١٢"), not as \u escapes.
    private static readonly JsonSerializerOptions AsTyped = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Show(JsonNode v)
    {
        return Quote.Excerpt(v.ToJsonString(AsTyped), 40);
    }

    /// <summary>The training hyperparameters under their config names, for the block a run prints when it starts.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: epochs {Epochs}, batch {BatchSize}, bptt {Bptt}, lr {Lr}, clip {Clip}, wdecay {Wdecay}, dropout {Dropout}, dropout_h {DropoutH}, alpha {Alpha}, beta {Beta}, seed {Seed}");
}
