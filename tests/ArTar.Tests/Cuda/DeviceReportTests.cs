using System.Diagnostics;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>`artar device`: every library's file and versions, the cuBLAS/cuDNN CUDA-version refusal, the no-driver line.</summary>
public class DeviceReportTests
{
    [Test]
    public void CudnnForAnotherCudaMajorThanCublasIsRefusedNamingBothFiles()
    {
        const string cublas = "/site/nvidia/cu13/lib/libcublas.so.13", cudnn = "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0";
        string? refusal = CudaAvailability.CudaMajorMismatch(cublas, 13000, cudnn, 12080);
        Assert.That(refusal, Does.Contain(cublas).And.Contain(cudnn).And.Contain("CUDA 12.8").And.Contain("CUDA 13.0").And.Contain("nvidia-cudnn-cu13"));
        Assert.That(refusal, Does.Not.Contain('\n'));

        Assert.That(CudaAvailability.CudaMajorMismatch(cublas, 13000, cudnn, 13020), Is.Null, "minor versions may differ");
        Assert.That(CudaAvailability.CudaMajorMismatch(cublas, 12060, cudnn, 12080), Is.Null);
        Assert.That(CudaAvailability.CudaMajorMismatch(cublas, 0, cudnn, 12080), Is.Null, "an unknown version refuses nothing");
        Assert.That(CudaAvailability.CudaVersion(12080), Is.EqualTo("12.8"));
    }

    [Test]
    public void TheReportNamesEveryFileVersionAndRefusedSibling()
    {
        var probe = new CudaProbe(true, null, "NVIDIA H200", 9, 0, 13000, "13.1.1", "9.24.0", 13000, 13000);
        LoadedLibrary[] libraries =
        [
            new("cuda", "libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06", ByLoaderSearch: true),
            new("cublasLt", "libcublasLt.so.13", "/s/nvidia/cu13/lib/libcublasLt.so.13", false),
            new("cublas", "libcublas.so.13", "/s/nvidia/cu13/lib/libcublas.so.13", false),
            new("cudnn", "libcudnn.so.9", "/s/nvidia/cudnn/lib/libcudnn.so.9", false),
        ];
        CompanionLoad[] companions =
        [
            new("cudnn", "/s/nvidia/cudnn/lib/libcudnn_graph.so.9", true, null),
            new("cudnn", "/s/nvidia/cudnn/lib/libcudnn_ext.so.9", false, "libfoo.so.1: cannot open shared object file: No such file or directory"),
        ];

        var lines = DeviceReport.Lines(probe, libraries, companions);
        Assert.That(lines[^1], Is.EqualTo(probe.ToString()), "the verdict is the last line");
        Assert.That(lines[0], Is.EqualTo("libcuda.so.1: /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06 (the loader's default search), driver for CUDA 13.0"));
        Assert.That(lines[2], Is.EqualTo("libcublas.so.13: /s/nvidia/cu13/lib/libcublas.so.13, cuBLAS 13.1.1 built for CUDA 13.0"));
        Assert.That(lines[3], Is.EqualTo("libcudnn.so.9: /s/nvidia/cudnn/lib/libcudnn.so.9, cuDNN 9.24.0 built for CUDA 13.0"));
        Assert.That(lines[4], Is.EqualTo("  /s/nvidia/cudnn/lib/libcudnn_graph.so.9"));
        Assert.That(lines[5], Does.StartWith("  /s/nvidia/cudnn/lib/libcudnn_ext.so.9: did not load (optional): libfoo.so.1: cannot open"));
        Assert.That(lines, Has.Count.EqualTo(7));

        // A cuDNN refused for a missing sub-library still shows what was tried beside it.
        var refused = DeviceReport.Lines(new CudaProbe(false, "no cuDNN 9: …"), libraries[..3],
            [new("cudnn", "/s/nvidia/cudnn/lib/libcudnn_adv.so.9", true, "not in the folder")]);
        Assert.That(refused[^3..], Is.EqualTo(new[] { "libcudnn.so.9: refused", "  /s/nvidia/cudnn/lib/libcudnn_adv.so.9: did not load (required): not in the folder", "CUDA unavailable: no cuDNN 9: …" }));
    }

    [Test]
    public void WithoutADriverArtarDevicePrintsOneLineAndExitsOne()
    {
        var probe = CudaAvailability.Probe();
        if (!(probe.Reason ?? "").StartsWith("no NVIDIA driver", StringComparison.Ordinal))
            Assert.Ignore($"this machine has a CUDA driver: {probe}");

        var (code, output, error) = Artar(null, "device");
        Assert.That(code, Is.EqualTo(Program.Failed), error);
        Assert.That(output.TrimEnd().Split('\n'), Is.EqualTo(new[] { "CUDA unavailable: " + probe.Reason }));
        Assert.That(output, Does.StartWith("CUDA unavailable: no NVIDIA driver: libcuda.so.1 not found"));
    }

    [Test]
    public void ADriverFileThatWillNotLoadIsNamedWithTheLoadersReason()
    {
        if (CudaAvailability.Probe().Reason is not { } reason || !reason.StartsWith("no NVIDIA driver", StringComparison.Ordinal))
            Assert.Ignore("a libcuda.so.1 loads here, so a broken copy in ARTAR_CUDA_LIBS would never be tried");
        string folder = TestData.TempFolder();
        try
        {
            string fake = Path.Combine(folder, "libcuda.so.1");
            File.WriteAllText(fake, "not a shared library");
            var (code, output, _) = Artar(folder, "device");
            Assert.That(code, Is.EqualTo(Program.Failed));
            Assert.That(output.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
            Assert.That(output, Does.StartWith($"CUDA unavailable: no NVIDIA driver: {fake} did not load: "));
            TestContext.Out.WriteLine(output);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void ACudnnFailureCarriesCudnnsOwnWordsOnOneLine()
    {
        Assert.That(CudaStatus.WithCudnnMessage("the x descriptor", "CUDNN_STATUS_BAD_PARAM; Reason: seqLength <= 0\n  at rnn.cpp:12"),
            Is.EqualTo("the x descriptor; cuDNN says: CUDNN_STATUS_BAD_PARAM; Reason: seqLength <= 0 at rnn.cpp:12"));
        Assert.That(CudaStatus.WithCudnnMessage(null, "libcudnn_adv.so.9 not found"), Is.EqualTo("cuDNN says: libcudnn_adv.so.9 not found"));
        Assert.That(CudaStatus.WithCudnnMessage("detail", " \n"), Is.EqualTo("detail"));
        Assert.That(CudaStatus.WithCudnnMessage(null, null), Is.Null);
    }

    // The real program in its own process, so ARTAR_CUDA_LIBS is read by a fresh resolver.
    private static (int Code, string Out, string Err) Artar(string? cudaLibs, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(TestData.ArtarDll);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        if (cudaLibs is null) start.Environment.Remove(CudaLibraries.PathVariable);
        else start.Environment[CudaLibraries.PathVariable] = cudaLibs;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        Assert.That(process.WaitForExit(60_000), Is.True, "artar device did not finish within a minute");
        return (process.ExitCode, output.Result, error);
    }
}
