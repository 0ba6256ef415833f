using ArTar.Checkpoints;

namespace ArTar;

/// <summary>
/// Opens what a user names as input (config, corpus split, vocabulary, checkpoint) only if it is a regular file of a
/// bounded size: a FIFO would block the open until a writer comes, and /dev/zero would be read until memory runs out.
/// </summary>
public static class InputFile
{
    /// <summary>
    /// <paramref name="path"/> opened for reading. A path that is no regular file, or one over <paramref name="maxBytes"/>,
    /// is <paramref name="refuse"/>(the problem, without the path); a missing or unreadable file throws as File.Open does.
    /// </summary>
    /// <param name="what">what such a file is, for the size limit ("a checkpoint").</param>
    /// <param name="hint">what to give instead, after a refusal of the file type.</param>
    public static FileStream OpenRegular(string path, long maxBytes, string what, string hint, Func<string, Exception> refuse)
    {
        if (NonRegularKind(path) is { } kind)
            throw refuse($"is {kind}, not a regular file; {hint}");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        try
        {
            if (!stream.CanSeek)
                throw refuse($"is not a regular file (it cannot seek); {hint}");
            if (stream.Length > maxBytes)
                throw refuse($"is {stream.Length} bytes, over the {maxBytes}-byte limit of {what}");
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>"a FIFO", "a directory", … for a path that exists and is no regular file; null otherwise, or where statx(2) is not there to ask.</summary>
    public static string? NonRegularKind(string path)
    {
        if (!OperatingSystem.IsLinux())
            return null;
        StatxBuffer stat;
        try
        {
            // No such file and the like: the open that follows says so.
            if (LinuxStat.Statx(LinuxStat.AtFdCwd, path, 0, LinuxStat.StatxType, out stat) != 0)
                return null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;   // a C library older than statx (glibc 2.28)
        }
        return (stat.Mode & LinuxStat.SIfmt) switch
        {
            LinuxStat.SIfreg => null,
            LinuxStat.SIfdir => "a directory",
            LinuxStat.SIfifo => "a FIFO (named pipe)",
            LinuxStat.SIfchr => "a character device",
            LinuxStat.SIfblk => "a block device",
            LinuxStat.SIfsock => "a socket",
            _ => "of an unknown file type",
        };
    }
}
