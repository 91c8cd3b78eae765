using System.Numerics;
using System.Numerics.Tensors;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>How <see cref="Dropout{T}"/> draws its mask.</summary>
public enum DropoutMode
{
    /// <summary>One mask per sequence, (B, H), shared by all time steps (as the JAX reference of the LRU block does).</summary>
    PerSequence = 0,

    /// <summary>An independent mask value for every element, (B, L, H) (as PyTorch's <c>nn.Dropout</c>).</summary>
    PerElement = 1,
}

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
/// kept for the backward pass. Evaluation-mode forward passes may run on several threads at once; training is single-threaded (see <see cref="Layer{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Dropout<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly SeededRandom _random;
    private T[] _mask = [];
    private int _maskLength;
    private int _cachedBatch = -1, _cachedLength = -1;

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

    /// <summary>Restarts the mask generator, so the following training forwards draw the masks a new layer with <paramref name="seed"/> would.</summary>
    /// <param name="seed">The new seed.</param>
    /// <exception cref="InvalidOperationException">The call overlaps another call on this layer (the generator belongs to training).</exception>
    public void Reseed(long seed)
    {
        using var scope = Calls.Enter(training: true, nameof(Reseed));
        _random.Reseed(seed);
    }

    /// <summary>Training mode: draws a new mask, keeps it, and writes <c>y = x ⊙ mask</c>. Evaluation mode: <c>y = x</c>.</summary>
    /// <param name="input"><c>x</c>, (batch, length, H).</param>
    /// <param name="output">Receives <c>y</c>, (batch, length, H); may be the same span as <paramref name="input"/>, but must not partly overlap it.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this layer (see <see cref="Layer{T}"/>).</exception>
    public override void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length)
    {
        int h = Features;
        Guard.SequencePair(input.Length, output.Length, batch, length, h);
        bool training = IsTraining;
        using var scope = Calls.Enter(training, nameof(Forward));
        if (!training)
        {
            input.CopyTo(output);
            return;
        }

        DrawMask(batch, length);
        _cachedBatch = batch;
        _cachedLength = length;
        ApplyMask(input, output, batch, length);
    }

    /// <summary>Back-propagates through the last training forward: <c>∂x = ∂y ⊙ mask</c>, with the mask of that forward.</summary>
    /// <param name="gradOutput"><c>∂ℒ/∂y</c>, (batch, length, H).</param>
    /// <param name="gradInput">Receives <c>∂ℒ/∂x</c>, (batch, length, H); may be the same span as <paramref name="gradOutput"/>; may be empty when not needed.</param>
    /// <param name="batch">The batch size of the last training forward.</param>
    /// <param name="length">The sequence length of the last training forward.</param>
    /// <exception cref="InvalidOperationException">No training forward of this shape precedes the call, or the call overlaps another call on this layer.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    public override void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        using var scope = Calls.Enter(training: true, nameof(Backward));
        if (batch != _cachedBatch || length != _cachedLength)
            throw new InvalidOperationException(_cachedBatch < 0
                ? $"Dropout.Backward needs a training Forward first (batch {batch}, length {length})."
                : $"Dropout.Backward was called with batch {batch}, length {length}, but the last training Forward had batch {_cachedBatch}, length {_cachedLength}.");
        int h = Features;
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, H", batch, length, h);
        if (gradInput.IsEmpty) return;
        Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, H", batch, length, h);
        ApplyMask(gradOutput, gradInput, batch, length);
    }

    private void DrawMask(int batch, int length)
    {
        int h = Features;
        int count = checked(Mode == DropoutMode.PerSequence ? batch * h : batch * length * h);
        if (_mask.Length < count) _mask = new T[count];
        _maskLength = count;
        Span<T> mask = _mask.AsSpan(0, count);
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

    private void ApplyMask(ReadOnlySpan<T> x, Span<T> y, int batch, int length)
    {
        ReadOnlySpan<T> mask = Mask;
        if (Mode == DropoutMode.PerElement)
        {
            TensorPrimitives.Multiply(x, mask, y);
            return;
        }
        int h = Features;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<T> m = mask.Slice(b * h, h);
            for (int t = 0; t < length; t++)
            {
                int offset = (b * length + t) * h;
                TensorPrimitives.Multiply(x.Slice(offset, h), m, y.Slice(offset, h));
            }
        }
    }
}
