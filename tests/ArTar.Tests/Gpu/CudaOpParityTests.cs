using ArTar.Backends;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Gpu;

/// <summary>Each CUDA op against CpuBackend&lt;double&gt; on fresh random inputs (docs/design.md §6): relative error &lt; 1e-4.</summary>
public partial class CudaOpParityTests : GpuTestBase
{
    private static float[] Subtract(float[] a, float[] b) => a.Zip(b, (x, y) => x - y).ToArray();
}
