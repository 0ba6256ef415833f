using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;
using ArTar.Models;
using NUnit.Framework;

// Every test of the GradientSquaredNorm op in one place: the CPU reference, its gradient check, the GPU parity test and the
// kernel under host emulation. Each part belongs to the fixture named (its setup and helpers stay in that fixture's file).

namespace ArTar.Tests
{
    public partial class BackendOpTests
    {
        [Test]
        public void GradientSquaredNormIsTheSumOfSquares()
        {
            var backend = new CpuBackend<float>();
            var g = backend.Allocate(10_001);
            var values = Enumerable.Range(0, 10_001).Select(i => (float)Math.Sin(i)).ToArray();
            backend.Upload(values, g);
            var squared = backend.Allocate(1);
            backend.GradientSquaredNorm(g, squared);
            double expected = values.Sum(v => (double)v * v);
            var result = new float[1];
            backend.Download(squared, result);
            Assert.That(result[0], Is.EqualTo(expected).Within(1e-6 * expected));
        }

        [Test]
        public void NormAndUpdateOfALargeArenaDoNotDependOnTheSplit()
        {
            // Large enough to be split over the cores: the norm must equal the one-thread chunk-by-chunk sum exactly,
            // the update the element-by-element formula exactly.
            var backend = new CpuBackend<float>();
            const int n = (1 << 20) + 4099;
            var gs = Enumerable.Range(0, n).Select(i => (float)Math.Sin(0.37 * i)).ToArray();
            var ws = Enumerable.Range(0, n).Select(i => (float)Math.Cos(0.11 * i)).ToArray();
            var g = backend.Allocate(n);
            var w = backend.Allocate(n);
            backend.Upload(gs, g);
            backend.Upload(ws, w);
            var squared = backend.Allocate(1);
            backend.GradientSquaredNorm(g, squared);
            double expected = 0;
            for (int i = 0; i < n; i += 4096)
                expected += System.Numerics.Tensors.TensorPrimitives.SumOfSquares(gs.AsSpan(i, Math.Min(4096, n - i)));
            float norm2 = CpuBackend<float>.Data(squared)[0];
            Assert.That(norm2, Is.EqualTo((float)expected));
            backend.ClipDecayUpdate(w, g, squared, 0.25, lr: 20, weightDecay: 1e-7);
            float scale = 0.25f / MathF.Sqrt(norm2), rate = 20f, decay = 1e-7f;
            var after = CpuBackend<float>.Data(w);
            for (int i = 0; i < n; i++)
                if (after[i] != ws[i] - rate * (gs[i] * scale + decay * ws[i])) Assert.Fail($"element {i}: {after[i]}");
        }
    }
}

namespace ArTar.Tests.Cuda.Emulation
{
    public partial class KernelEmulationTests
    {
        [Test]
        public void SquaredNormInTwoStages()
        {
            var emu = KernelEmulator.Get();
            var r = new Random(7);
            const int n = 10007, grid = 5;
            var g = Random(r, n);
            var partials = new float[grid];
            emu.Launch(GradientSquaredNormKernels.SquaredNormPartials, grid, 64, partials, g, (long)n);
            var squared = new float[1];
            emu.Launch(GradientSquaredNormKernels.SquaredNormFinalize, 1, 32, squared, partials, grid);
            AssertClose(squared, [g.Sum(v => (double)v * v)], 1e-5, 0, "‖g‖²");
        }
    }
}
