using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.CompilerServices;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// The gated linear unit of the LRU block (LRU-MATH §2): <c>z = out1(x) ⊙ sigmoid(out2(x))</c>, with
/// <c>out1</c> and <c>out2</c> two <see cref="Linear{T}"/> layers H → H with bias. Input and output are (B, L, H).
/// Parameters are named <c>out1.weight</c>, <c>out1.bias</c>, <c>out2.weight</c>, <c>out2.bias</c>, as in the
/// JAX reference.
/// </summary>
/// <remarks>
/// <para>The two linear layers run as one: their weights stacked as <c>[W1; W2]</c> (2H × H, copied again whenever a
/// parameter changes), one GEMM gives <c>[a | g]</c> per row, and the backward's <c>[∂a | ∂g]</c> (rows × 2H) feeds one
/// GEMM for <c>∂x = ∂a·W1 + ∂g·W2</c> (k = 2H) and one for <c>[∂W1; ∂W2]</c>, so the input is copied and read once
/// instead of once per layer. <c>out1</c> and <c>out2</c> keep the parameters (their names, checkpoints, optimisers) and
/// serve evaluation passes of a few rows (streaming steps).</para>
/// <para>From two blocks of <see cref="GemmBlockRows"/> rows up (and H ≤ 128 in float, at most 32 MiB of block shares)
/// the passes run blocked: each block does its GEMM and gate forward, or its gate backward, its rows of ∂x and its share
/// of the weight and bias gradients while it is in cache; the shares are summed in block order. Block boundaries depend
/// on the shape only.</para>
/// <para>The training forward keeps the input and <c>[a | s]</c>, <c>s = sigmoid(g)</c>. The backward is
/// <c>∂a = ∂z ⊙ s</c>, <c>∂g = ∂z ⊙ a ⊙ s ⊙ (1 − s)</c>. Every pass is split over fixed blocks of rows and every sum
/// over rows runs in a fixed order, so results do not depend on the thread count.
/// Evaluation-mode forward passes may run on several threads at once (<c>[a | g]</c> goes through a work array from a
/// pool the layer owns); training is single-threaded (see <see cref="Module{T}"/>).</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Glu<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Most rows of the stacked weight gradient [∂W1; ∂W2] (2H): the unpacked small-output GEMM's limit.</summary>
    private const int MaxStackedGradientRows = 512;

    /// <summary>Most rows an evaluation pass sends through <c>out1</c> and <c>out2</c> one by one (their few-rows path, for streaming steps).</summary>
    private const int SmallRows = 4;

    // Training cache: the input, and per row [out1(x) | sigmoid(out2(x))]; the backward's [∂a | ∂g] per row and, blocked,
    // each block's share of the weight and bias gradients.
    private T[] _input = [], _as = [], _gradAg = [], _blockShares = [];

    // [W1; W2] (2H × H) and [b1; b2] (2H), rebuilt when a parameter changes; the stacked weight gradient (2H × H + 2H).
    private readonly object _stackLock = new();
    private T[] _stacked = [], _gradStacked = [];

    // [W1; W2]ᵀ (H × 2H) packed for the forward GEMM once per change of the weights (null when the GEMM cannot pack it
    // ahead, or T is neither float nor double): a pass of a few hundred rows (a block, a chunk) would otherwise pack it again.
    private PackedGemmB<T>? _packed;

    // [W1; W2] (2H × H) packed for the blocked backward's ∂x = [∂a | ∂g]·[W1; W2], likewise.
    private PackedGemmB<T>? _packedBackward;
    private long _w1Version = -1, _b1Version = -1, _w2Version = -1, _b2Version = -1;

    /// <summary>Creates the unit with both linear layers initialised like PyTorch from a seed.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="seed">The seed; <c>out1</c> is drawn first, then <c>out2</c>, from one generator.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1.</exception>
    public Glu(int features, long seed = 0) : this(features, new SeededRandom(seed))
    {
    }

    /// <summary>Creates the unit with both linear layers initialised like PyTorch from <paramref name="random"/> (<c>out1</c> first).</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="random">The generator.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public Glu(int features, SeededRandom random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        ArgumentNullException.ThrowIfNull(random);
        Out1 = RegisterModule("out1", new Linear<T>(features, features, random));
        Out2 = RegisterModule("out2", new Linear<T>(features, features, random));
    }

    /// <summary>H, the features per time step.</summary>
    public int Features => Out1.InputFeatures;

    /// <inheritdoc/>
    public override int InputFeatures => Features;

    /// <inheritdoc/>
    public override int OutputFeatures => Features;

    /// <summary><c>out1</c>: the value branch, H → H.</summary>
    public Linear<T> Out1 { get; }

    /// <summary><c>out2</c>: the gate branch, H → H, passed through the sigmoid.</summary>
    public Linear<T> Out2 { get; }

    /// <summary>True: every output step depends only on the same input step.</summary>
    public override bool CanStream => true;

    /// <summary>True: every row is its own GEMM row and gate, by the same kernels at any row count above the few-rows path (see <see cref="Modules.ChunkedEvaluation"/>).</summary>
    internal override bool EvaluatesInChunks(int batch, int length) => true;

    /// <summary>
    /// <c>z = out1(x) ⊙ sigmoid(out2(x))</c>: a GEMM with the stacked weights gives <c>[a | g]</c> per row (2H columns),
    /// then the gate (block by block when blocked); a training pass keeps the input and <c>[a | sigmoid(g)]</c>.
    /// </summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training) =>
        Run(input, default, output, shape, training);

    /// <summary>As <see cref="ForwardCore"/>, with the gate writing <c>z = addend + out1(x) ⊙ sigmoid(out2(x))</c> (the product rounded, then added).</summary>
    private protected override void ForwardPlusCore(ReadOnlySpan<T> input, ReadOnlySpan<T> addend, Span<T> output, in SequenceShape shape, bool training) =>
        Run(input, addend, output, shape, training);

    /// <summary>The forward pass; with a non-empty <paramref name="addend"/> the gate adds it to every output.</summary>
    private void Run(ReadOnlySpan<T> input, ReadOnlySpan<T> addend, Span<T> output, in SequenceShape shape, bool training)
    {
        int rows = shape.Rows, h = Features;
        if (training)
        {
            Span<T> copy = Grow(ref _input, input.Length), pairs = Grow(ref _as, 2 * input.Length);
            if (Blocked(rows))
            {
                ForwardBlocked(input, pairs, addend, output, copy, rows);
                return;
            }
            Elementwise.Copy(input, copy, Parallelism.MaxThreads);
            Gate(pairs, Stacked(pairs, input, rows, Parallelism.MaxThreads), addend, output, rows, h, keep: true);
            return;
        }

        // Evaluation keeps nothing: [a | g] goes through a per-call work array, so the training cache survives and
        // concurrent evaluation calls never share a buffer. A few rows (a streaming step) take the linear layers' own
        // few-rows path, which reads their weights without packing them.
        if (rows <= SmallRows)
        {
            using var gate = RentWorkspace(input.Length);
            Out1.Forward(input, output, shape, training);
            Out2.Forward(input, gate.Span, shape, training);
            Sigmoid(gate.Span, gate.Span);
            TensorPrimitives.Multiply<T>(output[..input.Length], gate.Span, output[..input.Length]);
            if (!addend.IsEmpty) TensorPrimitives.Add<T>(output, addend, output);
            return;
        }
        using var scratch = RentWorkspace(2 * input.Length);
        if (Blocked(rows))
            ForwardBlocked(input, scratch.Span, addend, output, default, rows);
        else
            Gate(scratch.Span, Stacked(scratch.Span, input, rows, rows < 2 * GemmBlockRows ? 1 : Parallelism.MaxThreads), addend, output, rows, h, keep: false);
    }

    /// <summary>
    /// <c>[a | g] = x · [W1; W2]ᵀ</c> into <paramref name="pairs"/> (rows × 2H), without the biases (the gate adds them);
    /// from the packed weights on the calling thread when a pass runs on one (<paramref name="threads"/> 1), otherwise
    /// by <see cref="Gemm"/> (the same bits either way).
    /// </summary>
    private unsafe ReadOnlySpan<T> Stacked(Span<T> pairs, ReadOnlySpan<T> input, int rows, int threads)
    {
        int h = Features;
        ReadOnlySpan<T> stacked = StackedParameters();
        if (threads == 1 && _packed is { } packed)
        {
            fixed (T* x = input, p = pairs) packed.Multiply(x, h, p, 2 * h, rows, accumulate: false);
        }
        else
        {
            Gemm.Multiply<T>(input, stacked[..(2 * h * h)], pairs, rows, 2 * h, h, transposeB: true, threads: threads);
        }
        return stacked.Slice(2 * h * h, 2 * h);
    }

    /// <summary>
    /// [W1; W2] then [b1; b2], copied again whenever one of the four parameters has changed (under a lock, checked without
    /// one first: concurrent evaluation calls share the copy, as <see cref="Linear{T}"/> shares its panels).
    /// </summary>
    private ReadOnlySpan<T> StackedParameters()
    {
        Parameter<T> w1 = Out1.Weight, w2 = Out2.Weight, b1 = Out1.Bias!, b2 = Out2.Bias!;
        long v1 = w1.Version, v2 = w2.Version, v3 = b1.Version, v4 = b2.Version;
        int h = Features, size = 2 * h * h + 2 * h;
        if (Volatile.Read(ref _b2Version) == v4 && _w1Version == v1 && _w2Version == v2 && _b1Version == v3 && _stacked.Length == size)
            return _stacked;
        lock (_stackLock)
        {
            if (_stacked.Length != size || v1 != _w1Version || v2 != _w2Version || v3 != _b1Version || v4 != _b2Version)
            {
                var stacked = _stacked.Length == size ? _stacked : new T[size];
                w1.Value.CopyTo(stacked.AsSpan(0, h * h));
                w2.Value.CopyTo(stacked.AsSpan(h * h, h * h));
                b1.Value.CopyTo(stacked.AsSpan(2 * h * h, h));
                b2.Value.CopyTo(stacked.AsSpan(2 * h * h + h, h));
                _stacked = stacked;
                if ((typeof(T) == typeof(float) || typeof(T) == typeof(double)) && PackedGemmB<T>.Fits(h, 2 * h))
                {
                    _packed ??= new PackedGemmB<T>(h, 2 * h);
                    _packed.Pack(stacked.AsSpan(0, 2 * h * h), transposeB: true);
                }
                if ((typeof(T) == typeof(float) || typeof(T) == typeof(double)) && PackedGemmB<T>.Fits(2 * h, h))
                {
                    _packedBackward ??= new PackedGemmB<T>(2 * h, h);
                    _packedBackward.Pack(stacked.AsSpan(0, 2 * h * h), transposeB: false);
                }
                (_w1Version, _w2Version, _b1Version) = (v1, v2, v3);
                Volatile.Write(ref _b2Version, v4); // last: the check without the lock reads it first
            }
            return _stacked;
        }
    }

    /// <summary>
    /// <c>∂a = ∂z ⊙ s</c>, <c>∂g = ∂z ⊙ a ⊙ s ⊙ (1 − s)</c> per row into <c>[∂a | ∂g]</c>; then a GEMM each for
    /// <c>∂x (+)= [∂a | ∂g] · [W1; W2]</c> and <c>[∂W1; ∂W2] += [∂a | ∂g]ᵀ · x</c>, and the column sums for the biases
    /// (blocked: per block, the gradients summed over the blocks' shares in block order).
    /// </summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape.Rows, accumulate: true);

    /// <summary>As <see cref="BackwardCore"/>, writing <c>∂x</c>.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape.Rows, accumulate: false);

    private unsafe void Backprop(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int rows, bool accumulate)
    {
        int h = Features, count = rows * h;
        Span<T> gradPairs = Grow(ref _gradAg, 2 * count);
        Span<T> grad = Grow(ref _gradStacked, 2 * h * h + 2 * h);
        Span<T> gradW = grad[..(2 * h * h)], gradB = grad.Slice(2 * h * h, 2 * h);
        if (Blocked(rows))
        {
            // The blocks' shares are rows of [∂W1; ∂W2 | ∂b1 | ∂b2]; their column sums in block order, added to the
            // gradients gathered into one stacked copy, are the gradients.
            int blocks = (rows + GemmBlockRows - 1) / GemmBlockRows;
            Span<T> shares = Grow(ref _blockShares, blocks * grad.Length);
            BackwardBlocked(gradOutput, gradPairs, gradInput, shares, rows, accumulate);
            GatherGradients(grad);
            Elementwise.AddColumnSums<T>(shares, grad, blocks, Parallelism.MaxThreads);
            ScatterGradients(grad);
            return;
        }

        fixed (T* dz = gradOutput, pairs = _as, dp = gradPairs)
        {
            var work = new GateBackward { DZ = dz, Pairs = pairs, GradPairs = dp, Rows = rows, Features = h };
            Parallelism.For(RowBlocks(rows, h), Parallelism.MaxThreads, ref work);
        }

        ReadOnlySpan<T> stacked = StackedParameters();
        if (!gradInput.IsEmpty)
            Gemm.Multiply<T>(gradPairs, stacked[..(2 * h * h)], gradInput, rows, h, 2 * h, accumulate: accumulate);

        // [∂W1; ∂W2] += [∂a | ∂g]ᵀ · x and [∂b1 | ∂b2] += the column sums of [∂a | ∂g] (each in row order), into a stacked
        // copy of the gradients (the GEMM and the sums add to what they hold, so the sums are the same as straight into
        // each parameter). One GEMM reads x once; beyond a stacked C of 512 rows (H > 256) the unpacked small-output GEMM
        // no longer applies, and two GEMMs on the halves of [∂a | ∂g] (row stride 2H) take its place.
        ReadOnlySpan<T> input = _input.AsSpan(0, count);
        GatherGradients(grad);
        if (2 * h <= MaxStackedGradientRows)
        {
            Gemm.Multiply<T>(gradPairs, input, gradW, 2 * h, h, rows, transposeA: true, accumulate: true);
        }
        else
        {
            Gemm.Multiply<T>(gradPairs, 2 * h, true, input, h, false, gradW[..(h * h)], h, h, h, rows, T.One, T.One);
            Gemm.Multiply<T>(gradPairs[h..], 2 * h, true, input, h, false, gradW[(h * h)..], h, h, h, rows, T.One, T.One);
        }
        Elementwise.AddColumnSums<T>(gradPairs, gradB, rows, Parallelism.MaxThreads);
        ScatterGradients(grad);
    }

    /// <summary>The four parameters' gradients into one stacked copy, <c>[∂W1; ∂W2 | ∂b1 | ∂b2]</c> (2H·H + 2H).</summary>
    private void GatherGradients(Span<T> grad)
    {
        int h = Features;
        Out1.Weight.Gradient.CopyTo(grad[..(h * h)]);
        Out2.Weight.Gradient.CopyTo(grad.Slice(h * h, h * h));
        Out1.Bias!.Gradient.CopyTo(grad.Slice(2 * h * h, h));
        Out2.Bias!.Gradient.CopyTo(grad.Slice(2 * h * h + h, h));
    }

    /// <summary>The stacked copy back into the four parameters' gradients (see <see cref="GatherGradients"/>).</summary>
    private void ScatterGradients(ReadOnlySpan<T> grad)
    {
        int h = Features;
        grad[..(h * h)].CopyTo(Out1.Weight.Gradient);
        grad.Slice(h * h, h * h).CopyTo(Out2.Weight.Gradient);
        grad.Slice(2 * h * h, h).CopyTo(Out1.Bias!.Gradient);
        grad.Slice(2 * h * h + h, h).CopyTo(Out2.Bias!.Gradient);
    }

    /// <summary>Work items of the row-wise gate passes: blocks of whole rows of about <see cref="BlockSize"/> elements.</summary>
    internal static int RowBlocks(int rows, int h) => (rows + RowsPerBlock(h) - 1) / RowsPerBlock(h);

    private static int RowsPerBlock(int h) => Math.Max(1, BlockSize / h);

    /// <summary>
    /// Per row, with the biases added, <c>a ← a + b1</c> and <c>s = sigmoid(g + b2)</c> kept in place of a and g, and
    /// <c>z = a ⊙ s</c>, over blocks of rows on all threads (<paramref name="pairs"/>: rows × [a | g];
    /// <paramref name="bias"/>: [b1 | b2]; <paramref name="z"/>: rows × H).
    /// </summary>
    private static unsafe void Gate(Span<T> pairs, ReadOnlySpan<T> bias, ReadOnlySpan<T> addend, Span<T> z, int rows, int h, bool keep)
    {
        fixed (T* pp = pairs, pb = bias, pa = addend, pz = z)
        {
            var work = new GateForward { Pairs = pp, Bias = pb, Addend = pa, Z = pz, Rows = rows, Features = h, Keep = keep };
            Parallelism.For(RowBlocks(rows, h), Parallelism.MaxThreads, ref work);
        }
    }

    /// <summary>Elements per work item of the gate passes (16 KiB of floats; whole rows, at least one), so small inputs run inline.</summary>
    internal const int BlockSize = 4096;

    /// <summary>One block of rows of the forward gate (see <see cref="GateRows"/>).</summary>
    private unsafe struct GateForward : IIndexedWork
    {
        public T* Pairs, Bias, Addend, Z;
        public int Rows, Features;
        public bool Keep;

        public readonly void Run(int index)
        {
            int per = RowsPerBlock(Features), first = index * per;
            GateRows(Pairs, Bias, Addend, Z, first, Math.Min(Rows, first + per), Features, Keep);
        }
    }

    /// <summary>One block of rows of the backward gate (see <see cref="GateBackwardRows"/>).</summary>
    internal unsafe struct GateBackward : IIndexedWork
    {
        public T* DZ, Pairs, GradPairs;
        public int Rows, Features;

        public readonly void Run(int index)
        {
            int per = RowsPerBlock(Features), first = index * per;
            GateBackwardRows(DZ, Pairs, GradPairs, first, Math.Min(Rows, first + per), Features);
        }
    }

    /// <summary>
    /// Rows [first, last) of the forward gate: <c>a + b1</c>, <c>s = sigmoid(g + b2)</c> (kept in place of a and g for the
    /// backward when <paramref name="keep"/>), <c>z = a ⊙ s</c>, or <c>z = a ⊙ s + addend</c> (the product rounded, then
    /// added) when <paramref name="addend"/> is not null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void GateRows(T* pairs, T* bias, T* addend, T* z, int first, int last, int h, bool keep)
    {
        var b1 = new ReadOnlySpan<T>(bias, h);
        var b2 = new ReadOnlySpan<T>(bias + h, h);
        // Whole 512-bit vectors in one pass per row (no call per operation: at H = 64 the calls cost more than the work);
        // the rest of a row, if any, through TensorPrimitives.
        int vectorEnd = Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported ? h - h % Vector512<T>.Count : 0;
        for (int r = first; r < last; r++)
        {
            T* pair = pairs + (nint)r * 2 * h, zr = z + (nint)r * h, ar = addend == null ? null : addend + (nint)r * h;
            for (int i = 0; i < vectorEnd; i += Vector512<T>.Count)
            {
                Vector512<T> a = Vector512.Load(pair + i) + Vector512.Load(bias + i);
                Vector512<T> g = Vector512.Load(pair + h + i) + Vector512.Load(bias + h + i);
                Vector512<T> sigmoid = Sigmoid(g);
                if (keep)
                {
                    a.Store(pair + i);
                    sigmoid.Store(pair + h + i);
                }
                Vector512<T> product = a * sigmoid;
                (ar == null ? product : product + Vector512.Load(ar + i)).Store(zr + i);
            }
            if (vectorEnd == h) continue;
            int rest = h - vectorEnd;
            Span<T> at = new(pair + vectorEnd, rest), st = new(pair + h + vectorEnd, rest), zt = new(zr + vectorEnd, rest);
            TensorPrimitives.Add<T>(at, b1[vectorEnd..], at);
            TensorPrimitives.Add<T>(st, b2[vectorEnd..], st);
            Sigmoid(st, st);
            TensorPrimitives.Multiply<T>(at, st, zt);
            if (ar != null) TensorPrimitives.Add<T>(zt, new ReadOnlySpan<T>(ar + vectorEnd, rest), zt);
        }
    }

    /// <summary>
    /// <c>σ(g)</c> per lane: the gate's one formula on 512-bit hardware. Double: <c>1/(1 + exp(−g))</c>. Float, in float
    /// arithmetic (<see cref="Vector512.Exp(Vector512{float})"/> computes in double, at twice the cost): with
    /// <c>e = exp(−|g|)</c> from the GELU kernel's float exponential (|g| clamped at 113, where e is 0) and
    /// <c>r = 1/(1 + e)</c>, <c>σ = r</c> for g ≥ 0 and <c>e·r</c> below; NaN stays NaN. The error of e reaches σ damped
    /// by e/(1 + e) ≤ ½ for g ≥ 0 and whole below, so σ is within about three float ulps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Sigmoid(Vector512<T> g)
    {
        if (typeof(T) != typeof(float)) return Vector512<T>.One / (Vector512<T>.One + Exp(-g));
        Vector512<float> x = g.As<T, float>();
        Vector512<float> e = GeluKernels.ExpSingle(-Vector512.Min(Vector512.Abs(x), Vector512.Create(113f)), Vector512<float>.Zero);
        Vector512<float> r = Vector512<float>.One / (Vector512<float>.One + e);
        Vector512<float> sigma = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), e * r, r);
        return Vector512.ConditionalSelect(Vector512.IsNaN(x), x, sigma).As<float, T>();
    }

    /// <summary>
    /// <c>y = σ(x)</c> over a span (y may be x): whole 512-bit vectors and the rest padded into one, so every element gets
    /// the same formula wherever it sits (a row's tail, a streaming step); <see cref="TensorPrimitives.Sigmoid{T}"/> without
    /// 512-bit hardware, where the gate uses it for whole rows too.
    /// </summary>
    internal static unsafe void Sigmoid(ReadOnlySpan<T> x, Span<T> y)
    {
        if (!(Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported))
        {
            TensorPrimitives.Sigmoid<T>(x, y);
            return;
        }
        int width = Vector512<T>.Count, i = 0;
        fixed (T* px = x, py = y)
        {
            for (; i <= x.Length - width; i += width) Sigmoid(Vector512.Load(px + i)).Store(py + i);
            if (i == x.Length) return;
            T* buffer = stackalloc T[width];
            Vector512<T>.Zero.Store(buffer);
            int rest = x.Length - i;
            new ReadOnlySpan<T>(px + i, rest).CopyTo(new Span<T>(buffer, rest));
            Sigmoid(Vector512.Load(buffer)).Store(buffer);
            new ReadOnlySpan<T>(buffer, rest).CopyTo(new Span<T>(py + i, rest));
        }
    }

    /// <summary>exp per lane, for the two types <see cref="Vector512.Exp(Vector512{float})"/> has.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Exp(Vector512<T> v) => typeof(T) == typeof(float)
        ? Vector512.Exp(v.As<T, float>()).As<float, T>()
        : Vector512.Exp(v.As<T, double>()).As<double, T>();

    /// <summary>Rows [first, last) of the backward gate: <c>∂a = ∂z ⊙ s</c>, <c>∂g = (1 − s) ⊙ a ⊙ ∂a</c>, in SIMD with a scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void GateBackwardRows(T* gradOutput, T* pairs, T* gradPairs, int first, int last, int h)
    {
        for (int r = first; r < last; r++)
        {
            T* dz = gradOutput + (nint)r * h, a = pairs + (nint)r * 2 * h, s = a + h, da = gradPairs + (nint)r * 2 * h, dg = da + h;
            int i = 0;
            if (Vector<T>.IsSupported)
            {
                int width = Vector<T>.Count;
                for (; i <= h - width; i += width)
                {
                    Vector<T> sv = Vector.Load(s + i), dav = Vector.Load(dz + i) * sv;
                    dav.Store(da + i);
                    ((Vector<T>.One - sv) * Vector.Load(a + i) * dav).Store(dg + i);
                }
            }
            for (; i < h; i++)
            {
                T sv = s[i], dav = dz[i] * sv;
                da[i] = dav;
                dg[i] = (T.One - sv) * a[i] * dav;
            }
        }
    }

    /// <summary>
    /// Rows per block of the blocked passes: 22 tiles of the AVX-512 GEMM kernel's 12 rows, and at least the 256 rows of
    /// the small-output weight-gradient kernel (the last block of a pass may be shorter and take the packed one).
    /// </summary>
    internal const int GemmBlockRows = 264;

    /// <summary>Largest stacked weight matrix (2H × H) the blocked passes take: one per block of rows is kept for the backward (H ≤ 128 in float).</summary>
    private const long MaxBlockedWeightBytes = 128 << 10;

    /// <summary>Most bytes of block shares (blocks × (2H² + 2H) elements): 32 MiB is about 266,000 rows at H = 64 in float.</summary>
    private const long MaxBlockShareBytes = 32L << 20;

    /// <summary>
    /// Whether a pass runs blocked: the GEMMs, the gate and (backward) a block's share of the weight and bias gradients,
    /// block of <see cref="GemmBlockRows"/> rows by block while the block is in cache. A function of the shape alone (two
    /// blocks or more, 2H·H small enough), so the order of every sum is fixed whatever the thread count.
    /// </summary>
    internal bool Blocked(int rows) =>
        rows >= 2 * GemmBlockRows && 2L * Features * Features * Unsafe.SizeOf<T>() <= MaxBlockedWeightBytes
        && (long)((rows + GemmBlockRows - 1) / GemmBlockRows) * (2L * Features * Features + 2 * Features) * Unsafe.SizeOf<T>() <= MaxBlockShareBytes;

    /// <summary>
    /// The blocked forward: per block, the input copied to the training cache (if kept), <c>[a | g] = x · [W1; W2]ᵀ</c>
    /// into <paramref name="pairs"/>, and the gate (plus <paramref name="addend"/>, if not empty) into <paramref name="output"/>.
    /// </summary>
    private unsafe void ForwardBlocked(ReadOnlySpan<T> input, Span<T> pairs, ReadOnlySpan<T> addend, Span<T> output, Span<T> inputCopy, int rows)
    {
        int h = Features;
        ReadOnlySpan<T> stacked = StackedParameters();
        fixed (T* x = input, p = pairs, a = addend, z = output, copy = inputCopy, w = stacked)
        {
            var work = new BlockedForward { X = x, Pairs = p, Addend = a, Z = z, Copy = copy, W = w, Packed = _packed, Rows = rows, Features = h };
            Parallelism.For((rows + GemmBlockRows - 1) / GemmBlockRows, Parallelism.MaxThreads, ref work);
        }
    }

    private unsafe struct BlockedForward : IIndexedWork
    {
        public T* X, Pairs, Addend, Z, Copy, W;
        public PackedGemmB<T>? Packed;
        public int Rows, Features;

        public readonly void Run(int index)
        {
            int h = Features, first = index * GemmBlockRows, n = Math.Min(GemmBlockRows, Rows - first);
            T* x = X + (nint)first * h, pairs = Pairs + (nint)first * 2 * h;
            if (Copy != null) Buffer.MemoryCopy(x, Copy + (nint)first * h, (long)n * h * sizeof(T), (long)n * h * sizeof(T));
            if (Packed is not null)
                Packed.Multiply(x, h, pairs, 2 * h, n, accumulate: false);
            else
                Gemm.Multiply<T>(new ReadOnlySpan<T>(x, n * h), new ReadOnlySpan<T>(W, 2 * h * h), new Span<T>(pairs, n * 2 * h), n, 2 * h, h,
                    transposeB: true, threads: 1);
            GateRows(Pairs, W + 2 * h * h, Addend, Z, first, first + n, h, keep: Copy != null);
        }
    }

    /// <summary>
    /// The blocked backward: per block, the gate's <c>[∂a | ∂g]</c>, <c>∂x (+)= [∂a | ∂g] · [W1; W2]</c>, and the block's
    /// share <c>[[∂a | ∂g]ᵀ · x | column sums]</c> (2H·H + 2H) into the block's row of <paramref name="shares"/> (row = block index).
    /// </summary>
    private unsafe void BackwardBlocked(ReadOnlySpan<T> gradOutput, Span<T> gradPairs, Span<T> gradInput, Span<T> shares, int rows, bool accumulate)
    {
        int h = Features;
        ReadOnlySpan<T> stacked = StackedParameters();
        fixed (T* dz = gradOutput, p = _as, dp = gradPairs, gx = gradInput, x = _input, w = stacked, sh = shares)
        {
            var work = new BlockedBackward
            {
                DZ = dz, Pairs = p, GradPairs = dp, GradX = gx, X = x, W = w, Packed = _packedBackward, Shares = sh, Rows = rows, Features = h,
                Accumulate = accumulate,
            };
            Parallelism.For((rows + GemmBlockRows - 1) / GemmBlockRows, Parallelism.MaxThreads, ref work);
        }
    }

    private unsafe struct BlockedBackward : IIndexedWork
    {
        public T* DZ, Pairs, GradPairs, GradX, X, W, Shares;
        public PackedGemmB<T>? Packed;
        public int Rows, Features;
        public bool Accumulate;

        public readonly void Run(int index)
        {
            int h = Features, first = index * GemmBlockRows, n = Math.Min(GemmBlockRows, Rows - first), size = 2 * h * h;
            GateBackwardRows(DZ, Pairs, GradPairs, first, first + n, h);
            var block = new ReadOnlySpan<T>(GradPairs + (nint)first * 2 * h, n * 2 * h);
            if (GradX != null && Packed is not null)
                Packed.Multiply(GradPairs + (nint)first * 2 * h, 2 * h, GradX + (nint)first * h, h, n, Accumulate);
            else if (GradX != null)
                Gemm.Multiply<T>(block, new ReadOnlySpan<T>(W, size), new Span<T>(GradX + (nint)first * h, n * h), n, h, 2 * h,
                    accumulate: Accumulate, threads: 1);
            T* share = Shares + (nint)index * (size + 2 * h);
            Gemm.Multiply<T>(block, new ReadOnlySpan<T>(X + (nint)first * h, n * h), new Span<T>(share, size), 2 * h, h, n, transposeA: true, threads: 1);
            var sums = new Span<T>(share + size, 2 * h);
            sums.Clear();
            Elementwise.AddColumnSums<T>(block, sums, n, threads: 1);
        }
    }
}
