using System.Diagnostics;
using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>
/// One full training step (forward, backward, norm, clip-decay-update) on the CPU at ptb-650 shapes: V=10000, H=650,
/// L=2, B=20, T=35: about 0.3 s on 2 cores with the blocked GEMM (2 minutes with a naive one), so it runs in CI.
/// </summary>
public class Ptb650StepTests
{
    [Test]
    public void OneTrainingStepRunsOnTheCpu()
    {
        var backend = new CpuBackend<float>();
        var step = new Ptb650Step(backend);
        var bias = new float[Ptb650Step.Shape.Gates * Ptb650Step.Shape.Hidden];
        step.Parameters.Read("rnn.bias_hh_l1", bias);

        var clock = Stopwatch.StartNew();
        var loss = step.Run(0, new Regularization(Dropout: 0.5, DropoutH: 0.5, Alpha: 5, Beta: 2, Seed: 1111));
        double total = clock.Elapsed.TotalSeconds;

        var norm = new float[1];
        backend.Download(step.SquaredNorm, norm);
        TestContext.Out.WriteLine($"ptb-650 step on {backend.Name}: {total:F2} s (first call, JIT included); " +
            $"CE {loss.CrossEntropy:F4} AR {loss.Ar:F5} TAR {loss.Tar:F5} |g| {Math.Sqrt(norm[0]):F4}");
        // At initialisation the prediction is near uniform: CE ≈ log V = 9.21.
        Assert.That(loss.CrossEntropy, Is.EqualTo(Math.Log(Ptb650Step.Shape.Vocab)).Within(0.05));
        Assert.That(double.IsFinite(loss.Ar) && loss.Ar > 0 && double.IsFinite(loss.Tar) && loss.Tar > 0);
        Assert.That(float.IsFinite(norm[0]) && norm[0] > 0);
        var after = new float[bias.Length];
        step.Parameters.Read("rnn.bias_hh_l1", after);
        Assert.That(after, Is.Not.EqualTo(bias), "the update moved the parameters");
    }
}

/// <summary>The ptb-650 model (initialised with seed 1111) and one window of random ids on a backend: one training step as the trainer takes it.</summary>
internal sealed class Ptb650Step
{
    public static readonly ModelShape Shape = new(CellType.Lstm, Vocab: 10_000, Hidden: 650, Layers: 2);
    public const int Batch = 20, Steps = 35;

    private readonly IBackend _backend;
    private readonly int[] _inputs, _targets;

    public Ptb650Step(IBackend backend)
    {
        _backend = backend;
        Parameters = backend.CreateParameters(Shape);
        ParameterInit.Initialize(Parameters, 1111);
        Model = new LanguageModel(backend, Parameters, Batch, Steps);
        var random = new Random(5);
        _inputs = [.. Enumerable.Range(0, Batch * Steps).Select(_ => random.Next(Shape.Vocab))];
        _targets = [.. Enumerable.Range(0, Batch * Steps).Select(_ => random.Next(Shape.Vocab))];
        SquaredNorm = backend.Allocate(1);
    }

    public IParameterArena Parameters { get; }
    public LanguageModel Model { get; }
    public ITensor SquaredNorm { get; }

    /// <summary>Forward, backward, gradient norm and clip-decay-update (clip 0.25, lr 20, wd 1e-7).</summary>
    public WindowLoss Run(long step, Regularization regularization)
    {
        var loss = Model.ForwardWithLossGradients(_inputs, _targets, Steps, regularization, step);
        Model.Backward();
        _backend.GradientSquaredNorm(Parameters.Gradients, SquaredNorm);
        _backend.ClipDecayUpdate(Parameters.Weights, Parameters.Gradients, SquaredNorm, clip: 0.25, lr: 20, weightDecay: 1e-7);
        return loss;
    }
}
