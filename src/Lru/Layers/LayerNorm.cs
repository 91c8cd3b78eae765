using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// Layer normalisation over the features of every time step (LRU-MATH §2, <c>Norm</c>):
/// <c>y = (x − μ)·rstd ⊙ weight + bias</c> with <c>μ</c> the mean and <c>rstd = 1/√(σ² + ε)</c> from the
/// biased variance <c>σ²</c> of the row's H features. Input and output are (B, L, H). Matches PyTorch's
/// <c>nn.LayerNorm(H)</c>: <c>weight</c> starts at 1, <c>bias</c> at 0, <c>ε = 1e-5</c>.
/// </summary>
/// <remarks>
/// As in llm.c, the training forward keeps the input and each row's <c>μ</c> and <c>rstd</c>; the backward
/// rebuilds <c>x̂ = (x − μ)·rstd</c> from them. Rows are independent and are split over threads in fixed blocks
/// of about 4096 elements; each row is one fused pass of SIMD code (<see cref="Vector{T}"/> with a scalar tail).
/// Parameter gradients are summed within each block in row order and then over the blocks in order, so results
/// depend on the shape only, never on the thread count. Evaluation-mode forward passes may run on several threads at once; training is single-threaded (see <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class LayerNorm<T> : Normalization<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _input = [], _mean = [], _rstd = [], _partials = [];

    /// <summary>Creates a layer with <c>weight = 1</c> and <c>bias = 0</c>.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="epsilon">ε added to the variance; positive (default 1e-5 as in PyTorch).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1 or <paramref name="epsilon"/> is not positive.</exception>
    public LayerNorm(int features, double epsilon = 1e-5) : base(features, epsilon)
    {
    }

    /// <summary>True: every row is normalised on its own (see <see cref="Modules.ChunkedEvaluation"/>).</summary>
    internal override bool EvaluatesInChunks(int batch, int length) => true;

    /// <summary>Normalises every row of H features (rows split over threads in fixed blocks); a training pass keeps <c>x</c>, <c>μ</c> and <c>rstd</c>.</summary>
    protected override unsafe void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int h = Features, rows = shape.Rows;
        if (training)
        {
            Grow(ref _input, input.Length);
            Grow(ref _mean, rows);
            Grow(ref _rstd, rows);
        }
        int rowsPerBlock = RowsPerBlock(h);
        fixed (T* x = input, y = output, cache = _input, mean = _mean, rstd = _rstd, w = Weight.Value, b = Bias.Value)
        {
            var work = new ForwardWork
            {
                X = x, Y = y, W = w, B = b, H = h, Rows = rows, RowsPerBlock = rowsPerBlock,
                Epsilon = T.CreateChecked(Epsilon),
                Cache = training ? cache : null, Mean = training ? mean : null, Rstd = training ? rstd : null,
            };
            Parallelism.For((rows + rowsPerBlock - 1) / rowsPerBlock, Parallelism.MaxThreads, ref work);
        }
    }

    /// <summary>
    /// With <c>x̂ = (x − μ)·rstd</c> and <c>ĝ = ∂y ⊙ weight</c>: <c>∂x += rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂))</c>;
    /// <c>∂weight += Σ ∂y ⊙ x̂</c>, <c>∂bias += Σ ∂y</c> (sums within fixed blocks of rows in row order, then over the
    /// blocks in order, so the result depends on the shape only, never on the thread count).
    /// </summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: true);

    /// <summary>As <see cref="BackwardCore"/>, writing ∂x instead of adding it.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: false);

    private unsafe void Backprop(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape, bool accumulate)
    {
        int h = Features, rows = shape.Rows;
        if (rows == 0) return;
        int rowsPerBlock = RowsPerBlock(h), blocks = (rows + rowsPerBlock - 1) / rowsPerBlock;
        Grow(ref _partials, checked(blocks * 2 * h));
        Span<T> gw = Weight.Gradient, gb = Bias.Gradient;
        fixed (T* dy = gradOutput, dx = gradInput, x = _input, mean = _mean, rstd = _rstd, w = Weight.Value, partials = _partials)
        {
            var work = new BackwardWork
            {
                DY = dy, DX = gradInput.IsEmpty ? null : dx, X = x, Mean = mean, Rstd = rstd, W = w, Partials = partials,
                H = h, Rows = rows, RowsPerBlock = rowsPerBlock, Accumulate = accumulate,
            };
            Parallelism.For(blocks, Parallelism.MaxThreads, ref work);
        }
        for (int k = 0; k < blocks; k++)
        {
            ReadOnlySpan<T> partial = _partials.AsSpan(k * 2 * h, 2 * h);
            TensorPrimitives.Add(gb, partial[..h], gb);
            TensorPrimitives.Add(gw, partial[h..], gw);
        }
    }

    /// <summary>Rows per work item: about 4096 elements, so small inputs run inline on the calling thread.</summary>
    private static int RowsPerBlock(int h) => Math.Max(1, 4096 / h);

    /// <summary>Σ of a row with two vector accumulators and a scalar tail (fixed order for a given H).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe T Sum(T* x, int h)
    {
        int i = 0;
        T sum = T.Zero;
        if (Vector<T>.IsSupported)
        {
            int width = Vector<T>.Count;
            Vector<T> a0 = Vector<T>.Zero, a1 = Vector<T>.Zero;
            for (; i <= h - 2 * width; i += 2 * width)
            {
                a0 += Vector.Load(x + i);
                a1 += Vector.Load(x + i + width);
            }
            if (i <= h - width) { a0 += Vector.Load(x + i); i += width; }
            sum = Vector.Sum(a0 + a1);
        }
        for (; i < h; i++) sum += x[i];
        return sum;
    }

    /// <summary>Σ (x − μ)² of a row, with the same structure as <see cref="Sum"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe T CentredSumOfSquares(T* x, T mean, int h)
    {
        int i = 0;
        T sum = T.Zero;
        if (Vector<T>.IsSupported)
        {
            int width = Vector<T>.Count;
            Vector<T> m = new(mean), a0 = Vector<T>.Zero, a1 = Vector<T>.Zero;
            for (; i <= h - 2 * width; i += 2 * width)
            {
                Vector<T> d0 = Vector.Load(x + i) - m, d1 = Vector.Load(x + i + width) - m;
                a0 += d0 * d0;
                a1 += d1 * d1;
            }
            if (i <= h - width) { Vector<T> d = Vector.Load(x + i) - m; a0 += d * d; i += width; }
            sum = Vector.Sum(a0 + a1);
        }
        for (; i < h; i++) { T d = x[i] - mean; sum += d * d; }
        return sum;
    }

    /// <summary>One block of rows of the forward pass: two passes for μ and σ² on the row (in cache), one to write y (and the cache copy).</summary>
    private unsafe struct ForwardWork : IIndexedWork
    {
        public T* X, Y, W, B, Cache, Mean, Rstd;
        public int H, Rows, RowsPerBlock;
        public T Epsilon;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int h = H, width = Vector<T>.IsSupported ? Vector<T>.Count : int.MaxValue;
            int first = index * RowsPerBlock, last = Math.Min(Rows, first + RowsPerBlock);
            T count = T.CreateTruncating(h);
            for (int r = first; r < last; r++)
            {
                T* x = X + (long)r * h, y = Y + (long)r * h;
                T mean = Sum(x, h) / count;
                T rstd = T.One / T.Sqrt(CentredSumOfSquares(x, mean, h) / count + Epsilon);
                T* cache = Cache == null ? null : Cache + (long)r * h;
                // y = (x − μ)·rstd ⊙ weight + bias.
                int i = 0;
                for (; i <= h - width; i += width)
                {
                    Vector<T> m = new(mean), s = new(rstd);
                    Vector<T> v = Vector.Load(x + i);
                    if (cache != null) v.Store(cache + i);
                    VectorOps.FusedMultiplyAdd((v - m) * s, Vector.Load(W + i), Vector.Load(B + i)).Store(y + i);
                }
                for (; i < h; i++)
                {
                    if (cache != null) cache[i] = x[i];
                    y[i] = T.FusedMultiplyAdd((x[i] - mean) * rstd, W[i], B[i]);
                }
                if (Mean != null)
                {
                    Mean[r] = mean;
                    Rstd[r] = rstd;
                }
            }
        }
    }

    /// <summary>
    /// One block of rows of the backward pass: adds ∂x to its rows (writes it unless <see cref="Accumulate"/>; nothing when
    /// <see cref="DX"/> is null) and its own
    /// partial sums <c>Σ ∂y</c> (first H) and <c>Σ ∂y ⊙ x̂</c> (next H) at <c>Partials + 2H·index</c>.
    /// </summary>
    private unsafe struct BackwardWork : IIndexedWork
    {
        public T* DY, DX, X, Mean, Rstd, W, Partials;
        public int H, Rows, RowsPerBlock;
        public bool Accumulate;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int h = H, width = Vector<T>.IsSupported ? Vector<T>.Count : int.MaxValue;
            int first = index * RowsPerBlock, last = Math.Min(Rows, first + RowsPerBlock);
            T count = T.CreateTruncating(h);
            T* sumBias = Partials + (long)index * 2 * h, sumWeight = sumBias + h;
            new Span<T>(sumBias, 2 * h).Clear();
            for (int r = first; r < last; r++)
            {
                T* dy = DY + (long)r * h, x = X + (long)r * h;
                T mean = Mean[r], rstd = Rstd[r], sumG = T.Zero, sumGN = T.Zero;
                // Pass 1: parameter partial sums, Σĝ and Σĝ⊙x̂ with ĝ = ∂y ⊙ weight, x̂ = (x − μ)·rstd.
                int i = 0;
                if (h >= width)
                {
                    Vector<T> m = new(mean), s = new(rstd), g0 = Vector<T>.Zero, gn0 = Vector<T>.Zero;
                    for (; i <= h - width; i += width)
                    {
                        Vector<T> g = Vector.Load(dy + i), n = (Vector.Load(x + i) - m) * s, gw = g * Vector.Load(W + i);
                        (Vector.Load(sumBias + i) + g).Store(sumBias + i);
                        VectorOps.FusedMultiplyAdd(g, n, Vector.Load(sumWeight + i)).Store(sumWeight + i);
                        g0 += gw;
                        gn0 = VectorOps.FusedMultiplyAdd(gw, n, gn0);
                    }
                    sumG = Vector.Sum(g0);
                    sumGN = Vector.Sum(gn0);
                }
                for (; i < h; i++)
                {
                    T g = dy[i], n = (x[i] - mean) * rstd, gw = g * W[i];
                    sumBias[i] += g;
                    sumWeight[i] = T.FusedMultiplyAdd(g, n, sumWeight[i]);
                    sumG += gw;
                    sumGN = T.FusedMultiplyAdd(gw, n, sumGN);
                }
                if (DX == null) continue;

                // Pass 2: ∂x += (ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂))·rstd.
                T meanG = sumG / count, meanGN = sumGN / count;
                T* dx = DX + (long)r * h;
                for (i = 0; i <= h - width; i += width)
                {
                    Vector<T> m = new(mean), s = new(rstd), vg = new(meanG), vgn = new(meanGN);
                    Vector<T> n = (Vector.Load(x + i) - m) * s, gw = Vector.Load(dy + i) * Vector.Load(W + i);
                    Vector<T> d = (gw - vg - n * vgn) * s;
                    (Accumulate ? Vector.Load(dx + i) + d : d).Store(dx + i);
                }
                for (; i < h; i++)
                {
                    T n = (x[i] - mean) * rstd, gw = dy[i] * W[i];
                    T d = (gw - meanG - n * meanGN) * rstd;
                    dx[i] = Accumulate ? dx[i] + d : d;
                }
            }
        }
    }
}
