using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;
using ArTar.Models;
using NUnit.Framework;

// Every test of the ArTarRegularization op in one place: the CPU reference, its gradient check, the GPU parity test and the
// kernel under host emulation. Each part belongs to the fixture named (its setup and helpers stay in that fixture's file).

namespace ArTar.Tests
{
    public partial class BackendOpTests
    {
        [Test]
        public void TarIsZeroForAOneStepWindow()
        {
            var backend = new CpuBackend<double>();
            var o = backend.Allocate(6);
            var h = backend.Allocate(6);
            GradientCheck.Fill(o, new Random(1));
            GradientCheck.Fill(h, new Random(2));
            var loss = backend.ArTarRegularization(o, h, null, null, 1, 2, 3, 2, 3);
            Assert.That(loss.Tar, Is.Zero);
            Assert.That(loss.Ar, Is.EqualTo(2 * GradientCheck.Project(o, o, 6) / 6).Within(1e-15));
        }
    }
}

namespace ArTar.Tests
{
    public partial class GradientCheckTests
    {
        [Test]
        public void ArTarRegularizationGradient()
        {
            var backend = new CpuBackend<double>();
            var random = new Random(5);
            int n = T * B * H;
            var o = backend.Allocate(n);
            var h = backend.Allocate(n);
            GradientCheck.Fill(o, random);
            GradientCheck.Fill(h, random);
            var dO = backend.Allocate(n);
            var dH = backend.Allocate(n);
            backend.ArTarRegularization(o, h, dO, dH, T, B, H, 2.0, 1.5);
            double Loss()
            {
                var loss = backend.ArTarRegularization(o, h, null, null, T, B, H, 2.0, 1.5);
                return loss.Ar + loss.Tar;
            }
            GradientCheck.Assert("o", o, GradientCheck.Copy(dO), Loss);
            GradientCheck.Assert("h", h, GradientCheck.Copy(dH), Loss);
        }
    }
}

namespace ArTar.Tests.Gpu
{
    public partial class CudaOpParityTests
    {
        [TestCase(6, 2.0, 1.0)]
        [TestCase(1, 2.0, 1.0)]
        [TestCase(4, 0.0, 3.0)]
        public void ArTarLossAndGradients(int steps, double alpha, double beta)
        {
            const int batch = 3, hidden = 10;
            int n = steps * batch * hidden;
            var o = Random(n, 20); var h = Random(n, 21); var dO0 = Random(n, 22); var dH0 = Random(n, 23);
            (ArTarLoss Loss, float[] DO, float[] DH) Run(IBackend b)
            {
                using var os = Put(b, o); using var hs = Put(b, h); using var dO = Put(b, dO0); using var dH = Put(b, dH0);
                var loss = b.ArTarRegularization(os, hs, dO, dH, steps, batch, hidden, alpha, beta);
                return (loss, Get(b, dO), Get(b, dH));
            }
            var gpu = Run(Gpu);
            var cpu = Run(Cpu);
            if (alpha != 0) AssertClose(gpu.Loss.Ar, cpu.Loss.Ar, "AR"); else Assert.That(gpu.Loss.Ar, Is.Zero);
            if (steps > 1) AssertClose(gpu.Loss.Tar, cpu.Loss.Tar, "TAR"); else Assert.That(gpu.Loss.Tar, Is.Zero);
            AssertClose(gpu.DO, cpu.DO, "dO");
            AssertClose(gpu.DH, cpu.DH, "dH");
            AssertClose(Subtract(gpu.DO, dO0).Concat(Subtract(gpu.DH, dH0)).ToArray(),
                Subtract(cpu.DO, dO0).Concat(Subtract(cpu.DH, dH0)).ToArray(), "the added gradients alone", 1e-3);
        }
    }
}

namespace ArTar.Tests.Cuda.Emulation
{
    public partial class KernelEmulationTests
    {
        [Test]
        public void ArTarLossesAndGradients()
        {
            var emu = KernelEmulator.Get();
            var r = new Random(4);
            int steps = 6, batch = 3, hidden = 10, stepSize = batch * hidden, n = steps * stepSize, grid = 3;
            double alpha = 2, beta = 1;
            float arCoef = (float)(alpha / n), tarCoef = (float)(beta / ((steps - 1) * stepSize));
            var o = Random(r, n);
            var h = Random(r, n);
            var gradO = Random(r, n, 0.01);
            var gradH = Random(r, n, 0.01);
            var expectedO = gradO.Select((g, i) => g + 2.0 * arCoef * o[i]).ToArray();
            var expectedH = gradH.Select((g, i) =>
            {
                double d = 0;
                if (i >= stepSize) d += h[i] - h[i - stepSize];
                if (i + stepSize < n) d -= h[i + stepSize] - h[i];
                return g + 2.0 * tarCoef * d;
            }).ToArray();
            double ar = alpha * o.Average(v => (double)v * v);
            double tar = beta * Enumerable.Range(0, n - stepSize).Average(i => Math.Pow(h[i + stepSize] - h[i], 2));

            var partials = new float[2 * grid];
            emu.Launch(ArTarRegularizationKernels.ArTarForwardBackward, grid, 64, partials, gradO, gradH, o, h, arCoef, tarCoef, steps, (long)stepSize);
            var loss = new float[2];
            emu.Launch(ArTarRegularizationKernels.ArTarFinalize, 1, 64, loss, partials, grid, arCoef, tarCoef);

            AssertClose(loss, [ar, tar], 1e-5, 0, "loss");
            AssertClose(gradO, expectedO, 1e-5, 1e-8, "grad_o");
            AssertClose(gradH, expectedH, 1e-5, 1e-8, "grad_h");
        }
    }
}
