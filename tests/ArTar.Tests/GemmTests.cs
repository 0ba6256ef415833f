using System.Numerics;
using ArTar.Cpu;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>Gemm.Multiply against a straightforward triple loop in double, on every kernel this CPU runs.</summary>
public class GemmTests
{
    // Kernel names (the enum is internal): every kernel up to the best this CPU runs.
    private static readonly string[] Kernels = Enum.GetNames<Gemm.Kernel>().Where(k => Enum.Parse<Gemm.Kernel>(k) <= Gemm.Best).ToArray();

    private static IEnumerable<TestCaseData> Shapes()
    {
        int[][] sizes = [[1, 1, 1], [7, 17, 33], [33, 7, 17], [17, 33, 1], [129, 33, 7], [1, 129, 17], [21, 35, 129], [23, 70, 64]];
        foreach (var kernel in Kernels)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    foreach (var s in sizes)
                        yield return new TestCaseData(kernel, ta, tb, s[0], s[1], s[2]);
    }

    [TestCaseSource(nameof(Shapes))]
    public void MatchesReferenceFloat(string kernel, bool transA, bool transB, int m, int n, int k)
    {
        Check<float>(kernel, 1, transA, transB, m, n, k, 1f, 0f, pad: 0, seed: m * 31 + n * 7 + k);
        Check<float>(kernel, 3, transA, transB, m, n, k, -0.75f, 0.5f, pad: 3, seed: m + n + k);
    }

    [TestCaseSource(nameof(Shapes))]
    public void MatchesReferenceDouble(string kernel, bool transA, bool transB, int m, int n, int k)
    {
        Check<double>(kernel, 1, transA, transB, m, n, k, 1.0, 1.0, pad: 5, seed: m * 31 + n * 7 + k);
        Check<double>(kernel, 2, transA, transB, m, n, k, 2.5, 0.0, pad: 1, seed: m + n + k);
    }

    [Test]
    public void AlphaBetaCombinations([ValueSource(nameof(Kernels))] string kernel,
        [Values(0.0, 1.0, -2.0)] double alpha, [Values(0.0, 1.0, 0.25)] double beta)
    {
        Check<double>(kernel, 2, false, true, 19, 41, 13, alpha, beta, pad: 2, seed: 5);
        Check<float>(kernel, 2, true, false, 19, 41, 13, (float)alpha, (float)beta, pad: 2, seed: 6);
    }

    [Test]
    public void EmptyInnerDimensionScalesC([Values(0.0, 3.0)] double beta)
        => Check<double>(Gemm.Best.ToString(), 2, false, false, 5, 9, 0, 1.0, beta, pad: 1, seed: 7);

    /// <summary>Small blocks: several k-slices, B blocks and A blocks, ragged last ones, split over parts.</summary>
    [Test]
    public void EveryBlockingLoopRunsSeveralTimes([ValueSource(nameof(Kernels))] string kernel, [Values] bool transA, [Values] bool transB)
    {
        var blocking = new Gemm.Blocking(Kc: 37, Nc: 70, Mc: 50);
        Check<float>(kernel, 2, transA, transB, 131, 203, 117, 1f, 0.5f, pad: 1, seed: 11, blocking: blocking);
        Check<double>(kernel, 3, transA, transB, 131, 203, 117, 0.5, 0.0, pad: 0, seed: 12, blocking: blocking);
    }

    /// <summary>k much the longest side: parts take slices of k and their partial products are summed.</summary>
    [Test]
    public void DepthSplitSumsPartialProducts([ValueSource(nameof(Kernels))] string kernel, [Values(2, 3, 5)] int threads)
    {
        Check<float>(kernel, threads, false, false, 33, 17, 400, 1f, 0f, pad: 2, seed: 21);
        Check<double>(kernel, threads, true, true, 19, 45, 333, -0.5, 2.0, pad: 0, seed: 22);
    }

    /// <summary>The default blocks on a shape with more than one of each (k > 768 floats, n > 170, m > 840).</summary>
    [Test]
    public void LargeShapeCrossesEveryBlock([Values] bool transB)
    {
        // Checked on every 9th row and column (and the last ones), to stay fast.
        Check<float>(Gemm.Best.ToString(), 2, false, transB, 850, 190, 800, 1f, 0.5f, pad: 0, seed: 13, sample: 9);
    }

    /// <summary>B packed once (the recurrent weights over a window), then used by products split every way but depth.</summary>
    [Test]
    public void PackedBMatches([ValueSource(nameof(Kernels))] string kernel, [Values] bool transA, [Values] bool transB, [Values(1, 2, 3)] int threads)
    {
        Check<float>(kernel, threads, transA, transB, 20, 77, 65, 1f, 1f, pad: 1, seed: 31, packed: true);
        Check<float>(kernel, threads, transA, transB, 21, 35, 129, 1f, 0f, pad: 0, seed: 32, packed: true);
        Check<double>(kernel, threads, transA, transB, 33, 17, 400, -0.5, 0.5, pad: 2, seed: 33, packed: true);   // k long: no depth split
        var blocking = new Gemm.Blocking(Kc: 37, Nc: 70, Mc: 50);
        Check<double>(kernel, threads, transA, transB, 131, 203, 117, 0.5, 0.0, pad: 0, seed: 34, blocking: blocking, packed: true);
    }

    [Test]
    public void PackedBOfTheWrongShapeIsRefused()
    {
        var packed = new Gemm.PackedB<float>(Gemm.PackedB<float>.CapacityFor(8, 8));
        Gemm.Pack(false, 8, 8, new float[64], 8, packed);
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, 2, 8, 7, 1f, new float[14], 7, packed, 0f, new float[16], 8));
        Assert.Throws<ArgumentException>(() => Gemm.Pack(false, 20, 8, new float[160], 8, packed));   // over its capacity
    }

    [Test]
    public void PublicEntryPointMatches()
    {
        Check<float>(null, 0, false, true, 140, 260, 65, 1f, 0f, pad: 0, seed: 13);    // big enough to go parallel
        Check<double>(null, 0, true, false, 3, 5, 4, 1.0, 1.0, pad: 0, seed: 14);
    }

    /// <summary>Packing buffers come from the pool: a warm call allocates no more than its small bookkeeping.</summary>
    [Test]
    public void WarmCallAllocatesNoBuffers()
    {
        int m = 64, n = 96, k = 300;
        float[] a = new float[m * k], b = new float[n * k], c = new float[m * n];
        for (int i = 0; i < 3; i++) Gemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Gemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1024));
    }

    [Test]
    public void ShortOperandIsRefused()
    {
        var a = new float[6]; var b = new float[6]; var c = new float[3];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 1, 2, 3, 1f, a, 2, b, 2, 0f, new float[2], 2));
    }

    private static void Check<T>(string? kernel, int threads, bool transA, bool transB, int m, int n, int k,
        T alpha, T beta, int pad, int seed, int sample = 1, Gemm.Blocking? blocking = null, bool packed = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        int lda = Math.Max(1, aCols + pad), ldb = Math.Max(1, bCols + pad), ldc = n + pad;
        T[] a = Random<T>(rng, Math.Max(0, (aRows - 1) * lda + aCols));
        T[] b = Random<T>(rng, Math.Max(0, (bRows - 1) * ldb + bCols));
        T[] c = Random<T>(rng, (m - 1) * ldc + n);
        if (beta == T.Zero) Array.Fill(c, T.NaN);               // beta = 0 must not read C
        T[] c0 = (T[])c.Clone();

        if (packed)
        {
            var pk = new Gemm.PackedB<T>(Gemm.PackedB<T>.CapacityFor(k, n), Enum.Parse<Gemm.Kernel>(kernel!));
            Array.Fill(pk.Buffer, T.NaN);                        // padding must be written, not assumed
            Gemm.Pack(transB, k, n, b, ldb, pk);
            Gemm.Multiply(pk.Kernel, threads, transA, false, m, n, k, alpha, a, lda, default, 1, beta, c, ldc, blocking, pk);
        }
        else if (kernel is not null) Gemm.Multiply(Enum.Parse<Gemm.Kernel>(kernel), threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, blocking);
        else Gemm.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        double tol = typeof(T) == typeof(float) ? 2e-6 : 1e-14;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if ((i % sample != 0 || j % sample != 0) && i != m - 1 && j != n - 1) continue;
                double sum = 0, mag = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = double.CreateChecked(transA ? a[p * lda + i] : a[i * lda + p]);
                    double y = double.CreateChecked(transB ? b[j * ldb + p] : b[p * ldb + j]);
                    sum += x * y;
                    mag += Math.Abs(x * y);
                }
                double da = double.CreateChecked(alpha), db = double.CreateChecked(beta);
                double old = beta == T.Zero ? 0 : double.CreateChecked(c0[i * ldc + j]);
                double expected = da * sum + db * old;
                double bound = tol * (k + 2) * (Math.Abs(da) * mag + Math.Abs(db * old)) + 1e-30;
                double got = double.CreateChecked(c[i * ldc + j]);
                if (!(Math.Abs(got - expected) <= bound))
                    Assert.Fail($"{typeof(T).Name} {kernel} ta={transA} tb={transB} {m}x{n}x{k} alpha={alpha} beta={beta}: " +
                                $"C[{i},{j}] = {got}, expected {expected} (±{bound})");
            }
            // Padding between rows of C is never written.
            for (int j = n; j < ldc && i < m - 1; j++)
                if (!c[i * ldc + j].Equals(c0[i * ldc + j])) Assert.Fail($"C padding [{i},{j}] was written");
        }
    }

    private static T[] Random<T>(Random rng, int length) where T : IFloatingPointIeee754<T>
    {
        var x = new T[length];
        for (int i = 0; i < x.Length; i++) x[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        return x;
    }
}
