using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Gpu;

/// <summary>--device auto | cpu | cuda without a GPU: the CPU, one notice line, or a one-line DeviceException.</summary>
public class DeviceSelectionTests
{
    private static readonly CudaProbe Missing = new(false, "no NVIDIA driver: libcuda.so.1 not found; set ARTAR_CUDA_LIBS to its folder");

    [Test]
    public void CpuIsTheFloatCpuBackend()
    {
        var notices = new StringWriter();
        using var backend = DeviceSelection.Create("cpu", notices);
        Assert.That(backend, Is.TypeOf<CpuBackend<float>>());
        Assert.That(notices.ToString(), Is.Empty);
        Assert.That(backend.Description, Is.EqualTo($"cpu: {Environment.ProcessorCount} cores, float32"));
    }

    [Test]
    public void CudaOnThisMachineThrowsOneLineWithTheProbesReason()
    {
        var probe = CudaAvailability.Probe();
        if (probe.Available) Assert.Ignore($"a GPU is present here ({probe}): the no-GPU answer cannot be seen");
        var e = Assert.Throws<DeviceException>(() => DeviceSelection.Create("cuda", TextWriter.Null))!;
        Assert.That(e.Message, Does.Not.Contain('\n'));
        Assert.That(e.Message, Does.Contain(probe.Reason!));
        Assert.That(e.Message, Does.Contain("--device cpu"));
    }

    [Test]
    public void AutoOnThisMachineFallsBackWithExactlyOneNotice()
    {
        var probe = CudaAvailability.Probe();
        if (probe.Available) Assert.Ignore($"a GPU is present here ({probe}): auto takes it");
        var notices = new StringWriter();
        using var backend = DeviceSelection.Create("auto", notices);
        Assert.That(backend, Is.TypeOf<CpuBackend<float>>());
        var lines = notices.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1));
        Assert.That(lines[0], Does.Contain(probe.Reason!).And.Contain("CPU"));
    }

    [Test]
    public void AutoWithoutADeviceNeverTriesTheGpuBackend()
    {
        var notices = new StringWriter();
        using var backend = DeviceSelection.Create("auto", notices, _ => Missing, () => throw new AssertionException("the GPU backend was started"));
        Assert.That(backend, Is.TypeOf<CpuBackend<float>>());
        Assert.That(notices.ToString().TrimEnd().Split('\n'), Has.Length.EqualTo(1));
    }

    [Test]
    public void AutoFallsBackWithOneLineWhenTheGpuBackendFailsToStart()
    {
        var notices = new StringWriter();
        var present = new CudaProbe(true, null, "Fake GPU", 9, 0, 13000, "13.0.0", "9.10.0");
        using var backend = DeviceSelection.Create("auto", notices, _ => present,
            () => throw new CudaException("cuDNN", "cudnnCreate", 1001, "CUDNN_STATUS_NOT_INITIALIZED"));
        Assert.That(backend, Is.TypeOf<CpuBackend<float>>());
        var lines = notices.ToString().TrimEnd().Split('\n');
        Assert.That(lines, Has.Length.EqualTo(1));
        Assert.That(lines[0], Does.Contain("cudnnCreate failed"));
    }

    [Test]
    public void CudaFailsWithOneLineWhenTheGpuBackendFailsToStart()
    {
        var present = new CudaProbe(true, null, "Fake GPU", 9, 0, 13000, "13.0.0", "9.10.0");
        var e = Assert.Throws<DeviceException>(() => DeviceSelection.Create("cuda", TextWriter.Null, _ => present,
            () => throw new CudaException("CUDA driver", "cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY")))!;
        Assert.That(e.Message, Does.Not.Contain('\n').And.Contain("CUDA_ERROR_OUT_OF_MEMORY"));
    }

    [Test]
    public void CudaWithAMissingProbeNamesTheReason()
    {
        var e = Assert.Throws<DeviceException>(() => DeviceSelection.Create("cuda", TextWriter.Null, _ => Missing, () => throw new AssertionException("started")))!;
        Assert.That(e.Message, Does.Contain(Missing.Reason!).And.Not.Contain('\n'));
    }

    [Test]
    public void AnUnknownDeviceIsRefused()
    {
        var e = Assert.Throws<DeviceException>(() => DeviceSelection.Create("tpu", TextWriter.Null))!;
        Assert.That(e.Message, Does.Contain("'tpu'").And.Contain("auto, cpu or cuda"));
    }

    [Test]
    public void DescribeNamesTheElementType()
    {
        using IBackend cpu64 = new CpuBackend<double>();
        Assert.That(cpu64.Description, Does.StartWith("cpu: ").And.EndWith("float64"));
    }
}
