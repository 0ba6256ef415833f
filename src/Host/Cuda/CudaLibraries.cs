using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;

namespace ArTar.Cuda;

/// <summary>One place a soname is tried: a folder, or <c>null</c> for the loader's default search.</summary>
public readonly record struct LibraryCandidate(string Soname, string? Directory)
{
    /// <summary>What dlopen is given: the bare soname for the loader's search, else the absolute file.</summary>
    public string LoadPath => Directory is null ? Soname : Path.Combine(Directory, Soname);
}

/// <summary>A library this process loaded: its logical name, soname, and the file it came from (null if unknown).</summary>
public sealed record LoadedLibrary(string Logical, string Soname, string? Path, bool ByLoaderSearch);

/// <summary>A file loaded beside a library (a cuDNN sub-library, the PTX JIT compiler); <see cref="Error"/> null if it loaded.</summary>
public sealed record CompanionLoad(string Owner, string Path, bool Required, string? Error);

/// <summary>
/// Finds the CUDA libraries for the bindings' logical names ("cuda", "cublasLt", "cublas", "cudnn"; docs/cuda.md §2).
/// Sonames are tried newest first, and each soname in every place before an older soname anywhere, so a system
/// libcublas.so.12 on the loader's path cannot beat a wheel's libcublas.so.13 (<see cref="Candidates"/>). The places:
/// <list type="number">
/// <item>the folders of <c>ARTAR_CUDA_LIBS</c> (colon-separated), in order: the user's choice beats a system copy;</item>
/// <item>the loader's default search (LD_LIBRARY_PATH as set at process start, ld.so.cache, the system folders);</item>
/// <item>the driver only: /usr/local/nvidia/lib64, /usr/local/nvidia/lib, /usr/lib/wsl/lib (container and WSL mounts);</item>
/// <item>the rest only (never libcuda: a wheel's or toolkit's copy is a stub that answers CUDA_ERROR_STUB_LIBRARY): every
///   <c>nvidia/*/lib</c> folder under the site-packages of $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, /usr/local, /usr,
///   /opt/conda (lib/python3*/{site,dist}-packages, /usr/lib/python3/dist-packages);</item>
/// <item>last, only if all that failed: the same under the folders `python3 -c "import site; …"` reports (3 s limit).</item>
/// </list>
/// cuBLAS loads cuBLASLt first, and cuDNN loads cuBLAS first, so cuDNN's RNN path finds them by soname. After
/// libcudnn.so.9 its libcudnn_*.so.9 siblings are loaded from the same folder by absolute path (<see cref="CudnnSiblings"/>),
/// so a system cuDNN elsewhere cannot fill in a missing one (CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH). A libcuda from a
/// folder brings that folder's libnvidia-ptxjitcompiler.so.1 (else every PTX load fails, CUDA_ERROR_JIT_COMPILER_NOT_FOUND).
/// What was loaded from where (a library the loader found by soname is located by <see cref="MappedFile"/>), and what
/// failed with which loader error, is kept for <see cref="DeviceReport"/> and the probe's reason.
/// </summary>
public static class CudaLibraries
{
    public const string PathVariable = "ARTAR_CUDA_LIBS";
    public const string PtxJitCompiler = "libnvidia-ptxjitcompiler.so.1";

    /// <summary>Logical name → sonames, newest first (CUDA 13, then CUDA 12).</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Sonames = new Dictionary<string, string[]>
    {
        ["cuda"] = ["libcuda.so.1"],
        ["cublasLt"] = ["libcublasLt.so.13", "libcublasLt.so.12"],
        ["cublas"] = ["libcublas.so.13", "libcublas.so.12"],
        ["cudnn"] = ["libcudnn.so.9"],
    };

    /// <summary>An export of each library, to find the file it was mapped from (<see cref="MappedFile"/>).</summary>
    internal static readonly IReadOnlyDictionary<string, string> Exports = new Dictionary<string, string>
    {
        ["cuda"] = "cuInit", ["cublasLt"] = "cublasLtCreate", ["cublas"] = "cublasCreate_v2", ["cudnn"] = "cudnnGetVersion",
    };

    // The RNN path cannot run without these: the shim hands the handle to graph, descriptors live in ops, the RNN in adv.
    private static readonly string[] RequiredCudnnSiblings = ["libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_adv.so.9"];
    // Dependencies first as far as known (ops and cnn on graph, adv on ops), so a sibling without RUNPATH finds them by
    // soname; LoadCudnnSiblings' second pass covers an order that is wrong for some 9.x.
    private static readonly string[] CudnnSiblingOrder = ["libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9"];

    private static readonly string[] LogicalNames = ["cuda", "cublasLt", "cublas", "cudnn"];
    private static readonly Dictionary<string, string> Preload = new() { ["cublas"] = "cublasLt", ["cudnn"] = "cublas" };
    private static readonly string[] DriverDirectories = ["/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib"];

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, (nint Handle, LoadedLibrary Library)> Loaded = [];
    private static readonly Dictionary<string, string> Failures = [];
    private static readonly List<CompanionLoad> CompanionLoads = [];
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
            if (Failures.ContainsKey(logical) || !Sonames.ContainsKey(logical)) return false;
            if (Preload.TryGetValue(logical, out var first)) TryLoad(first, out _);
            var errors = new List<string>();
            var candidates = Candidates(logical, Environment.GetEnvironmentVariable(PathVariable), ScanSitePackages(), FolderEntries);
            if (TryLoadFirst(logical, candidates, errors, out handle, out bool refused)) return true;
            if (logical != "cuda" && !refused)
            {
                var tried = candidates.Select(c => c.LoadPath).ToHashSet();
                var python = Candidates(logical, null, PythonSitePackages(), FolderEntries).Where(c => c.Directory is not null && !tried.Contains(c.LoadPath));
                if (TryLoadFirst(logical, python, errors, out handle, out _)) return true;
            }
            Failures[logical] = errors.Count == 0 ? NotFoundMessage(logical)
                : string.Join("; ", errors) + $" (install what it lacks, or set {PathVariable} to a folder with a complete copy)";
            return false;
        }
    }

    /// <summary>The file a loaded library came from, else "the loader's default search"; null if not loaded.</summary>
    public static string? LoadedFrom(string logical)
    {
        lock (Gate) return Loaded.TryGetValue(logical, out var hit) ? hit.Library.Path ?? "the loader's default search" : null;
    }

    /// <summary>What is loaded: the driver, cuBLASLt, cuBLAS, cuDNN (the order each needs the one before).</summary>
    public static IReadOnlyList<LoadedLibrary> LoadedLibraries()
    {
        lock (Gate) return LogicalNames.Where(Loaded.ContainsKey).Select(k => Loaded[k].Library).ToList();
    }

    /// <summary>The cuDNN sub-libraries and the PTX JIT compiler loaded (or refused) beside their library.</summary>
    public static IReadOnlyList<CompanionLoad> Companions()
    {
        lock (Gate) return [.. CompanionLoads];
    }

    /// <summary>One line for a user: why a logical library is not loaded — the loader's own error for a file that was found.</summary>
    public static string FailureMessage(string logical)
    {
        lock (Gate) return Failures.TryGetValue(logical, out var why) ? why : NotFoundMessage(logical);
    }

    /// <summary>One line for a user: which file was looked for where.</summary>
    public static string NotFoundMessage(string logical) =>
        $"{string.Join(" or ", Sonames[logical])} not found (searched the loader's path, {PathVariable}"
        + (logical == "cuda" ? ", /usr/local/nvidia" : ", Python site-packages nvidia/*/lib") + $"); set {PathVariable} to its folder";

    /// <summary>
    /// The order in which <paramref name="logical"/> is tried: for each soname, newest first, the ARTAR_CUDA_LIBS folders
    /// that hold it, the loader's default search, then the other folders (<see cref="SearchDirectories"/>) that hold it;
    /// only then the next soname. Pure: <paramref name="entries"/> lists a folder's names (empty when it does not exist).
    /// </summary>
    internal static List<LibraryCandidate> Candidates(string logical, string? extraDirectories, IEnumerable<string> sitePackages, Func<string, IEnumerable<string>> entries)
    {
        var extra = ExtraDirectories(extraDirectories).Distinct().ToList();
        var folders = SearchDirectories(logical, extraDirectories, sitePackages, entries).Distinct().Select(d => (Folder: d, Names: entries(d).ToHashSet())).ToList();
        var candidates = new List<LibraryCandidate>();
        foreach (var soname in Sonames[logical])
        {
            var holding = folders.Where(f => f.Names.Contains(soname)).Select(f => new LibraryCandidate(soname, f.Folder)).ToList();
            candidates.AddRange(holding.Where(c => extra.Contains(c.Directory!)));
            candidates.Add(new(soname, null));
            candidates.AddRange(holding.Where(c => !extra.Contains(c.Directory!)));
        }
        return candidates;
    }

    /// <summary>The folders searched besides the loader's default, in order (steps 1 and 3–4 of the class summary).</summary>
    internal static IEnumerable<string> SearchDirectories(string logical, string? extraDirectories, IEnumerable<string> sitePackages, Func<string, IEnumerable<string>> entries)
    {
        foreach (var d in ExtraDirectories(extraDirectories)) yield return d;
        if (logical == "cuda")
        {
            foreach (var d in DriverDirectories) yield return d;
            yield break;
        }
        foreach (var d in NvidiaLibDirectories(sitePackages, entries)) yield return d;
    }

    private static IEnumerable<string> ExtraDirectories(string? value) =>
        (value ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary><c>site-packages/nvidia/*/lib</c> folders (nvidia/cu13/lib, nvidia/cublas/lib, nvidia/cudnn/lib …), sorted within a root.</summary>
    internal static IEnumerable<string> NvidiaLibDirectories(IEnumerable<string> sitePackages, Func<string, IEnumerable<string>> entries)
    {
        foreach (var root in sitePackages.Distinct())
        {
            var nvidia = Path.Combine(root, "nvidia");
            foreach (var package in entries(nvidia).Order(StringComparer.Ordinal))
                if (entries(Path.Combine(nvidia, package)).Contains("lib"))
                    yield return Path.Combine(nvidia, package, "lib");
        }
    }

    /// <summary>
    /// The libcudnn_*.so.9 siblings of a libcudnn.so.9, in load order: graph, ops, cnn, adv (each after what it links),
    /// then the rest by name. Only exact .so.9 names: a system folder's .so.9.x.y files are what those link to.
    /// </summary>
    internal static List<string> CudnnSiblings(IEnumerable<string> folderNames)
    {
        var siblings = folderNames.Where(n => n.StartsWith("libcudnn_", StringComparison.Ordinal) && n.EndsWith(".so.9", StringComparison.Ordinal)).ToHashSet();
        var ordered = CudnnSiblingOrder.Where(siblings.Contains).ToList();
        ordered.AddRange(siblings.Except(CudnnSiblingOrder).Order(StringComparer.Ordinal));
        return ordered;
    }

    /// <summary>Whether cuDNN's RNN path cannot work without this sub-library.</summary>
    internal static bool IsRequiredCudnnSibling(string fileName) => RequiredCudnnSiblings.Contains(fileName);

    /// <summary>The names in a folder; empty if it does not exist or cannot be read.</summary>
    internal static IEnumerable<string> FolderEntries(string folder)
    {
        try
        {
            return Directory.Exists(folder) ? Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).OfType<string>().ToList() : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
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

    /// <summary>The absolute file holding a loaded library's export, from /proc/self/maps; null where that cannot be read.</summary>
    internal static string? FileOf(nint handle, string export)
    {
        if (!NativeLibrary.TryGetExport(handle, export, out nint address)) return null;
        try
        {
            return MappedFile(File.ReadLines("/proc/self/maps"), (ulong)address);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The file mapped at <paramref name="address"/>, from lines of /proc/self/maps
    /// (<c>7f3a…000-7f3a…000 r-xp 00000000 08:01 1234   /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06</c>); null if no
    /// file-backed mapping holds it. Pure. The path is the real file, symlinks resolved; a " (deleted)" mark is dropped.
    /// </summary>
    internal static string? MappedFile(IEnumerable<string> mapsLines, ulong address)
    {
        foreach (var line in mapsLines)
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 6 || fields[0].Split('-') is not [var start, var end]) continue;
            if (!ulong.TryParse(start, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong from)
                || !ulong.TryParse(end, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong to)
                || address < from || address >= to)
                continue;
            string path = fields[5].Trim();
            if (path.EndsWith(" (deleted)", StringComparison.Ordinal)) path = path[..^" (deleted)".Length];
            return path.StartsWith('/') ? path : null;
        }
        return null;
    }

    // The first candidate that loads wins; a file that exists but refuses leaves its loader error in `errors`.
    // `refused`: a cuDNN loaded without a required sibling, after which no other copy may be tried.
    private static bool TryLoadFirst(string logical, IEnumerable<LibraryCandidate> candidates, List<string> errors, out nint handle, out bool refused)
    {
        refused = false;
        foreach (var candidate in candidates)
        {
            if (!TryLoadFile(candidate.LoadPath, out handle, out string? error))
            {
                if (candidate.Directory is not null) errors.Add($"{candidate.LoadPath} did not load: {error}");
                else if (!IsAbsent(candidate.Soname, error!)) errors.Add($"{candidate.Soname} (the loader's search) did not load: {error}");
                continue;
            }
            string? path = candidate.Directory is null ? FileOf(handle, Exports[logical]) : candidate.LoadPath;
            Loaded[logical] = (handle, new LoadedLibrary(logical, candidate.Soname, path, candidate.Directory is null));
            if (logical == "cuda" && candidate.Directory is not null)
                LoadCompanion(logical, Path.Combine(candidate.Directory, PtxJitCompiler), required: false);
            if (logical == "cudnn" && Path.GetDirectoryName(path) is { Length: > 0 } folder && !LoadCudnnSiblings(folder, errors))
            {
                Loaded.Remove(logical);
                handle = 0;
                refused = true;   // never on to another copy: its siblings would meet these by soname
                return false;
            }
            return true;
        }
        handle = 0;
        return false;
    }

    // Two passes, so a sibling that links one later in the order still loads; false if a required one would not.
    private static bool LoadCudnnSiblings(string folder, List<string> errors)
    {
        var pending = CudnnSiblings(FolderEntries(folder));
        var failed = new List<(string Path, string Error)>();
        for (int pass = 0; pass < 2 && pending.Count > 0; pass++)
        {
            failed.Clear();
            foreach (var name in pending)
                if (!TryLoadFile(Path.Combine(folder, name), out _, out string? error)) failed.Add((Path.Combine(folder, name), error!));
                else CompanionLoads.Add(new("cudnn", Path.Combine(folder, name), IsRequiredCudnnSibling(name), null));
            pending = failed.Select(f => Path.GetFileName(f.Path)).ToList();
        }
        foreach (var (path, error) in failed) CompanionLoads.Add(new("cudnn", path, IsRequiredCudnnSibling(Path.GetFileName(path)), error));
        var missing = RequiredCudnnSiblings.Where(r => !File.Exists(Path.Combine(folder, r))).ToList();
        foreach (var name in missing) CompanionLoads.Add(new("cudnn", Path.Combine(folder, name), true, "not in the folder"));
        foreach (var (path, error) in failed.Where(f => IsRequiredCudnnSibling(Path.GetFileName(f.Path))))
            errors.Add($"{path} did not load: {error}");
        foreach (var name in missing) errors.Add($"{Path.Combine(folder, name)} is missing beside libcudnn.so.9 (an incomplete cuDNN)");
        return !failed.Any(f => IsRequiredCudnnSibling(Path.GetFileName(f.Path))) && missing.Count == 0;
    }

    private static void LoadCompanion(string owner, string path, bool required)
    {
        if (!File.Exists(path)) { CompanionLoads.Add(new(owner, path, required, "not in the folder")); return; }
        CompanionLoads.Add(new(owner, path, required, TryLoadFile(path, out _, out string? error) ? null : error));
    }

    // NativeLibrary.Load, not TryLoad: its exception carries dlerror's text (which dependency is missing, which symbol).
    private static bool TryLoadFile(string path, out nint handle, out string? error)
    {
        try
        {
            handle = NativeLibrary.Load(path);
            error = null;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            handle = 0;
            error = LoaderError(e.Message);
            return false;
        }
    }

    /// <summary>Whether a load by soname failed only because the loader's search has no such file (not a dependency, not a bad file).</summary>
    internal static bool IsAbsent(string soname, string loaderError) =>
        loaderError.StartsWith($"{soname}: cannot open shared object file", StringComparison.Ordinal);

    /// <summary>The loader's own words from a .NET load failure: its last line, without .NET's advice around it.</summary>
    internal static string LoaderError(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "unknown loader error" : lines[^1];
    }
}
