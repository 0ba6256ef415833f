using System.Text.Json;
using System.Text.Json.Serialization;

namespace ArTar.Training;

/// <summary>What summary.json holds at the end of a run: the best-validation model's perplexities (paper §3).</summary>
public sealed record RunSummary
{
    /// <summary>The config's name (its file name without .json).</summary>
    public required string Config { get; init; }
    public required string Device { get; init; }
    public required long Parameters { get; init; }
    /// <summary>Epochs trained.</summary>
    public required int Epochs { get; init; }
    /// <summary>The epoch whose model had the best validation loss (best.safetensors).</summary>
    public required int BestEpoch { get; init; }
    public required double ValidPpl { get; init; }
    public required double TestPpl { get; init; }
    public required double WallSeconds { get; init; }

    /// <summary>Writes summary.json atomically.</summary>
    public void Write(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");

    /// <summary>The largest summary.json read back (one is a few hundred bytes).</summary>
    public const int MaxFileBytes = 1_000_000;

    public static RunSummary Read(string path)
    {
        using var stream = InputFile.OpenRegular(path, MaxFileBytes, "a summary", "a run folder's summary.json is written by `artar train`",
            problem => new IOException($"{Quote.Path(path)}: {problem}"));
        return JsonSerializer.Deserialize<RunSummary>(stream, Json) ?? throw new IOException($"{Quote.Path(path)} is empty");
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // A diverged run's perplexity is +∞; JSON has no such number, so it is written as the string "Infinity".
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
