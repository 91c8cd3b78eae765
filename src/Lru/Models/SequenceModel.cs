using System.Numerics;
using System.Numerics.Tensors;
using Lru.Layers;
using Lru.Tensors;

namespace Lru.Models;

/// <summary>What the decoder of a <see cref="SequenceModel{T}"/> predicts.</summary>
public enum OutputKind
{
    /// <summary>Class logits, trained with softmax cross-entropy.</summary>
    Classification = 0,

    /// <summary>Real-valued targets, trained with mean squared error.</summary>
    Regression = 1,

    /// <summary>Independent yes/no outputs (multi-label logits), trained with binary cross-entropy.</summary>
    MultiLabel = 2,
}

/// <summary>The settings of a <see cref="SequenceModel{T}"/>.</summary>
/// <param name="InputFeatures">Real-valued features per time step (a Linear encoder); 0 when the input is tokens.</param>
/// <param name="Vocabulary">The number of token ids (an Embedding encoder); 0 when the input is real-valued.</param>
/// <param name="Outputs">Classes (classification) or targets (regression) per prediction, at least 1.</param>
/// <param name="Layers">The number of blocks K, at least 1.</param>
/// <param name="Block">The settings shared by every block (width H, state N, norm, mixer, dropout, …).</param>
/// <param name="Pooling">Mean or last over time (one prediction per sequence), or none (one per time step).</param>
/// <param name="Output">Classification or regression.</param>
public sealed record SequenceModelConfig(
    int InputFeatures,
    int Vocabulary,
    int Outputs,
    int Layers,
    LruBlockConfig Block,
    PoolingMode Pooling = PoolingMode.Mean,
    OutputKind Output = OutputKind.Classification)
{
    /// <summary>True when the model reads token ids through an embedding.</summary>
    public bool UsesTokens => Vocabulary > 0;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and gives the value.</exception>
    /// <exception cref="ArgumentNullException"><see cref="Block"/> is null.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Block);
        Block.Validate();
        if (InputFeatures < 0 || Vocabulary < 0 || (InputFeatures > 0) == (Vocabulary > 0))
            throw new ArgumentOutOfRangeException(nameof(InputFeatures), InputFeatures,
                $"Exactly one of InputFeatures ({InputFeatures}) and Vocabulary ({Vocabulary}) must be positive.");
        if (Outputs < 1) throw new ArgumentOutOfRangeException(nameof(Outputs), Outputs, "Outputs must be at least 1.");
        if (Layers < 1) throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "Layers must be at least 1.");
        if (!Enum.IsDefined(Pooling)) throw new ArgumentOutOfRangeException(nameof(Pooling), Pooling, "Unknown pooling mode.");
        if (!Enum.IsDefined(Output)) throw new ArgumentOutOfRangeException(nameof(Output), Output, "Unknown output kind.");
    }
}

/// <summary>
/// A deep LRU sequence model (LRU-MATH §2; the reference's <c>StackedEncoderModel</c> with a head):
/// encoder (Linear for real inputs, Embedding for tokens) into width H, K <see cref="LruBlock{T}"/>s,
/// pooling over time, and a Linear decoder to the outputs.
/// </summary>
/// <remarks>
/// Shapes: real input (B, L, InputFeatures) or tokens (B, L); output (B, Outputs) with mean or last
/// pooling, (B, L, Outputs) without. Optional per-sequence lengths (B) mask padding in the pooling.
/// Parameter names are hierarchical and stable: <c>encoder.weight</c>, <c>blocks.0.lru.nu_log</c>,
/// <c>blocks.0.glu.out1.weight</c>, <c>decoder.bias</c>, …
/// <para>Threads: in evaluation mode (<see cref="IsTraining"/> false), <see cref="Forward"/>,
/// <see cref="ForwardTokens"/>, <see cref="Step"/> and <see cref="StepTokens"/> may be called on one model from
/// several threads at once (each stream of steps with its own <see cref="SequenceModelState{T}"/>): every call takes
/// its activations from a pool the model owns, the layers do the same, and the derived LRU weights are built once
/// under a lock. Once the largest shape and the largest number of concurrent calls have been seen, calls allocate
/// nothing, and their results are bit-identical to serial calls. Training is single-threaded: a training-mode
/// forward pass, <see cref="Backward"/> or <see cref="ReseedDropout"/> that overlaps any other call on the model
/// throws <see cref="InvalidOperationException"/> rather than corrupting the caches kept for the backward pass (one
/// interlocked operation per call detects it). Not detected, and not allowed while other calls run: changing
/// <see cref="IsTraining"/>, changing parameters (an optimiser step, loading weights), or another thread's training
/// forward pass between a training forward pass and its <see cref="Backward"/>.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class SequenceModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly LruBlock<T>[] _blocks;
    private readonly CallGuard _calls = new("SequenceModel");
    private readonly WorkspacePool<T> _workspaces = new();
    private T[] _gradPooled = [], _gradA = [], _gradB = [];
    private int[] _lengths = [];
    private int _cachedBatch = -1, _cachedLength = -1;
    private bool _hasLengths;

    /// <summary>Builds the model; every layer draws from a seed derived from <paramref name="seed"/>.</summary>
    /// <param name="config">The model's settings.</param>
    /// <param name="seed">The seed of the initialisation and of the dropout masks.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (see <see cref="SequenceModelConfig.Validate"/>).</exception>
    public SequenceModel(SequenceModelConfig config, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int h = config.Block.Hidden;
        if (config.UsesTokens) Embedding = new Embedding<T>(config.Vocabulary, h, seed * 1024 + 1);
        else Encoder = new Linear<T>(config.InputFeatures, h, seed * 1024 + 1);
        _blocks = Enumerable.Range(0, config.Layers).Select(i => new LruBlock<T>(config.Block, seed * 1024 + 16 + i)).ToArray();
        Pooling = new Pooling<T>(config.Pooling, h);
        Decoder = new Linear<T>(h, config.Outputs, seed * 1024 + 2);
    }

    /// <summary>The model's settings.</summary>
    public SequenceModelConfig Config { get; }

    /// <summary>The Linear encoder for real-valued inputs, or null for token inputs.</summary>
    public Linear<T>? Encoder { get; }

    /// <summary>The embedding for token inputs, or null for real-valued inputs.</summary>
    public Embedding<T>? Embedding { get; }

    /// <summary>The K blocks, in order.</summary>
    public IReadOnlyList<LruBlock<T>> Blocks => _blocks;

    /// <summary>The pooling over time.</summary>
    public Pooling<T> Pooling { get; }

    /// <summary>The Linear decoder H → Outputs.</summary>
    public Linear<T> Decoder { get; }

    /// <summary>True (the default) in training mode; false for evaluation. Applies to every layer.</summary>
    public bool IsTraining { get; set; } = true;

    /// <summary>Evaluation-mode calls in flight, or −1 while a training-mode call runs (for tests of the guard).</summary>
    internal int CallsInFlight => _calls.State;

    /// <summary>True when every block is causal, so the model can stream with <see cref="Step"/>.</summary>
    public bool IsCausal => Blocks.All(b => b.IsCausal);

    /// <summary>The number of output values for a batch: B·Outputs, or B·L·Outputs without pooling.</summary>
    /// <param name="batch">B, at least 0.</param>
    /// <param name="length">L, at least 0.</param>
    /// <returns>The length the output span of <see cref="Forward"/> must have.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="OverflowException">The count exceeds <see cref="int.MaxValue"/>.</exception>
    public int OutputLength(int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return checked(Config.Pooling == PoolingMode.None ? batch * length * Config.Outputs : batch * Config.Outputs);
    }

    /// <summary>Every parameter with its stable hierarchical name, in a fixed order.</summary>
    public IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
    {
        var encoder = Encoder is not null ? Encoder.NamedParameters() : Embedding!.NamedParameters();
        foreach (var (name, p) in encoder) yield return ("encoder." + name, p);
        for (int i = 0; i < Blocks.Count; i++)
            foreach (var (name, p) in Blocks[i].NamedParameters()) yield return ($"blocks.{i}.{name}", p);
        foreach (var (name, p) in Decoder.NamedParameters()) yield return ("decoder." + name, p);
    }

    /// <summary>Named non-trainable state (BatchNorm running statistics), for checkpoints.</summary>
    public IEnumerable<(string Name, T[] Values)> NamedBuffers()
    {
        for (int i = 0; i < Blocks.Count; i++)
            foreach (var (name, values) in Blocks[i].NamedBuffers()) yield return ($"blocks.{i}.{name}", values);
    }

    /// <summary>Runs the model on real-valued inputs.</summary>
    /// <param name="input">(batch, length, InputFeatures).</param>
    /// <param name="output">(batch, Outputs), or (batch, length, Outputs) without pooling; see <see cref="OutputLength"/>.</param>
    /// <param name="batch">B, at least 1.</param>
    /// <param name="length">L, at least 1.</param>
    /// <param name="lengths">Empty, or (batch) valid lengths in [1, L] that mask padding in the pooling.</param>
    /// <exception cref="InvalidOperationException">The model reads tokens, or the call overlaps a call it must not overlap (see the remarks).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is less than 1, or a valid length is outside [1, L].</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length, ReadOnlySpan<int> lengths = default)
    {
        var encoder = Encoder ?? throw new InvalidOperationException("This model reads token ids: use ForwardTokens.");
        CheckShapes(batch, length, lengths, output.Length);
        Guard.Length(input.Length, nameof(input), "batch, length, features", batch, length, Config.InputFeatures);
        bool training = IsTraining;
        using var scope = _calls.Enter(training, nameof(Forward));
        Begin(training, batch, length, lengths);
        T[] work = _workspaces.Rent(WorkLength(batch, length));
        try
        {
            Span<T> x = work.AsSpan(0, batch * length * Config.Block.Hidden);
            encoder.Forward(input, x, batch, length);
            Finish(work, output, batch, length, lengths);
        }
        finally
        {
            _workspaces.Return(work);
        }
    }

    /// <summary>Runs the model on token ids.</summary>
    /// <param name="tokens">(batch, length) ids in [0, Vocabulary).</param>
    /// <param name="output">(batch, Outputs), or (batch, length, Outputs) without pooling.</param>
    /// <param name="batch">B, at least 1.</param>
    /// <param name="length">L, at least 1.</param>
    /// <param name="lengths">Empty, or (batch) valid lengths in [1, L] that mask padding in the pooling.</param>
    /// <exception cref="InvalidOperationException">The model reads real-valued inputs, or the call overlaps a call it must not overlap (see the remarks).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is less than 1, a valid length is outside [1, L], or a token id is outside [0, Vocabulary).</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public void ForwardTokens(ReadOnlySpan<int> tokens, Span<T> output, int batch, int length, ReadOnlySpan<int> lengths = default)
    {
        var embedding = Embedding ?? throw new InvalidOperationException("This model reads real-valued inputs: use Forward.");
        CheckShapes(batch, length, lengths, output.Length);
        Guard.Length(tokens.Length, nameof(tokens), "batch, length", batch, length);
        bool training = IsTraining;
        using var scope = _calls.Enter(training, nameof(ForwardTokens));
        Begin(training, batch, length, lengths);
        T[] work = _workspaces.Rent(WorkLength(batch, length));
        try
        {
            Span<T> x = work.AsSpan(0, batch * length * Config.Block.Hidden);
            embedding.Forward(tokens, x, batch, length);
            Finish(work, output, batch, length, lengths);
        }
        finally
        {
            _workspaces.Return(work);
        }
    }

    /// <summary>
    /// Back-propagates through the last training forward pass: adds every parameter's gradient to
    /// <see cref="Parameter{T}.Gradient"/> and, for real-valued inputs, writes ∂ℒ/∂input.
    /// </summary>
    /// <param name="gradOutput">∂ℒ/∂output, shaped like the output.</param>
    /// <param name="gradInput">Empty, or (batch, length, InputFeatures) to receive ∂ℒ/∂input (real-valued inputs only).</param>
    /// <exception cref="InvalidOperationException">No training forward pass precedes the call, or the call overlaps another call on the model.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput = default)
    {
        using var scope = _calls.Enter(training: true, nameof(Backward));
        int batch = _cachedBatch, length = _cachedLength, h = Config.Block.Hidden;
        if (batch < 0 || !IsTraining)
            throw new InvalidOperationException("Backward needs a preceding Forward in training mode.");
        Guard.Length(gradOutput.Length, nameof(gradOutput), "model output", OutputLength(batch, length));
        if (!gradInput.IsEmpty)
        {
            if (Encoder is null) throw new ArgumentException("A token model has no input gradient; pass an empty span.", nameof(gradInput));
            Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, features", batch, length, Config.InputFeatures);
        }
        int count = batch * length * h;
        ReadOnlySpan<int> lengths = _hasLengths ? _lengths.AsSpan(0, batch) : default;
        Span<T> gradPooled = Buffers.Grow(ref _gradPooled, Pooling.OutputLength(batch, length));
        int decoderLength = Config.Pooling == PoolingMode.None ? length : 1;
        Decoder.Backward(gradOutput, gradPooled, batch, decoderLength);
        Span<T> g = Buffers.Grow(ref _gradA, count), other = Buffers.Grow(ref _gradB, count);
        Pooling.Backward(gradPooled, g, batch, length, lengths);
        for (int i = Blocks.Count - 1; i >= 0; i--)
        {
            Blocks[i].Backward(g, other, batch, length);
            Span<T> swap = g; g = other; other = swap;
        }
        if (Encoder is not null) Encoder.Backward(g, gradInput, batch, length);
        else Embedding!.Backward(g, batch, length);
    }

    /// <summary>
    /// Restarts every dropout generator from a seed derived from <paramref name="seed"/> and the layer's position,
    /// so a training step's masks depend only on that seed (the trainer passes one per optimiser step, which
    /// makes resumed runs bit-identical to uninterrupted ones). Allocates nothing.
    /// </summary>
    /// <param name="seed">The seed of this step's masks.</param>
    /// <exception cref="InvalidOperationException">The call overlaps another call on the model.</exception>
    public void ReseedDropout(long seed)
    {
        using var scope = _calls.Enter(training: true, nameof(ReseedDropout));
        for (int i = 0; i < _blocks.Length; i++)
        {
            _blocks[i].Dropout1?.Reseed(SeededRandom.Combine(seed, 2 * i));
            _blocks[i].Dropout2?.Reseed(SeededRandom.Combine(seed, 2 * i + 1));
        }
    }

    /// <summary>Creates the streaming state of a causal model for <paramref name="batch"/> streams.</summary>
    /// <param name="batch">The number of streams, at least 1.</param>
    /// <exception cref="InvalidOperationException">A block is bidirectional, so the model cannot stream.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is less than 1.</exception>
    public SequenceModelState<T> CreateState(int batch)
    {
        if (!IsCausal)
            throw new InvalidOperationException("This model has bidirectional blocks, which see the future, so it cannot stream; use Forward on whole sequences.");
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        return new SequenceModelState<T>(Blocks.Select(b => b.CreateState(batch)).ToArray(), batch, Config.Block.Hidden);
    }

    /// <summary>
    /// Advances every stream by one time step and writes the prediction for the sequence so far:
    /// with pooling none or last, the decoder of this step's features; with mean pooling, the decoder of
    /// the mean of the features so far. This equals <see cref="Forward"/> (in evaluation mode) on the
    /// prefix read so far. Allocates nothing.
    /// </summary>
    /// <param name="input">(state.Batch, InputFeatures): this step's inputs.</param>
    /// <param name="output">(state.Batch, Outputs).</param>
    /// <param name="state">The streams' state from <see cref="CreateState"/>.</param>
    /// <exception cref="InvalidOperationException">The model is in training mode, reads tokens (use <see cref="StepTokens"/>), a training-mode call on it runs on another thread, or another thread is stepping <paramref name="state"/>.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentException">A span's length does not match, or <paramref name="state"/> was made for a model of another shape.</exception>
    public void Step(ReadOnlySpan<T> input, Span<T> output, SequenceModelState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var encoder = Encoder ?? throw new InvalidOperationException("This model reads token ids: use StepTokens.");
        CheckStreaming(state, output.Length);
        Guard.Length(input.Length, nameof(input), "batch, features", state.Batch, Config.InputFeatures);
        using var scope = _calls.Enter(training: false, nameof(Step));
        using var use = state.Use(nameof(Step));
        SetModes(training: false);
        encoder.Forward(input, state.X, state.Batch, 1);
        StepBlocks(output, state);
    }

    /// <summary>As <see cref="Step"/>, for a model that reads token ids.</summary>
    /// <param name="tokens">(state.Batch): this step's token ids.</param>
    /// <param name="output">(state.Batch, Outputs).</param>
    /// <param name="state">The streams' state from <see cref="CreateState"/>.</param>
    /// <exception cref="InvalidOperationException">The model is in training mode, reads real-valued inputs, a training-mode call on it runs on another thread, or another thread is stepping <paramref name="state"/>.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside [0, Vocabulary).</exception>
    /// <exception cref="ArgumentException">A span's length does not match, or <paramref name="state"/> was made for a model of another shape.</exception>
    public void StepTokens(ReadOnlySpan<int> tokens, Span<T> output, SequenceModelState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var embedding = Embedding ?? throw new InvalidOperationException("This model reads real-valued inputs: use Step.");
        CheckStreaming(state, output.Length);
        Guard.Length(tokens.Length, nameof(tokens), "batch", state.Batch);
        using var scope = _calls.Enter(training: false, nameof(StepTokens));
        using var use = state.Use(nameof(StepTokens));
        SetModes(training: false);
        embedding.Forward(tokens, state.X, state.Batch, 1);
        StepBlocks(output, state);
    }

    private void CheckStreaming(SequenceModelState<T> state, int outputLength)
    {
        if (IsTraining)
            throw new InvalidOperationException("Step runs the model in evaluation mode: set IsTraining = false first.");
        int h = Config.Block.Hidden;
        if (state.Blocks.Length != _blocks.Length || state.X.Length != state.Batch * h)
            throw new ArgumentException(
                $"state was made for a model of {state.Blocks.Length} block(s) of width {state.X.Length / state.Batch}, but this model has {_blocks.Length} of width {h}.", nameof(state));
        Guard.Length(outputLength, "output", "batch, outputs", state.Batch, Config.Outputs);
    }

    private void StepBlocks(Span<T> output, SequenceModelState<T> state)
    {
        Span<T> x = state.X, y = state.Y;
        for (int i = 0; i < _blocks.Length; i++)
        {
            _blocks[i].Step(x, y, state.Blocks[i]);
            Span<T> swap = x; x = y; y = swap;
        }
        ReadOnlySpan<T> features = x;
        state.Steps++;
        if (Config.Pooling == PoolingMode.Mean)
        {
            TensorPrimitives.Add(state.Sum, x, state.Sum);
            TensorPrimitives.Multiply(state.Sum, T.One / T.CreateChecked(state.Steps), y);
            features = y;
        }
        Decoder.Forward(features, output, state.Batch, 1);
    }

    /// <summary>Checks the arguments every forward pass shares (before anything is changed).</summary>
    private void CheckShapes(int batch, int length, ReadOnlySpan<int> lengths, int outputLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        if (!lengths.IsEmpty)
        {
            Guard.Length(lengths.Length, nameof(lengths), "batch", batch);
            for (int b = 0; b < batch; b++)
                if (lengths[b] < 1 || lengths[b] > length)
                    throw new ArgumentOutOfRangeException(nameof(lengths), lengths[b], $"lengths[{b}] is {lengths[b]}; every length must be in [1, {length}].");
        }
        Guard.Length(outputLength, "output", "model output", OutputLength(batch, length));
    }

    /// <summary>Gives the layers the call's mode; a training pass also keeps its shape and lengths for <see cref="Backward"/>.</summary>
    private void Begin(bool training, int batch, int length, ReadOnlySpan<int> lengths)
    {
        SetModes(training);
        if (!training) return; // evaluation keeps nothing, so concurrent evaluation calls write no shared state
        _hasLengths = !lengths.IsEmpty;
        if (_hasLengths) lengths.CopyTo(Buffers.Grow(ref _lengths, batch));
        (_cachedBatch, _cachedLength) = (batch, length);
    }

    /// <summary>The work space of one forward pass: two (B, L, H) activations the blocks alternate between, then the pooled features.</summary>
    private int WorkLength(int batch, int length) =>
        checked(2 * batch * length * Config.Block.Hidden + Pooling.OutputLength(batch, length));

    /// <summary>Blocks, pooling and decoder, on the encoder's output at the start of <paramref name="work"/>.</summary>
    private void Finish(T[] work, Span<T> output, int batch, int length, ReadOnlySpan<int> lengths)
    {
        int count = batch * length * Config.Block.Hidden;
        Span<T> x = work.AsSpan(0, count), y = work.AsSpan(count, count);
        for (int i = 0; i < _blocks.Length; i++)
        {
            _blocks[i].Forward(x, y, batch, length);
            Span<T> swap = x; x = y; y = swap;
        }
        Span<T> pooled = work.AsSpan(2 * count, Pooling.OutputLength(batch, length));
        Pooling.Forward(x, pooled, batch, length, lengths);
        Decoder.Forward(pooled, output, batch, Config.Pooling == PoolingMode.None ? length : 1);
    }

    /// <summary>Gives every layer the model's mode, writing only where it changes (so concurrent evaluation calls only read).</summary>
    private void SetModes(bool training)
    {
        if (Encoder is not null && Encoder.IsTraining != training) Encoder.IsTraining = training;
        if (Embedding is not null && Embedding.IsTraining != training) Embedding.IsTraining = training;
        foreach (var block in _blocks)
            if (block.IsTraining != training) block.IsTraining = training;
        if (Decoder.IsTraining != training) Decoder.IsTraining = training;
    }


}

/// <summary>The streaming state of a <see cref="SequenceModel{T}"/>: every block's state, the running sum for mean pooling, and work space.</summary>
/// <remarks>
/// A state belongs to one caller at a time: many threads may step one model, each with its own state, but a
/// <see cref="SequenceModel{T}.Step"/> or <see cref="Reset"/> on a state that another thread is stepping throws
/// <see cref="InvalidOperationException"/> (one interlocked operation per step).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class SequenceModelState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _x, _y, _sum;
    private int _inUse;

    internal SequenceModelState(LruBlockState<T>[] blocks, int batch, int hidden)
    {
        Blocks = blocks;
        Batch = batch;
        _x = new T[batch * hidden];
        _y = new T[batch * hidden];
        _sum = new T[batch * hidden];
    }

    /// <summary>The number of streams B.</summary>
    public int Batch { get; }

    /// <summary>The time steps read so far.</summary>
    public long Steps { get; internal set; }

    internal LruBlockState<T>[] Blocks { get; }

    internal Span<T> X => _x;

    internal Span<T> Y => _y;

    internal Span<T> Sum => _sum;

    /// <summary>Sets every state to zero (the start of new sequences).</summary>
    /// <exception cref="InvalidOperationException">Another thread is stepping this state.</exception>
    public void Reset()
    {
        using var use = Use(nameof(Reset));
        foreach (var block in Blocks) block.Reset();
        Array.Clear(_sum);
        Steps = 0;
    }

    /// <summary>Takes the state for one call; disposing the result gives it back.</summary>
    internal InUse Use(string call)
    {
        if (Interlocked.Exchange(ref _inUse, 1) != 0)
            throw new InvalidOperationException(
                $"SequenceModelState.{call} was refused: another thread is stepping this state. Each stream of steps needs its own state (SequenceModel.CreateState).");
        return new InUse(this);
    }

    /// <summary>Gives the state back when disposed.</summary>
    internal readonly struct InUse(SequenceModelState<T> state) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref state._inUse, 0);
    }
}
