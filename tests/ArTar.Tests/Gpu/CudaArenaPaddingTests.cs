using ArTar.Backends;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests.Gpu;

/// <summary>
/// The arena's padding (alignment gaps, whatever cuDNN's weight space holds beyond the canonical tensors) stays zero
/// through a training step: Σg² over the whole gradient buffer, which is what <see cref="IBackend.GradientSquaredNorm"/>
/// and so the clipping see, equals Σg² over the mapped tensors; the same for the weights after the update.
/// </summary>
public class CudaArenaPaddingTests : GpuTestBase
{
    // Odd sizes, so no tensor ends on a 256-byte boundary and every gap of the layout is there.
    private const int Vocab = 37, Hidden = 13, Layers = 2, Batch = 3, Steps = 5;
    private static readonly Regularization Training = new(Dropout: 0.4, DropoutH: 0.25, Alpha: 2.0, Beta: 1.0, Seed: 42);

    [TestCase(CellType.Lstm)]
    [TestCase(CellType.Gru)]
    [TestCase(CellType.Rnn)]
    public void PaddingStaysZeroThroughAStep(CellType cell)
    {
        var shape = new ModelShape(cell, Vocab, Hidden, Layers);
        using var arena = Gpu.CreateParameters(shape);
        ParameterInit.Initialize(arena, 5);
        using var model = new LanguageModel(Gpu, arena, Batch, Steps);
        using var norm = Gpu.Allocate(1);
        var specs = arena.Specs;
        TestContext.Out.WriteLine($"{cell}: arena of {arena.Weights.Length} values, {specs.Sum(s => s.Count)} in the tensors");

        model.ForwardWithLossGradients(RandomTokens(Steps * Batch, Vocab, 1), RandomTokens(Steps * Batch, Vocab, 2), Steps, Training, step: 0);
        model.Backward();
        double mappedGradient = specs.Sum(s => SumOfSquares(GradientOf(Gpu, arena, s.Name)));
        Assert.That(mappedGradient, Is.GreaterThan(0), "the step left no gradient: nothing is compared");
        AssertSame(SumOfSquares(Get(Gpu, arena.Gradients)), mappedGradient, $"{cell}: Σg² over the gradient arena vs its tensors");

        Gpu.GradientSquaredNorm(arena.Gradients, norm);
        Gpu.ClipDecayUpdate(arena.Weights, arena.Gradients, norm, 0.25, 20.0, 1e-7);
        double mappedWeights = specs.Sum(s => SumOfSquares(Read(arena, s)));
        AssertSame(SumOfSquares(Get(Gpu, arena.Weights)), mappedWeights, $"{cell}: Σw² over the weight arena vs its tensors after the update");
    }

    // Both sums add the same float squares (exact in double) in another order, plus zeros: equal to rounding, not to 1e-4.
    private static void AssertSame(double whole, double mapped, string what)
    {
        double error = Math.Abs(whole - mapped) / mapped;
        TestContext.Out.WriteLine($"{what}: {whole:R} vs {mapped:R}, relative difference {error:E2}");
        Assert.That(error, Is.LessThan(1e-12), $"{what}: the padding is not zero");
    }

    private static double SumOfSquares(float[] values)
    {
        double sum = 0;
        foreach (float v in values) sum += (double)v * v;
        return sum;
    }

    private static float[] Read(IParameterArena arena, ParameterSpec spec)
    {
        var values = new float[spec.Count];
        arena.Read(spec.Name, values);
        return values;
    }
}
