using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
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
/// Statistics and the backward sums are accumulated in double precision, feature by feature over the rows in
/// row order; that work is split over groups of 16 features, the elementwise passes over blocks of rows, so
/// results do not depend on the thread count. Inner loops are SIMD (<see cref="Vector256{T}"/> of doubles, or
/// <see cref="Vector{T}"/>) with scalar loops for the last features that do the same arithmetic. The running
/// statistics are buffers, not parameters; they are registered as buffers (<c>running_mean</c>, <c>running_var</c>) and reach checkpoints through <see cref="Module{T}.NamedBuffers"/>.
/// Evaluation-mode forward passes may run on several threads at once (each takes its per-feature scale and shift from a pool the layer owns); training is single-threaded (see <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class BatchNorm<T> : Normalization<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _input = [];
    private readonly double[] _mean, _rstd, _sum, _sumNorm, _gradFactor, _zeros;

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
        bool masked = !shape.Lengths.IsEmpty;
        Grow(ref _input, input.Length);
        if (masked) input.CopyTo(_input); // the sums below read (and would copy) only the valid rows

        // μ_f = Σ_r x[r, f] / M (copying x to the cache on the way), then σ²_f = Σ_r (x[r, f] − μ_f)² / M, over the
        // valid rows r, in double, rows in order; split over features.
        fixed (T* x = input, cache = _input)
        fixed (double* mean = _mean, sq = _sum)
        fixed (int* lengths = shape.Lengths)
        {
            var sums = new ColumnSums { X = x, Cache = masked ? null : cache, Sum = mean, H = h, Rows = rows, Lengths = lengths, Length = shape.Length, Pass = ColumnPass.Mean };
            Parallelism.For(ColumnItems(h), threads, ref sums);
            for (int f = 0; f < h; f++) mean[f] /= count;
            sums = new ColumnSums { X = x, Mean = mean, Sum = sq, H = h, Rows = rows, Lengths = lengths, Length = shape.Length, Pass = ColumnPass.Squares };
            Parallelism.For(ColumnItems(h), threads, ref sums);
        }
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
    /// Per feature, with <c>x̂ = (x − μ)·rstd</c>, sums over every row (every output depends on μ and rstd) and M the
    /// valid rows the statistics came from: <c>∂x += weight·rstd·(∂y − Σ∂y/M − x̂·Σ(∂y ⊙ x̂)/M)</c> at a valid row and
    /// <c>∂x += weight·rstd·∂y</c> at a padded one (it is not in the statistics); <c>∂weight += Σ ∂y ⊙ x̂</c>,
    /// <c>∂bias += Σ ∂y</c>.
    /// </summary>
    protected override unsafe void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        int h = Features, rows = shape.Rows, count = ValidRows(shape), threads = Parallelism.MaxThreads;

        // Σ_r ∂y and Σ_r ∂y ⊙ x̂ per feature, in double, rows in order; split over features.
        fixed (T* dy = gradOutput, x = _input)
        fixed (double* mean = _mean, rstd = _rstd, sum = _sum, sumNorm = _sumNorm)
        {
            var sums = new ColumnSums { X = x, DY = dy, Mean = mean, Rstd = rstd, Sum = sum, SumNorm = sumNorm, H = h, Rows = rows, Pass = ColumnPass.Gradient };
            Parallelism.For(ColumnItems(h), threads, ref sums);
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
        fixed (T* dy = gradOutput, dx = gradInput, x = _input)
        fixed (double* mean = _mean, rstd = _rstd, meanGrad = _sum, meanGradNorm = _sumNorm, factor = _gradFactor, zeros = _zeros)
        fixed (int* lengths = shape.Lengths)
        {
            var rowWork = new GradientRows
            {
                DY = dy, DX = dx, X = x, Mean = mean, Rstd = rstd, MeanGrad = meanGrad, MeanGradNorm = meanGradNorm, Factor = factor,
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

    /// <summary>Features per column work item: 16 (a 64-byte line of floats), so items never share a cache line of float data.</summary>
    private const int FeaturesPerItem = 16;

    /// <summary>Features per vector step: two <see cref="Vector256{T}"/> of doubles.</summary>
    private const int VectorStep = 8;

    /// <summary>Whether the vector paths run: float or double data on hardware with 256-bit vectors.</summary>
    private static bool Vectorized => (typeof(T) == typeof(float) || typeof(T) == typeof(double)) && Vector256.IsHardwareAccelerated;

    private static int ColumnItems(int h) => (h + FeaturesPerItem - 1) / FeaturesPerItem;

    /// <summary>Rows per row work item: about 4096 elements, so small inputs run inline.</summary>
    private static int RowsPerBlock(int h) => Math.Max(1, 4096 / h);

    /// <summary>Eight consecutive values as doubles (exact for float).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector256<double> Lower, Vector256<double> Upper) Load8(T* p)
    {
        if (typeof(T) == typeof(float)) return Vector256.Widen(Vector256.Load((float*)p));
        return (Vector256.Load((double*)p), Vector256.Load((double*)p + 4));
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

    private enum ColumnPass { Mean, Squares, Gradient }

    /// <summary>
    /// Per-feature sums over all rows in row order, for a group of <see cref="FeaturesPerItem"/> features per work item.
    /// <see cref="ColumnPass.Mean"/>: <c>Sum = Σ x</c> (and copies x to <see cref="Cache"/>);
    /// <see cref="ColumnPass.Squares"/>: <c>Sum = Σ (x − Mean)²</c>;
    /// <see cref="ColumnPass.Gradient"/>: <c>Sum = Σ ∂y</c>, <c>SumNorm = Σ ∂y·(x − Mean)·Rstd</c>.
    /// With <see cref="Lengths"/>, the Mean and Squares passes take only the valid rows of every sequence (and copy
    /// nothing: <see cref="Cache"/> is null); the Gradient pass always takes every row.
    /// Vector lanes and the scalar loop for the last features perform the same double operations, so every feature's
    /// sum is the same whichever path computes it.
    /// </summary>
    private unsafe struct ColumnSums : IIndexedWork
    {
        public T* X, DY, Cache;
        public double* Mean, Rstd, Sum, SumNorm;
        public int* Lengths;
        public int H, Rows, Length;
        public ColumnPass Pass;

        /// <summary>The row ranges a pass reads: one range of all rows, or the valid rows of each sequence.</summary>
        private readonly int Segments => Lengths == null || Pass == ColumnPass.Gradient ? 1 : Rows / Length;

        private readonly long SegmentStart(int s) => (long)s * Length; // 0 for the single range

        private readonly int SegmentRows(int s) => Lengths == null || Pass == ColumnPass.Gradient ? Rows : Lengths[s];

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int f = index * FeaturesPerItem, end = Math.Min(H, f + FeaturesPerItem);
            if (Vectorized)
            {
                // Each scan over the rows reads one 64-byte line per row: sixteen floats (two steps) or eight doubles.
                int perScan = typeof(T) == typeof(float) ? 2 : 1;
                while (f + VectorStep <= end)
                {
                    bool two = perScan == 2 && f + 2 * VectorStep <= end;
                    RunVector(f, two);
                    f += two ? 2 * VectorStep : VectorStep;
                }
            }
            for (; f < end; f++) RunScalar(f);
        }

        /// <summary>Running sums of one step of eight features.</summary>
        private struct Lanes
        {
            public Vector256<double> Sum0, Sum1, Norm0, Norm1;
        }

        private readonly void RunVector(int f, bool two)
        {
            int h = H;
            T* x = X + f;
            Lanes first = default, second = default;
            switch (Pass)
            {
                case ColumnPass.Mean:
                    for (int s = 0; s < Segments; s++)
                    {
                        T* xs = x + SegmentStart(s) * h, cache = Cache == null ? null : Cache + f + SegmentStart(s) * h;
                        for (int r = 0, n = SegmentRows(s); r < n; r++, xs += h)
                        {
                            if (cache != null)
                            {
                                CopyStep(xs, cache);
                                if (two) CopyStep(xs + VectorStep, cache + VectorStep);
                                cache += h;
                            }
                            AddValues(ref first, xs);
                            if (two) AddValues(ref second, xs + VectorStep);
                        }
                    }
                    break;
                case ColumnPass.Squares:
                    for (int s = 0; s < Segments; s++)
                    {
                        T* xs = x + SegmentStart(s) * h;
                        for (int r = 0, n = SegmentRows(s); r < n; r++, xs += h)
                        {
                            AddSquares(ref first, xs, Mean + f);
                            if (two) AddSquares(ref second, xs + VectorStep, Mean + f + VectorStep);
                        }
                    }
                    break;
                default:
                    {
                        T* dy = DY + f;
                        for (int r = 0; r < Rows; r++, x += h, dy += h)
                        {
                            AddGradients(ref first, x, dy, Mean + f, Rstd + f);
                            if (two) AddGradients(ref second, x + VectorStep, dy + VectorStep, Mean + f + VectorStep, Rstd + f + VectorStep);
                        }
                        first.Norm0.Store(SumNorm + f);
                        first.Norm1.Store(SumNorm + f + 4);
                        if (two)
                        {
                            second.Norm0.Store(SumNorm + f + VectorStep);
                            second.Norm1.Store(SumNorm + f + VectorStep + 4);
                        }
                        break;
                    }
            }
            first.Sum0.Store(Sum + f);
            first.Sum1.Store(Sum + f + 4);
            if (two)
            {
                second.Sum0.Store(Sum + f + VectorStep);
                second.Sum1.Store(Sum + f + VectorStep + 4);
            }
        }

        /// <summary>Σ x.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddValues(ref Lanes lanes, T* x)
        {
            (Vector256<double> v0, Vector256<double> v1) = Load8(x);
            lanes.Sum0 += v0;
            lanes.Sum1 += v1;
        }

        /// <summary>Σ (x − μ)².</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddSquares(ref Lanes lanes, T* x, double* mean)
        {
            (Vector256<double> v0, Vector256<double> v1) = Load8(x);
            Vector256<double> d0 = v0 - Vector256.Load(mean), d1 = v1 - Vector256.Load(mean + 4);
            lanes.Sum0 += d0 * d0;
            lanes.Sum1 += d1 * d1;
        }

        /// <summary>Σ ∂y and Σ ∂y·(x − μ)·rstd.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddGradients(ref Lanes lanes, T* x, T* dy, double* mean, double* rstd)
        {
            (Vector256<double> v0, Vector256<double> v1) = Load8(x);
            (Vector256<double> g0, Vector256<double> g1) = Load8(dy);
            lanes.Sum0 += g0;
            lanes.Sum1 += g1;
            lanes.Norm0 += g0 * (v0 - Vector256.Load(mean)) * Vector256.Load(rstd);
            lanes.Norm1 += g1 * (v1 - Vector256.Load(mean + 4)) * Vector256.Load(rstd + 4);
        }

        /// <summary>Copies eight values of <typeparamref name="T"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void CopyStep(T* from, T* to)
        {
            if (typeof(T) == typeof(float)) Vector256.Load((float*)from).Store((float*)to);
            else
            {
                Vector256.Load((double*)from).Store((double*)to);
                Vector256.Load((double*)from + 4).Store((double*)to + 4);
            }
        }

        private readonly void RunScalar(int f)
        {
            int h = H;
            T* x = X + f;
            double sum = 0, sumNorm = 0;
            switch (Pass)
            {
                case ColumnPass.Mean:
                    for (int s = 0; s < Segments; s++)
                    {
                        long start = SegmentStart(s);
                        T* xs = x + start * h;
                        for (int r = 0, n = SegmentRows(s); r < n; r++, xs += h)
                        {
                            if (Cache != null) Cache[(start + r) * h + f] = *xs;
                            sum += double.CreateTruncating(*xs);
                        }
                    }
                    break;
                case ColumnPass.Squares:
                    for (int s = 0; s < Segments; s++)
                    {
                        T* xs = x + SegmentStart(s) * h;
                        for (int r = 0, n = SegmentRows(s); r < n; r++, xs += h)
                        {
                            double d = double.CreateTruncating(*xs) - Mean[f];
                            sum += d * d;
                        }
                    }
                    break;
                default:
                    T* dy = DY + f;
                    for (int r = 0; r < Rows; r++, x += h, dy += h)
                    {
                        double g = double.CreateTruncating(*dy);
                        sum += g;
                        sumNorm += g * (double.CreateTruncating(*x) - Mean[f]) * Rstd[f];
                    }
                    SumNorm[f] = sumNorm;
                    break;
            }
            Sum[f] = sum;
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
    /// One block of rows: <c>∂x += Factor·(∂y − MeanGrad − (x − Mean)·Rstd·MeanGradNorm)</c>, in double, rounded once to
    /// <typeparamref name="T"/> after the addition on every path; at a padded row (with <see cref="Lengths"/>) the two
    /// statistic terms are <see cref="Zeros"/>.
    /// </summary>
    private unsafe struct GradientRows : IIndexedWork
    {
        public T* DY, DX, X;
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
                T* x = X + offset, dy = DY + offset, dx = DX + offset;
                bool padded = Lengths != null && r % Length >= Lengths[r / Length];
                double* meanGrad = padded ? Zeros : MeanGrad, meanGradNorm = padded ? Zeros : MeanGradNorm;
                int f = 0;
                if (Vectorized)
                {
                    for (; f + VectorStep <= h; f += VectorStep)
                    {
                        (Vector256<double> x0, Vector256<double> x1) = Load8(x + f);
                        (Vector256<double> g0, Vector256<double> g1) = Load8(dy + f);
                        Vector256<double> n0 = (x0 - Vector256.Load(Mean + f)) * Vector256.Load(Rstd + f);
                        Vector256<double> n1 = (x1 - Vector256.Load(Mean + f + 4)) * Vector256.Load(Rstd + f + 4);
                        Vector256<double> d0 = Vector256.Load(Factor + f) * (g0 - Vector256.Load(meanGrad + f) - n0 * Vector256.Load(meanGradNorm + f));
                        Vector256<double> d1 = Vector256.Load(Factor + f + 4) * (g1 - Vector256.Load(meanGrad + f + 4) - n1 * Vector256.Load(meanGradNorm + f + 4));
                        (Vector256<double> a0, Vector256<double> a1) = Load8(dx + f);
                        Store8(dx + f, a0 + d0, a1 + d1);
                    }
                }
                for (; f < h; f++)
                {
                    double norm = (double.CreateTruncating(x[f]) - Mean[f]) * Rstd[f];
                    double g = double.CreateTruncating(dy[f]) - meanGrad[f] - norm * meanGradNorm[f];
                    dx[f] = T.CreateTruncating(double.CreateTruncating(dx[f]) + Factor[f] * g);
                }
            }
        }
    }
}
