using System.Numerics;

namespace Lru.Tensors;

/// <summary>
/// <c>C = α·Aᵀ·b + β·C</c> for a C of one column (n = 1): A stored k × m, b a column of k values, C m values apart
/// <c>ldc</c>. The GEMM's kernels would pad the one column to a whole tile (32 floats); here every row of A is read once
/// and added, scaled by its b value, into running sums held in registers. Each output is the sum over p in order of
/// fused multiply-adds, on its own lane or in the scalar loop alike, so the result does not depend on where an output
/// sits or on the thread count (outputs are split over threads, in groups of four vectors).
/// </summary>
internal static unsafe class GemvTransposed
{
    /// <summary>Whether the product takes this path: op(A) = Aᵀ, one column of C, float or double.</summary>
    public static bool Applies<T>(bool transposeA, int n) => transposeA && n == 1 && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>Runs the product; <paramref name="bStride"/> is the distance between consecutive values of b.</summary>
    public static void Run<T>(T* a, nint lda, T* b, nint bStride, T* c, nint ldc, int m, int k, T alpha, T beta, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var work = new Work<T> { A = a, Lda = lda, B = b, BStride = bStride, C = c, Ldc = ldc, M = m, K = k, Alpha = alpha, Beta = beta };
        Parallelism.For((m + GroupWidth<T>() - 1) / GroupWidth<T>(), threads, ref work);
    }

    /// <summary>Outputs per work item: four vectors.</summary>
    private static int GroupWidth<T>() => 4 * Vector<T>.Count;

    private struct Work<T> : IIndexedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* A, B, C;
        public nint Lda, BStride, Ldc;
        public int M, K;
        public T Alpha, Beta;

        public readonly void Run(int index)
        {
            int w = Vector<T>.Count, i0 = index * GroupWidth<T>(), end = Math.Min(M, i0 + GroupWidth<T>());
            int i = i0;
            if (Vector.IsHardwareAccelerated)
            {
                for (; i + 4 * w <= end; i += 4 * w) Columns(i, 4);
                for (; i + w <= end; i += w) Columns(i, 1);
            }
            for (; i < end; i++)
            {
                T sum = T.Zero;
                for (int p = 0; p < K; p++) sum = T.FusedMultiplyAdd(A[p * Lda + i], B[p * BStride], sum);
                Store(i, sum);
            }
        }

        /// <summary><paramref name="vectors"/> (1 or 4) vectors of outputs from column <paramref name="i"/>.</summary>
        private readonly void Columns(int i, int vectors)
        {
            int w = Vector<T>.Count;
            Vector<T> s0 = Vector<T>.Zero, s1 = Vector<T>.Zero, s2 = Vector<T>.Zero, s3 = Vector<T>.Zero;
            T* row = A + i;
            for (int p = 0; p < K; p++, row += Lda)
            {
                var bp = new Vector<T>(B[p * BStride]);
                s0 = Fma(Vector.Load(row), bp, s0);
                if (vectors == 4)
                {
                    s1 = Fma(Vector.Load(row + w), bp, s1);
                    s2 = Fma(Vector.Load(row + 2 * w), bp, s2);
                    s3 = Fma(Vector.Load(row + 3 * w), bp, s3);
                }
            }
            for (int j = 0; j < w; j++)
            {
                Store(i + j, s0[j]);
                if (vectors == 4)
                {
                    Store(i + w + j, s1[j]);
                    Store(i + 2 * w + j, s2[j]);
                    Store(i + 3 * w + j, s3[j]);
                }
            }
        }

        /// <summary><c>c_i = α·sum + β·c_i</c> (C not read when β is 0).</summary>
        private readonly void Store(int i, T sum)
        {
            T* ci = C + i * Ldc;
            *ci = Beta == T.Zero ? Alpha * sum : Alpha * sum + Beta * *ci;
        }

        private static Vector<T> Fma(Vector<T> a, Vector<T> b, Vector<T> c) => typeof(T) == typeof(float)
            ? Vector.FusedMultiplyAdd(a.As<T, float>(), b.As<T, float>(), c.As<T, float>()).As<float, T>()
            : Vector.FusedMultiplyAdd(a.As<T, double>(), b.As<T, double>(), c.As<T, double>()).As<double, T>();
    }
}
