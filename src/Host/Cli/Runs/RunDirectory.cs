using System.Globalization;
using System.Text;
using ArTar.Data;
using ArTar.Training;

namespace ArTar.Cli.Runs;

/// <summary>
/// One run's folder, <c>runs/&lt;config-name&gt;-&lt;yyyyMMdd-HHmmss&gt;/</c>: config.json (the resolved config),
/// vocab.txt (one word per line, in id order), metrics.jsonl, best.safetensors, last.safetensors, curves.png,
/// summary.json; .lock, held while a run writes the folder (<see cref="RunLock"/>). A folder is started once last.safetensors exists;
/// before that (a crash or stop before the first checkpoint) `--resume` trains it from epoch 1 again.
/// </summary>
public sealed class RunDirectory : IDisposable
{
    private RunLock? _lock;

    private RunDirectory(string folder, RunLock? runLock = null)
    {
        Folder = folder;
        Files = new TrainingFiles(folder);
        _lock = runLock;
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
    /// runs start in the same second), locked, and writes config.json and vocab.txt into it.
    /// </summary>
    public static RunDirectory Create(string runsRoot, string configName, DateTime startedAt, string resolvedConfigJson, IReadOnlyList<string> vocabulary)
    {
        string stem = $"{configName}-{startedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}";
        try
        {
            Directory.CreateDirectory(runsRoot);
            for (int n = 1; ; n++)
            {
                string path = Path.Combine(runsRoot, n == 1 ? stem : $"{stem}-{n}");
                if (File.Exists(path) || Directory.Exists(path)) continue;
                // Another run may make the same folder at the same moment: the one that gets the lock of an empty folder owns it.
                if (TryClaim(path) is { } run) return run.Initialize(resolvedConfigJson, vocabulary);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot create a run folder under {runsRoot}: {e.Message}", e);
        }
    }

    /// <summary>
    /// A run folder at exactly <paramref name="path"/> (--run-dir), locked: created if absent, accepted if empty (or
    /// holding only a lock file and temporary files a crash left); a folder with anything else in it is refused, so
    /// no earlier run is overwritten. The folder is looked into only once it is locked, so of two trainers started
    /// at once on one new folder, one runs and the other is told who holds it.
    /// </summary>
    public static RunDirectory CreateAt(string path, string resolvedConfigJson, IReadOnlyList<string> vocabulary)
    {
        if (File.Exists(path))
            throw new IOException($"{path} is a file; --run-dir takes a folder, new or empty");
        try { Directory.CreateDirectory(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot create the run folder {path}: {e.Message}", e);
        }
        var run = new RunDirectory(path, RunLock.Take(path));
        if (!run.IsEmpty())
        {
            run.Dispose();
            throw new IOException(File.Exists(run.ConfigPath)
                ? $"run folder {path} already exists and is not empty; continue that run with --resume {path} (a run that wrote no checkpoint yet starts again from epoch 1), or choose another --run-dir"
                : $"run folder {path} already exists and is not empty (and is no run folder: it has no config.json); choose another --run-dir");
        }
        return run.Initialize(resolvedConfigJson, vocabulary);
    }

    private static RunDirectory? TryClaim(string path)
    {
        Directory.CreateDirectory(path);
        RunLock runLock;
        try { runLock = RunLock.Take(path); }
        catch (IOException) { return null; }
        var run = new RunDirectory(path, runLock);
        if (run.IsEmpty()) return run;
        run.Dispose();
        return null;
    }

    /// <summary>Nothing in the folder but its lock and temporary files (which go): a crash before config.json was in place.</summary>
    private bool IsEmpty()
    {
        if (Directory.EnumerateFileSystemEntries(Folder).Any(e => Path.GetFileName(e) != RunLock.FileName && !IsTemporary(e)))
            return false;
        RemoveTemporaryFiles();
        return true;
    }

    private RunDirectory Initialize(string resolvedConfigJson, IReadOnlyList<string> vocabulary)
    {
        try
        {
            WriteConfig(resolvedConfigJson);
            WriteVocabulary(vocabulary);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Dispose();
            throw new IOException($"cannot write into the run folder {Folder}: {e.Message}", e);
        }
        catch
        {
            Dispose();
            throw;
        }
        return this;
    }

    /// <summary>vocab.txt: one word per line, in id order.</summary>
    public void WriteVocabulary(IReadOnlyList<string> vocabulary)
    {
        var words = new StringBuilder();
        foreach (string w in vocabulary)
            words.Append(w).Append('\n');
        AtomicFile.WriteAllText(VocabularyPath, words.ToString());
    }

    /// <summary>Rewrites config.json (atomically), e.g. with the epochs a resume changed, so the printed resume command goes on as asked.</summary>
    public void WriteConfig(string resolvedConfigJson) =>
        AtomicFile.WriteAllText(ConfigPath, resolvedConfigJson.EndsWith('\n') ? resolvedConfigJson : resolvedConfigJson + "\n");

    /// <summary>Takes the folder's lock for a run that continues in it (--resume); another trainer holding it is an <see cref="IOException"/>.</summary>
    public void Lock() => _lock ??= RunLock.Take(Folder);

    /// <summary>Whether a run has a checkpoint to continue from; before that, a resume trains from epoch 1.</summary>
    public bool IsStarted => File.Exists(LastCheckpointPath);

    /// <summary>
    /// Removes the temporary files (<c>.*.tmp</c>) of writes a crash interrupted. Only while this process holds the
    /// lock: another run's temporary files are files it is writing.
    /// </summary>
    public void RemoveTemporaryFiles()
    {
        if (_lock is null)
            throw new InvalidOperationException("temporary files are removed only under the run folder's lock");
        foreach (string file in Directory.EnumerateFiles(Folder).Where(IsTemporary))
        {
            try { File.Delete(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // litter at worst
        }
    }

    /// <summary>Whether a file is an <see cref="AtomicFile"/> temporary (<c>.NAME.GUID.tmp</c>), what a crash mid-write leaves.</summary>
    public static bool IsTemporary(string path) => Path.GetFileName(path) is { } name && name.StartsWith('.') && name.EndsWith(".tmp", StringComparison.Ordinal);

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
            // The lock file goes last (still held): deleted earlier, another run could take a new one and find its folder gone.
            File.Delete(Path.Combine(Folder, RunLock.FileName));
            if (!Directory.EnumerateFileSystemEntries(Folder).Any())
                Directory.Delete(Folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // litter at worst; the run's error matters more
    }

    private string In(string name) => Path.Combine(Folder, name);

    /// <summary>Releases the lock (the kernel does so too when the process ends).</summary>
    public void Dispose()
    {
        _lock?.Dispose();
        _lock = null;
    }
}
