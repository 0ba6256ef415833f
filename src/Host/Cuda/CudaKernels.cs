using System.Reflection;
using System.Runtime.InteropServices;

namespace ArTar.Cuda;

/// <summary>A kernel resolved in a loaded module: launches check their arguments against the declaration.</summary>
public sealed class CudaKernel(KernelDeclaration declaration, nint function)
{
    public KernelDeclaration Declaration { get; } = declaration;
    /// <summary>The CUfunction (owned by its module).</summary>
    public nint Function { get; } = function;

    /// <summary>Enqueues a 1-D launch on the stream. Arguments are packed on the stack: nothing is allocated per launch.</summary>
    public unsafe void Launch(CudaStream stream, uint grid, uint block, uint sharedBytes, params ReadOnlySpan<KernelArgument> arguments)
    {
        int count = Declaration.Parameters.Count;
        ulong* values = stackalloc ulong[count];
        void** pointers = stackalloc void*[count];
        Declaration.Pack(arguments, values, pointers);
        CudaStatus.Check(CudaDriver.cuLaunchKernel(Function, grid, 1, 1, block, 1, 1, sharedBytes, stream, pointers, null), Declaration.Entry);
    }
}

/// <summary>
/// Every embedded PTX module, loaded on first use into the current (primary) context, and every declared kernel in it.
/// Dispose before the context is released.
/// </summary>
public sealed class CudaKernelLibrary : IDisposable
{
    private readonly Dictionary<string, CudaModule> _modules = [];
    private readonly Dictionary<KernelDeclaration, CudaKernel> _kernels = [];

    /// <summary>Every <see cref="KernelDeclaration"/> declared as a public static field in the Host assembly.</summary>
    public static IReadOnlyList<KernelDeclaration> Declarations { get; } = typeof(KernelDeclaration).Assembly.GetTypes()
        .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static))
        .Where(f => f.FieldType == typeof(KernelDeclaration))
        .Select(f => (KernelDeclaration)f.GetValue(null)!)
        .ToArray();

    public CudaKernel this[KernelDeclaration declaration]
    {
        get
        {
            if (_kernels.TryGetValue(declaration, out var kernel)) return kernel;
            if (!_modules.TryGetValue(declaration.Module, out var module))
                _modules[declaration.Module] = module = LoadModule(declaration.Module);
            CudaStatus.Check(CudaDriver.cuModuleGetFunction(out nint function, module, declaration.Entry), $"{declaration.Entry} in kernels/{declaration.Module}.ptx");
            return _kernels[declaration] = new CudaKernel(declaration, function);
        }
    }

    /// <summary>Loads every declared kernel now, so a broken module fails at start-up rather than mid-training.</summary>
    public void LoadAll()
    {
        foreach (var declaration in Declarations) _ = this[declaration];
    }

    /// <summary>JIT-compiles one embedded module; a refusal carries the JIT's error log and its info log.</summary>
    public static unsafe CudaModule LoadModule(string name)
    {
        const int logBytes = 16384;
        byte[] image = PtxModules.ReadImage(name);
        byte* log = stackalloc byte[logBytes];
        byte* info = stackalloc byte[logBytes];
        log[0] = 0;
        info[0] = 0;
        CuJitOption* options = stackalloc CuJitOption[4];
        void** values = stackalloc void*[4];
        options[0] = CuJitOption.CU_JIT_ERROR_LOG_BUFFER; values[0] = log;
        options[1] = CuJitOption.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES; values[1] = (void*)(nuint)logBytes;   // the size sits in the slot itself
        options[2] = CuJitOption.CU_JIT_INFO_LOG_BUFFER; values[2] = info;
        options[3] = CuJitOption.CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES; values[3] = (void*)(nuint)logBytes;
        CuResult status;
        CudaModule module;
        fixed (byte* ptx = image) status = CudaDriver.cuModuleLoadDataEx(out module, ptx, 4, options, values);
        if (status == CuResult.CUDA_SUCCESS) return module;
        string? infoLog = Marshal.PtrToStringUTF8((nint)info)?.Trim();
        CudaStatus.Check(status, $"kernels/{name}.ptx: {Marshal.PtrToStringUTF8((nint)log)?.Trim()}" + (string.IsNullOrEmpty(infoLog) ? "" : $" (JIT info: {infoLog})"), "cuModuleLoadDataEx");
        return module;
    }

    public void Dispose()
    {
        foreach (var module in _modules.Values) module.Dispose();
        _modules.Clear();
        _kernels.Clear();
    }
}
