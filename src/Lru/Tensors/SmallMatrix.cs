using System.Numerics;
using System.Runtime.Intrinsics;

namespace Lru.Tensors;

/// <summary>
/// Single-threaded, allocation-free products for a few rows at a time (streaming steps), where
/// packing a GEMM would cost more than the product itself.
/// </summary>
internal static unsafe class SmallMatrix
{
    /// <summary>
    /// <c>y[r, :] (+)= Σ_i x[r, i] · w[i, :]</c> for <paramref name="rows"/> rows: <c>x</c> is
    /// (rows × k), <c>w</c> is (k × n), <c>y</c> is (rows × n), all dense row-major.
    /// </summary>
    public static void MultiplyRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, Span<T> y, int rows, int k, int n, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x, pw = w, py = y)
        {
            for (int r = 0; r < rows; r++)
                Row(px + (long)r * k, pw, py + (long)r * n, k, n, accumulate);
        }
    }

    private static void Row<T>(T* x, T* w, T* y, int k, int n, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            int width = Vector512<T>.Count;
            for (; j <= n - 4 * width; j += 4 * width)
            {
                Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
                if (accumulate)
                {
                    a0 = Vector512.Load(y + j); a1 = Vector512.Load(y + j + width);
                    a2 = Vector512.Load(y + j + 2 * width); a3 = Vector512.Load(y + j + 3 * width);
                }
                T* wj = w + j;
                for (int i = 0; i < k; i++, wj += n)
                {
                    var xi = Vector512.Create(x[i]);
                    a0 += xi * Vector512.Load(wj); a1 += xi * Vector512.Load(wj + width);
                    a2 += xi * Vector512.Load(wj + 2 * width); a3 += xi * Vector512.Load(wj + 3 * width);
                }
                a0.Store(y + j); a1.Store(y + j + width); a2.Store(y + j + 2 * width); a3.Store(y + j + 3 * width);
            }
            for (; j <= n - width; j += width)
            {
                var a0 = accumulate ? Vector512.Load(y + j) : default;
                T* wj = w + j;
                for (int i = 0; i < k; i++, wj += n) a0 += Vector512.Create(x[i]) * Vector512.Load(wj);
                a0.Store(y + j);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            int width = Vector256<T>.Count;
            for (; j <= n - width; j += width)
            {
                var a0 = accumulate ? Vector256.Load(y + j) : default;
                T* wj = w + j;
                for (int i = 0; i < k; i++, wj += n) a0 += Vector256.Create(x[i]) * Vector256.Load(wj);
                a0.Store(y + j);
            }
        }
        for (; j < n; j++)
        {
            T sum = accumulate ? y[j] : T.Zero;
            for (int i = 0; i < k; i++) sum += x[i] * w[(long)i * n + j];
            y[j] = sum;
        }
    }
}
