using System.Numerics;

namespace Lru.Tensors;

/// <summary>
/// General matrix multiply on row-major spans: <c>C = alpha · op(A) · op(B) + beta · C</c>, for
/// <see cref="float"/> and <see cref="double"/>.
/// </summary>
/// <remarks>
/// <para>
/// The implementation is a GotoBLAS/BLIS-style blocked algorithm: panels of op(A) and op(B) are
/// packed into aligned, reused buffers (all four transpose combinations become the same packed
/// format) and multiplied by a register-tiled micro-kernel (AVX-512: 12×32 floats / 12×16
/// doubles per tile; AVX2: 6×16 / 6×8; otherwise a portable 128-bit kernel).
/// </para>
/// <para>
/// Work is split over blocks of C, never over k, so the result is bit-identical for every thread
/// count. Small products (m·n·k &lt; 96³) always run on the calling thread. Results may differ in
/// the last bits between machines with different kernels (e.g. AVX-512 versus AVX2).
/// </para>
/// </remarks>
public static class Gemm
{
    /// <summary>
    /// Computes <c>C = alpha · op(A) · op(B) + beta · C</c> on row-major storage.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="a">
    /// Storage of A. When <paramref name="transposeA"/> is <see langword="false"/>, A is stored m×k
    /// (op(A) = A); otherwise A is stored k×m (op(A) = Aᵀ). Row r of the storage starts at
    /// <c>r · lda</c>. Must not overlap <paramref name="c"/>.
    /// </param>
    /// <param name="lda">Row stride of A's storage: at least k (m when <paramref name="transposeA"/>).</param>
    /// <param name="transposeA">Whether A is stored transposed (k×m).</param>
    /// <param name="b">
    /// Storage of B. When <paramref name="transposeB"/> is <see langword="false"/>, B is stored k×n
    /// (op(B) = B); otherwise B is stored n×k (op(B) = Bᵀ). Must not overlap <paramref name="c"/>.
    /// </param>
    /// <param name="ldb">Row stride of B's storage: at least n (k when <paramref name="transposeB"/>).</param>
    /// <param name="transposeB">Whether B is stored transposed (n×k).</param>
    /// <param name="c">Storage of C, m×n with row stride <paramref name="ldc"/>; read only when <paramref name="beta"/> ≠ 0.</param>
    /// <param name="ldc">Row stride of C: at least n.</param>
    /// <param name="m">Rows of op(A) and of C.</param>
    /// <param name="n">Columns of op(B) and of C.</param>
    /// <param name="k">Columns of op(A) and rows of op(B). With k = 0 the result is <c>C = beta · C</c>.</param>
    /// <param name="alpha">Scale of the product. With alpha = 0, A and B are not read and <c>C = beta · C</c>.</param>
    /// <param name="beta">
    /// Scale of the existing C. beta = 0 overwrites C without reading it (NaN or infinity already
    /// in C does not propagate); beta = 1 accumulates into C.
    /// </param>
    /// <param name="threads">Most threads to use; <see langword="null"/> for <see cref="Parallelism.MaxThreads"/>. The result does not depend on it.</param>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is neither <see cref="float"/> nor <see cref="double"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="m"/>, <paramref name="n"/> or <paramref name="k"/> is negative; <paramref name="lda"/>,
    /// <paramref name="ldb"/> or <paramref name="ldc"/> is smaller than the row width of its storage; or
    /// <paramref name="threads"/> is less than 1.
    /// </exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="a"/>, <paramref name="b"/> or <paramref name="c"/> is too short for its shape and
    /// stride, or <paramref name="c"/> overlaps <paramref name="a"/> or <paramref name="b"/>.
    /// </exception>
    public static void Multiply<T>(
        ReadOnlySpan<T> a, int lda, bool transposeA,
        ReadOnlySpan<T> b, int ldb, bool transposeB,
        Span<T> c, int ldc,
        int m, int n, int k,
        T alpha, T beta, int? threads = null)
        where T : unmanaged, IFloatingPointIeee754<T>
        => MultiplyCore(a, lda, transposeA, b, ldb, transposeB, c, ldc, m, n, k, alpha, beta, threads, GemmKernelKind.Auto);

    /// <summary>
    /// Computes <c>C = op(A) · op(B)</c> (or <c>C += op(A) · op(B)</c> when <paramref name="accumulate"/>)
    /// on dense row-major storage: A is m×k (k×m when <paramref name="transposeA"/>), B is k×n
    /// (n×k when <paramref name="transposeB"/>) and C is m×n, each with its natural row width as stride.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="a">Dense storage of A, at least m·k elements. Must not overlap <paramref name="c"/>.</param>
    /// <param name="b">Dense storage of B, at least k·n elements. Must not overlap <paramref name="c"/>.</param>
    /// <param name="c">Dense storage of C, at least m·n elements.</param>
    /// <param name="m">Rows of op(A) and of C.</param>
    /// <param name="n">Columns of op(B) and of C.</param>
    /// <param name="k">Columns of op(A) and rows of op(B).</param>
    /// <param name="transposeA">Whether A is stored transposed (k×m).</param>
    /// <param name="transposeB">Whether B is stored transposed (n×k).</param>
    /// <param name="accumulate">Add the product to C (beta = 1) instead of overwriting C (beta = 0).</param>
    /// <param name="threads">Most threads to use; <see langword="null"/> for <see cref="Parallelism.MaxThreads"/>. The result does not depend on it.</param>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is neither <see cref="float"/> nor <see cref="double"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="m"/>, <paramref name="n"/> or <paramref name="k"/> is negative, or <paramref name="threads"/> is less than 1.</exception>
    /// <exception cref="ArgumentException">A span is too short for its shape, or <paramref name="c"/> overlaps <paramref name="a"/> or <paramref name="b"/>.</exception>
    public static void Multiply<T>(
        ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> c, int m, int n, int k,
        bool transposeA = false, bool transposeB = false, bool accumulate = false, int? threads = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfNegative(m, nameof(m));
        ThrowIfNegative(n, nameof(n));
        ThrowIfNegative(k, nameof(k));
        MultiplyCore(
            a, transposeA ? m : k, transposeA,
            b, transposeB ? k : n, transposeB,
            c, n, m, n, k, T.One, accumulate ? T.One : T.Zero, threads, GemmKernelKind.Auto);
    }

    /// <summary>The full operation with an explicit kernel family (tests use it to exercise every family the machine can run).</summary>
    internal static unsafe void MultiplyCore<T>(
        ReadOnlySpan<T> a, int lda, bool transposeA,
        ReadOnlySpan<T> b, int ldb, bool transposeB,
        Span<T> c, int ldc,
        int m, int n, int k,
        T alpha, T beta, int? threads, GemmKernelKind kernel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Gemm supports float and double only, not {typeof(T).Name}.");

        ThrowIfNegative(m, nameof(m));
        ThrowIfNegative(n, nameof(n));
        ThrowIfNegative(k, nameof(k));
        int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
        int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
        ThrowIfStrideTooSmall(lda, aCols, nameof(lda), transposeA ? "op(A) is stored transposed (k×m), so lda must be at least m" : "A is stored m×k, so lda must be at least k");
        ThrowIfStrideTooSmall(ldb, bCols, nameof(ldb), transposeB ? "op(B) is stored transposed (n×k), so ldb must be at least k" : "B is stored k×n, so ldb must be at least n");
        ThrowIfStrideTooSmall(ldc, n, nameof(ldc), "C is m×n, so ldc must be at least n");
        int threadCount = Parallelism.Resolve(threads);

        long needA = Needed(aRows, aCols, lda), needB = Needed(bRows, bCols, ldb), needC = Needed(m, n, ldc);
        ThrowIfTooShort(a.Length, needA, nameof(a), "op(A)", m, k, transposeA, "lda", lda);
        ThrowIfTooShort(b.Length, needB, nameof(b), "op(B)", k, n, transposeB, "ldb", ldb);
        ThrowIfTooShort(c.Length, needC, nameof(c), "C", m, n, false, "ldc", ldc);

        if (m == 0 || n == 0) return;
        ReadOnlySpan<T> usedC = c[..(int)needC];
        if (needA > 0 && usedC.Overlaps(a[..(int)needA]))
            throw new ArgumentException("c must not overlap a: the product is written while A is still being read.", nameof(c));
        if (needB > 0 && usedC.Overlaps(b[..(int)needB]))
            throw new ArgumentException("c must not overlap b: the product is written while B is still being read.", nameof(c));

        if (k == 0 || alpha == T.Zero)
        {
            ScaleC(c, ldc, m, n, beta);
            return;
        }

        if (kernel == GemmKernelKind.Auto && GemvTransposed.Applies<T>(transposeA, n))
        {
            // One column of C (a weight gradient of a layer with one input feature): no tile padding.
            fixed (T* pa = a, pb = b, pc = c)
                GemvTransposed.Run(pa, lda, pb, transposeB ? 1 : ldb, pc, ldc, m, k, alpha, beta, threadCount);
            return;
        }

        kernel = ResolveKernel<T>(kernel);

        fixed (T* pa = a)
        fixed (T* pb = b)
        fixed (T* pc = c)
        {
            switch (kernel)
            {
                case GemmKernelKind.Avx512 when GemmSmallOutput<T>.Applies(transposeA, transposeB, m, n, k, alpha, beta):
                    // A small C summed over a long k (weight gradients): whole tiles unpacked, the edges by the packed driver.
                    var (rows, columns) = GemmSmallOutput<T>.Run(pa, lda, pb, ldb, pc, ldc, m, n, k, beta == T.One, threadCount);
                    if (rows < m)
                        GemmDriver<T, GemmAvx512Kernel<T>>.Run(pa + rows, lda, true, pb, ldb, false, pc + (nint)rows * ldc, ldc, m - rows, n, k, alpha, beta, threadCount);
                    if (columns < n)
                        GemmDriver<T, GemmAvx512Kernel<T>>.Run(pa, lda, true, pb + columns, ldb, false, pc + columns, ldc, rows, n - columns, k, alpha, beta, threadCount);
                    break;
                case GemmKernelKind.Avx512:
                    GemmDriver<T, GemmAvx512Kernel<T>>.Run(pa, lda, transposeA, pb, ldb, transposeB, pc, ldc, m, n, k, alpha, beta, threadCount);
                    break;
                case GemmKernelKind.Avx2:
                    GemmDriver<T, GemmAvx2Kernel<T>>.Run(pa, lda, transposeA, pb, ldb, transposeB, pc, ldc, m, n, k, alpha, beta, threadCount);
                    break;
                default:
                    GemmDriver<T, GemmPortableKernel<T>>.Run(pa, lda, transposeA, pb, ldb, transposeB, pc, ldc, m, n, k, alpha, beta, threadCount);
                    break;
            }
        }
    }

    /// <summary>The kernel family <paramref name="kernel"/> names; for <see cref="GemmKernelKind.Auto"/> the fastest the hardware runs.</summary>
    internal static GemmKernelKind ResolveKernel<T>(GemmKernelKind kernel) where T : unmanaged, IFloatingPointIeee754<T> =>
        kernel != GemmKernelKind.Auto ? kernel
        : GemmAvx512Kernel<T>.IsSupported ? GemmKernelKind.Avx512
        : GemmAvx2Kernel<T>.IsSupported ? GemmKernelKind.Avx2
        : GemmKernelKind.Portable;

    private static void ScaleC<T>(Span<T> c, int ldc, int m, int n, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (beta == T.One) return;
        for (int i = 0; i < m; i++)
        {
            Span<T> row = c.Slice(i * ldc, n);
            if (beta == T.Zero)
            {
                row.Clear();
            }
            else
            {
                for (int j = 0; j < row.Length; j++) row[j] *= beta;
            }
        }
    }

    private static long Needed(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;

    private static void ThrowIfNegative(int value, string name)
    {
        if (value < 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be non-negative, but was {value}.");
    }

    private static void ThrowIfStrideTooSmall(int ld, int width, string name, string why)
    {
        if (ld < width)
            throw new ArgumentOutOfRangeException(name, ld, $"{name} is {ld} but {why} ({width}).");
    }

    private static void ThrowIfTooShort(int length, long needed, string name, string what, int rows, int cols, bool transposed, string ldName, int ld)
    {
        if (length >= needed) return;
        string storage = transposed ? $" (stored transposed as {cols}×{rows})" : string.Empty;
        throw new ArgumentException(
            $"{name} has length {length} but {what} {rows}×{cols}{storage} with {ldName} {ld} needs at least {needed}.", name);
    }
}
