using ArTar.Backends;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests.Gpu;

/// <summary>
/// Whole training steps (LanguageModel: forward, backward, norm, clip-decay-update) on the GPU against the CPU float64
/// reference from the same weights (docs/design.md §6), and two GPU runs against each other, bit for bit.
/// </summary>
public class CudaTrainingStepTests : GpuTestBase
{
    private const int Vocab = 40, Hidden = 16, Layers = 2, Batch = 4, MaxSteps = 6;
    private static readonly Regularization Training = new(Dropout: 0.4, DropoutH: 0.25, Alpha: 2.0, Beta: 1.0, Seed: 0x1234_5678_9ABC_DEF0UL);

    // Three windows: the carried state is non-zero from the second on, the last is shorter (an epoch's tail).
    private static readonly int[] Windows = [MaxSteps, MaxSteps, 4];

    private static int[] Tokens(int window, int count, int salt) => RandomTokens(count, Vocab, 1000 * window + salt);

    [TestCase(CellType.Lstm)]
    [TestCase(CellType.Gru)]
    [TestCase(CellType.Rnn)]
    public void StepsMatchTheFloat64Reference(CellType cell)
    {
        var shape = new ModelShape(cell, Vocab, Hidden, Layers);
        using var cpuArena = Cpu.CreateParameters(shape);
        ParameterInit.Initialize(cpuArena, 7);
        using var gpuArena = Gpu.CreateParameters(shape);
        foreach (var spec in shape.Parameters())
        {
            var values = new float[spec.Count];
            cpuArena.Read(spec.Name, values);
            gpuArena.Write(spec.Name, values);
        }
        using var cpuModel = new LanguageModel(Cpu, cpuArena, Batch, MaxSteps);
        using var gpuModel = new LanguageModel(Gpu, gpuArena, Batch, MaxSteps);
        using var cpuNorm = Cpu.Allocate(1);
        using var gpuNorm = Gpu.Allocate(1);

        for (int w = 0; w < Windows.Length; w++)
        {
            int steps = Windows[w], rows = steps * Batch;
            var inputs = Tokens(w, rows, 1);
            var targets = Tokens(w, rows, 2);
            var cpuLoss = cpuModel.ForwardWithLossGradients(inputs, targets, steps, Training, step: w);
            var gpuLoss = gpuModel.ForwardWithLossGradients(inputs, targets, steps, Training, step: w);
            string at = $"{cell} window {w}";
            AssertClose(gpuLoss.CrossEntropy, cpuLoss.CrossEntropy, $"{at}: CE");
            AssertClose(gpuLoss.Ar, cpuLoss.Ar, $"{at}: AR");
            AssertClose(gpuLoss.Tar, cpuLoss.Tar, $"{at}: TAR");

            cpuModel.Backward();
            gpuModel.Backward();
            foreach (var spec in shape.Parameters())
                AssertClose(GradientOf(Gpu, gpuArena, spec.Name), GradientOf(Cpu, cpuArena, spec.Name), $"{at}: ∇{spec.Name}");
            for (int l = 0; l < Layers; l++)
            {
                AssertClose(Get(Gpu, gpuModel.HiddenStateGradient(l)), Get(Cpu, cpuModel.HiddenStateGradient(l)), $"{at}: dh0 layer {l}");
                if (cell == CellType.Lstm)
                    AssertClose(Get(Gpu, gpuModel.CellStateGradient(l)!), Get(Cpu, cpuModel.CellStateGradient(l)!), $"{at}: dc0 layer {l}");
            }

            Cpu.GradientSquaredNorm(cpuArena.Gradients, cpuNorm);
            Gpu.GradientSquaredNorm(gpuArena.Gradients, gpuNorm);
            AssertClose(Get(Gpu, gpuNorm)[0], Get(Cpu, cpuNorm)[0], $"{at}: ‖g‖²");
            Cpu.ClipDecayUpdate(cpuArena.Weights, cpuArena.Gradients, cpuNorm, 0.25, 20.0, 1e-7);
            Gpu.ClipDecayUpdate(gpuArena.Weights, gpuArena.Gradients, gpuNorm, 0.25, 20.0, 1e-7);
            foreach (var spec in shape.Parameters())
                AssertClose(Read(gpuArena, spec), Read(cpuArena, spec), $"{at}: updated {spec.Name}");
            for (int l = 0; l < Layers; l++)
                AssertClose(Get(Gpu, gpuModel.HiddenState(l)), Get(Cpu, cpuModel.HiddenState(l)), $"{at}: carried h layer {l}");
        }
    }

    [Test]
    public void TwoGpuRunsGiveIdenticalBits()
    {
        // cuBLAS is bit-reproducible with one active stream; cuDNN's internal calls may use more, which this variable
        // (read when a handle is created, so tools/gpu-check.sh exports it before the process starts) covers (docs/cuda.md §5).
        string workspace = Environment.GetEnvironmentVariable("CUBLAS_WORKSPACE_CONFIG") is { Length: > 0 } w ? w : "(unset)";
        TestContext.Out.WriteLine($"CUBLAS_WORKSPACE_CONFIG={workspace}");
        var first = Run();
        var second = Run();
        string under = $"under CUBLAS_WORKSPACE_CONFIG={workspace} (tools/gpu-check.sh sets :4096:8)";
        Assert.That(second.Losses, Is.EqualTo(first.Losses), $"losses, {under}");
        Assert.That(second.Weights, Is.EqualTo(first.Weights), $"every weight after the steps, {under}");
    }

    private (double[] Losses, float[] Weights) Run()
    {
        var shape = new ModelShape(CellType.Lstm, Vocab, Hidden, Layers);
        using var arena = Gpu.CreateParameters(shape);
        ParameterInit.Initialize(arena, 11);
        using var model = new LanguageModel(Gpu, arena, Batch, MaxSteps);
        using var norm = Gpu.Allocate(1);
        var losses = new List<double>();
        for (int w = 0; w < Windows.Length; w++)
        {
            int rows = Windows[w] * Batch;
            var loss = model.ForwardWithLossGradients(Tokens(w, rows, 3), Tokens(w, rows, 4), Windows[w], Training, step: w);
            losses.AddRange([loss.CrossEntropy, loss.Ar, loss.Tar]);
            model.Backward();
            Gpu.GradientSquaredNorm(arena.Gradients, norm);
            Gpu.ClipDecayUpdate(arena.Weights, arena.Gradients, norm, 0.25, 20.0, 1e-7);
        }
        return (losses.ToArray(), Get(Gpu, arena.Weights));
    }

    private static float[] Read(IParameterArena arena, ParameterSpec spec)
    {
        var values = new float[spec.Count];
        arena.Read(spec.Name, values);
        return values;
    }
}
