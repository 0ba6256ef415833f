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

        public static Workspace Rent(long bytes)
        {
            for (int i = 0; i < Pool.Length; i++)
            {
                var ws = Interlocked.Exchange(ref Pool[i], null);
                if (ws is null) continue;
                if (ws.Bytes >= bytes) return ws;
                return new Workspace(bytes);            // too small: let it go, its slot takes the bigger one back
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
