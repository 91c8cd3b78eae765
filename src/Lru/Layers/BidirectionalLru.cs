using System.Numerics;
using System.Numerics.Tensors;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// A bidirectional LRU (LRU-MATH §2): one <see cref="LruLayer{T}"/> runs forward in time, a second one backwards in
/// time (<see cref="LruConfig.Reverse"/>), and their outputs are combined. Input and output are (B, L, H). It sees the
/// future, so it cannot stream.
/// </summary>
/// <remarks>
/// Parameter names: <c>forward.*</c> and <c>backward.*</c> (the LRU's eight each), plus
/// <c>projection.weight</c>, <c>projection.bias</c> for <see cref="BidirectionalCombine.ConcatProject"/>.
/// With the sum, both directions write into the output (the second adds through a work array) and both add their
/// input gradients to ∂x; with the projection, the two outputs are interleaved per step into a (B, L, 2H) work array.
/// With valid lengths (padded sequences) the backward direction reads zeros at the padded steps, so it starts at each
/// sequence's last valid step exactly as if the padding were not there.
/// Evaluation-mode forward passes may run on several threads at once; training is single-threaded (see
/// <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class BidirectionalLru<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _gradConcat = [], _gradSplit = [], _gradMasked = [];

    /// <summary>Creates the two directions (and the projection) from one seed.</summary>
    /// <param name="config">Sizes and initialisation ranges of each direction (its <see cref="LruConfig.Reverse"/> is ignored).</param>
    /// <param name="combine">How the directions are joined.</param>
    /// <param name="seed">The seed; the backward direction uses <c>seed + 1</c> and the projection <c>seed + 2</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range, or <paramref name="combine"/> is undefined.</exception>
    public BidirectionalLru(LruConfig config, BidirectionalCombine combine = BidirectionalCombine.Sum, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (combine is not (BidirectionalCombine.Sum or BidirectionalCombine.ConcatProject))
            throw new ArgumentOutOfRangeException(nameof(combine), combine, "Unknown combine mode.");
        Forwards = RegisterModule("forward", new LruLayer<T>(config with { Reverse = false }, seed));
        Backwards = RegisterModule("backward", new LruLayer<T>(config with { Reverse = true }, seed + 1));
        Combine = combine;
        if (combine == BidirectionalCombine.ConcatProject)
            Projection = RegisterModule("projection", new Linear<T>(2 * config.Hidden, config.Hidden, seed + 2));
    }

    /// <summary>The LRU that runs forward in time.</summary>
    public LruLayer<T> Forwards { get; }

    /// <summary>The LRU that runs backwards in time.</summary>
    public LruLayer<T> Backwards { get; }

    /// <summary>How the directions are joined.</summary>
    public BidirectionalCombine Combine { get; }

    /// <summary>The projection 2H → H, or null for <see cref="BidirectionalCombine.Sum"/>.</summary>
    public Linear<T>? Projection { get; }

    /// <inheritdoc/>
    public override int InputFeatures => Forwards.Hidden;

    /// <inheritdoc/>
    public override int OutputFeatures => Forwards.Hidden;

    /// <inheritdoc/>
    protected override string NonStreamingReason => "sees the future (it runs an LRU backwards in time)";

    /// <summary><c>y = fwd(x) + bwd(x)</c>, or <c>y = projection([fwd(x), bwd(x)])</c>.</summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int h = InputFeatures, count = input.Length, rows = shape.Rows;
        bool padded = !shape.Lengths.IsEmpty;
        using var work = RentWorkspace(checked((Projection is null ? 1 : 4) * count + (padded ? count : 0)));
        ReadOnlySpan<T> backwardInput = input;
        if (padded)
        {
            Span<T> masked = work.Span[^count..];
            CopyValidSteps(input, masked, shape);
            backwardInput = masked;
        }
        if (Projection is null)
        {
            Span<T> backwardOutput = work.Span[..count];
            Forwards.Forward(input, output, shape, training);
            Backwards.Forward(backwardInput, backwardOutput, shape, training);
            Elementwise.Add(output[..count], backwardOutput, output[..count], Parallelism.MaxThreads);
            return;
        }
        Span<T> forward = work.Span[..count], backward = work.Span.Slice(count, count), concat = work.Span.Slice(2 * count, 2 * count);
        Forwards.Forward(input, forward, shape, training);
        Backwards.Forward(backwardInput, backward, shape, training);
        for (int r = 0; r < rows; r++)
        {
            forward.Slice(r * h, h).CopyTo(concat.Slice(2 * r * h, h));
            backward.Slice(r * h, h).CopyTo(concat.Slice(2 * r * h + h, h));
        }
        Projection.Forward(concat, output, shape, training);
    }

    /// <summary>Both directions add their input gradients to <c>∂x</c> (through the projection's split gradient when there is one).</summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: true);

    /// <summary>As <see cref="BackwardCore"/>, with the forward direction writing <c>∂x</c> and the reverse one adding to it.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: false);

    private void Backprop(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape, bool accumulate)
    {
        if (Projection is null)
        {
            Forwards.Backward(gradOutput, gradInput, accumulate);
            BackwardDirection(gradOutput, gradInput, shape);
            return;
        }
        int h = InputFeatures, count = gradOutput.Length, rows = shape.Rows;
        Span<T> gradConcat = Grow(ref _gradConcat, 2 * count), split = Grow(ref _gradSplit, 2 * count);
        Projection.BackwardReplacing(gradOutput, gradConcat);
        Span<T> gradForward = split[..count], gradBackward = split[count..];
        for (int r = 0; r < rows; r++)
        {
            gradConcat.Slice(2 * r * h, h).CopyTo(gradForward.Slice(r * h, h));
            gradConcat.Slice(2 * r * h + h, h).CopyTo(gradBackward.Slice(r * h, h));
        }
        Forwards.Backward(gradForward, gradInput, accumulate);
        BackwardDirection(gradBackward, gradInput, shape);
    }

    /// <summary>The backward direction's input gradient, added at the valid steps only when the sequences are padded (its input there was zero).</summary>
    private void BackwardDirection(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (shape.Lengths.IsEmpty || gradInput.IsEmpty)
        {
            Backwards.Backward(gradOutput, gradInput);
            return;
        }
        Span<T> grad = Grow(ref _gradMasked, gradInput.Length);
        Backwards.BackwardReplacing(gradOutput, grad);
        int h = InputFeatures;
        for (int b = 0; b < shape.Batch; b++)
        {
            int start = b * shape.Length * h, valid = shape.ValidLength(b) * h;
            TensorPrimitives.Add(gradInput.Slice(start, valid), grad.Slice(start, valid), gradInput.Slice(start, valid));
        }
    }

    /// <summary>The input with every padded step set to zero.</summary>
    private void CopyValidSteps(ReadOnlySpan<T> input, Span<T> masked, in SequenceShape shape)
    {
        int h = InputFeatures;
        for (int b = 0; b < shape.Batch; b++)
        {
            int start = b * shape.Length * h, valid = shape.ValidLength(b) * h;
            input.Slice(start, valid).CopyTo(masked.Slice(start, valid));
            masked.Slice(start + valid, shape.Length * h - valid).Clear();
        }
    }
}
