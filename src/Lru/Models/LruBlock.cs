using System.Numerics;
using System.Numerics.Tensors;
using Lru.Layers;
using Lru.Tensors;

namespace Lru.Models;

/// <summary>
/// One LRU block (LRU-MATH §2, the paper's Figure 1; the JAX reference's <c>SequenceLayer</c>):
/// <code>
/// pre-norm:  z = Norm(x); z = LRU(z); z = Dropout(GELU(z)); z = Mixer(z); z = Dropout(z); y = x + z
/// post-norm: z = LRU(x);  …same…;                                                          y = Norm(x + z)
/// </code>
/// Input and output are (B, L, H). Without the residual, <c>y = z</c> (pre-norm) or <c>Norm(z)</c> (post-norm).
/// </summary>
/// <remarks>
/// Parameter names: <c>norm.*</c>, <c>lru.*</c> (the LRU's eight, or <c>lru.forward.*</c>,
/// <c>lru.backward.*</c>, <c>lru.projection.*</c> when bidirectional), and <c>glu.out1.*</c>,
/// <c>glu.out2.*</c> or <c>mlp.fc1.*</c>, <c>mlp.fc2.*</c>. The intermediate activations of a forward pass live
/// in a work array taken from a pool the block owns (its sub-layers keep what their backward passes need), so
/// evaluation-mode <see cref="Forward"/> calls, and <see cref="Step"/> calls each with its own state, may run on
/// several threads at once; once the largest shape and number of concurrent calls have been seen they allocate
/// nothing. Training is single-threaded: a training-mode <see cref="Forward"/> or a <see cref="Backward"/> that
/// overlaps another call on the same block throws <see cref="InvalidOperationException"/> (see <see cref="Layer{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class LruBlock<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly WorkspacePool<T> _workspaces = new();
    private T[] _g1 = [], _g2 = [], _gradSum = [], _gradSink = [];

    /// <summary>Builds a block; every sub-layer draws from its own seed derived from <paramref name="seed"/>.</summary>
    /// <param name="config">The block's settings.</param>
    /// <param name="seed">The seed of the initialisation and of the dropout masks.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (see <see cref="LruBlockConfig.Validate"/>).</exception>
    public LruBlock(LruBlockConfig config, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int h = config.Hidden;
        Norm = config.Norm == NormKind.LayerNorm ? new LayerNorm<T>(h) : new BatchNorm<T>(h);
        Lru = config.Bidirectional
            ? new BidirectionalLru<T>(config.Lru, config.Combine, seed * 16 + 1)
            : new LruLayer<T>(config.Lru, seed * 16 + 1);
        Activation = new Gelu<T>(h, config.Gelu);
        Mixer = config.Mixer == MixerKind.Glu
            ? new Glu<T>(h, seed * 16 + 4)
            : new Mlp<T>(h, config.MlpExpansion, config.Gelu, seed * 16 + 4);
        if (config.DropoutRate > 0)
        {
            Dropout1 = new Dropout<T>(h, config.DropoutRate, config.DropoutMode, seed * 16 + 7);
            Dropout2 = new Dropout<T>(h, config.DropoutRate, config.DropoutMode, seed * 16 + 8);
        }
    }

    /// <summary>The block's settings.</summary>
    public LruBlockConfig Config { get; }

    /// <summary>The normalisation (a <see cref="LayerNorm{T}"/> or <see cref="BatchNorm{T}"/>).</summary>
    public Layer<T> Norm { get; }

    /// <summary>The recurrence: an <see cref="LruLayer{T}"/>, or a <see cref="BidirectionalLru{T}"/>.</summary>
    public Layer<T> Lru { get; }

    /// <summary>The GELU after the LRU.</summary>
    public Gelu<T> Activation { get; }

    /// <summary>The GLU or MLP.</summary>
    public Layer<T> Mixer { get; }

    /// <summary>Dropout after the GELU, or null when the rate is 0.</summary>
    public Dropout<T>? Dropout1 { get; }

    /// <summary>Dropout after the mixer, or null when the rate is 0.</summary>
    public Dropout<T>? Dropout2 { get; }

    /// <summary>True when the block can be streamed with <see cref="Step"/> (it is causal: not bidirectional).</summary>
    public bool IsCausal => Lru is LruLayer<T>;

    /// <inheritdoc/>
    public override int InputFeatures => Config.Hidden;

    /// <inheritdoc/>
    public override int OutputFeatures => Config.Hidden;

    /// <inheritdoc/>
    public override IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
        => ParameterNames.Prefixed("norm.", Norm.NamedParameters())
            .Concat(ParameterNames.Prefixed("lru.", Lru.NamedParameters()))
            .Concat(ParameterNames.Prefixed(Config.Mixer == MixerKind.Glu ? "glu." : "mlp.", Mixer.NamedParameters()));

    /// <summary>Named non-trainable state (BatchNorm running statistics), for checkpoints.</summary>
    public IEnumerable<(string Name, T[] Values)> NamedBuffers()
    {
        if (Norm is BatchNorm<T> batchNorm)
            foreach (var (name, values) in batchNorm.NamedBuffers()) yield return ("norm." + name, values);
    }

    /// <summary>Runs the block: <paramref name="output"/> (B, L, H) from <paramref name="input"/> (B, L, H); in training mode every sub-layer keeps what its backward pass needs.</summary>
    /// <param name="input">(batch, length, H).</param>
    /// <param name="output">(batch, length, H); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this block, or an evaluation-mode call overlaps a training-mode one.</exception>
    public override void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int h = Config.Hidden, count = checked(batch * length * h);
        Guard.Length(input.Length, nameof(input), "batch, length, H", batch, length, h);
        Guard.Length(output.Length, nameof(output), "batch, length, H", batch, length, h);
        bool training = IsTraining;
        using var scope = Calls.Enter(training, nameof(Forward));
        SetModes(training);
        bool pre = Config.Placement == NormPlacement.Pre;
        // Work space a, b, c, then d (post-norm) and e (second dropout) when needed.
        int buffers = 3 + (pre ? 0 : 1) + (Dropout2 is null ? 0 : 1);
        T[] work = _workspaces.Rent(checked(buffers * count));
        try
        {
            ForwardBranch(input, output, batch, length, work.AsSpan(0, buffers * count), pre);
        }
        finally
        {
            _workspaces.Return(work);
        }
    }

    /// <summary>The body of <see cref="Forward"/> on the work space <paramref name="work"/> (a, b, c, then d and e when needed).</summary>
    private void ForwardBranch(ReadOnlySpan<T> input, Span<T> output, int batch, int length, Span<T> work, bool pre)
    {
        int count = input.Length;
        Span<T> a = work.Slice(0, count), b = work.Slice(count, count), c = work.Slice(2 * count, count);
        int next = 3 * count;

        ReadOnlySpan<T> branchInput = input;
        if (pre)
        {
            Norm.Forward(input, a, batch, length);
            branchInput = a;
        }
        Lru.Forward(branchInput, b, batch, length);
        Activation.Forward(b, c, batch, length);
        ReadOnlySpan<T> mixerInput = c;
        if (Dropout1 is not null)
        {
            Dropout1.Forward(c, b, batch, length);
            mixerInput = b;
        }
        Span<T> z = output;
        if (!pre)
        {
            z = work.Slice(next, count);
            next += count;
        }
        if (Dropout2 is not null)
        {
            Span<T> e = work.Slice(next, count);
            Mixer.Forward(mixerInput, e, batch, length);
            Dropout2.Forward(e, z, batch, length);
        }
        else
        {
            Mixer.Forward(mixerInput, z, batch, length);
        }
        if (Config.Residual) TensorPrimitives.Add(z, input, z);
        if (!pre) Norm.Forward(z, output, batch, length);
    }

    /// <summary>
    /// Back-propagates through the last training forward pass: writes ∂ℒ/∂input and adds the gradients of every
    /// sub-layer's parameters.
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂output, (batch, length, H).</param>
    /// <param name="gradInput">Receives ∂ℒ/∂input, (batch, length, H); may be empty when not needed.</param>
    /// <param name="batch">The batch size of the last training forward.</param>
    /// <param name="length">The sequence length of the last training forward.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">No training forward of this shape precedes the call, or the call overlaps another call on this block.</exception>
    public override void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        using var scope = Calls.Enter(training: true, nameof(Backward));
        int h = Config.Hidden, count = checked(batch * length * h);
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, H", batch, length, h);
        if (!gradInput.IsEmpty) Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, H", batch, length, h);
        Span<T> g1 = Buffers.Grow(ref _g1, count), g2 = Buffers.Grow(ref _g2, count);
        bool pre = Config.Placement == NormPlacement.Pre;

        // ∂z: the gradient reaching the branch output (and, with the residual, the block input).
        ReadOnlySpan<T> gradZ = gradOutput;
        if (!pre)
        {
            Span<T> gradSum = Buffers.Grow(ref _gradSum, count);
            Norm.Backward(gradOutput, gradSum, batch, length);
            gradZ = gradSum;
        }

        ReadOnlySpan<T> gradMixerOut = gradZ;
        if (Dropout2 is not null)
        {
            Dropout2.Backward(gradZ, g1, batch, length);
            gradMixerOut = g1;
        }
        Mixer.Backward(gradMixerOut, g2, batch, length);
        if (Dropout1 is not null)
        {
            Dropout1.Backward(g2, g1, batch, length);
            Activation.Backward(g1, g2, batch, length);
        }
        else
        {
            Activation.Backward(g2, g1, batch, length);
            g1.CopyTo(g2);
        }

        // g2 = ∂ℒ/∂(LRU output). The LRU's input gradient goes to g1 (pre-norm) or straight to ∂x.
        if (pre)
        {
            Lru.Backward(g2, g1, batch, length);
            if (gradInput.IsEmpty) { Norm.Backward(g1, Buffers.Grow(ref _gradSink, count), batch, length); return; }
            Norm.Backward(g1, gradInput, batch, length);
        }
        else
        {
            if (gradInput.IsEmpty) { Lru.Backward(g2, default, batch, length); return; }
            Lru.Backward(g2, gradInput, batch, length);
        }
        if (Config.Residual) TensorPrimitives.Add(gradInput, gradZ, gradInput);
    }

    /// <summary>Creates the streaming state of this block for <paramref name="batch"/> streams.</summary>
    /// <param name="batch">The number of streams, at least 1.</param>
    /// <exception cref="InvalidOperationException">The block is bidirectional and cannot stream.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is less than 1.</exception>
    public LruBlockState<T> CreateState(int batch)
    {
        var lru = Lru as LruLayer<T> ?? throw new InvalidOperationException(
            "A bidirectional LRU block sees the future, so it cannot stream; use Forward on whole sequences.");
        return new LruBlockState<T>(lru.CreateState(batch), Config.Hidden);
    }

    /// <summary>
    /// Advances every stream by one time step: <paramref name="output"/> (batch, H) from
    /// <paramref name="input"/> (batch, H), as <see cref="Forward"/> in evaluation mode would give at this step.
    /// </summary>
    /// <param name="input">The block input at this step, (state.Batch, H).</param>
    /// <param name="output">Receives the block output, (state.Batch, H); must not overlap <paramref name="input"/>.</param>
    /// <param name="state">The streams' state from <see cref="CreateState"/>.</param>
    /// <exception cref="InvalidOperationException">The block is in training mode (set <see cref="Layer{T}.IsTraining"/> to false), is bidirectional, or a training-mode call on it runs on another thread.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentException">A span's length is not batch·H, or <paramref name="state"/> was made for a block of another width H or state size N.</exception>
    public void Step(ReadOnlySpan<T> input, Span<T> output, LruBlockState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (IsTraining)
            throw new InvalidOperationException("Step runs the block in evaluation mode: set IsTraining = false first (dropout off, BatchNorm on running statistics).");
        var lru = Lru as LruLayer<T> ?? throw new InvalidOperationException("A bidirectional LRU block cannot stream.");
        int h = Config.Hidden, batch = state.Lru.Batch;
        if (state.A.Length != batch * h || state.Lru.StateSize != Config.State)
            throw new ArgumentException(
                $"state was made for a block of H = {state.A.Length / batch}, N = {state.Lru.StateSize}, but this block has H = {h}, N = {Config.State}.", nameof(state));
        Guard.Length(input.Length, nameof(input), "batch, H", batch, h);
        Guard.Length(output.Length, nameof(output), "batch, H", batch, h);
        using var scope = Calls.Enter(training: false, nameof(Step));
        SetModes(training: false);
        Span<T> a = state.A, b = state.B;
        bool pre = Config.Placement == NormPlacement.Pre;
        ReadOnlySpan<T> branchInput = input;
        if (pre)
        {
            Norm.Forward(input, a, batch, 1);
            branchInput = a;
        }
        lru.Step(branchInput, b, state.Lru);
        Activation.Forward(b, a, batch, 1);
        Span<T> z = pre ? output : b;
        Mixer.Forward(a, z, batch, 1);
        if (Config.Residual) TensorPrimitives.Add(z, input, z);
        if (!pre) Norm.Forward(z, output, batch, 1);
    }

    /// <summary>Gives every sub-layer the block's mode, writing only where it changes.</summary>
    private void SetModes(bool training)
    {
        SetMode(Norm, training);
        SetMode(Lru, training);
        SetMode(Activation, training);
        SetMode(Mixer, training);
        SetMode(Dropout1, training);
        SetMode(Dropout2, training);
    }

}

/// <summary>The streaming state of an <see cref="LruBlock{T}"/>: the LRU's state plus work space, so stepping allocates nothing.</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class LruBlockState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _a, _b;

    internal LruBlockState(LruState<T> lru, int hidden)
    {
        Lru = lru;
        _a = new T[lru.Batch * hidden];
        _b = new T[lru.Batch * hidden];
    }

    /// <summary>The LRU's recurrent state.</summary>
    public LruState<T> Lru { get; }

    internal Span<T> A => _a;

    internal Span<T> B => _b;

    /// <summary>Sets the state to zero (the start of new sequences).</summary>
    public void Reset() => Lru.Reset();
}
