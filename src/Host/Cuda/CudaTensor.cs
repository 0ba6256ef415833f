using ArTar.Backends;

namespace ArTar.Cuda;

/// <summary>
/// A device buffer of float32 (or int32 token ids), or a view into one (arena parameters: disposing a view does nothing).
/// Token tensors keep a pinned host mirror of their ids: uploads go through it asynchronously, and the host checks ids
/// against the vocabulary there (the kernels trust them; docs/cuda.md §3).
/// </summary>
public sealed class CudaTensor : ITensor
{
    private readonly DeviceMemory? _memory;

    internal CudaTensor(DeviceMemory? memory, ulong pointer, long length, bool tokens)
    {
        _memory = memory;
        Pointer = pointer;
        Length = length;
        IsTokens = tokens;
    }

    /// <summary>The CUdeviceptr of element 0.</summary>
    public ulong Pointer { get; }
    public long Length { get; }
    public bool IsTokens { get; }

    internal PinnedHostMemory? Mirror { get; set; }   // tokens: the ids last uploaded (zero at allocation)
    internal CudaEvent? MirrorCopied { get; set; }    // recorded after the async copy out of the mirror

    /// <summary>Element offset → device pointer.</summary>
    public ulong At(long element) => Pointer + (ulong)(element * sizeof(float));

    public void Dispose()
    {
        _memory?.Dispose();
        Mirror?.Dispose();
        MirrorCopied?.Dispose();
    }
}
