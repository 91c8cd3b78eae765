using System.Numerics;

namespace Lru.Tensors;

/// <summary>Interim GEMM (to be replaced by the packed kernel).</summary>
public static class Gemm
{
    /// <summary>C = alpha·op(A)·op(B) + beta·C.</summary>
    public static void Multiply<T>(
        ReadOnlySpan<T> a, int lda, bool transposeA,
        ReadOnlySpan<T> b, int ldb, bool transposeB,
        Span<T> c, int ldc, int m, int n, int k, T alpha, T beta, int? threads = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T s = T.Zero;
                for (int p = 0; p < k; p++)
                    s += (transposeA ? a[p * lda + i] : a[i * lda + p]) * (transposeB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = alpha * s + (beta == T.Zero ? T.Zero : beta * c[i * ldc + j]);
            }
    }

    /// <summary>Dense convenience overload.</summary>
    public static void Multiply<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> c, int m, int n, int k,
        bool transposeA = false, bool transposeB = false, bool accumulate = false, int? threads = null)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(a, transposeA ? m : k, transposeA, b, transposeB ? k : n, transposeB, c, n, m, n, k, T.One, accumulate ? T.One : T.Zero, threads);
}
