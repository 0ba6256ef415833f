namespace ArTar.Training;

/// <summary>
/// The files a <see cref="Trainer"/> writes in its run folder: best.safetensors (the best-validation model),
/// last.safetensors (where a resumed run continues), metrics.jsonl and, at the end, summary.json. The folder itself —
/// its name, config.json, vocab.txt, curves.png — is the program's (ArTar.Cli.Runs.RunDirectory).
/// </summary>
public sealed class TrainingFiles(string folder)
{
    public string Folder { get; } = folder;
    public string BestCheckpoint { get; } = Path.Combine(folder, "best.safetensors");
    public string LastCheckpoint { get; } = Path.Combine(folder, "last.safetensors");
    public string Summary { get; } = Path.Combine(folder, "summary.json");
    public MetricsLog Metrics { get; } = new(Path.Combine(folder, "metrics.jsonl"));
}
