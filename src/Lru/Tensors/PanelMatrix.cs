using System.Numerics;
using System.Runtime.Intrinsics;

namespace Lru.Tensors;

/// <summary>
/// A <c>k × n</c> matrix stored for products with a few rows at a time (streaming steps), where
/// packing a GEMM would cost more than the product itself: <c>y[r, :] (+)= Σ_i x[r, i] · w[i, :]</c>.
/// </summary>
/// <remarks>
/// The columns are cut into panels of 8 SIMD vectors (then single vectors, then a scalar tail), and
/// each panel's <c>k</c> rows are stored one after the other, so a product streams through memory
/// once, in order, with eight independent accumulators per row. At H = 128, N = 256 the two products
/// of an LRU step read 512 KiB of weights; with this layout they run at the core's load rate.
/// Each output is a sum over <c>i</c> in increasing order, whatever the layout or SIMD width.
/// Single-threaded, allocation-free.
/// </remarks>
internal sealed unsafe class PanelMatrix<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _packed;
    private readonly int _width; // elements per SIMD vector used by the kernels (1 without SIMD)

    /// <summary>Creates a zero <c>k × n</c> matrix.</summary>
    public PanelMatrix(int k, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        K = k;
        N = n;
        _packed = new T[checked(k * n)];
        _width = Vector512.IsHardwareAccelerated ? Vector512<T>.Count : Vector256.IsHardwareAccelerated ? Vector256<T>.Count : 1;
    }

    /// <summary>Rows of the matrix: the length of one input row.</summary>
    public int K { get; }

    /// <summary>Columns of the matrix: the length of one output row.</summary>
    public int N { get; }

    /// <summary>
    /// Stores <paramref name="source"/>: the <c>k × n</c> matrix row-major, or, when
    /// <paramref name="transposed"/>, its transpose (<c>n × k</c>, row-major; e.g. a Linear layer's <c>W</c>).
    /// </summary>
    public void Pack(ReadOnlySpan<T> source, bool transposed)
    {
        Guard.Length(source.Length, nameof(source), transposed ? "n, k" : "k, n", transposed ? N : K, transposed ? K : N);
        int k = K, n = N, o = 0;
        for (int j = 0; j < n;)
        {
            int panel = PanelWidth(n - j);
            for (int i = 0; i < k; i++)
                for (int c = 0; c < panel; c++)
                    _packed[o++] = transposed ? source[(j + c) * k + i] : source[i * n + j + c];
            j += panel;
        }
    }

    /// <summary>
    /// <c>y[r, :] (+)= x[r, :] · w</c> for <paramref name="rows"/> rows: <paramref name="x"/> is
    /// (rows × k) and <paramref name="y"/> (rows × n), dense row-major; they must not overlap.
    /// </summary>
    public void MultiplyRows(ReadOnlySpan<T> x, Span<T> y, int rows, bool accumulate)
    {
        Guard.Length(x.Length, nameof(x), "rows, k", rows, K);
        Guard.Length(y.Length, nameof(y), "rows, n", rows, N);
        fixed (T* px = x, py = y, pw = _packed)
        {
            for (int r = 0; r < rows; r++)
                Row(px + (long)r * K, pw, py + (long)r * N, accumulate);
        }
    }

    /// <summary>The width of the panel that starts where <paramref name="remaining"/> columns are left.</summary>
    private int PanelWidth(int remaining) =>
        remaining >= 8 * _width ? 8 * _width : remaining >= _width ? _width : remaining;

    private void Row(T* x, T* w, T* y, bool accumulate)
    {
        int k = K, n = N;
        for (int j = 0; j < n;)
        {
            int panel = PanelWidth(n - j);
            if (panel == 8 * _width && _width > 1)
            {
                if (Vector512.IsHardwareAccelerated) Panel8x512(x, w, y + j, k, accumulate);
                else Panel8x256(x, w, y + j, k, accumulate);
            }
            else if (panel == _width && _width > 1)
            {
                if (Vector512.IsHardwareAccelerated) Panel1x512(x, w, y + j, k, accumulate);
                else Panel1x256(x, w, y + j, k, accumulate);
            }
            else
                PanelScalar(x, w, y + j, k, panel, accumulate);
            w += (long)panel * k;
            j += panel;
        }
    }

    private static void Panel8x512(T* x, T* w, T* y, int k, bool accumulate)
    {
        int c = Vector512<T>.Count;
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        if (accumulate)
        {
            a0 = Vector512.Load(y); a1 = Vector512.Load(y + c); a2 = Vector512.Load(y + 2 * c); a3 = Vector512.Load(y + 3 * c);
            a4 = Vector512.Load(y + 4 * c); a5 = Vector512.Load(y + 5 * c); a6 = Vector512.Load(y + 6 * c); a7 = Vector512.Load(y + 7 * c);
        }
        for (int i = 0; i < k; i++, w += 8 * c)
        {
            var xi = Vector512.Create(x[i]);
            a0 = Simd.Fma(xi, Vector512.Load(w), a0);
            a1 = Simd.Fma(xi, Vector512.Load(w + c), a1);
            a2 = Simd.Fma(xi, Vector512.Load(w + 2 * c), a2);
            a3 = Simd.Fma(xi, Vector512.Load(w + 3 * c), a3);
            a4 = Simd.Fma(xi, Vector512.Load(w + 4 * c), a4);
            a5 = Simd.Fma(xi, Vector512.Load(w + 5 * c), a5);
            a6 = Simd.Fma(xi, Vector512.Load(w + 6 * c), a6);
            a7 = Simd.Fma(xi, Vector512.Load(w + 7 * c), a7);
        }
        a0.Store(y); a1.Store(y + c); a2.Store(y + 2 * c); a3.Store(y + 3 * c);
        a4.Store(y + 4 * c); a5.Store(y + 5 * c); a6.Store(y + 6 * c); a7.Store(y + 7 * c);
    }

    private static void Panel8x256(T* x, T* w, T* y, int k, bool accumulate)
    {
        int c = Vector256<T>.Count;
        Vector256<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        if (accumulate)
        {
            a0 = Vector256.Load(y); a1 = Vector256.Load(y + c); a2 = Vector256.Load(y + 2 * c); a3 = Vector256.Load(y + 3 * c);
            a4 = Vector256.Load(y + 4 * c); a5 = Vector256.Load(y + 5 * c); a6 = Vector256.Load(y + 6 * c); a7 = Vector256.Load(y + 7 * c);
        }
        for (int i = 0; i < k; i++, w += 8 * c)
        {
            var xi = Vector256.Create(x[i]);
            a0 = Simd.Fma(xi, Vector256.Load(w), a0);
            a1 = Simd.Fma(xi, Vector256.Load(w + c), a1);
            a2 = Simd.Fma(xi, Vector256.Load(w + 2 * c), a2);
            a3 = Simd.Fma(xi, Vector256.Load(w + 3 * c), a3);
            a4 = Simd.Fma(xi, Vector256.Load(w + 4 * c), a4);
            a5 = Simd.Fma(xi, Vector256.Load(w + 5 * c), a5);
            a6 = Simd.Fma(xi, Vector256.Load(w + 6 * c), a6);
            a7 = Simd.Fma(xi, Vector256.Load(w + 7 * c), a7);
        }
        a0.Store(y); a1.Store(y + c); a2.Store(y + 2 * c); a3.Store(y + 3 * c);
        a4.Store(y + 4 * c); a5.Store(y + 5 * c); a6.Store(y + 6 * c); a7.Store(y + 7 * c);
    }

    private static void Panel1x512(T* x, T* w, T* y, int k, bool accumulate)
    {
        int c = Vector512<T>.Count;
        Vector512<T> a = accumulate ? Vector512.Load(y) : default;
        for (int i = 0; i < k; i++, w += c) a = Simd.Fma(Vector512.Create(x[i]), Vector512.Load(w), a);
        a.Store(y);
    }

    private static void Panel1x256(T* x, T* w, T* y, int k, bool accumulate)
    {
        int c = Vector256<T>.Count;
        Vector256<T> a = accumulate ? Vector256.Load(y) : default;
        for (int i = 0; i < k; i++, w += c) a = Simd.Fma(Vector256.Create(x[i]), Vector256.Load(w), a);
        a.Store(y);
    }

    private static void PanelScalar(T* x, T* w, T* y, int k, int panel, bool accumulate)
    {
        for (int c = 0; c < panel; c++)
        {
            T sum = accumulate ? y[c] : T.Zero;
            for (int i = 0; i < k; i++) sum = T.FusedMultiplyAdd(x[i], w[(long)i * panel + c], sum);
            y[c] = sum;
        }
    }
}
