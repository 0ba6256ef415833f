using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>What --device auto / --device cuda rely on: the probe answers, with one line, and never throws.</summary>
public class CudaAvailabilityTests
{
    [Test]
    public void ProbeAnswersWithoutThrowing()
    {
        CudaProbe probe = null!;
        Assert.DoesNotThrow(() => probe = CudaAvailability.Probe());
        if (probe.Available)
        {
            Assert.That(probe.ComputeMajor, Is.GreaterThanOrEqualTo(CudaAvailability.MinimumComputeMajor));
            Assert.That(probe.DeviceName, Is.Not.Empty);
            Assert.That(probe.CudnnVersion, Does.StartWith("9."));
        }
        else
        {
            Assert.That(probe.Reason, Is.Not.Empty.And.Not.Contain('\n'));
            Assert.That(probe.ToString(), Does.StartWith("CUDA unavailable: "));
        }
        TestContext.Out.WriteLine(probe.ToString());
    }

    [Test]
    public void ProbeOfAMissingDeviceOrdinalIsAReason()
    {
        var probe = CudaAvailability.Probe(ordinal: 4096);
        Assert.That(probe.Available, Is.False);
        Assert.That(probe.Reason, Is.Not.Empty.And.Not.Contain('\n'));
    }

    [Test]
    public void LookupOrderIsEnvironmentFoldersThenSitePackages()
    {
        var root = Directory.CreateTempSubdirectory("artar-libs-");
        try
        {
            var site = Path.Combine(root.FullName, "lib/python3.12/site-packages");
            foreach (var package in new[] { "cudnn", "cu13", "cublas" }) Directory.CreateDirectory(Path.Combine(site, "nvidia", package, "lib"));
            Directory.CreateDirectory(Path.Combine(site, "nvidia", "nolib"));

            var cudnn = CudaLibraries.SearchDirectories("cudnn", "/opt/a: /opt/b", [site], CudaLibraries.FolderEntries).ToList();
            Assert.That(cudnn, Is.EqualTo(new[]
            {
                "/opt/a", "/opt/b",
                Path.Combine(site, "nvidia/cu13/lib"), Path.Combine(site, "nvidia/cublas/lib"), Path.Combine(site, "nvidia/cudnn/lib"),
            }));

            var driver = CudaLibraries.SearchDirectories("cuda", "/opt/a", [site], CudaLibraries.FolderEntries).ToList();
            Assert.That(driver[0], Is.EqualTo("/opt/a"));
            Assert.That(driver, Has.None.Contains(site), "libcuda is never taken from a wheel (stub library)");
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }
}
