using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace ArTar.Cuda;

/// <summary>
/// Finds the CUDA libraries for the bindings' logical names ("cuda", "cublas", "cudnn"; DESIGN §4, docs/cuda.md).
/// For every soname, in this order, the first that loads wins:
/// <list type="number">
/// <item>the loader's default search (LD_LIBRARY_PATH as set at process start, ld.so.cache, the system folders);</item>
/// <item>the folders of <c>ARTAR_CUDA_LIBS</c> (colon-separated), in order;</item>
/// <item>the driver only: /usr/local/nvidia/lib64, /usr/local/nvidia/lib, /usr/lib/wsl/lib (container and WSL mounts);</item>
/// <item>the rest only (never libcuda: a wheel's or toolkit's copy is a stub, cuda-interop.md §5.12): every
///   <c>nvidia/*/lib</c> folder under the site-packages of $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, /usr/local, /usr,
///   /opt/conda (lib/python3*/{site,dist}-packages, /usr/lib/python3/dist-packages);</item>
/// <item>last, only if all that failed: the same under the folders `python3 -c "import site; …"` reports (3 s limit).</item>
/// </list>
/// cuBLAS loads cuBLASLt first, and cuDNN loads cuBLAS first, so cuDNN's RNN path finds them by soname (cuda-interop.md §6).
/// cuDNN is loaded by absolute path when found in a folder, so its RUNPATH $ORIGIN finds the libcudnn_*.so.9 beside it.
/// </summary>
public static class CudaLibraries
{
    public const string PathVariable = "ARTAR_CUDA_LIBS";

    /// <summary>Logical name → sonames, preferred first (CUDA 13 wheels, then CUDA 12).</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Sonames = new Dictionary<string, string[]>
    {
        ["cuda"] = ["libcuda.so.1"],
        ["cublasLt"] = ["libcublasLt.so.13", "libcublasLt.so.12"],
        ["cublas"] = ["libcublas.so.13", "libcublas.so.12"],
        ["cudnn"] = ["libcudnn.so.9"],
    };

    private static readonly Dictionary<string, string> Preload = new() { ["cublas"] = "cublasLt", ["cudnn"] = "cublas" };
    private static readonly string[] DriverDirectories = ["/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib"];

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, (nint Handle, string From)> Loaded = [];
    private static readonly HashSet<string> Missing = [];
    private static string[]? s_pythonSitePackages;
    private static int s_installed;

    /// <summary>Registers the resolver on the Host assembly (once; the binding classes call this from their static constructors).</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref s_installed, 1) == 0)
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        TryLoad(libraryName, out nint handle) ? handle : 0;

    /// <summary>Loads a logical library (and what must precede it); false if no soname loads anywhere. Never throws.</summary>
    public static bool TryLoad(string logical, out nint handle)
    {
        lock (Gate)
        {
            handle = 0;
            if (Loaded.TryGetValue(logical, out var hit)) { handle = hit.Handle; return true; }
            if (Missing.Contains(logical) || !Sonames.TryGetValue(logical, out var sonames)) return false;
            if (Preload.TryGetValue(logical, out var first)) TryLoad(first, out _);
            if (TryLoadFrom(sonames, SearchDirectories(logical, Environment.GetEnvironmentVariable(PathVariable), ScanSitePackages()), out handle, out var from)
                || (logical != "cuda" && TryLoadFrom(sonames, NvidiaLibDirectories(PythonSitePackages()), out handle, out from)))
            {
                Loaded[logical] = (handle, from);
                return true;
            }
            Missing.Add(logical);
            return false;
        }
    }

    /// <summary>Where a loaded library came from: a file path, or "the loader's default search"; null if not loaded.</summary>
    public static string? LoadedFrom(string logical)
    {
        lock (Gate) return Loaded.TryGetValue(logical, out var hit) ? hit.From : null;
    }

    /// <summary>One line for a user: which file was looked for where.</summary>
    public static string NotFoundMessage(string logical) =>
        $"{string.Join(" or ", Sonames[logical])} not found (searched the loader's path, {PathVariable}"
        + (logical == "cuda" ? ", /usr/local/nvidia" : ", Python site-packages nvidia/*/lib") + $"); set {PathVariable} to its folder";

    /// <summary>Folders searched after the loader's default, in order (steps 2–4 of the class summary).</summary>
    internal static IEnumerable<string> SearchDirectories(string logical, string? extraDirectories, IEnumerable<string> sitePackages)
    {
        foreach (var d in (extraDirectories ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            yield return d;
        if (logical == "cuda")
        {
            foreach (var d in DriverDirectories) yield return d;
            yield break;
        }
        foreach (var d in NvidiaLibDirectories(sitePackages)) yield return d;
    }

    /// <summary><c>site-packages/nvidia/*/lib</c> folders (nvidia/cu13/lib, nvidia/cudnn/lib, nvidia/cublas/lib …), sorted within a root.</summary>
    internal static IEnumerable<string> NvidiaLibDirectories(IEnumerable<string> sitePackages)
    {
        foreach (var root in sitePackages.Distinct())
        {
            var nvidia = Path.Combine(root, "nvidia");
            if (!Directory.Exists(nvidia)) continue;
            foreach (var package in Directory.EnumerateDirectories(nvidia).Order(StringComparer.Ordinal))
            {
                var lib = Path.Combine(package, "lib");
                if (Directory.Exists(lib)) yield return lib;
            }
        }
    }

    /// <summary>site-/dist-packages folders at the usual places of a Python installation (no process started).</summary>
    internal static IEnumerable<string> ScanSitePackages()
    {
        var prefixes = new List<string>();
        foreach (var variable in new[] { "VIRTUAL_ENV", "CONDA_PREFIX" })
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } prefix) prefixes.Add(prefix);
        if (Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home) prefixes.Add(Path.Combine(home, ".local"));
        prefixes.AddRange(["/usr/local", "/usr", "/opt/conda"]);
        foreach (var prefix in prefixes)
        {
            var lib = Path.Combine(prefix, "lib");
            if (!Directory.Exists(lib)) continue;
            IEnumerable<string> pythons;
            try { pythons = Directory.EnumerateDirectories(lib, "python3*").Order(StringComparer.Ordinal).ToList(); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            foreach (var python in pythons)
                foreach (var kind in new[] { "site-packages", "dist-packages" })
                {
                    var d = Path.Combine(python, kind);
                    if (Directory.Exists(d)) yield return d;
                }
        }
        if (Directory.Exists("/usr/lib/python3/dist-packages")) yield return "/usr/lib/python3/dist-packages";
    }

    // Asked once, and only when everything else failed: starting Python costs tens of milliseconds.
    private static string[] PythonSitePackages()
    {
        if (s_pythonSitePackages is not null) return s_pythonSitePackages;
        s_pythonSitePackages = [];
        try
        {
            var info = new ProcessStartInfo("python3", ["-c", "import site, sys; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var python = Process.Start(info);
            if (python is null) return s_pythonSitePackages;
            var output = python.StandardOutput.ReadToEndAsync();
            if (!python.WaitForExit(3000)) { python.Kill(); return s_pythonSitePackages; }
            s_pythonSitePackages = output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(Directory.Exists).Distinct().ToArray();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            // no python3 on PATH: nothing more to search
        }
        return s_pythonSitePackages;
    }

    private static bool TryLoadFrom(string[] sonames, IEnumerable<string> directories, out nint handle, out string from)
    {
        from = "the loader's default search";
        foreach (var soname in sonames)
            if (NativeLibrary.TryLoad(soname, out handle)) return true;
        foreach (var directory in directories)
            foreach (var soname in sonames)
            {
                var path = Path.Combine(directory, soname);
                if (File.Exists(path) && NativeLibrary.TryLoad(path, out handle)) { from = path; return true; }
            }
        handle = 0;
        return false;
    }
}
