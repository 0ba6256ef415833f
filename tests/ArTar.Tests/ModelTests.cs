using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>
/// The model against docs/design.md §1 computed independently (<see cref="ReferenceModel"/>), and the mistakes it must not make:
/// each "would fail if" test first shows that the mistaken loss differs from the right one, then that the model gives the right one.
/// </summary>
public class ModelTests
{
    private const double Tight = 1e-12;

    private static IEnumerable<CellType> Cells => [CellType.Lstm, CellType.Gru, CellType.Rnn];

    [TestCaseSource(nameof(Cells))]
    public void TrainingLossMatchesTheEquations(CellType cell)
    {
        var m = new SmallModel(cell);
        var loss = m.Forward(SmallModel.Training);
        var reference = m.Reference(SmallModel.Training);
        Assert.Multiple(() =>
        {
            Assert.That(loss.CrossEntropy, Is.EqualTo(reference.CrossEntropy).Within(Tight));
            Assert.That(loss.Ar, Is.EqualTo(reference.Ar).Within(Tight));
            Assert.That(loss.Tar, Is.EqualTo(reference.Tar).Within(Tight));
        });
    }

    [TestCaseSource(nameof(Cells))]
    public void EvaluationHasNoDropoutNoArTarAndDiffersFromTraining(CellType cell)
    {
        var m = new SmallModel(cell);
        var loss = m.Forward(null);
        var reference = m.Reference(null);
        Assert.That(loss, Is.EqualTo(new WindowLoss(reference.CrossEntropy, 0, 0)).Using<WindowLoss>((a, b) =>
            Math.Abs(a.CrossEntropy - b.CrossEntropy) < Tight && a.Ar == b.Ar && a.Tar == b.Tar));
        Assert.That(Math.Abs(m.Reference(SmallModel.Training).CrossEntropy - reference.CrossEntropy), Is.GreaterThan(1e-3),
            "dropout changes the training CE, so this test sees whether evaluation drops");
    }

    [TestCaseSource(nameof(Cells))]
    public void ArIsTakenOnTheDroppedOutput(CellType cell)
    {
        var m = new SmallModel(cell);
        double right = m.Reference(SmallModel.Training).Ar;
        double wrong = m.Reference(SmallModel.Training, new ReferenceModel.Variant(ArOnUndropped: true)).Ar;
        Assert.That(Math.Abs(right - wrong), Is.GreaterThan(1e-3));
        Assert.That(m.Forward(SmallModel.Training).Ar, Is.EqualTo(right).Within(Tight));
    }

    [TestCaseSource(nameof(Cells))]
    public void TarStaysInsideTheWindowOnTheUndroppedLastLayer(CellType cell)
    {
        var m = new SmallModel(cell);
        double right = m.Reference(SmallModel.Training).Tar;
        double across = m.Reference(SmallModel.Training, new ReferenceModel.Variant(TarAcrossBoundary: true)).Tar;
        double dropped = m.Reference(SmallModel.Training, new ReferenceModel.Variant(TarOnDropped: true)).Tar;
        Assert.That(Math.Abs(right - across), Is.GreaterThan(1e-3), "the carried state differs from h[0], so crossing would show");
        Assert.That(Math.Abs(right - dropped), Is.GreaterThan(1e-3));
        Assert.That(m.Forward(SmallModel.Training).Tar, Is.EqualTo(right).Within(Tight));
    }

    [TestCaseSource(nameof(Cells))]
    public void DecoderIsTiedToTheEmbedding(CellType cell)
    {
        var m = new SmallModel(cell);
        var untied = m.ParameterValues()[ModelShape.EncoderWeight].Select((v, i) => v + 0.05 * Math.Sin(i)).ToArray();
        double right = m.Reference(SmallModel.Training).CrossEntropy;
        double wrong = m.Reference(SmallModel.Training, new ReferenceModel.Variant(UntiedDecoder: untied)).CrossEntropy;
        Assert.That(Math.Abs(right - wrong), Is.GreaterThan(1e-4));
        Assert.That(m.Forward(SmallModel.Training).CrossEntropy, Is.EqualTo(right).Within(Tight));
        // No separate decoder matrix exists to be trained: the arena holds exactly the canonical tensors of docs/design.md §2.
        Assert.That(m.Parameters.Specs.Select(s => s.Name), Does.Not.Contain("decoder.weight"));
    }

    [TestCaseSource(nameof(Cells))]
    public void BothBiasVectorsAreKeptApart(CellType cell)
    {
        var m = new SmallModel(cell);
        double right = m.Reference(SmallModel.Training).Total;
        double wrong = m.Reference(SmallModel.Training, new ReferenceModel.Variant(MergedBiases: true)).Total;
        Assert.That(Math.Abs(right - wrong), Is.GreaterThan(1e-4));
        Assert.That(m.Forward(SmallModel.Training).Total, Is.EqualTo(right).Within(Tight));
        int gh = cell.Gates() * SmallModel.Hidden;
        Assert.That(m.Parameters.Specs.Single(s => s.Name == "rnn.bias_ih_l1").Dimensions, Is.EqualTo(new[] { gh }));
        Assert.That(m.Parameters.Specs.Single(s => s.Name == "rnn.bias_hh_l1").Dimensions, Is.EqualTo(new[] { gh }));
    }

    [TestCaseSource(nameof(Cells))]
    public void StateIsCarriedToTheNextWindowAndResetClearsIt(CellType cell)
    {
        var m = new SmallModel(cell);
        var first = m.Reference(SmallModel.Training);
        m.Forward(SmallModel.Training);
        // Second window: same tokens, next step; starts from the first window's final state.
        var second = m.Model.ForwardWithLossGradients(m.Inputs, m.Targets, SmallModel.Steps, SmallModel.Training, SmallModel.TrainingStep + 1);
        var expected = ReferenceModel.Loss(m.Shape, m.ParameterValues(), m.Inputs, m.Targets, SmallModel.Steps, SmallModel.Batch,
            first.FinalH, first.FinalC, SmallModel.Training, SmallModel.TrainingStep + 1);
        Assert.That(second.Total, Is.EqualTo(expected.Total).Within(Tight));
        Assert.That(second.Tar, Is.EqualTo(expected.Tar).Within(Tight));

        m.Model.ResetState();
        var zeros = Enumerable.Range(0, SmallModel.Layers).Select(_ => new double[SmallModel.Batch * SmallModel.Hidden]).ToArray();
        var fromZero = ReferenceModel.Loss(m.Shape, m.ParameterValues(), m.Inputs, m.Targets, SmallModel.Steps, SmallModel.Batch,
            zeros, cell == CellType.Lstm ? zeros : null, null, 0);
        Assert.That(m.Model.Evaluate(m.Inputs, m.Targets, SmallModel.Steps), Is.EqualTo(fromZero.CrossEntropy).Within(Tight));
    }

    [Test]
    public void ShorterLastWindowUsesTheSameBuffers()
    {
        var m = new SmallModel(CellType.Lstm);
        int steps = 2, rows = steps * SmallModel.Batch;
        var inputs = m.Inputs[..rows];
        var targets = m.Targets[..rows];
        m.LoadState();
        var loss = m.Model.ForwardWithLossGradients(inputs, targets, steps, SmallModel.Training, SmallModel.TrainingStep);
        m.Model.Backward();
        var expected = ReferenceModel.Loss(m.Shape, m.ParameterValues(), inputs, targets, steps, SmallModel.Batch,
            m.State(m.H0), m.State(m.C0), SmallModel.Training, SmallModel.TrainingStep);
        Assert.That(loss.Total, Is.EqualTo(expected.Total).Within(Tight));
    }

    /// <summary>
    /// T=2, B=1, H=2, V=3, one tanh-RNN layer, no dropout, α = 0.5, β = 0.25, carried h0 ≠ 0: the loss written out
    /// term by term from docs/design.md §1, with no loop and no code shared with the backend.
    /// </summary>
    [Test]
    public void TinyCaseWorkedOutByHand()
    {
        var backend = new CpuBackend<double>();
        var shape = new ModelShape(CellType.Rnn, Vocab: 3, Hidden: 2, Layers: 1);
        var p = (CpuParameterArena<double>)backend.CreateParameters(shape);
        double[] E = [0.1, 0.2, 0.3, -0.1, -0.2, 0.4];          // rows: tokens 0, 1, 2
        double[] Wih = [0.5, -0.3, 0.2, 0.1], Whh = [0.4, 0.25, -0.6, 0.3];
        double[] bih = [0.05, -0.1], bhh = [0.2, 0.15], c = [0.1, 0.0, -0.1];
        E.CopyTo(p.Weight("encoder.weight").Span);
        Wih.CopyTo(p.Weight("rnn.weight_ih_l0").Span);
        Whh.CopyTo(p.Weight("rnn.weight_hh_l0").Span);
        bih.CopyTo(p.Weight("rnn.bias_ih_l0").Span);
        bhh.CopyTo(p.Weight("rnn.bias_hh_l0").Span);
        c.CopyTo(p.Weight("decoder.bias").Span);
        var model = new LanguageModel(backend, p, batch: 1, maxSteps: 2);
        CpuBackend<double>.Data(model.HiddenState(0))[0] = 0.1;
        CpuBackend<double>.Data(model.HiddenState(0))[1] = -0.2;

        // x = [2, 0], y = [0, 1].
        // t=0: e = E[2] = (-0.2, 0.4), h0 = (0.1, -0.2)
        double a0 = 0.5 * -0.2 + -0.3 * 0.4 + 0.05 + 0.4 * 0.1 + 0.25 * -0.2 + 0.2;   // = 0.02
        double a1 = 0.2 * -0.2 + 0.1 * 0.4 - 0.1 + -0.6 * 0.1 + 0.3 * -0.2 + 0.15;     // = -0.07
        double h10 = Math.Tanh(a0), h11 = Math.Tanh(a1);
        // t=1: e = E[0] = (0.1, 0.2)
        double h20 = Math.Tanh(0.5 * 0.1 + -0.3 * 0.2 + 0.05 + 0.4 * h10 + 0.25 * h11 + 0.2);
        double h21 = Math.Tanh(0.2 * 0.1 + 0.1 * 0.2 - 0.1 + -0.6 * h10 + 0.3 * h11 + 0.15);
        // logits z_v = h·E[v] + c_v; CE = mean of −log softmax(z)[y]
        double Nll(double hA, double hB, int y)
        {
            double z0 = hA * 0.1 + hB * 0.2 + 0.1, z1 = hA * 0.3 + hB * -0.1 + 0.0, z2 = hA * -0.2 + hB * 0.4 - 0.1;
            double zy = y == 0 ? z0 : y == 1 ? z1 : z2;
            return Math.Log(Math.Exp(z0) + Math.Exp(z1) + Math.Exp(z2)) - zy;
        }
        double ce = (Nll(h10, h11, 0) + Nll(h20, h21, 1)) / 2;
        double ar = 0.5 * (h10 * h10 + h11 * h11 + h20 * h20 + h21 * h21) / 4;
        double tar = 0.25 * ((h20 - h10) * (h20 - h10) + (h21 - h11) * (h21 - h11)) / 2;
        Assert.That(a0, Is.EqualTo(0.02).Within(1e-15));
        Assert.That(a1, Is.EqualTo(-0.07).Within(1e-15));

        var loss = model.ForwardWithLossGradients([2, 0], [0, 1], 2, new Regularization(0, 0, Alpha: 0.5, Beta: 0.25, Seed: 1), 0);
        Assert.Multiple(() =>
        {
            Assert.That(loss.CrossEntropy, Is.EqualTo(ce).Within(1e-14));
            Assert.That(loss.Ar, Is.EqualTo(ar).Within(1e-15));
            Assert.That(loss.Tar, Is.EqualTo(tar).Within(1e-15));
        });
    }

    [TestCaseSource(nameof(Cells))]
    public void FloatAndDoubleBackendsAgree(CellType cell)
    {
        var shape = new ModelShape(cell, 50, 16, 2);
        const int batch = 4, steps = 5;
        var random = new Random(9);
        var inputs = Enumerable.Range(0, batch * steps).Select(_ => random.Next(shape.Vocab)).ToArray();
        var targets = Enumerable.Range(0, batch * steps).Select(_ => random.Next(shape.Vocab)).ToArray();
        var reg = new Regularization(0.4, 0.3, 2, 1, 3);
        (WindowLoss Loss, float[] Gradients) Run(IBackend backend)
        {
            var p = backend.CreateParameters(shape);
            ParameterInit.Initialize(p, 17);
            var model = new LanguageModel(backend, p, batch, steps);
            model.ForwardWithLossGradients(inputs, targets, steps, reg, 4);      // carry a state into the window checked
            var loss = model.ForwardWithLossGradients(inputs, targets, steps, reg, 5);
            model.Backward();
            var g = new float[p.Gradients.Length];
            backend.Download(p.Gradients, g);
            return (loss, g);
        }
        var (lf, gf) = Run(new CpuBackend<float>());
        var (ld, gd) = Run(new CpuBackend<double>());
        Assert.That(lf.CrossEntropy, Is.EqualTo(ld.CrossEntropy).Within(1e-5 * ld.CrossEntropy));
        Assert.That(lf.Ar, Is.EqualTo(ld.Ar).Within(1e-5 * ld.Ar));
        Assert.That(lf.Tar, Is.EqualTo(ld.Tar).Within(1e-5 * ld.Tar));
        double diff = 0, norm = 0;
        for (int i = 0; i < gd.Length; i++) { diff += (gf[i] - gd[i]) * (double)(gf[i] - gd[i]); norm += gd[i] * (double)gd[i]; }
        Assert.That(Math.Sqrt(diff / norm), Is.LessThan(1e-4));
    }

    [Test]
    public void ATrainingStepAllocatesNothingOnItsThread()
    {
        var backend = new CpuBackend<float>();
        var shape = new ModelShape(CellType.Lstm, 40, 8, 2);
        var p = backend.CreateParameters(shape);
        ParameterInit.Initialize(p, 3);
        var model = new LanguageModel(backend, p, 4, 6);
        var tokens = Enumerable.Range(0, 24).Select(i => i % 40).ToArray();
        var norm = backend.Allocate(1);
        var reg = new Regularization(0.5, 0.5, 2, 1, 7);
        void Step(long n)
        {
            model.ForwardWithLossGradients(tokens, tokens, 6, reg, n);
            model.Backward();
            backend.GradientSquaredNorm(p.Gradients, norm);
            backend.ClipDecayUpdate(p.Weights, p.Gradients, norm, 0.25, 20, 1e-7);
        }
        Step(0);   // warm up (JIT)
        long before = GC.GetAllocatedBytesForCurrentThread();
        Step(1);
        // A GEMM that fans out to the thread pool may allocate a little on this thread; the ops themselves allocate nothing.
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        TestContext.Out.WriteLine($"allocated in one step: {allocated} bytes");
        Assert.That(allocated, Is.LessThan(16 * 1024));
    }
}
