using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ArTar.Cpu;

// The micro-kernels: C[MR×NR] = alpha · Σ_p Ap[p,:]ᵀ Bp[p,:] + beta · C over packed panels (see Gemm.cs).
// Each keeps its MR×NR accumulators in registers; per k it loads two B vectors and broadcasts MR values of A.
public static partial class Gemm
{
    /// <summary>10×(2 Vector512): AVX-512, 20 accumulators of 32 registers.</summary>
    private static unsafe void Kernel512<T>(int kc, T* a, T* b, T* c, int ldc, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default;
        Vector512<T> c10 = default, c11 = default;
        Vector512<T> c20 = default, c21 = default;
        Vector512<T> c30 = default, c31 = default;
        Vector512<T> c40 = default, c41 = default;
        Vector512<T> c50 = default, c51 = default;
        Vector512<T> c60 = default, c61 = default;
        Vector512<T> c70 = default, c71 = default;
        Vector512<T> c80 = default, c81 = default;
        Vector512<T> c90 = default, c91 = default;
        for (int p = 0; p < kc; p++, a += 10, b += 2 * w)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w), x;
            x = Vector512.Create(a[0]); c00 = MulAdd(x, b0, c00); c01 = MulAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = MulAdd(x, b0, c10); c11 = MulAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = MulAdd(x, b0, c20); c21 = MulAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = MulAdd(x, b0, c30); c31 = MulAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = MulAdd(x, b0, c40); c41 = MulAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = MulAdd(x, b0, c50); c51 = MulAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = MulAdd(x, b0, c60); c61 = MulAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = MulAdd(x, b0, c70); c71 = MulAdd(x, b1, c71);
            x = Vector512.Create(a[8]); c80 = MulAdd(x, b0, c80); c81 = MulAdd(x, b1, c81);
            x = Vector512.Create(a[9]); c90 = MulAdd(x, b0, c90); c91 = MulAdd(x, b1, c91);
        }
        Vector512<T> va = Vector512.Create(alpha), vb = Vector512.Create(beta);
        bool accumulate = beta != T.Zero;
        Store(c, w, c00, c01, va, vb, accumulate);
        Store(c + ldc, w, c10, c11, va, vb, accumulate);
        Store(c + (long)2 * ldc, w, c20, c21, va, vb, accumulate);
        Store(c + (long)3 * ldc, w, c30, c31, va, vb, accumulate);
        Store(c + (long)4 * ldc, w, c40, c41, va, vb, accumulate);
        Store(c + (long)5 * ldc, w, c50, c51, va, vb, accumulate);
        Store(c + (long)6 * ldc, w, c60, c61, va, vb, accumulate);
        Store(c + (long)7 * ldc, w, c70, c71, va, vb, accumulate);
        Store(c + (long)8 * ldc, w, c80, c81, va, vb, accumulate);
        Store(c + (long)9 * ldc, w, c90, c91, va, vb, accumulate);
    }

    /// <summary>6×(2 Vector256): AVX2 + FMA, 12 accumulators of 16 registers.</summary>
    private static unsafe void Kernel256<T>(int kc, T* a, T* b, T* c, int ldc, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default;
        Vector256<T> c10 = default, c11 = default;
        Vector256<T> c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default;
        Vector256<T> c40 = default, c41 = default;
        Vector256<T> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++, a += 6, b += 2 * w)
        {
            Vector256<T> b0 = Vector256.Load(b), b1 = Vector256.Load(b + w), x;
            x = Vector256.Create(a[0]); c00 = MulAdd(x, b0, c00); c01 = MulAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = MulAdd(x, b0, c10); c11 = MulAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = MulAdd(x, b0, c20); c21 = MulAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = MulAdd(x, b0, c30); c31 = MulAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = MulAdd(x, b0, c40); c41 = MulAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = MulAdd(x, b0, c50); c51 = MulAdd(x, b1, c51);
        }
        Vector256<T> va = Vector256.Create(alpha), vb = Vector256.Create(beta);
        bool accumulate = beta != T.Zero;
        Store(c, w, c00, c01, va, vb, accumulate);
        Store(c + ldc, w, c10, c11, va, vb, accumulate);
        Store(c + (long)2 * ldc, w, c20, c21, va, vb, accumulate);
        Store(c + (long)3 * ldc, w, c30, c31, va, vb, accumulate);
        Store(c + (long)4 * ldc, w, c40, c41, va, vb, accumulate);
        Store(c + (long)5 * ldc, w, c50, c51, va, vb, accumulate);
    }

    /// <summary>4×4 in scalars, for CPUs with neither (and the reference the vector kernels are tested against).</summary>
    private static unsafe void KernelScalar<T>(int kc, T* a, T* b, T* c, int ldc, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> acc = stackalloc T[16];
        acc.Clear();
        for (int p = 0; p < kc; p++, a += 4, b += 4)
            for (int r = 0; r < 4; r++)
            {
                T x = a[r];
                for (int q = 0; q < 4; q++) acc[r * 4 + q] += x * b[q];
            }
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++)
            {
                ref T dst = ref c[(long)r * ldc + q];
                dst = beta == T.Zero ? alpha * acc[r * 4 + q] : alpha * acc[r * 4 + q] + beta * dst;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> MulAdd<T>(Vector512<T> x, Vector512<T> y, Vector512<T> z)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector512.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
        return x * y + z;
    }

    /// <summary>C[0..2w) = alpha · acc + beta · C, never reading C when beta = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store<T>(T* c, int w, Vector512<T> lo, Vector512<T> hi, Vector512<T> alpha, Vector512<T> beta, bool accumulate)
        where T : unmanaged
    {
        if (accumulate)
        {
            MulAdd(alpha, lo, beta * Vector512.Load(c)).Store(c);
            MulAdd(alpha, hi, beta * Vector512.Load(c + w)).Store(c + w);
        }
        else
        {
            (alpha * lo).Store(c);
            (alpha * hi).Store(c + w);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> MulAdd<T>(Vector256<T> x, Vector256<T> y, Vector256<T> z)
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
        return x * y + z;
    }

    /// <summary>C[0..2w) = alpha · acc + beta · C, never reading C when beta = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store<T>(T* c, int w, Vector256<T> lo, Vector256<T> hi, Vector256<T> alpha, Vector256<T> beta, bool accumulate)
        where T : unmanaged
    {
        if (accumulate)
        {
            MulAdd(alpha, lo, beta * Vector256.Load(c)).Store(c);
            MulAdd(alpha, hi, beta * Vector256.Load(c + w)).Store(c + w);
        }
        else
        {
            (alpha * lo).Store(c);
            (alpha * hi).Store(c + w);
        }
    }
}
