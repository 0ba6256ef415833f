using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda.Emulation;

/// <summary>
/// Every kernel run on CPU threads (host emulation) against a reference written here from docs/design.md §1 in double,
/// or — where a kernel promises a float summation order — against that order exactly. Small shapes that exercise
/// grid-stride loops, several warps, partial blocks and lengths that are not multiples of 4 or 32.
/// </summary>
public partial class KernelEmulationTests
{
    private static float[] Random(Random r, int n, double scale = 1) => Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();

    private static void AssertClose(float[] actual, double[] expected, double relative, double absolute, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(relative * Math.Abs(expected[i]) + absolute), $"{what}[{i}]");
    }

}
