using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Lru.Tensors;

/// <summary>
/// <c>C (+)= Aᵀ·B</c> for a small C and a long k — the weight gradients of every layer, <c>∂W = Σ_rows ∂yᵀ·x</c>, where
/// k is batch × length and C is a few dozen to a few hundred on a side. The packed driver packs A and B for every k block
/// and uses each packed A value only n times, so packing costs as much as the arithmetic; here both operands are read
/// where they lie (row p of A holds all m values of op(A)'s column p contiguously, row p of B all n of op(B)'s row p),
/// k is walked in blocks of rows that stay in L2 (<see cref="KBlock"/>), and 8 × 2-vector tiles of C accumulate in
/// registers: per row, 2 loads and 8 broadcasts feed 16 FMAs.
/// </summary>
/// <remarks>
/// The tiles of C are split over threads; each tile is summed by one thread in k order, so results do not depend on the
/// thread count. The rows and columns past the last whole tile are left to the packed driver. Used only with α = 1 and
/// β ∈ {0, 1} (what every layer passes) on hardware with 512-bit vectors.
/// </remarks>
internal static unsafe class GemmSmallOutput<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Rows of C per tile.</summary>
    public const int TileRows = 8;

    /// <summary>
    /// k rows per block: the block of A and B rows, about 256 KiB, stays in L2 while every tile of the thread passes over it
    /// (a long block also keeps the hardware prefetcher streaming: 64-row blocks ran at half the speed); 64 to 512 rows.
    /// </summary>
    private static int KBlock(int m, int n) => Math.Clamp((256 << 10) / ((m + n) * sizeof(T)) / 64 * 64, 64, 512);

    /// <summary>Columns of C per tile: two 512-bit vectors.</summary>
    public static int TileColumns => 2 * Vector512<T>.Count;

    /// <summary>
    /// Whether the product goes here: op(A) = Aᵀ, op(B) = B, α = 1, β of 0 or 1, 512-bit vectors, at least one whole tile,
    /// C of at most 512 × 512 (512 × 128 and 128 × 512 are the LRU's ∂B and ∂C at H = 128, N = 256: 6–10 % faster here than
    /// in the packed driver, measured on Zen 5), and k at least 256 and at least as long as C is wide or tall.
    /// </summary>
    public static bool Applies(bool transA, bool transB, int m, int n, int k, T alpha, T beta) =>
        transA && !transB && Vector512.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        && alpha == T.One && (beta == T.Zero || beta == T.One)
        && m >= TileRows && n >= TileColumns && m <= 512 && n <= 512 && k >= 256 && k >= Math.Max(m, n);

    /// <summary>
    /// Computes the whole tiles of C (the first ⌊m/8⌋·8 rows and ⌊n/W⌋·W columns) and returns their extent; the caller
    /// computes the rest. A is stored k × m (lda), B k × n (ldb), C m × n (ldc).
    /// </summary>
    public static (int Rows, int Columns) Run(T* a, nint lda, T* b, nint ldb, T* c, nint ldc, int m, int n, int k, bool accumulate, int threads)
    {
        int rows = m / TileRows * TileRows, columns = n / TileColumns * TileColumns;
        int tiles = rows / TileRows * (columns / TileColumns);
        var work = new Work { A = a, Lda = lda, B = b, Ldb = ldb, C = c, Ldc = ldc, K = k, KBlock = KBlock(m, n), Tiles = tiles, TileColumnCount = columns / TileColumns, Accumulate = accumulate, Parts = Math.Min(threads, tiles) };
        if (work.Parts > 1) Parallelism.For(work.Parts, work.Parts, ref work);
        else work.Run(0);
        return (rows, columns);
    }

    private struct Work : IIndexedWork
    {
        public T* A, B, C;
        public nint Lda, Ldb, Ldc;
        public int K, KBlock, Tiles, TileColumnCount, Parts;
        public bool Accumulate;

        /// <summary>Part <paramref name="index"/>: a contiguous range of tiles, every k block over each of them.</summary>
        public readonly void Run(int index)
        {
            int first = (int)((long)index * Tiles / Parts), last = (int)((long)(index + 1) * Tiles / Parts);
            int width = TileColumns;
            for (int t = first; t < last && !Accumulate; t++)
            {
                T* tile = C + (nint)(t / TileColumnCount * TileRows) * Ldc + t % TileColumnCount * width;
                for (int r = 0; r < TileRows; r++) new Span<T>(tile + r * Ldc, width).Clear();
            }
            for (int p0 = 0; p0 < K; p0 += KBlock)
            {
                int rows = Math.Min(KBlock, K - p0);
                for (int t = first; t < last; t++)
                {
                    int i0 = t / TileColumnCount * TileRows, j0 = t % TileColumnCount * width;
                    Tile(A + (nint)p0 * Lda + i0, Lda, B + (nint)p0 * Ldb + j0, Ldb, C + (nint)i0 * Ldc + j0, Ldc, rows);
                }
            }
        }
    }

    /// <summary><c>C[0..8, 0..W) += Σ_p A[p, 0..8]ᵀ·B[p, 0..W)</c> over <paramref name="rows"/> rows p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(T* a, nint lda, T* b, nint ldb, T* c, nint ldc, int rows)
    {
        int w = Vector512<T>.Count;
        Vector512<T> c00 = Vector512.Load(c), c01 = Vector512.Load(c + w);
        Vector512<T> c10 = Vector512.Load(c + ldc), c11 = Vector512.Load(c + ldc + w);
        Vector512<T> c20 = Vector512.Load(c + 2 * ldc), c21 = Vector512.Load(c + 2 * ldc + w);
        Vector512<T> c30 = Vector512.Load(c + 3 * ldc), c31 = Vector512.Load(c + 3 * ldc + w);
        Vector512<T> c40 = Vector512.Load(c + 4 * ldc), c41 = Vector512.Load(c + 4 * ldc + w);
        Vector512<T> c50 = Vector512.Load(c + 5 * ldc), c51 = Vector512.Load(c + 5 * ldc + w);
        Vector512<T> c60 = Vector512.Load(c + 6 * ldc), c61 = Vector512.Load(c + 6 * ldc + w);
        Vector512<T> c70 = Vector512.Load(c + 7 * ldc), c71 = Vector512.Load(c + 7 * ldc + w);
        for (int p = 0; p < rows; p++, a += lda, b += ldb)
        {
            Vector512<T> b0 = Vector512.Load(b), b1 = Vector512.Load(b + w);
            Vector512<T> x = Vector512.Create(a[0]);
            c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71);
        }
        c00.Store(c); c01.Store(c + w);
        c10.Store(c + ldc); c11.Store(c + ldc + w);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + w);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + w);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + w);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + w);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + w);
        c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + w);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma(Vector512<T> x, Vector512<T> y, Vector512<T> z)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        return Vector512.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
    }
}
