using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;
using ArTar.Models;
using NUnit.Framework;

// Every test of the Dropout op in one place: the CPU reference, its gradient check, the GPU parity test and the
// kernel under host emulation. Each part belongs to the fixture named (its setup and helpers stay in that fixture's file).

namespace ArTar.Tests
{
    public partial class GradientCheckTests
    {
        [Test]
        public void DropoutBackward()
        {
            var backend = new CpuBackend<double>();
            var random = new Random(2);
            int n = T * B * H;
            var x = backend.Allocate(n);
            GradientCheck.Fill(x, random);
            var y = backend.Allocate(n);
            var r = backend.Allocate(n);
            GradientCheck.Fill(r, random);
            var mask = new DropoutMask(0.4, 77, 3, 1);
            var dx = backend.Allocate(n);
            backend.DropoutBackward(r, dx, n, mask, accumulate: false);
            GradientCheck.Assert("dropout input", x, GradientCheck.Copy(dx), () =>
            {
                backend.DropoutForward(x, y, n, mask);
                return GradientCheck.Project(y, r, n);
            });
        }
    }
}

namespace ArTar.Tests.Gpu
{
    public partial class CudaOpParityTests
    {
        [Test]
        public void DropoutMasksAreBitExact()
        {
            const int n = 1001;   // not a multiple of 4
            var mask = new DropoutMask(0.3, 0xDEADBEEF_12345678UL, (1L << 32) + 7, 2);
            var x = Random(n, 5);
            var dx0 = Random(n, 6);
            float[][] Run(IBackend b)
            {
                using var xs = Put(b, x); using var y = b.Allocate(n); using var dx = Put(b, dx0); using var dxSet = b.Allocate(n);
                b.DropoutForward(xs, y, n, mask);
                b.DropoutBackward(xs, dx, n, mask, accumulate: true);
                b.DropoutBackward(xs, dxSet, n, mask, accumulate: false);
                b.DropoutForward(xs, xs, n, mask);   // in place
                return [Get(b, y), Get(b, dx), Get(b, dxSet), Get(b, xs)];
            }
            var gpu = Run(Gpu);
            var cpu32 = Run(Cpu32);
            var cpu64 = Run(Cpu);
            for (int k = 0; k < gpu.Length; k++) Assert.That(gpu[k], Is.EqualTo(cpu32[k]), $"output {k} bit for bit against the float CPU");
            Assert.That(gpu[0].Select(v => v == 0), Is.EqualTo(cpu64[0].Select(v => v == 0)), "the same mask as the float64 reference");
            int dropped = gpu[0].Count(v => v == 0);
            Assert.That(dropped, Is.InRange(200, 400), "about 30% dropped");
            AssertClose(gpu[1], cpu64[1], "dx accumulated");
        }
    }
}

namespace ArTar.Tests.Cuda.Emulation
{
    public partial class KernelEmulationTests
    {
        [Test]
        public void DropoutFollowsTheContract()
        {
            var emu = KernelEmulator.Get();
            var r = new Random(3);
            const int n = 1001;
            const double p = 0.3;
            ulong seed = 0x0123_4567_89AB_CDEFUL, step = 4_294_967_301UL;
            uint site = 2, threshold = (uint)Math.Round(p * 16777216.0);
            float scale = (float)(1.0 / (1.0 - p));
            var x = Random(r, n);
            var y = new float[n];
            emu.Launch(DropoutKernels.DropoutForward, 3, 64, y, x, KernelArgument.U64(seed), KernelArgument.U64(step), site, threshold, scale, (long)n);
            var keep = Enumerable.Range(0, n).Select(i => PhiloxContractTests.ContractKeeps(seed, step, site, i, threshold)).ToArray();
            Assert.That(y, Is.EqualTo(Enumerable.Range(0, n).Select(i => keep[i] ? x[i] * scale : 0f).ToArray()));

            var dy = Random(r, n);
            var dx = Random(r, n);   // accumulate = 1: the last layer's gradient already holds TAR
            var expected = Enumerable.Range(0, n).Select(i => dx[i] + (keep[i] ? dy[i] * scale : 0f)).ToArray();
            emu.Launch(DropoutKernels.DropoutBackward, 2, 32, dx, dy, KernelArgument.U64(seed), KernelArgument.U64(step), site, threshold, scale, (long)n, 1);
            Assert.That(dx, Is.EqualTo(expected));

            emu.Launch(DropoutKernels.DropoutBackward, 2, 32, dx, dy, KernelArgument.U64(seed), KernelArgument.U64(step), site, threshold, scale, (long)n, 0);
            Assert.That(dx, Is.EqualTo(Enumerable.Range(0, n).Select(i => keep[i] ? dy[i] * scale : 0f).ToArray()));
        }
    }
}
