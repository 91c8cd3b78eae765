using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Lru.Tensors;

/// <summary>
/// Row-wise products of a (rows × h) buffer with one h-vector. Short rows go through one SIMD loop over all rows:
/// there (h = 64 is 4 vectors) a library call per row costs more in dispatch than in work. Long rows
/// (h ≥ <see cref="PerRowCallsFrom"/>) call <see cref="TensorPrimitives"/> (Multiply, MultiplyAdd) once per row
/// instead (see that constant). Single-threaded, allocation-free; every element is computed as its scalar
/// expression (product rounded, then sum rounded: MultiplyAdd is not fused), so both paths give the same bits.
/// </summary>
internal static unsafe class RowOps
{
    /// <summary>
    /// The row length from which every form uses one TensorPrimitives call per row. Measured on an AMD EPYC
    /// family 26 with AVX-512, 8192 rows of floats, on arrays as the GC places them (8 to 24 bytes past a 64-byte
    /// boundary; docs/architecture.md): the loop below took 0.69-0.92x the time of the per-row calls at h = 64 and
    /// 128, but 1.4-2.8x at h = 256 and 512 for the accumulating forms (its 512-bit read-modify-write accesses split
    /// cache lines; TensorPrimitives aligns its stores) and 0.75-1.46x (no consistent win) for <c>y = x ⊙ d</c>.
    /// </summary>
    internal const int PerRowCallsFrom = 256;

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
        if (h >= PerRowCallsFrom)
        {
            for (int r = 0; r < rows; r++)
            {
                Span<T> yr = y.Slice(r * h, h);
                if (accumulate) TensorPrimitives.MultiplyAdd(x.Slice(r * h, h), d, yr, yr);
                else TensorPrimitives.Multiply(x.Slice(r * h, h), d, yr);
            }
            return;
        }
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
        if (h >= PerRowCallsFrom)
        {
            for (int r = 0; r < rows; r++) TensorPrimitives.MultiplyAdd(a.Slice(r * h, h), b.Slice(r * h, h), acc, acc);
            return;
        }
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
