using System.Numerics;
using System.Runtime.Intrinsics;

namespace Lru.Tensors;

/// <summary>
/// Row-wise products of a (rows × h) buffer with one h-vector, in one SIMD loop over all rows:
/// for short rows (h = 64 is 4 vectors) a library call per row costs more in dispatch than in work.
/// Single-threaded, allocation-free; every element is computed as its scalar expression, so results
/// equal a loop of per-row calls.
/// </summary>
internal static unsafe class RowOps
{
    /// <summary><c>y[r, :] = x[r, :] ⊙ d</c> for every row; <paramref name="x"/> and <paramref name="y"/> are (rows × h) with h = <paramref name="d"/>.Length.</summary>
    public static void MultiplyRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> d, Span<T> y, int rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = d.Length;
        Guard.Length(x.Length, nameof(x), "rows, h", rows, h);
        Guard.Length(y.Length, nameof(y), "rows, h", rows, h);
        fixed (T* px = x, pd = d, py = y)
        {
            for (int r = 0; r < rows; r++)
            {
                T* xr = px + (long)r * h, yr = py + (long)r * h;
                int c = 0;
                if (Vector512.IsHardwareAccelerated)
                    for (; c <= h - Vector512<T>.Count; c += Vector512<T>.Count)
                        (Vector512.Load(xr + c) * Vector512.Load(pd + c)).Store(yr + c);
                if (Vector256.IsHardwareAccelerated)
                    for (; c <= h - Vector256<T>.Count; c += Vector256<T>.Count)
                        (Vector256.Load(xr + c) * Vector256.Load(pd + c)).Store(yr + c);
                for (; c < h; c++) yr[c] = xr[c] * pd[c];
            }
        }
    }

    /// <summary>
    /// <c>acc += Σ_r a[r, :] ⊙ b[r, :]</c>, adding row by row in increasing r (each step rounded as
    /// <c>a·b + acc</c>, not fused); <paramref name="a"/> and <paramref name="b"/> are (rows × h) with h = <paramref name="acc"/>.Length.
    /// </summary>
    public static void AccumulateProducts<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> acc, int rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = acc.Length;
        Guard.Length(a.Length, nameof(a), "rows, h", rows, h);
        Guard.Length(b.Length, nameof(b), "rows, h", rows, h);
        fixed (T* pa = a, pb = b, pc = acc)
        {
            for (int r = 0; r < rows; r++)
            {
                T* ar = pa + (long)r * h, br = pb + (long)r * h;
                int c = 0;
                if (Vector512.IsHardwareAccelerated)
                    for (; c <= h - Vector512<T>.Count; c += Vector512<T>.Count)
                        (Vector512.Load(ar + c) * Vector512.Load(br + c) + Vector512.Load(pc + c)).Store(pc + c);
                if (Vector256.IsHardwareAccelerated)
                    for (; c <= h - Vector256<T>.Count; c += Vector256<T>.Count)
                        (Vector256.Load(ar + c) * Vector256.Load(br + c) + Vector256.Load(pc + c)).Store(pc + c);
                for (; c < h; c++) pc[c] = ar[c] * br[c] + pc[c];
            }
        }
    }
}
