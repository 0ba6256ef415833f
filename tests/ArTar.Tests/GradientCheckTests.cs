using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>
/// docs/design.md §6: central differences in float64 against the analytic gradient, relative error &lt; 1e-6, for every operation
/// on its own and for the full loss CE + AR + TAR of small LSTM, GRU and tanh-RNN models.
/// </summary>
public partial class GradientCheckTests
{
    private const int V = 7, H = 4, B = 2, T = 3;

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
