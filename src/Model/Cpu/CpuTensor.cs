using System.Numerics;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>A CPU tensor: a managed array, or a slice of one (arena views).</summary>
public sealed class CpuTensor<T> : ITensor where T : unmanaged, IFloatingPointIeee754<T>
{
    internal CpuTensor(T[] array, int offset, int length)
    {
        Array = array;
        Offset = offset;
        Count = length;
    }

    internal T[] Array { get; }
    internal int Offset { get; }
    internal int Count { get; }

    public long Length => Count;

    public Span<T> Span => Array.AsSpan(Offset, Count);

    public void Dispose() { }
}

/// <summary>Token ids on the CPU.</summary>
public sealed class CpuTokens(int length) : ITensor
{
    public int[] Ids { get; } = new int[length];
    public long Length => Ids.Length;
    public void Dispose() { }
}
