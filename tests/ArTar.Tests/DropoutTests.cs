using ArTar.Backends;
using ArTar.Cpu;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>Philox4x32-10 known answers and the dropout-mask mapping shared with the GPU (docs/backend.md).</summary>
public class DropoutTests
{
    // Random123 kat_vectors, "philox4x32 10" lines: counter (4 words), key (2 words) → output (4 words).
    [TestCase(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void PhiloxMatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint x0, uint x1, uint x2, uint x3)
    {
        Assert.That(Philox.Generate(c0, c1, c2, c3, k0, k1), Is.EqualTo((x0, x1, x2, x3)));
    }

    [TestCase(0u, 1)]
    [TestCase(5u, 37)]
    [TestCase(0xFFFF_FFFAu, 20)]   // the block counter wraps at 2^32
    public void FillGivesTheWordsOfGenerate(uint first, int blocks)
    {
        var words = new uint[4 * blocks];
        Philox.Fill(first, 0x85a308d3u, 7u, 3u, 0xa4093822u, 0x299f31d0u, words);
        for (int b = 0; b < blocks; b++)
        {
            var block = Philox.Generate(unchecked(first + (uint)b), 0x85a308d3u, 7u, 3u, 0xa4093822u, 0x299f31d0u);
            Assert.That((words[4 * b], words[4 * b + 1], words[4 * b + 2], words[4 * b + 3]), Is.EqualTo(block), $"block {b}");
        }
    }

    [Test]
    public void MaskFollowsTheDocumentedCounterMapping()
    {
        // Counter (i>>2, step lo, step hi, site), key (seed lo, seed hi), word i&3, keep iff word>>8 ≥ round(p·2^24).
        const ulong seed = 0x0123456789ABCDEFUL;
        const long step = 0x1_0000_0005L;
        var mask = new DropoutMask(0.3, seed, step, 2);
        Assert.That(mask.Threshold, Is.EqualTo((uint)Math.Round(0.3 * 16777216.0)));
        for (long i = 0; i < 64; i++)
        {
            var block = Philox.Generate((uint)(i >> 2), 5u, 1u, 2u, 0x89ABCDEFu, 0x01234567u);
            uint word = (i & 3) switch { 0 => block.X0, 1 => block.X1, 2 => block.X2, _ => block.X3 };
            Assert.That(mask.Keep(i), Is.EqualTo((word >> 8) >= mask.Threshold), $"element {i}");
        }
    }

    [Test]
    public void ForwardScalesKeptElementsAndBackwardUsesTheSameMask()
    {
        var backend = new CpuBackend<double>();
        const int n = 40_003;   // not a multiple of 4: the last block is partial
        var x = backend.Allocate(n);
        var y = backend.Allocate(n);
        var xs = CpuBackend<double>.Data(x);
        for (int i = 0; i < n; i++) xs[i] = 1.0 + i % 7;
        var mask = new DropoutMask(0.4, 42, 7, 1);
        backend.DropoutForward(x, y, n, mask);
        var ys = CpuBackend<double>.Data(y);
        int kept = 0;
        for (int i = 0; i < n; i++)
        {
            bool keep = mask.Keep(i);
            kept += keep ? 1 : 0;
            Assert.That(ys[i], Is.EqualTo(keep ? xs[i] * (1.0 / 0.6) : 0.0), $"element {i}");
        }
        // 40k Bernoulli(0.6) draws: the kept fraction is within 5 standard deviations (≈ 0.012) of 0.6.
        Assert.That(kept / (double)n, Is.EqualTo(0.6).Within(0.012));

        var dx = backend.Allocate(n);
        CpuBackend<double>.Data(dx).Fill(1.0);
        backend.DropoutBackward(x, dx, n, mask, accumulate: true);
        var dxs = CpuBackend<double>.Data(dx);
        for (int i = 0; i < n; i += 97)
            Assert.That(dxs[i], Is.EqualTo(1.0 + (mask.Keep(i) ? xs[i] / 0.6 : 0.0)).Within(1e-12), $"element {i}");
    }

    [Test]
    public void FloatDropoutKeepsExactlyTheMaskedElements()
    {
        // The float path selects whole vectors of elements at once; each element must still follow its own word.
        var backend = new CpuBackend<float>();
        const int n = 5_003;
        var source = Enumerable.Range(0, n).Select(i => (float)(i % 11) - 5f).ToArray();
        var x = backend.Allocate(n);
        var y = backend.Allocate(n);
        backend.Upload(source, x);
        var mask = new DropoutMask(0.5, 1111, 12, 2);
        backend.DropoutForward(x, y, n, mask);
        var dx = backend.Allocate(n);
        backend.Upload(Enumerable.Repeat(1f, n).ToArray(), dx);
        backend.DropoutBackward(x, dx, n, mask, accumulate: true);
        var ys = CpuBackend<float>.Data(y);
        var dxs = CpuBackend<float>.Data(dx);
        float scale = (float)(1.0 / 0.5);
        for (int i = 0; i < n; i++)
        {
            float v = mask.Keep(i) ? source[i] * scale : 0f;
            Assert.That(ys[i], Is.EqualTo(v), $"forward, element {i}");
            Assert.That(dxs[i], Is.EqualTo(1f + v), $"backward, element {i}");
        }
    }

    [Test]
    public void MasksDifferBySiteStepAndSeedAndRepeatForTheSameKey()
    {
        var a = new DropoutMask(0.5, 1, 3, 0);
        int Differences(DropoutMask b) => Enumerable.Range(0, 1000).Count(i => a.Keep(i) != b.Keep(i));
        Assert.Multiple(() =>
        {
            Assert.That(Differences(a with { }), Is.Zero);
            Assert.That(Differences(a with { Site = 1 }), Is.GreaterThan(350));
            Assert.That(Differences(a with { Step = 4 }), Is.GreaterThan(350));
            Assert.That(Differences(a with { Seed = 2 }), Is.GreaterThan(350));
        });
    }

    [Test]
    public void ZeroProbabilityIsTheIdentityAndFloatScaleIsRoundedOnce()
    {
        var backend = new CpuBackend<float>();
        var x = backend.Allocate(10);
        var y = backend.Allocate(10);
        backend.Upload([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], x);
        backend.DropoutForward(x, y, 10, new DropoutMask(0.0, 9, 9, 0));
        Assert.That(CpuBackend<float>.Data(y).ToArray(), Is.EqualTo(CpuBackend<float>.Data(x).ToArray()));

        var mask = new DropoutMask(0.65, 9, 9, 0);
        backend.DropoutForward(x, y, 10, mask);
        float scale = (float)(1.0 / (1.0 - 0.65));
        for (int i = 0; i < 10; i++)
            Assert.That(CpuBackend<float>.Data(y)[i], Is.EqualTo(mask.Keep(i) ? (i + 1) * scale : 0f));
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.DropoutForward(x, y, 10, new DropoutMask(1.0, 0, 0, 0)));
    }
}
