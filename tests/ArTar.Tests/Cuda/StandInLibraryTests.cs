using System.Diagnostics;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>
/// `artar device` through the real dynamic loader, on a machine without a GPU: tiny shared libraries built here with the
/// C compiler stand in for libcuda, cuBLAS and cuDNN (the version calls the probe makes, and nothing else), so the lookup
/// order, the cuDNN siblings, the PTX JIT compiler beside libcuda and the CUDA-version refusal run as they will on a GPU.
/// </summary>
public class StandInLibraryTests
{
    private string _root = "";

    [SetUp]
    public void SetUp()
    {
        if (CudaAvailability.Probe().Reason is not { } reason || !reason.StartsWith("no NVIDIA driver", StringComparison.Ordinal))
            Assert.Ignore("a libcuda.so.1 loads here by the loader's search, so stand-ins in ARTAR_CUDA_LIBS would never be tried");
        _root = TestData.TempFolder();
    }

    [TearDown]
    public void TearDown()
    {
        if (_root.Length > 0) Directory.Delete(_root, recursive: true);
    }

    private const string Driver = """
        #include <string.h>
        int cuInit(unsigned flags) { return 0; }
        int cuDriverGetVersion(int *v) { *v = 13000; return 0; }
        int cuDeviceGetCount(int *n) { *n = 1; return 0; }
        int cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
        int cuDeviceGetName(char *name, int len, int d) { strncpy(name, "Stand-in GPU", len); return 0; }
        int cuDeviceGetAttribute(int *v, int attribute, int d) { *v = attribute == 75 ? 9 : 0; return 0; }
        int cuGetErrorName(int e, const char **s) { *s = "CUDA_ERROR_STAND_IN"; return 0; }
        """;

    private static string Cublas(int major, int cudart) => $$"""
        int cublasCreate_v2(void **h) { return 1; }
        int cublasGetProperty(int type, int *v) { *v = type == 0 ? {{major}} : 1; return 0; }
        unsigned long cublasGetCudartVersion(void) { return {{cudart}}; }
        """;

    private static string Cudnn(int cudart) => $$"""
        unsigned long cudnnGetVersion(void) { return 92400; }
        unsigned long cudnnGetCudartVersion(void) { return {{cudart}}; }
        """;

    // Builds one shared library with its soname; false (test ignored) where there is no C compiler.
    private string Library(string folder, string soname, string source, params string[] link)
    {
        string dir = Path.Combine(_root, folder);
        Directory.CreateDirectory(dir);
        string c = Path.Combine(_root, soname + ".c"), so = Path.Combine(dir, soname);
        File.WriteAllText(c, source);
        var start = new ProcessStartInfo("cc") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-shared", "-fPIC", "-o", so, $"-Wl,-soname,{soname}", c }.Concat(link)) start.ArgumentList.Add(arg);
        Process? cc;
        try { cc = Process.Start(start); }
        catch (System.ComponentModel.Win32Exception) { cc = null; }
        if (cc is null) Assert.Ignore("no C compiler (cc) to build the stand-in libraries");
        using (cc)
        {
            string error = cc.StandardError.ReadToEnd();
            cc.WaitForExit();
            Assert.That(cc.ExitCode, Is.Zero, $"cc {soname}: {error}");
        }
        return so;
    }

    // The driver, an old cuBLAS 12 folder listed first, a cuBLAS 13 folder, and a cuDNN folder whose libcudnn_ext needs a
    // library that is gone (an optional sibling that fails). Returns the ARTAR_CUDA_LIBS value.
    private string Install(int cudnnCudart, bool withAdv = true)
    {
        Library("driver", "libcuda.so.1", Driver);
        Library("driver", CudaLibraries.PtxJitCompiler, "int ptxjit_stand_in;");
        Library("old", "libcublasLt.so.12", "int cublasLtCreate(void **h) { return 1; }");
        Library("old", "libcublas.so.12", Cublas(12, 12080));
        Library("cu13", "libcublasLt.so.13", "int cublasLtCreate(void **h) { return 1; }");
        Library("cu13", "libcublas.so.13", Cublas(13, 13000));
        CudnnFolder("cudnn", cudnnCudart, withAdv);
        string gone = Library("gone", "libartar-gone.so.1", "int gone;");
        Library("cudnn", "libcudnn_ext.so.9", "extern int gone; int ext(void) { return gone; }", gone);
        File.Delete(gone);
        return string.Join(':', new[] { "driver", "old", "cu13", "cudnn" }.Select(f => Path.Combine(_root, f)));
    }

    private void CudnnFolder(string folder, int cudart, bool withAdv = true)
    {
        Library(folder, "libcudnn.so.9", Cudnn(cudart));
        foreach (var sibling in withAdv ? new[] { "graph", "ops", "adv", "cnn" } : ["graph", "ops"])
            Library(folder, $"libcudnn_{sibling}.so.9", $"int cudnn_{sibling}_stand_in;");
    }

    [Test]
    public void CudnnBuiltForAnotherCudaMajorIsRefusedAfterTheNewestCublasWasChosen()
    {
        var (code, lines) = Device(Install(cudnnCudart: 12080));
        string cublas = Path.Combine(_root, "cu13/libcublas.so.13"), cudnn = Path.Combine(_root, "cudnn/libcudnn.so.9");

        Assert.That(code, Is.EqualTo(Program.Failed), string.Join('\n', lines));
        Assert.That(lines[^1], Is.EqualTo($"CUDA unavailable: cuDNN {cudnn} is built for CUDA 12.8 but cuBLAS {cublas} for CUDA 13.0; "
            + "install the cuDNN of CUDA 13 (pip: nvidia-cudnn-cu13) or set ARTAR_CUDA_LIBS to folders holding a matching pair"));
        Assert.That(lines, Does.Contain($"libcuda.so.1: {_root}/driver/libcuda.so.1, driver for CUDA 13.0"));
        Assert.That(lines, Does.Contain($"  {_root}/driver/{CudaLibraries.PtxJitCompiler}"), "the JIT compiler beside a folder's libcuda is loaded");
        Assert.That(lines, Does.Contain($"libcublas.so.13: {cublas}, cuBLAS 13.1.1 built for CUDA 13.0"), "libcublas.so.13 beats the .so.12 listed first");
        Assert.That(lines, Does.Contain($"libcudnn.so.9: {cudnn}, cuDNN 9.24.0 built for CUDA 12.8"));
        var siblings = lines.SkipWhile(l => !l.StartsWith("libcudnn.so.9", StringComparison.Ordinal)).Skip(1).ToList();
        Assert.That(siblings.Take(4), Is.EqualTo(new[] { "graph", "ops", "cnn", "adv" }.Select(s => $"  {_root}/cudnn/libcudnn_{s}.so.9")));
        Assert.That(siblings[4], Does.StartWith($"  {_root}/cudnn/libcudnn_ext.so.9: did not load (optional): ").And.Contain("libartar-gone.so.1"));
        TestContext.Out.WriteLine(string.Join('\n', lines));
    }

    [Test]
    public void MatchingLibrariesReportTheDeviceAndExitZero()
    {
        var (code, lines) = Device(Install(cudnnCudart: 13000));
        Assert.That(lines[^1], Is.EqualTo("CUDA: Stand-in GPU (sm_90), driver 13.0, cuBLAS 13.1.1, cuDNN 9.24.0"));
        Assert.That(code, Is.EqualTo(Program.Ok));
    }

    [Test]
    public void ALibraryOnTheLoadersPathIsLocatedAndLosesToArtarCudaLibsAndToANewerSoname()
    {
        Install(cudnnCudart: 13000);
        CudnnFolder("system", cudart: 12080);
        // As a system would have them: the driver, a CUDA 12 cuBLAS and a cuDNN for CUDA 12 on the loader's path; the
        // CUDA 13 cuBLAS and cuDNN in ARTAR_CUDA_LIBS.
        var (code, lines) = Device(string.Join(':', new[] { "cu13", "cudnn" }.Select(f => Path.Combine(_root, f))),
            loaderPath: $"{_root}/driver:{_root}/old:{_root}/system");
        Assert.That(code, Is.EqualTo(Program.Ok), string.Join('\n', lines));
        Assert.That(lines, Does.Contain($"libcuda.so.1: {_root}/driver/libcuda.so.1 (the loader's default search), driver for CUDA 13.0"));
        Assert.That(lines, Has.None.Contains(CudaLibraries.PtxJitCompiler), "the loader's own libcuda finds its JIT compiler itself");
        Assert.That(lines, Does.Contain($"libcublas.so.13: {_root}/cu13/libcublas.so.13, cuBLAS 13.1.1 built for CUDA 13.0"));
        Assert.That(lines, Does.Contain($"libcudnn.so.9: {_root}/cudnn/libcudnn.so.9, cuDNN 9.24.0 built for CUDA 13.0"), "ARTAR_CUDA_LIBS beats the loader");
        Assert.That(lines, Has.None.Contains($"{_root}/system/"), "no sibling comes from the other cuDNN");
    }

    [Test]
    public void ACudnnWithoutItsRnnSubLibraryIsRefusedNamingTheMissingFile()
    {
        var (code, lines) = Device(Install(cudnnCudart: 13000, withAdv: false));
        Assert.That(code, Is.EqualTo(Program.Failed));
        Assert.That(lines[^1], Does.StartWith($"CUDA unavailable: no cuDNN 9: {_root}/cudnn/libcudnn_adv.so.9 is missing beside libcudnn.so.9"));
        Assert.That(lines, Does.Contain("libcudnn.so.9: refused"));
    }

    private static (int Code, string[] Lines) Device(string cudaLibs, string? loaderPath = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(TestData.ArtarDll);
        start.ArgumentList.Add("device");
        start.Environment[CudaLibraries.PathVariable] = cudaLibs;
        if (loaderPath is not null) start.Environment["LD_LIBRARY_PATH"] = loaderPath;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        Assert.That(process.WaitForExit(60_000), Is.True, "artar device did not finish within a minute");
        Assert.That(error, Is.Empty);
        return (process.ExitCode, output.Result.TrimEnd().Split('\n'));
    }
}
