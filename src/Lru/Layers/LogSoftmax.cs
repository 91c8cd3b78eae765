using System.Numerics;
using System.Numerics.Tensors;
using Lru.Modules;

namespace Lru.Layers;

/// <summary>
/// Log-probabilities over the features of every row: <c>y = x − max(x) − log Σ_j exp(x_j − max(x))</c>, (rows, F) in
/// and out, where rows are (batch, L) time steps or (batch) pooled sequences. The last module of models imported from
/// minimal-LRU, which end in <c>log_softmax</c>. Backward: <c>∂x = ∂y − exp(y)·Σ_j ∂y_j</c>.
/// </summary>
/// <remarks>
/// Cross-entropy of log-probabilities equals cross-entropy of the logits (log_softmax is idempotent), so a model with
/// this module trains exactly as one without it. It has no parameters and streams (each step's output depends only on
/// that step). A training pass keeps its output for the backward pass.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class LogSoftmax<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _output = [];

    /// <summary>Creates the module for rows of <paramref name="features"/> values.</summary>
    /// <param name="features">F, the values a row is normalised over, at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1.</exception>
    public LogSoftmax(int features)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        Features = features;
    }

    /// <summary>F.</summary>
    public int Features { get; }

    /// <inheritdoc/>
    public override int InputFeatures => Features;

    /// <inheritdoc/>
    public override int OutputFeatures => Features;

    /// <inheritdoc/>
    public override bool CanStream => true;

    /// <inheritdoc/>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int f = Features;
        for (int r = 0; r < shape.Rows; r++)
        {
            ReadOnlySpan<T> x = input.Slice(r * f, f);
            Span<T> y = output.Slice(r * f, f);
            T max = TensorPrimitives.Max(x);
            TensorPrimitives.Subtract(x, max, y);
            T sum = T.Zero;
            foreach (T v in y) sum += T.Exp(v);
            TensorPrimitives.Subtract(y, T.Log(sum), y);
        }
        if (training) output.CopyTo(Grow(ref _output, output.Length));
    }

    /// <inheritdoc/>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (gradInput.IsEmpty) return;
        int f = Features;
        for (int r = 0; r < shape.Rows; r++)
        {
            ReadOnlySpan<T> g = gradOutput.Slice(r * f, f), y = _output.AsSpan(r * f, f);
            Span<T> dx = gradInput.Slice(r * f, f);
            T total = TensorPrimitives.Sum(g);
            for (int j = 0; j < f; j++) dx[j] += g[j] - T.Exp(y[j]) * total;
        }
    }
}
