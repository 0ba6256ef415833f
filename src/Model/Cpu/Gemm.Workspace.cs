using System.Runtime.CompilerServices;

namespace ArTar.Cpu;

public static partial class Gemm
{
    /// <summary>
    /// Packing buffers, pinned and 64-byte aligned, kept in a small lock-free pool so a product in steady state
    /// allocates none: each part of a product rents one and gives it back.
    /// </summary>
    private sealed unsafe class Workspace
    {
        private static readonly Workspace?[] Pool = new Workspace?[4 * Environment.ProcessorCount + 4];

        private readonly byte[] _memory;
        public readonly byte* Pointer;
        public readonly long Bytes;

        private Workspace(long bytes)
        {
            Bytes = bytes;
            _memory = GC.AllocateUninitializedArray<byte>(checked((int)bytes + 64), pinned: true);
            byte* p = (byte*)Unsafe.AsPointer(ref _memory[0]);
            Pointer = (byte*)(((nuint)p + 63) & ~(nuint)63);
        }

        /// <summary>A free buffer of at least this size; if none is free, a new one, and a smaller free one is let go
        /// so that the pool converges on buffers that fit every request.</summary>
        public static Workspace Rent(long bytes)
        {
            for (int i = 0; i < Pool.Length; i++)
            {
                var ws = Volatile.Read(ref Pool[i]);
                if (ws is not null && ws.Bytes >= bytes && Interlocked.CompareExchange(ref Pool[i], null, ws) == ws) return ws;
            }
            for (int i = 0; i < Pool.Length; i++)
                if (Interlocked.Exchange(ref Pool[i], null) is { } small)
                {
                    if (small.Bytes >= bytes) return small;       // one came back meanwhile
                    break;
                }
            return new Workspace(bytes);
        }

        public static void Return(Workspace ws)
        {
            for (int i = 0; i < Pool.Length; i++)
                if (Interlocked.CompareExchange(ref Pool[i], ws, null) is null) return;
        }
    }
}
