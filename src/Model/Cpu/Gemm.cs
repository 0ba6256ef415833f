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
/// into NR-column micro-panels, then a register-blocked FMA micro-kernel (AVX-512, else AVX2+FMA, else scalar)
/// computes each MR×NR tile of C. Products above ~2M multiply-adds are cut into one part per core: a range of
/// rows or columns of C, or a slice of k when k is much the longest side. beta = 0 never reads C; alpha = 0 or
/// k = 0 only scales C. C must not overlap A or B. Results are deterministic for a given core count (a k-split
/// sums in a different order than one core does). Packing buffers are pooled: nothing large is allocated per call.
/// </remarks>
public static partial class Gemm
{
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(Best, (long)m * n * k < ParallelThreshold ? 1 : Environment.ProcessorCount,
            transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>
    /// C = alpha · op(A) · B + beta · C with B packed beforehand by <see cref="Pack{T}"/>: for many products with one B
    /// (the recurrent weights over the steps of a window), so that each product packs only its small A.
    /// </summary>
    internal static void Multiply<T>(bool transA, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
        PackedB<T> b, T beta, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(b.Kernel, (long)m * n * k < ParallelThreshold ? 1 : Environment.ProcessorCount,
            transA, false, m, n, k, alpha, a, lda, default, 1, beta, c, ldc, packedB: b);

    /// <summary>Packs op(B) (k×n) into <paramref name="packed"/> in the layout every product with it reads.</summary>
    internal static unsafe void Pack<T>(bool transB, int k, int n, ReadOnlySpan<T> b, int ldb, PackedB<T> packed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckOperand("B", b.Length, transB ? n : k, transB ? k : n, ldb);
        packed.Shape(k, n);
        fixed (T* pb = b, dst = packed.Buffer)
        {
            int nr = packed.Nr;
            for (int p0 = 0; p0 < k; p0 += packed.Kc)
            {
                int kc = Math.Min(packed.Kc, k - p0);
                T* slice = dst + (long)p0 * packed.PaddedN;
                for (int c0 = 0; c0 < n; c0 += nr)
                {
                    int cols = Math.Min(nr, n - c0);
                    if (transB) PackColumns(pb + (long)c0 * ldb + p0, ldb, cols, kc, nr, slice + (long)c0 * kc);
                    else PackRows(pb + (long)p0 * ldb + c0, ldb, cols, kc, nr, slice + (long)c0 * kc);
                }
            }
        }
    }

    /// <summary>The micro-kernel products run on here (Vector512, Vector256 or Scalar), for logs and benchmarks.</summary>
    public static string KernelName => Best.ToString();

    /// <summary>Which micro-kernel a product runs on; <see cref="Best"/> is what this CPU supports.</summary>
    internal enum Kernel { Scalar, Vector256, Vector512 }

    internal static readonly Kernel Best =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Kernel.Vector512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? Kernel.Vector256
        : Kernel.Scalar;

    /// <summary>Products smaller than this many multiply-adds stay on the calling thread.</summary>
    private const long ParallelThreshold = 1L << 21;

    /// <summary>
    /// Block sizes in elements: KC (depth of a packed slice), NC (columns of a packed B block), MC (rows of a packed
    /// A block). By default a KC×NC block of B (~512 KiB) stays in L2 while MR×KC micro-panels of A sit in L1, and
    /// KC is long (768 floats) so that C, the largest operand of the decoder products, is rewritten seldom.
    /// </summary>
    internal readonly record struct Blocking(int Kc, int Nc, int Mc)
    {
        public static Blocking For<T>() where T : unmanaged
        {
            int kc = 3072 / Unsafe.SizeOf<T>();                  // 768 floats, 384 doubles
            return new(kc, 512 * 1024 / (kc * Unsafe.SizeOf<T>()), 840);
        }
    }

    internal static unsafe void Multiply<T>(Kernel kernel, int threads, bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc, Blocking? blocking = null,
        PackedB<T>? packedB = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"Gemm: negative size m={m}, n={n}, k={k}.");
        CheckOperand("A", a.Length, transA ? k : m, transA ? m : k, lda);
        if (packedB is null) CheckOperand("B", b.Length, transB ? n : k, transB ? k : n, ldb);
        else if (packedB.Kernel != kernel) throw new ArgumentException($"Gemm: B was packed for the {packedB.Kernel} kernel, the product runs {kernel}.");
        else if (packedB.K != k || packedB.N != n) throw new ArgumentException($"Gemm: packed B is {packedB.K}×{packedB.N}, the product needs {k}×{n}.");
        CheckOperand("C", c.Length, m, n, ldc);
        if (m == 0 || n == 0) return;

        fixed (T* pa = a, pb = b, pc = c, pp = packedB is null ? null : packedB.Buffer)
        {
            if (k == 0 || alpha == T.Zero)
            {
                ScaleC(pc, ldc, m, n, beta);
                return;
            }
            var job = new Job<T>(kernel, blocking ?? Blocking.For<T>(), transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc,
                pp, packedB?.Kc ?? 0);
            int parts = threads <= 1 ? 1 : job.Partition(threads);
            if (parts == 1)
            {
                job.Run(0, 1);
                return;
            }
            Workspace? partials = job.SplitsDepth ? Workspace.Rent((parts - 1) * (long)m * n * sizeof(T)) : null;
            try
            {
                job.Partials = partials is null ? null : (T*)partials.Pointer;
                WorkerPair.Run(parts, part => job.Run(part, parts));
                if (partials is not null) job.AddPartials(parts);
            }
            finally { if (partials is not null) Workspace.Return(partials); }
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
        private readonly int _mr, _nr, _kcMax, _mc, _nc;
        private readonly T* _packedB;        // op(B) packed once (Gemm.Pack), or null: each part packs its blocks
        private Split _split;

        /// <summary>Parts 1.. of a depth split write their m×n products here (part 0 writes C), summed after.</summary>
        public T* Partials;

        private enum Split { Rows, Columns, Depth }

        public Job(Kernel kernel, Blocking blocking, bool transA, bool transB, int m, int n, int k, T alpha,
            T* a, int lda, T* b, int ldb, T beta, T* c, int ldc, T* packedB, int packedKc)
        {
            (_kernel, _transA, _transB, _m, _n, _k, _alpha, _lda, _ldb, _beta, _ldc) =
                (kernel, transA, transB, m, n, k, alpha, lda, ldb, beta, ldc);
            _a = a;
            _b = b;
            _c = c;
            (_mr, _nr) = TileShape<T>(kernel);
            _kcMax = Math.Min(blocking.Kc, k);
            _packedB = packedB;
            if (packedB != null) _kcMax = packedKc;            // the slices B was packed in
            _nc = RoundUp(Math.Min(blocking.Nc, n), _nr);
            _mc = RoundUp(Math.Min(blocking.Mc, m), _mr);
        }

        public bool SplitsDepth => _split == Split.Depth;

        /// <summary>
        /// How many parts the product splits into. Parts of rows each pack all of B, parts of columns all of A; when
        /// k is much the longest side (dZ·E, dG·W) that copying would be large, so the parts take slices of k
        /// instead and only the m×n partial products are added up afterwards.
        /// </summary>
        public int Partition(int threads)
        {
            int rowTiles = (_m + _mr - 1) / _mr, colTiles = (_n + _nr - 1) / _nr;
            _split = _packedB == null && _k >= 2 * Math.Max(_m, _n) ? Split.Depth : rowTiles > colTiles ? Split.Rows : Split.Columns;
            int units = _split switch { Split.Depth => _k / 64, Split.Rows => rowTiles, _ => colTiles };
            return Math.Max(1, Math.Min(threads, units));
        }

        public void Run(int part, int parts)
        {
            int i0 = 0, i1 = _m, j0 = 0, j1 = _n, p0 = 0, p1 = _k;
            T* c = _c;
            int ldc = _ldc;
            T beta = _beta;
            if (parts > 1)
            {
                switch (_split)
                {
                    case Split.Rows: (i0, i1) = Range(part, parts, _m, _mr); break;
                    case Split.Columns: (j0, j1) = Range(part, parts, _n, _nr); break;
                    default:
                        (p0, p1) = Range(part, parts, _k, 1);
                        if (part > 0)
                        {
                            c = Partials + (part - 1) * (long)_m * _n;
                            (ldc, beta) = (_n, T.Zero);
                        }
                        break;
                }
            }
            if (i0 >= i1 || j0 >= j1 || p0 >= p1) return;

            // Even slices of this part's k-range: no thin last slice.
            int kBlocks = (p1 - p0 + _kcMax - 1) / _kcMax, kcPart = _packedB != null ? _kcMax : (p1 - p0 + kBlocks - 1) / kBlocks;
            var ws = Workspace.Rent(((long)_mc * _kcMax + (long)_kcMax * _nc + _mr * _nr) * Unsafe.SizeOf<T>());
            try
            {
                T* packedA = (T*)ws.Pointer, packedB = packedA + (long)_mc * _kcMax, tile = packedB + (long)_kcMax * _nc;
                for (int pb = p0; pb < p1; pb += kcPart)
                {
                    int kc = Math.Min(kcPart, p1 - pb);
                    T betaSlice = pb == p0 ? beta : T.One;      // later k-slices accumulate onto the first
                    for (int ib = i0; ib < i1; ib += _mc)
                    {
                        int mb = Math.Min(_mc, i1 - ib);
                        PackA(packedA, ib, mb, pb, kc);
                        for (int jb = j0; jb < j1; jb += _nc)
                        {
                            int nb = Math.Min(_nc, j1 - jb);
                            if (_packedB != null) packedB = _packedB + (long)pb * RoundUp(_n, _nr) + (long)jb * kc;
                            else PackB(packedB, jb, nb, pb, kc);
                            for (int ir = 0; ir < mb; ir += _mr)
                            {
                                T* ap = packedA + (long)ir * kc;
                                int rows = Math.Min(_mr, mb - ir);
                                for (int jr = 0; jr < nb; jr += _nr)
                                {
                                    T* bp = packedB + (long)jr * kc;
                                    int cols = Math.Min(_nr, nb - jr);
                                    T* cij = c + (long)(ib + ir) * ldc + jb + jr;
                                    if (rows == _mr && cols == _nr)
                                        Tile(kc, ap, bp, cij, ldc, betaSlice);
                                    else
                                    {
                                        // Edge: full tile into scratch, then only the valid part into C.
                                        Tile(kc, ap, bp, tile, _nr, T.Zero);
                                        for (int r = 0; r < rows; r++)
                                            for (int q = 0; q < cols; q++)
                                            {
                                                ref T dst = ref cij[(long)r * ldc + q];
                                                dst = betaSlice == T.Zero ? tile[r * _nr + q] : tile[r * _nr + q] + betaSlice * dst;
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

        /// <summary>C += the partial products of parts 1.. of a depth split (alpha is already in them).</summary>
        public void AddPartials(int parts)
        {
            int w = Vector<T>.Count;
            for (int part = 1; part < parts; part++)
            {
                T* src = Partials + (part - 1) * (long)_m * _n;
                for (int i = 0; i < _m; i++, src += _n)
                {
                    T* dst = _c + (long)i * _ldc;
                    int j = 0;
                    for (; j + w <= _n; j += w) Vector.Store(Vector.Load(dst + j) + Vector.Load(src + j), dst + j);
                    for (; j < _n; j++) dst[j] += src[j];
                }
            }
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
            for (int r0 = 0; r0 < mb; r0 += _mr, dst += (long)_mr * kc)
            {
                int rows = Math.Min(_mr, mb - r0);
                if (_transA) PackRows(_a + (long)p0 * _lda + ib + r0, _lda, rows, kc, _mr, dst);     // A stored k×m
                else PackColumns(_a + (long)(ib + r0) * _lda + p0, _lda, rows, kc, _mr, dst);        // A stored m×k
            }
        }

        /// <summary>op(B)[p0.., jb..] → micro-panels of NR columns, each stored k-major (NR values per k), zero-padded.</summary>
        private void PackB(T* dst, int jb, int nb, int p0, int kc)
        {
            for (int c0 = 0; c0 < nb; c0 += _nr, dst += (long)_nr * kc)
            {
                int cols = Math.Min(_nr, nb - c0);
                if (_transB) PackColumns(_b + (long)(jb + c0) * _ldb + p0, _ldb, cols, kc, _nr, dst);  // B stored n×k
                else PackRows(_b + (long)p0 * _ldb + jb + c0, _ldb, cols, kc, _nr, dst);             // B stored k×n
            }
        }
    }

    /// <summary>
    /// op(B) of some k×n product, packed as <see cref="Job{T}"/> packs its blocks: k cut into even slices of
    /// <see cref="Kc"/>, each slice a row of NR-column micro-panels (k-major, zero-padded to <see cref="PaddedN"/>).
    /// Its memory is pinned and sized once, for products up to <c>capacity</c> elements of B.
    /// </summary>
    internal sealed class PackedB<T>(long capacity, Kernel kernel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public PackedB(long capacity) : this(capacity, Best) { }

        public readonly T[] Buffer = GC.AllocateArray<T>(checked((int)capacity), pinned: true);
        public readonly Kernel Kernel = kernel;
        public int Nr => TileShape<T>(Kernel).Nr;
        public int K { get; private set; }
        public int N { get; private set; }
        public int Kc { get; private set; }
        public int PaddedN { get; private set; }

        /// <summary>Room for a product of this depth and width, whatever the tile padding.</summary>
        public static long CapacityFor(int k, int n) => (long)k * (n + TileShape<T>(Best).Nr);

        internal void Shape(int k, int n)
        {
            int kcMax = Math.Max(1, Math.Min(Blocking.For<T>().Kc, k)), blocks = Math.Max(1, (k + kcMax - 1) / kcMax);
            (K, N, Kc, PaddedN) = (k, n, Math.Max(1, (k + blocks - 1) / blocks), RoundUp(n, Nr));
            if ((long)k * PaddedN > Buffer.Length)
                throw new ArgumentException($"Gemm: a packed {k}×{n} B does not fit a buffer of {Buffer.Length} elements.");
        }
    }

    /// <summary>dst[p·width + q] = src[p·ld + q] for q &lt; count, zero up to width: each k already gives contiguous values.</summary>
    private static unsafe void PackRows<T>(T* src, int ld, int count, int kc, int width, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count;
        for (int p = 0; p < kc; p++, src += ld, dst += width)
        {
            int q = 0;
            for (; q + w <= count; q += w) Vector.Store(Vector.Load(src + q), dst + q);   // short rows: no memmove call
            for (; q < count; q++) dst[q] = src[q];
            for (; q < width; q++) dst[q] = T.Zero;
        }
    }

    /// <summary>dst[p·width + q] = src[q·ld + p] for q &lt; count, zero up to width: a transpose, the count source rows read as parallel streams.</summary>
    private static unsafe void PackColumns<T>(T* src, int ld, int count, int kc, int width, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int q0 = 0;
        if (typeof(T) == typeof(float) && Avx.IsSupported)
        {
            // Whole 8×8 squares through registers (the recurrent step's W_hhᵀ is packed anew for every step).
            for (; q0 + 8 <= count; q0 += 8)
            {
                float* s = (float*)src + (long)q0 * ld, d = (float*)dst + q0;
                int p = 0;
                for (; p + 8 <= kc; p += 8) Transpose8x8(s + p, ld, d + (long)p * width, width);
                for (; p < kc; p++)
                    for (int q = 0; q < 8; q++) d[(long)p * width + q] = s[(long)q * ld + p];
            }
        }
        for (int p = 0; p < kc; p++)
        {
            T* s = src + p + (long)q0 * ld, d = dst + (long)p * width;
            for (int q = q0; q < count; q++, s += ld) d[q] = *s;
            for (int q = count; q < width; q++) d[q] = T.Zero;
        }
    }

    /// <summary>d[j·ldd + i] = s[i·lds + j] for an 8×8 square of floats: unpack, shuffle, swap 128-bit halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Transpose8x8(float* s, int lds, float* d, int ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(s), r1 = Avx.LoadVector256(s + lds),
            r2 = Avx.LoadVector256(s + 2L * lds), r3 = Avx.LoadVector256(s + 3L * lds),
            r4 = Avx.LoadVector256(s + 4L * lds), r5 = Avx.LoadVector256(s + 5L * lds),
            r6 = Avx.LoadVector256(s + 6L * lds), r7 = Avx.LoadVector256(s + 7L * lds);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3),
            t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE),
            u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2L * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3L * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4L * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5L * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6L * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7L * ldd, Avx.Permute2x128(u3, u7, 0x31));
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
