using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>The size decision of <see cref="CudaRnnReserve"/> when a window's cuDNN temporary space changes (no GPU needed).</summary>
public class RnnTempSpaceTests
{
    private static readonly RnnTempSpace Held = new(Workspace: 4096, Reserve: 8192);

    [Test]
    public void AShorterWindowThatFitsKeepsTheBuffers()
    {
        Assert.That(RnnTempSpace.Grown(Held, new(4096, 8192)), Is.Null, "the same sizes");
        Assert.That(RnnTempSpace.Grown(Held, new(1024, 2048)), Is.Null, "smaller sizes");
    }

    [Test]
    public void MoreWorkspaceGrowsItAndKeepsTheReserve()
    {
        Assert.That(RnnTempSpace.Grown(Held, new(5000, 100)), Is.EqualTo(new RnnTempSpace(5000, 8192)));
    }

    [Test]
    public void MoreReserveGrowsItAndKeepsTheWorkspace()
    {
        Assert.That(RnnTempSpace.Grown(Held, new(10, 9000)), Is.EqualTo(new RnnTempSpace(4096, 9000)));
    }

    [Test]
    public void AlternatingWindowsSettleOnOneSize()
    {
        // Window A wants more workspace, window B more reserve: after one of each nothing grows again.
        RnnTempSpace a = new(6000, 1000), b = new(1000, 9000), held = Held;
        int reallocations = 0;
        foreach (var needed in new[] { a, b, a, b, a, b })
            if (RnnTempSpace.Grown(held, needed) is { } grown) { held = grown; reallocations++; }
        Assert.That(reallocations, Is.EqualTo(2));
        Assert.That(held, Is.EqualTo(new RnnTempSpace(6000, 9000)));
    }
}
