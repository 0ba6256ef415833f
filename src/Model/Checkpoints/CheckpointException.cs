namespace ArTar.Checkpoints;

/// <summary>
/// A checkpoint that cannot be read, written or used, with one line for the user: which file, what is wrong.
/// </summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string path, string problem, Exception? inner = null)
        : base($"checkpoint {path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file as the user named it.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }
}
