using System.Numerics;
using System.Numerics.Tensors;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>How <see cref="BidirectionalLru{T}"/> joins its two directions.</summary>
public enum BidirectionalCombine
{
    /// <summary><c>y = y_forward + y_backward</c>.</summary>
    Sum = 0,

    /// <summary><c>y = Linear(2H → H)([y_forward, y_backward])</c>.</summary>
    ConcatProject = 1,
}

/// <summary>
/// A bidirectional LRU (LRU-MATH §2): one <see cref="LruLayer{T}"/> runs forward in time, a second
/// one runs over the time-reversed sequence, and their outputs are combined. Input and output are
/// (B, L, H). It sees the future, so it cannot stream.
/// </summary>
/// <remarks>
/// Parameter names: <c>forward.*</c> and <c>backward.*</c> (the LRU's eight each), plus
/// <c>projection.weight</c>, <c>projection.bias</c> for <see cref="BidirectionalCombine.ConcatProject"/>.
/// A forward pass takes its work space (the reversed sequences, and for the projection the concatenation) from a pool
/// the layer owns, so evaluation-mode forward passes may run on several threads at once; training is single-threaded
/// (see <see cref="Layer{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class BidirectionalLru<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly WorkspacePool<T> _workspaces = new();
    private T[] _reversedInput = [], _reversedOutput = [], _forwardOutput = [], _concat = [], _gradScratch = [], _gradConcat = [];

    /// <summary>Creates the two directions (and the projection) from one seed.</summary>
    /// <param name="config">Sizes and initialisation ranges of each direction.</param>
    /// <param name="combine">How the directions are joined.</param>
    /// <param name="seed">The seed; the backward direction uses <c>seed + 1</c> and the projection <c>seed + 2</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range, or <paramref name="combine"/> is undefined.</exception>
    public BidirectionalLru(LruConfig config, BidirectionalCombine combine = BidirectionalCombine.Sum, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (combine is not (BidirectionalCombine.Sum or BidirectionalCombine.ConcatProject))
            throw new ArgumentOutOfRangeException(nameof(combine), combine, "Unknown combine mode.");
        Forwards = new LruLayer<T>(config, seed);
        Backwards = new LruLayer<T>(config, seed + 1);
        Combine = combine;
        if (combine == BidirectionalCombine.ConcatProject)
            Projection = new Linear<T>(2 * config.Hidden, config.Hidden, seed + 2);
    }

    /// <summary>The LRU that runs forward in time.</summary>
    public LruLayer<T> Forwards { get; }

    /// <summary>The LRU that runs over the reversed sequence.</summary>
    public LruLayer<T> Backwards { get; }

    /// <summary>How the directions are joined.</summary>
    public BidirectionalCombine Combine { get; }

    /// <summary>The 2H → H projection for <see cref="BidirectionalCombine.ConcatProject"/>; otherwise null.</summary>
    public Linear<T>? Projection { get; }

    /// <inheritdoc/>
    public override int InputFeatures => Forwards.Hidden;

    /// <inheritdoc/>
    public override int OutputFeatures => Forwards.Hidden;

    /// <inheritdoc/>
    public override IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
    {
        var both = ParameterNames.Prefixed("forward.", Forwards.NamedParameters()).Concat(ParameterNames.Prefixed("backward.", Backwards.NamedParameters()));
        return Projection is null ? both : both.Concat(ParameterNames.Prefixed("projection.", Projection.NamedParameters()));
    }

    /// <summary>Runs both directions and combines them.</summary>
    /// <param name="input">(batch, length, H).</param>
    /// <param name="output">(batch, length, H); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this layer (see <see cref="Layer{T}"/>).</exception>
    public override void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int h = Forwards.Hidden, count = checked(batch * length * h);
        Guard.Length(input.Length, nameof(input), "batch, length, H", batch, length, h);
        Guard.Length(output.Length, nameof(output), "batch, length, H", batch, length, h);
        bool training = IsTraining;
        using var scope = Calls.Enter(training, nameof(Forward));
        SetMode(Forwards, training);
        SetMode(Backwards, training);
        SetMode(Projection, training);
        T[] work = _workspaces.Rent(checked((Projection is null ? 2 : 5) * count));
        try
        {
            Span<T> reversedIn = work.AsSpan(0, count), reversedOut = work.AsSpan(count, count);
            ReverseTime(input, reversedIn, batch, length, h);
            Backwards.Forward(reversedIn, reversedOut, batch, length);

            if (Projection is null)
            {
                Forwards.Forward(input, output, batch, length);
                ReverseTime(reversedOut, reversedIn, batch, length, h); // reuse: backward direction in time order
                TensorPrimitives.Add(output, reversedIn, output);
                return;
            }

            Span<T> forwardOut = work.AsSpan(2 * count, count), concat = work.AsSpan(3 * count, 2 * count);
            Forwards.Forward(input, forwardOut, batch, length);
            int rows = batch * length;
            for (int r = 0; r < rows; r++)
            {
                forwardOut.Slice(r * h, h).CopyTo(concat.Slice(2 * r * h, h));
                int b = r / length, t = r % length;
                reversedOut.Slice((b * length + length - 1 - t) * h, h).CopyTo(concat.Slice(2 * r * h + h, h));
            }
            Projection.Forward(concat, output, batch, length);
        }
        finally
        {
            _workspaces.Return(work);
        }
    }

    /// <summary>Back-propagates through the last training forward pass of both directions (and the projection).</summary>
    /// <param name="gradOutput">∂ℒ/∂output, (batch, length, H).</param>
    /// <param name="gradInput">Receives ∂ℒ/∂input, (batch, length, H); may be empty when not needed.</param>
    /// <param name="batch">The batch size of the last training forward.</param>
    /// <param name="length">The sequence length of the last training forward.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">No training forward of this shape precedes the call, or the call overlaps another call on this layer.</exception>
    public override void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        using var scope = Calls.Enter(training: true, nameof(Backward));
        int h = Forwards.Hidden, count = checked(batch * length * h);
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, H", batch, length, h);
        if (!gradInput.IsEmpty) Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, H", batch, length, h);
        Span<T> scratch = Buffers.Grow(ref _gradScratch, count), reversedGrad = Buffers.Grow(ref _reversedOutput, count);

        ReadOnlySpan<T> gradForward, gradBackwardInTime;
        if (Projection is null)
        {
            gradForward = gradOutput;
            gradBackwardInTime = gradOutput;
        }
        else
        {
            Span<T> gradConcat = Buffers.Grow(ref _gradConcat, 2 * count);
            Projection.Backward(gradOutput, gradConcat, batch, length);
            Span<T> gf = Buffers.Grow(ref _forwardOutput, count), gb = Buffers.Grow(ref _concat, 2 * count).Slice(0, count);
            for (int r = 0; r < batch * length; r++)
            {
                gradConcat.Slice(2 * r * h, h).CopyTo(gf.Slice(r * h, h));
                gradConcat.Slice(2 * r * h + h, h).CopyTo(gb.Slice(r * h, h));
            }
            gradForward = gf;
            gradBackwardInTime = gb;
        }

        // Backward direction: its output at reversed step s is y at time L−1−s.
        ReverseTime(gradBackwardInTime, reversedGrad, batch, length, h);
        Backwards.Backward(reversedGrad, gradInput.IsEmpty ? default : scratch, batch, length);
        Forwards.Backward(gradForward, gradInput, batch, length);
        if (!gradInput.IsEmpty)
        {
            Span<T> inTime = Buffers.Grow(ref _reversedInput, count);
            ReverseTime(scratch, inTime, batch, length, h);
            TensorPrimitives.Add(gradInput, inTime, gradInput);
        }
    }

    private static void ReverseTime(ReadOnlySpan<T> source, Span<T> destination, int batch, int length, int h)
    {
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                source.Slice((b * length + t) * h, h).CopyTo(destination.Slice((b * length + length - 1 - t) * h, h));
    }

}
