using System.Numerics;
using System.Numerics.Tensors;
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
/// <para>The training forward keeps the input and <c>[a | s]</c>, <c>s = sigmoid(g)</c>. The backward is
/// <c>∂a = ∂z ⊙ s</c>, <c>∂g = ∂z ⊙ a ⊙ s ⊙ (1 − s)</c>. The gate and its backward are SIMD passes split over fixed
/// blocks of rows, so results do not depend on the thread count; the three GEMMs dominate the cost.
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

    // Training cache: the input, and per row [out1(x) | sigmoid(out2(x))]; the backward's [∂a | ∂g] per row.
    private T[] _input = [], _as = [], _gradAg = [];

    // [W1; W2] (2H × H) and [b1; b2] (2H), rebuilt when a parameter changes; the stacked weight gradient (2H × H + 2H).
    private readonly object _stackLock = new();
    private T[] _stacked = [], _gradStacked = [];
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

    /// <summary>
    /// <c>z = out1(x) ⊙ sigmoid(out2(x))</c>: one GEMM with the stacked weights gives <c>[a | g]</c> per row (2H columns),
    /// then the gate; a training pass keeps the input and <c>[a | sigmoid(g)]</c>.
    /// </summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int rows = shape.Rows, h = Features;
        if (training)
        {
            Elementwise.Copy(input, Grow(ref _input, input.Length), Parallelism.MaxThreads);
            Span<T> pairs = Grow(ref _as, 2 * input.Length);
            Gate(pairs, Stacked(pairs, input, rows), output, rows, h);
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
            TensorPrimitives.Sigmoid<T>(gate.Span, gate.Span);
            TensorPrimitives.Multiply<T>(output[..input.Length], gate.Span, output[..input.Length]);
            return;
        }
        using var scratch = RentWorkspace(2 * input.Length);
        Gate(scratch.Span, Stacked(scratch.Span, input, rows), output, rows, h);
    }

    /// <summary><c>[a | g] = x · [W1; W2]ᵀ</c> into <paramref name="pairs"/> (rows × 2H), without the biases (the gate adds them).</summary>
    private ReadOnlySpan<T> Stacked(Span<T> pairs, ReadOnlySpan<T> input, int rows)
    {
        int h = Features;
        ReadOnlySpan<T> stacked = StackedParameters();
        Gemm.Multiply<T>(input, stacked[..(2 * h * h)], pairs, rows, 2 * h, h, transposeB: true);
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
                (_w1Version, _w2Version, _b1Version) = (v1, v2, v3);
                Volatile.Write(ref _b2Version, v4); // last: the check without the lock reads it first
            }
            return _stacked;
        }
    }

    /// <summary>
    /// <c>∂a = ∂z ⊙ s</c>, <c>∂g = ∂z ⊙ a ⊙ s ⊙ (1 − s)</c> per row into <c>[∂a | ∂g]</c>; then one GEMM each for
    /// <c>∂x (+)= [∂a | ∂g] · [W1; W2]</c> and <c>[∂W1; ∂W2] += [∂a | ∂g]ᵀ · x</c>, and the column sums for the biases.
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
        fixed (T* dz = gradOutput, pairs = _as, dp = gradPairs)
        {
            var work = new GateBackward { DZ = dz, Pairs = pairs, GradPairs = dp, Rows = rows, Features = h };
            Parallelism.For(RowBlocks(rows, h), Parallelism.MaxThreads, ref work);
        }

        ReadOnlySpan<T> stacked = StackedParameters();
        if (!gradInput.IsEmpty)
            Gemm.Multiply<T>(gradPairs, stacked[..(2 * h * h)], gradInput, rows, h, 2 * h, accumulate: accumulate);

        // [∂W1; ∂W2] += [∂a | ∂g]ᵀ · x: one GEMM reads x once, into a stacked copy of the gradients (the GEMM adds to
        // what C holds, so the sums are the same as straight into each parameter). Beyond a stacked C of 512 rows (H > 256)
        // the unpacked small-output GEMM no longer applies, and two GEMMs on the halves of [∂a | ∂g] (row stride 2H) add
        // straight into each gradient instead.
        Parameter<T> w1 = Out1.Weight, w2 = Out2.Weight, b1 = Out1.Bias!, b2 = Out2.Bias!;
        ReadOnlySpan<T> input = _input.AsSpan(0, count);
        Span<T> grad = Grow(ref _gradStacked, 2 * h * h + 2 * h);
        Span<T> gradW = grad[..(2 * h * h)], gradB = grad.Slice(2 * h * h, 2 * h);
        if (2 * h <= MaxStackedGradientRows)
        {
            w1.Gradient.CopyTo(gradW[..(h * h)]);
            w2.Gradient.CopyTo(gradW[(h * h)..]);
            Gemm.Multiply<T>(gradPairs, input, gradW, 2 * h, h, rows, transposeA: true, accumulate: true);
            gradW[..(h * h)].CopyTo(w1.Gradient);
            gradW[(h * h)..].CopyTo(w2.Gradient);
        }
        else
        {
            Gemm.Multiply<T>(gradPairs, 2 * h, true, input, h, false, w1.Gradient, h, h, h, rows, T.One, T.One);
            Gemm.Multiply<T>(gradPairs[h..], 2 * h, true, input, h, false, w2.Gradient, h, h, h, rows, T.One, T.One);
        }

        // [∂b1 | ∂b2] += column sums of [∂a | ∂g], each in row order, through a stacked copy.
        b1.Gradient.CopyTo(gradB[..h]);
        b2.Gradient.CopyTo(gradB[h..]);
        Elementwise.AddColumnSums<T>(gradPairs, gradB, rows, Parallelism.MaxThreads);
        gradB[..h].CopyTo(b1.Gradient);
        gradB[h..].CopyTo(b2.Gradient);
    }

    /// <summary>Work items of the row-wise gate passes: blocks of whole rows of about <see cref="BlockSize"/> elements.</summary>
    internal static int RowBlocks(int rows, int h) => (rows + RowsPerBlock(h) - 1) / RowsPerBlock(h);

    private static int RowsPerBlock(int h) => Math.Max(1, BlockSize / h);

    /// <summary>
    /// Per row, with the biases added, <c>a ← a + b1</c> and <c>s = sigmoid(g + b2)</c> kept in place of a and g, and
    /// <c>z = a ⊙ s</c>, over blocks of rows on all threads (<paramref name="pairs"/>: rows × [a | g];
    /// <paramref name="bias"/>: [b1 | b2]; <paramref name="z"/>: rows × H).
    /// </summary>
    private static unsafe void Gate(Span<T> pairs, ReadOnlySpan<T> bias, Span<T> z, int rows, int h)
    {
        fixed (T* pp = pairs, pb = bias, pz = z)
        {
            var work = new GateForward { Pairs = pp, Bias = pb, Z = pz, Rows = rows, Features = h };
            Parallelism.For(RowBlocks(rows, h), Parallelism.MaxThreads, ref work);
        }
    }

    /// <summary>Elements per work item of the gate passes (16 KiB of floats; whole rows, at least one), so small inputs run inline.</summary>
    internal const int BlockSize = 4096;

    /// <summary>One block of rows of the forward gate (vectorised by <see cref="TensorPrimitives"/>).</summary>
    private unsafe struct GateForward : IIndexedWork
    {
        public T* Pairs, Bias, Z;
        public int Rows, Features;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int h = Features, per = RowsPerBlock(h), first = index * per, last = Math.Min(Rows, first + per);
            var b1 = new ReadOnlySpan<T>(Bias, h);
            var b2 = new ReadOnlySpan<T>(Bias + h, h);
            for (int r = first; r < last; r++)
            {
                T* pair = Pairs + (nint)r * 2 * h;
                Span<T> a = new(pair, h), s = new(pair + h, h);
                TensorPrimitives.Add<T>(a, b1, a);
                TensorPrimitives.Add<T>(s, b2, s);
                TensorPrimitives.Sigmoid<T>(s, s);
                TensorPrimitives.Multiply<T>(a, s, new Span<T>(Z + (nint)r * h, h));
            }
        }
    }

    /// <summary>One block of rows of the backward gate: <c>∂a = ∂z ⊙ s</c>, <c>∂g = (1 − s) ⊙ a ⊙ ∂a</c>, in SIMD with a scalar tail.</summary>
    internal unsafe struct GateBackward : IIndexedWork
    {
        public T* DZ, Pairs, GradPairs;
        public int Rows, Features;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int h = Features, per = RowsPerBlock(h), first = index * per, last = Math.Min(Rows, first + per);
            for (int r = first; r < last; r++)
            {
                T* dz = DZ + (nint)r * h, a = Pairs + (nint)r * 2 * h, s = a + h, da = GradPairs + (nint)r * 2 * h, dg = da + h;
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
    }
}
