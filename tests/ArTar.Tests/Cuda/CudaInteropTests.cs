using System.Reflection;
using System.Runtime.InteropServices;
using ArTar.Cuda;
using NUnit.Framework;

namespace ArTar.Tests.Cuda;

/// <summary>The binding layer and its error path, without a GPU (cuda.h, cublas_api.h, cudnn_graph.h, cudnn_ops.h, cudnn_adv.h; docs/cuda.md §7).</summary>
public class CudaInteropTests
{
    [Test]
    public void StatusBecomesAnExceptionNamingTheCallAndTheStatus()
    {
        var e = Assert.Throws<CudaException>(() => CudaStatus.Check((CuResult)2, call: "CudaDriver.cuMemAlloc_v2(out p, bytes)"));
        Assert.That(e!.Message, Is.EqualTo("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2)"));
        Assert.That((e.Library, e.Call, e.Status, e.StatusName), Is.EqualTo(("CUDA driver", "cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY")));

        var dnn = Assert.Throws<CudaException>(() => CudaStatus.Check((CudnnStatus)2000, "the x descriptor", "Cudnn.cudnnRNNForward(h, rnn)"));
        Assert.That(dnn!.Message, Is.EqualTo("cudnnRNNForward failed: CUDNN_STATUS_BAD_PARAM (2000): the x descriptor"));

        var blas = Assert.Throws<CudaException>(() => CudaStatus.Check((CublasStatus)13, call: "cublasSgemm_v2(h, …)"));
        Assert.That(blas!.StatusName, Is.EqualTo("CUBLAS_STATUS_EXECUTION_FAILED"));
    }

    [Test]
    public void CallerExpressionNamesTheCall()
    {
        static CuResult cuFake_v2(int x) => x == 0 ? CuResult.CUDA_SUCCESS : CuResult.CUDA_ERROR_INVALID_PTX;
        Assert.DoesNotThrow(() => CudaStatus.Check(cuFake_v2(0)));
        var e = Assert.Throws<CudaException>(() => CudaStatus.Check(cuFake_v2(1)));
        Assert.That(e!.Message, Is.EqualTo("cuFake_v2 failed: CUDA_ERROR_INVALID_PTX (218)"));
    }

    [Test]
    public void UnknownStatusIsNamedWithoutTheLibrary()
    {
        // Asking libcuda / libcudnn for the name of a code outside our enums must not throw where they are absent.
        Assert.That(CudaStatus.NameOf((CudnnStatus)1), Is.Not.Empty);
        var e = Assert.Throws<CudaException>(() => CudaStatus.Check((CuResult)12345, call: "cuInit(0)"));
        Assert.That(e!.Message, Does.StartWith("cuInit failed: ").And.EndWith("(12345)"));
    }

    private static readonly string[] LegacyDriverSymbols =
    [
        "cuCtxCreate", "cuCtxDestroy", "cuMemGetInfo", "cuMemAlloc", "cuMemFree", "cuMemAllocHost", "cuMemcpyHtoD", "cuMemcpyDtoH",
        "cuMemcpyDtoD", "cuMemcpyHtoDAsync", "cuMemcpyDtoHAsync", "cuMemcpyDtoDAsync", "cuMemsetD32", "cuStreamDestroy",
        "cuEventDestroy", "cuStreamBeginCapture", "cuDevicePrimaryCtxRelease", "cuGraphInstantiate",
    ];

    [Test]
    public void NoDriverBindingUsesALegacyUnsuffixedSymbol()
    {
        var symbols = BoundSymbols(typeof(CudaDriver));
        Assert.That(symbols, Has.Count.GreaterThan(40));
        Assert.That(symbols, Has.None.AnyOf(LegacyDriverSymbols), "the unsuffixed exports are the 32-bit legacy ABI (cuda.h)");
        Assert.That(symbols, Does.Contain("cuMemAlloc_v2").And.Contain("cuMemcpyHtoDAsync_v2").And.Contain("cuStreamDestroy_v2"));
    }

    [TestCase(typeof(Cudnn), "cudnnRNNForward", 20)]
    [TestCase(typeof(Cudnn), "cudnnRNNBackwardData_v8", 22)]
    [TestCase(typeof(Cudnn), "cudnnRNNBackwardWeights_v8", 16)]
    [TestCase(typeof(Cudnn), "cudnnSetRNNDescriptor_v8", 15)]
    [TestCase(typeof(Cudnn), "cudnnGetRNNWeightParams", 10)]
    [TestCase(typeof(Cublas), "cublasGemmEx", 19)]
    [TestCase(typeof(Cublas), "cublasSgemm_v2", 14)]
    [TestCase(typeof(CudaDriver), "cuLaunchKernel", 11)]
    public void BindingHasTheHeadersParameterCount(Type binding, string function, int parameters)
    {
        var method = binding.GetMethod(function, BindingFlags.Public | BindingFlags.Static);
        Assert.That(method, Is.Not.Null, $"{binding.Name}.{function} is not bound");
        Assert.That(method!.GetParameters(), Has.Length.EqualTo(parameters));
    }

    [Test]
    public void EveryBindingReturnsItsLibrarysStatus()
    {
        foreach (var (binding, status) in new[] { (typeof(CudaDriver), typeof(CuResult)), (typeof(Cublas), typeof(CublasStatus)), (typeof(Cudnn), typeof(CudnnStatus)) })
            foreach (var method in NativeMethods(binding).Where(m => m.ReturnType != typeof(nint) && m.ReturnType != typeof(nuint) && m.ReturnType != typeof(void)))
                Assert.That(method.ReturnType, Is.EqualTo(status), $"{binding.Name}.{method.Name}");
    }

    private static IEnumerable<MethodInfo> NativeMethods(Type binding) =>
        binding.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.GetCustomAttribute<LibraryImportAttribute>() is not null);

    private static List<string> BoundSymbols(Type binding) =>
        NativeMethods(binding).Select(m => m.GetCustomAttribute<LibraryImportAttribute>()!.EntryPoint ?? m.Name).ToList();
}
