using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda.Emulation;

/// <summary>
/// Every kernel run on CPU threads (host emulation) against a reference written here from DESIGN §1 in double,
/// or — where a kernel promises a float summation order — against that order exactly. Small shapes that exercise
/// grid-stride loops, several warps, partial blocks and lengths that are not multiples of 4 or 32.
/// </summary>
public class KernelEmulationTests
{
    private static float[] Random(Random r, int n, double scale = 1) => Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();

    private static void AssertClose(float[] actual, double[] expected, double relative, double absolute, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(relative * Math.Abs(expected[i]) + absolute), $"{what}[{i}]");
    }

    [Test]
    public void EmbeddingForwardGathersRows()
    {
        var emu = KernelEmulator.Get();
        var r = new Random(1);
        int vocab = 11, hidden = 37, rows = 13;
        var weight = Random(r, vocab * hidden);
        var tokens = Enumerable.Range(0, rows).Select(_ => r.Next(vocab)).ToArray();
        var e = new float[rows * hidden];
        emu.Launch(EmbeddingKernels.EmbeddingForward, 5, 32, e, weight, tokens, rows, hidden);   // grid < rows: grid-stride
        for (int t = 0; t < rows; t++)
            Assert.That(e.AsSpan(t * hidden, hidden).ToArray(), Is.EqualTo(weight.AsSpan(tokens[t] * hidden, hidden).ToArray()), $"row {t}");
    }

    [TestCase(20)]
    [TestCase(7)]
    public void EmbeddingBackwardAddsInTokenOrderExactly(int grid)
    {
        var emu = KernelEmulator.Get();
        var r = new Random(2);
        int vocab = 5, hidden = 70, rows = 20;
        var tokens = Enumerable.Range(0, rows).Select(_ => r.Next(vocab)).ToArray();
        var gradE = Random(r, rows * hidden);
        var gradWeight = Random(r, vocab * hidden);   // already holds the decoder's part (tied weights)
        var expected = (float[])gradWeight.Clone();
        for (int t = 0; t < rows; t++)
            for (int h = 0; h < hidden; h++) expected[tokens[t] * hidden + h] += gradE[t * hidden + h];
        emu.Launch(EmbeddingKernels.EmbeddingBackward, grid, 64, gradWeight, gradE, tokens, rows, hidden);
        Assert.That(gradWeight, Is.EqualTo(expected), "the sequential CPU loop's float results, bit for bit");
    }

    [Test]
    public void DropoutFollowsTheContract()
    {
        var emu = KernelEmulator.Get();
        var r = new Random(3);
        const int n = 1001;
        const double p = 0.3;
        ulong seed = 0x0123_4567_89AB_CDEFUL, step = 4_294_967_301UL;
        uint site = 2, threshold = (uint)Math.Round(p * 16777216.0);
        float scale = (float)(1.0 / (1.0 - p));
        var x = Random(r, n);
        var y = new float[n];
        emu.Launch(DropoutKernels.DropoutForward, 3, 64, y, x, KernelArgument.U64(seed), KernelArgument.U64(step), site, threshold, scale, (long)n);
        var keep = Enumerable.Range(0, n).Select(i => PhiloxContractTests.ContractKeeps(seed, step, site, i, threshold)).ToArray();
        Assert.That(y, Is.EqualTo(Enumerable.Range(0, n).Select(i => keep[i] ? x[i] * scale : 0f).ToArray()));

        var dy = Random(r, n);
        var dx = Random(r, n);   // accumulate = 1: the last layer's gradient already holds TAR
        var expected = Enumerable.Range(0, n).Select(i => dx[i] + (keep[i] ? dy[i] * scale : 0f)).ToArray();
        emu.Launch(DropoutKernels.DropoutBackward, 2, 32, dx, dy, KernelArgument.U64(seed), KernelArgument.U64(step), site, threshold, scale, (long)n, 1);
        Assert.That(dx, Is.EqualTo(expected));

        emu.Launch(DropoutKernels.DropoutBackward, 2, 32, dx, dy, KernelArgument.U64(seed), KernelArgument.U64(step), site, threshold, scale, (long)n, 0);
        Assert.That(dx, Is.EqualTo(Enumerable.Range(0, n).Select(i => keep[i] ? dy[i] * scale : 0f).ToArray()));
    }

    [Test]
    public void ArTarLossesAndGradients()
    {
        var emu = KernelEmulator.Get();
        var r = new Random(4);
        int steps = 6, batch = 3, hidden = 10, stepSize = batch * hidden, n = steps * stepSize, grid = 3;
        double alpha = 2, beta = 1;
        float arCoef = (float)(alpha / n), tarCoef = (float)(beta / ((steps - 1) * stepSize));
        var o = Random(r, n);
        var h = Random(r, n);
        var gradO = Random(r, n, 0.01);
        var gradH = Random(r, n, 0.01);
        var expectedO = gradO.Select((g, i) => g + 2.0 * arCoef * o[i]).ToArray();
        var expectedH = gradH.Select((g, i) =>
        {
            double d = 0;
            if (i >= stepSize) d += h[i] - h[i - stepSize];
            if (i + stepSize < n) d -= h[i + stepSize] - h[i];
            return g + 2.0 * tarCoef * d;
        }).ToArray();
        double ar = alpha * o.Average(v => (double)v * v);
        double tar = beta * Enumerable.Range(0, n - stepSize).Average(i => Math.Pow(h[i + stepSize] - h[i], 2));

        var partials = new float[2 * grid];
        emu.Launch(ArTarKernels.ArTarForwardBackward, grid, 64, partials, gradO, gradH, o, h, arCoef, tarCoef, steps, (long)stepSize);
        var loss = new float[2];
        emu.Launch(ArTarKernels.ArTarFinalize, 1, 64, loss, partials, grid, arCoef, tarCoef);

        AssertClose(loss, [ar, tar], 1e-5, 0, "loss");
        AssertClose(gradO, expectedO, 1e-5, 1e-8, "grad_o");
        AssertClose(gradH, expectedH, 1e-5, 1e-8, "grad_h");
    }

    [Test]
    public void SoftmaxCrossEntropyLossAndGradient()
    {
        var emu = KernelEmulator.Get();
        var r = new Random(5);
        int rows = 5, vocab = 300;
        var z = Random(r, rows * vocab, 4);
        for (int v = 0; v < vocab; v++) z[3 * vocab + v] += 90;   // large logits: the max shift must keep it finite
        var bias = Random(r, vocab, 0.5);
        var targets = Enumerable.Range(0, rows).Select(_ => r.Next(vocab)).ToArray();
        var logits = z.Select((x, i) => (double)x + bias[i % vocab]).ToArray();
        var rowLossExpected = new double[rows];
        var gradExpected = new double[rows * vocab];
        for (int t = 0; t < rows; t++)
        {
            var row = logits.AsSpan(t * vocab, vocab);
            double m = double.NegativeInfinity;
            foreach (var x in row) m = Math.Max(m, x);
            double s = 0;
            foreach (var x in row) s += Math.Exp(x - m);
            rowLossExpected[t] = Math.Log(s) + m - row[targets[t]];
            for (int v = 0; v < vocab; v++) gradExpected[t * vocab + v] = (Math.Exp(row[v] - m) / s - (v == targets[t] ? 1 : 0)) / rows;
        }

        var zNoGradient = (float[])z.Clone();
        var biased = z.Select((x, i) => x + bias[i % vocab]).ToArray();
        var rowLoss = new float[rows];
        emu.Launch(SoftmaxCrossEntropyKernels.SoftmaxCrossEntropy, rows, 64, z, rowLoss, bias, targets, vocab, 1f / rows, 1);
        AssertClose(rowLoss, rowLossExpected, 1e-5, 1e-6, "row_loss");
        AssertClose(z, gradExpected, 1e-4, 1e-8, "dz");

        var rowLoss2 = new float[rows];
        emu.Launch(SoftmaxCrossEntropyKernels.SoftmaxCrossEntropy, rows, 128, zNoGradient, rowLoss2, bias, targets, vocab, 1f / rows, 0);
        AssertClose(rowLoss2, rowLossExpected, 1e-5, 1e-6, "row_loss without gradient");
        Assert.That(zNoGradient, Is.EqualTo(biased), "without the gradient, z is left holding the biased logits");

        var loss = new float[1];
        emu.Launch(SoftmaxCrossEntropyKernels.CrossEntropyMean, 1, 64, loss, rowLoss, rows);
        AssertClose(loss, [rowLossExpected.Average()], 1e-5, 0, "CE");
    }

    [Test]
    public void DecoderBiasBackwardAddsRowsInOrderExactly()
    {
        var emu = KernelEmulator.Get();
        var r = new Random(6);
        int rows = 9, vocab = 301;
        var gradZ = Random(r, rows * vocab);
        var gradBias = Random(r, vocab);
        var expected = (float[])gradBias.Clone();
        for (int v = 0; v < vocab; v++)
            for (int t = 0; t < rows; t++) expected[v] += gradZ[t * vocab + v];
        emu.Launch(SoftmaxCrossEntropyKernels.DecoderBiasBackward, 2, 64, gradBias, gradZ, rows, vocab);
        Assert.That(gradBias, Is.EqualTo(expected));
    }

    [Test]
    public void SquaredNormInTwoStages()
    {
        var emu = KernelEmulator.Get();
        var r = new Random(7);
        const int n = 10007, grid = 5;
        var g = Random(r, n);
        var partials = new float[grid];
        emu.Launch(NormKernels.SquaredNormPartials, grid, 64, partials, g, (long)n);
        var squared = new float[1];
        emu.Launch(NormKernels.SquaredNormFinalize, 1, 32, squared, partials, grid);
        AssertClose(squared, [g.Sum(v => (double)v * v)], 1e-5, 0, "‖g‖²");
    }

    [TestCase(4f, 0.25f)]   // ‖g‖ = 2 > clip: scaled by 1/8
    [TestCase(0.01f, 0.25f)]   // below the clip: unscaled
    [TestCase(4f, 0f)]   // clip 0: off
    public void ClipDecayUpdate(float squaredNorm, float clip)
    {
        var emu = KernelEmulator.Get();
        var r = new Random(8);
        const int n = 1000;
        const float lr = 20f, wd = 1e-7f;
        var w = Random(r, n);
        var g = Random(r, n);
        double norm = Math.Sqrt(squaredNorm), scale = clip > 0 && norm > clip ? clip / norm : 1;
        var expected = w.Select((x, i) => x - lr * (g[i] * scale + wd * x)).ToArray();
        emu.Launch(SgdKernels.ClipDecayUpdate, 2, 64, w, g, new[] { squaredNorm }, clip, lr, wd, (long)n);
        AssertClose(w, expected, 1e-6, 1e-6, "w");
    }
}
