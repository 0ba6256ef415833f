using System.Numerics;

namespace ArTar.Cpu;

/// <summary>
/// General matrix product on the CPU: C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major,
/// leading dimensions in elements (op(X) = Xᵀ when its trans flag is set; A is stored m×k, or k×m if transposed).
/// </summary>
public static class Gemm
{
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Placeholder: the straightforward triple loop. The blocked, vectorised kernel replaces it.
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                    sum += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = alpha * sum + (beta == T.Zero ? T.Zero : beta * c[i * ldc + j]);
            }
    }
}
