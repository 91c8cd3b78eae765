using System.Numerics;
using System.Numerics.Tensors;

namespace Lru.Models;

/// <summary>How <see cref="Pooling{T}"/> reduces a sequence over time (LRU-MATH §2, the model's pooling).</summary>
public enum PoolingMode
{
    /// <summary>The mean over the valid time steps: output (B, H).</summary>
    Mean = 0,

    /// <summary>The last valid time step: output (B, H).</summary>
    Last = 1,

    /// <summary>No pooling, for per-step outputs: output (B, L, H), a copy of the input.</summary>
    None = 2,
}

/// <summary>
/// Pools the output of the last block over time before the decoder: (B, L, H) in, (B, H) out for
/// <see cref="PoolingMode.Mean"/> and <see cref="PoolingMode.Last"/>, (B, L, H) out for <see cref="PoolingMode.None"/>.
/// Sequences padded to a common length L give their valid lengths, so padding never reaches the result.
/// </summary>
/// <remarks>
/// Pooling has no parameters and keeps nothing between calls: <see cref="Backward"/> takes the same
/// <c>lengths</c> as <see cref="Forward"/>. With <see cref="PoolingMode.None"/> the forward pass copies padded steps
/// through unchanged; excluding them from the loss is the loss's business (a per-step mask, as
/// <c>Lru.Training.SoftmaxCrossEntropy</c> takes); the backward pass writes zeros to them regardless.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Pooling<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a pooling stage.</summary>
    /// <param name="mode">Mean, last step, or none.</param>
    /// <param name="features">H, at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mode"/> is not defined or <paramref name="features"/> is less than 1.</exception>
    public Pooling(PoolingMode mode, int features)
    {
        if (mode is not (PoolingMode.Mean or PoolingMode.Last or PoolingMode.None))
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "mode must be Mean, Last or None.");
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        Mode = mode;
        Features = features;
    }

    /// <summary>The reduction over time.</summary>
    public PoolingMode Mode { get; }

    /// <summary>H, the features per time step.</summary>
    public int Features { get; }

    /// <summary>The number of output values for a batch: B·H, or B·L·H for <see cref="PoolingMode.None"/>.</summary>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <returns>The length the output span must have.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    public int OutputLength(int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return checked(Mode == PoolingMode.None ? batch * length * Features : batch * Features);
    }

    /// <summary>Pools every sequence over its valid time steps.</summary>
    /// <param name="input">(batch, length, H).</param>
    /// <param name="output">(batch, H) for Mean and Last; (batch, length, H) for None (see <see cref="OutputLength"/>).</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The padded sequence length L, at least 1.</param>
    /// <param name="lengths">Empty when every sequence has all L steps; otherwise (batch): the valid length of each sequence, in [1, L].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is negative, <paramref name="length"/> is less than 1, or a valid length is outside [1, L] (the message gives its index and value).</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length, ReadOnlySpan<int> lengths = default)
    {
        CheckShapes(input.Length, nameof(input), output.Length, nameof(output), batch, length, lengths);
        int h = Features;
        if (Mode == PoolingMode.None)
        {
            input.CopyTo(output);
            return;
        }
        for (int b = 0; b < batch; b++)
        {
            int valid = lengths.IsEmpty ? length : lengths[b];
            Span<T> y = output.Slice(b * h, h);
            int first = b * length * h;
            if (Mode == PoolingMode.Last)
            {
                input.Slice(first + (valid - 1) * h, h).CopyTo(y);
                continue;
            }
            // Mean: Σ_{t < valid} x[b, t] / valid, summed in time order.
            input.Slice(first, h).CopyTo(y);
            for (int t = 1; t < valid; t++) TensorPrimitives.Add(y, input.Slice(first + t * h, h), y);
            TensorPrimitives.Multiply(y, T.One / T.CreateChecked(valid), y);
        }
    }

    /// <summary>
    /// Back-propagates: Mean spreads <c>∂y_b / lengths[b]</c> over the valid steps, Last routes <c>∂y_b</c> to step
    /// <c>lengths[b] − 1</c>, None copies the valid steps; padded steps receive zeros in every mode.
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂output, shaped like the forward output.</param>
    /// <param name="gradInput">Receives ∂ℒ/∂input, (batch, length, H).</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The padded sequence length L, at least 1.</param>
    /// <param name="lengths">The valid lengths given to the forward pass (empty: all L).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is negative, <paramref name="length"/> is less than 1, or a valid length is outside [1, L].</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length, ReadOnlySpan<int> lengths = default)
    {
        CheckShapes(gradInput.Length, nameof(gradInput), gradOutput.Length, nameof(gradOutput), batch, length, lengths);
        int h = Features;
        for (int b = 0; b < batch; b++)
        {
            int valid = lengths.IsEmpty ? length : lengths[b];
            Span<T> dx = gradInput.Slice(b * length * h, length * h);
            dx.Slice(valid * h).Clear();
            switch (Mode)
            {
                case PoolingMode.None:
                    gradOutput.Slice(b * length * h, valid * h).CopyTo(dx);
                    break;
                case PoolingMode.Last:
                    dx.Slice(0, (valid - 1) * h).Clear();
                    gradOutput.Slice(b * h, h).CopyTo(dx.Slice((valid - 1) * h, h));
                    break;
                default:
                    ReadOnlySpan<T> dy = gradOutput.Slice(b * h, h);
                    T scale = T.One / T.CreateChecked(valid);
                    for (int t = 0; t < valid; t++) TensorPrimitives.Multiply(dy, scale, dx.Slice(t * h, h));
                    break;
            }
        }
    }

    private void CheckShapes(int sequenceLength, string sequenceName, int pooledLength, string pooledName, int batch, int length, ReadOnlySpan<int> lengths)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        int h = Features;
        Guard.Length(sequenceLength, sequenceName, "batch, length, H", batch, length, h);
        if (Mode == PoolingMode.None) Guard.Length(pooledLength, pooledName, "batch, length, H", batch, length, h);
        else Guard.Length(pooledLength, pooledName, "batch, H", batch, h);
        if (lengths.IsEmpty) return;
        Guard.Length(lengths.Length, nameof(lengths), "batch", batch);
        for (int b = 0; b < batch; b++)
        {
            if (lengths[b] < 1 || lengths[b] > length)
                throw new ArgumentOutOfRangeException(nameof(lengths), lengths[b], $"lengths[{b}] is {lengths[b]}, but every valid length must be in [1, {length}].");
        }
    }
}
