using System.Runtime.InteropServices;

namespace ArTar;

/// <summary>
/// Writes a file so that a crash or an exception never leaves a half-written file in place of a good one
/// (docs/design.md §2): write a temporary file in the same folder, flush it to disk, then rename it over the destination.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        // Same folder, so the rename stays on one file system and is atomic (rename(2)).
        string temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                FlushToDisk(stream, full);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, new System.Text.UTF8Encoding(false).GetBytes(text));

    /// <summary>
    /// The file's data on disk before it is renamed into place. .NET's <c>Flush(flushToDisk: true)</c> lets an fsync
    /// error pass (an ENOSPC injected with strace went unnoticed), and on a full disk the rename would then put a file
    /// in place whose data may never reach it; so fsync(2) is called here and its error is an <see cref="IOException"/>.
    /// </summary>
    private static void FlushToDisk(FileStream stream, string path)
    {
        stream.Flush();
        if (OperatingSystem.IsWindows())
        {
            stream.Flush(flushToDisk: true);
            return;
        }
        if (LibC.fsync((int)stream.SafeFileHandle.DangerousGetHandle()) != 0)
            throw new IOException($"cannot write {path} to disk: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

// fsync(2), whose error .NET's own flush does not report. 1:1 with <unistd.h>; no logic here.
internal static partial class LibC
{
    // int fsync(int fd);
    [LibraryImport("libc", SetLastError = true)] internal static partial int fsync(int fd);
}
