using ArTar.Backends;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Gpu;

/// <summary>Each CUDA op against CpuBackend&lt;double&gt; on fresh random inputs (DESIGN §6): relative error &lt; 1e-4.</summary>
public class CudaOpParityTests : GpuTestBase
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

    [TestCase(CellType.Lstm, 0)]
    [TestCase(CellType.Lstm, 1)]
    [TestCase(CellType.Gru, 0)]
    [TestCase(CellType.Gru, 1)]
    [TestCase(CellType.Rnn, 1)]
    public void RnnLayerForwardAndBackward(CellType cell, int layer)
    {
        const int hidden = 16, batch = 3, maxSteps = 7;
        var shape = new ModelShape(cell, 10, hidden, 2);
        bool lstm = cell == CellType.Lstm;
        var specs = shape.Parameters();
        var weights = specs.Select((s, i) => (s.Name, Values: Random((int)s.Count, 100 + i, 0.4))).ToDictionary(p => p.Name, p => p.Values);
        foreach (int steps in new[] { 5, 7, 3 })
        {
            int n = steps * batch * hidden, bh = batch * hidden;
            var x = Random(n, 10 + steps); var h0 = Random(bh, 11); var c0 = Random(bh, 12); var dy = Random(n, 13 + steps);
            Dictionary<string, float[]> Run(IBackend b)
            {
                using var arena = b.CreateParameters(shape);
                foreach (var (name, values) in weights) arena.Write(name, values);
                using var reserve = b.CreateRnnReserve(shape, layer, maxSteps, batch);
                using var xs = Put(b, x); using var h = Put(b, h0); using var c = Put(b, c0);
                using var y = b.Allocate((long)maxSteps * batch * hidden); using var hT = b.Allocate(bh); using var cT = b.Allocate(bh);
                using var dys = Put(b, dy); using var dx = b.Allocate((long)maxSteps * batch * hidden);
                using var dh0 = b.Allocate(bh); using var dc0 = b.Allocate(bh);
                using var yEval = b.Allocate((long)maxSteps * batch * hidden); using var hEval = b.Allocate(bh); using var cEval = b.Allocate(bh);
                // A window of another length first: the reserve's descriptors and device lengths must follow the change.
                using var xLong = b.Allocate((long)maxSteps * batch * hidden);
                b.RnnForward(arena, layer, xLong, h, lstm ? c : null, yEval, hEval, lstm ? cEval : null, reserve, steps == maxSteps ? 2 : maxSteps, batch, training: true);
                b.RnnForward(arena, layer, xs, h, lstm ? c : null, yEval, hEval, lstm ? cEval : null, reserve, steps, batch, training: false);
                b.RnnForward(arena, layer, xs, h, lstm ? c : null, y, hT, lstm ? cT : null, reserve, steps, batch, training: true);
                b.RnnBackward(arena, layer, dys, dx, dh0, lstm ? dc0 : null, reserve);
                var result = new Dictionary<string, float[]>
                {
                    ["y"] = Get(b, y, n), ["hT"] = Get(b, hT), ["yEval"] = Get(b, yEval, n), ["dx"] = Get(b, dx, n), ["dh0"] = Get(b, dh0),
                };
                if (lstm) { result["cT"] = Get(b, cT); result["dc0"] = Get(b, dc0); }
                foreach (var spec in shape.Parameters()) result["grad " + spec.Name] = GradientOf(b, arena, spec.Name);
                foreach (var spec in shape.Parameters())
                {
                    var back = new float[spec.Count];
                    arena.Read(spec.Name, back);
                    result["read " + spec.Name] = back;
                }
                return result;
            }
            var gpu = Run(Gpu);
            var cpu = Run(Cpu);
            foreach (var (key, expected) in cpu)
            {
                string what = $"{cell} layer {layer} steps {steps}: {key}";
                if (key.StartsWith("read ")) Assert.That(gpu[key], Is.EqualTo(weights[key[5..]]), what + " round trip");
                else if (expected.All(v => v == 0)) Assert.That(gpu[key].All(v => v == 0), Is.True, what + " (another layer's gradient stays zero)");
                else AssertClose(gpu[key], expected, what);
            }
        }
    }

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

    [TestCase(300)]
    [TestCase(5000)]   // the 1024-thread launch
    public void TiedSoftmaxCrossEntropyLossAndGradients(int vocab)
    {
        const int hidden = 24, rows = 15;
        var e = Random(vocab * hidden, 30, 0.5); var c = Random(vocab, 31, 0.5); var o = Random(rows * hidden, 32);
        var y = RandomTokens(rows, vocab, 33); var dE0 = Random(vocab * hidden, 34); var dc0 = Random(vocab, 35);
        (double Loss, double Eval, float[] DO, float[] DE, float[] Dc) Run(IBackend b)
        {
            using var es = Put(b, e); using var cs = Put(b, c); using var os = Put(b, o); using var ys = PutTokens(b, y);
            using var z = b.Allocate((long)rows * vocab); using var dO = Put(b, Random(rows * hidden, 36));
            using var dE = Put(b, dE0); using var dc = Put(b, dc0);
            double eval = b.TiedSoftmaxCrossEntropy(es, cs, os, ys, z, null, null, null, rows);
            double loss = b.TiedSoftmaxCrossEntropy(es, cs, os, ys, z, dO, dE, dc, rows);
            return (loss, eval, Get(b, dO), Get(b, dE), Get(b, dc));
        }
        var gpu = Run(Gpu);
        var cpu = Run(Cpu);
        AssertClose(gpu.Loss, cpu.Loss, "CE");
        AssertClose(gpu.Eval, cpu.Eval, "CE without gradients");
        AssertClose(gpu.DO, cpu.DO, "dO");
        AssertClose(gpu.DE, cpu.DE, "dE (accumulated)");
        AssertClose(Subtract(gpu.DE, dE0), Subtract(cpu.DE, dE0), "dE added", 1e-3);
        AssertClose(gpu.Dc, cpu.Dc, "dc (accumulated)");
        AssertClose(Subtract(gpu.Dc, dc0), Subtract(cpu.Dc, dc0), "dc added", 1e-3);
    }

    [Test]
    public void OutOfVocabularyTargetsAreRefusedOnTheHost()
    {
        using var e = Gpu.Allocate(4 * 2); using var c = Gpu.Allocate(4); using var o = Gpu.Allocate(2 * 2);
        using var y = PutTokens(Gpu, [1, 4]); using var z = Gpu.Allocate(2 * 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gpu.TiedSoftmaxCrossEntropy(e, c, o, y, z, null, null, null, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gpu.EmbeddingForward(e, y, o, 2, 2));
    }

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

    private static float[] Subtract(float[] a, float[] b) => a.Zip(b, (x, y) => x - y).ToArray();
}
