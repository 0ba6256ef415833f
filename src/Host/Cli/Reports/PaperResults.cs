using System.Globalization;
using System.Text.Json;
using ArTar.Configuration;

using ArTar.Cli.Runs;

namespace ArTar.Cli.Reports;

/// <summary>
/// One row of a table of the paper, as config/paper/results.json holds it: the model column as printed, the configs
/// of config/ that reproduce it, the row's hyperparameters (our own rows only), and its published perplexities.
/// </summary>
public sealed record PaperRow
{
    /// <summary>The table the row is in (1–6).</summary>
    public int Table { get; init; }
    /// <summary>The model column as printed, e.g. "PTB, LSTM (tied) h = 650, dp = 0.5, dph = 0.4".</summary>
    public required string Row { get; init; }
    public IReadOnlyList<string> Configs { get; init; } = [];
    /// <summary>The cell as a config names it (lstm, gru, rnn); null for other papers' models.</summary>
    public string? Model { get; init; }
    public int? Hidden { get; init; }
    /// <summary>dp.</summary>
    public double? Dropout { get; init; }
    /// <summary>dph.</summary>
    public double? DropoutH { get; init; }
    public double? Alpha { get; init; }
    public double? Beta { get; init; }
    /// <summary>As printed, e.g. "13M".</summary>
    public required string Parameters { get; init; }
    /// <summary>Validation perplexity; null where the paper prints a dash.</summary>
    public double? Valid { get; init; }
    public double? ValidSd { get; init; }
    /// <summary>Test perplexity; null where the paper prints a dash or (Table 1) has no test column.</summary>
    public double? Test { get; init; }
    public double? TestSd { get; init; }

    /// <summary>
    /// "alpha 2 vs 5, hidden 12 vs 650": where <paramref name="config"/> differs from this row's hyperparameters
    /// (cell, h, dp, dph, α, β), or null where it does not; a run of a paper config changed with --set is not the paper's row.
    /// </summary>
    public string? Differences(RunConfig config)
    {
        var parts = new List<string>();
        if (Model is not null && Model != config.Model.ConfigName()) parts.Add($"model {config.Model.ConfigName()} vs {Model}");
        Compare(parts, "hidden", config.Hidden, Hidden);
        Compare(parts, "dropout", config.Dropout, Dropout);
        Compare(parts, "dropout_h", config.DropoutH, DropoutH);
        Compare(parts, "alpha", config.Alpha, Alpha);
        Compare(parts, "beta", config.Beta, Beta);
        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    private static void Compare(List<string> parts, string key, double ours, double? paper)
    {
        if (paper is { } p && p != ours)
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{key} {ours} vs {p}"));
    }
}

/// <summary>One table of the paper: its caption, how it was read from the text (what is uncertain), its rows.</summary>
public sealed record PaperTable
{
    public required int Table { get; init; }
    public required string Caption { get; init; }
    public required string Note { get; init; }
    public required IReadOnlyList<PaperRow> Rows { get; init; }
}

/// <summary>
/// The paper's published perplexities (Tables 1–6), from config/paper/results.json, which the program carries as an
/// embedded resource. docs/report.md says how the numbers were read from the paper.
/// </summary>
public sealed class PaperResults
{
    /// <summary>The name of the embedded copy of config/paper/results.json (ArTar.Host.csproj).</summary>
    public const string ResourceName = "ArTar.paper-results.json";

    private PaperResults(string paper, IReadOnlyList<PaperTable> tables)
    {
        Paper = paper;
        Tables = tables;
    }

    /// <summary>The paper's authors, year and title.</summary>
    public string Paper { get; }

    public IReadOnlyList<PaperTable> Tables { get; }

    /// <summary>The numbers the program was built with.</summary>
    public static PaperResults Published => Embedded.Value;

    private static readonly Lazy<PaperResults> Embedded = new(() =>
    {
        using Stream stream = typeof(PaperResults).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"the program was built without its resource {ResourceName}");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), "config/paper/results.json");
    });

    public PaperTable Table(int table) =>
        Tables.FirstOrDefault(t => t.Table == table) ?? throw new ArgumentOutOfRangeException(nameof(table), $"the paper has no Table {table} here");

    /// <summary>The first row, in table order, that <paramref name="config"/> reproduces (Table 3 before its repeat in Table 5); null if none.</summary>
    public PaperRow? Find(string config) =>
        Tables.SelectMany(t => t.Rows).FirstOrDefault(r => r.Configs.Contains(config, StringComparer.Ordinal));

    /// <summary>Reads the file's JSON; a damaged file is an <see cref="InvalidDataException"/> naming <paramref name="source"/>.</summary>
    public static PaperResults Parse(string json, string source)
    {
        File? file;
        try { file = JsonSerializer.Deserialize<File>(json, Json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: {e.Message}", e); }
        if (file is null || file.Tables.Count == 0)
            throw new InvalidDataException($"{source}: no tables");
        // The table number is the row's context in the file; each row carries it so that a row found alone can name it.
        var tables = file.Tables.Select(t => t with { Rows = [.. t.Rows.Select(r => r with { Table = t.Table })] }).ToList();
        return new PaperResults(file.Paper, tables);
    }

    private sealed record File(string Paper, string Reading, IReadOnlyList<PaperTable> Tables);

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };
}
