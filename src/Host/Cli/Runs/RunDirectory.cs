using System.Globalization;
using System.Text;
using ArTar.Data;
using ArTar.Training;

namespace ArTar.Cli.Runs;

/// <summary>
/// One run's folder, <c>runs/&lt;config-name&gt;-&lt;yyyyMMdd-HHmmss&gt;/</c>: config.json (the resolved config),
/// vocab.txt (one word per line, in id order), metrics.jsonl, best.safetensors, last.safetensors, curves.png,
/// summary.json.
/// </summary>
public sealed class RunDirectory
{
    private RunDirectory(string folder)
    {
        Folder = folder;
        Files = new TrainingFiles(folder);
    }

    /// <summary>The folder.</summary>
    public string Folder { get; }

    /// <summary>What the trainer writes here: checkpoints, metrics.jsonl, summary.json.</summary>
    public TrainingFiles Files { get; }

    public string ConfigPath => In("config.json");
    public string VocabularyPath => In("vocab.txt");
    public string BestCheckpointPath => Files.BestCheckpoint;
    public string LastCheckpointPath => Files.LastCheckpoint;
    public string CurvesPath => In("curves.png");
    public string SummaryPath => Files.Summary;

    /// <summary>metrics.jsonl.</summary>
    public MetricsLog Metrics => Files.Metrics;

    /// <summary>
    /// Creates <c>&lt;runsRoot&gt;/&lt;configName&gt;-&lt;yyyyMMdd-HHmmss of startedAt&gt;</c> (with "-2", "-3", … if two
    /// runs start in the same second) and writes config.json and vocab.txt into it.
    /// </summary>
    public static RunDirectory Create(string runsRoot, string configName, DateTime startedAt, string resolvedConfigJson, IReadOnlyList<string> vocabulary)
    {
        string stem = $"{configName}-{startedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}";
        string path;
        try
        {
            Directory.CreateDirectory(runsRoot);
            path = Path.Combine(runsRoot, stem);
            for (int n = 2; !TryCreateNew(path); n++)
                path = Path.Combine(runsRoot, $"{stem}-{n}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot create a run folder under {runsRoot}: {e.Message}", e);
        }
        return Initialize(path, resolvedConfigJson, vocabulary);
    }

    /// <summary>
    /// A run folder at exactly <paramref name="path"/> (--run-dir): created if absent, accepted if empty; a folder
    /// with anything in it is refused, so no earlier run is overwritten.
    /// </summary>
    public static RunDirectory CreateAt(string path, string resolvedConfigJson, IReadOnlyList<string> vocabulary)
    {
        if (File.Exists(path))
            throw new IOException($"{path} is a file; --run-dir takes a folder, new or empty");
        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
            throw new IOException($"run folder {path} already exists and is not empty; choose another --run-dir, or continue that run with --resume {path}");
        try { Directory.CreateDirectory(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot create the run folder {path}: {e.Message}", e);
        }
        return Initialize(path, resolvedConfigJson, vocabulary);
    }

    private static RunDirectory Initialize(string path, string resolvedConfigJson, IReadOnlyList<string> vocabulary)
    {
        var run = new RunDirectory(path);
        var words = new StringBuilder();
        foreach (string w in vocabulary)
            words.Append(w).Append('\n');
        try
        {
            AtomicFile.WriteAllText(run.ConfigPath, resolvedConfigJson.EndsWith('\n') ? resolvedConfigJson : resolvedConfigJson + "\n");
            AtomicFile.WriteAllText(run.VocabularyPath, words.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write into the run folder {path}: {e.Message}", e);
        }
        return run;
    }

    /// <summary>An existing run folder (to resume or to generate from); an <see cref="IOException"/> if it is not one.</summary>
    public static RunDirectory Open(string path)
    {
        if (!Directory.Exists(path))
            throw new IOException(File.Exists(path) ? $"{path} is a file, not a run folder" : $"run folder {path} does not exist");
        var run = new RunDirectory(path);
        if (!File.Exists(run.ConfigPath))
            throw new IOException($"{path} is not a run folder: it has no config.json");
        return run;
    }

    /// <summary>The words of vocab.txt in id order.</summary>
    public IReadOnlyList<string> ReadVocabulary() => Vocabulary.Load(VocabularyPath).Words;

    /// <summary>Redraws curves.png from every epoch line of metrics.jsonl; nothing before the first epoch ends.</summary>
    public void WriteCurves(string title)
    {
        IReadOnlyList<EpochMetrics> epochs = Metrics.ReadEpochs();
        if (epochs.Count > 0)
            AtomicFile.WriteAllBytes(CurvesPath, Curves.RenderPng(epochs, title));
    }

    public void WriteSummary(RunSummary summary) => summary.Write(SummaryPath);

    public RunSummary ReadSummary() => RunSummary.Read(SummaryPath);

    /// <summary>
    /// Removes a run folder that a run could not start in (bad input found after it was made): its config.json and
    /// vocab.txt, then the folder if nothing else is in it. Anything else in it is left alone.
    /// </summary>
    public void DiscardUnstarted()
    {
        try
        {
            File.Delete(ConfigPath);
            File.Delete(VocabularyPath);
            if (!Directory.EnumerateFileSystemEntries(Folder).Any())
                Directory.Delete(Folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // litter at worst; the run's error matters more
    }

    private string In(string name) => Path.Combine(Folder, name);

    private static bool TryCreateNew(string path)
    {
        if (Directory.Exists(path) || File.Exists(path))
            return false;
        Directory.CreateDirectory(path);
        return true;
    }
}
