using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics.X86;
using Lru.Tensors;

namespace Lru.Scans;

/// <summary>
/// Scans of the complex-diagonal linear recurrence <c>x_t = λ ⊙ x_{t-1} + b_t</c> (LRU-MATH §3),
/// in place over a <c>(batch, length, 2n)</c> buffer whose rows are <c>[re_0 … re_{n-1} | im_0 … im_{n-1}]</c>.
/// </summary>
/// <remarks>
/// On entry row <c>(b, t)</c> holds <c>b_t</c>; on exit it holds <c>x_t</c>. With <c>reverse</c> the
/// recurrence runs from <c>t = length − 1</c> down to 0 (<c>x_t = λ ⊙ x_{t+1} + b_t</c>), as the
/// backward pass needs. All modes agree up to floating-point rounding; for a given mode the result
/// is bit-identical for every thread count, and <see cref="ScanMode.Auto"/> chooses from the shape
/// and the machine's core count, never from the thread setting, so it never depends on the thread count either.
/// </remarks>
public static unsafe class DiagonalRecurrence
{
    /// <summary>
    /// The granularity of channel blocks (a multiple of every vector width): when there are fewer batch
    /// rows than threads, rows are cut into blocks of a multiple of this many channels.
    /// </summary>
    internal const int ChannelBlock = 64;

    /// <summary>
    /// Runs the recurrence in place.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="lambdaRe">Re λ, length <c>n</c>.</param>
    /// <param name="lambdaIm">Im λ, length <c>n</c>.</param>
    /// <param name="states">The <c>(batch, length, 2n)</c> buffer: inputs <c>b_t</c> in, states <c>x_t</c> out.</param>
    /// <param name="batch">The batch size <c>B ≥ 0</c>.</param>
    /// <param name="length">The sequence length <c>L ≥ 0</c>.</param>
    /// <param name="initialState">Empty for a zero initial state, or <c>(batch, 2n)</c>: the state before the first step.</param>
    /// <param name="reverse">Run from the last time step to the first.</param>
    /// <param name="mode">The scan algorithm.</param>
    /// <param name="threads">The largest number of threads (null: <see cref="Parallelism.MaxThreads"/>).</param>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size is negative, <paramref name="threads"/> is less than 1, or <paramref name="mode"/> is undefined.</exception>
    public static void Scan<T>(
        ReadOnlySpan<T> lambdaRe, ReadOnlySpan<T> lambdaIm, Span<T> states, int batch, int length,
        ReadOnlySpan<T> initialState = default, bool reverse = false, ScanMode mode = ScanMode.Auto, int? threads = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = lambdaRe.Length;
        if (lambdaIm.Length != n)
            throw new ArgumentException($"lambdaIm has length {lambdaIm.Length} but lambdaRe has length {n}.", nameof(lambdaIm));
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long expected = (long)batch * length * 2 * n;
        if (states.Length != expected)
            throw new ArgumentException($"states has length {states.Length} but (batch {batch}, length {length}, 2·n {2 * n}) needs {expected}.", nameof(states));
        if (!initialState.IsEmpty && initialState.Length != batch * 2 * n)
            throw new ArgumentException($"initialState has length {initialState.Length} but (batch {batch}, 2·n {2 * n}) needs {batch * 2 * n} (or empty for zeros).", nameof(initialState));
        if (mode is < ScanMode.Auto or > ScanMode.Tree)
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown scan mode.");
        int workers = Parallelism.Resolve(threads);
        if (batch == 0 || length == 0 || n == 0) return;
        if (mode == ScanMode.Auto) mode = ChooseMode(batch, length, n);

        fixed (T* lr = lambdaRe, li = lambdaIm, x = states, x0 = initialState)
        {
            var g = new Geometry<T>(lr, li, x, batch, length, n, reverse, ChannelsPerItem(batch, n, workers));
            if (x0 != null)
            {
                // Fold the initial state into the first step: x_first ← λ ⊙ x0 + b_first.
                for (int b = 0; b < batch; b++)
                    DiagonalKernels<T>.MultiplyAdd(lr, li, x0 + (long)b * 2 * n, g.Row(b, 0), n, 0, n);
            }

            switch (mode)
            {
                case ScanMode.Sequential: Sequential(g, workers); break;
                case ScanMode.Chunked: Chunked(g, ChunkCount(length), workers); break;
                default: Tree(g, workers); break;
            }
        }
    }

    /// <summary>
    /// The mode <see cref="ScanMode.Auto"/> picks. It depends on the shape and on the machine's
    /// processor count, never on the thread setting, so results do not change with
    /// <see cref="Parallelism.MaxThreads"/>.
    /// </summary>
    /// <param name="batch">The batch size.</param>
    /// <param name="length">The sequence length.</param>
    /// <param name="n">The number of complex channels.</param>
    /// <returns>
    /// <see cref="ScanMode.Chunked"/> for a long sequence with fewer (batch, channel block) work items than
    /// there are cores on a machine of at least four cores; otherwise <see cref="ScanMode.Sequential"/>.
    /// </returns>
    /// <remarks>
    /// The chunked scan does about twice the work of the sequential one (local scans, then the fix-up),
    /// so it only wins with more cores than work items; measured on 2 cores the sequential scan is
    /// faster on every shape tried (docs/performance.md). The tree scan does twice the work too and
    /// synchronises at every level; it is never chosen automatically.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/>, <paramref name="length"/> or <paramref name="n"/> is negative.</exception>
    public static ScanMode ChooseMode(int batch, int length, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        return ChooseMode(batch, length, n, Environment.ProcessorCount);
    }

    internal static ScanMode ChooseMode(int batch, int length, int n, int processors)
    {
        long items = (long)batch * ((n + ChannelBlock - 1) / ChannelBlock);
        return processors >= 4 && items < processors && length >= 4096 ? ScanMode.Chunked : ScanMode.Sequential;
    }

    /// <summary>
    /// Channels per work item: whole rows when there are at least as many batch rows as threads, so
    /// every item streams through contiguous memory (cutting a 2 KiB row into 256-byte pieces strided
    /// through memory cost 2.4× in bandwidth, docs/performance.md); otherwise rows are cut into as many
    /// blocks as it takes to give every thread work. The recurrence is elementwise per channel, so the
    /// cut never changes a result.
    /// </summary>
    internal static int ChannelsPerItem(int batch, int n, int workers)
    {
        int parts = batch >= workers ? 1 : (workers + batch - 1) / batch;
        int block = (n + parts - 1) / parts;
        return Math.Min(n, (block + ChannelBlock - 1) / ChannelBlock * ChannelBlock);
    }

    /// <summary>The number of time chunks of the chunked scan: a function of the length only, so results do not depend on threads.</summary>
    internal static int ChunkCount(int length) => Math.Clamp(length / 512, 1, 16);

    /// <summary>Addresses rows of the state buffer in scan order (time index 0 is the first step scanned).</summary>
    private readonly struct Geometry<T> where T : unmanaged
    {
        public readonly T* LamRe, LamIm, X;
        public readonly int Batch, Length, N, Block;
        public readonly bool Reverse;

        public Geometry(T* lamRe, T* lamIm, T* x, int batch, int length, int n, bool reverse, int block)
        {
            LamRe = lamRe; LamIm = lamIm; X = x; Batch = batch; Length = length; N = n; Reverse = reverse; Block = block;
        }

        /// <summary>Row of batch <paramref name="b"/> at scan step <paramref name="step"/>.</summary>
        public T* Row(int b, int step)
        {
            int t = Reverse ? Length - 1 - step : step;
            return X + ((long)b * Length + t) * 2 * N;
        }

        /// <summary>Work items per batch row: channel blocks of <see cref="Block"/> channels.</summary>
        public int ChannelBlocks => (N + Block - 1) / Block;
    }

    // ---------------------------------------------------------------- sequential

    private static void Sequential<T>(Geometry<T> g, int workers) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var work = new SequentialWork<T>(g, 0, g.Length);
        Parallelism.For(g.Batch * g.ChannelBlocks, workers, ref work);
    }

    /// <summary>Scans steps [from, to) of one (batch, channel block) item; step <c>from</c> is taken as already final.</summary>
    private struct SequentialWork<T> : IIndexedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Geometry<T> _g;
        private readonly int _from, _to;

        public SequentialWork(Geometry<T> g, int from, int to) { _g = g; _from = from; _to = to; }

        public void Run(int index)
        {
            int blocks = _g.ChannelBlocks;
            int b = index / blocks, c0 = index % blocks * _g.Block, c1 = Math.Min(_g.N, c0 + _g.Block);
            ScanRange(_g, b, c0, c1, _from, _to);
        }
    }

    /// <summary>
    /// Steps (from, to) of channels [c0, c1) of batch row <paramref name="b"/>, step <paramref name="from"/> taken as final:
    /// in blocks of the prefetch distance, each block's lines asked for one block ahead, then the block scanned with the
    /// running state in registers (<see cref="DiagonalKernels{T}.ScanRows"/>, the bits of the row-by-row kernel).
    /// </summary>
    private static void ScanRange<T>(in Geometry<T> g, int b, int c0, int c1, int from, int to)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T* prev = g.Row(b, from);
        int ahead = Math.Clamp(PrefetchBytes / (2 * g.N * sizeof(T)), 8, 128);
        nint stride = g.Reverse ? -2 * (nint)g.N : 2 * (nint)g.N;
        for (int s0 = from + 1; s0 < to; s0 += ahead)
        {
            int count = Math.Min(ahead, to - s0), end = Math.Min(s0 + 2 * ahead, to);
            for (int step = s0 + ahead; step < end; step++) Prefetch(g.Row(b, step), g.N, c0, c1);
            DiagonalKernels<T>.ScanRows(g.LamRe, g.LamIm, g.Row(b, s0), stride, count, prev, g.N, c0, c1);
            prev = g.Row(b, s0 + count - 1);
        }
    }

    /// <summary>
    /// How far ahead (in bytes of the state buffer) the sequential scan asks for the lines of the rows it
    /// will reach, into L2. A block of a row is one or two runs of lines a row length apart, which the
    /// hardware prefetchers follow poorly. Measured on the project's machine (Zen 4, B = 8, L = 8192,
    /// N = 256, one core, a noisy shared host): 14–17 GB/s prefetching 8 rows (16 KiB) ahead into L1,
    /// 18–39 GB/s prefetching 64 KiB ahead into L2 (docs/performance.md).
    /// </summary>
    private const int PrefetchBytes = 64 * 1024;

    /// <summary>Asks for the cache lines of channels [c0, c1) of a row (real and imaginary parts) to be brought into L2.</summary>
    private static void Prefetch<T>(T* row, int n, int c0, int c1) where T : unmanaged
    {
        if (!Sse.IsSupported) return;
        byte* re = (byte*)(row + c0), im = (byte*)(row + n + c0);
        long bytes = (long)(c1 - c0) * sizeof(T);
        for (long o = 0; o < bytes; o += 64)
        {
            Sse.Prefetch1(re + o);
            Sse.Prefetch1(im + o);
        }
    }

    // ---------------------------------------------------------------- chunked

    private static void Chunked<T>(Geometry<T> g, int chunks, int workers) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = g.N, chunkLength = (g.Length + chunks - 1) / chunks;
        chunks = (g.Length + chunkLength - 1) / chunkLength;
        int rowLength = 2 * n;

        // carries[c, b] = true state at the end of chunk c; powers = λ^chunkLength.
        T[] carryArray = ArrayPool<T>.Shared.Rent(chunks * g.Batch * rowLength + 2 * n);
        try
        {
            fixed (T* carries = carryArray)
            {
                T* powRe = carries + (long)chunks * g.Batch * rowLength, powIm = powRe + n;
                ComplexPower(g.LamRe, g.LamIm, chunkLength, powRe, powIm, n);

                // 1. Local scans: every chunk from a zero state (chunk 0 already holds the initial state).
                var local = new ChunkWork<T>(g, chunkLength, carries, fixUp: false);
                Parallelism.For(chunks * g.Batch * g.ChannelBlocks, workers, ref local);

                // 2. Carries, in order: S_c = λ^len ⊙ S_{c-1} + e_c (each chunk but the last has full length).
                for (int b = 0; b < g.Batch; b++)
                {
                    T* prevCarry = null;
                    for (int c = 0; c < chunks - 1; c++)
                    {
                        T* carry = carries + ((long)c * g.Batch + b) * rowLength;
                        new Span<T>(g.Row(b, (c + 1) * chunkLength - 1), rowLength).CopyTo(new Span<T>(carry, rowLength));
                        if (prevCarry != null)
                            DiagonalKernels<T>.MultiplyAdd(powRe, powIm, prevCarry, carry, n, 0, n);
                        prevCarry = carry;
                    }
                }

                // 3. Fix-up: x_t += λ^k ⊙ S_{c-1} for every chunk after the first.
                var fix = new ChunkWork<T>(g, chunkLength, carries, fixUp: true);
                Parallelism.For((chunks - 1) * g.Batch * g.ChannelBlocks, workers, ref fix);
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(carryArray);
        }
    }

    private struct ChunkWork<T> : IIndexedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Geometry<T> _g;
        private readonly int _chunkLength;
        private readonly T* _carries;
        private readonly bool _fixUp;

        public ChunkWork(Geometry<T> g, int chunkLength, T* carries, bool fixUp)
        {
            _g = g; _chunkLength = chunkLength; _carries = carries; _fixUp = fixUp;
        }

        public void Run(int index)
        {
            int blocks = _g.ChannelBlocks;
            int block = index % blocks, rest = index / blocks;
            int b = rest % _g.Batch, chunk = rest / _g.Batch + (_fixUp ? 1 : 0);
            int c0 = block * _g.Block, c1 = Math.Min(_g.N, c0 + _g.Block);
            int from = chunk * _chunkLength, to = Math.Min(_g.Length, from + _chunkLength);
            if (!_fixUp)
            {
                ScanRange(_g, b, c0, c1, from, to);
                return;
            }

            // p starts as the carry S_{chunk-1}; each step multiplies it by λ and adds it in. The carry
            // row is no longer needed, and this item owns its channels [c0, c1), so p lives there.
            T* p = _carries + ((long)(chunk - 1) * _g.Batch + b) * 2 * _g.N;
            for (int step = from; step < to; step++)
                DiagonalKernels<T>.Propagate(_g.LamRe, _g.LamIm, p, _g.Row(b, step), _g.N, c0, c1);
        }
    }

    // ---------------------------------------------------------------- tree

    private static void Tree<T>(Geometry<T> g, int workers) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = g.N, levels = 1;
        while ((1 << levels) < g.Length) levels++;
        T[] powerArray = ArrayPool<T>.Shared.Rent(levels * 2 * n);
        try
        {
            fixed (T* powers = powerArray)
            {
                for (int d = 0; d < levels; d++)
                    ComplexPower(g.LamRe, g.LamIm, 1L << d, powers + (long)d * 2 * n, powers + (long)d * 2 * n + n, n);
                var op = new AffineOperator<T>(g, powers, workers);
                TreeScan.InclusiveScan(g.Length, ref op, workers);
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(powerArray);
        }
    }

    /// <summary>The LRU's scan operator: <c>x[later] ← λ^span ⊙ x[earlier] + x[later]</c> for every batch row and channel.</summary>
    private struct AffineOperator<T> : IScanOperator where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Geometry<T> _g;
        private readonly T* _powers;

        public AffineOperator(Geometry<T> g, T* powers, int workers) { _g = g; _powers = powers; }

        public void Combine(int earlier, int later, int laterSpan)
        {
            int level = BitOperations.Log2((uint)laterSpan);
            T* powRe = _powers + (long)level * 2 * _g.N, powIm = powRe + _g.N;
            for (int b = 0; b < _g.Batch; b++)
                DiagonalKernels<T>.MultiplyAdd(powRe, powIm, _g.Row(b, earlier), _g.Row(b, later), _g.N, 0, _g.N);
        }
    }

    /// <summary><c>λ^k = exp(k · log λ)</c> per channel, computed in double precision.</summary>
    internal static void ComplexPower<T>(T* lamRe, T* lamIm, long k, T* powRe, T* powIm, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int c = 0; c < n; c++)
        {
            double re = double.CreateChecked(lamRe[c]), im = double.CreateChecked(lamIm[c]);
            double logMagnitude = 0.5 * Math.Log(re * re + im * im), angle = Math.Atan2(im, re);
            double magnitude = Math.Exp(k * logMagnitude), phase = k * angle;
            powRe[c] = T.CreateChecked(magnitude * Math.Cos(phase));
            powIm[c] = T.CreateChecked(magnitude * Math.Sin(phase));
        }
    }
}
