using System.Runtime.InteropServices;

namespace ArTar.Cli.Sweeps;

// The one libc call .NET has no managed form of: sending SIGTERM to a child (Process.Kill sends SIGKILL, which
// would leave no checkpoint). 1:1 with <signal.h>; no logic here.
internal static partial class Posix
{
    public const int SIGTERM = 15;

    // int kill(pid_t pid, int sig);
    [LibraryImport("libc", SetLastError = true)] public static partial int kill(int pid, int sig);
}
