using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// Batch normalisation per feature over batch and time (LRU-MATH §2, <c>Norm</c>): in training mode every
/// feature <c>f</c> is normalised with the mean <c>μ_f</c> and biased variance <c>σ²_f</c> of its
/// <c>M = B·L</c> values — of the <c>M = Σ_b lengths[b]</c> valid steps when the batch is padded
/// (<see cref="SequenceShape.Lengths"/>; padded steps are normalised with those statistics but never enter them) —
/// <c>y = (x − μ)·rstd ⊙ weight + bias</c> with <c>rstd = 1/√(σ² + ε)</c>;
/// in evaluation mode the running statistics replace <c>μ</c> and <c>σ²</c>. Input and output are (B, L, H).
/// Matches PyTorch's <c>nn.BatchNorm1d(H)</c> applied to (B, H, L): <c>weight</c> starts at 1, <c>bias</c>
/// at 0, <c>ε = 1e-5</c>, momentum 0.1, and the running variance is updated with the unbiased
/// variance <c>σ²·M/(M − 1)</c>.
/// </summary>
/// <remarks>
/// Statistics and the backward sums are accumulated in double precision over chunks of rows (about 16384 values
/// each, a number fixed by the shape), rows in order inside a chunk, and then combined chunk by chunk in order: the
/// statistics with the pairwise update of Chan, Golub and LeVeque (each chunk's mean and sum of squared deviations,
/// so x is read from memory once and no sum of squares cancels), the backward sums by adding. Chunks and the elementwise
/// passes over blocks of rows are split over threads, so results do not depend on the thread count. Inner loops are SIMD (<see cref="Vector256{T}"/> of doubles, or
/// <see cref="Vector{T}"/>) with scalar loops for the last features that do the same arithmetic. The running
/// statistics are buffers, not parameters; they are registered as buffers (<c>running_mean</c>, <c>running_var</c>) and reach checkpoints through <see cref="Module{T}.NamedBuffers"/>.
/// Evaluation-mode forward passes may run on several threads at once (each takes its per-feature scale and shift from a pool the layer owns); training is single-threaded (see <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class BatchNorm<T> : Normalization<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _input = [];
    private readonly double[] _mean, _rstd, _sum, _sumNorm, _gradFactor, _zeros;
    private double[] _chunkFirst = [], _chunkSecond = [];
    private int[] _chunkCount = [];

    /// <summary>Creates a layer with <c>weight = 1</c>, <c>bias = 0</c>, running mean 0 and running variance 1.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="momentum">The weight of a new batch in the running statistics, in (0, 1] (default 0.1 as in PyTorch).</param>
    /// <param name="epsilon">ε added to the variance; positive (default 1e-5).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1, or <paramref name="momentum"/> or <paramref name="epsilon"/> is out of range.</exception>
    public BatchNorm(int features, double momentum = 0.1, double epsilon = 1e-5) : base(features, epsilon)
    {
        if (!(momentum > 0 && momentum <= 1))
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, $"momentum must be in (0, 1]; got {momentum}.");
        Momentum = momentum;
        RunningMean = RegisterBuffer("running_mean", new T[features]);
        RunningVariance = RegisterBuffer("running_var", new T[features]);
        RunningVariance.AsSpan().Fill(T.One);
        _mean = new double[features];
        _rstd = new double[features];
        _sum = new double[features];
        _sumNorm = new double[features];
        _gradFactor = new double[features];
        _zeros = new double[features];
    }

    /// <summary>The weight of a new batch in the running statistics.</summary>
    public double Momentum { get; }

    /// <summary><c>running_mean</c> (H): <c>(1 − momentum)·running_mean + momentum·μ</c> after each training forward; used in evaluation mode.</summary>
    public T[] RunningMean { get; }

    /// <summary><c>running_var</c> (H): <c>(1 − momentum)·running_var + momentum·σ²·M/(M − 1)</c> after each training forward; used in evaluation mode.</summary>
    public T[] RunningVariance { get; }

    /// <summary>True: in evaluation every row is scaled and shifted by the running statistics (see <see cref="Modules.ChunkedEvaluation"/>).</summary>
    internal override bool EvaluatesInChunks(int batch, int length) => true;

    /// <summary>
    /// Normalises every feature. Training: with the statistics of this batch's valid steps (at least 2), which it keeps
    /// for the backward pass and blends into the running statistics. Evaluation: with the running statistics.
    /// </summary>
    protected override unsafe void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int h = Features, rows = shape.Rows;
        if (training && ValidRows(shape) < 2)
            throw new ArgumentException(shape.Lengths.IsEmpty
                ? $"BatchNorm in training mode needs at least 2 values per feature, but batch·length = {shape.Batch}·{shape.Length} = {rows}."
                : $"BatchNorm in training mode needs at least 2 valid steps per feature, but the {shape.Batch} sequences have {ValidRows(shape)}.", nameof(input));
        ReadOnlySpan<T> w = Weight.Value, b = Bias.Value;
        int threads = Parallelism.MaxThreads;
        // y = x ⊙ scale + shift: the per-feature factors live in a per-call work space, so evaluation calls can overlap.
        using var factors = RentWorkspace(2 * h);
        Span<T> scaleOf = factors.Span[..h], shiftOf = factors.Span[h..];
        if (training) TrainingStatistics(input, shape, w, b, scaleOf, shiftOf, threads);
        else
        {
            for (int f = 0; f < h; f++)
            {
                double scale = double.CreateTruncating(w[f]) / Math.Sqrt(double.CreateTruncating(RunningVariance[f]) + Epsilon);
                scaleOf[f] = T.CreateTruncating(scale);
                shiftOf[f] = T.CreateTruncating(double.CreateTruncating(b[f]) - double.CreateTruncating(RunningMean[f]) * scale);
            }
        }

        // y = x ⊙ scale + shift, with scale = weight·rstd and shift = bias − μ·scale; split over rows.
        int rowsPerBlock = RowsPerBlock(h);
        fixed (T* x = input, y = output, scale = scaleOf, shift = shiftOf)
        {
            var rowWork = new AffineRows { X = x, Y = y, Scale = scale, Shift = shift, H = h, Rows = rows, RowsPerBlock = rowsPerBlock };
            Parallelism.For((rows + rowsPerBlock - 1) / rowsPerBlock, threads, ref rowWork);
        }
    }

    /// <summary>
    /// The training-mode statistics: this batch's μ and rstd (kept for the backward pass), the running statistics
    /// blended in, and the per-feature <paramref name="scaleOf"/> and <paramref name="shiftOf"/> of the output.
    /// </summary>
    private unsafe void TrainingStatistics(ReadOnlySpan<T> input, in SequenceShape shape, ReadOnlySpan<T> w, ReadOnlySpan<T> b, Span<T> scaleOf, Span<T> shiftOf, int threads)
    {
        int h = Features, rows = shape.Rows, count = ValidRows(shape);
        int chunks = Chunks(rows, h);
        Grow(ref _input, input.Length);
        Grow(ref _chunkFirst, chunks * h);
        Grow(ref _chunkSecond, chunks * h);
        Grow(ref _chunkCount, chunks);

        // Per chunk of rows (copying x to the cache on the way): n_c valid rows, their mean and Σ (x − mean_c)², in
        // double, rows in order; then the chunks merged in order.
        fixed (T* x = input, cache = _input)
        fixed (double* first = _chunkFirst, second = _chunkSecond)
        fixed (int* counts = _chunkCount, lengths = shape.Lengths)
        {
            var sums = new ChunkSums
            {
                X = x, Cache = cache, First = first, Second = second, Counts = counts, H = h, Rows = rows,
                RowsPerChunk = RowsPerChunk(h), Lengths = lengths, Length = shape.Length, Gradient = false,
            };
            Parallelism.For(chunks, threads, ref sums);
        }
        MergeMoments(chunks, h, count);
        double m = Momentum;
        for (int f = 0; f < h; f++)
        {
            double variance = _sum[f] / count;
            _rstd[f] = 1.0 / Math.Sqrt(variance + Epsilon);
            RunningMean[f] = T.CreateTruncating((1 - m) * double.CreateTruncating(RunningMean[f]) + m * _mean[f]);
            RunningVariance[f] = T.CreateTruncating((1 - m) * double.CreateTruncating(RunningVariance[f]) + m * _sum[f] / (count - 1));
            double scale = _rstd[f] * double.CreateTruncating(w[f]);
            scaleOf[f] = T.CreateTruncating(scale);
            shiftOf[f] = T.CreateTruncating(double.CreateTruncating(b[f]) - _mean[f] * scale);
        }
    }

    /// <summary>
    /// μ into <c>_mean</c> and <c>Σ (x − μ)²</c> into <c>_sum</c> from the chunks' counts, means and sums of squared
    /// deviations, merged in chunk order by the pairwise update of Chan, Golub and LeVeque (a chunk with no valid row
    /// adds nothing): with <c>δ = mean_c − μ</c>, <c>μ += δ·n_c/n</c> and <c>M₂ += M₂,c + δ²·n·n_c/n</c> (old n,
    /// new n). One chunk gives its own sums unchanged.
    /// </summary>
    private void MergeMoments(int chunks, int h, int count)
    {
        for (int f = 0; f < h; f++)
        {
            double n = 0, mean = 0, squares = 0;
            for (int c = 0; c < chunks; c++)
            {
                int nc = _chunkCount[c];
                if (nc == 0) continue;
                double chunkMean = _chunkFirst[c * h + f], chunkSquares = _chunkSecond[c * h + f];
                if (n == 0)
                {
                    (n, mean, squares) = (nc, chunkMean, chunkSquares);
                    continue;
                }
                double total = n + nc, delta = chunkMean - mean;
                mean += delta * (nc / total);
                squares += chunkSquares + delta * delta * (n * nc / total);
                n = total;
            }
            Debug.Assert(n == count);
            _mean[f] = mean;
            _sum[f] = squares;
        }
    }

    /// <summary>
    /// Per feature, with <c>x̂ = (x − μ)·rstd</c>, sums over every row (every output depends on μ and rstd) and M the
    /// valid rows the statistics came from: <c>∂x += weight·rstd·(∂y − Σ∂y/M − x̂·Σ(∂y ⊙ x̂)/M)</c> at a valid row and
    /// <c>∂x += weight·rstd·∂y</c> at a padded one (it is not in the statistics); <c>∂weight += Σ ∂y ⊙ x̂</c>,
    /// <c>∂bias += Σ ∂y</c>.
    /// </summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, gradInput, shape);

    /// <summary>As <see cref="BackwardCore"/>, with ∂x written as <c>addend + …</c> in the same pass (no copy of the addend first).</summary>
    private protected override void BackwardPlusCore(ReadOnlySpan<T> gradOutput, ReadOnlySpan<T> addend, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, addend, gradInput, shape);

    /// <summary>The backward pass: ∂x = <paramref name="baseline"/> + the normalisation's part (<paramref name="baseline"/> is ∂x itself to add to it).</summary>
    private unsafe void Backprop(ReadOnlySpan<T> gradOutput, ReadOnlySpan<T> baseline, Span<T> gradInput, in SequenceShape shape)
    {
        int h = Features, rows = shape.Rows, count = ValidRows(shape), threads = Parallelism.MaxThreads;

        // Σ_r ∂y and Σ_r ∂y ⊙ x̂ per feature, in double: per chunk of rows in row order, then the chunks in order.
        int chunks = Chunks(rows, h);
        Grow(ref _chunkFirst, chunks * h);
        Grow(ref _chunkSecond, chunks * h);
        fixed (T* dy = gradOutput, x = _input)
        fixed (double* mean = _mean, rstd = _rstd, first = _chunkFirst, second = _chunkSecond)
        {
            var sums = new ChunkSums
            {
                X = x, DY = dy, Mean = mean, Rstd = rstd, First = first, Second = second, H = h, Rows = rows,
                RowsPerChunk = RowsPerChunk(h), Gradient = true,
            };
            Parallelism.For(chunks, threads, ref sums);
        }
        for (int f = 0; f < h; f++)
        {
            double sum = 0, sumNorm = 0;
            for (int c = 0; c < chunks; c++)
            {
                sum += _chunkFirst[c * h + f];
                sumNorm += _chunkSecond[c * h + f];
            }
            _sum[f] = sum;
            _sumNorm[f] = sumNorm;
        }
        Span<T> gw = Weight.Gradient, gb = Bias.Gradient;
        for (int f = 0; f < h; f++)
        {
            gw[f] += T.CreateTruncating(_sumNorm[f]);
            gb[f] += T.CreateTruncating(_sum[f]);
        }
        if (gradInput.IsEmpty) return;

        // ∂x += (weight·rstd)·(∂y − Σ∂y/M − x̂·Σ(∂y ⊙ x̂)/M) in double, per-feature factors first; split over rows.
        ReadOnlySpan<T> w = Weight.Value;
        for (int f = 0; f < h; f++)
        {
            _gradFactor[f] = double.CreateTruncating(w[f]) * _rstd[f];
            _sum[f] /= count;
            _sumNorm[f] /= count;
        }
        int rowsPerBlock = RowsPerBlock(h);
        fixed (T* dy = gradOutput, dx = gradInput, x = _input, baseValues = baseline)
        fixed (double* mean = _mean, rstd = _rstd, meanGrad = _sum, meanGradNorm = _sumNorm, factor = _gradFactor, zeros = _zeros)
        fixed (int* lengths = shape.Lengths)
        {
            var rowWork = new GradientRows
            {
                DY = dy, DX = dx, Base = baseValues, X = x, Mean = mean, Rstd = rstd, MeanGrad = meanGrad, MeanGradNorm = meanGradNorm, Factor = factor,
                Zeros = zeros, Lengths = lengths, Length = shape.Length, H = h, Rows = rows, RowsPerBlock = rowsPerBlock,
            };
            Parallelism.For((rows + rowsPerBlock - 1) / rowsPerBlock, threads, ref rowWork);
        }
    }

    /// <summary>The rows the statistics come from: B·L, or the sum of the valid lengths of a padded batch.</summary>
    private static int ValidRows(in SequenceShape shape)
    {
        if (shape.Lengths.IsEmpty) return shape.Rows;
        int count = 0;
        foreach (int n in shape.Lengths) count += n;
        return count;
    }

    /// <summary>Features per vector step: two <see cref="Vector256{T}"/> of doubles.</summary>
    private const int VectorStep = 8;

    /// <summary>Whether the vector paths run: float or double data on hardware with 256-bit vectors.</summary>
    private static bool Vectorized => (typeof(T) == typeof(float) || typeof(T) == typeof(double)) && Vector256.IsHardwareAccelerated;

    /// <summary>
    /// Rows per chunk of the statistics and backward sums: about 16384 elements (64 KiB of floats), so a chunk read
    /// from memory once is read again from cache, and two threads share the chunks. A function of the shape only.
    /// </summary>
    private static int RowsPerChunk(int h) => Math.Max(1, 16384 / h);

    private static int Chunks(int rows, int h) => (rows + RowsPerChunk(h) - 1) / RowsPerChunk(h);

    /// <summary>Rows per row work item: about 4096 elements, so small inputs run inline.</summary>
    private static int RowsPerBlock(int h) => Math.Max(1, 4096 / h);

    /// <summary>Eight consecutive values as doubles (exact for float).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector256<double> Lower, Vector256<double> Upper) Load8(T* p)
    {
        if (typeof(T) == typeof(float)) return Vector256.Widen(Vector256.Load((float*)p));
        return (Vector256.Load((double*)p), Vector256.Load((double*)p + 4));
    }

    /// <summary>Whether the row passes run on 512-bit vectors of doubles (float or double data, AVX-512).</summary>
    private static bool Wide => (typeof(T) == typeof(float) || typeof(T) == typeof(double)) && Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>Eight consecutive values as one vector of doubles (exact for float).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<double> Load8Wide(T* p) =>
        typeof(T) == typeof(float) ? Avx512F.ConvertToVector512Double(Vector256.Load((float*)p)) : Vector512.Load((double*)p);

    /// <summary>Stores eight doubles as <typeparamref name="T"/> (rounding each once for float, as <see cref="Store8"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store8Wide(T* p, Vector512<double> v)
    {
        if (typeof(T) == typeof(float)) Avx512F.ConvertToVector256Single(v).Store((float*)p);
        else v.Store((double*)p);
    }

    /// <summary>Stores eight doubles as <typeparamref name="T"/> (rounding each once for float).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store8(T* p, Vector256<double> lower, Vector256<double> upper)
    {
        if (typeof(T) == typeof(float))
        {
            Vector256.Narrow(lower, upper).Store((float*)p);
            return;
        }
        lower.Store((double*)p);
        upper.Store((double*)p + 4);
    }

    /// <summary>
    /// Per-feature sums over one chunk of <see cref="RowsPerChunk"/> rows, in row order, in double, into the chunk's row
    /// of <see cref="First"/> and <see cref="Second"/> (chunks × H).
    /// Statistics (<see cref="Gradient"/> false): copies the chunk's rows of x to <see cref="Cache"/>, counts the valid
    /// rows into <see cref="Counts"/> (every row, or the valid steps of each sequence with <see cref="Lengths"/>), and
    /// writes their mean to First and <c>Σ (x − mean)²</c> to Second (the chunk is read again from cache).
    /// Gradient: <c>First = Σ ∂y</c>, <c>Second = Σ ∂y·(x − Mean)·Rstd</c> over every row.
    /// Vector lanes and the scalar loop for the last features perform the same double operations, so every feature's
    /// sum is the same whichever path computes it.
    /// </summary>
    private unsafe struct ChunkSums : IIndexedWork
    {
        public T* X, DY, Cache;
        public double* Mean, Rstd, First, Second;
        public int* Counts, Lengths;
        public int H, Rows, Length, RowsPerChunk;
        public bool Gradient;

        private readonly bool Valid(int r) => Lengths == null || r % Length < Lengths[r / Length];

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int h = H, start = index * RowsPerChunk, end = Math.Min(Rows, start + RowsPerChunk);
            double* first = First + (long)index * h, second = Second + (long)index * h;
            if (Gradient)
            {
                AddGradients(first, second, X, DY, Mean, Rstd, start, end, h);
                return;
            }
            long offset = (long)start * h, elements = (long)(end - start) * h;
            new ReadOnlySpan<T>(X + offset, (int)elements).CopyTo(new Span<T>(Cache + offset, (int)elements));
            int n = 0;
            for (int r = start; r < end; r++)
                if (Valid(r)) n++;
            Counts[index] = n;
            if (n == 0)
            {
                new Span<double>(first, h).Clear();
                new Span<double>(second, h).Clear();
                return;
            }
            AddValues(first, Cache, start, end, h);
            for (int f = 0; f < h; f++) first[f] /= n;
            AddSquares(second, Cache, first, start, end, h);
        }

        // The sums below run feature group by feature group down the chunk's rows, the running sums in registers (the
        // chunk is in cache): per feature the same additions in the same row order as a row-by-row pass, without a
        // store and reload of every partial sum per row.

        /// <summary><c>sum = Σ x</c> over the valid rows [start, end).</summary>
        private readonly void AddValues(double* sum, T* x, int start, int end, int h)
        {
            int f = 0;
            if (Wide)
            {
                for (; f + VectorStep <= h; f += VectorStep)
                {
                    Vector512<double> s0 = Vector512<double>.Zero;
                    for (int r = start; r < end; r++)
                        if (Valid(r)) s0 += Load8Wide(x + (long)r * h + f);
                    s0.Store(sum + f);
                }
            }
            else if (Vectorized)
            {
                for (; f + VectorStep <= h; f += VectorStep)
                {
                    Vector256<double> s0 = Vector256<double>.Zero, s1 = Vector256<double>.Zero;
                    for (int r = start; r < end; r++)
                    {
                        if (!Valid(r)) continue;
                        (Vector256<double> v0, Vector256<double> v1) = Load8(x + (long)r * h + f);
                        s0 += v0;
                        s1 += v1;
                    }
                    s0.Store(sum + f);
                    s1.Store(sum + f + 4);
                }
            }
            for (; f < h; f++)
            {
                double s = 0;
                for (int r = start; r < end; r++)
                    if (Valid(r)) s += double.CreateTruncating(x[(long)r * h + f]);
                sum[f] = s;
            }
        }

        /// <summary><c>sum = Σ (x − mean)²</c> over the valid rows [start, end).</summary>
        private readonly void AddSquares(double* sum, T* x, double* mean, int start, int end, int h)
        {
            int f = 0;
            if (Wide)
            {
                for (; f + VectorStep <= h; f += VectorStep)
                {
                    Vector512<double> s0 = Vector512<double>.Zero, m0 = Vector512.Load(mean + f);
                    for (int r = start; r < end; r++)
                    {
                        if (!Valid(r)) continue;
                        Vector512<double> d0 = Load8Wide(x + (long)r * h + f) - m0;
                        s0 += d0 * d0;
                    }
                    s0.Store(sum + f);
                }
            }
            else if (Vectorized)
            {
                for (; f + VectorStep <= h; f += VectorStep)
                {
                    Vector256<double> s0 = Vector256<double>.Zero, s1 = Vector256<double>.Zero, m0 = Vector256.Load(mean + f), m1 = Vector256.Load(mean + f + 4);
                    for (int r = start; r < end; r++)
                    {
                        if (!Valid(r)) continue;
                        (Vector256<double> v0, Vector256<double> v1) = Load8(x + (long)r * h + f);
                        Vector256<double> d0 = v0 - m0, d1 = v1 - m1;
                        s0 += d0 * d0;
                        s1 += d1 * d1;
                    }
                    s0.Store(sum + f);
                    s1.Store(sum + f + 4);
                }
            }
            for (; f < h; f++)
            {
                double s = 0;
                for (int r = start; r < end; r++)
                {
                    if (!Valid(r)) continue;
                    double d = double.CreateTruncating(x[(long)r * h + f]) - mean[f];
                    s += d * d;
                }
                sum[f] = s;
            }
        }

        /// <summary><c>sum = Σ ∂y</c>, <c>sumNorm = Σ ∂y·(x − mean)·rstd</c> over every row of [start, end).</summary>
        private static void AddGradients(double* sum, double* sumNorm, T* x, T* dy, double* mean, double* rstd, int start, int end, int h)
        {
            int f = 0;
            if (Wide)
            {
                for (; f + VectorStep <= h; f += VectorStep)
                {
                    Vector512<double> s0 = Vector512<double>.Zero, n0 = Vector512<double>.Zero, m0 = Vector512.Load(mean + f), r0 = Vector512.Load(rstd + f);
                    for (int r = start; r < end; r++)
                    {
                        long row = (long)r * h + f;
                        Vector512<double> g0 = Load8Wide(dy + row);
                        s0 += g0;
                        n0 += g0 * (Load8Wide(x + row) - m0) * r0;
                    }
                    s0.Store(sum + f);
                    n0.Store(sumNorm + f);
                }
            }
            else if (Vectorized)
            {
                for (; f + VectorStep <= h; f += VectorStep)
                {
                    Vector256<double> s0 = Vector256<double>.Zero, s1 = Vector256<double>.Zero, n0 = Vector256<double>.Zero, n1 = Vector256<double>.Zero;
                    Vector256<double> m0 = Vector256.Load(mean + f), m1 = Vector256.Load(mean + f + 4), r0 = Vector256.Load(rstd + f), r1 = Vector256.Load(rstd + f + 4);
                    for (int r = start; r < end; r++)
                    {
                        long row = (long)r * h + f;
                        (Vector256<double> v0, Vector256<double> v1) = Load8(x + row);
                        (Vector256<double> g0, Vector256<double> g1) = Load8(dy + row);
                        s0 += g0;
                        s1 += g1;
                        n0 += g0 * (v0 - m0) * r0;
                        n1 += g1 * (v1 - m1) * r1;
                    }
                    s0.Store(sum + f);
                    s1.Store(sum + f + 4);
                    n0.Store(sumNorm + f);
                    n1.Store(sumNorm + f + 4);
                }
            }
            for (; f < h; f++)
            {
                double s = 0, sn = 0;
                for (int r = start; r < end; r++)
                {
                    long i = (long)r * h + f;
                    double g = double.CreateTruncating(dy[i]);
                    s += g;
                    sn += g * (double.CreateTruncating(x[i]) - mean[f]) * rstd[f];
                }
                sum[f] = s;
                sumNorm[f] = sn;
            }
        }
    }

    /// <summary>One block of rows: <c>y = x ⊙ Scale + Shift</c> (fused multiply-add in <typeparamref name="T"/>).</summary>
    private unsafe struct AffineRows : IIndexedWork
    {
        public T* X, Y, Scale, Shift;
        public int H, Rows, RowsPerBlock;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int h = H, width = Vector<T>.IsSupported ? Vector<T>.Count : int.MaxValue;
            int first = index * RowsPerBlock, last = Math.Min(Rows, first + RowsPerBlock);
            for (int r = first; r < last; r++)
            {
                T* x = X + (long)r * h, y = Y + (long)r * h;
                int f = 0;
                for (; f <= h - width; f += width)
                    VectorOps.FusedMultiplyAdd(Vector.Load(x + f), Vector.Load(Scale + f), Vector.Load(Shift + f)).Store(y + f);
                for (; f < h; f++) y[f] = T.FusedMultiplyAdd(x[f], Scale[f], Shift[f]);
            }
        }
    }

    /// <summary>
    /// One block of rows: <c>∂x = Base + Factor·(∂y − MeanGrad − (x − Mean)·Rstd·MeanGradNorm)</c> (Base is ∂x itself, or an
    /// addend), in double, rounded once to
    /// <typeparamref name="T"/> after the addition on every path; at a padded row (with <see cref="Lengths"/>) the two
    /// statistic terms are <see cref="Zeros"/>.
    /// </summary>
    private unsafe struct GradientRows : IIndexedWork
    {
        public T* DY, DX, Base, X;
        public double* Mean, Rstd, MeanGrad, MeanGradNorm, Factor, Zeros;
        public int* Lengths;
        public int H, Rows, Length, RowsPerBlock;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int h = H;
            int first = index * RowsPerBlock, last = Math.Min(Rows, first + RowsPerBlock);
            for (int r = first; r < last; r++)
            {
                long offset = (long)r * h;
                T* x = X + offset, dy = DY + offset, dx = DX + offset, baseRow = Base + offset;
                bool padded = Lengths != null && r % Length >= Lengths[r / Length];
                double* meanGrad = padded ? Zeros : MeanGrad, meanGradNorm = padded ? Zeros : MeanGradNorm;
                int f = 0;
                if (Wide)
                {
                    // The same double operations on eight lanes at once.
                    for (; f + VectorStep <= h; f += VectorStep)
                    {
                        Vector512<double> n = (Load8Wide(x + f) - Vector512.Load(Mean + f)) * Vector512.Load(Rstd + f);
                        Vector512<double> d = Vector512.Load(Factor + f) * (Load8Wide(dy + f) - Vector512.Load(meanGrad + f) - n * Vector512.Load(meanGradNorm + f));
                        Store8Wide(dx + f, Load8Wide(baseRow + f) + d);
                    }
                }
                else if (Vectorized)
                {
                    for (; f + VectorStep <= h; f += VectorStep)
                    {
                        (Vector256<double> x0, Vector256<double> x1) = Load8(x + f);
                        (Vector256<double> g0, Vector256<double> g1) = Load8(dy + f);
                        Vector256<double> n0 = (x0 - Vector256.Load(Mean + f)) * Vector256.Load(Rstd + f);
                        Vector256<double> n1 = (x1 - Vector256.Load(Mean + f + 4)) * Vector256.Load(Rstd + f + 4);
                        Vector256<double> d0 = Vector256.Load(Factor + f) * (g0 - Vector256.Load(meanGrad + f) - n0 * Vector256.Load(meanGradNorm + f));
                        Vector256<double> d1 = Vector256.Load(Factor + f + 4) * (g1 - Vector256.Load(meanGrad + f + 4) - n1 * Vector256.Load(meanGradNorm + f + 4));
                        (Vector256<double> a0, Vector256<double> a1) = Load8(baseRow + f);
                        Store8(dx + f, a0 + d0, a1 + d1);
                    }
                }
                for (; f < h; f++)
                {
                    double norm = (double.CreateTruncating(x[f]) - Mean[f]) * Rstd[f];
                    double g = double.CreateTruncating(dy[f]) - meanGrad[f] - norm * meanGradNorm[f];
                    dx[f] = T.CreateTruncating(double.CreateTruncating(baseRow[f]) + Factor[f] * g);
                }
            }
        }
    }
}
