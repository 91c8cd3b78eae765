using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Lru.Tensors;

/// <summary>
/// Elementwise passes over whole activation buffers (B·L·H values: dropout masks, residual sums, the LRU's skip
/// <c>D ⊙ u</c>, a bias broadcast, a training copy) split into fixed chunks that run on both cores. At the
/// training shapes these passes are memory-bound and ran on the calling thread while the other core waited; two
/// cores draw more bandwidth than one. Every element is computed by the same <see cref="TensorPrimitives"/> (or
/// <see cref="RowOps"/>) expression whichever chunk or thread runs it (no fused multiply-adds; the one reduction,
/// <see cref="AddColumnSums{T}"/>, splits over columns and sums each in row order), so results are bit-identical to the
/// one-call form for any thread count. Allocation-free.
/// </summary>
internal static unsafe class Elementwise
{
    /// <summary>Values per work item: 64 KiB of floats, large enough that a hand-off costs far less than the item.</summary>
    internal const int ChunkElements = 16384;

    private enum Op { Copy, Add, Multiply, MultiplyAdd, MultiplyRows, MultiplyRowsAdd, BroadcastRows, MultiplySequences, MultiplySequencesAdd, MultiplySequencesPlus }

    /// <summary><c>destination = x</c>.</summary>
    public static void Copy<T>(ReadOnlySpan<T> x, Span<T> destination, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Guard.Length(destination.Length, nameof(destination), "the length of x", x.Length);
        Run(Op.Copy, x, default, destination, x.Length, 0, threads);
    }

    /// <summary><c>destination = x + y</c> (destination may be x or y).</summary>
    public static void Add<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> destination, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Guard.Length(y.Length, nameof(y), "the length of x", x.Length);
        Guard.Length(destination.Length, nameof(destination), "the length of x", x.Length);
        Run(Op.Add, x, y, destination, x.Length, 0, threads);
    }

    /// <summary><c>destination = x ⊙ y</c>, or <c>destination += x ⊙ y</c> (the product rounded, then added) when <paramref name="accumulate"/>.</summary>
    public static void Multiply<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> destination, bool accumulate, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Guard.Length(y.Length, nameof(y), "the length of x", x.Length);
        Guard.Length(destination.Length, nameof(destination), "the length of x", x.Length);
        Run(accumulate ? Op.MultiplyAdd : Op.Multiply, x, y, destination, x.Length, 0, threads);
    }

    /// <summary><c>y[r, :] = x[r, :] ⊙ d</c> (or <c>+=</c> when <paramref name="accumulate"/>) for every row: <see cref="RowOps.MultiplyRows"/> over row chunks.</summary>
    public static void MultiplyRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> d, Span<T> y, int rows, bool accumulate, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Guard.Length(x.Length, nameof(x), "rows, h", rows, d.Length);
        Guard.Length(y.Length, nameof(y), "rows, h", rows, d.Length);
        Run(accumulate ? Op.MultiplyRowsAdd : Op.MultiplyRows, x, d, y, x.Length, d.Length, threads);
    }

    /// <summary>
    /// <c>y[b, t, :] = x[b, t, :] ⊙ d[b, :]</c> (or <c>+=</c> when <paramref name="accumulate"/>): one h-vector per
    /// sequence (a per-sequence dropout mask), one work item per sequence.
    /// </summary>
    public static void MultiplySequences<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> d, Span<T> y, int batch, int length, bool accumulate, int threads)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        RunSequences(accumulate ? Op.MultiplySequencesAdd : Op.MultiplySequences, x, d, default, y, batch, length, threads);

    /// <summary>
    /// <c>y[b, t, :] = w[b, t, :] + x[b, t, :] ⊙ d[b, :]</c> (the product rounded, then added): a per-sequence dropout and
    /// a residual in one pass, one work item per sequence (its <paramref name="w"/> copied to <paramref name="y"/>, then the
    /// products added while that is in cache). <paramref name="y"/> must not overlap <paramref name="x"/>.
    /// </summary>
    public static void MultiplySequencesPlus<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> d, ReadOnlySpan<T> w, Span<T> y, int batch, int length, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Guard.Length(w.Length, nameof(w), "the length of x", x.Length);
        RunSequences(Op.MultiplySequencesPlus, x, d, w, y, batch, length, threads);
    }

    /// <summary>The per-sequence forms: checks the shapes, then one work item per sequence (<paramref name="w"/> only for the Plus form).</summary>
    private static void RunSequences<T>(Op op, ReadOnlySpan<T> x, ReadOnlySpan<T> d, ReadOnlySpan<T> w, Span<T> y, int batch, int length, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = batch == 0 ? 0 : d.Length / batch;
        Guard.Length(d.Length, nameof(d), "batch, h", batch, h);
        Guard.Length(x.Length, nameof(x), "batch, length, h", batch, length, h);
        Guard.Length(y.Length, nameof(y), "batch, length, h", batch, length, h);
        if (x.Length == 0) return;
        fixed (T* px = x, pd = d, pw = w, py = y)
        {
            var work = new Work<T> { Op = op, X = px, Y = pd, W = pw, D = py, Count = x.Length, Chunk = length * h, RowLength = h };
            Parallelism.For(batch, threads, ref work);
        }
    }

    /// <summary><c>y[r, :] = b</c> for every row.</summary>
    public static void BroadcastRows<T>(ReadOnlySpan<T> b, Span<T> y, int rows, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Guard.Length(y.Length, nameof(y), "rows, h", rows, b.Length);
        Run(Op.BroadcastRows, default, b, y, y.Length, b.Length, threads);
    }

    /// <summary>
    /// <c>sums[j] += Σ_r x[r, j]</c> over the rows in order (a bias gradient): each work item owns a block of columns
    /// (one cache line of them, summed in one 512-bit register where there is one) and adds row after row into it, so
    /// every sum is the same sequence of additions as a row-by-row
    /// <see cref="TensorPrimitives.Add{T}(ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T})"/> into <paramref name="sums"/>,
    /// for any thread count.
    /// </summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> x, Span<T> sums, int rows, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int columns = sums.Length;
        Guard.Length(x.Length, nameof(x), "rows, columns", rows, columns);
        if (rows == 0 || columns == 0) return;
        int block = 64 / sizeof(T), blocks = (columns + block - 1) / block;
        if ((long)rows * columns < ChunkElements) threads = 1;
        fixed (T* px = x, ps = sums)
        {
            var work = new ColumnSums<T> { X = px, Sums = ps, Rows = rows, Columns = columns, Block = block };
            Parallelism.For(blocks, threads, ref work);
        }
    }

    private struct ColumnSums<T> : IIndexedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Sums;
        public int Rows, Columns, Block;

        public readonly void Run(int index)
        {
            int c0 = index * Block, width = Math.Min(Block, Columns - c0);
            T* row = X + c0;
            if (Vector512.IsHardwareAccelerated && width == Vector512<T>.Count)
            {
                // One register holds the block's sums: a load, Rows additions, a store.
                Vector512<T> acc = Vector512.Load(Sums + c0);
                for (int r = 0; r < Rows; r++, row += Columns) acc += Vector512.Load(row);
                acc.Store(Sums + c0);
                return;
            }
            // Rows outer, so the data is read once in order; each column's sum is the same sequence of additions.
            T* sums = Sums + c0;
            for (int r = 0; r < Rows; r++, row += Columns)
                for (int j = 0; j < width; j++) sums[j] += row[j];
        }
    }

    private static void Run<T>(Op op, ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> destination, int count, int rowLength, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (count == 0) return;
        // Row forms chunk on whole rows.
        int chunk = rowLength > 0 ? Math.Max(1, ChunkElements / rowLength) * rowLength : ChunkElements;
        fixed (T* px = x, py = y, pd = destination)
        {
            var work = new Work<T> { Op = op, X = px, Y = py, D = pd, Count = count, Chunk = chunk, RowLength = rowLength };
            Parallelism.For((count + chunk - 1) / chunk, threads, ref work);
        }
    }

    private struct Work<T> : IIndexedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Op Op;
        public T* X, Y, W, D;
        public int Count, Chunk, RowLength;

        public readonly void Run(int index)
        {
            int start = index * Chunk, n = Math.Min(Chunk, Count - start);
            var x = new ReadOnlySpan<T>(X == null ? null : X + start, X == null ? 0 : n);
            var d = new Span<T>(D + start, n);
            switch (Op)
            {
                case Op.Copy: x.CopyTo(d); break;
                case Op.Add: TensorPrimitives.Add(x, new ReadOnlySpan<T>(Y + start, n), d); break;
                case Op.Multiply: TensorPrimitives.Multiply(x, new ReadOnlySpan<T>(Y + start, n), d); break;
                case Op.MultiplyAdd: TensorPrimitives.MultiplyAdd(x, new ReadOnlySpan<T>(Y + start, n), d, d); break;
                case Op.MultiplyRows:
                case Op.MultiplyRowsAdd:
                    RowOps.MultiplyRows(x, new ReadOnlySpan<T>(Y, RowLength), d, n / RowLength, accumulate: Op == Op.MultiplyRowsAdd);
                    break;
                case Op.MultiplySequences:
                case Op.MultiplySequencesAdd:
                    RowOps.MultiplyRows(x, new ReadOnlySpan<T>(Y + (nint)index * RowLength, RowLength), d, n / RowLength,
                        accumulate: Op == Op.MultiplySequencesAdd);
                    break;
                case Op.MultiplySequencesPlus:
                    new ReadOnlySpan<T>(W + start, n).CopyTo(d);
                    RowOps.MultiplyRows(x, new ReadOnlySpan<T>(Y + (nint)index * RowLength, RowLength), d, n / RowLength, accumulate: true);
                    break;
                case Op.BroadcastRows:
                    var b = new ReadOnlySpan<T>(Y, RowLength);
                    for (int r = 0; r < n; r += RowLength) b.CopyTo(d.Slice(r, RowLength));
                    break;
            }
        }
    }
}
