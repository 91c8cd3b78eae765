using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Lru.Tensors;

/// <summary>
/// GotoBLAS/BLIS-style blocked GEMM driver for one micro-kernel family. For each block of at
/// most NC columns of op(B) it packs op(B) (all of k, KC-blocked, NR-column slivers, zero-padded),
/// then splits C into blocks of MR-row tiles (and, only when there are too few of those, of
/// NR-column slivers) that the threads take in turn. Each block packs its rows of op(A) one
/// KC-block at a time (into a pinned thread-local buffer, already multiplied by alpha) and runs
/// the micro-kernel over every (sliver, tile) pair. K is never split across threads, so every
/// element of C sees exactly the same sequence of operations for any thread count.
/// </summary>
internal static unsafe class GemmDriver<T, TK>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TK : struct, IGemmMicroKernel<T>
{
    /// <summary>
    /// Most rows of op(A) packed at once (MC). An MC×KC block (768 KiB for either type) stays in the
    /// 1 MiB L2 of the tuning machine (Zen 4) while the KC×NR slivers of B (64 KiB) stream past it.
    /// </summary>
    private static int MaxMc => sizeof(T) == 4 ? 384 : 192;

    /// <summary>Largest packed op(B) block in bytes; bounds NC so that the packed block stays L3-resident.</summary>
    private const long MaxPackedBBytes = 8L << 20;

    /// <summary>
    /// Below this m·n·k the call runs on the calling thread only: on the tuning machine two threads
    /// first win (by ~15%) at 128³; at 64³–96³ the fork/join costs what the second core saves.
    /// </summary>
    private const long SerialThreshold = 96L * 96 * 96;

    /// <summary>
    /// Packing a non-transposed A prefetches the source row this many rows ahead (each row is a
    /// contiguous run of up to KC values, so one row ahead is enough to start the DRAM stream).
    /// </summary>
    private const int RowPrefetchDistance = 1;

    /// <summary>
    /// Packing a transposed A walks k-rows of its storage that are lda apart and reads only MC of
    /// their values; the hardware prefetchers do not follow that, so rows this far ahead are
    /// prefetched explicitly (measured: TN with k = 8192 went from ~115 to ~160 GFLOP/s on 2 threads).
    /// </summary>
    private const int ColPrefetchDistance = 8;

    /// <summary>Below this many packed elements op(B) is packed on the calling thread only.</summary>
    private const long ParallelPackThreshold = 32L * 1024;

    public static void Run(
        T* a, nint lda, bool transA,
        T* b, nint ldb, bool transB,
        T* c, nint ldc,
        int m, int n, int k, T alpha, T beta, int threads)
    {
        int mr = TK.MR, nr = TK.NR;
        if ((long)m * n * k < SerialThreshold) threads = 1;

        int kc = GemmPlan.Kc(k);

        var (kSpan, ncMax) = Blocking(n, k);

        int mTiles = (m + mr - 1) / mr;
        int tilesPerBlock = Math.Max(1, MaxMc / mr);
        int rowBlocks = (mTiles + tilesPerBlock - 1) / tilesPerBlock;
        if (threads > 1)
            rowBlocks = Math.Min(mTiles, RoundUp(rowBlocks, threads));

        GemmStoreMode firstMode = beta == T.Zero ? GemmStoreMode.Overwrite
            : beta == T.One ? GemmStoreMode.Accumulate
            : GemmStoreMode.Scale;

        T[] bArray = GemmBuffers<T>.RentPackedB((long)ncMax * kSpan, out bool fromShared);
        try
        {
            T* bBuf = GemmBuffers<T>.Align(bArray);
            for (int k0 = 0; k0 < k; k0 += kSpan)
            {
                int kLen = Math.Min(kSpan, k - k0);
                for (int j0 = 0; j0 < n; j0 += ncMax)
                {
                    int nc = Math.Min(ncMax, n - j0);
                    int slivers = (nc + nr - 1) / nr;

                    var pack = new PackBWork
                    {
                        B = b, Ldb = ldb, TransB = transB, J0 = j0, Nc = nc, K0 = k0, KLen = kLen, Kc = kc,
                        NcPad = slivers * nr, Dst = bBuf,
                    };
                    if (threads > 1 && (long)nc * kLen >= ParallelPackThreshold)
                        Parallelism.For(slivers, threads, ref pack);
                    else
                        for (int s = 0; s < slivers; s++) pack.Run(s);

                    int colBlocks = 1;
                    if (threads > 1 && rowBlocks < threads)
                        colBlocks = Math.Min(slivers, (threads + rowBlocks - 1) / rowBlocks);

                    var work = new ComputeWork
                    {
                        A = a, Lda = lda, TransA = transA, C = c, Ldc = ldc, M = m, N = n, K0 = k0, KLen = kLen, Kc = kc,
                        J0 = j0, Slivers = slivers, NcPad = slivers * nr, PackedB = bBuf,
                        MTiles = mTiles, RowBlocks = rowBlocks, ColBlocks = colBlocks,
                        Alpha = alpha, Beta = beta, FirstMode = k0 == 0 ? firstMode : GemmStoreMode.Accumulate,
                    };
                    if (threads > 1)
                        Parallelism.For(rowBlocks * colBlocks, threads, ref work);
                    else
                        for (int i = 0; i < rowBlocks * colBlocks; i++) work.Run(i);
                }
            }
        }
        finally
        {
            if (fromShared) GemmBuffers<T>.ReturnShared(bArray);
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    /// <summary>
    /// Whether <see cref="Run"/> packs the whole op(B) (k × n) as one block, so that <see cref="PackWhole"/> and
    /// <see cref="RunPacked"/> reproduce it.
    /// </summary>
    public static bool PacksWhole(int n, int k)
    {
        if (n <= 0 || k <= 0) return false;
        var (kSpan, ncMax) = Blocking(n, k);
        return kSpan == k && ncMax >= RoundUp(n, TK.NR);
    }

    /// <summary>The rows (kSpan) and columns (ncMax) of op(B) that <see cref="Run"/> packs at once.</summary>
    private static (int KSpan, int NcMax) Blocking(int n, int k)
    {
        // Packed op(B) holds at most MaxPackedBBytes (or one NR×KC sliver): columns are blocked by
        // NC and, only for a huge k, rows by a whole number of KC blocks, so the KC blocking (and
        // with it every result bit) is the same whatever the buffer limit does.
        int nr = TK.NR, kc = GemmPlan.Kc(k);
        long maxBElements = Math.Max(MaxPackedBBytes / sizeof(T), (long)nr * kc);
        int kSpan = (int)Math.Min(k, maxBElements / ((long)nr * kc) * kc);
        int ncMax = (int)Math.Min(RoundUp(n, nr), Math.Max(nr, maxBElements / kSpan / nr * nr));
        return (kSpan, ncMax);
    }

    /// <summary>Elements <see cref="PackWhole"/> writes for a k × n op(B).</summary>
    public static long PackedLength(int n, int k) => (long)RoundUp(n, TK.NR) * k;

    /// <summary>Packs all of op(B) (k × n, <see cref="PacksWhole"/> true) in the layout <see cref="Run"/> gives one block, on the calling thread.</summary>
    public static void PackWhole(T* b, nint ldb, bool transB, int n, int k, T* dst)
    {
        int slivers = (n + TK.NR - 1) / TK.NR;
        var pack = new PackBWork { B = b, Ldb = ldb, TransB = transB, J0 = 0, Nc = n, K0 = 0, KLen = k, Kc = GemmPlan.Kc(k), NcPad = slivers * TK.NR, Dst = dst };
        for (int s = 0; s < slivers; s++) pack.Run(s);
    }

    /// <summary>
    /// <c>C = A·op(B)</c> (beta 0) or <c>C += A·op(B)</c> (beta 1) on the calling thread, with op(B) packed by
    /// <see cref="PackWhole"/>: the same blocks, kernels and order of operations per element as <see cref="Run"/>, so
    /// the same bits.
    /// </summary>
    public static void RunPacked(T* a, nint lda, T* packedB, T* c, nint ldc, int m, int n, int k, bool accumulate)
    {
        int mr = TK.MR, slivers = (n + TK.NR - 1) / TK.NR;
        int mTiles = (m + mr - 1) / mr, tilesPerBlock = Math.Max(1, MaxMc / mr);
        int rowBlocks = (mTiles + tilesPerBlock - 1) / tilesPerBlock;
        var work = new ComputeWork
        {
            A = a, Lda = lda, TransA = false, C = c, Ldc = ldc, M = m, N = n, K0 = 0, KLen = k, Kc = GemmPlan.Kc(k),
            J0 = 0, Slivers = slivers, NcPad = slivers * TK.NR, PackedB = packedB,
            MTiles = mTiles, RowBlocks = rowBlocks, ColBlocks = 1,
            Alpha = T.One, Beta = accumulate ? T.One : T.Zero, FirstMode = accumulate ? GemmStoreMode.Accumulate : GemmStoreMode.Overwrite,
        };
        for (int i = 0; i < rowBlocks; i++) work.Run(i);
    }

    /// <summary>
    /// Packs NR-column slivers of op(B)[K0..K0+KLen, J0..J0+Nc); item i packs sliver i. Rows are
    /// KC-blocked: the block starting at row K0+q sits at Dst + q·NcPad, sliver i of it at
    /// + i·kcb·NR, NR contiguous values per row, zero-padded past Nc.
    /// </summary>
    private struct PackBWork : IIndexedWork
    {
        public T* B;
        public nint Ldb;
        public bool TransB;
        public int J0, Nc, K0, KLen, Kc, NcPad;
        public T* Dst;

        public void Run(int index)
        {
            int nr = TK.NR;
            int jg = J0 + index * nr;
            int cols = Math.Min(nr, Nc - index * nr);
            for (int q = 0; q < KLen; q += Kc)
            {
                int p0 = K0 + q;
                int kcb = Math.Min(Kc, KLen - q);
                T* d = Dst + (nint)q * NcPad + (nint)index * kcb * nr;
                if (!TransB)
                {
                    // op(B)(p, j) = B[p·ldb + j]: NR contiguous values per k-step.
                    T* s = B + (nint)p0 * Ldb + jg;
                    if (cols == nr)
                    {
                        for (int p = 0; p < kcb; p++, s += Ldb, d += nr)
                            Unsafe.CopyBlockUnaligned(d, s, (uint)(nr * sizeof(T)));
                    }
                    else
                    {
                        for (int p = 0; p < kcb; p++, s += Ldb, d += nr)
                        {
                            int j = 0;
                            for (; j < cols; j++) d[j] = s[j];
                            for (; j < nr; j++) d[j] = T.Zero;
                        }
                    }
                }
                else
                {
                    // op(B)(p, j) = B[j·ldb + p]: gather a transpose, one source row (= column of op(B)) at a time.
                    int j = 0;
                    for (; j < cols; j++)
                    {
                        T* s = B + (nint)(jg + j) * Ldb + p0;
                        T* dj = d + j;
                        for (int p = 0; p < kcb; p++) dj[(nint)p * nr] = s[p];
                    }

                    for (; j < nr; j++)
                    {
                        T* dj = d + j;
                        for (int p = 0; p < kcb; p++) dj[(nint)p * nr] = T.Zero;
                    }
                }
            }
        }
    }

    /// <summary>Computes one block of C: a range of MR-row tiles × a range of NR-column slivers, over k in [K0, K0+KLen).</summary>
    private struct ComputeWork : IIndexedWork
    {
        public T* A;
        public nint Lda;
        public bool TransA;
        public T* C;
        public nint Ldc;
        public int M, N, K0, KLen, Kc, J0, Slivers, NcPad, MTiles, RowBlocks, ColBlocks;
        public T* PackedB;
        public T Alpha, Beta;
        public GemmStoreMode FirstMode;

        public void Run(int index)
        {
            int mr = TK.MR, nr = TK.NR;
            int ri = index / ColBlocks, ci = index % ColBlocks;
            int t0 = (int)((long)ri * MTiles / RowBlocks), t1 = (int)((long)(ri + 1) * MTiles / RowBlocks);
            int s0 = (int)((long)ci * Slivers / ColBlocks), s1 = (int)((long)(ci + 1) * Slivers / ColBlocks);
            int i0 = t0 * mr;
            int rows = Math.Min(M, t1 * mr) - i0;

            T* aBuf = GemmBuffers<T>.ThreadLocal((t1 - t0) * mr * GemmPlan.PanelStride);
            T* tmp = stackalloc T[mr * nr];
            bool scale = Alpha != T.One;
            for (int q = 0; q < KLen; q += Kc)
            {
                int p0 = K0 + q;
                int kcb = Math.Min(Kc, KLen - q);
                GemmStoreMode mode = q == 0 ? FirstMode : GemmStoreMode.Accumulate;
                T* bBlock = PackedB + (nint)q * NcPad;
                if (TransA)
                {
                    PackACol(A + (nint)p0 * Lda + i0, Lda, rows, kcb, aBuf, Alpha, scale);
                    Macro<GemmColPanel>(aBuf, bBlock, kcb, t0, t1, s0, s1, mode, tmp);
                }
                else
                {
                    PackARow(A + (nint)i0 * Lda + p0, Lda, rows, kcb, aBuf, Alpha, scale);
                    Macro<GemmRowPanel>(aBuf, bBlock, kcb, t0, t1, s0, s1, mode, tmp);
                }
            }
        }

        private readonly void Macro<TL>(T* aBuf, T* bBlock, int kcb, int t0, int t1, int s0, int s1, GemmStoreMode mode, T* tmp)
            where TL : struct, IGemmPanelLayout
        {
            int mr = TK.MR, nr = TK.NR;
            nint ldc = Ldc;
            nint tileStride = (nint)mr * GemmPlan.PanelStride;
            for (int s = s0; s < s1; s++)
            {
                T* bs = bBlock + (nint)s * kcb * nr;
                int col = J0 + s * nr;
                int cols = Math.Min(nr, N - col);
                for (int t = t0; t < t1; t++)
                {
                    T* at = aBuf + (t - t0) * tileStride;
                    int row = t * mr;
                    int tileRows = Math.Min(mr, M - row);
                    T* ct = C + row * ldc + col;
                    if (tileRows == mr && cols == nr)
                    {
                        TK.Run<TL>(kcb, at, bs, ct, ldc, mode, Beta);
                    }
                    else
                    {
                        TK.Run<TL>(kcb, at, bs, tmp, nr, GemmStoreMode.Overwrite, Beta);
                        MergeEdge(tmp, nr, ct, ldc, tileRows, cols, mode, Beta);
                    }
                }
            }
        }
    }

    /// <summary>Row layout: row r of tile t at dst + t·MR·PanelStride + r·PanelStride, kc contiguous values.</summary>
    private static void PackARow(T* src, nint lda, int rows, int kcb, T* dst, T alpha, bool scale)
    {
        int mr = TK.MR;
        int tiles = (rows + mr - 1) / mr;
        int rowBytes = kcb * sizeof(T);
        const int dist = RowPrefetchDistance;
        for (int r = 0; r < tiles * mr; r++)
        {
            if (Sse.IsSupported && r + dist < rows)
            {
                byte* ahead = (byte*)(src + (r + dist) * lda);
                for (int off = 0; off < rowBytes; off += 64) Sse.Prefetch0(ahead + off);
            }

            T* d = dst + (nint)r * GemmPlan.PanelStride;
            if (r < rows)
                CopyRow(src + r * lda, d, kcb, alpha, scale);
            else
                new Span<T>(d, kcb).Clear();
        }
    }

    /// <summary>
    /// Column layout: k-step p of tile t at dst + t·MR·PanelStride + p·MR, MR contiguous values.
    /// The source (A stored k×m) is walked one k-row at a time so reads stay sequential.
    /// </summary>
    private static void PackACol(T* src, nint lda, int rows, int kcb, T* dst, T alpha, bool scale)
    {
        int mr = TK.MR;
        nint tileStride = (nint)mr * GemmPlan.PanelStride;
        int fullTiles = rows / mr;
        if (fullTiles > 0)
        {
            T* s = src;
            T* d = dst;
            int rowBytes = fullTiles * mr * sizeof(T);
            const int dist = ColPrefetchDistance;
            for (int p = 0; p < kcb; p++, s += lda, d += mr)
            {
                if (Sse.IsSupported && p + dist < kcb)
                {
                    byte* ahead = (byte*)(s + dist * lda);
                    for (int off = 0; off < rowBytes; off += 64) Sse.Prefetch0(ahead + off);
                }

                T* st = s;
                T* dt = d;
                if (!scale)
                {
                    for (int t = 0; t < fullTiles; t++, st += mr, dt += tileStride)
                        Unsafe.CopyBlockUnaligned(dt, st, (uint)(mr * sizeof(T)));
                }
                else
                {
                    for (int t = 0; t < fullTiles; t++, st += mr, dt += tileStride)
                        for (int r = 0; r < mr; r++) dt[r] = alpha * st[r];
                }
            }
        }

        int tail = rows - fullTiles * mr;
        if (tail > 0)
        {
            T* s = src + fullTiles * mr;
            T* d = dst + fullTiles * tileStride;
            for (int p = 0; p < kcb; p++, s += lda, d += mr)
            {
                int r = 0;
                for (; r < tail; r++) d[r] = alpha * s[r];
                for (; r < mr; r++) d[r] = T.Zero;
            }
        }
    }

    private static void CopyRow(T* s, T* d, int count, T alpha, bool scale)
    {
        if (!scale)
        {
            Buffer.MemoryCopy(s, d, (long)count * sizeof(T), (long)count * sizeof(T));
            return;
        }

        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<T>(alpha);
            for (; i <= count - Vector<T>.Count; i += Vector<T>.Count)
                (va * Vector.Load(s + i)).Store(d + i);
        }

        for (; i < count; i++) d[i] = alpha * s[i];
    }

    private static void MergeEdge(T* tmp, int ldt, T* c, nint ldc, int rows, int cols, GemmStoreMode mode, T beta)
    {
        for (int r = 0; r < rows; r++, tmp += ldt, c += ldc)
        {
            switch (mode)
            {
                case GemmStoreMode.Overwrite:
                    for (int j = 0; j < cols; j++) c[j] = tmp[j];
                    break;
                case GemmStoreMode.Accumulate:
                    for (int j = 0; j < cols; j++) c[j] += tmp[j];
                    break;
                default:
                    for (int j = 0; j < cols; j++) c[j] = T.FusedMultiplyAdd(beta, c[j], tmp[j]);
                    break;
            }
        }
    }
}

/// <summary>Pinned, 64-byte-aligned packing buffers reused across calls (nothing is allocated per call once warm).</summary>
internal static unsafe class GemmBuffers<T> where T : unmanaged
{
    private const int AlignBytes = 64;

    [ThreadStatic]
    private static T[]? t_panel;

    [ThreadStatic]
    private static T[]? t_packedB;

    // Starts empty (never pinned, never used): the first call replaces it with a pinned buffer of the right size.
    private static T[]? s_shared = [];

    /// <summary>A thread-local buffer of at least <paramref name="elements"/> elements, 64-byte aligned. Valid until the next call on this thread.</summary>
    public static T* ThreadLocal(int elements)
    {
        T[]? array = t_panel;
        if (array is null || array.Length < elements + AlignBytes / sizeof(T))
        {
            array = GC.AllocateUninitializedArray<T>(elements + AlignBytes / sizeof(T), pinned: true);
            t_panel = array;
        }

        return Align(array);
    }

    /// <summary>
    /// A buffer for packed op(B): the process-wide one if it is free (<paramref name="fromShared"/>),
    /// else the calling thread's own. Either way nothing is allocated once the buffer is large enough.
    /// </summary>
    public static T[] RentPackedB(long elements, out bool fromShared)
    {
        int needed = checked((int)(elements + AlignBytes / sizeof(T)));
        T[]? array = Interlocked.Exchange(ref s_shared, null);
        if (array is not null)
        {
            fromShared = true;
            if (array.Length < needed)
                array = GC.AllocateUninitializedArray<T>(needed, pinned: true);
            return array;
        }

        fromShared = false;
        array = t_packedB;
        if (array is null || array.Length < needed)
        {
            array = GC.AllocateUninitializedArray<T>(needed, pinned: true);
            t_packedB = array;
        }

        return array;
    }

    /// <summary>Gives the process-wide buffer back for the next call.</summary>
    public static void ReturnShared(T[] array) => Volatile.Write(ref s_shared, array);

    /// <summary>The first 64-byte-aligned element of a pinned (POH) array.</summary>
    public static T* Align(T[] pinnedArray)
    {
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinnedArray));
        return (T*)((p + (AlignBytes - 1)) & ~(nint)(AlignBytes - 1));
    }
}
