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
    /// <summary>
    /// <c>y[r, :] = x[r, :] ⊙ d</c> for every row, or <c>y[r, :] += x[r, :] ⊙ d</c> when <paramref name="accumulate"/>
    /// (the product rounded, then added: no fused multiply-add), with d of length h.
    /// </summary>
    public static void MultiplyRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> d, Span<T> y, int rows, bool accumulate = false)
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
                if (accumulate) AddProducts(xr, pd, yr, h);
                else Products(xr, pd, yr, h);
            }
        }
    }

    /// <summary>
    /// <c>acc[:] += Σ_r a[r, :] ⊙ b[r, :]</c> over the rows in order (one pass; the products rounded, then added).
    /// </summary>
    public static void AccumulateProducts<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> acc, int rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = acc.Length;
        Guard.Length(a.Length, nameof(a), "rows, h", rows, h);
        Guard.Length(b.Length, nameof(b), "rows, h", rows, h);
        fixed (T* pa = a, pb = b, pc = acc)
        {
            for (int r = 0; r < rows; r++) AddProducts(pa + (long)r * h, pb + (long)r * h, pc, h);
        }
    }

    /// <summary><c>y[c] = x[c]·d[c]</c> for c &lt; h.</summary>
    private static void Products<T>(T* x, T* d, T* y, int h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; c <= h - Vector512<T>.Count; c += Vector512<T>.Count)
                (Vector512.Load(x + c) * Vector512.Load(d + c)).Store(y + c);
        if (Vector256.IsHardwareAccelerated)
            for (; c <= h - Vector256<T>.Count; c += Vector256<T>.Count)
                (Vector256.Load(x + c) * Vector256.Load(d + c)).Store(y + c);
        for (; c < h; c++) y[c] = x[c] * d[c];
    }

    /// <summary><c>y[c] = x[c]·d[c] + y[c]</c> for c &lt; h.</summary>
    private static void AddProducts<T>(T* x, T* d, T* y, int h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; c <= h - Vector512<T>.Count; c += Vector512<T>.Count)
                (Vector512.Load(x + c) * Vector512.Load(d + c) + Vector512.Load(y + c)).Store(y + c);
        if (Vector256.IsHardwareAccelerated)
            for (; c <= h - Vector256<T>.Count; c += Vector256<T>.Count)
                (Vector256.Load(x + c) * Vector256.Load(d + c) + Vector256.Load(y + c)).Store(y + c);
        for (; c < h; c++) y[c] = x[c] * d[c] + y[c];
    }
}
