using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>Argument packing for cuLaunchKernel: what the driver reads through kernelParams (no GPU needed).</summary>
public unsafe class KernelLaunchTests
{
    [Test]
    public void PackLaysOutEachArgumentInItsOwnSlot()
    {
        var declaration = ClipDecayUpdateKernels.ClipDecayUpdate;
        ulong* values = stackalloc ulong[7];
        void** pointers = stackalloc void*[7];
        declaration.Pack([KernelArgument.Pointer(0x7f0000001000UL), KernelArgument.Pointer(0x7f0000002000UL), KernelArgument.Pointer(0x7f0000003000UL),
            0.25f, 20f, 1e-7f, 13_000_000_000L], values, pointers);

        for (int i = 0; i < 7; i++) Assert.That((nint)pointers[i], Is.EqualTo((nint)(values + i)));
        Assert.That(*(ulong*)pointers[1], Is.EqualTo(0x7f0000002000UL));
        Assert.That(*(float*)pointers[3], Is.EqualTo(0.25f), "a 4-byte parameter is read from the slot's first bytes");
        Assert.That(*(float*)pointers[5], Is.EqualTo(1e-7f));
        Assert.That(*(long*)pointers[6], Is.EqualTo(13_000_000_000L));
    }

    [Test]
    public void PackRefusesAWrongKind()
    {
        // An int where the kernel takes long long would let the driver read 4 garbage bytes: refused before the launch.
        var e = Assert.Throws<ArgumentException>(() => Pack(ClipDecayUpdateKernels.ClipDecayUpdate,
            [KernelArgument.Pointer(1), KernelArgument.Pointer(2), KernelArgument.Pointer(3), 0.25f, 20f, 1e-7f, 1000]));
        Assert.That(e!.Message, Does.Contain("clip_decay_update").And.Contain("argument 6").And.Contain("S64"));
    }

    [Test]
    public void PackRefusesAWrongCount()
    {
        var e = Assert.Throws<ArgumentException>(() => Pack(GradientSquaredNormKernels.SquaredNormFinalize, [KernelArgument.Pointer(1), KernelArgument.Pointer(2)]));
        Assert.That(e!.Message, Does.Contain("squared_norm_finalize takes 3 arguments, 2 given"));
    }

    [Test]
    public void NegativeIntKeepsItsBits()
    {
        KernelArgument a = -2;
        Assert.That(a.Kind, Is.EqualTo(KernelParameterKind.S32));
        ulong slot = a.Bits;
        Assert.That(*(int*)&slot, Is.EqualTo(-2));
    }

    private static void Pack(KernelDeclaration declaration, KernelArgument[] arguments)
    {
        ulong* values = stackalloc ulong[16];
        void** pointers = stackalloc void*[16];
        declaration.Pack(arguments, values, pointers);
    }
}
