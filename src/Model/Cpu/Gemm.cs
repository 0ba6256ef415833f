using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ArTar.Cpu;

/// <summary>
/// General matrix product on the CPU: C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major,
/// leading dimensions in elements (op(X) = Xᵀ when its trans flag is set; A is stored m×k, or k×m if transposed).
/// </summary>
/// <remarks>
/// Goto/BLIS-style: a KC-deep slice of op(A) is packed into MR-row micro-panels and a KC×NC block of op(B)
/// into NR-column micro-panels, then a register-blocked FMA micro-kernel computes each MR×NR tile of C.
/// The work is cut into one contiguous range of rows or columns per core. beta = 0 never reads C.
/// </remarks>
public static partial class Gemm
{
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(Best, (long)m * n * k < ParallelThreshold ? 1 : Environment.ProcessorCount,
            transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>Which micro-kernel a product runs on; <see cref="Best"/> is what this CPU supports.</summary>
    internal enum Kernel { Scalar, Vector256, Vector512 }

    internal static readonly Kernel Best =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Kernel.Vector512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? Kernel.Vector256
        : Kernel.Scalar;

    /// <summary>Products smaller than this many multiply-adds stay on the calling thread.</summary>
    private const long ParallelThreshold = 1L << 21;

    internal static unsafe void Multiply<T>(Kernel kernel, int threads, bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"Gemm: negative size m={m}, n={n}, k={k}.");
        CheckOperand("A", a.Length, transA ? k : m, transA ? m : k, lda);
        CheckOperand("B", b.Length, transB ? n : k, transB ? k : n, ldb);
        CheckOperand("C", c.Length, m, n, ldc);
        if (m == 0 || n == 0) return;

        fixed (T* pa = a, pb = b, pc = c)
        {
            if (k == 0 || alpha == T.Zero)
            {
                ScaleC(pc, ldc, m, n, beta);
                return;
            }
            var job = new Job<T>(kernel, transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
            int parts = threads <= 1 ? 1 : job.Partition(threads);
            if (parts == 1)
                job.Run(0, 1);
            else
                Parallel.For(0, parts, part => job.Run(part, parts));
        }
    }

    private static void CheckOperand(string name, int length, int rows, int cols, int ld)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentException($"Gemm: leading dimension of {name} is {ld}, below its row width {cols}.");
        long need = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException($"Gemm: {name} holds {length} elements, a {rows}×{cols} matrix with leading dimension {ld} needs {need}.");
    }

    private static unsafe void ScaleC<T>(T* c, int ldc, int m, int n, T beta) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<T>(c + (long)i * ldc, n);
            if (beta == T.Zero) row.Clear();
            else for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    /// <summary>One product, cut into parts that run the same blocked loops over disjoint ranges of C.</summary>
    private sealed unsafe class Job<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Kernel _kernel;
        private readonly bool _transA, _transB;
        private readonly int _m, _n, _k, _lda, _ldb, _ldc;
        private readonly T _alpha, _beta;
        private readonly T* _a, _b, _c;
        private readonly int _mr, _nr, _kc, _mc, _nc;
        private bool _splitRows;

        public Job(Kernel kernel, bool transA, bool transB, int m, int n, int k, T alpha,
            T* a, int lda, T* b, int ldb, T beta, T* c, int ldc)
        {
            (_kernel, _transA, _transB, _m, _n, _k, _alpha, _lda, _ldb, _beta, _ldc) =
                (kernel, transA, transB, m, n, k, alpha, lda, ldb, beta, ldc);
            _a = a;
            _b = b;
            _c = c;
            (_mr, _nr) = TileShape<T>(kernel);
            // Block sizes: a KC×NC block of B (~512 KiB) stays in L2 while MR×KC micro-panels of A sit in L1.
            int kcMax = 256, ncMax = 256 * 1024 / (kcMax * Unsafe.SizeOf<T>()) * 2;
            int kBlocks = (k + kcMax - 1) / kcMax;
            _kc = (k + kBlocks - 1) / kBlocks;               // even split of k: no thin last block
            _nc = RoundUp(Math.Min(ncMax, n), _nr);
            _mc = RoundUp(Math.Min(840, m), _mr);
        }

        /// <summary>How many parts the product splits into, along the longer side of C in tiles.</summary>
        public int Partition(int threads)
        {
            int rowTiles = (_m + _mr - 1) / _mr, colTiles = (_n + _nr - 1) / _nr;
            _splitRows = rowTiles > colTiles;
            return Math.Max(1, Math.Min(threads, _splitRows ? rowTiles : colTiles));
        }

        public void Run(int part, int parts)
        {
            int i0 = 0, i1 = _m, j0 = 0, j1 = _n;
            if (parts > 1)
            {
                if (_splitRows) (i0, i1) = Range(part, parts, _m, _mr);
                else (j0, j1) = Range(part, parts, _n, _nr);
            }
            if (i0 >= i1 || j0 >= j1) return;

            var ws = Workspace.Rent(((long)_mc * _kc + (long)_kc * _nc + _mr * _nr) * Unsafe.SizeOf<T>());
            try
            {
                T* packedA = (T*)ws.Pointer, packedB = packedA + (long)_mc * _kc, tile = packedB + (long)_kc * _nc;
                for (int p0 = 0; p0 < _k; p0 += _kc)
                {
                    int kc = Math.Min(_kc, _k - p0);
                    T beta = p0 == 0 ? _beta : T.One;      // later k-slices accumulate onto the first
                    for (int ib = i0; ib < i1; ib += _mc)
                    {
                        int mb = Math.Min(_mc, i1 - ib);
                        PackA(packedA, ib, mb, p0, kc);
                        for (int jb = j0; jb < j1; jb += _nc)
                        {
                            int nb = Math.Min(_nc, j1 - jb);
                            PackB(packedB, jb, nb, p0, kc);
                            for (int ir = 0; ir < mb; ir += _mr)
                            {
                                T* ap = packedA + (long)ir * kc;
                                int rows = Math.Min(_mr, mb - ir);
                                for (int jr = 0; jr < nb; jr += _nr)
                                {
                                    T* bp = packedB + (long)jr * kc;
                                    int cols = Math.Min(_nr, nb - jr);
                                    T* cij = _c + (long)(ib + ir) * _ldc + jb + jr;
                                    if (rows == _mr && cols == _nr)
                                        Tile(kc, ap, bp, cij, _ldc, beta);
                                    else
                                    {
                                        // Edge: full tile into scratch, then only the valid part into C.
                                        Tile(kc, ap, bp, tile, _nr, T.Zero);
                                        for (int r = 0; r < rows; r++)
                                            for (int q = 0; q < cols; q++)
                                            {
                                                ref T dst = ref cij[(long)r * _ldc + q];
                                                dst = beta == T.Zero ? tile[r * _nr + q] : tile[r * _nr + q] + beta * dst;
                                            }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            finally { Workspace.Return(ws); }
        }

        private void Tile(int kc, T* ap, T* bp, T* c, int ldc, T beta)
        {
            switch (_kernel)
            {
                case Kernel.Vector512: Kernel512(kc, ap, bp, c, ldc, _alpha, beta); break;
                case Kernel.Vector256: Kernel256(kc, ap, bp, c, ldc, _alpha, beta); break;
                default: KernelScalar(kc, ap, bp, c, ldc, _alpha, beta); break;
            }
        }

        /// <summary>op(A)[ib.., p0..] → micro-panels of MR rows, each stored k-major (MR values per k), zero-padded.</summary>
        private void PackA(T* dst, int ib, int mb, int p0, int kc)
        {
            int mr = _mr;
            for (int r0 = 0; r0 < mb; r0 += mr, dst += (long)mr * kc)
            {
                int rows = Math.Min(mr, mb - r0);
                if (_transA)
                {
                    // A stored k×m: each k gives MR contiguous values.
                    for (int p = 0; p < kc; p++)
                    {
                        T* src = _a + (long)(p0 + p) * _lda + ib + r0;
                        T* d = dst + (long)p * mr;
                        for (int r = 0; r < rows; r++) d[r] = src[r];
                        for (int r = rows; r < mr; r++) d[r] = T.Zero;
                    }
                }
                else
                {
                    // A stored m×k: read each row along k, write it strided.
                    for (int r = 0; r < rows; r++)
                    {
                        T* src = _a + (long)(ib + r0 + r) * _lda + p0;
                        T* d = dst + r;
                        for (int p = 0; p < kc; p++) d[(long)p * mr] = src[p];
                    }
                    for (int r = rows; r < mr; r++)
                        for (int p = 0; p < kc; p++) dst[(long)p * mr + r] = T.Zero;
                }
            }
        }

        /// <summary>op(B)[p0.., jb..] → micro-panels of NR columns, each stored k-major (NR values per k), zero-padded.</summary>
        private void PackB(T* dst, int jb, int nb, int p0, int kc)
        {
            int nr = _nr;
            for (int c0 = 0; c0 < nb; c0 += nr, dst += (long)nr * kc)
            {
                int cols = Math.Min(nr, nb - c0);
                if (!_transB)
                {
                    // B stored k×n: each k gives NR contiguous values.
                    for (int p = 0; p < kc; p++)
                    {
                        T* src = _b + (long)(p0 + p) * _ldb + jb + c0;
                        T* d = dst + (long)p * nr;
                        new ReadOnlySpan<T>(src, cols).CopyTo(new Span<T>(d, cols));
                        for (int q = cols; q < nr; q++) d[q] = T.Zero;
                    }
                }
                else
                {
                    // B stored n×k: read each row along k, write it strided.
                    for (int q = 0; q < cols; q++)
                    {
                        T* src = _b + (long)(jb + c0 + q) * _ldb + p0;
                        T* d = dst + q;
                        for (int p = 0; p < kc; p++) d[(long)p * nr] = src[p];
                    }
                    for (int q = cols; q < nr; q++)
                        for (int p = 0; p < kc; p++) dst[(long)p * nr + q] = T.Zero;
                }
            }
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    /// <summary>Part <paramref name="part"/> of <paramref name="parts"/> of [0, total), cut on tile boundaries.</summary>
    private static (int, int) Range(int part, int parts, int total, int tile)
    {
        int tiles = (total + tile - 1) / tile;
        int lo = (int)((long)tiles * part / parts) * tile, hi = (int)((long)tiles * (part + 1) / parts) * tile;
        return (Math.Min(lo, total), Math.Min(hi, total));
    }

    /// <summary>Rows (MR) and columns (NR) of C one micro-kernel call computes.</summary>
    internal static (int Mr, int Nr) TileShape<T>(Kernel kernel) => kernel switch
    {
        // 10×2 vectors: 20 accumulators + 2 B vectors + 1 broadcast of 32 registers; 10 divides every ptb shape.
        Kernel.Vector512 => (10, 2 * Vector512<T>.Count),
        // 6×2 vectors: 12 accumulators + 2 + 1 of 16 registers.
        Kernel.Vector256 => (6, 2 * Vector256<T>.Count),
        _ => (4, 4),
    };
}
