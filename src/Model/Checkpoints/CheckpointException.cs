namespace ArTar.Checkpoints;

/// <summary>
/// A checkpoint that cannot be read or used, with one line for the user: which file, what is wrong (values it quotes
/// are cut by <see cref="Quote.Excerpt"/>). A checkpoint that cannot be written is an <see cref="IOException"/>: a failed run.
/// </summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string path, string problem, Exception? inner = null)
        : base($"checkpoint {Quote.Path(path)}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file as the user named it.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }
}
