using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;
using ArTar.Models;
using NUnit.Framework;

// Every test of the Embedding op in one place: the CPU reference, its gradient check, the GPU parity test and the
// kernel under host emulation. Each part belongs to the fixture named (its setup and helpers stay in that fixture's file).

namespace ArTar.Tests
{
    public partial class GradientCheckTests
    {
        [Test]
        public void EmbeddingBackward()
        {
            var backend = new CpuBackend<double>();
            var random = new Random(1);
            var e = backend.Allocate(V * H);
            GradientCheck.Fill(e, random);
            var tokens = backend.AllocateTokens(T * B);
            backend.UploadTokens([3, 1, 3, 0, 6, 3], tokens);   // token 3 three times: rows accumulate
            var y = backend.Allocate(T * B * H);
            var r = backend.Allocate(T * B * H);
            GradientCheck.Fill(r, random);
            var de = backend.Allocate(V * H);
            backend.EmbeddingBackward(r, tokens, de, T * B, H);
            GradientCheck.Assert("encoder.weight", e, GradientCheck.Copy(de), () =>
            {
                backend.EmbeddingForward(e, tokens, y, T * B, H);
                return GradientCheck.Project(y, r, T * B * H);
            });
        }
    }
}

namespace ArTar.Tests.Gpu
{
    public partial class CudaOpParityTests
    {
        [Test]
        public void EmbeddingForwardAndBackward()
        {
            const int vocab = 50, hidden = 37, rows = 40;
            var table = Random(vocab * hidden, 1);
            var ids = RandomTokens(rows, 12, 2);   // few distinct ids: many repeats for the backward
            var dy = Random(rows * hidden, 3);
            var dE0 = Random(vocab * hidden, 4);
            float[] Run(IBackend b, out float[] dE)
            {
                using var e = Put(b, table); using var x = PutTokens(b, ids); using var y = b.Allocate(rows * hidden);
                using var g = Put(b, dy); using var de = Put(b, dE0);
                b.EmbeddingForward(e, x, y, rows, hidden);
                b.EmbeddingBackward(g, x, de, rows, hidden);
                dE = Get(b, de);
                return Get(b, y);
            }
            var gy = Run(Gpu, out var gdE);
            var cy = Run(Cpu, out var cdE);
            Assert.That(gy, Is.EqualTo(cy), "a lookup is a copy");
            AssertClose(gdE, cdE, "dE");
        }
    }
}

namespace ArTar.Tests.Cuda.Emulation
{
    public partial class KernelEmulationTests
    {
        [Test]
        public void EmbeddingForwardGathersRows()
        {
            var emu = KernelEmulator.Get();
            var r = new Random(1);
            int vocab = 11, hidden = 37, rows = 13;
            var weight = Random(r, vocab * hidden);
            var tokens = Enumerable.Range(0, rows).Select(_ => r.Next(vocab)).ToArray();
            var e = new float[rows * hidden];
            emu.Launch(EmbeddingKernels.EmbeddingForward, 5, 32, e, weight, tokens, rows, hidden);   // grid < rows: grid-stride
            for (int t = 0; t < rows; t++)
                Assert.That(e.AsSpan(t * hidden, hidden).ToArray(), Is.EqualTo(weight.AsSpan(tokens[t] * hidden, hidden).ToArray()), $"row {t}");
        }

        [TestCase(20)]
        [TestCase(7)]
        public void EmbeddingBackwardAddsInTokenOrderExactly(int grid)
        {
            var emu = KernelEmulator.Get();
            var r = new Random(2);
            int vocab = 5, hidden = 70, rows = 20;
            var tokens = Enumerable.Range(0, rows).Select(_ => r.Next(vocab)).ToArray();
            var gradE = Random(r, rows * hidden);
            var gradWeight = Random(r, vocab * hidden);   // already holds the decoder's part (tied weights)
            var expected = (float[])gradWeight.Clone();
            for (int t = 0; t < rows; t++)
                for (int h = 0; h < hidden; h++) expected[tokens[t] * hidden + h] += gradE[t * hidden + h];
            emu.Launch(EmbeddingKernels.EmbeddingBackward, grid, 64, gradWeight, gradE, tokens, rows, hidden);
            Assert.That(gradWeight, Is.EqualTo(expected), "the sequential CPU loop's float results, bit for bit");
        }
    }
}
