using System.Numerics;
using System.Numerics.Tensors;
using Lru.Modules;

namespace Lru.Models;

/// <summary>
/// Pools the output of the last block over time before the decoder: (B, L, H) in, (B, H) out for
/// <see cref="PoolingMode.Mean"/> and <see cref="PoolingMode.Last"/>, (B, L, H) out for <see cref="PoolingMode.None"/>.
/// Sequences padded to a common length L give their valid lengths (<see cref="SequenceShape.Lengths"/>), so padding
/// never reaches the result.
/// </summary>
/// <remarks>
/// Pooling has no parameters. With <see cref="PoolingMode.None"/> the forward pass copies padded steps through
/// unchanged; excluding them from the loss is the loss's business (a per-step mask, as
/// <c>Lru.Training.SoftmaxCrossEntropy</c> takes); the backward pass adds nothing to them in every mode. Streaming:
/// mean pooling keeps the running sum of each stream, so a step's output is the mean of the features so far.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Pooling<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
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

    /// <inheritdoc/>
    public override int InputFeatures => Features;

    /// <inheritdoc/>
    public override int OutputFeatures => Features;

    /// <summary>True for mean and last pooling: the output is (B, H).</summary>
    public override bool ReducesTime => Mode != PoolingMode.None;

    /// <summary>True: the mean so far, the last step so far, or every step can be produced step by step.</summary>
    public override bool CanStream => true;

    /// <summary>Pools every sequence over its valid time steps (the mean summed in time order).</summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int h = Features, length = shape.Length;
        if (Mode == PoolingMode.None)
        {
            input.CopyTo(output);
            return;
        }
        for (int b = 0; b < shape.Batch; b++)
        {
            int valid = shape.ValidLength(b);
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
    /// Mean adds <c>∂y_b / lengths[b]</c> to every valid step, Last adds <c>∂y_b</c> to step <c>lengths[b] − 1</c>, None
    /// adds the valid steps' gradients; padded steps get nothing.
    /// </summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (gradInput.IsEmpty) return;
        int h = Features, length = shape.Length;
        for (int b = 0; b < shape.Batch; b++)
        {
            int valid = shape.ValidLength(b);
            Span<T> dx = gradInput.Slice(b * length * h, valid * h);
            switch (Mode)
            {
                case PoolingMode.None:
                    TensorPrimitives.Add(dx, gradOutput.Slice(b * length * h, valid * h), dx);
                    break;
                case PoolingMode.Last:
                    Span<T> lastStep = dx.Slice((valid - 1) * h, h);
                    TensorPrimitives.Add(lastStep, gradOutput.Slice(b * h, h), lastStep);
                    break;
                default:
                    ReadOnlySpan<T> dy = gradOutput.Slice(b * h, h);
                    T scale = T.One / T.CreateChecked(valid);
                    for (int t = 0; t < valid; t++) TensorPrimitives.MultiplyAdd(dy, scale, dx.Slice(t * h, h), dx.Slice(t * h, h));
                    break;
            }
        }
    }

    /// <summary>Mean pooling keeps a running sum per stream; the others keep nothing.</summary>
    protected override StreamState<T> CreateStateCore(int batch) => Mode == PoolingMode.Mean ? new SumState(batch, Features) : new StreamState<T>(batch);

    /// <summary>None and Last: this step's features; Mean: the mean of the features so far.</summary>
    protected override void StepCore(ReadOnlySpan<T> input, Span<T> output, StreamState<T> state)
    {
        if (state is not SumState sum)
        {
            input.CopyTo(output);
            return;
        }
        TensorPrimitives.Add(sum.Sum, input, sum.Sum);
        TensorPrimitives.Multiply(sum.Sum, T.One / T.CreateChecked(state.Steps + 1), output);
    }

    private sealed class SumState(int batch, int features) : StreamState<T>(batch)
    {
        public T[] Sum { get; } = new T[batch * features];

        protected override void ResetCore() => Array.Clear(Sum);
    }
}
