using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace ArTar.Cli.Runs;

/// <summary>
/// RUN_DIR/.lock, held by the one `artar train` that writes the folder, for the whole run. .NET takes flock(2)
/// LOCK_EX for <see cref="FileShare.None"/> on Linux (RunLockTests checks it with flock(1)), so the kernel releases it
/// when the process ends in any way, kill -9 included: a crashed run never leaves a folder locked. The holder writes
/// its pid into the file, so a second trainer can say whom it waits for.
/// </summary>
public sealed class RunLock : IDisposable
{
    /// <summary>The lock file's name in a run folder.</summary>
    public const string FileName = ".lock";

    private readonly FileStream _file;

    private RunLock(FileStream file) => _file = file;

    /// <summary>Takes the lock of an existing folder; another process holding it is an <see cref="IOException"/> naming its pid.</summary>
    public static RunLock Take(string folder)
    {
        string path = Path.Combine(folder, FileName);
        FileStream file;
        try { file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException) when (File.Exists(path))
        {
            string holder = HolderPid(path) is { } pid ? $"pid {pid}" : "another process";
            throw new RunInUseException($"run folder {folder} is in use: {holder} holds {path} (an artar train running in it); wait for it to end or stop it, then try again");
        }
        // A folder that cannot take the lock file (read-only, full) is a failed run, not the user's choice.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write into the run folder {folder}: {e.Message}", e);
        }
        byte[] pidText = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        file.SetLength(0);
        file.Write(pidText);
        file.Flush();
        return new RunLock(file);
    }

    /// <summary>
    /// The pid written in a lock file that another process holds. Read with open(2)/read(2): every .NET file open takes
    /// an flock of its own (LOCK_SH for a shared read), which the holder's LOCK_EX refuses.
    /// </summary>
    private static unsafe int? HolderPid(string path)
    {
        int fd = LibC.open(path, LibC.O_RDONLY);
        if (fd < 0)
            return null;
        byte* buffer = stackalloc byte[32];
        nint n = LibC.read(fd, buffer, 32);
        _ = LibC.close(fd);
        return n > 0 && int.TryParse(new ReadOnlySpan<byte>(buffer, (int)n).Trim((byte)'\n'), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null;
    }

    public void Dispose() => _file.Dispose();
}

// The libc calls that read a file without .NET's flock. 1:1 with <fcntl.h> and <unistd.h>; no logic here.
internal static unsafe partial class LibC
{
    public const int O_RDONLY = 0;

    // int open(const char *pathname, int flags);
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)] public static partial int open(string pathname, int flags);

    // ssize_t read(int fd, void *buf, size_t count);
    [LibraryImport("libc", SetLastError = true)] public static partial nint read(int fd, byte* buf, nuint count);

    // int close(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);
}

/// <summary>Another trainer holds the run folder: the user's mistake (exit 2), unlike a folder that cannot be written.</summary>
public sealed class RunInUseException(string message) : IOException(message);
