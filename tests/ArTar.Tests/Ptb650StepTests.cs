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
        var shape = new ModelShape(CellType.Lstm, Vocab: 10_000, Hidden: 650, Layers: 2);
        const int batch = 20, steps = 35;
        var backend = new CpuBackend<float>();
        var parameters = backend.CreateParameters(shape);
        ParameterInit.Initialize(parameters, 1111);
        var model = new LanguageModel(backend, parameters, batch, steps);
        var random = new Random(5);
        var inputs = Enumerable.Range(0, batch * steps).Select(_ => random.Next(shape.Vocab)).ToArray();
        var targets = Enumerable.Range(0, batch * steps).Select(_ => random.Next(shape.Vocab)).ToArray();
        var reg = new Regularization(Dropout: 0.5, DropoutH: 0.5, Alpha: 5, Beta: 2, Seed: 1111);
        var squaredNorm = backend.Allocate(1);
        var bias = new float[shape.Gates * shape.Hidden];
        parameters.Read("rnn.bias_hh_l1", bias);

        var clock = Stopwatch.StartNew();
        var loss = model.Forward(inputs, targets, steps, reg, 0);
        double forward = clock.Elapsed.TotalSeconds;
        model.Backward();
        double backward = clock.Elapsed.TotalSeconds - forward;
        backend.GradientSquaredNorm(parameters.Gradients, squaredNorm);
        backend.ClipDecayUpdate(parameters.Weights, parameters.Gradients, squaredNorm, clip: 0.25, lr: 20, weightDecay: 1e-7);
        double total = clock.Elapsed.TotalSeconds;

        var norm = new float[1];
        backend.Download(squaredNorm, norm);
        TestContext.Out.WriteLine($"ptb-650 step on {backend.Name}: forward {forward:F2} s, backward {backward:F2} s, total {total:F2} s; " +
            $"CE {loss.CrossEntropy:F4} AR {loss.Ar:F5} TAR {loss.Tar:F5} |g| {Math.Sqrt(norm[0]):F4}");
        // At initialisation the prediction is near uniform: CE ≈ log V = 9.21.
        Assert.That(loss.CrossEntropy, Is.EqualTo(Math.Log(shape.Vocab)).Within(0.05));
        Assert.That(double.IsFinite(loss.Ar) && loss.Ar > 0 && double.IsFinite(loss.Tar) && loss.Tar > 0);
        Assert.That(float.IsFinite(norm[0]) && norm[0] > 0);
        var after = new float[bias.Length];
        parameters.Read("rnn.bias_hh_l1", after);
        Assert.That(after, Is.Not.EqualTo(bias), "the update moved the parameters");
    }
}
