using System.Numerics;
using System.Runtime.CompilerServices;
using Lru.Modules;
using Lru.Scans;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// The fused passes of the LRU layer: one sequence per work item, in chunks of time steps small enough to stay in L2,
/// so that the state rows a GEMM writes are scanned and multiplied again before they leave the cache.
/// </summary>
/// <remarks>
/// <para>Forward, chunk by chunk in the direction of the recurrence: <c>X = U·W_inᵀ</c>, the scan continuing from the
/// previous chunk's last state, <c>Y = D ⊙ U + X·W_outᵀ</c>. Backward, the other way: <c>Δ = G·W_out</c>, the scan with
/// conj(λ), this sequence's shares of G_λ, of a diagonal ∂D and (see <see cref="SharesWeightGradients"/>) of
/// <c>Gᵀ·X</c> and <c>Δᵀ·U</c>, and <c>∂U (+)= D ⊙ G + Δ·W_in</c>. A matrix ∂D, and the weight-gradient products when
/// they are not shared, stay sums over all rows outside these passes.</para>
/// <para>Every element is computed by the same operations in the same order as the unfused passes (the GEMMs from the
/// same packed weights and kernels, the scan by the same operations step by step (<c>DiagonalKernels.ScanRows</c>),
/// G_λ, ∂D and the weight-gradient shares per sequence in the same chunk order in both, the shares' GEMMs by
/// <see cref="Gemm"/>, whose result does not depend on its thread count), so the two paths give identical bits and the
/// choice between them, which depends on the thread count, never changes a result. Batches too small to give every
/// thread whole sequences run pipelined on two threads (<c>LruLayer.Pipelined.cs</c>, the same chunks again). The
/// unfused passes remain for the scan modes other than sequential, for such batches on more than two threads, for short
/// sequences (a GEMM per sequence would pad each to the kernel's tile height), for weights too large to pack ahead, and
/// for element types other than float and double.</para>
/// </remarks>
public sealed partial class LruLayer<T>
{
    /// <summary>Bytes of state rows per chunk of the fused passes (a quarter of a 1 MiB L2, leaving room for the inputs, outputs and packed weights).</summary>
    private const int FusedChunkBytes = 256 * 1024;

    /// <summary>
    /// Largest W_inᵀ (H × 2N) the fused passes pack (four packed copies are kept, each as large): beyond it the copies
    /// cost more memory than the fusion is worth, and the weights are read from L3 or memory for every chunk anyway
    /// (the limit is H = 256, N = 512 in float).
    /// </summary>
    private const long MaxFusedWeightBytes = 1L << 20;

    // W_inᵀ and W_outᵀ packed for the fused forward (U·W_inᵀ, X·W_outᵀ) and backward (G·W_out, Δ·W_in); built with the
    // derived weights, null when the GEMM cannot pack them ahead (or T is neither float nor double).
    private PackedGemmB<T>? _packedIn, _packedOut, _packedOutT, _packedInT;

    /// <summary>Whether passes may run fused (tests turn it off to compare the two paths bit for bit).</summary>
    internal bool Fusion { get; set; } = true;

    /// <summary>Shortest sequence the fused passes take: below it the per-sequence GEMMs' padding to whole tiles costs more than the fusion saves.</summary>
    private const int MinFusedLength = 64;

    /// <summary>
    /// Most bytes of per-sequence weight-gradient shares (batch × 4·H·N elements): beyond it the products are summed over
    /// all rows at once (8 MiB is 128 sequences at H = N = 64 in float).
    /// </summary>
    private const long MaxWeightShareBytes = 8L << 20;

    /// <summary>
    /// Most bytes of one sequence's shares (4·H·N elements, 64 KiB at H = N = 64 in float): they are read and written for
    /// every chunk, so they must stay in L2 beside the chunk. At H = 128, N = 256 (512 KiB) the shared products were
    /// measured 2–4 % slower than the whole-batch GEMMs (Zen 5), at H = N = 64 1.22× faster.
    /// </summary>
    private const long MaxWeightShareBytesPerSequence = 128L << 10;

    /// <summary>
    /// Whether the backward sums <c>Gᵀ·X</c> (∂C) and <c>Δᵀ·U</c> (∂B) as per-sequence shares, chunk by chunk (in the
    /// fused backward while the chunk's rows are in cache; after the scan in the unfused one), then over the sequences in order: packed weights, the sequential scan, more than one
    /// sequence of at least <see cref="MinFusedLength"/> steps, and shares within <see cref="MaxWeightShareBytesPerSequence"/>
    /// and <see cref="MaxWeightShareBytes"/>. A function of
    /// the shape alone, never of the thread count, so the order of every sum is fixed; the fused and the unfused backward
    /// both follow it.
    /// </summary>
    internal bool SharesWeightGradients(ScanMode mode, int batch, int length) =>
        _packedIn is not null && batch > 1 && length >= MinFusedLength
        && (mode == ScanMode.Auto ? DiagonalRecurrence.ChooseMode(batch, length, StateSize) : mode) == ScanMode.Sequential
        && 4L * Hidden * StateSize * Unsafe.SizeOf<T>() <= MaxWeightShareBytesPerSequence
        && (long)batch * 4 * Hidden * StateSize * Unsafe.SizeOf<T>() <= MaxWeightShareBytes;

    /// <summary>
    /// Time steps per chunk of the fused passes and of the order of the per-sequence sums: a function of N and the element
    /// size only, a multiple of 12 (the row tile of the AVX-512 and AVX2 GEMM kernels), so that no chunk but the last
    /// pads its GEMM rows.
    /// </summary>
    private int ChunkSteps => Math.Max(24, FusedChunkBytes / (2 * StateSize * Unsafe.SizeOf<T>()) / 12 * 12);

    /// <summary>Packs the derived weights for the fused passes; called under the derived-weights lock.</summary>
    private void PackFused()
    {
        int h = Hidden, w = 2 * StateSize;
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double)) return;
        if ((long)h * w * Unsafe.SizeOf<T>() > MaxFusedWeightBytes || !PackedGemmB<T>.Fits(h, w) || !PackedGemmB<T>.Fits(w, h)) return;
        _packedIn ??= new PackedGemmB<T>(h, w);
        _packedOut ??= new PackedGemmB<T>(w, h);
        _packedOutT ??= new PackedGemmB<T>(h, w);
        _packedInT ??= new PackedGemmB<T>(w, h);
        _packedIn.Pack(_inputWeightsT, transposeB: false);   // op(B) = W_inᵀ (H × 2N)
        _packedOut.Pack(_outputWeightsT, transposeB: false); // op(B) = W_outᵀ (2N × H)
        _packedOutT.Pack(_outputWeightsT, transposeB: true); // op(B) = W_out (H × 2N)
        _packedInT.Pack(_inputWeightsT, transposeB: true);   // op(B) = W_in (2N × H)
    }

    /// <summary>
    /// Whether a pass of this shape runs fused: the sequential scan (the mode asked for, or chosen by
    /// <see cref="DiagonalRecurrence.ChooseMode(int, int, int)"/>), packed weights, sequences of at least
    /// <see cref="MinFusedLength"/> steps, and sequences that share out evenly over the threads (or many of them).
    /// </summary>
    internal bool Fuses(ScanMode mode, int batch, int length, int workers) =>
        Fusion && _packedIn is not null && length >= MinFusedLength
        && (mode == ScanMode.Auto ? DiagonalRecurrence.ChooseMode(batch, length, StateSize) : mode) == ScanMode.Sequential
        && (batch % workers == 0 || batch >= 4 * workers);

    /// <summary>
    /// When an evaluation pass of this shape scans step by step (the sequential scan, asked for or chosen for the shape),
    /// so that chunks continuing from the carried state give the bits of the whole pass; not for a reverse layer, another
    /// scan, or weights the GEMM cannot pack ahead.
    /// </summary>
    internal override bool EvaluatesInChunks(int batch, int length)
    {
        if (Config.Reverse) return false;
        EnsureDerived();
        return _packedIn is not null
            && (Scan == ScanMode.Auto ? DiagonalRecurrence.ChooseMode(batch, length, StateSize) : Scan) == ScanMode.Sequential;
    }

    /// <summary>2N: the state (real parts, then imaginary parts) after the chunk.</summary>
    internal override int ChunkState => 2 * StateSize;

    /// <summary>
    /// The evaluation forward of one chunk of one sequence from the carried state (zero when <paramref name="first"/>),
    /// on the calling thread, writing the state after the chunk back to <paramref name="carry"/> (the pass reads the
    /// initial state before it writes the final one).
    /// </summary>
    internal override void ForwardChunk(ReadOnlySpan<T> input, Span<T> output, int rows, Span<T> carry, bool first)
    {
        var shape = new SequenceShape(1, rows);
        using var scope = BeginForward(input.Length, output.Length, shape, training: false);
        Run(input, output, shape, first ? default : carry, carry, ScanMode.Sequential, workers: 1, training: false);
        scope.Complete();
    }

    /// <summary>
    /// Scans <paramref name="count"/> rows of 2N in place, <c>x ← λ ⊙ prev + x</c>, starting from <paramref name="carry"/>
    /// (null: zero) and going up the rows, or down them when <paramref name="descending"/>; returns the last row scanned.
    /// </summary>
    private static unsafe T* ScanRows(T* lamRe, T* lamIm, T* rows, int count, T* carry, bool descending, int n)
    {
        if (count <= 0) return carry;
        nint w = 2 * n;
        T* last = rows + (nint)(count - 1) * w;
        DiagonalKernels<T>.ScanRows(lamRe, lamIm, descending ? last : rows, descending ? -w : w, count, carry, n, 0, n);
        return descending ? rows : last;
    }

    /// <summary>
    /// Adds sequence <paramref name="b"/>'s steps [t0, t0 + rows), t going up, to its shares (<paramref name="shares"/>:
    /// [G_λ (2N) | ∂D (H), diagonal D only]): <c>δ_t ⊙ conj(x_prev)</c> (x_prev: the state before step t in the direction
    /// of the recurrence, the initial state at the first step, nothing without one), and <c>g_t ⊙ u_t</c>.
    /// </summary>
    private unsafe void AccumulateShares(T* gradOutput, T* delta, T* x, T* u, T* initial, int b, int length, int t0, int rows, T* shares)
    {
        int n = StateSize, h = Hidden;
        nint w = 2 * n, first = Config.Reverse ? length - 1 : 0, before = Config.Reverse ? 1 : -1;
        T* init = initial == null ? null : initial + b * w;
        // Steps going up. The recurrence's first step (t = 0, or L − 1 for a reverse layer: then the chunk's last row)
        // pairs δ with the initial state, or with nothing; every other step with the state a row away.
        int from = t0, to = t0 + rows;
        nint seq = (nint)b * length;
        bool hasFirst = first >= from && first < to;
        T* firstDelta = delta + (seq + first) * w;
        if (hasFirst && !Config.Reverse)
        {
            if (init != null) DiagonalKernels<T>.AccumulateConjugateProduct(firstDelta, init, shares, n);
            from++;
        }
        else if (hasFirst)
        {
            to--;
        }
        DiagonalKernels<T>.AccumulateConjugateProducts(delta + (seq + from) * w, x + (seq + from + before) * w, w, to - from, shares, n);
        if (hasFirst && Config.Reverse && init != null) DiagonalKernels<T>.AccumulateConjugateProduct(firstDelta, init, shares, n);
        if (!Config.MatrixD)
        {
            nint start = ((nint)b * length + t0) * h;
            RowOps.AccumulateProducts<T>(new ReadOnlySpan<T>(gradOutput + start, rows * h), new ReadOnlySpan<T>(u + start, rows * h),
                new Span<T>(shares + w, h), rows);
        }
    }

    /// <summary>The chunk processed <paramref name="i"/>-th going down in time (<paramref name="descending"/>) or up: its first step and its steps.</summary>
    private static (int T0, int Rows) Chunk(int i, int chunks, int chunkSteps, int length, bool descending)
    {
        int c = descending ? chunks - 1 - i : i, t0 = c * chunkSteps;
        return (t0, Math.Min(chunkSteps, length - t0));
    }

    /// <summary>The fused forward (see the class remarks); <paramref name="states"/> keeps the states of a training pass, empty otherwise.</summary>
    private unsafe void RunFused(ReadOnlySpan<T> input, Span<T> output, Span<T> states, int batch, int length,
        ReadOnlySpan<T> initialState, Span<T> finalState, int workers)
    {
        fixed (T* u = input, y = output, x = states, x0 = initialState, xFinal = finalState, lr = _lambdaRe, li = _lambdaIm, d = D.Value)
        {
            var work = new FusedForward
            {
                Layer = this, U = u, Y = y, X = x, X0 = x0, XFinal = xFinal, LamRe = lr, LamIm = li, D = d, Length = length,
            };
            Parallelism.For(batch, workers, ref work);
        }
    }

    private unsafe struct FusedForward : IIndexedWork
    {
        public LruLayer<T> Layer;
        public T* U, Y, X, X0, XFinal, LamRe, LamIm, D;
        public int Length;

        public readonly void Run(int b)
        {
            var layer = Layer;
            int h = layer.Hidden, n = layer.StateSize, w = 2 * n, steps = layer.ChunkSteps, chunks = (Length + steps - 1) / steps;
            bool reverse = layer.Config.Reverse, keep = X != null;
            // Evaluation: the states of one chunk and the carry, from the layer's pool (concurrent calls each get their own).
            using var rented = keep ? default : layer.RentWorkspace((steps + 1) * w);
            fixed (T* scratch = rented.Span)
            {
                T* carry = X0 == null ? null : X0 + (nint)b * w;
                T* u = U + (nint)b * Length * h, y = Y + (nint)b * Length * h;
                for (int i = 0; i < chunks; i++)
                {
                    var (t0, rows) = Chunk(i, chunks, steps, Length, reverse);
                    T* x = keep ? X + ((nint)b * Length + t0) * w : scratch;
                    T* uc = u + (nint)t0 * h, yc = y + (nint)t0 * h;
                    layer._packedIn!.Multiply(uc, h, x, w, rows, accumulate: false);
                    T* last = ScanRows(LamRe, LamIm, x, rows, carry, reverse, n);
                    if (keep)
                    {
                        carry = last;
                    }
                    else
                    {
                        carry = scratch + (nint)steps * w;
                        Buffer.MemoryCopy(last, carry, (long)w * sizeof(T), (long)w * sizeof(T));
                    }
                    layer.Skip(uc, yc, rows, D, accumulate: false);
                    layer._packedOut!.Multiply(x, w, yc, h, rows, accumulate: true);
                }
                if (XFinal != null) Buffer.MemoryCopy(carry, XFinal + (nint)b * w, (long)w * sizeof(T), (long)w * sizeof(T));
            }
        }
    }

    /// <summary>
    /// <c>y (+)= D ⊙ u</c> row by row, or for a matrix D <c>u · Dᵀ</c> (forward) or <c>u · D</c> (<paramref name="backward"/>:
    /// ∂u from ∂y), on the calling thread: the operations of the unfused passes, for <paramref name="rows"/> rows.
    /// </summary>
    private unsafe void Skip(T* u, T* y, int rows, T* d, bool accumulate, bool backward = false)
    {
        int h = Hidden;
        var us = new ReadOnlySpan<T>(u, rows * h);
        var ys = new Span<T>(y, rows * h);
        if (Config.MatrixD)
            Gemm.Multiply<T>(us, new ReadOnlySpan<T>(d, h * h), ys, rows, h, h, transposeB: !backward, accumulate: accumulate, threads: 1);
        else
            RowOps.MultiplyRows<T>(us, new ReadOnlySpan<T>(d, h), ys, rows, accumulate);
    }

    /// <summary>
    /// The fused part of the backward (see the class remarks): Δ into <paramref name="delta"/>, each sequence's shares of
    /// G_λ and ∂D into <paramref name="shares"/> (batch rows, zeroed), of the weight-gradient products into
    /// <paramref name="weightShares"/> (empty when they are not shared; see <see cref="AccumulateWeightShares"/>), and ∂u
    /// written or added to <paramref name="gradInput"/> (if not empty).
    /// </summary>
    private unsafe void BackpropFused(ReadOnlySpan<T> gradOutput, Span<T> gradInput, Span<T> delta, Span<T> shares, Span<T> weightShares,
        ReadOnlySpan<T> negatedIm, int batch, int length, bool accumulate, int workers)
    {
        fixed (T* g = gradOutput, gu = gradInput, dl = delta, ps = shares, pw = weightShares, x = _cachedStates, u = _cachedInput, x0 = _cachedInitial,
               lr = _lambdaRe, li = negatedIm, d = D.Value)
        {
            var work = new FusedBackward
            {
                Layer = this, G = g, GradU = gu, Delta = dl, Shares = ps, WeightShares = pw, Stride = shares.Length / batch, X = x, U = u,
                X0 = _cachedHasInitial ? x0 : null, LamRe = lr, NegLamIm = li, D = d, Length = length, Batch = batch, Accumulate = accumulate,
            };
            Parallelism.For(batch, workers, ref work);
        }
    }

    private unsafe struct FusedBackward : IIndexedWork
    {
        public LruLayer<T> Layer;
        public T* G, GradU, Delta, Shares, WeightShares, X, U, X0, LamRe, NegLamIm, D;
        public int Length, Batch, Stride;
        public bool Accumulate;

        public readonly void Run(int b)
        {
            var layer = Layer;
            int h = layer.Hidden, n = layer.StateSize, w = 2 * n, steps = layer.ChunkSteps, chunks = (Length + steps - 1) / steps;
            bool reverse = layer.Config.Reverse;
            T* carry = null;
            for (int i = 0; i < chunks; i++)
            {
                var (t0, rows) = Chunk(i, chunks, steps, Length, descending: !reverse);
                T* dc = Delta + ((nint)b * Length + t0) * w, gc = G + ((nint)b * Length + t0) * h;
                layer._packedOutT!.Multiply(gc, h, dc, w, rows, accumulate: false);
                carry = ScanRows(LamRe, NegLamIm, dc, rows, carry, !reverse, n);
                layer.AccumulateShares(G, Delta, X, U, X0, b, Length, t0, rows, Shares + (nint)b * Stride);
                if (WeightShares != null) layer.AccumulateWeightShares(G, Delta, X, U, b, Batch, Length, t0, rows, WeightShares, first: i == 0, threads: 1);
                if (GradU != null)
                {
                    T* uc = GradU + ((nint)b * Length + t0) * h;
                    layer.Skip(gc, uc, rows, D, Accumulate, backward: true);
                    layer._packedInT!.Multiply(dc, w, uc, h, rows, accumulate: true);
                }
            }
        }
    }
}
