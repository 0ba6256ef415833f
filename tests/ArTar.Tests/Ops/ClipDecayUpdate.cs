using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;
using ArTar.Models;
using NUnit.Framework;

// Every test of the ClipDecayUpdate op in one place: the CPU reference, its gradient check, the GPU parity test and the
// kernel under host emulation. Each part belongs to the fixture named (its setup and helpers stay in that fixture's file).

namespace ArTar.Tests
{
    public partial class BackendOpTests
    {
        [TestCase(0.25, true)]
        [TestCase(10.0, false)]
        [TestCase(0.0, false)]
        public void ClipDecayUpdateFollowsDesign1(double clip, bool clips)
        {
            var backend = new CpuBackend<double>();
            const int n = 37;   // a vector remainder
            var w = backend.Allocate(n);
            var g = backend.Allocate(n);
            var ws = Enumerable.Range(0, n).Select(i => Math.Cos(i)).ToArray();
            var gs = Enumerable.Range(0, n).Select(i => 0.3 * Math.Sin(i)).ToArray();
            ws.CopyTo(CpuBackend<double>.Data(w));
            gs.CopyTo(CpuBackend<double>.Data(g));
            var squared = backend.Allocate(1);
            backend.GradientSquaredNorm(g, squared);
            double norm = Math.Sqrt(gs.Sum(x => x * x));
            Assert.That(clip > 0 && norm > clip, Is.EqualTo(clips), "the case exercises what its name says");
            double scale = clips ? clip / norm : 1;
            backend.ClipDecayUpdate(w, g, squared, clip, lr: 20, weightDecay: 1e-7);
            var expected = ws.Select((x, i) => x - 20 * (gs[i] * scale + 1e-7 * x)).ToArray();
            Assert.That(CpuBackend<double>.Data(w).ToArray(), Is.EqualTo(expected).Within(1e-13));
        }
    }
}

namespace ArTar.Tests.Gpu
{
    public partial class CudaOpParityTests
    {
        [Test]
        public void SquaredNormAndClipDecayUpdate()
        {
            const int n = 100_003;
            var w = Random(n, 40); var g = Random(n, 41, 0.01);
            foreach (double clip in new[] { 0.25, 0.0, 1e6 })
            {
                (float[] Norm, float[] W) Run(IBackend b)
                {
                    using var ws = Put(b, w); using var gs = Put(b, g); using var s = b.Allocate(1);
                    b.GradientSquaredNorm(gs, s);
                    b.ClipDecayUpdate(ws, gs, s, clip, 20.0, 1e-7);
                    return (Get(b, s), Get(b, ws));
                }
                var gpu = Run(Gpu);
                var cpu = Run(Cpu);
                AssertClose(gpu.Norm[0], cpu.Norm[0], "‖g‖²");
                AssertClose(gpu.W, cpu.W, $"w after clip {clip}");
                AssertClose(Subtract(gpu.W, w), Subtract(cpu.W, w), $"the update alone, clip {clip}", 1e-3);
            }
        }
    }
}

namespace ArTar.Tests.Cuda.Emulation
{
    public partial class KernelEmulationTests
    {
        [TestCase(4f, 0.25f)]   // ‖g‖ = 2 > clip: scaled by 1/8
        [TestCase(0.01f, 0.25f)]   // below the clip: unscaled
        [TestCase(4f, 0f)]   // clip 0: off
        public void ClipDecayUpdate(float squaredNorm, float clip)
        {
            var emu = KernelEmulator.Get();
            var r = new Random(8);
            const int n = 1000;
            const float lr = 20f, wd = 1e-7f;
            var w = Random(r, n);
            var g = Random(r, n);
            double norm = Math.Sqrt(squaredNorm), scale = clip > 0 && norm > clip ? clip / norm : 1;
            var expected = w.Select((x, i) => x - lr * (g[i] * scale + wd * x)).ToArray();
            emu.Launch(ClipDecayUpdateKernels.ClipDecayUpdate, 2, 64, w, g, new[] { squaredNorm }, clip, lr, wd, (long)n);
            AssertClose(w, expected, 1e-6, 1e-6, "w");
        }
    }
}
