namespace ArTar.Cli.Sweeps;

/// <summary>
/// runs/&lt;sweep&gt;/.lock, held while a sweep runs (.NET takes an advisory lock for FileShare.None), so that a second
/// `artar sweep` of the same folder neither misreads members that are being written nor starts them again.
/// </summary>
public sealed class SweepLock : IDisposable
{
    private readonly FileStream _file;

    private SweepLock(FileStream file) => _file = file;

    /// <summary>The lock of an existing sweep folder, taken before its members are read; null if there is no folder yet.</summary>
    public static SweepLock? IfExists(string folder) => Directory.Exists(folder) ? Take(folder) : null;

    /// <summary>Creates the folder if need be and takes its lock; another sweep holding it is a one-line error.</summary>
    public static SweepLock Take(string folder)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, ".lock");
        try { return new SweepLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)); }
        catch (IOException) when (File.Exists(path))
        {
            throw new UsageException($"artar sweep: another artar sweep is running the members of {folder} (it holds {path}); wait for it, or stop it with Ctrl-C");
        }
    }

    public void Dispose() => _file.Dispose();
}
