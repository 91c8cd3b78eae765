using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lru.Scans;

/// <summary>
/// SIMD row kernels for complex-diagonal recurrences. A row holds <c>n</c> complex channels as
/// <c>[re_0 … re_{n-1} | im_0 … im_{n-1}]</c>; kernels touch channels <c>[c0, c1)</c>.
/// Each has a Vector512, a Vector256 and a scalar path, and all of them round identically
/// (no fused multiply-add), so results never depend on the path taken.
/// </summary>
internal static unsafe class DiagonalKernels<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary><c>cur ← λ ⊙ prev + cur</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAdd(T* lamRe, T* lamIm, T* prev, T* cur, int n, int c0, int c1)
    {
        T* prevIm = prev + n, curIm = cur + n;
        int c = c0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c <= c1 - Vector512<T>.Count; c += Vector512<T>.Count)
            {
                var lr = Vector512.Load(lamRe + c); var li = Vector512.Load(lamIm + c);
                var pr = Vector512.Load(prev + c); var pi = Vector512.Load(prevIm + c);
                Vector512.Store(lr * pr - li * pi + Vector512.Load(cur + c), cur + c);
                Vector512.Store(lr * pi + li * pr + Vector512.Load(curIm + c), curIm + c);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; c <= c1 - Vector256<T>.Count; c += Vector256<T>.Count)
            {
                var lr = Vector256.Load(lamRe + c); var li = Vector256.Load(lamIm + c);
                var pr = Vector256.Load(prev + c); var pi = Vector256.Load(prevIm + c);
                Vector256.Store(lr * pr - li * pi + Vector256.Load(cur + c), cur + c);
                Vector256.Store(lr * pi + li * pr + Vector256.Load(curIm + c), curIm + c);
            }
        }
        for (; c < c1; c++)
        {
            T lr = lamRe[c], li = lamIm[c], pr = prev[c], pi = prevIm[c];
            cur[c] = lr * pr - li * pi + cur[c];
            curIm[c] = lr * pi + li * pr + curIm[c];
        }
    }

    /// <summary><c>p ← λ ⊙ p; cur ← cur + p</c> (the fix-up step of the chunked scan).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Propagate(T* lamRe, T* lamIm, T* p, T* cur, int n, int c0, int c1)
    {
        T* pIm = p + n, curIm = cur + n;
        int c = c0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c <= c1 - Vector512<T>.Count; c += Vector512<T>.Count)
            {
                var lr = Vector512.Load(lamRe + c); var li = Vector512.Load(lamIm + c);
                var pr = Vector512.Load(p + c); var pi = Vector512.Load(pIm + c);
                var nr = lr * pr - li * pi;
                var ni = lr * pi + li * pr;
                Vector512.Store(nr, p + c); Vector512.Store(ni, pIm + c);
                Vector512.Store(Vector512.Load(cur + c) + nr, cur + c);
                Vector512.Store(Vector512.Load(curIm + c) + ni, curIm + c);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; c <= c1 - Vector256<T>.Count; c += Vector256<T>.Count)
            {
                var lr = Vector256.Load(lamRe + c); var li = Vector256.Load(lamIm + c);
                var pr = Vector256.Load(p + c); var pi = Vector256.Load(pIm + c);
                var nr = lr * pr - li * pi;
                var ni = lr * pi + li * pr;
                Vector256.Store(nr, p + c); Vector256.Store(ni, pIm + c);
                Vector256.Store(Vector256.Load(cur + c) + nr, cur + c);
                Vector256.Store(Vector256.Load(curIm + c) + ni, curIm + c);
            }
        }
        for (; c < c1; c++)
        {
            T lr = lamRe[c], li = lamIm[c], pr = p[c], pi = pIm[c];
            T nr = lr * pr - li * pi, ni = lr * pi + li * pr;
            p[c] = nr; pIm[c] = ni;
            cur[c] += nr; curIm[c] += ni;
        }
    }

    /// <summary><c>g ← g + d ⊙ conj(x)</c> over all n channels: <c>(d_re x_re + d_im x_im) + i(d_im x_re − d_re x_im)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateConjugateProduct(T* d, T* x, T* g, int n)
    {
        T* dIm = d + n, xIm = x + n, gIm = g + n;
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; c <= n - Vector512<T>.Count; c += Vector512<T>.Count)
            {
                var dr = Vector512.Load(d + c); var di = Vector512.Load(dIm + c);
                var xr = Vector512.Load(x + c); var xi = Vector512.Load(xIm + c);
                Vector512.Store(Vector512.Load(g + c) + (dr * xr + di * xi), g + c);
                Vector512.Store(Vector512.Load(gIm + c) + (di * xr - dr * xi), gIm + c);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; c <= n - Vector256<T>.Count; c += Vector256<T>.Count)
            {
                var dr = Vector256.Load(d + c); var di = Vector256.Load(dIm + c);
                var xr = Vector256.Load(x + c); var xi = Vector256.Load(xIm + c);
                Vector256.Store(Vector256.Load(g + c) + (dr * xr + di * xi), g + c);
                Vector256.Store(Vector256.Load(gIm + c) + (di * xr - dr * xi), gIm + c);
            }
        }
        for (; c < n; c++)
        {
            T dr = d[c], di = dIm[c], xr = x[c], xi = xIm[c];
            g[c] += dr * xr + di * xi;
            gIm[c] += di * xr - dr * xi;
        }
    }
}
