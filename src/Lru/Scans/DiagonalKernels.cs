using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lru.Scans;

/// <summary>
/// SIMD row kernels for complex-diagonal recurrences. A row holds <c>n</c> complex channels as
/// <c>[re_0 … re_{n-1} | im_0 … im_{n-1}]</c>; kernels touch channels <c>[c0, c1)</c>.
/// Each has a Vector512, a Vector256 and a scalar path (<see cref="ScanRows"/> keeps its state in registers on the
/// Vector512 path only and otherwise calls <see cref="MultiplyAdd"/> row by row), and all of them round identically
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

    /// <summary>
    /// The recurrence down <paramref name="count"/> rows, <c>row_i ← λ ⊙ row_{i−1} + row_i</c> for channels [c0, c1), row i
    /// at <c>first + i·stride</c> (a negative stride goes down memory) and row −1 being <paramref name="carry"/> (null: row 0
    /// is left as it is). The running state stays in registers, four 512-bit vectors of channels at a time, then one,
    /// instead of being stored and loaded again for every row; the channels left over (and every channel without
    /// 512-bit vectors) go row by row through <see cref="MultiplyAdd"/>. The operations are those of
    /// <see cref="MultiplyAdd"/> in the same order, so the bits are those of calling it row by row.
    /// </summary>
    public static void ScanRows(T* lamRe, T* lamIm, T* first, nint stride, int count, T* carry, int n, int c0, int c1)
    {
        if (count <= 0) return;
        int c = c0;
        if (Vector512.IsHardwareAccelerated)
        {
            int v = Vector512<T>.Count;
            for (; c <= c1 - 4 * v; c += 4 * v) ScanBlock4(lamRe + c, lamIm + c, first + c, stride, count, carry == null ? null : carry + c, n, v);
            for (; c <= c1 - v; c += v) ScanBlock1(lamRe + c, lamIm + c, first + c, stride, count, carry == null ? null : carry + c, n);
        }
        if (c < c1)
        {
            T* prev = carry, row = first;
            for (int i = 0; i < count; i++, row += stride)
            {
                if (prev != null) MultiplyAdd(lamRe, lamIm, prev, row, n, c, c1);
                prev = row;
            }
        }
    }

    /// <summary><see cref="ScanRows"/> for the 4·v channels at <paramref name="x"/> (real parts; imaginary n further on).</summary>
    private static void ScanBlock4(T* lamRe, T* lamIm, T* x, nint stride, int count, T* carry, int n, int v)
    {
        Vector512<T> lr0 = Vector512.Load(lamRe), lr1 = Vector512.Load(lamRe + v), lr2 = Vector512.Load(lamRe + 2 * v), lr3 = Vector512.Load(lamRe + 3 * v);
        Vector512<T> li0 = Vector512.Load(lamIm), li1 = Vector512.Load(lamIm + v), li2 = Vector512.Load(lamIm + 2 * v), li3 = Vector512.Load(lamIm + 3 * v);
        T* start = carry != null ? carry : x;
        Vector512<T> pr0 = Vector512.Load(start), pr1 = Vector512.Load(start + v), pr2 = Vector512.Load(start + 2 * v), pr3 = Vector512.Load(start + 3 * v);
        Vector512<T> pi0 = Vector512.Load(start + n), pi1 = Vector512.Load(start + n + v), pi2 = Vector512.Load(start + n + 2 * v), pi3 = Vector512.Load(start + n + 3 * v);
        int i = 0;
        if (carry == null)
        {
            i = 1;
            x += stride;
        }
        for (; i < count; i++, x += stride)
        {
            T* im = x + n;
            Vector512<T> r0 = lr0 * pr0 - li0 * pi0 + Vector512.Load(x), i0 = lr0 * pi0 + li0 * pr0 + Vector512.Load(im);
            Vector512<T> r1 = lr1 * pr1 - li1 * pi1 + Vector512.Load(x + v), i1 = lr1 * pi1 + li1 * pr1 + Vector512.Load(im + v);
            Vector512<T> r2 = lr2 * pr2 - li2 * pi2 + Vector512.Load(x + 2 * v), i2 = lr2 * pi2 + li2 * pr2 + Vector512.Load(im + 2 * v);
            Vector512<T> r3 = lr3 * pr3 - li3 * pi3 + Vector512.Load(x + 3 * v), i3 = lr3 * pi3 + li3 * pr3 + Vector512.Load(im + 3 * v);
            r0.Store(x); r1.Store(x + v); r2.Store(x + 2 * v); r3.Store(x + 3 * v);
            i0.Store(im); i1.Store(im + v); i2.Store(im + 2 * v); i3.Store(im + 3 * v);
            pr0 = r0; pr1 = r1; pr2 = r2; pr3 = r3;
            pi0 = i0; pi1 = i1; pi2 = i2; pi3 = i3;
        }
    }

    /// <summary><see cref="ScanRows"/> for the one vector of channels at <paramref name="x"/>.</summary>
    private static void ScanBlock1(T* lamRe, T* lamIm, T* x, nint stride, int count, T* carry, int n)
    {
        Vector512<T> lr = Vector512.Load(lamRe), li = Vector512.Load(lamIm);
        T* start = carry != null ? carry : x;
        Vector512<T> pr = Vector512.Load(start), pi = Vector512.Load(start + n);
        int i = 0;
        if (carry == null)
        {
            i = 1;
            x += stride;
        }
        for (; i < count; i++, x += stride)
        {
            Vector512<T> r = lr * pr - li * pi + Vector512.Load(x), im = lr * pi + li * pr + Vector512.Load(x + n);
            r.Store(x);
            im.Store(x + n);
            pr = r;
            pi = im;
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

    /// <summary>
    /// <see cref="AccumulateConjugateProduct"/> for <paramref name="count"/> rows in order, row i being
    /// <c>d + i·stride</c> and <c>x + i·stride</c>: the sums stay in registers, four 512-bit vectors of channels at a
    /// time, then one, the rest channel by channel, instead of being loaded and stored for every row; each element gets
    /// the same additions in the same order, so the bits of calling it row by row.
    /// </summary>
    public static void AccumulateConjugateProducts(T* d, T* x, nint stride, int count, T* g, int n)
    {
        if (count <= 0) return;
        if (!Vector512.IsHardwareAccelerated)
        {
            for (int i = 0; i < count; i++) AccumulateConjugateProduct(d + i * stride, x + i * stride, g, n);
            return;
        }
        int v = Vector512<T>.Count, c = 0;
        for (; c <= n - 4 * v; c += 4 * v) AccumulateBlock4(d + c, x + c, stride, count, g + c, n, v);
        for (; c <= n - v; c += v) AccumulateBlock1(d + c, x + c, stride, count, g + c, n);
        for (; c < n; c++)
        {
            T re = g[c], im = g[n + c];
            for (int i = 0; i < count; i++)
            {
                T* di = d + i * stride, xi = x + i * stride;
                T dr = di[c], dIm = di[n + c], xr = xi[c], xIm = xi[n + c];
                re += dr * xr + dIm * xIm;
                im += dIm * xr - dr * xIm;
            }
            g[c] = re;
            g[n + c] = im;
        }
    }

    /// <summary><see cref="AccumulateConjugateProducts"/> for the 4·v channels at <paramref name="g"/>.</summary>
    private static void AccumulateBlock4(T* d, T* x, nint stride, int count, T* g, int n, int v)
    {
        Vector512<T> r0 = Vector512.Load(g), r1 = Vector512.Load(g + v), r2 = Vector512.Load(g + 2 * v), r3 = Vector512.Load(g + 3 * v);
        Vector512<T> i0 = Vector512.Load(g + n), i1 = Vector512.Load(g + n + v), i2 = Vector512.Load(g + n + 2 * v), i3 = Vector512.Load(g + n + 3 * v);
        for (int i = 0; i < count; i++, d += stride, x += stride)
        {
            T* dIm = d + n, xIm = x + n;
            Vector512<T> dr = Vector512.Load(d), di = Vector512.Load(dIm), xr = Vector512.Load(x), xi = Vector512.Load(xIm);
            r0 += dr * xr + di * xi; i0 += di * xr - dr * xi;
            dr = Vector512.Load(d + v); di = Vector512.Load(dIm + v); xr = Vector512.Load(x + v); xi = Vector512.Load(xIm + v);
            r1 += dr * xr + di * xi; i1 += di * xr - dr * xi;
            dr = Vector512.Load(d + 2 * v); di = Vector512.Load(dIm + 2 * v); xr = Vector512.Load(x + 2 * v); xi = Vector512.Load(xIm + 2 * v);
            r2 += dr * xr + di * xi; i2 += di * xr - dr * xi;
            dr = Vector512.Load(d + 3 * v); di = Vector512.Load(dIm + 3 * v); xr = Vector512.Load(x + 3 * v); xi = Vector512.Load(xIm + 3 * v);
            r3 += dr * xr + di * xi; i3 += di * xr - dr * xi;
        }
        r0.Store(g); r1.Store(g + v); r2.Store(g + 2 * v); r3.Store(g + 3 * v);
        i0.Store(g + n); i1.Store(g + n + v); i2.Store(g + n + 2 * v); i3.Store(g + n + 3 * v);
    }

    /// <summary><see cref="AccumulateConjugateProducts"/> for the one vector of channels at <paramref name="g"/>.</summary>
    private static void AccumulateBlock1(T* d, T* x, nint stride, int count, T* g, int n)
    {
        Vector512<T> re = Vector512.Load(g), im = Vector512.Load(g + n);
        for (int i = 0; i < count; i++, d += stride, x += stride)
        {
            Vector512<T> dr = Vector512.Load(d), di = Vector512.Load(d + n), xr = Vector512.Load(x), xi = Vector512.Load(x + n);
            re += dr * xr + di * xi;
            im += di * xr - dr * xi;
        }
        re.Store(g);
        im.Store(g + n);
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
