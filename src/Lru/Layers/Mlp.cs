using System.Numerics;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// The feed-forward alternative to the GLU in the LRU block (LRU-MATH §2):
/// <c>y = fc2(GELU(fc1(x)))</c> with <c>fc1</c>: H → E·H and <c>fc2</c>: E·H → H (E the expansion, default 4).
/// Input and output are (B, L, H). Parameters are named <c>fc1.weight</c>, <c>fc1.bias</c>, <c>fc2.weight</c>,
/// <c>fc2.bias</c>.
/// </summary>
/// <remarks>
/// The sub-layers keep what their backward passes need. The hidden activations of a forward pass live in a
/// (2 × B·L × E·H) work array taken from a pool the layer owns, so evaluation-mode forward passes may run on several
/// threads at once; the backward pass carries the hidden gradients in two buffers it owns. Training is single-threaded
/// (see <see cref="Layer{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Mlp<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly WorkspacePool<T> _workspaces = new();
    private T[] _gradHidden = [], _gradActivated = [];
    private int _cachedBatch = -1, _cachedLength = -1;

    /// <summary>Creates the block with both linear layers initialised like PyTorch from a seed.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="expansion">E: the hidden width is E·H; at least 1 (default 4).</param>
    /// <param name="approximation">The form of GELU (default exact).</param>
    /// <param name="seed">The seed; <c>fc1</c> is drawn first, then <c>fc2</c>, from one generator.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> or <paramref name="expansion"/> is less than 1, or <paramref name="approximation"/> is not defined.</exception>
    public Mlp(int features, int expansion = 4, GeluApproximation approximation = GeluApproximation.None, long seed = 0)
        : this(features, expansion, approximation, new SeededRandom(seed))
    {
    }

    /// <summary>Creates the block with both linear layers initialised like PyTorch from <paramref name="random"/> (<c>fc1</c> first).</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="expansion">E: the hidden width is E·H; at least 1.</param>
    /// <param name="approximation">The form of GELU.</param>
    /// <param name="random">The generator.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> or <paramref name="expansion"/> is less than 1, or <paramref name="approximation"/> is not defined.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public Mlp(int features, int expansion, GeluApproximation approximation, SeededRandom random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(expansion, 1);
        ArgumentNullException.ThrowIfNull(random);
        int hidden = checked(features * expansion);
        Activation = new Gelu<T>(hidden, approximation);
        Fc1 = new Linear<T>(features, hidden, random);
        Fc2 = new Linear<T>(hidden, features, random);
    }

    /// <summary>H, the features per time step of input and output.</summary>
    public int Features => Fc1.InputFeatures;

    /// <summary>E·H, the hidden width.</summary>
    public int HiddenFeatures => Fc1.OutputFeatures;

    /// <inheritdoc/>
    public override int InputFeatures => Features;

    /// <inheritdoc/>
    public override int OutputFeatures => Features;

    /// <summary><c>fc1</c>: H → E·H.</summary>
    public Linear<T> Fc1 { get; }

    /// <summary>The GELU between the two linear layers.</summary>
    public Gelu<T> Activation { get; }

    /// <summary><c>fc2</c>: E·H → H.</summary>
    public Linear<T> Fc2 { get; }

    /// <summary>The parameters with hierarchical names: <c>fc1.weight</c>, <c>fc1.bias</c>, <c>fc2.weight</c>, <c>fc2.bias</c>.</summary>
    /// <returns>The four parameters in that order.</returns>
    public override IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
        => ParameterNames.Prefixed("fc1.", Fc1.NamedParameters()).Concat(ParameterNames.Prefixed("fc2.", Fc2.NamedParameters()));

    /// <summary>Computes <c>y = fc2(GELU(fc1(x)))</c>; in training mode the sub-layers keep their inputs.</summary>
    /// <param name="input"><c>x</c>, (batch, length, H).</param>
    /// <param name="output">Receives <c>y</c>, (batch, length, H); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this layer (see <see cref="Layer{T}"/>).</exception>
    public override void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length)
    {
        int h = Features;
        Guard.SequencePair(input.Length, output.Length, batch, length, h);
        int count = checked(batch * length * HiddenFeatures);
        bool training = IsTraining;
        using var scope = Calls.Enter(training, nameof(Forward));
        SetMode(Fc1, training);
        SetMode(Activation, training);
        SetMode(Fc2, training);

        T[] work = _workspaces.Rent(checked(2 * count));
        try
        {
            Span<T> hidden = work.AsSpan(0, count), activated = work.AsSpan(count, count);
            Fc1.Forward(input, hidden, batch, length);
            Activation.Forward(hidden, activated, batch, length);
            Fc2.Forward(activated, output, batch, length);
        }
        finally
        {
            _workspaces.Return(work);
        }
        if (training)
        {
            _cachedBatch = batch;
            _cachedLength = length;
        }
    }

    /// <summary>Back-propagates through the last training forward: writes <c>∂x</c> and adds the gradients of <c>fc1</c> and <c>fc2</c>.</summary>
    /// <param name="gradOutput"><c>∂ℒ/∂y</c>, (batch, length, H).</param>
    /// <param name="gradInput">Receives <c>∂ℒ/∂x</c>, (batch, length, H); may be empty when not needed.</param>
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
                ? $"Mlp.Backward needs a training Forward first (batch {batch}, length {length})."
                : $"Mlp.Backward was called with batch {batch}, length {length}, but the last training Forward had batch {_cachedBatch}, length {_cachedLength}.");
        int h = Features;
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, H", batch, length, h);
        if (!gradInput.IsEmpty) Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, H", batch, length, h);
        int count = batch * length * HiddenFeatures;

        // ∂activated from fc2, then ∂hidden from GELU.
        Span<T> gradActivated = Buffers.Grow(ref _gradActivated, count), gradHidden = Buffers.Grow(ref _gradHidden, count);
        Fc2.Backward(gradOutput, gradActivated, batch, length);
        Activation.Backward(gradActivated, gradHidden, batch, length);
        Fc1.Backward(gradHidden, gradInput, batch, length);
    }
}
