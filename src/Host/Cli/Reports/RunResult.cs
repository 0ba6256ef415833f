using System.Text.Json;
using ArTar.Backends;
using ArTar.Configuration;
using ArTar.Training;

using ArTar.Cli.Runs;

namespace ArTar.Cli.Reports;

/// <summary>
/// What one run folder says about its run: config.json (the resolved config), summary.json (a finished run) and
/// metrics.jsonl (its epochs, also of a run stopped early). A file that cannot be read makes <see cref="Problem"/>,
/// not an exception: the report still shows the other runs.
/// </summary>
public sealed record RunResult
{
    /// <summary>The run folder.</summary>
    public required string Folder { get; init; }
    /// <summary>The name the report shows: the folder relative to the DIR it was found under.</summary>
    public required string Label { get; init; }
    /// <summary>The config's name: summary.json's, else the folder name less its "-yyyyMMdd-HHmmss" suffix.</summary>
    public required string ConfigName { get; init; }
    /// <summary>config.json; null where it cannot be read.</summary>
    public RunConfig? Config { get; init; }
    /// <summary>summary.json; null for a run that has not finished (or whose summary cannot be read).</summary>
    public RunSummary? Summary { get; init; }
    /// <summary>The epoch lines of metrics.jsonl, in order.</summary>
    public required IReadOnlyList<EpochMetrics> Epochs { get; init; }
    /// <summary>What could not be read, e.g. "summary.json is damaged (…)"; null when every file read.</summary>
    public string? Problem { get; init; }

    /// <summary>"finished", "stopped at epoch 12", "no epoch finished", or the problem.</summary>
    public string State =>
        Problem ?? (Summary is not null ? "finished" : Epochs.Count > 0 ? $"stopped at epoch {Epochs[^1].Epoch}" : "no epoch finished");

    /// <summary>The summary's count; for an unfinished run the count of the model its config and vocab.txt describe.</summary>
    public long? Parameters { get; init; }

    public int EpochsTrained => Summary?.Epochs ?? (Epochs.Count > 0 ? Epochs[^1].Epoch : 0);
    public int? BestEpoch => Summary?.BestEpoch;
    /// <summary>The best model's validation perplexity; for an unfinished run its last epoch's; NaN if none.</summary>
    public double ValidPpl => Summary?.ValidPpl ?? (Epochs.Count > 0 ? Epochs[^1].ValidPpl : double.NaN);
    /// <summary>The best model's test perplexity; NaN until the run finishes.</summary>
    public double TestPpl => Summary?.TestPpl ?? double.NaN;
    /// <summary>The run's wall time; for an unfinished run the time of its finished epochs.</summary>
    public double WallSeconds => Summary?.WallSeconds ?? Epochs.Sum(e => e.Seconds);
    public string? Device => Summary?.Device;

    /// <summary>Reads a run folder (one that has config.json); never throws for what is in its files.</summary>
    public static RunResult Read(string folder, string label)
    {
        var run = RunDirectory.Open(folder);
        var problems = new List<string>();

        RunConfig? config = null;
        try { config = RunConfig.Load(run.ConfigPath); }
        catch (ConfigException e) { problems.Add($"config.json is damaged ({e.Message})"); }

        RunSummary? summary = null;
        if (File.Exists(run.SummaryPath))
        {
            try { summary = run.ReadSummary(); }
            catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
            { problems.Add($"summary.json is damaged ({OneLine(e.Message)})"); }
        }

        IReadOnlyList<EpochMetrics> epochs = [];
        try { epochs = run.Metrics.ReadEpochs(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException or KeyNotFoundException)
        { problems.Add($"metrics.jsonl is damaged ({OneLine(e.Message)})"); }

        long? parameters = summary?.Parameters;
        if (parameters is null && config is not null && File.Exists(run.VocabularyPath))
        {
            try { parameters = new ModelShape(config.Model, run.ReadVocabulary().Count, config.Hidden, config.Layers).ParameterCount; }
            catch (Exception e) when (e is ArTar.Data.DataException or ArgumentException) { }   // the count is a courtesy; the row stands without it
        }

        return new RunResult
        {
            Folder = run.Folder,
            Label = label,
            ConfigName = summary?.Config ?? Commands.ConfigName(run),
            Config = config,
            Summary = summary,
            Epochs = epochs,
            Parameters = parameters,
            Problem = problems.Count == 0 ? null : string.Join("; ", problems),
        };
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
