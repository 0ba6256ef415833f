using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;
using ArTar.Cuda.Probe;
using NUnit.Framework;

namespace ArTar.Tests.Gpu;

/// <summary>
/// CUDA vs the CPU float64 reference (docs/design.md §6): skipped with the probe's reason where there is no GPU, never passed.
/// One CudaBackend per fixture. Errors are norm-wise: ‖gpu − ref‖₂ / ‖ref‖₂ &lt; 1e-4 (float32 on the GPU, FP32 math, no TF32).
/// </summary>
[Category("Gpu")]
public abstract class GpuTestBase
{
    protected const double Tolerance = 1e-4;

    protected IBackend Gpu { get; private set; } = null!;
    protected CpuBackend<double> Cpu { get; } = new();
    protected CpuBackend<float> Cpu32 { get; } = new();

    [OneTimeSetUp]
    public void StartGpu()
    {
        // ARTAR_GPU_STANDIN=cpu runs these tests with CpuBackend<float> in the GPU's place: a check of the tests themselves
        // (float32 within the tolerances, nothing compared against zeros) on a machine without a GPU. Never the default.
        if (Environment.GetEnvironmentVariable("ARTAR_GPU_STANDIN") == "cpu")
        {
            Gpu = new CpuBackend<float>();
            return;
        }
        var probe = CudaAvailability.Probe();
        if (!probe.Available) Assert.Ignore($"no GPU: {probe.Reason}");
        Gpu = new CudaBackend();
        TestContext.Out.WriteLine(Gpu.Description);
    }

    [OneTimeTearDown]
    public void StopGpu() => Gpu?.Dispose();

    // The bring-up probe's own helpers: fresh random inputs and host↔backend copies.
    protected static float[] Random(int count, int seed, double scale = 1.0) => BringUpProbe.Random(count, seed, scale);
    protected static int[] RandomTokens(int count, int vocab, int seed) => BringUpProbe.RandomTokens(count, vocab, seed);
    protected static ITensor Put(IBackend backend, float[] values) => BringUpProbe.Put(backend, values);
    protected static ITensor PutTokens(IBackend backend, int[] ids) => BringUpProbe.PutTokens(backend, ids);
    protected static float[] Get(IBackend backend, ITensor t, long count = -1) => BringUpProbe.Get(backend, t, count);

    /// <summary>A parameter's gradient by canonical name, on either backend.</summary>
    protected static float[] GradientOf(IBackend backend, IParameterArena arena, string name)
    {
        var spec = arena.Specs.Single(s => s.Name == name);
        var values = new float[spec.Count];
        if (arena is CudaParameterArena cuda) cuda.ReadGradient(name, values);
        else backend.Download(arena.Gradient(name), values);
        return values;
    }

    protected static double RelativeError(float[] actual, float[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = (double)actual[i] - expected[i];
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }
        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }

    protected static void AssertClose(float[] actual, float[] expected, string what, double tolerance = Tolerance)
    {
        Assert.That(expected.Any(v => v != 0), Is.True, $"{what}: the reference is all zeros, nothing is compared");
        double error = RelativeError(actual, expected);
        TestContext.Out.WriteLine($"{what}: relative error {error:E2}");
        Assert.That(error, Is.LessThan(tolerance), what);
    }

    protected static void AssertClose(double actual, double expected, string what, double tolerance = Tolerance)
    {
        double error = Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-30);
        TestContext.Out.WriteLine($"{what}: {actual} vs {expected}, relative error {error:E2}");
        Assert.That(error, Is.LessThan(tolerance), what);
    }
}
