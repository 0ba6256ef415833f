using System.Runtime.InteropServices;

namespace ArTar.Checkpoints;

/// <summary>
/// Linux statx(2), to learn what a path is without opening it: opening a FIFO blocks until a writer comes, and a
/// character device such as /dev/zero never ends. Prototype and layout from linux/stat.h and fcntl.h.
/// </summary>
internal static partial class LinuxStat
{
    /// <summary>AT_FDCWD (fcntl.h): a relative path is relative to the working directory.</summary>
    public const int AtFdCwd = -100;

    /// <summary>STATX_TYPE (linux/stat.h): the S_IFMT bits of stx_mode.</summary>
    public const uint StatxType = 0x1;

    /// <summary>S_IFMT and the file types it selects (sys/stat.h).</summary>
    public const int SIfmt = 0xF000, SIfsock = 0xC000, SIfreg = 0x8000, SIfblk = 0x6000, SIfdir = 0x4000, SIfchr = 0x2000, SIfifo = 0x1000;

    // int statx(int dirfd, const char *pathname, int flags, unsigned int mask, struct statx *statxbuf);
    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Statx(int dirfd, string pathname, int flags, uint mask, out StatxBuffer statxbuf);
}

/// <summary>struct statx of linux/stat.h (256 bytes), up to stx_mode; the rest is not read.</summary>
[StructLayout(LayoutKind.Sequential, Size = 256)]
internal struct StatxBuffer
{
    public uint Mask;
    public uint Blksize;
    public ulong Attributes;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public ushort Mode;
}
