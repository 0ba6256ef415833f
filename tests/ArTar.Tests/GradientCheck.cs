using ArTar.Backends;
using ArTar.Cpu;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>Central differences in float64 against an analytic gradient, reported as a tensor-wise relative error.</summary>
internal static class GradientCheck
{
    public const double Step = 1e-5;
    public const double Tolerance = 1e-6;

    /// <summary>
    /// Perturbs every element of <paramref name="input"/> by ±<see cref="Step"/>, evaluates <paramref name="loss"/> and
    /// compares the central difference with <paramref name="analytic"/> (taken beforehand): ‖a − n‖ / max(‖a‖, ‖n‖) &lt; 1e-6.
    /// </summary>
    public static void Assert(string what, ITensor input, double[] analytic, Func<double> loss)
    {
        var x = CpuBackend<double>.Data(input);
        NUnit.Framework.Assert.That(analytic, Has.Length.EqualTo(x.Length), what);
        var numeric = new double[x.Length];
        for (int i = 0; i < numeric.Length; i++)
        {
            double saved = CpuBackend<double>.Data(input)[i];
            CpuBackend<double>.Data(input)[i] = saved + Step;
            double plus = loss();
            CpuBackend<double>.Data(input)[i] = saved - Step;
            double minus = loss();
            CpuBackend<double>.Data(input)[i] = saved;
            numeric[i] = (plus - minus) / (2 * Step);
        }
        double diff = 0, na = 0, nn = 0;
        for (int i = 0; i < numeric.Length; i++)
        {
            diff += (analytic[i] - numeric[i]) * (analytic[i] - numeric[i]);
            na += analytic[i] * analytic[i];
            nn += numeric[i] * numeric[i];
        }
        double error = Math.Sqrt(diff) / Math.Max(Math.Sqrt(Math.Max(na, nn)), 1e-300);
        // A gradient that is zero everywhere would pass trivially: every checked tensor must matter to the loss.
        NUnit.Framework.Assert.That(Math.Sqrt(nn), Is.GreaterThan(1e-8), $"{what}: numeric gradient vanishes, the check would prove nothing");
        NUnit.Framework.Assert.That(error, Is.LessThan(Tolerance), $"{what}: relative error {error:E2} (‖analytic‖ {Math.Sqrt(na):E3}, ‖numeric‖ {Math.Sqrt(nn):E3})");
    }

    public static double[] Copy(ITensor t) => CpuBackend<double>.Data(t).ToArray();

    public static void Fill(ITensor t, Random random, double scale = 1.0)
    {
        var s = CpuBackend<double>.Data(t);
        for (int i = 0; i < s.Length; i++) s[i] = scale * (2 * random.NextDouble() - 1);
    }

    /// <summary>Σ r ⊙ y: turns a tensor output into a scalar whose gradient wrt y is r.</summary>
    public static double Project(ITensor y, ITensor r, int count)
    {
        var ys = CpuBackend<double>.Data(y);
        var rs = CpuBackend<double>.Data(r);
        double sum = 0;
        for (int i = 0; i < count; i++) sum += ys[i] * rs[i];
        return sum;
    }
}
