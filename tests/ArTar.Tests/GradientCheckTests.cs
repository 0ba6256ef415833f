using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>
/// DESIGN §6: central differences in float64 against the analytic gradient, relative error &lt; 1e-6, for every operation
/// on its own and for the full loss CE + AR + TAR of small LSTM, GRU and tanh-RNN models.
/// </summary>
public class GradientCheckTests
{
    private const int V = 7, H = 4, B = 2, T = 3;

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

    [TestCase(CellType.Lstm)]
    [TestCase(CellType.Gru)]
    [TestCase(CellType.Rnn)]
    public void RnnLayerBackward(CellType cell)
    {
        var backend = new CpuBackend<double>();
        var random = new Random(3);
        var shape = new ModelShape(cell, V, H, 2);
        var arena = (CpuParameterArena<double>)backend.CreateParameters(shape);
        GradientCheck.Fill(arena.Weights, random, 0.6);
        const int layer = 1;
        bool lstm = cell == CellType.Lstm;
        int rows = T * B;
        var x = backend.Allocate(rows * H);
        var h0 = backend.Allocate(B * H);
        var c0 = lstm ? backend.Allocate(B * H) : null;
        GradientCheck.Fill(x, random);
        GradientCheck.Fill(h0, random, 0.8);
        if (c0 is not null) GradientCheck.Fill(c0, random, 0.8);
        var y = backend.Allocate(rows * H);
        var hT = backend.Allocate(B * H);
        var cT = lstm ? backend.Allocate(B * H) : null;
        var reserve = backend.CreateRnnReserve(shape, layer, T, B);
        var r = backend.Allocate(rows * H);
        GradientCheck.Fill(r, random);
        double Loss()
        {
            backend.RnnForward(arena, layer, x, h0, c0, y, hT, cT, reserve, T, B, training: true);
            return GradientCheck.Project(y, r, rows * H);
        }

        Loss();
        var dx = backend.Allocate(rows * H);
        var dh0 = backend.Allocate(B * H);
        var dc0 = lstm ? backend.Allocate(B * H) : null;
        backend.RnnBackward(arena, layer, r, dx, dh0, dc0, reserve);

        GradientCheck.Assert("x", x, GradientCheck.Copy(dx), Loss);
        GradientCheck.Assert("h0", h0, GradientCheck.Copy(dh0), Loss);
        if (c0 is not null) GradientCheck.Assert("c0", c0, GradientCheck.Copy(dc0!), Loss);
        foreach (var name in new[] { ModelShape.WeightIh(layer), ModelShape.WeightHh(layer), ModelShape.BiasIh(layer), ModelShape.BiasHh(layer) })
            GradientCheck.Assert(name, arena.Weight(name), arena.Gradient(name).Span.ToArray(), Loss);
        // Layer 0 was not touched by the backward of layer 1.
        Assert.That(arena.Gradient(ModelShape.WeightIh(0)).Span.ToArray(), Is.All.Zero);
    }

    [Test]
    public void RnnBackwardAccumulatesWeightGradients()
    {
        var backend = new CpuBackend<double>();
        var random = new Random(4);
        var shape = new ModelShape(CellType.Gru, V, H, 1);
        var arena = (CpuParameterArena<double>)backend.CreateParameters(shape);
        GradientCheck.Fill(arena.Weights, random, 0.6);
        var x = backend.Allocate(T * B * H);
        GradientCheck.Fill(x, random);
        var h0 = backend.Allocate(B * H);
        var y = backend.Allocate(T * B * H);
        var hT = backend.Allocate(B * H);
        var dy = backend.Allocate(T * B * H);
        GradientCheck.Fill(dy, random);
        var dx = backend.Allocate(T * B * H);
        var dh0 = backend.Allocate(B * H);
        var reserve = backend.CreateRnnReserve(shape, 0, T, B);
        backend.RnnForward(arena, 0, x, h0, null, y, hT, null, reserve, T, B, true);
        backend.RnnBackward(arena, 0, dy, dx, dh0, null, reserve);
        var once = arena.Gradients.Span.ToArray();
        var dxOnce = GradientCheck.Copy(dx);
        backend.RnnBackward(arena, 0, dy, dx, dh0, null, reserve);
        var twice = arena.Gradients.Span.ToArray();
        Assert.That(twice, Is.EqualTo(once.Select(g => 2 * g)).Within(1e-12));
        Assert.That(GradientCheck.Copy(dx), Is.EqualTo(dxOnce), "dx is overwritten, not accumulated");
    }

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

    [Test]
    public void TiedSoftmaxCrossEntropyGradient()
    {
        var backend = new CpuBackend<double>();
        var random = new Random(6);
        int rows = T * B;
        var e = backend.Allocate(V * H);
        var c = backend.Allocate(V);
        var o = backend.Allocate(rows * H);
        GradientCheck.Fill(e, random);
        GradientCheck.Fill(c, random);
        GradientCheck.Fill(o, random, 2.0);
        var targets = backend.AllocateTokens(rows);
        backend.UploadTokens([0, 6, 2, 2, 5, 1], targets);
        var logits = backend.Allocate(rows * V);
        var dO = backend.Allocate(rows * H);
        var dE = backend.Allocate(V * H);
        var dc = backend.Allocate(V);
        backend.TiedSoftmaxCrossEntropy(e, c, o, targets, logits, dO, dE, dc, rows);
        double Loss() => backend.TiedSoftmaxCrossEntropy(e, c, o, targets, logits, null, null, null, rows);
        GradientCheck.Assert("o", o, GradientCheck.Copy(dO), Loss);
        GradientCheck.Assert("encoder.weight (as decoder)", e, GradientCheck.Copy(dE), Loss);
        GradientCheck.Assert("decoder.bias", c, GradientCheck.Copy(dc), Loss);
    }

    [TestCase(CellType.Lstm)]
    [TestCase(CellType.Gru)]
    [TestCase(CellType.Rnn)]
    public void FullLossOfTwoLayerModel(CellType cell)
    {
        var m = new SmallModel(cell);
        // The masks are fixed (same seed, step, site) and each of them drops some elements and keeps others.
        int n = SmallModel.Steps * SmallModel.Batch * SmallModel.Hidden;
        for (int site = 0; site <= SmallModel.Layers; site++)
        {
            var mask = new DropoutMask(site is 0 or SmallModel.Layers ? SmallModel.Training.Dropout : SmallModel.Training.DropoutH,
                SmallModel.Training.Seed, SmallModel.TrainingStep, site);
            Assert.That(Enumerable.Range(0, n).Count(i => mask.Keep(i)), Is.InRange(1, n - 1), $"site {site}");
        }
        var loss0 = m.Forward(SmallModel.Training);
        m.Model.Backward();
        Assert.That(loss0.Ar, Is.GreaterThan(0));
        Assert.That(loss0.Tar, Is.GreaterThan(0));
        var analytic = m.Parameters.Specs.ToDictionary(s => s.Name, s => m.Parameters.Gradient(s.Name).Span.ToArray());
        var dh0 = Enumerable.Range(0, SmallModel.Layers).Select(l => GradientCheck.Copy(m.Model.HiddenStateGradient(l))).ToArray();
        var dc0 = Enumerable.Range(0, SmallModel.Layers).Select(l => m.Model.CellStateGradient(l) is { } t ? GradientCheck.Copy(t) : null).ToArray();

        double Loss() => m.Forward(SmallModel.Training).Total;
        Assert.Multiple(() =>
        {
            foreach (var spec in m.Parameters.Specs)
                GradientCheck.Assert(spec.Name, m.Parameters.Weight(spec.Name), analytic[spec.Name], Loss);
            for (int l = 0; l < SmallModel.Layers; l++)
            {
                GradientCheck.Assert($"carried h, layer {l}", m.H0[l], dh0[l], Loss);
                if (m.C0[l] is { } c) GradientCheck.Assert($"carried c, layer {l}", c, dc0[l]!, Loss);
            }
        });
    }
}
