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
/// The training forward keeps <c>a = out1(x)</c> and <c>s = sigmoid(out2(x))</c> (and each linear layer its input).
/// The backward is <c>∂a = ∂z ⊙ s</c>, <c>∂g = ∂z ⊙ a ⊙ s ⊙ (1 − s)</c>, <c>∂x += out1ᵀ(∂a) + out2ᵀ(∂g)</c> (each linear layer adds its part).
/// The elementwise gate and its backward are single SIMD passes split over fixed blocks of elements, so results
/// do not depend on the thread count; the four GEMMs dominate the cost.
/// Evaluation-mode forward passes may run on several threads at once (the gate goes through a work array from a pool
/// the layer owns); training is single-threaded (see <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Glu<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _a = [], _s = [], _gradA = [], _gradG = [];

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

    /// <summary><c>z = out1(x) ⊙ sigmoid(out2(x))</c>; a training pass keeps <c>out1(x)</c> and the gate.</summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int count = input.Length;
        if (training)
        {
            Span<T> a = Grow(ref _a, count), s = Grow(ref _s, count);
            Out1.Forward(input, a, shape, training);
            Out2.Forward(input, s, shape, training);
            Gate(a, s, output);
            return;
        }

        // Evaluation keeps nothing: the gate goes through a per-call work array, so the training cache survives
        // and concurrent evaluation calls never share a buffer.
        using var scratch = RentWorkspace(count);
        Out1.Forward(input, output, shape, training);
        Out2.Forward(input, scratch.Span, shape, training);
        Gate(output, scratch.Span, output);
    }

    /// <summary><c>∂a = ∂z ⊙ s</c>, <c>∂g = ∂z ⊙ a ⊙ s ⊙ (1 − s)</c>; then out1 and out2 each add their part to <c>∂x</c>.</summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        GateGradients(gradOutput, out var gradA, out var gradG);
        Out1.Backward(gradA, gradInput);
        Out2.Backward(gradG, gradInput);
    }

    /// <summary>As <see cref="BackwardCore"/>: <c>out1</c> writes <c>∂x</c>, <c>out2</c> adds to it.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        GateGradients(gradOutput, out var gradA, out var gradG);
        Out1.BackwardReplacing(gradA, gradInput);
        Out2.Backward(gradG, gradInput);
    }

    /// <summary>
    /// <c>∂a = ∂z ⊙ s</c> and <c>∂g = ∂a ⊙ a ⊙ (1 − s) = ∂z ⊙ a ⊙ s ⊙ (1 − s)</c> into the layer's buffers: one fused pass,
    /// split over blocks.
    /// </summary>
    private unsafe void GateGradients(ReadOnlySpan<T> gradOutput, out Span<T> gradA, out Span<T> gradG)
    {
        int count = gradOutput.Length;
        ReadOnlySpan<T> a = _a.AsSpan(0, count), s = _s.AsSpan(0, count);
        gradA = Grow(ref _gradA, count);
        gradG = Grow(ref _gradG, count);
        fixed (T* dz = gradOutput, pa = a, ps = s, da = gradA, dg = gradG)
        {
            var work = new GateBackward { DZ = dz, A = pa, S = ps, DA = da, DG = dg, Count = count };
            Parallelism.For((count + BlockSize - 1) / BlockSize, Parallelism.MaxThreads, ref work);
        }
    }

    /// <summary>Elements per work item of the elementwise passes (16 KiB of floats), so small inputs run inline.</summary>
    internal const int BlockSize = 4096;

    /// <summary><c>s ← sigmoid(s)</c>, then <c>z = a ⊙ s</c>, block by block over threads; <paramref name="z"/> may be <paramref name="a"/>.</summary>
    private static unsafe void Gate(ReadOnlySpan<T> a, Span<T> s, Span<T> z)
    {
        fixed (T* pa = a, ps = s, pz = z)
        {
            var work = new GateForward { A = pa, S = ps, Z = pz, Count = s.Length };
            Parallelism.For((s.Length + BlockSize - 1) / BlockSize, Parallelism.MaxThreads, ref work);
        }
    }

    /// <summary>One block of the forward gate: <c>S = sigmoid(S)</c>, <c>Z = A ⊙ S</c> (vectorised by <see cref="TensorPrimitives"/>).</summary>
    private unsafe struct GateForward : IIndexedWork
    {
        public T* A, S, Z;
        public int Count;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int start = index * BlockSize, n = Math.Min(Count - start, BlockSize);
            var s = new Span<T>(S + start, n);
            TensorPrimitives.Sigmoid<T>(s, s);
            TensorPrimitives.Multiply<T>(new ReadOnlySpan<T>(A + start, n), s, new Span<T>(Z + start, n));
        }
    }

    /// <summary>One block of the backward gate: <c>DA = DZ ⊙ S</c>, <c>DG = (1 − S) ⊙ A ⊙ DA</c>, in one SIMD pass with a scalar tail.</summary>
    internal unsafe struct GateBackward : IIndexedWork
    {
        public T* DZ, A, S, DA, DG;
        public int Count;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int i = index * BlockSize, end = Math.Min(Count, i + BlockSize);
            if (Vector<T>.IsSupported)
            {
                int width = Vector<T>.Count;
                for (; i <= end - width; i += width)
                {
                    Vector<T> s = Vector.Load(S + i), da = Vector.Load(DZ + i) * s;
                    da.Store(DA + i);
                    ((Vector<T>.One - s) * Vector.Load(A + i) * da).Store(DG + i);
                }
            }
            for (; i < end; i++)
            {
                T s = S[i], da = DZ[i] * s;
                DA[i] = da;
                DG[i] = (T.One - s) * A[i] * da;
            }
        }
    }
}
