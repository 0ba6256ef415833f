using System.Runtime.InteropServices;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>Which copy of each CUDA library is tried in which order, which cuDNN siblings come with it, and where a loaded one lives.</summary>
public class CudaLibrariesTests
{
    private string _root = "";
    private string _site = "";

    [SetUp]
    public void SetUp()
    {
        _root = TestData.TempFolder();
        _site = Path.Combine(_root, "lib/python3.12/site-packages");
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    // Empty files with the libraries' names: the order is decided by names alone, nothing is loaded.
    private string Files(string folder, params string[] names)
    {
        string dir = Path.Combine(_root, folder);
        Directory.CreateDirectory(dir);
        foreach (var name in names) File.WriteAllBytes(Path.Combine(dir, name), []);
        return dir;
    }

    private List<LibraryCandidate> Candidates(string logical, string? extra) =>
        CudaLibraries.Candidates(logical, extra, [_site], CudaLibraries.FolderEntries);

    [Test]
    public void TheNewestSonameIsTriedInEveryPlaceBeforeAnOlderOneAnywhere()
    {
        string old = Files("opt/cuda12", "libcublas.so.12");
        string both = Files("opt/both", "libcublas.so.12", "libcublas.so.13");
        string cu13 = Files("lib/python3.12/site-packages/nvidia/cu13/lib", "libcublas.so.13", "libcublasLt.so.13");
        string cu12 = Files("lib/python3.12/site-packages/nvidia/cublas/lib", "libcublas.so.12");

        Assert.That(Candidates("cublas", $"{old}:{both}"), Is.EqualTo(new LibraryCandidate[]
        {
            new("libcublas.so.13", both), new("libcublas.so.13", null), new("libcublas.so.13", cu13),
            new("libcublas.so.12", old), new("libcublas.so.12", both), new("libcublas.so.12", null), new("libcublas.so.12", cu12),
        }));
        Assert.That(Candidates("cublasLt", null), Is.EqualTo(new LibraryCandidate[]
        {
            new("libcublasLt.so.13", null), new("libcublasLt.so.13", cu13), new("libcublasLt.so.12", null),
        }));
    }

    [Test]
    public void ArtarCudaLibsFoldersKeepTheirOrderComeBeforeTheLoaderAndWheelsAndCountOnce()
    {
        string b = Files("b", "libcudnn.so.9");
        string a = Files("a", "libcudnn.so.9");
        string empty = Files("empty");
        string wheel = Files("lib/python3.12/site-packages/nvidia/cudnn/lib", "libcudnn.so.9", "libcudnn_graph.so.9");

        var candidates = Candidates("cudnn", $" {b} :{empty}:{a}:{b}:/does/not/exist");
        Assert.That(candidates, Is.EqualTo(new LibraryCandidate[]
        {
            new("libcudnn.so.9", b), new("libcudnn.so.9", a), new("libcudnn.so.9", null), new("libcudnn.so.9", wheel),
        }));
        Assert.That(candidates[0].LoadPath, Is.EqualTo(Path.Combine(b, "libcudnn.so.9")), "a folder's candidate is loaded by absolute path");
        Assert.That(candidates[2].LoadPath, Is.EqualTo("libcudnn.so.9"), "the loader's search gets the bare soname");
    }

    [Test]
    public void LibcudaIsNeverTakenFromAWheel()
    {
        Files("lib/python3.12/site-packages/nvidia/cu13/lib", "libcuda.so.1");   // a stub: CUDA_ERROR_STUB_LIBRARY
        string driver = Files("driver", "libcuda.so.1", CudaLibraries.PtxJitCompiler);

        var candidates = Candidates("cuda", driver);
        Assert.That(candidates.Take(2), Is.EqualTo(new LibraryCandidate[] { new("libcuda.so.1", driver), new("libcuda.so.1", null) }));
        Assert.That(candidates.Select(c => c.Directory ?? ""), Has.None.StartWith(_site));
    }

    [Test]
    public void CandidatesArePureOverAFolderListing()
    {
        // No file system: a listing of three folders decides the order.
        var listing = new Dictionary<string, string[]>
        {
            ["/s/nvidia"] = ["cudnn", "cu13", "nccl"],
            ["/s/nvidia/cu13"] = ["lib", "include"],
            ["/s/nvidia/cu13/lib"] = ["libcublas.so.13"],
            ["/s/nvidia/cudnn"] = ["lib"],
            ["/s/nvidia/cudnn/lib"] = ["libcudnn.so.9"],
            ["/s/nvidia/nccl"] = ["include"],
            ["/x"] = ["libcublas.so.12"],
        };
        IEnumerable<string> Entries(string folder) => listing.TryGetValue(folder, out var names) ? names : [];

        Assert.That(CudaLibraries.NvidiaLibDirectories(["/s", "/s"], Entries), Is.EqualTo(new[] { "/s/nvidia/cu13/lib", "/s/nvidia/cudnn/lib" }));
        Assert.That(CudaLibraries.Candidates("cublas", "/x", ["/s"], Entries), Is.EqualTo(new LibraryCandidate[]
        {
            new("libcublas.so.13", null), new("libcublas.so.13", "/s/nvidia/cu13/lib"), new("libcublas.so.12", "/x"), new("libcublas.so.12", null),
        }));
    }

    [Test]
    public void CudnnSiblingsComeFromTheSameFolderGraphThenOpsFirst()
    {
        string wheel = Files("cudnn", "libcudnn.so.9", "libcudnn_heuristic.so.9", "libcudnn_adv.so.9", "libcudnn_engines_precompiled.so.9",
            "libcudnn_ops.so.9", "libcudnn_ext.so.9", "libcudnn_graph.so.9", "libcudnn_cnn.so.9", "libcudnn_engines_runtime_compiled.so.9",
            "libcudnn_ops.so.9.24.0", "libcudnn.so", "libcublas.so.13");

        Assert.That(CudaLibraries.CudnnSiblings(CudaLibraries.FolderEntries(wheel)), Is.EqualTo(new[]
        {
            "libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9",
            "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9", "libcudnn_ext.so.9", "libcudnn_heuristic.so.9",
        }));
        Assert.That(CudaLibraries.CudnnSiblings(["libcudnn.so.9", "libcudnn_adv.so.9"]), Is.EqualTo(new[] { "libcudnn_adv.so.9" }));
        Assert.That(new[] { "libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_adv.so.9" }.All(CudaLibraries.IsRequiredCudnnSibling), Is.True);
        Assert.That(CudaLibraries.IsRequiredCudnnSibling("libcudnn_ext.so.9"), Is.False, "an optional sub-library's failure is reported, not fatal");
    }

    [Test]
    public void MapsLinesGiveTheFileHoldingAnAddress()
    {
        string[] maps =
        [
            "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]",
            "7f3a10000000-7f3a10200000 r--p 00000000 08:01 131                        /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06",
            "7f3a10200000-7f3a10800000 r-xp 00200000 08:01 131                        /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06",
            "7f3a20000000-7f3a20001000 r-xp 00000000 08:01 77                         /opt/my wheels/nvidia/cu13/lib/libcublas.so.13 (deleted)",
            "7f3a30000000-7f3a30010000 rw-p 00000000 00:00 0 ",
        ];
        Assert.That(CudaLibraries.MappedFile(maps, 0x7f3a10345678), Is.EqualTo("/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06"));
        Assert.That(CudaLibraries.MappedFile(maps, 0x7f3a20000000), Is.EqualTo("/opt/my wheels/nvidia/cu13/lib/libcublas.so.13"));
        Assert.That(CudaLibraries.MappedFile(maps, 0x7f3a20001000), Is.Null, "the end of a range is outside it");
        Assert.That(CudaLibraries.MappedFile(maps, 0x55d0c0a00010), Is.Null, "[heap] is no file");
        Assert.That(CudaLibraries.MappedFile(maps, 0x7f3a30000008), Is.Null, "an anonymous mapping is no file");
        Assert.That(CudaLibraries.MappedFile(["garbage", ""], 1), Is.Null);
    }

    [Test]
    public void ALibraryFoundBySonameIsLocatedThroughThisProcesssMaps()
    {
        if (!File.Exists("/proc/self/maps")) Assert.Ignore("no /proc/self/maps on this system");
        nint libc = NativeLibrary.Load("libc.so.6");
        string? file = CudaLibraries.FileOf(libc, "getpid");
        Assert.That(file, Does.StartWith("/").And.Contain("libc"));
        Assert.That(File.Exists(file), Is.True, file);
        Assert.That(CudaLibraries.FileOf(libc, "no_such_export_here"), Is.Null);
    }

    [Test]
    public void TheLoadersWordsAreKeptWithoutDotnetsAdvice()
    {
        Assert.That(CudaLibraries.LoaderError("Unable to load shared library 'x' or one of its dependencies. Consider LD_DEBUG.\n/a/libx.so: invalid ELF header\n"),
            Is.EqualTo("/a/libx.so: invalid ELF header"));
        Assert.That(CudaLibraries.LoaderError(""), Is.Not.Empty);

        // The real loader on a real file that is not a library.
        string fake = Path.Combine(Files("fake"), "libcuda.so.1");
        File.WriteAllText(fake, "not a library");
        var e = Assert.Catch<Exception>(() => NativeLibrary.Load(fake));
        string words = CudaLibraries.LoaderError(e!.Message);
        TestContext.Out.WriteLine(words);
        Assert.That(words, Does.Contain(fake).Or.Contain("ELF").Or.Contain("too short"));
        Assert.That(words, Does.Not.Contain('\n'));

        // The loader's search not finding a soname is no failure to report; finding it without its dependency is.
        var absent = Assert.Catch<Exception>(() => NativeLibrary.Load("libartar-absent.so.13"));
        Assert.That(CudaLibraries.IsAbsent("libartar-absent.so.13", CudaLibraries.LoaderError(absent!.Message)), Is.True);
        Assert.That(CudaLibraries.IsAbsent("libcublas.so.13", "libcublasLt.so.13: cannot open shared object file: No such file or directory"), Is.False);
        Assert.That(CudaLibraries.IsAbsent("libcuda.so.1", "/lib/libcuda.so.1: undefined symbol: x"), Is.False);
    }
}
