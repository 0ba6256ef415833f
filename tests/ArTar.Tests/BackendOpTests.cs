using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>Values of the non-differentiable ops, the arena and the initialisation.</summary>
public class BackendOpTests
{
    [Test]
    public void ArenaHoldsTheCanonicalTensorsOfDesign2()
    {
        var shape = new ModelShape(CellType.Lstm, Vocab: 10, Hidden: 3, Layers: 2);
        var arena = new CpuBackend<float>().CreateParameters(shape);
        var expected = new (string, int[])[]
        {
            ("encoder.weight", [10, 3]),
            ("rnn.weight_ih_l0", [12, 3]), ("rnn.weight_hh_l0", [12, 3]), ("rnn.bias_ih_l0", [12]), ("rnn.bias_hh_l0", [12]),
            ("rnn.weight_ih_l1", [12, 3]), ("rnn.weight_hh_l1", [12, 3]), ("rnn.bias_ih_l1", [12]), ("rnn.bias_hh_l1", [12]),
            ("decoder.bias", [10]),
        };
        Assert.That(arena.Specs.Select(s => (s.Name, s.Dimensions)), Is.EqualTo(expected));
        Assert.That(arena.Weights.Length, Is.EqualTo(expected.Sum(e => e.Item2.Aggregate(1, (a, d) => a * d))));
        Assert.That(arena.Gradients.Length, Is.EqualTo(arena.Weights.Length));
        Assert.That(new ModelShape(CellType.Gru, 10, 3, 1).Parameters()[1].Dimensions, Is.EqualTo(new[] { 9, 3 }));
        Assert.That(new ModelShape(CellType.Rnn, 10, 3, 1).Parameters()[1].Dimensions, Is.EqualTo(new[] { 3, 3 }));
    }

    [Test]
    public void ReadAndWriteByNameRoundTripAndLandInTheirViews()
    {
        var backend = new CpuBackend<float>();
        var arena = backend.CreateParameters(new ModelShape(CellType.Gru, 5, 2, 2));
        float[] values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];   // rnn.weight_hh_l1 is [6, 2]
        arena.Write("rnn.weight_hh_l1", values);
        var back = new float[12];
        arena.Read("rnn.weight_hh_l1", back);
        Assert.That(back, Is.EqualTo(values));
        var view = new float[12];
        backend.Download(arena.Weight("rnn.weight_hh_l1"), view);
        Assert.That(view, Is.EqualTo(values));
        var all = new float[arena.Weights.Length];
        backend.Download(arena.Weights, all);
        Assert.That(all.Sum(), Is.EqualTo(values.Sum()), "nothing else in the arena was written");
        Assert.Throws<KeyNotFoundException>(() => arena.Read("decoder.weight", new float[10]));
        Assert.Throws<ArgumentException>(() => arena.Write("decoder.bias", new float[4]));
    }

    [Test]
    public void InitialisationFollowsDesign1AndIsAFunctionOfTheSeed()
    {
        var shape = new ModelShape(CellType.Lstm, 200, 25, 2);
        var backend = new CpuBackend<float>();
        var a = backend.CreateParameters(shape);
        var b = backend.CreateParameters(shape);
        var c = backend.CreateParameters(shape);
        ParameterInit.Initialize(a, 42);
        ParameterInit.Initialize(b, 42);
        ParameterInit.Initialize(c, 43);
        float[] Values(IParameterArena p, string name)
        {
            var v = new float[p.Specs.Single(s => s.Name == name).Count];
            p.Read(name, v);
            return v;
        }
        foreach (var spec in shape.Parameters())
        {
            var v = Values(a, spec.Name);
            Assert.That(v, Is.EqualTo(Values(b, spec.Name)), spec.Name);
            float bound = spec.Name switch { "encoder.weight" => 0.1f, "decoder.bias" => 0f, _ => 1 / MathF.Sqrt(25) };
            Assert.That(v.All(x => x >= -bound && x <= bound), spec.Name);
            if (bound > 0)
            {
                Assert.That(v, Is.Not.EqualTo(Values(c, spec.Name)), spec.Name);
                // Uniform on [−b, b]: mean near 0, spread near b/√3.
                double mean = v.Average(), sd = Math.Sqrt(v.Average(x => (x - mean) * (x - mean)));
                Assert.That(mean, Is.EqualTo(0).Within(6 * bound / Math.Sqrt(3 * v.Length)), spec.Name);
                Assert.That(sd, Is.EqualTo(bound / Math.Sqrt(3)).Within(0.1 * bound), spec.Name);
            }
        }
    }

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

    [Test]
    public void TiedSoftmaxCrossEntropyOfUniformLogitsIsLogV()
    {
        // o = 0 and c = 0: every word equally likely, CE = log V exactly, whatever E is.
        var backend = new CpuBackend<double>();
        var e = backend.Allocate(11 * 3);
        GradientCheck.Fill(e, new Random(1));
        var targets = backend.AllocateTokens(4);
        backend.UploadTokens([0, 10, 5, 5], targets);
        double ce = backend.TiedSoftmaxCrossEntropy(e, backend.Allocate(11), backend.Allocate(12), targets, backend.Allocate(44), null, null, null, 4);
        Assert.That(ce, Is.EqualTo(Math.Log(11)).Within(1e-15));
    }

    [Test]
    public void TiedSoftmaxCrossEntropyIsStableForLargeLogits()
    {
        var backend = new CpuBackend<float>();
        var e = backend.Allocate(2);
        backend.Upload([1000f, -1000f], e);   // V=2, H=1
        var o = backend.Allocate(1);
        backend.Upload([1f], o);
        var targets = backend.AllocateTokens(1);
        backend.UploadTokens([1], targets);
        double ce = backend.TiedSoftmaxCrossEntropy(e, backend.Allocate(2), o, targets, backend.Allocate(2), null, null, null, 1);
        Assert.That(ce, Is.EqualTo(2000).Within(1e-3));
    }

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

    [Test]
    public void TokenOutsideTheVocabularyIsRefusedWithItsId()
    {
        var backend = new CpuBackend<float>();
        var tokens = backend.AllocateTokens(2);
        backend.UploadTokens([1, 7], tokens);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => backend.EmbeddingForward(backend.Allocate(12), tokens, backend.Allocate(6), 2, 3));
        Assert.That(ex!.Message, Does.Contain("token id 7"));
    }

    [Test]
    public void TensorsOfAnotherBackendAreRefused()
    {
        var f = new CpuBackend<float>();
        var d = new CpuBackend<double>();
        Assert.Throws<ArgumentException>(() => f.Zero(d.Allocate(3)));
        Assert.Throws<ArgumentException>(() => f.CreateRnnReserve(new ModelShape(CellType.Rnn, 3, 2, 1), 0, 0, 1));
    }
}
