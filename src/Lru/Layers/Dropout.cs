using System.Numerics;
using System.Numerics.Tensors;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// Inverted dropout: in training mode each mask value is kept with probability <c>1 − p</c> and then scaled by
/// <c>1/(1 − p)</c>, so <c>y = x ⊙ mask</c> has the expectation of <c>x</c>; in evaluation mode <c>y = x</c>.
/// Input and output are (B, L, H).
/// </summary>
/// <remarks>
/// Masks come from a <see cref="SeededRandom"/> owned by the layer and are drawn on one thread in a fixed order
/// (sequence by sequence, then time step by time step for <see cref="DropoutMode.PerElement"/>, feature by
/// feature), so the same seed and the same sequence of calls give the same masks on any machine. A mask value is
/// kept when a uniform draw <c>u ∈ (0, 1)</c> satisfies <c>u ≥ p</c>. The mask of the last training forward is
/// kept for the backward pass. Evaluation-mode forward passes may run on several threads at once; training is single-threaded (see <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Dropout<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly SeededRandom _random;
    private T[] _mask = [];
    private int _maskLength;

    /// <summary>Creates the layer.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="rate">The drop probability <c>p</c>, in [0, 1).</param>
    /// <param name="mode">One mask per sequence (default, as in the LRU reference) or per element.</param>
    /// <param name="seed">The seed of the mask generator.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1, <paramref name="rate"/> is not in [0, 1), or <paramref name="mode"/> is not defined.</exception>
    public Dropout(int features, double rate, DropoutMode mode = DropoutMode.PerSequence, long seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        if (!(rate >= 0 && rate < 1))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "The dropout rate must be in [0, 1): 0 keeps everything, and a rate of 1 would drop everything and divide by zero.");
        if (mode is not (DropoutMode.PerSequence or DropoutMode.PerElement))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "mode must be PerSequence or PerElement.");
        Features = features;
        Rate = rate;
        Mode = mode;
        _random = new SeededRandom(seed);
    }

    /// <summary>H, the features per time step.</summary>
    public int Features { get; }

    /// <summary>The drop probability <c>p</c>.</summary>
    public double Rate { get; }

    /// <summary>Whether one mask is shared by all time steps of a sequence or every element has its own.</summary>
    public DropoutMode Mode { get; }

    /// <inheritdoc/>
    public override int InputFeatures => Features;

    /// <inheritdoc/>
    public override int OutputFeatures => Features;

    /// <summary>
    /// The scaled mask of the last training forward: (B, H) for <see cref="DropoutMode.PerSequence"/>,
    /// (B, L, H) for <see cref="DropoutMode.PerElement"/>; every value is 0 or <c>1/(1 − p)</c>.
    /// Empty before the first training forward.
    /// </summary>
    public ReadOnlySpan<T> Mask => _mask.AsSpan(0, _maskLength);

    /// <summary>True: each output step depends only on the same input step (and streaming is evaluation, where dropout is the identity).</summary>
    public override bool CanStream => true;

    /// <summary>Restarts the mask generator, so the following training forwards draw the masks a new layer with <paramref name="seed"/> would.</summary>
    /// <param name="seed">The new seed.</param>
    /// <exception cref="InvalidOperationException">The call overlaps another call on this layer (the generator belongs to training).</exception>
    public void Reseed(long seed)
    {
        using var scope = Calls.Enter(training: true, nameof(Reseed));
        _random.Reseed(seed);
    }

    /// <inheritdoc/>
    protected override bool UsesRandomness => true;

    /// <inheritdoc/>
    protected override void ReseedCore(long seed) => _random.Reseed(seed);

    /// <summary>True: the identity in evaluation (see <see cref="Modules.ChunkedEvaluation"/>).</summary>
    internal override bool EvaluatesInChunks(int batch, int length) => true;

    /// <summary>Training: draws a new mask, keeps it, and writes <c>y = x ⊙ mask</c>. Evaluation: <c>y = x</c>.</summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        if (!training)
        {
            input.CopyTo(output);
            return;
        }
        DrawMask(shape.Batch, shape.Length);
        ApplyMask(input, output, shape.Batch, shape.Length, accumulate: false);
    }

    /// <summary>
    /// The forward and a residual in one pass where the mask is per sequence: training draws a new mask, keeps it, and
    /// writes <c>y = addend + x ⊙ mask</c> (the product rounded, then added); evaluation writes <c>y = x + addend</c>.
    /// </summary>
    private protected override void ForwardPlusCore(ReadOnlySpan<T> input, ReadOnlySpan<T> addend, Span<T> output, in SequenceShape shape, bool training)
    {
        if (training && Mode == DropoutMode.PerSequence)
        {
            DrawMask(shape.Batch, shape.Length);
            Elementwise.MultiplySequencesPlus(input, Mask, addend, output, shape.Batch, shape.Length, Parallelism.MaxThreads);
            return;
        }
        base.ForwardPlusCore(input, addend, output, shape, training);
    }

    /// <summary><c>∂x += ∂y ⊙ mask</c>, with the mask of the last training forward.</summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (!gradInput.IsEmpty) ApplyMask(gradOutput, gradInput, shape.Batch, shape.Length, accumulate: true);
    }

    /// <summary><c>∂x = ∂y ⊙ mask</c>.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        ApplyMask(gradOutput, gradInput, shape.Batch, shape.Length, accumulate: false);

    private void DrawMask(int batch, int length)
    {
        int h = Features;
        int count = checked(Mode == DropoutMode.PerSequence ? batch * h : batch * length * h);
        Span<T> mask = Grow(ref _mask, count);
        _maskLength = count;
        if (Rate == 0)
        {
            mask.Fill(T.One);
            return;
        }
        double p = Rate;
        T scale = T.CreateTruncating(1.0 / (1.0 - p));
        // u ≥ p on u = NextOpenUnit(), decided on the 53 bits u is made of (see KeepThreshold): the same masks, faster.
        ulong threshold = KeepThreshold(p);
        for (int i = 0; i < count; i++) mask[i] = (_random.NextUInt64() >> 11) >= threshold ? scale : T.Zero;
    }

    /// <summary>
    /// The smallest <c>k</c> for which <see cref="SeededRandom.NextOpenUnit"/>'s value built from the 53 bits
    /// <c>k</c>, <c>(k + 0.5)·2⁻⁵³</c> in double arithmetic, is at least <paramref name="p"/>. That value is
    /// non-decreasing in <c>k</c>, so <c>u ≥ p</c> exactly when <c>k ≥</c> the threshold.
    /// </summary>
    internal static ulong KeepThreshold(double p)
    {
        static double Unit(ulong k) => (k + 0.5) * (1.0 / (1UL << 53));
        ulong k = (ulong)(p * (1UL << 53)); // p < 1, so k < 2^53
        while (k > 0 && Unit(k - 1) >= p) k--;
        while (Unit(k) < p) k++;
        return k;
    }

    /// <summary><c>y = x ⊙ mask</c>, or <c>y += x ⊙ mask</c> when <paramref name="accumulate"/>.</summary>
    private void ApplyMask(ReadOnlySpan<T> x, Span<T> y, int batch, int length, bool accumulate)
    {
        ReadOnlySpan<T> mask = Mask;
        if (Mode == DropoutMode.PerElement)
        {
            Elementwise.Multiply(x, mask, y, accumulate, Parallelism.MaxThreads);
            return;
        }
        Elementwise.MultiplySequences(x, mask, y, batch, length, accumulate, Parallelism.MaxThreads);
    }
}
