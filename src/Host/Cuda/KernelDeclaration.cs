namespace ArTar.Cuda;

/// <summary>The kind of one kernel parameter, as PTX declares it: a pointer is .u64, int .u32/.s32, long long .u64/.s64.</summary>
public enum KernelParameterKind : byte
{
    Pointer,
    F32,
    S32,
    U32,
    S64,
    U64,
}

/// <summary>
/// One kernel of one PTX module, with its parameters in order: the C# image of a kernels/*.cu signature. Declared as
/// static fields of one class per module (<see cref="ClipDecayUpdateKernels"/> …); a test checks each against the module's .entry.
/// </summary>
public sealed class KernelDeclaration(string module, string entry, params KernelParameterKind[] parameters)
{
    public string Module { get; } = module;
    public string Entry { get; } = entry;
    public IReadOnlyList<KernelParameterKind> Parameters { get; } = parameters;

    public override string ToString() => $"{Module}.{Entry}({string.Join(", ", Parameters)})";

    /// <summary>
    /// Checks the arguments against the declaration and lays them out for cuLaunchKernel: values[i] holds argument i,
    /// pointers[i] = &amp;values[i]. Both spans belong to the caller (stack memory: no allocation per launch).
    /// </summary>
    public unsafe void Pack(ReadOnlySpan<KernelArgument> arguments, ulong* values, void** pointers)
    {
        if (arguments.Length != Parameters.Count)
            throw new ArgumentException($"{Entry} takes {Parameters.Count} arguments, {arguments.Length} given ({this})");
        for (int i = 0; i < arguments.Length; i++)
        {
            if (arguments[i].Kind != Parameters[i])
                throw new ArgumentException($"{Entry} argument {i} must be {Parameters[i]}, not {arguments[i].Kind} ({this})");
            values[i] = arguments[i].Bits;
            pointers[i] = values + i;
        }
    }
}

/// <summary>
/// One kernel argument: its kind and its bits, little-endian in the low bytes (a 4-byte parameter is read from the
/// slot's first 4 bytes). Implicit from float, int, uint, long; pointers and u64 are explicit, so neither is mistaken for the other.
/// </summary>
public readonly struct KernelArgument
{
    public KernelParameterKind Kind { get; }
    public ulong Bits { get; }

    private KernelArgument(KernelParameterKind kind, ulong bits) { Kind = kind; Bits = bits; }

    public static KernelArgument Pointer(ulong devicePointer) => new(KernelParameterKind.Pointer, devicePointer);
    public static KernelArgument Pointer(DeviceMemory memory) => new(KernelParameterKind.Pointer, memory.Pointer);
    public static KernelArgument U64(ulong value) => new(KernelParameterKind.U64, value);

    public static implicit operator KernelArgument(float value) => new(KernelParameterKind.F32, BitConverter.SingleToUInt32Bits(value));
    public static implicit operator KernelArgument(int value) => new(KernelParameterKind.S32, (uint)value);
    public static implicit operator KernelArgument(uint value) => new(KernelParameterKind.U32, value);
    public static implicit operator KernelArgument(long value) => new(KernelParameterKind.S64, (ulong)value);
}
